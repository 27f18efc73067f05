import Foundation
import Testing
@testable import Patron

@Suite struct OccurrenceCounterTests {
    /// 200,000 rows drawn from 60,000 contents, one content 150 times (past the 6-bit
    /// count), against a dictionary of counts.
    private func rows() -> [String] {
        var rng = SeededRandom(seed: 7)
        var rows = (0..<200_000).map { _ in "visit|C\(Int.random(in: 0..<60_000, using: &rng))|2025-03-14" }
        for k in 0..<150 { rows.insert("purchase|same|45.00", at: (k * 1_303) % rows.count) }
        return rows
    }

    private func expected(_ rows: [String]) -> [Int] {
        var seen: [String: Int] = [:]
        return rows.map { r in
            seen[r, default: 0] += 1
            return seen[r, default: 0]
        }
    }

    /// The first row whose count differs, if any (so a failure prints one row, not a
    /// diff of 200,000 counts).
    private func firstDifference(_ counts: [Int], _ rows: [String]) -> (row: Int, got: Int, want: Int)? {
        let want = expected(rows)
        guard counts.count == want.count else { return (counts.count, -1, -1) }
        return zip(counts, want).enumerated().first { $0.element.0 != $0.element.1 }.map { ($0.offset, $0.element.0, $0.element.1) }
    }

    @Test func inMemoryCountsEachContentsOccurrences() {
        let rows = rows()
        let counter = OccurrenceCounter(capacity: 1024)
        #expect(firstDifference(rows.map { counter.next($0) }, rows) == nil)
        #expect(!counter.isSpilled)
    }

    /// In a file from the start, and moved into one when it grows past the threshold:
    /// the same counts, though its pages are handed back to the kernel every 4,096 rows
    /// (a private or anonymous map would lose them), and no file is left in the directory.
    @Test(arguments: [(1 << 16, 1 << 10), (1 << 10, 1 << 14)])
    func spilledCountsTheSame(capacity: Int, spillAbove: Int) throws {
        let dir = TempDir()
        let rows = rows()
        var counts: [Int] = []
        do {
            let counter = OccurrenceCounter(capacity: capacity, spillDirectory: dir.url.path, spillAbove: spillAbove)
            #expect(counter.isSpilled == (capacity > spillAbove))
            counts = rows.map { counter.next($0) }
            #expect(counter.isSpilled)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url.path).isEmpty)
        }
        #expect(firstDifference(counts, rows) == nil)
    }

    @Test func aDirectoryThatCannotHoldTheFileKeepsTheTableInMemory() {
        let counter = OccurrenceCounter(capacity: 1 << 12, spillDirectory: "/nonexistent/patron", spillAbove: 1 << 10)
        #expect(!counter.isSpilled)
        #expect(counter.next("a") == 1 && counter.next("a") == 2 && counter.next("b") == 1)
    }
}
