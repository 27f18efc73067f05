import Foundation

/// The client table as of an earlier day (`as of`, or a `today` before some events):
/// the projection columns of every client with events after that day recomputed from
/// the event table in one pass, so the query scans columns like any other.
///
/// This follows ``ClientState/apply`` field by field (counts and sums add up; every
/// "latest" value is the one with the greatest (at, position); activity days come
/// from ``ClientEvents``); `AsOfTableTests` checks every column against a replay.
/// Rows it cannot recompute this way — people made of merged clients — keep the
/// general path (a replay of their stream). One column is left at 0 rather than
/// recomputed: `repeatValueCents`, which only the models read and which costs a
/// walk of each client's events, is computed for recomputed rows by
/// ``ModelInputs/monetary(_:)`` when a query asks (``ClientEvents/repeatValueCents(_:upTo:events:)``).
enum AsOfTable {
    /// What became of each row.
    enum RowKind: UInt8 {
        /// The stored projection is current for the day.
        case stored = 0
        /// Recomputed here: columns are exact; lists and personal fields need a replay.
        case recomputed = 1
        /// No event on or before the day: not in the world of the query.
        case absent = 2
        /// Left to the general path (a replay).
        case replay = 3
    }

    private enum Code {
        static let client = EventType.client.code, visit = EventType.visit.code, purchase = EventType.purchase.code
        static let refund = EventType.refund.code, reward = EventType.reward.code, tier = EventType.tier.code
        static let membership = EventType.membership.code, feedback = EventType.feedback.code
    }

    /// Recomputes the rows of `base` whose events run past `day`. `tallies` asks for
    /// the most-frequent-visit columns (`location`, `provider`), which cost a walk of
    /// each client's visits.
    static func make(base: ClientTable, events t: EventTable, count n: Int, clientEvents ce: ClientEvents, day: Day,
                     tallies: Bool, storeID: (UInt32) -> UInt32) -> ClientTable.AsOf {
        let rows = base.count
        var kind = [RowKind](repeating: .stored, count: rows)
        // Rows that several client numbers point at are people joined by a merge.
        var numbersPerRow = [UInt8](repeating: 0, count: rows)
        for r in base.rowOfNumber where r >= 0 { numbersPerRow[Int(r)] = min(numbersPerRow[Int(r)] &+ 1, 2) }
        for i in 0..<rows where base.i32(.maxDay, i) > day {
            kind[i] = numbersPerRow[i] > 1 ? .replay : .recomputed
        }
        let c32 = LargeMemory.allocate(UInt32.self, count: ClientTable.Col32.allCases.count * rows)
        let c64 = LargeMemory.allocate(Int64.self, count: ClientTable.Col64.allCases.count * rows)
        c32.initialize(from: base.c32, count: ClientTable.Col32.allCases.count * rows)
        c64.initialize(from: base.c64, count: ClientTable.Col64.allCases.count * rows)
        @inline(__always) func set(_ c: ClientTable.Col32, _ i: Int, _ v: UInt32) { c32[c.rawValue &* rows &+ i] = v }
        @inline(__always) func set64(_ c: ClientTable.Col64, _ i: Int, _ v: Int64) { c64[c.rawValue &* rows &+ i] = v }
        let nullDay = UInt32(bitPattern: ProjectionRow.nullDay)

        // Start recomputed rows from an empty state (erasure holds whatever the day).
        for i in 0..<rows where kind[i] == .recomputed {
            for c in ClientTable.Col32.allCases { set(c, i, 0) }
            for c in ClientTable.Col64.allCases { set64(c, i, 0) }
            set(.flags, i, ProjectionRow.Flag.present | (base.u32(.flags, i) & ProjectionRow.Flag.forgotten))
            for c in [ClientTable.Col32.registered, .firstSeen, .lastSeen, .firstVisit, .lastVisit, .maxDay] { set(c, i, nullDay) }
            set(.cadenceHalfDays, i, UInt32(bitPattern: -1))
        }
        if kind.contains(.replay) {
            for i in 0..<rows where kind[i] == .replay { set(.maxDay, i, UInt32(bitPattern: Int32.max)) }
        }

        // Every string id the walk may store, looked up before it (it may run on two
        // threads): all of a small pool; of a large one, only the ids the walk reads (the
        // first two string fields of client, tier, membership and visit events).
        var sid = [UInt32](repeating: 0, count: t.pool.count)
        if t.pool.count <= smallPool {
            for j in 1..<max(t.pool.count, 1) { sid[j] = storeID(UInt32(j)) }
        } else {
            var needed = [Bool](repeating: false, count: t.pool.count)
            for code in [Code.client, Code.tier, Code.membership, Code.visit] {
                for k in t.indexes(ofType: code) where Int(k) < n {
                    needed[Int(t.s0[Int(k)])] = true
                    needed[Int(t.s1[Int(k)])] = true
                }
            }
            for j in 1..<t.pool.count where needed[j] { sid[j] = storeID(UInt32(j)) }
        }
        let stamps = UnsafeMutablePointer<Int64>.allocate(capacity: max(rows * 6, 1))
        stamps.initialize(repeating: Int64.min, count: max(rows * 6, 1))
        let latest = UnsafeMutablePointer<UInt32>.allocate(capacity: max(rows * 2, 1))
        latest.initialize(repeating: 0, count: max(rows * 2, 1))
        var laterClientEvent = [Bool](repeating: false, count: rows)
        defer {
            stamps.deallocate()
            latest.deallocate()
        }
        // Large tables go in two halves of the rows on two cores: each walks every event
        // but keeps only its rows', so no two threads write the same row.
        let parts = n >= parallelAbove && rows > 1 && ProcessInfo.processInfo.activeProcessorCount > 1 ? 2 : 1
        kind.withUnsafeMutableBufferPointer { kinds in
            laterClientEvent.withUnsafeMutableBufferPointer { later in
                sid.withUnsafeBufferPointer { ids in
                    guard let kp = kinds.baseAddress, let lp = later.baseAddress, let ip = ids.baseAddress else { return }
                    let walk = Walk(t: t, n: n, ce: ce, day: day, tallies: tallies, base: base, rows: rows, c32: c32,
                                    c64: c64, kind: kp, laterClientEvent: lp, sid: ip, stamps: stamps, latest: latest)
                    if parts == 1 {
                        walk.run(0..<rows)
                    } else {
                        DispatchQueue.concurrentPerform(iterations: parts) { p in
                            walk.run(p == 0 ? 0..<(rows / 2) : (rows / 2)..<rows)
                        }
                    }
                }
            }
        }
        return ClientTable.AsOf(table: ClientTable(derivedFrom: base, c32: c32, c64: c64), kinds: kind,
                                laterClientEvent: laterClientEvent)
    }

