import Foundation

/// Where a field's values lie in the event table's raw columns, for loops that read
/// them with no call per unit (``ColumnAggregation``).
enum RawEventColumn {
    /// String ids (0 = null), by item index when `byItem`, else by event index.
    case string(UnsafeMutablePointer<UInt32>, byItem: Bool)
    /// Integers in the field's own unit (cents, points, scores); ``EventTable/null`` is null.
    case number(UnsafeMutablePointer<Int64>, byItem: Bool)
    /// The event's day (a line item's: its purchase's).
    case day
}

/// Grouped counts and integer sums of events or line items in one tight loop over the
/// event table's columns: the walk of `visits where at in last 1y group by provider
/// show count()` or `items group by category, month(at) show sum(amount)`.
///
/// Units are counted per *cell* — a raw string id and/or a date bucket's index — so a
/// cell is never coarser than a group (strings group ignoring case; a caller merges
/// cells into groups). Sums are exact integers, equal to the general path's running
/// sums of the same integers as doubles because the loop gives up (the general path
/// answers) unless the summed magnitudes stay below 2^53, where every such double is exact.
enum ColumnAggregation {
    /// A group key read straight from the columns.
    enum Key {
        /// A string field's raw id.
        case string(UnsafeMutablePointer<UInt32>, byItem: Bool)
        /// A string field's raw id turned into `codes[id]`, each below `size`: fewer
        /// cells than one per string of the table.
        case code(UnsafeMutablePointer<UInt32>, byItem: Bool, codes: UnsafePointer<UInt32>, size: Int)
        /// A date bucket (`day`, `week`, `month`, `quarter`, `year`) of the event's day.
        case bucket(String)
    }

    /// A summed column: integers, ``EventTable/null`` for null.
    struct Summed {
        let values: UnsafeMutablePointer<Int64>
        let byItem: Bool
    }

    /// The non-empty cells in order of their first unit (as the general walk meets them).
    struct Cells {
        /// The walk was stopped (``QueryCancellation``): the cells are not complete.
        var cancelled = false
        /// Each cell's first unit (event index, or item index for items).
        var first: [Int] = []
        /// Units in each cell.
        var counts: [Int] = []
        /// Per summed column, each cell's sum and number of non-null values.
        var sums: [[Int64]] = []
        var nonNull: [[Int]] = []
    }

    /// Cells beyond this many (a dense array of them) send the query the general way.
    static let maxCells = 1 << 21
    /// Day spans beyond this many days (the bucket lookup table) likewise.
    static let maxDaySpan: Int32 = 1 << 20

    /// Walks of at least this many events go in two halves on two cores.
    @TaskLocal static var parallelAbove = 1_000_000

