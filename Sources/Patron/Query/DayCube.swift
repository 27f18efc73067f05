import Foundation

/// Counts and integer sums of one event type (or of line items) per day and per raw
/// id of at most one string field, over a snapshot of the event table: a grouped
/// event query keyed by that field and/or date buckets of `at`, restricted to a range
/// of days, is answered by adding up a few thousand cells instead of walking millions
/// of events (`visits where at in last 1y group by provider show count()`).
///
/// A cube is made by one walk (``ColumnAggregation``, keyed by day and the field) the
/// first time a query of its shape asks, and kept with the event table for the same
/// snapshot (``EventTable/cube(_:make:)``): the log only grows, and a newer snapshot
/// gets a new table, so a kept cube is never out of date. The cells keep each cell's
/// first unit, so the groups come out in the order the general walk makes them, and
/// sums stay exact integers: the walk that makes a cube gives up past the same 2^53
/// bound on summed magnitudes, and any range of days sums less than the whole.
final class DayCube: Sendable {
    /// What a cube counts: the unit, the string field it is keyed by, the summed
    /// columns, and the snapshot (raw column addresses of the table it belongs to).
    struct Shape: Hashable, Sendable {
        let eventCount: Int
        let type: UInt8?
        let items: Bool
        /// The string field's column address (nil: days only) and whether it is per item.
        let key: UInt?
        let keyByItem: Bool
        let summed: [UInt]
        let summedByItem: [Bool]
    }

    /// Cubes of more cells than this are not kept (the walk answers each query).
    static let maxCells = 1 << 18

    /// The first day with a cell; cells of day `firstDay + d` are `dayStart[d]..<dayStart[d + 1]`.
    let firstDay: Int32
    let dayStart: [Int]
    /// Per cell: its string id (0 without a key field), first unit, units, and per
    /// summed column its sum and non-null count.
    let id: [UInt32]
    let first: [Int]
    let counts: [Int]
    let sums: [[Int64]]
    let nonNull: [[Int]]

    /// Builds a cube from day-and-field cells of the whole table (any order): `dayOf`
    /// and `idOf` read a cell's first unit.
    init(cells c: ColumnAggregation.Cells, dayOf: (Int) -> Int32, idOf: (Int) -> UInt32) {
        let days = c.first.map(dayOf)
        let lo = days.min() ?? 0, hi = days.max() ?? -1
        var start = [Int](repeating: 0, count: max(Int(hi) - Int(lo) + 2, 1))
        for d in days { start[Int(d - lo) + 1] += 1 }
        for i in 1..<start.count { start[i] += start[i - 1] }
        var next = start
        var order = [Int](repeating: 0, count: days.count)
        for (cell, d) in days.enumerated() {
            order[next[Int(d - lo)]] = cell
            next[Int(d - lo)] += 1
        }
        firstDay = lo
        dayStart = start
        id = order.map { idOf(c.first[$0]) }
        first = order.map { c.first[$0] }
        counts = order.map { c.counts[$0] }
        sums = c.sums.map { s in order.map { s[$0] } }
        nonNull = c.nonNull.map { s in order.map { s[$0] } }
    }

    /// The cells of `aggregate`'s answer for days `lo...hi` grouped by `keys` (this
    /// cube's field and/or date buckets), in order of first unit.
    func cells(from lo: Int32, through hi: Int32, keys: [ColumnAggregation.Key]) -> ColumnAggregation.Cells {
        var out = ColumnAggregation.Cells(sums: sums.map { _ in [] }, nonNull: nonNull.map { _ in [] })
        let lastDay = firstDay + Int32(dayStart.count - 2)
        let from = max(lo, firstDay), to = min(hi, lastDay)
        guard from <= to, !counts.isEmpty else { return out }
        // Each key's value per cell: a string id, or the bucket's index counted from `from`.
        var bucketOf: [String: [Int32]] = [:]
        for case .bucket(let name) in keys where bucketOf[name] == nil {
            var last = Bucket.code(name, from), i: Int32 = 0
            bucketOf[name] = (from...to).map { d in
                let code = Bucket.code(name, d)
                if code != last { i += 1; last = code }
                return i
            }
        }
        var slot: [UInt64: Int] = [:]
        for d in from...to {
            let offset = Int(d - firstDay)
            for c in dayStart[offset]..<dayStart[offset + 1] {
                var key: UInt64 = 0
                for k in keys {
                    let v: UInt64
                    switch k {
                    case .string, .code: v = UInt64(id[c])
                    case .bucket(let name): v = UInt64(bucketOf[name]?[Int(d - from)] ?? 0)
                    }
                    key = key << 32 | v
                }
                if let s = slot[key] {
                    out.first[s] = min(out.first[s], first[c])
                    out.counts[s] += counts[c]
                    for m in sums.indices {
                        out.sums[m][s] += sums[m][c]
                        out.nonNull[m][s] += nonNull[m][c]
                    }
                } else {
                    slot[key] = out.first.count
                    out.first.append(first[c])
                    out.counts.append(counts[c])
                    for m in sums.indices {
                        out.sums[m].append(sums[m][c])
                        out.nonNull[m].append(nonNull[m][c])
                    }
                }
            }
        }
        let order = out.first.indices.sorted { out.first[$0] < out.first[$1] }
        return ColumnAggregation.Cells(first: order.map { out.first[$0] }, counts: order.map { out.counts[$0] },
                                       sums: out.sums.map { s in order.map { s[$0] } },
                                       nonNull: out.nonNull.map { s in order.map { s[$0] } })
    }