    /// Event tables of at least this many events are recomputed on two cores.
    @TaskLocal static var parallelAbove = 1_000_000
    /// String pools of at most this many strings are looked up whole before the walk.
    @TaskLocal static var smallPool = 4096

    /// The recomputation of a range of rows: raw pointers into columns the caller owns
    /// and keeps alive while it runs; rows of different ranges never share a write.
    private struct Walk: @unchecked Sendable {
        let t: EventTable, n: Int, ce: ClientEvents, day: Day, tallies: Bool
        let base: ClientTable, rows: Int
        let c32: UnsafeMutablePointer<UInt32>, c64: UnsafeMutablePointer<Int64>
        let kind: UnsafeMutablePointer<RowKind>
        /// Per row, whether a `client` event comes after the day (so the current
        /// personal fields may not be the day's).
        let laterClientEvent: UnsafeMutablePointer<Bool>
        /// Store string id of each event-table string id.
        let sid: UnsafePointer<UInt32>
        /// Per row, the `at` of six latest-wins values so far (a later position wins ties).
        let stamps: UnsafeMutablePointer<Int64>
        /// Per row, the latest client-event location and the latest membership (plan | member bit).
        let latest: UnsafeMutablePointer<UInt32>

        @inline(__always) func set(_ c: ClientTable.Col32, _ i: Int, _ v: UInt32) { c32[c.rawValue &* rows &+ i] = v }
        @inline(__always) func get(_ c: ClientTable.Col32, _ i: Int) -> UInt32 { c32[c.rawValue &* rows &+ i] }
        @inline(__always) func set64(_ c: ClientTable.Col64, _ i: Int, _ v: Int64) { c64[c.rawValue &* rows &+ i] = v }
        @inline(__always) func add64(_ c: ClientTable.Col64, _ i: Int, _ v: Int64) { c64[c.rawValue &* rows &+ i] &+= v }
        @inline(__always) func inc(_ c: ClientTable.Col32, _ i: Int) { c32[c.rawValue &* rows &+ i] &+= 1 }
        @inline(__always) func store(_ poolID: UInt32) -> UInt32 { sid[Int(poolID)] }

