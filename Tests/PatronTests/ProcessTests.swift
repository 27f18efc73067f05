import Foundation
import Testing
@testable import Patron

/// Tests across processes: a child appends while this process reads, or is killed.
@Suite(.serialized) struct ProcessTests {
    func startAppender(_ path: String, batches: Int, size: Int) throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = productsDirectory.appendingPathComponent("patron-testproc")
        p.arguments = ["append", path, String(batches), String(size)]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        return (p, out)
    }

    /// A child appending a large import is killed with SIGKILL at random moments;
    /// after each kill the database holds only whole batches and verifies.
    @Test func killedAppenderLeavesOnlyWholeBatches() throws {
        let dir = TempDir()
        let path = dir.path("db")
        let size = 500
        var rng = SeededRandom(seed: 11)
        var lastCount = 0
        for round in 0..<6 {
            let (child, _) = try startAppender(path, batches: 1000, size: size)
            usleep(UInt32.random(in: 150_000...600_000, using: &rng))
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            let db = try Database(path: path)
            let events = try db.events()
            #expect(events.count % size == 0, "round \(round): \(events.count) events is not whole batches")
            #expect(events.count >= lastCount)
            var batches: [String: Int] = [:]
            for e in events { batches[String(e.event.id?.split(separator: "-").first ?? ""), default: 0] += 1 }
            #expect(batches.values.allSatisfy { $0 == size }, "round \(round): a batch is partial")
            let report = try db.verify()
            #expect(report.isOK, "round \(round): \(report.problems.prefix(5))")
            lastCount = events.count
        }
        #expect(lastCount > 0, "the appender never committed; the kills came too early")
    }

    /// `patron import` killed with SIGKILL at random moments. By default a file is all
    /// or nothing, here over many transactions (`--segment-size`) under a journal: the
    /// reopened database holds the earlier data exactly as it was, or all of the file.
    /// With --skip-invalid, whole batches. Either way it verifies, and importing again
    /// completes it.
    @Test func killedImportLeavesTheFileOrWholeBatches() throws {
        let dir = TempDir()
        let file = dir.path("big.csv")
        var text = "type,client,at,amount,services\n"
        for i in 0..<40_000 {
            let at = "2024-\(String(format: "%02d", i % 12 + 1))-\(String(format: "%02d", i % 28 + 1))"
            text += i % 3 == 0 ? "visit,c\(i % 997),\(at),,facial;peel\n" : "purchase,c\(i % 997),\(at),\(i % 400).50,\n"
        }
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        // Earlier data: the import changes these clients' states, an undo puts them back.
        var earlier = "type,client,at,amount\n"
        for i in 0..<500 { earlier += "purchase,c\(i * 2),2023-06-\(String(format: "%02d", i % 28 + 1)),\(i).25\n" }
        let base = dir.path("earlier.csv")
        try Data(earlier.utf8).write(to: URL(fileURLWithPath: base))
        let size = 700
        var rng = SeededRandom(seed: 5)
        for skipInvalid in [false, true] {
            let path = dir.path(skipInvalid ? "batches" : "whole")
            let before: [String: [[UInt8]]]
            do {
                let db = try Database(path: path)
                try db.importFile(base)
                before = try ImportJournalTests.tables(db)
            }
            var undone = 0
            for round in 0..<4 {
                let p = Process()
                p.executableURL = productsDirectory.appendingPathComponent("patron")
                p.arguments = ["import", file, "--db", path, "--batch-size", String(size), "--segment-size", "3000"]
                    + (skipInvalid ? ["--skip-invalid"] : [])
                p.standardError = FileHandle.nullDevice
                p.standardOutput = FileHandle.nullDevice
                try p.run()
                usleep(UInt32.random(in: 100_000...900_000, using: &rng))
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
                let db = try Database(path: path)
                let count = try Int(db.lastPosition) - 500
                if skipInvalid {
                    // Every batch but the file's last one holds `size` new events.
                    #expect(count % size == 0 || count == 40_000, "round \(round): \(count) events is not whole batches")
                } else {
                    #expect(count == 0 || count == 40_000, "round \(round): \(count) events is part of the file")
                    if count == 0 {
                        #expect(try ImportJournalTests.tables(db) == before, "round \(round): the undo left a difference")
                        undone += 1
                    }
                    #expect(try !ImportJournalTests.hasJournalOrSavedStates(db))
                }
                let report = try db.verify()
                #expect(report.isOK, "round \(round): \(report.problems.prefix(5))")
            }
            if !skipInvalid { #expect(undone > 0, "no kill came before the import finished") }
            let db = try Database(path: path)
            try db.importFile(file)
            #expect(try db.lastPosition == 40_500)
            #expect(try db.verify().isOK)
        }
    }

    /// While an import runs under its journal, other writers are refused (an append in
    /// between would be undone with it); once its process is killed, the next writer
    /// — here another process — undoes it, and a client number this process cached
    /// from the undone import is not used for the key that now has it.
    @Test func aRunningImportHoldsOffWritersAndAKilledOneIsUndoneByTheNext() throws {
        let dir = TempDir()
        let path = dir.path("db")
        let file = dir.path("long.csv")
        var text = "type,client,at,amount\n"
        for i in 0..<60_000 { text += "purchase,new\(i % 5000),2024-\(String(format: "%02d", i % 12 + 1))-02,\(i % 90).00\n" }
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        let db = try Database(path: path)
        try db.appendAndWait([Event(client: "old", at: ms("2023-01-01"), payload: .visit(Visit()))])

        let p = Process()
        p.executableURL = productsDirectory.appendingPathComponent("patron")
        p.arguments = ["import", file, "--db", path, "--batch-size", "500", "--segment-size", "1000"]
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        // Wait for its journal. An append waits for LMDB's write lock (held by the
        // import inside each of its transactions), then finds the journal and is refused.
        let deadline = Date().addingTimeInterval(60)
        while try db.stats().unfinishedImport == nil && p.isRunning && Date() < deadline { usleep(2_000) }
        defer { kill(p.processIdentifier, SIGKILL) }
        do {
            try db.appendAndWait([Event(client: "old", at: ms("2023-01-02"), payload: .visit(Visit()))])
            Issue.record("the append went through: the import finished before it")
        } catch let PatronError.busy(message) {
            #expect(message.contains("an import of \(file) by process \(p.processIdentifier) is under way"))
        }
        // A client of the import, seen (and its number cached) while it runs.
        #expect(try db.client("new0") != nil)

        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(try db.stats().unfinishedImport?.contains("stopped unfinished") == true, "the import finished before it was killed")
        let other = dir.path("other.ndjson")
        try Data(#"{"type":"visit","client":"other","at":"2024-02-01"}"#.utf8).write(to: URL(fileURLWithPath: other))
        let r = try runProduct("patron", ["import", other, "--db", path])
        #expect(r.status == 0, "\(r.err)")
        // "other" took the number "new0" had; the cache must not hand it out for "new0".
        #expect(try db.client("new0") == nil)
        #expect(try db.client("other")?.visits == 1)
        #expect(try db.lastPosition == 2)
        #expect(try db.stats().unfinishedImport == nil)
        #expect(try db.verify().isOK)
        try db.appendAndWait([Event(client: "old", at: ms("2023-01-02"), payload: .visit(Visit()))])
        #expect(try db.client("old", today: day("2024-01-01"))?.visits == 2)
    }

    @Test("A writer that carries client states from one commit to the next reloads them after another process has written")
    func carriedStatesAreDroppedAfterAnotherProcessWrites() async throws {
        let dir = TempDir()
        let path = dir.path("db")
        let db = try Database(path: path)
        func otherProcessBuys(_ day: String) throws {
            let file = dir.path("other-\(day).ndjson")
            try Data(#"{"type":"purchase","client":"C","at":"\#(day)","amount":40}"#.utf8).write(to: URL(fileURLWithPath: file))
            let r = try runProduct("patron", ["import", file, "--db", path])
            #expect(r.status == 0, "\(r.err)")
        }
        try await db.append(Event(client: "C", at: ms("2025-01-01"), payload: .visit(Visit())))
        let second = Event(id: "v2", client: "C", at: ms("2025-01-02"), payload: .visit(Visit()))
        try await db.append(second)
        try otherProcessBuys("2025-01-03")
        try await db.append(Event(client: "C", at: ms("2025-01-04"), payload: .visit(Visit())))
        var c = try #require(try db.client("C", today: day("2025-02-01")))
        #expect(c.visits == 3)
        #expect(c.purchases == 1, "the other process's purchase was lost")
        // A transaction that writes nothing (a duplicate) commits nothing: the other
        // process's next commit takes the id it had.
        #expect(try await db.append(second).appended == 0)
        try otherProcessBuys("2025-01-05")
        try await db.append(Event(client: "C", at: ms("2025-01-06"), payload: .visit(Visit())))
        c = try #require(try db.client("C", today: day("2025-02-01")))
        #expect(c.visits == 4)
        #expect(c.purchases == 2, "the other process's second purchase was lost")
        #expect(try db.verify().isOK)
    }

    /// A second process appends while this one reads: every snapshot is consistent.
    @Test func readersSeeConsistentSnapshotsWhileAnotherProcessAppends() throws {
        let dir = TempDir()
        let path = dir.path("db")
        _ = try Database(path: path)
        let size = 200
        let (child, _) = try startAppender(path, batches: 60, size: size)
        // A tiny map here: the writer's larger map must be adopted (MDB_MAP_RESIZED).
        let reader = try Database(path: path, readOnly: true, options: .init(initialMapSize: 128 << 10))
        var snapshots = 0
        while child.isRunning || snapshots == 0 {
            let report = try reader.verify()
            #expect(report.isOK, "\(report.problems.prefix(5))")
            #expect(report.events % size == 0)
            snapshots += 1
        }
        child.waitUntilExit()
        #expect(child.terminationStatus == 0)
        #expect(try reader.lastPosition == UInt64(60 * size))
        #expect(snapshots > 1)
        #expect(try reader.stats().mapSize >= 64 << 20)
    }
}