    /// Counts (and sums) units of events of `type` (every type when nil) — or, with
    /// `items`, the line items of purchases — whose day lies in `lo...hi` among the first
    /// `eventCount` events of `table`. Nil when the query is not one this loop can
    /// answer exactly (too many cells, sums whose magnitudes reach 2^53); cells marked
    /// `cancelled` when the walk was stopped.
    static func aggregate(_ t: EventTable, eventCount n: Int, type: UInt8?, items: Bool, from lo: Int32, through hi: Int32,
                          keys: [Key], summed: [Summed]) -> Cells? {
        guard keys.count <= 2 else { return nil }
        let none = Cells(sums: summed.map { _ in [] }, nonNull: summed.map { _ in [] })
        if lo > hi { return none }
        let wanted: UInt8? = items ? EventType.purchase.code : type
        // One type: only its events (the table's index of them), cut at the snapshot.
        let ofType = wanted.map { t.indexes(ofType: $0) } ?? []
        let units = wanted == nil ? n : EventTable.count(of: ofType, below: n)
        // Date buckets: a lookup table from day to bucket index, one run per bucket key.
        var buckets: [Int32] = []
        var firstDay: Int32 = 0
        var sizes: [Int] = [], slots: [Int] = []
        for key in keys {
            switch key {
            case .string:
                sizes.append(t.pool.count)
                slots.append(-1)
            case .code(_, _, _, let size):
                sizes.append(size)
                slots.append(-1)
            case .bucket(let name):
                guard let span = t.dayRange() else { return none }
                let from = max(span.lowerBound, lo), to = min(span.upperBound, hi)
                guard from <= to else { return none }
                guard Int64(to) - Int64(from) < Int64(maxDaySpan) else { return nil }
                firstDay = from
                // Codes never decrease with the day, so a bucket's index counts the changes.
                slots.append(buckets.count)
                var last = Bucket.code(name, from), i: Int32 = 0
                for d in from...to {
                    let c = Bucket.code(name, d)
                    if c != last { i += 1; last = c }
                    buckets.append(i)
                }
                sizes.append(Int(i) + 1)
            }
        }
        let width = keys.count > 1 ? sizes[1] : 1
        let (cells, overflow) = (sizes.first ?? 1).multipliedReportingOverflow(by: width)
        guard !overflow, cells <= maxCells else { return nil }
        let parts = units >= parallelAbove && ProcessInfo.processInfo.activeProcessorCount > 1 ? 2 : 1
        let tallies = (0..<parts).map { _ in Tally(cells: cells, summed: summed.count) }
        let cancellation = QueryCancellation.current
        buckets.withUnsafeBufferPointer { bp in
            ofType.withUnsafeBufferPointer { ip in
                func reader(_ i: Int) -> KeyReader {
                    guard i < keys.count else { return KeyReader(size: 1) }
                    switch keys[i] {
                    case .string(let ids, let byItem): return KeyReader(ids: ids, byItem: byItem, size: sizes[i])
                    case .code(let ids, let byItem, let codes, _):
                        var r = KeyReader(ids: ids, byItem: byItem, size: sizes[i])
                        r.codes = codes
                        return r
                    case .bucket: return KeyReader(buckets: bp.baseAddress.map { $0 + slots[i] }, firstDay: firstDay, size: sizes[i])
                    }
                }
                let job = Job(index: wanted == nil ? nil : ip.baseAddress, day: t.day.base, sub: t.sub.base,
                              subCount: t.subCount.base, lo: lo, hi: hi, items: items, k1: reader(0), k2: reader(1),
                              width: width, cells: cells, summed: summed, cancellation: cancellation)
                if parts == 1 {
                    tallies[0].run(job, 0..<units)
                } else {
                    DispatchQueue.concurrentPerform(iterations: parts) { p in
                        tallies[p].run(job, p == 0 ? 0..<(units / 2) : (units / 2)..<units)
                    }
                }
            }
        }
        if tallies.contains(where: \.cancelled) { return Cells(cancelled: true) }
        return Tally.merge(tallies, summed: summed.count)
    }

    /// Summed magnitudes from here on, a double's running sum of integers may round.
    static let exactLimit: UInt64 = 1 << 53

    /// What every part of a walk reads (raw pointers into the table, which outlives it).
    private struct Job: @unchecked Sendable {
        /// The walked events' indexes (nil: every event, in order).
        let index: UnsafePointer<UInt32>?
        let day: UnsafeMutablePointer<Int32>
        let sub: UnsafeMutablePointer<UInt32>
        let subCount: UnsafeMutablePointer<UInt32>
        let lo: Int32, hi: Int32
        let items: Bool
        let k1: KeyReader, k2: KeyReader
        let width: Int, cells: Int
        let summed: [Summed]
        let cancellation: QueryCancellation?
    }

    /// One part's counts, first units and sums per cell.
    private final class Tally: @unchecked Sendable {
        let cells: Int
        let counts: UnsafeMutablePointer<Int>
        let first: UnsafeMutablePointer<Int>
        /// Summed column `s`'s sums and non-null counts at `s × cells + cell`.
        let sums: UnsafeMutablePointer<Int64>
        let nonNull: UnsafeMutablePointer<Int>
        var failed = false
        var cancelled = false
        /// The magnitudes of every value summed in this part (the exactness bound).
        var magnitude: UInt64 = 0

        init(cells: Int, summed: Int) {
            self.cells = cells
            counts = .allocate(capacity: cells)
            counts.initialize(repeating: 0, count: cells)
            first = .allocate(capacity: cells)
            first.initialize(repeating: 0, count: cells)
            sums = .allocate(capacity: max(cells * summed, 1))
            sums.initialize(repeating: 0, count: max(cells * summed, 1))
            nonNull = .allocate(capacity: max(cells * summed, 1))
            nonNull.initialize(repeating: 0, count: max(cells * summed, 1))
        }

        deinit {
            counts.deallocate()
            first.deallocate()
            sums.deallocate()
            nonNull.deallocate()
        }