    /// A code per string id of the table (below `distinct`, by first appearance) for the
    /// ids that `ids` holds among the first `n` events of `type` (every type when nil)
    /// or their line items; ids it never holds get 0.
    private static func fieldCodes(_ t: EventTable, eventCount n: Int, type: UInt8?, items: Bool,
                                   ids: UnsafeMutablePointer<UInt32>, byItem: Bool) -> (codes: [UInt32], distinct: Int) {
        var codes = [UInt32](repeating: UInt32.max, count: max(t.pool.count, 1))
        var distinct = 0
        let sub = t.sub.base, subCount = t.subCount.base
        func see(_ id: UInt32) {
            guard Int(id) < codes.count, codes[Int(id)] == UInt32.max else { return }
            codes[Int(id)] = UInt32(distinct)
            distinct += 1
        }
        func visit(_ k: Int) {
            guard items else { return see(ids[k]) }
            let s = Int(sub[k])
            for j in s..<(s + Int(subCount[k])) { see(ids[byItem ? j : k]) }
        }
        if let type {
            let ofType = t.indexes(ofType: type)
            for w in 0..<EventTable.count(of: ofType, below: n) { visit(Int(ofType[w])) }
        } else {
            for k in 0..<n { visit(k) }
        }
        for i in codes.indices where codes[i] == UInt32.max { codes[i] = 0 }
        return (codes, distinct)
    }

    /// ``ColumnAggregation/aggregate(_:eventCount:type:items:from:through:keys:summed:)``
    /// answered from the table's cube of the query's shape, made (by one walk) when
    /// missing; the walk itself when the query has two different string keys or the
    /// cube would be too large; cancelled cells when making the cube was stopped.
    static func aggregate(_ t: EventTable, eventCount n: Int, type: UInt8?, items: Bool, from lo: Int32, through hi: Int32,
                          keys: [ColumnAggregation.Key], summed: [ColumnAggregation.Summed]) -> ColumnAggregation.Cells? {
        func direct() -> ColumnAggregation.Cells? {
            ColumnAggregation.aggregate(t, eventCount: n, type: type, items: items, from: lo, through: hi, keys: keys, summed: summed)
        }
        var field: (ids: UnsafeMutablePointer<UInt32>, byItem: Bool)?
        for case .string(let ids, let byItem) in keys {
            if let f = field, f.ids != ids || f.byItem != byItem { return direct() }
            field = (ids, byItem)
        }
        guard keys.count <= 2, lo <= hi else { return direct() }
        let shape = Shape(eventCount: n, type: type, items: items, key: field.map { UInt(bitPattern: $0.ids) },
                          keyByItem: field?.byItem ?? false, summed: summed.map { UInt(bitPattern: $0.values) },
                          summedByItem: summed.map(\.byItem))
        var stopped = false
        let cube = t.cube(shape) {
            // The field's strings numbered by first appearance among the walked units
            // when one cell per string of the whole table per day would be too many.
            var codes: [UInt32] = []
            var distinct = 0
            if let f = field, let span = t.dayRange(),
               (Int(span.upperBound) - Int(span.lowerBound) + 1).multipliedReportingOverflow(by: t.pool.count).partialValue
                > ColumnAggregation.maxCells {
                (codes, distinct) = fieldCodes(t, eventCount: n, type: items ? EventType.purchase.code : type, items: items,
                                               ids: f.ids, byItem: f.byItem)
            }
            let c = codes.withUnsafeBufferPointer { cp -> ColumnAggregation.Cells? in
                var all: [ColumnAggregation.Key] = [.bucket("day")]
                if let f = field {
                    if let base = cp.baseAddress, distinct > 0 {
                        all.append(.code(f.ids, byItem: f.byItem, codes: base, size: distinct))
                    } else {
                        all.append(.string(f.ids, byItem: f.byItem))
                    }
                }
                return ColumnAggregation.aggregate(t, eventCount: n, type: type, items: items, from: Int32.min, through: Int32.max,
                                                   keys: all, summed: summed)
            }
            if c?.cancelled == true {
                stopped = true
                return .stopped
            }
            guard let c, c.first.count <= maxCells else { return .impossible }
            // A unit is an item index for items, else an event index; an event field of
            // an item is its purchase's.
            let day = t.day.base, itemEvent = t.itemEvent.base
            func event(_ u: Int) -> Int { items ? Int(itemEvent[u]) : u }
            return .value(DayCube(cells: c, dayOf: { u in day[event(u)] },
                                  idOf: { u in field.map { $0.ids[$0.byItem ? u : event(u)] } ?? 0 }))
        }
        if let cube {
            FastPaths.taken?.add("day-cube")
            return cube.cells(from: lo, through: hi, keys: keys)
        }
        // A stopped walk ends the query; a cube that cannot be made leaves it to the walk.
        return stopped ? ColumnAggregation.Cells(cancelled: true) : direct()
    }
}
