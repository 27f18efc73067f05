/// Each client row's events (its own and those of clients merged into it) in log
/// order, as indexes into an ``EventTable``: one counting sort over the table, built
/// once per ``ClientTable`` (one snapshot) when a query first needs it.
final class ClientEvents: @unchecked Sendable {
    /// Row i's events are `events[start[i] ..< start[i + 1]]`.
    let start: RawColumn<Int32>
    let events: RawColumn<UInt32>
    /// Row i's activity days (a visit or purchase), ascending and distinct, are
    /// `days[dayStart[i] ..< dayStart[i + 1]]`.
    let dayStart: RawColumn<Int32>
    let days: RawColumn<Int32>

    init(clients table: ClientTable, events t: EventTable, count n: Int) {
        let rows = table.count
        var counts = [Int32](repeating: 0, count: rows + 1)
        var rowOf = [Int32](repeating: -1, count: n)
        let client = t.client.base
        for k in 0..<n {
            guard let r = table.row(ofNumber: client[k]) else { continue }
            rowOf[k] = Int32(r)
            counts[r + 1] += 1
        }
        for r in 0..<rows { counts[r + 1] += counts[r] }
        start = RawColumn(capacity: rows + 1)
        for r in 0...rows { start.append(counts[r]) }
        var fill = counts
        let total = Int(counts[rows])
        let out = UnsafeMutablePointer<UInt32>.allocate(capacity: max(total, 1))
        defer { out.deallocate() }
        for k in 0..<n where rowOf[k] >= 0 {
            let r = Int(rowOf[k])
            out[Int(fill[r])] = UInt32(k)
            fill[r] += 1
        }
        events = RawColumn(capacity: total)
        for j in 0..<total { events.append(out[j]) }

        // Activity days per row.
        let type = t.type.base, day = t.day.base
        let visit = EventType.visit.code, purchase = EventType.purchase.code
        dayStart = RawColumn(capacity: rows + 1)
        days = RawColumn(capacity: total / 2 + 16)
        var buffer: [Int32] = []
        for r in 0..<rows {
            dayStart.append(Int32(days.count))
            buffer.removeAll(keepingCapacity: true)
            for j in Int(counts[r])..<Int(counts[r + 1]) {
                let k = Int(out[j])
                if type[k] == visit || type[k] == purchase { buffer.append(day[k]) }
            }
            buffer.sort()
            var last = Int32.min
            for d in buffer where d != last {
                days.append(d)
                last = d
            }
        }
        dayStart.append(Int32(days.count))
    }

    /// Row i's events, as positions in `events`.
    @inline(__always) func range(_ i: Int) -> Range<Int> { Int(start[i])..<Int(start[i + 1]) }

    /// Row i's activity days, as positions in `days`.
    @inline(__always) func dayRange(_ i: Int) -> Range<Int> { Int(dayStart[i])..<Int(dayStart[i + 1]) }
}
