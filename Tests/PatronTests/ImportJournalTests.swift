import Foundation
import LMDB
import Testing
import Synchronization
@testable import Patron

/// Imports that commit in several transactions (``ImportJournal``): all or nothing.
@Suite struct ImportJournalTests {
    /// Every entry of the tables an import changes and an undo must put back, as bytes.
    static func tables(_ db: Database) throws -> [String: [[UInt8]]] {
        let s = db.store.schema
        return try db.store.env.read { txn in
            var out: [String: [[UInt8]]] = [:]
            for t in [s.log, s.ids, s.clientKeys, s.clientNames, s.chain, s.rows, s.details] {
                var entries: [[UInt8]] = []
                try txn.withCursor(t) { c in
                    var e = try c.first()
                    while let (k, v) = e {
                        entries.append(Array(k) + [0xff] + Array(v))
                        e = try c.next()
                    }
                }
                out[t.name] = entries
            }
            return out
        }
    }

    static func hasJournalOrSavedStates(_ db: Database) throws -> Bool {
        try db.store.env.read { txn in
            let undo = try db.store.schema.undo.map { try txn.count($0) } ?? 0
            return try ImportJournal.read(db.store.schema.meta, txn: txn) != nil || undo > 0
        }
    }

    static let base = """
        {"type":"client","client":"A","at":"2024-01-02","name":"Ann Lee","email":"ann@example.com"}
        {"type":"visit","client":"A","at":"2024-01-03","services":["facial"],"provider":"Kim"}
        {"type":"client","client":"P","at":"2024-01-04","name":"Pat Doe","phone":"555-0100"}
        {"type":"purchase","client":"P","at":"2024-01-05","amount":120}
        {"type":"visit","client":"B","at":"2024-01-06","services":["peel"]}
        {"type":"tier","client":"B","at":"2024-01-07","tier":"gold"}
        """

