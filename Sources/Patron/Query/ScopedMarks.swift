import Foundation

/// An event condition that is exactly "some id of a raw string column passes `memo`":
/// `services contains "botox"`, `provider = maya`, `items.category = filler`. Read by
/// loops over raw columns (``ScopedMarks``) with no call per event.
struct RawEventTest {
    enum Ids {
        /// One id per event.
        case event(UnsafeMutablePointer<UInt32>)
        /// One id per line item: the purchase passes when any of its items does.
        case items(UnsafeMutablePointer<UInt32>)
        /// A visit's services: the visit passes when any of them does.
        case services(UnsafeMutablePointer<UInt32>)
    }
    let ids: Ids
    let memo: IDMemo
}

extension RawEventTest.Ids {
    /// How the ids lie: one per event (`single`), or in runs (`runs`, read through the
    /// event's `sub`/`subCount`) that only events of `runType` have.
    var layout: (runType: UInt8, runs: UnsafeMutablePointer<UInt32>?, single: UnsafeMutablePointer<UInt32>?) {
        switch self {
        case .event(let column): return (0, nil, column)
        case .items(let column): return (EventType.purchase.code, column, nil)
        case .services(let column): return (EventType.visit.code, column, nil)
        }
    }
}

/// `has <entity> where <cond>` asked of many client rows: once more than a 256th of
/// the rows (at least ``minimumAsked``) have asked, one walk over the entity's events — its
/// type's index in the event table, in position order — marks every row with a
/// matching event on or before `today`, and later rows read their mark. A row already
/// marked skips its later events, as a row's own scan stops at its first match.
/// Fewer rows (a narrow `and` in front) keep the per-row scan of the row's events —
/// except for a raw condition whose first-match days exist, which is run at a time
/// (``fill(_:_:_:negated:)``): its marks cost one pass over the clients.
final class ScopedMarks {
    private let env: QueryEnv
    private let type: UInt8?
    private let isItems: Bool
    private let passes: (Int) -> Bool
    /// The condition on raw columns, when it has that form (read with no call per event).
    private let raw: RawEventTest?
    private let perRow: (Int, Bool) -> Int
    private var asked = 0
    private var marks: [Bool]?
    /// The walk was stopped: later rows keep the per-row scan (the query is ending).
    private var stopped = false
    /// Rows asked before the walk: a 256th of all, at least ``minimumAsked``.
    private let threshold: Int

    /// The least number of rows asked before the walk (tests lower it).
    @TaskLocal static var minimumAsked = 1024

    /// `passes`: the condition on a unit (an event, or an item for `items`);
    /// `perRow`: the per-row counter (``Compiler/scopedCount(_:_:)``).
    init(env: QueryEnv, entity: Entity, passes: @escaping (Int) -> Bool, raw: RawEventTest?, perRow: @escaping (Int, Bool) -> Int) {
        self.env = env
        type = entity == .items ? EventType.purchase.code : entity.eventType?.code
        isItems = entity == .items
        self.passes = passes
        self.raw = raw
        self.perRow = perRow
        threshold = max(env.table.count / 256, Self.minimumAsked)
    }

    /// Whether row `i`'s client has a matching event on or before `today`.
    func has(_ i: Int) -> Bool {
        if let marks { return marks[i] }
        asked += 1
        if asked > threshold, !stopped {
            if let m = mark() {
                FastPaths.taken?.add("marks")
                marks = m
                return m[i]
            }
            stopped = true
        }
        return perRow(i, true) > 0
    }

    /// Fills `out[0..<count]` with whether rows `start…` have a matching event
    /// (`negated`: have none), 1 or 0: the condition's run-at-a-time form, which asks
    /// every row, so the marks are made at once (given only when ``firstMatchDays()``
    /// exist, so they cost no walk of the events).
    func fill(_ start: Int, _ count: Int, _ out: UnsafeMutablePointer<UInt8>, negated: Bool) {
        if marks == nil, !stopped {
            if let m = mark() {
                FastPaths.taken?.add("marks")
                marks = m
            } else {
                stopped = true
            }
        }
        if let marks {
            marks.withUnsafeBufferPointer { m in
                for j in 0..<count { out[j] = m[start &+ j] != negated ? 1 : 0 }
            }
        } else {
            for j in 0..<count { out[j] = (perRow(start &+ j, true) > 0) != negated ? 1 : 0 }
        }
    }

    /// The snapshot's first-match days of the raw condition's column (``FirstMatchDays``),
    /// made by the first query that asks; nil without a raw condition, when they would
    /// be too large, or when making them was stopped.
    func firstMatchDays() -> FirstMatchDays? {
        guard let raw else { return nil }
        let t = env.events, n = env.eventCount
        let layout = raw.ids.layout
        let shape = FirstMatchDays.Shape(eventCount: n, type: type, isItems: isItems,
                                         column: UInt(bitPattern: layout.runs ?? layout.single), runType: layout.runType)
        return t.firstMatchDays(shape) {
            let index = type.map { t.indexes(ofType: $0) }
            let walk = index.map { EventTable.count(of: $0, below: n) } ?? n
            return (index ?? []).withUnsafeBufferPointer { ix in
                FirstMatchDays.make(t, index: index == nil ? nil : ix.baseAddress, walk: walk, ids: raw.ids, isItems: isItems,
                                    cancellation: QueryCancellation.current)
            }
        }
    }