        /// Walks `range` of the job's events.
        func run(_ job: Job, _ range: Range<Int>) {
            var k = range.lowerBound
            while k < range.upperBound {
                if job.cancellation?.isCancelled == true { cancelled = true; return }
                let end = min(k + (1 << 18), range.upperBound)
                if let index = job.index {
                    for w in k..<end where !visit(job, Int(index[w])) { failed = true; return }
                } else {
                    for e in k..<end where !visit(job, e) { failed = true; return }
                }
                k = end
            }
        }

        @inline(__always) private func visit(_ job: Job, _ e: Int) -> Bool {
            let d = job.day[e]
            if d < job.lo || d > job.hi { return true }
            guard job.items else { return add(job, e, e, d) }
            let s = Int(job.sub[e])
            for j in s..<(s + Int(job.subCount[e])) where !add(job, e, j, d) { return false }
            return true
        }

        /// Adds unit `u` (event `e`, or one of its items) of day `d`; false when a key
        /// is out of range or a sum overflows.
        @inline(__always) private func add(_ job: Job, _ e: Int, _ u: Int, _ d: Int32) -> Bool {
            let a = job.k1.index(e, u, d), b = job.k2.index(e, u, d)
            guard a < job.k1.size, b < job.width else { return false }
            let c = a &* job.width &+ b
            if counts[c] == 0 { first[c] = u }
            counts[c] &+= 1
            for s in job.summed.indices {
                let column = job.summed[s]
                let x = column.values[column.byItem ? u : e]
                if x == EventTable.null { continue }
                let slot = s &* cells &+ c
                let (total, overflow) = sums[slot].addingReportingOverflow(x)
                magnitude &+= x.magnitude
                if overflow || magnitude >= ColumnAggregation.exactLimit { return false }
                sums[slot] = total
                nonNull[slot] &+= 1
            }
            return true
        }

        /// The parts' cells together, in order of first unit (nil when a part failed).
        static func merge(_ parts: [Tally], summed m: Int) -> Cells? {
            guard let head = parts.first, !parts.contains(where: \.failed) else { return nil }
            // Both halves' magnitudes together: the bound holds for the whole walk.
            guard parts.reduce(UInt64(0), { $0 &+ $1.magnitude }) < ColumnAggregation.exactLimit else { return nil }
            for p in parts.dropFirst() {
                for c in 0..<head.cells where p.counts[c] > 0 {
                    // Earlier parts walk earlier events: their first unit stays.
                    if head.counts[c] == 0 { head.first[c] = p.first[c] }
                    head.counts[c] += p.counts[c]
                    for s in 0..<m {
                        let slot = s * head.cells + c
                        let (total, overflow) = head.sums[slot].addingReportingOverflow(p.sums[slot])
                        if overflow { return nil }
                        head.sums[slot] = total
                        head.nonNull[slot] += p.nonNull[slot]
                    }
                }
            }
            let order = (0..<head.cells).filter { head.counts[$0] > 0 }.sorted { head.first[$0] < head.first[$1] }
            var out = Cells()
            out.first = order.map { head.first[$0] }
            out.counts = order.map { head.counts[$0] }
            out.sums = (0..<m).map { s in order.map { head.sums[s * head.cells + $0] } }
            out.nonNull = (0..<m).map { s in order.map { head.nonNull[s * head.cells + $0] } }
            return out
        }
    }

    /// Reads one key of a unit: a raw string id, or a bucket index from the lookup table
    /// (no key: always 0).
    private struct KeyReader {
        var ids: UnsafeMutablePointer<UInt32>?
        var byItem = false
        /// Codes of the ids (nil: the ids themselves).
        var codes: UnsafePointer<UInt32>?
        var buckets: UnsafePointer<Int32>?
        var firstDay: Int32 = 0
        /// The key's values are below this.
        var size: Int

        init(ids: UnsafeMutablePointer<UInt32>, byItem: Bool, size: Int) {
            self.ids = ids
            self.byItem = byItem
            self.size = size
        }

        init(buckets: UnsafePointer<Int32>?, firstDay: Int32, size: Int) {
            self.buckets = buckets
            self.firstDay = firstDay
            self.size = size
        }

        init(size: Int) { self.size = size }

        /// The key of unit `u` (event `e`) of day `d`.
        @inline(__always) func index(_ e: Int, _ u: Int, _ d: Int32) -> Int {
            if let ids {
                let id = ids[byItem ? u : e]
                if let codes { return Int(codes[Int(id)]) }
                return Int(id)
            }
            if let buckets { return Int(buckets[Int(d &- firstDay)]) }
            return 0
        }
    }
}
