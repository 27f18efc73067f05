/// The outcome of an append.
///
/// Kept compact while the writer builds it: positions as runs of consecutive ones,
/// assigned ids as runs sharing their milliseconds and random bits (the position is the
/// rest), and given ids as (index, id) pairs. A request of a million events then costs
/// the writer a few runs instead of about 40 MB of fresh memory; ``positions`` and
/// ``ids`` spell the arrays out when they are read, on the reader's thread.
public struct AppendResult: Sendable, Equatable {
    /// How many events the request gave (the number of ``positions``).
    public private(set) var count: Int

    /// How many events were new.
    public var appended: Int
    /// How many were already stored (same id) and skipped.
    public var duplicates: Int { count - appended }

    /// The position of each event given, in order; a duplicate (an id already stored)
    /// gets the position of the stored event. Each read spells out the whole array:
    /// read it once, not once per event (or use ``position(at:)``). Setting it leaves
    /// ``ids`` as they were.
    public var positions: [UInt64] {
        get { runs.spelled(count: count) }
        set {
            // An assigned id is spelled from its position: keep the text it had.
            if !assigned.isEmpty { ids = ids }
            runs = PositionRuns(newValue)
            count = newValue.count
        }
    }

    /// The position of the event at `index` (`0..<count`).
    public func position(at index: Int) -> UInt64 {
        precondition(index >= 0 && index < count, "AppendResult.position(at:): index \(index) out of 0..<\(count)")
        return runs.position(at: index)
    }

    /// The id of each event given, in order (assigned where none was given).
    ///
    /// Assigned ids are spelled out when this is read, on the reader's thread. Each read
    /// spells every one of them: read it once, not once per event (or use ``id(at:)``).
    public var ids: [String] {
        get {
            var out = [String](repeating: "", count: count)
            for (i, id) in given where i < count { out[i] = id }
            if !assigned.isEmpty {
                for i in 0..<count {
                    if let (ms, random) = assigned.bits(at: i) {
                        out[i] = GeneratedID(ms: ms, position: runs.position(at: i), random: random).text
                    }
                }
            }
            return out
        }
        set {
            given = newValue.enumerated().map { ($0.offset, $0.element) }
            assigned = AssignedIndexRuns()
        }
    }

    /// The id of the event at `index` (`0..<count`; assigned where none was given).
    public func id(at index: Int) -> String {
        precondition(index >= 0 && index < count, "AppendResult.id(at:): index \(index) out of 0..<\(count)")
        if let (ms, random) = assigned.bits(at: index) {
            return GeneratedID(ms: ms, position: runs.position(at: index), random: random).text
        }
        // The given ids are in index order.
        var lo = 0, hi = given.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if given[mid].index < index { lo = mid + 1 } else { hi = mid }
        }
        return lo < given.count && given[lo].index == index ? given[lo].id : ""
    }

    /// Runs of consecutive positions.
    private var runs: PositionRuns
    /// The given ids, by index, in index order (none for an event assigned its id).
    private var given: [(index: Int, id: String)]
    /// Which events were assigned their ids, with the bits those ids share.
    private var assigned: AssignedIndexRuns

    /// An empty result, filled in request order by ``record(position:given:)`` and
    /// ``record(position:assigned:)``.
    init() {
        count = 0
        appended = 0
        runs = PositionRuns()
        given = []
        assigned = AssignedIndexRuns()
    }

    /// A result of a request's arrays, each with an entry per event (`assigned` empty
    /// when no id was assigned).
    init(positions: [UInt64], given: [String], assigned ids: [GeneratedID], appended: Int) {
        self.init()
        for i in positions.indices {
            if i < ids.count, ids[i] != .none {
                record(position: positions[i], assigned: ids[i])
            } else {
                record(position: positions[i], given: i < given.count ? given[i] : "")
            }
        }
        self.appended = appended
    }

    /// Adds the next event: at `position`, with the id it was given.
    mutating func record(position: UInt64, given id: String) {
        given.append((count, id))
        runs.append(position, at: count)
        count += 1
    }

    /// Adds the next event: at `position`, with the id the database assigned.
    mutating func record(position: UInt64, assigned id: GeneratedID) {
        assigned.append(count, ms: id.ms, random: id.random)
        runs.append(position, at: count)
        count += 1
    }

    public static func == (a: AppendResult, b: AppendResult) -> Bool {
        a.count == b.count && a.appended == b.appended && a.positions == b.positions && a.ids == b.ids
    }
}

/// Positions by index, as runs: from each run's first index on, one more per index.
private struct PositionRuns: Sendable {
    private var starts: [(index: Int, position: UInt64)] = []

    init() {}

    init(_ positions: [UInt64]) {
        for (i, p) in positions.enumerated() { append(p, at: i) }
    }

    /// Sets the position at `index`, the one after the last set.
    mutating func append(_ position: UInt64, at index: Int) {
        if let last = starts.last, last.position &+ UInt64(index - last.index) == position { return }
        starts.append((index, position))
    }

    func position(at index: Int) -> UInt64 {
        // The last run that starts at or before `index`.
        var lo = 0, hi = starts.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if starts[mid].index <= index { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return 0 }
        let run = starts[lo - 1]
        return run.position &+ UInt64(index - run.index)
    }

    func spelled(count: Int) -> [UInt64] {
        var out: [UInt64] = []
        out.reserveCapacity(count)
        for (k, run) in starts.enumerated() {
            let end = k + 1 < starts.count ? starts[k + 1].index : count
            for i in run.index..<end { out.append(run.position &+ UInt64(i - run.index)) }
        }
        return out
    }
}

/// The indexes of events given an assigned id, as runs whose ids share milliseconds and
/// random bits (an id is those and its position).
private struct AssignedIndexRuns: Sendable {
    private var runs: [(first: Int, end: Int, ms: Int64, random: UInt64)] = []

    var isEmpty: Bool { runs.isEmpty }

    mutating func append(_ index: Int, ms: Int64, random: UInt64) {
        if let last = runs.last, last.end == index, last.ms == ms, last.random == random {
            runs[runs.count - 1].end += 1
        } else {
            runs.append((index, index + 1, ms, random))
        }
    }

    /// The bits of the id assigned to the event at `index`, nil if it was given one.
    func bits(at index: Int) -> (ms: Int64, random: UInt64)? {
        var lo = 0, hi = runs.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if runs[mid].first <= index { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0, index < runs[lo - 1].end else { return nil }
        return (runs[lo - 1].ms, runs[lo - 1].random)
    }
}
