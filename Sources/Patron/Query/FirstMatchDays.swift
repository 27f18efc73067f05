import Foundation
import Synchronization

/// Per client number and per string id of one raw event column, the first day an
/// event of the column's type holds that id: `has visit where services contains
/// "botox"` as of any `today` is then "some id that passes has a first day on or
/// before today", read for a million clients without walking ten million events.
///
/// Made by two walks over the type's events (``ScopedMarks``' raw walk, done once
/// instead of once per query) and kept with the event table for its snapshot
/// (``EventTable/firstMatchDays(_:make:)``); a dense array of client numbers × the
/// ids the column holds, so it is made only when that stays under ``maxSlots``.
final class FirstMatchDays: @unchecked Sendable {
    /// What an index covers: the snapshot, the events' type, the column and how its ids
    /// belong to events.
    struct Shape: Hashable, Sendable {
        let eventCount: Int
        let type: UInt8?
        let isItems: Bool
        let column: UInt
        /// 0: one id per event; else the type whose events hold runs of ids
        /// (``RawEventTest/Ids/layout``).
        let runType: UInt8
    }

    /// Indexes of more slots than this (client numbers × distinct ids) are not made.
    static let maxSlots = 1 << 24

    /// Distinct ids of the column; `code[id]` is an id's slot in a client's run (−1: absent).
    let width: Int
    let code: [Int32]
    /// Client numbers covered (every number of an event walked is below it).
    let numbers: Int
    /// `days[code × numbers + number]`: the first day, `Int32.max` when none (one run
    /// per id, so marking for one id reads a run in order).
    private let days: UnsafeMutablePointer<Int32>

    private init(width: Int, code: [Int32], numbers: Int) {
        self.width = width
        self.code = code
        self.numbers = numbers
        days = .allocate(capacity: max(numbers * width, 1))
        days.initialize(repeating: Int32.max, count: max(numbers * width, 1))
    }

    deinit { days.deallocate() }

    /// The index of the first `walk` events of `index` (all events in order when nil):
    /// `.impossible` when it would be too large, `.stopped` when cancelled. `isItems`: an
    /// event column counts only for purchases with an item (the `items` entity).
    static func make(_ t: EventTable, index: UnsafePointer<UInt32>?, walk: Int, ids: RawEventTest.Ids, isItems: Bool,
                     cancellation: QueryCancellation?) -> DerivedCache<Shape, FirstMatchDays>.Made {
        let client = t.client.base, day = t.day.base, sub = t.sub.base, subCount = t.subCount.base, type = t.type.base
        let (runType, runs, single) = ids.layout
        /// Calls `body` with each walked event and each id it holds.
        func forEachID(_ body: (Int, UInt32) -> Void) -> Bool {
            for w in 0..<walk {
                if w & 0xFFFF == 0, cancellation?.isCancelled == true { return false }
                let k = index.map { Int($0[w]) } ?? w
                if let single {
                    if !isItems || subCount[k] > 0 { body(k, single[k]) }
                } else if let runs, type[k] == runType {
                    let s = Int(sub[k])
                    for j in s..<(s + Int(subCount[k])) { body(k, runs[j]) }
                }
            }
            return true
        }
        // First walk: the ids present and the greatest client number.
        var code = [Int32](repeating: -1, count: max(t.pool.count, 1))
        var width = 0, numbers = 0
        let counted = code.withUnsafeMutableBufferPointer { c in
            forEachID { k, id in
                numbers = max(numbers, Int(client[k]) + 1)
                if Int(id) < c.count, id != 0, c[Int(id)] < 0 {
                    c[Int(id)] = Int32(width)
                    width += 1
                }
            }
        }
        guard counted else { return .stopped }
        let (slots, overflow) = numbers.multipliedReportingOverflow(by: max(width, 1))
        guard !overflow, slots <= maxSlots else { return .impossible }
        let made = FirstMatchDays(width: max(width, 1), code: code, numbers: numbers)
        let days = made.days
        let filled = code.withUnsafeBufferPointer { c in
            forEachID { k, id in
                guard Int(id) < c.count else { return }
                let slot = c[Int(id)]
                guard slot >= 0 else { return }
                let at = Int(slot) &* numbers &+ Int(client[k])
                if day[k] < days[at] { days[at] = day[k] }
            }
        }
        return filled ? .value(made) : .stopped
    }

    /// Marks every row whose client (any of its numbers) holds an id that `yes`
    /// answers on or before `today`; `marks` has a Bool per row of `table`.
    func mark(_ marks: inout [Bool], yes: [Bool], today: Day, table: ClientTable) {
        let wanted = code.indices.compactMap { id in id < yes.count && yes[id] && code[id] >= 0 ? Int(code[id]) : nil }
        guard !wanted.isEmpty else { return }
        let rowOf = table.rowOfNumber
        let covered = min(numbers, rowOf.count)
        marks.withUnsafeMutableBufferPointer { m in
            rowOf.withUnsafeBufferPointer { rows in
                for s in wanted {
                    let run = days + s &* numbers
                    for n in 0..<covered where run[n] <= today {
                        let r = rows[n]
                        if r >= 0 { m[Int(r)] = true }
                    }
                }
            }
        }
    }
}