        /// Recomputes the rows of `range` marked `.recomputed`.
        func run(_ range: Range<Int>) {
            let type = t.type.base, days = t.day.base, at = t.at.base, num = t.num.base
            let s0 = t.s0.base, s1 = t.s1.base
            let memberBit = ClientState.memberBit
            // Each recomputed row's own events (log order, so a later position still
            // wins ties of `at`): a part reads only its rows' events.
            let rowEvents = ce.events.base
            for r in range where kind[r] == .recomputed {
                for j in ce.range(r) {
                    let k = Int(rowEvents[j])
                    guard days[k] <= day else {
                        if type[k] == Code.client { laterClientEvent[r] = true }
                        continue
                    }
                    let d = Int32(days[k])
                    inc(.eventCount, r)
                    let maxDay = Int32(bitPattern: get(.maxDay, r))
                    if maxDay == ProjectionRow.nullDay || d > maxDay { set(.maxDay, r, UInt32(bitPattern: d)) }
                    func latest(_ slot: Int) -> Bool {
                        let s = r &* 6 &+ slot
                        guard at[k] >= stamps[s] else { return false }
                        stamps[s] = at[k]
                        return true
                    }
                    switch type[k] {
                    case Code.client:
                        let reg = Int32(bitPattern: get(.registered, r))
                        if reg == ProjectionRow.nullDay || d < reg { set(.registered, r, UInt32(bitPattern: d)) }
                        if s0[k] != 0, latest(0) { self.latest[r &* 2] = store(s0[k]) }
                        if s1[k] != 0, latest(1) { set(.source, r, store(s1[k])) }
                        if num[k] != EventTable.null, latest(2) {
                            set64(.acquisitionCost, r, num[k])
                            set(.flags, r, get(.flags, r) | ProjectionRow.Flag.hasAcquisitionCost)
                        }
                    case Code.visit:
                        inc(.visits, r)
                        let first = Int32(bitPattern: get(.firstVisit, r)), last = Int32(bitPattern: get(.lastVisit, r))
                        if first == ProjectionRow.nullDay || d < first { set(.firstVisit, r, UInt32(bitPattern: d)) }
                        if last == ProjectionRow.nullDay || d > last { set(.lastVisit, r, UInt32(bitPattern: d)) }
                    case Code.purchase:
                        inc(.purchases, r)
                        add64(.purchasedCents, r, num[k])
                    case Code.refund:
                        inc(.refunds, r)
                        add64(.refundedCents, r, num[k])
                    case Code.reward:
                        add64(.points, r, num[k])
                    case Code.tier:
                        if latest(3) { set(.tier, r, store(s0[k])) }
                    case Code.membership:
                        if latest(4) { self.latest[r &* 2 &+ 1] = store(s0[k]) | (t.string(s1[k]) == "start" ? memberBit : 0) }
                    case Code.feedback:
                        inc(.feedbackCount, r)
                        set(.feedbackSum, r, get(.feedbackSum, r) &+ UInt32(truncatingIfNeeded: num[k]))
                        if latest(5) {
                            set(.satisfaction, r, UInt32(truncatingIfNeeded: num[k]))
                            set(.flags, r, get(.flags, r) | ProjectionRow.Flag.hasSatisfaction)
                        }
                    default:
                        break
                    }
                }
            }

            var gaps: [Int32] = []
            var tally: [UInt32: (count: UInt32, at: Int64, k: Int)] = [:]
            for i in range where kind[i] == .recomputed {
                if get(.eventCount, i) == 0 {
                    kind[i] = .absent
                    set(.maxDay, i, UInt32(bitPattern: Int32.max))
                    continue
                }
                // Membership, plan.
                let m = latest[i &* 2 &+ 1]
                if m & memberBit != 0 {
                    set(.flags, i, get(.flags, i) | ProjectionRow.Flag.member)
                    set(.plan, i, m & ~memberBit)
                }
                // Activity days on or before the day.
                let range = ce.dayRange(i)
                var end = range.lowerBound
                while end < range.upperBound && ce.days[end] <= day { end += 1 }
                let count = end - range.lowerBound
                set(.activeDays, i, UInt32(count))
                if count > 0 {
                    set(.firstSeen, i, UInt32(bitPattern: ce.days[range.lowerBound]))
                    set(.lastSeen, i, UInt32(bitPattern: ce.days[end - 1]))
                }
                if count >= 2 {
                    gaps.removeAll(keepingCapacity: true)
                    for j in (range.lowerBound + 1)..<end { gaps.append(ce.days[j] - ce.days[j - 1]) }
                    gaps.sort()
                    let g = gaps.count
                    set(.cadenceHalfDays, i, UInt32(bitPattern: g % 2 == 1 ? gaps[g / 2] * 2 : gaps[g / 2 - 1] + gaps[g / 2]))
                }
                // Most frequent visit location and provider (ties: the most recent visit).
                var location = latest[i &* 2]
                if tallies {
                    func mostFrequent(_ column: UnsafeMutablePointer<UInt32>) -> UInt32 {
                        tally.removeAll(keepingCapacity: true)
                        for j in ce.range(i) {
                            let k = Int(ce.events[j])
                            guard type[k] == EventType.visit.code, days[k] <= day, column[k] != 0 else { continue }
                            let id = store(column[k])
                            let old = tally[id]
                            let newer = old.map { at[k] >= $0.at } ?? true
                            tally[id] = ((old?.count ?? 0) + 1, newer ? at[k] : old?.at ?? at[k], newer ? k : old?.k ?? k)
                        }
                        var best: (id: UInt32, count: UInt32, at: Int64, k: Int)?
                        for (id, v) in tally {
                            if let b = best, (b.count, b.at, b.k) >= (v.count, v.at, v.k) { continue }
                            best = (id, v.count, v.at, v.k)
                        }
                        return best?.id ?? 0
                    }
                    if location == 0 { location = mostFrequent(s0) }
                    set(.provider, i, mostFrequent(s1))
                }
                set(.location, i, location)
            }
        }
    }
}