    /// Every row's mark, or nil when the walk was cancelled.
    private func mark() -> [Bool]? {
        let t = env.events, n = env.eventCount, today = env.today, table = env.table
        var m = [Bool](repeating: false, count: table.count)
        let client = t.client.base, day = t.day.base
        let cancellation = QueryCancellation.current
        let index = type.map { t.indexes(ofType: $0) }
        let walk = index.map { EventTable.count(of: $0, below: n) } ?? n
        if let raw {
            FastPaths.taken?.add("raw-marks")
            // Every id's answer up front: the loop reads a table, not the memo.
            let answers = (0..<max(t.pool.count, 1)).map { raw.memo.test(UInt32($0)) }
            // The snapshot's first-match days of the column, when they fit: no walk.
            let firstDays = firstMatchDays()
            if let firstDays {
                FastPaths.taken?.add("first-match-days")
                firstDays.mark(&m, yes: answers, today: today, table: table)
                return m
            }
            // Large walks go in two halves on two cores, each marking its own copy.
            let parts = walk >= ColumnAggregation.parallelAbove && ProcessInfo.processInfo.activeProcessorCount > 1 ? 2 : 1
            let copies = (0..<parts).map { _ in RawMarks(rows: table.count) }
            let ranges = parts == 1 ? [0..<walk] : [0..<(walk / 2), (walk / 2)..<walk]
            answers.withUnsafeBufferPointer { yes in
                (index ?? []).withUnsafeBufferPointer { ix in
                    let job = RawWalk(t: t, ids: raw.ids, yes: yes, index: index == nil ? nil : ix.baseAddress, today: today,
                                      table: table, isItems: isItems, cancellation: cancellation)
                    if parts == 1 {
                        copies[0].done = job.mark(copies[0].marks, ranges[0])
                    } else {
                        DispatchQueue.concurrentPerform(iterations: parts) { p in
                            copies[p].done = job.mark(copies[p].marks, ranges[p])
                        }
                    }
                }
            }
            guard !copies.contains(where: { !$0.done }) else { return nil }
            let first = copies[0].marks, second = copies.count > 1 ? copies[1].marks : copies[0].marks
            for i in m.indices { m[i] = first[i] || second[i] }
            return m
        }
        let done = m.withUnsafeMutableBufferPointer { marked -> Bool in
            for w in 0..<walk {
                if w & 0xFFFF == 0, cancellation?.isCancelled == true { return false }
                let k = index.map { Int($0[w]) } ?? w
                if day[k] > today { continue }
                guard let r = table.row(ofNumber: client[k]), !marked[r] else { continue }
                if isItems {
                    if t.items(k).contains(where: passes) { marked[r] = true }
                } else if passes(k) {
                    marked[r] = true
                }
            }
            return true
        }
        return done ? m : nil
    }

    /// One part's marks of a walk with a raw condition.
    private final class RawMarks: @unchecked Sendable {
        let marks: UnsafeMutablePointer<Bool>
        var done = false
        init(rows: Int) {
            marks = .allocate(capacity: max(rows, 1))
            marks.initialize(repeating: false, count: max(rows, 1))
        }
        deinit { marks.deallocate() }
    }

    /// A walk over the events with a raw condition (the table outlives it).
    private struct RawWalk: @unchecked Sendable {
        let t: EventTable
        let ids: RawEventTest.Ids
        /// `yes[id]` answers each string id.
        let yes: UnsafeBufferPointer<Bool>
        /// The walked events' indexes (nil: every event, in order).
        let index: UnsafePointer<UInt32>?
        let today: Day
        let table: ClientTable
        let isItems: Bool
        let cancellation: QueryCancellation?

        /// Marks the rows of events `range` (of `index`, or of all events) that pass.
        /// False when cancelled.
        func mark(_ marked: UnsafeMutablePointer<Bool>, _ range: Range<Int>) -> Bool {
            let yes = self.yes, index = self.index
            let client = t.client.base, day = t.day.base, sub = t.sub.base, subCount = t.subCount.base, type = t.type.base
            let known = yes.count
            @inline(__always) func passes(_ id: UInt32) -> Bool { Int(id) < known && yes[Int(id)] }
            // `sub` holds a purchase's items or a visit's services: only events of that type.
            let (runType, runs, single) = ids.layout
            for w in range {
                if w & 0xFFFF == 0, cancellation?.isCancelled == true { return false }
                let k = index.map { Int($0[w]) } ?? w
                if day[k] > today { continue }
                // The string test first (cheap, sequential); the row only for a hit.
                var hit = false
                if let single {
                    // On items, an event field counts only through an item of the purchase.
                    hit = passes(single[k]) && (!isItems || subCount[k] > 0)
                } else if let runs, type[k] == runType {
                    let s = Int(sub[k])
                    for j in s..<(s + Int(subCount[k])) where passes(runs[j]) {
                        hit = true
                        break
                    }
                }
                if hit, let r = table.row(ofNumber: client[k]) { marked[r] = true }
            }
            return true
        }
    }
}
