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

    /// The value of row `i`'s activity days after its first, up to `today`, in cents
    /// (0 with fewer than two): a day's value is its purchases minus its refunds, and
    /// a refund on a day with no visit or purchase counts for no day (SPEC 5.2).
    func repeatValueCents(_ i: Int, upTo today: Day, events t: EventTable) -> Int64 {
        let range = dayRange(i)
        guard range.count >= 2 else { return 0 }
        let days = self.days.base
        let end = Self.upperBound(days, range, today)
        guard end - range.lowerBound >= 2 else { return 0 }
        let first = days[range.lowerBound]
        let type = t.type.base, dayOf = t.day.base, num = t.num.base, events = self.events.base
        let purchase = EventType.purchase.code, refund = EventType.refund.code
        var total: Int64 = 0
        for j in self.range(i) {
            let k = Int(events[j])
            let d = dayOf[k]
            guard d > first, d <= today, num[k] != EventTable.null else { continue }
            if type[k] == purchase {
                total = ClientState.saturating(total, num[k])
            } else if type[k] == refund {
                let at = Self.upperBound(days, range.lowerBound..<end, d)
                if at > range.lowerBound && days[at - 1] == d { total = ClientState.saturating(total, -num[k]) }
            }
        }
        return total
    }

    /// The first position in `range` of the ascending `days` whose day is after `day`.
    @inline(__always) static func upperBound(_ days: UnsafeMutablePointer<Int32>, _ range: Range<Int>, _ day: Int32) -> Int {
        var lo = range.lowerBound, hi = range.upperBound
        while lo < hi {
            let mid = (lo + hi) / 2
            if days[mid] <= day { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