    /// `rows` rows over the base clients and 20 new ones, with a merge of a base client
    /// into a new one and a forget of a base client; row `bad` (1-based), if any, is invalid.
    static func file(bad: Int?, rows: Int = 60) -> String {
        var lines: [String] = []
        for i in 1...rows {
            let at = "2024-03-\(String(format: "%02d", 1 + i % 28))"
            if i == bad {
                lines.append(#"{"type":"purchase","client":"A","at":"\#(at)","amount":"twelve"}"#)
            } else if i == 30 {
                lines.append(#"{"type":"merge","client":"B","at":"\#(at)","into":"N3"}"#)
            } else if i == 41 {
                lines.append(#"{"type":"forget","client":"P","at":"\#(at)"}"#)
            } else {
                let client = ["A", "B", "P"][i % 3]
                let who = i % 4 == 0 ? "N\(i % 20)" : client
                lines.append(i % 5 == 0
                    ? #"{"type":"client","client":"\#(who)","at":"\#(at)","name":"New \#(i)","email":"n\#(i)@example.com"}"#
                    : #"{"type":"purchase","client":"\#(who)","at":"\#(at)","amount":\#(10 + i),"items":[{"name":"s\#(i % 7)","category":"c\#(i % 3)","amount":\#(10 + i)}]}"#)
            }
        }
        return lines.joined(separator: "\n")
    }

    /// A new database holding the base events.
    static func baseDatabase(_ dir: TempDir) throws -> Database {
        let db = try Database(path: dir.path("db"))
        try db.importFile(try ImportFormatTests.write(dir, "base.ndjson", Self.base))
        return db
    }

    static func options(segment: Int, batch: Int = 3) -> ImportOptions {
        var o = ImportOptions()
        o.segmentSize = segment
        o.batchSize = batch
        return o
    }

    /// A file of `rows` rows imported in batches of `batch`, transactions of about
    /// `segment` events, whose row `bad` is invalid until fixed.
    struct Shape: Sendable, CustomTestStringConvertible {
        var rows: Int, batch: Int, segment: Int, bad: Int
        var testDescription: String { "\(rows) rows, batches of \(batch), transactions of \(segment)" }
    }

    static let shapes = [
        // Batches of 3: the bad row comes many commits in.
        Shape(rows: 60, batch: 3, segment: 7, bad: 58),
        // Batches of 100, over AppendContext.deferFoldsFrom, 4 to a transaction: one fold
        // runs on the second thread through each transaction's batches (the batch with
        // the merge and the forget folds on the writer's thread).
        Shape(rows: 1_200, batch: 100, segment: 350, bad: 1_150),
        // Batches of 1,000, over FoldPipeline.chunkSize: chunks sent in the middle of a
        // batch while the fold runs on through the second transaction's two batches.
        Shape(rows: 4_000, batch: 1_000, segment: 1_500, bad: 3_950),
    ]

    @Test("A file over many transactions with an invalid row near its end imports nothing: every table as before, personal data kept",
          arguments: shapes)
    func aFailedJournaledImportIsUndone(_ shape: Shape) throws {
        let dir = TempDir()
        let db = try Self.baseDatabase(dir)
        let before = try Self.tables(db)
        let snapshot = try ImportFormatTests.snapshot(db)
        let clientsBefore = try db.store.env.read { txn in try txn.count(db.store.schema.clientNames) }

        let options = Self.options(segment: shape.segment, batch: shape.batch)
        let bad = try ImportFormatTests.write(dir, "more.ndjson", Self.file(bad: shape.bad, rows: shape.rows))
        #expect(throws: ImportFailure.self) { try db.importFile(bad, options: options) }
        #expect(try Self.tables(db) == before)
        #expect(try ImportFormatTests.snapshot(db) == snapshot)
        #expect(try !Self.hasJournalOrSavedStates(db))
        #expect(try db.verify().isOK)
        // The forget in the undone part erased nothing; the keys of the undone clients are gone.
        #expect(try db.client("P")?.name == "Pat Doe")
        #expect(db.store.keys.key(UInt32(clientsBefore + 1)) == nil)
        #expect(try db.client("N3") == nil)

        // Fixed, it imports, and equals the same file imported in one transaction.
        let good = try ImportFormatTests.write(dir, "fixed.ndjson", Self.file(bad: nil, rows: shape.rows))
        let report = try db.importFile(good, options: options)
        try Self.expectWhole(db, report: report, rows: shape.rows, file: good, dir: dir)
        #expect(try db.client("P")?.name == nil, "the forget, now committed, erased P's name")
    }

    /// The id of the last committed write transaction: how many commits a step made.
    static func lastCommit(_ db: Database) throws -> Int {
        try db.store.env.read { $0.id }
    }

    @Test("An import's transaction ends early once resident memory reaches the target, or when its ids come in no order, but not before the minimum; the data is the same")
    func transactionsEndEarly() throws {
        let dir = TempDir()
        let rows = Self.file(bad: nil, rows: 3_000).split(separator: "\n")
        // The same rows with ids in order, e00001 on.
        let withIDs = rows.enumerated().map { i, row in
            "{\"id\":\"e\(String(format: "%05d", i + 1))\"," + row.dropFirst()
        }.joined(separator: "\n")
        let ordered = try ImportFormatTests.write(dir, "ordered.ndjson", withIDs)
        let unordered = try ImportFormatTests.write(dir, "unordered.ndjson", rows.joined(separator: "\n"))
        func imported(_ name: String, _ file: String, target: Int?) throws -> (Database, commits: Int) {
            let db = try Database(path: dir.path(name))
            try db.importFile(try ImportFormatTests.write(dir, "base-\(name).ndjson", Self.base))
            var o = Self.options(segment: 1_000, batch: 100)
            o.minimumSegment = 300
            o.memoryTarget = target
            let before = try Self.lastCommit(db)
            let report = try db.importFile(file, options: o)
            #expect(report.appended == 3_000)
            #expect(try !Self.hasJournalOrSavedStates(db))
            #expect(try db.verify().isOK)
            return (db, try Self.lastCommit(db) - before)
        }
        // Without a target: transactions of 1,000 events, and one that finds the end.
        let (plain, plainCommits) = try imported("plain", ordered, target: nil)
        #expect(plainCommits == 4)
        #if os(Linux)  // where resident memory is read
        // A target any process is over: each ends at the minimum, 300 events (three batches).
        let (tight, tightCommits) = try imported("tight", ordered, target: 1)
        #expect(tightCommits == 11)
        #expect(try ImportFormatTests.snapshot(tight) == ImportFormatTests.snapshot(plain))
        #endif
        // A target no process reaches: as without one.
        let (_, looseCommits) = try imported("loose", ordered, target: Int.max)
        #expect(looseCommits == 4)
        // Rows without ids get content-derived ones, in no order: each transaction ends at the minimum.
        let (_, derivedCommits) = try imported("derived", unordered, target: nil)
        #expect(derivedCommits == 11)
    }

    @Test("A transaction that runs out of map without its batches kept undoes the import and reads the file again, keeping them")
    func aTransactionOutOfMapReadsTheFileAgain() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"), options: .init(initialMapSize: 256 << 10))
        try db.importFile(try ImportFormatTests.write(dir, "base.ndjson", Self.base))
        db.store.importSkipsMapReserve.withLock { $0 = true }
        let mapBefore = try db.stats().mapSize
        let file = try ImportFormatTests.write(dir, "more.ndjson", Self.file(bad: nil, rows: 4_000))
        let report = try db.importFile(file, options: Self.options(segment: 1_500, batch: 500))
        #expect(db.store.importReadAgain.withLock { $0 } == 1)
        #expect(try db.stats().mapSize > mapBefore)
        try Self.expectWhole(db, report: report, rows: 4_000, file: file, dir: dir)
    }

    /// The reading side is cancelled with two batches queued and a third on its way,
    /// as when a transaction runs out of map mid-file (``aTransactionOutOfMapReadsTheFileAgain()``).
    /// The pipe must then be freed cleanly: libdispatch traps (SIGILL) when a semaphore
    /// is freed holding fewer permits than it was made with, which crashed the suite
    /// when this happened in the test above.
    @Test("A pipe cancelled while full, its producer stopped mid-send, is freed without a trap")
    func aPipeCancelledWhileFullIsFreed() {
        let done = ImportPipe.Item.done(rows: 0, rejected: 0, wroteRejected: false, fixedDuplicates: [], fixedDuplicateCount: 0)
        let producerStopped = DispatchSemaphore(value: 0)
        let thirdAccepted = Mutex<Bool?>(nil)
        do {
            let pipe = ImportPipe()
            #expect(pipe.send(done))
            #expect(pipe.send(done))
            let producer = Thread {
                // Waits for room (none until the cancel), then finds the receiver gone.
                let accepted = pipe.send(done)
                thirdAccepted.withLock { $0 = accepted }
                pipe.finish(ImportPipe.Tally())
                producerStopped.signal()
            }
            producer.start()
            pipe.cancel()
            var received = 0
            while pipe.receive() != nil { received += 1 }
            producerStopped.wait()
            #expect(received == 0)
            #expect(thirdAccepted.withLock { $0 } == false)
        }
        // The pipe is freed by whichever lets go last: this scope, or the producer's
        // thread as it exits (Foundation releases the closure then). The pause lets the
        // thread exit, so that a trap falls within this test; it would fail the run anyway.
        Thread.sleep(forTimeInterval: 0.05)
    }

    @Test("A later transaction that runs out of map in each reading of the file: the committed ones are undone, the file read again, and the transaction run again from its kept rows")
    func aLaterTransactionOutOfMapIsRunAgainFromItsRows() throws {
        let dir = TempDir()
        let db = try Self.baseDatabase(dir)
        // The third transaction (of four: 1,500 events each) fails on its first run in
        // both readings, as if the map were full.
        db.store.importMapFullInSegment.withLock { $0 = 3 }
        let file = try ImportFormatTests.write(dir, "more.ndjson", Self.file(bad: nil, rows: 6_000))
        let report = try db.importFile(file, options: Self.options(segment: 1_500, batch: 500))
        #expect(db.store.importReadAgain.withLock { $0 } == 1)
        try Self.expectWhole(db, report: report, rows: 6_000, file: file, dir: dir)
    }

    /// That the base database `db`, after importing `file` of `rows` rows, holds each
    /// row once, no journal, passes verify, and equals a database that imported the
    /// file in one transaction.
    static func expectWhole(_ db: Database, report: ImportReport, rows: Int, file: String, dir: TempDir) throws {
        #expect(report.appended == rows && report.read == rows && report.duplicates == 0)
        #expect(try db.lastPosition == UInt64(6 + rows))
        #expect(try !Self.hasJournalOrSavedStates(db))
        #expect(try db.verify().isOK)
        let whole = try Database(path: dir.path("whole"))
        try whole.importFile(try ImportFormatTests.write(dir, "base2.ndjson", Self.base))
        try whole.importFile(file, options: Self.options(segment: 100_000))
        #expect(try ImportFormatTests.snapshot(db) == ImportFormatTests.snapshot(whole))
    }

    /// What a killed importer leaves: two transactions (positions 7–9, a new client and
    /// a merge of base clients) committed under a journal naming a process that no longer runs.
    static func leaveOrphanedImport(_ db: Database) throws {
        try db.writer.session { session in
            try session.transaction { context in
                _ = try context.apply(AppendRequest(events: [
                    Event(client: "A", at: ms("2024-05-01"), payload: .purchase(Purchase(amount: Money(cents: 900)))),
                    Event(client: "Z", at: ms("2024-05-02"), payload: .visit(Visit())),
                ], expectedVersions: [:]))
                try context.beginJournal(file: "gone.ndjson")
            }
            try session.transaction { context in
                _ = try context.apply(AppendRequest(events: [
                    Event(client: "B", at: ms("2024-05-03"), payload: .merge(Merge(into: "A"))),
                ], expectedVersions: [:]))
            }
        }
        try db.store.env.write { txn in
            var j = try #require(try ImportJournal.read(db.store.schema.meta, txn: txn))
            j.pid = Int32.max - 7  // no such process
            try txn.put(db.store.schema.meta, key: ImportJournal.key, value: j.encoded())
        }
    }

    @Test("An unfinished import of a process that is gone is undone by the next read-write opening; read-only ones only say so")
    func anOrphanedJournalIsUndoneAtOpen() throws {
        let dir = TempDir()
        let path = dir.path("db")
        var before: [String: [[UInt8]]] = [:]
        do {
            let db = try Database(path: path)
            try db.importFile(try ImportFormatTests.write(dir, "base.ndjson", Self.base))
            before = try Self.tables(db)
            try Self.leaveOrphanedImport(db)
            #expect(try db.lastPosition == 9)
        }
        let reader = try Database(path: path, readOnly: true)
        #expect(try reader.stats().unfinishedImport?.contains("stopped unfinished") == true)
        #expect(try reader.verify().unfinishedImport != nil)
        let db = try Database(path: path)
        #expect(try Self.tables(db) == before)
        #expect(try !Self.hasJournalOrSavedStates(db))
        #expect(try db.stats().unfinishedImport == nil)
        #expect(try db.verify().isOK)
    }

    @Test("The journal's process check: this process is alive, a made-up one is not, a reused id with another start time is not")
    func ownerLiveness() throws {
        let me = ImportJournal.mine(firstPosition: 1, firstClient: 1, file: "f")
        #expect(me.ownerIsAlive)
        var other = me
        other.pid = Int32.max - 7
        #expect(!other.ownerIsAlive)
        if me.processStart != 0 {
            var reused = me
            reused.processStart += 1
            #expect(!reused.ownerIsAlive)
        }
        #expect(try me.encoded().withUnsafeBytes { try ImportJournal($0) } == me)
    }

    @Test("A rebuild undoes an unfinished import of a process that is gone before it replays the log")
    func rebuildUndoesAnOrphanedImport() throws {
        let dir = TempDir()
        let db = try Self.baseDatabase(dir)
        let before = try Self.tables(db)
        try Self.leaveOrphanedImport(db)
        #expect(try db.lastPosition == 9)
        try db.rebuild()
        #expect(try db.lastPosition == 6)
        #expect(try Self.tables(db) == before)
        #expect(try !Self.hasJournalOrSavedStates(db))
    }

    /// A database of the base events and an orphaned import (positions 7–9), and a
    /// subscription from 1 that has delivered all nine — read in the caller's task, as
    /// a second task could wait long for a busy thread pool.
    static func subscriptionThroughAnOrphanedImport(_ dir: TempDir, poll: Duration) async throws
        -> (Database, AsyncThrowingStream<RecordedEvent, any Error>.Iterator) {
        let db = try Self.baseDatabase(dir)
        var events = db.subscribe(from: 1, pollInterval: poll).makeAsyncIterator()
        try Self.leaveOrphanedImport(db)
        var seen: [UInt64] = []
        while seen.count < 9, let e = try await events.next() { seen.append(e.position) }
        #expect(seen == Array(1...9))
        return (db, events)
    }

    @Test("A subscription that delivered events of an import that is then undone ends with an error naming where to start again")
    func aSubscriptionPastUndoneEventsEnds() async throws {
        let dir = TempDir()
        let (db, events0) = try await Self.subscriptionThroughAnOrphanedImport(dir, poll: .milliseconds(5))
        var events = events0
        // The next write finds the journal of a dead process, undoes positions 7–9, then
        // appends at 7–10 (four events: a subscription that went on would get 10, not hang).
        try db.appendAndWait((1...4).map { Event(client: "A", at: ms("2024-06-0\($0)"), payload: .visit(Visit())) })
        do {
            let e = try await events.next()
            Issue.record("the subscription went on past undone events, to \(String(describing: e?.position))")
        } catch let e as PatronError {
            #expect(e == .undone(from: 7))
        }
        // A subscription from where it said gets the new event.
        var fresh = db.subscribe(from: 7).makeAsyncIterator()
        #expect(try await fresh.next()?.event.type == .visit)
    }

    /// An append in this process that finds a dead importer's journal undoes it and
    /// creates a new client with a number the undone import had used: that client's
    /// fresh key must survive the commit.
    @Test("A writer that undoes a dead import and then gives one of its client numbers to a new client keeps the new client's key")
    func newClientKeySurvivesUndoOfOrphanInSameTransaction() throws {
        let dir = TempDir()
        let db = try Self.baseDatabase(dir)
        try ImportJournalTests.leaveOrphanedImport(db)  // creates client Z
        let z = try #require(try db.store.env.read { try db.store.clientNumber("Z", txn: $0) })
        try db.appendAndWait([Event(client: "Y", at: ms("2024-06-01"), payload: .client(ClientDetails(name: "Yan Ng")))])
        let y = try #require(try db.store.env.read { try db.store.clientNumber("Y", txn: $0) })
        #expect(y == z, "Y reuses Z's number")
        #expect(db.store.keys.key(y) != nil, "the new client's key was destroyed")
        #expect(try db.client("Y")?.name == "Yan Ng")
    }

    /// A transaction that undoes a dead import changes stored states without holding
    /// them, so its events fold on the writer's thread, not from the second thread's
    /// snapshot (which still holds the import: A's purchase, B merged into A).
    @Test func aLargeAppendAfterAnUndoCountsFromTheUndoneStates() throws {
        let dir = TempDir()
        let db = try Self.baseDatabase(dir)
        let before = try #require(try db.client("A", today: day("2025-01-01")))
        try ImportJournalTests.leaveOrphanedImport(db)
        let events = (0..<100).map { i in
            Event(client: i % 2 == 0 ? "A" : "B", at: ms("2024-07-01") + Int64(i) * 3_600_000,
                  payload: .purchase(Purchase(amount: Money(cents: 100))))
        }
        try db.appendAndWait(events)
        #expect(try !Self.hasJournalOrSavedStates(db))
        let a = try #require(try db.client("A", today: day("2025-01-01")))
        #expect(a.purchases == before.purchases + 50 && a.spend.cents == before.spend.cents + 5_000)
        #expect(try db.client("B", today: day("2025-01-01"))?.id == "B", "B is no longer merged into A")
        #expect(try db.verify().isOK)
    }

    /// Two undos between two polls of a subscription (the marker keeps the positions of
    /// the last 16): the lower one, which took back events it delivered, ends it.
    @Test func subscriptionNoticesTwoUndosBetweenPolls() async throws {
        let dir = TempDir()
        let (db, events0) = try await Self.subscriptionThroughAnOrphanedImport(dir, poll: .seconds(3600))
        var events = events0
        try await Task.sleep(for: .milliseconds(300))
        let s = db.store
        // Raw writes (no local commit signal), as another process would make them.
        try s.env.write { txn in
            let j = try #require(try ImportJournal.read(s.schema.meta, txn: txn))
            _ = try s.rollBack(j, txn: txn)  // undo #1 from 7
            let ctx = try AppendContext(store: s, txn: txn, recorded: 0)
            _ = try ctx.apply(AppendRequest(events: (1...6).map {
                Event(client: "A", at: ms("2024-06-0\($0)"), payload: .visit(Visit()))
            }, expectedVersions: [:]))  // positions 7...12
            try ctx.finish()
        }
        try s.env.write { txn in
            let ctx = try AppendContext(store: s, txn: txn, recorded: 0)
            _ = try ctx.apply(AppendRequest(events: [
                Event(client: "Q", at: ms("2024-06-10"), payload: .visit(Visit())),
                Event(client: "Q", at: ms("2024-06-11"), payload: .visit(Visit())),
            ], expectedVersions: [:]))  // positions 13...14, an import's first segment
            try ctx.beginJournal(file: "x")
            try ctx.finish()
        }
        try s.env.write { txn in
            var j = try #require(try ImportJournal.read(s.schema.meta, txn: txn))
            j.pid = Int32.max - 7
            _ = try s.rollBack(j, txn: txn)  // undo #2 from 13
        }
        try db.appendAndWait([Event(client: "A", at: ms("2024-07-01"), payload: .visit(Visit()))])  // wakes it
        do {
            let e = try await events.next()
            Issue.record("went on past undone events 7–9, delivering \(String(describing: e?.position))")
        } catch let e as PatronError {
            #expect(e == .undone(from: 7))
        }
    }

    /// A forget committed in one segment of an import: personal data for that client in
    /// a later segment is not stored (its key is destroyed only when the import ends).
    @Test func personalDataAfterAForgetInAnEarlierSegmentIsNotStored() throws {
        let dir = TempDir()
        let db = try Self.baseDatabase(dir)
        let leaked: String? = try db.writer.session { session in
            try session.transaction { context in
                _ = try context.apply(AppendRequest(events: [Event(client: "P", at: ms("2024-05-01"), payload: .forget)], expectedVersions: [:]))
                try context.beginJournal(file: "f")
            }
            let p = try session.transaction { context in
                try context.apply(AppendRequest(events: [
                    Event(client: "P", at: ms("2024-05-02"), payload: .client(ClientDetails(name: "Secret Name")))
                ], expectedVersions: [:])).positions[0]
            }
            let name = try db.store.env.read { txn -> String? in
                let v = try #require(try txn.get(db.store.schema.log, key: p))
                return db.store.personal(try EventCodec.decode(v, position: p, verifyChecksum: false), position: p)?.value(.name)
            }
            try session.transaction { context in try context.endJournal() }
            return name
        }
        #expect(leaked == nil, "readers during the import can read personal data sent after the forget")
    }

    /// An import whose journal was taken away (undone by another process that judged
    /// its owner dead) stops instead of committing its later segments.
    @Test func anImportNoticesItsJournalWasUndone() throws {
        let dir = TempDir()
        let db = try Self.baseDatabase(dir)
        #expect(throws: PatronError.importUndone(file: "f")) {
            try db.writer.session { session in
                try session.transaction { context in
                    _ = try context.apply(AppendRequest(events: [Event(client: "N1", at: ms("2024-05-01"), payload: .visit(Visit()))], expectedVersions: [:]))
                    try context.beginJournal(file: "f")
                }
                try db.store.env.write { txn in
                    let j = try #require(try ImportJournal.read(db.store.schema.meta, txn: txn))
                    _ = try db.store.rollBack(j, txn: txn)
                }
                try session.transaction { context in
                    _ = try context.apply(AppendRequest(events: [Event(client: "N2", at: ms("2024-05-02"), payload: .visit(Visit()))], expectedVersions: [:]))
                    try context.endJournal()
                }
            }
        }
        #expect(try db.lastPosition == 6, "half of the import stayed")
    }

    @Test("A journal of this process whose import is no longer running (an undo that failed) is undone by its next writer")
    func aLeftoverJournalOfThisProcessIsUndoneByItsNextWriter() throws {
        let dir = TempDir()
        let db = try Self.baseDatabase(dir)
        let path = dir.path("db")
        try db.writer.session { session in
            try session.transaction { context in
                _ = try context.apply(AppendRequest(events: [Event(client: "N1", at: ms("2024-05-01"), payload: .visit(Visit()))], expectedVersions: [:]))
                try context.beginJournal(file: "f")
            }
            // Live while the session runs, even for another Database on the same file.
            let other = try Database(path: path)
            #expect(throws: PatronError.self) { try other.appendAndWait([Event(client: "A", at: ms("2024-05-02"), payload: .visit(Visit()))]) }
        }
        // The session ended with its journal in place (as after a failed undo).
        #expect(try db.lastPosition == 7)
        try db.appendAndWait([Event(client: "A", at: ms("2024-05-02"), payload: .visit(Visit()))])
        #expect(try db.lastPosition == 7)
        #expect(try db.event(at: 7)?.event.client == "A")
        #expect(try !Self.hasJournalOrSavedStates(db))
        #expect(try db.verify().isOK)
    }

    @Test("A segment size below 1 is taken as 1 (each batch its own transaction), not a loop of empty transactions")
    func aSegmentSizeBelowOneIsOne() throws {
        let dir = TempDir()
        let db = try Self.baseDatabase(dir)
        var options = Self.options(segment: 0)
        options.batchSize = 4
        let report = try db.importFile(try ImportFormatTests.write(dir, "more.ndjson", Self.file(bad: nil)), options: options)
        #expect(report.appended == 60)
        #expect(try !Self.hasJournalOrSavedStates(db))
        #expect(try db.verify().isOK)
    }
}
