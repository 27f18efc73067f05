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

    /// `patron import` killed with SIGKILL at random moments. By default a file is one
    /// transaction: the database holds none of it or all of it. With --skip-invalid,
    /// whole batches. Either way it verifies, and importing again completes it.
    @Test func killedImportLeavesTheFileOrWholeBatches() throws {
        let dir = TempDir()
        let file = dir.path("big.csv")
        var text = "type,client,at,amount,services\n"
        for i in 0..<40_000 {
            let at = "2024-\(String(format: "%02d", i % 12 + 1))-\(String(format: "%02d", i % 28 + 1))"
            text += i % 3 == 0 ? "visit,c\(i % 997),\(at),,facial;peel\n" : "purchase,c\(i % 997),\(at),\(i % 400).50,\n"
        }
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        let size = 700
        var rng = SeededRandom(seed: 5)
        for skipInvalid in [false, true] {
            let path = dir.path(skipInvalid ? "batches" : "whole")
            for round in 0..<4 {
                let p = Process()
                p.executableURL = productsDirectory.appendingPathComponent("patron")
                p.arguments = ["import", file, "--db", path, "--batch-size", String(size)] + (skipInvalid ? ["--skip-invalid"] : [])
                p.standardError = FileHandle.nullDevice
                p.standardOutput = FileHandle.nullDevice
                try p.run()
                usleep(UInt32.random(in: 100_000...900_000, using: &rng))
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
                let db = try Database(path: path)
                let count = try Int(db.lastPosition)
                if skipInvalid {
                    // Every batch but the file's last one holds `size` new events.
                    #expect(count % size == 0 || count == 40_000, "round \(round): \(count) events is not whole batches")
                } else {
                    #expect(count == 0 || count == 40_000, "round \(round): \(count) events is part of the file")
                }
                let report = try db.verify()
                #expect(report.isOK, "round \(round): \(report.problems.prefix(5))")
            }
            let db = try Database(path: path)
            try db.importFile(file)
            #expect(try db.lastPosition == 40_000)
            #expect(try db.verify().isOK)
        }
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
