import Foundation
import LMDB
import Synchronization
import Testing
@testable import Patron

@Suite struct StorageTests {
    @Test func newDatabaseFilesHaveMode0600() throws {
        let dir = TempDir()
        _ = try Database(path: dir.path("db"))
        for name in ["db", "db-lock", "db-keys"] {
            let attrs = try FileManager.default.attributesOfItem(atPath: dir.path(name))
            #expect((attrs[.posixPermissions] as? NSNumber)?.intValue == 0o600, "\(name)")
        }
    }

    @Test func readOnlyOpenLeavesTheFileByteIdentical() async throws {
        let dir = TempDir()
        do {
            let db = try Database(path: dir.path("db"))
            try await db.append(everyType)
        }
        let before = try Data(contentsOf: dir.url.appendingPathComponent("db"))
        let keysBefore = try Data(contentsOf: dir.url.appendingPathComponent("db-keys"))
        do {
            let ro = try Database(path: dir.path("db"), readOnly: true)
            #expect(try ro.events().count == everyType.count)
            _ = try ro.verify()
            _ = try ro.stats()
            _ = try ro.client("C1")
            await #expect(throws: PatronError.self) { try await ro.append(everyType[1]) }
            #expect(throws: PatronError.self) { try ro.rebuild() }
        }
        #expect(try Data(contentsOf: dir.url.appendingPathComponent("db")) == before)
        #expect(try Data(contentsOf: dir.url.appendingPathComponent("db-keys")) == keysBefore)
    }

    @Test func readOnlyOpenOfAMissingFileFails() {
        let dir = TempDir()
        #expect(throws: PatronError.self) { try Database(path: dir.path("nope"), readOnly: true) }
        #expect(!FileManager.default.fileExists(atPath: dir.path("nope")))
    }

    @Test func aFlippedByteInAStoredEventIsReportedByVerify() async throws {
        let dir = TempDir()
        let marker = "FLIP-ME-CLIENT-KEY"
        do {
            let db = try Database(path: dir.path("db"))
            try await db.append([Event(client: marker, at: ms("2025-01-01"), payload: .visit(Visit(provider: "Dr. Kim")))] + everyType)
        }
        var bytes = try Data(contentsOf: dir.url.appendingPathComponent("db"))
        // Flip a byte of the key inside every copy of the event record (the key followed
        // by the provider), whichever page copy LMDB reads.
        var flipped = false
        var search = bytes.startIndex..<bytes.endIndex
        while let r = bytes.range(of: Data(marker.utf8), in: search) {
            if bytes[r.upperBound...].prefix(40).range(of: Data("Dr. Kim".utf8)) != nil {
                bytes[r.lowerBound + 3] ^= 0x20
                flipped = true
            }
            search = r.upperBound..<bytes.endIndex
        }
        #expect(flipped)
        try bytes.write(to: dir.url.appendingPathComponent("db"))
        let db = try Database(path: dir.path("db"), readOnly: true)
        let report = try db.verify()
        #expect(!report.isOK)
        #expect(report.problems.contains { $0.contains("position 1 fails its checksum") }, "\(report.problems)")
        #expect(throws: CorruptData.self) { try db.event(at: 1) }
    }

    @Test func verifyReportsADamagedProjection() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        try await db.append(everyType)
        // Overwrite C1's projection with an empty state behind the store's back.
        try db.store.env.write { txn in
            let n = try #require(try db.store.clientNumber("C1", txn: txn))
            try txn.put(db.store.schema.details, key: n, value: ClientState().encodeDetail())
        }
        let report = try db.verify()
        #expect(report.problems.contains { $0.contains("projection of \"C1\" differs") && $0.contains("visits") }, "\(report.problems)")
        try db.rebuild()
        #expect(try db.verify().isOK)
    }

    /// A database whose log is six visits, positions 1…6: A, B, A, B, A, B.
    func alternatingStreams(_ dir: TempDir) async throws -> Database {
        let db = try Database(path: dir.path("db"))
        for i in 0..<6 {
            try await db.append(Event(client: i % 2 == 0 ? "A" : "B", at: ms("2025-01-01") + Int64(i), payload: .visit(Visit())))
        }
        return db
    }

    @Test("A damaged stream link is reported by verify (a wrong link, a link that goes forward) and repaired by rebuild")
    func verifyReportsADamagedStreamChain() async throws {
        let dir = TempDir()
        let db = try await alternatingStreams(dir)
        #expect(try db.stream("A").map(\.position) == [1, 3, 5])
        #expect(try db.stream("B").map(\.position) == [2, 4, 6])
        func setLink(_ position: UInt64, to previous: UInt64) throws {
            try db.store.env.write { txn in
                let table = db.store.schema.chain
                var chunk = Array(try #require(try txn.get(table, key: UInt64(0))))
                chunk.withUnsafeMutableBytes { $0.storeBytes(of: previous, toByteOffset: Int(position) * 8, as: UInt64.self) }
                try txn.put(table, key: UInt64(0), value: chunk)
            }
        }
        try setLink(5, to: 1)  // A's stream now skips position 3
        var report = try db.verify()
        #expect(report.problems.contains { $0.contains("chain: the stream of \"A\"") }, "\(report.problems)")
        #expect(throws: CorruptData.self) { try db.stream("A") }
        try setLink(5, to: 6)  // a link forward, which could loop
        report = try db.verify()
        #expect(report.problems.contains { $0.contains("chain: the stream of \"A\" cannot be read") && $0.contains("links forward") }, "\(report.problems)")
        try db.rebuild()
        #expect(try db.verify().isOK)
        #expect(try db.stream("A").map(\.position) == [1, 3, 5])
    }

    @Test("Rebuild over a log with a gap (a lost record) links every later event to its own position")
    func rebuildOverALogWithAGapKeepsTheLinksInPlace() async throws {
        let dir = TempDir()
        let db = try await alternatingStreams(dir)
        try db.store.env.write { txn in _ = try txn.delete(db.store.schema.log, key: UInt64(3)) }
        try db.rebuild()
        #expect(try db.stream("A").map(\.position) == [1, 5])
        #expect(try db.stream("B").map(\.position) == [2, 4, 6])
        let problems = try db.verify().problems
        #expect(problems == ["log: position 4 follows 2; positions must have no gaps"], "\(problems)")
    }

    @Test func anUnknownFormatVersionFailsClearly() async throws {
        let dir = TempDir()
        do { _ = try Database(path: dir.path("db")) }
        do {
            let env = try Environment(path: dir.path("db"))
            let meta = try env.openTables([("meta", [])])[0]
            try env.write { txn in try txn.put(meta, key: "format", value: [9, 0, 0, 0]) }
        }
        do {
            _ = try Database(path: dir.path("db"))
            Issue.record("opened an unknown format")
        } catch let e as PatronError {
            #expect(e.description.contains("format version 9"))
            #expect(e.description.contains("reads version 4"))
        }
    }

    @Test("A database of an older format (made by that format's build: `patron demo --clients 40 --seed 7`, backed up) is refused with the way out, and upgraded by rebuild",
          arguments: [UInt32(1), 2])
    func anOlderFormatIsUpgradedByRebuild(format: UInt32) async throws {
        let dir = TempDir()
        for suffix in ["", "-keys"] {
            let url = try #require(Bundle.module.url(forResource: "format\(format)-demo40", withExtension: "patron" + suffix, subdirectory: "Fixtures"))
            try FileManager.default.copyItem(at: url, to: dir.url.appendingPathComponent("db" + suffix))
        }
        let before = try Data(contentsOf: dir.url.appendingPathComponent("db"))
        for readOnly in [false, true] {
            do {
                _ = try Database(path: dir.path("db"), readOnly: readOnly)
                Issue.record("opened a format-\(format) database")
            } catch let e as PatronError {
                #expect(e.description.contains("format version \(format)"), "\(e)")
                #expect(e.description.contains("patron rebuild --db \(dir.path("db"))"), "\(e)")
            }
        }
        #expect(try Data(contentsOf: dir.url.appendingPathComponent("db")) == before, "a refused open wrote nothing")
        #expect(try Database.upgrade(path: dir.path("db")) == 485)
        #expect(try Database.upgrade(path: dir.path("db")) == nil, "already current")
        let db = try Database(path: dir.path("db"))
        #expect(try db.verify().isOK)
        #expect(try db.stats().tables.contains { $0.name == "chain" && $0.entries > 0 })
        // The figures the older build printed for this file.
        let r = try db.query("clients show count(), sum(spend)")
        #expect(r.rows == [[.number(40), .money(Money(cents: 3_670_100))]])
        // Streams read back through the rebuilt chain, in log order.
        for key in Set(try db.events().map(\.event.client)) {
            let own = try db.events().filter { $0.event.client == key }.map(\.position)
            #expect(try db.stream(key).map(\.position) == own, "\(key)")
        }
    }

    /// Format 3 indexed every id, assigned ones (spelled like ULIDs) included. Its files
    /// are format-4 files: read as they are, marked 4 at the first read-write opening.
    @Test("A database of format 3 (this fixture: `patron demo --clients 40 --seed 7 --end 2025-06-30`, then three events without ids imported with --no-dedupe, backed up) opens as it is and is marked format 4")
    func formatThreeOpensAndIsMarkedFour() async throws {
        let dir = TempDir()
        for suffix in ["", "-keys"] {
            let url = try #require(Bundle.module.url(forResource: "format3-demo40", withExtension: "patron" + suffix, subdirectory: "Fixtures"))
            try FileManager.default.copyItem(at: url, to: dir.url.appendingPathComponent("db" + suffix))
        }
        let before = try Data(contentsOf: dir.url.appendingPathComponent("db"))
        do {
            let db = try Database(path: dir.path("db"), readOnly: true)
            #expect(try db.stats().formatVersion == 3)
            #expect(try db.verify().isOK)
        }
        #expect(try Data(contentsOf: dir.url.appendingPathComponent("db")) == before, "a read-only opening wrote nothing")
        #expect(try Database.upgrade(path: dir.path("db")) == nil, "nothing to rebuild")
        #expect(try Database(path: dir.path("db"), readOnly: true).stats().formatVersion == 4, "marked by the opening")
        let db = try Database(path: dir.path("db"))
        #expect(try db.stats().formatVersion == 4)
        // The ids format 3 assigned are found in its index.
        let old = ["01M86J9N2428XAPK4P6XKYNXG8", "01M86J9N2428XAPK4P6XKYNXG9", "01M86J9N2428XAPK4P6XKYNXGA"]
        let again = try await db.append(old.map { Event(id: $0, client: "Q", at: ms("2025-07-01"), payload: .visit(Visit())) })
        #expect(again.appended == 0 && again.positions == [486, 487, 488])
        // New ones name their positions, beside the old.
        let added = try await db.append([Event(client: "F3-2", at: ms("2025-07-03"), payload: .visit(Visit()))])
        #expect(added.positions == [489] && added.ids[0].first.map { "89ABCDEF".contains($0) } == true)
        let found = try await db.append([Event(id: added.ids[0], client: "Q", at: ms("2025-07-03"), payload: .visit(Visit()))])
        #expect(found.appended == 0 && found.positions == [489])
        #expect(try db.verify().isOK)
    }

    @Test("A key a crash left behind (after a forget's commit, before its destruction) is reported by verify and destroyed by rebuild")
    func rebuildDestroysAForgottenClientsLeftoverKey() async throws {
        let dir = TempDir()
        let keysURL = dir.url.appendingPathComponent("db-keys")
        let savedKeys: Data
        do {
            let db = try Database(path: dir.path("db"))
            try await db.append([
                Event(client: "Z1", at: ms("2025-01-01"), payload: .client(ClientDetails(name: "Zelda Quarterfield"))),
                Event(client: "Y2", at: ms("2025-01-01"), payload: .client(ClientDetails(name: "Yusuf Keeps"))),
            ])
            savedKeys = try Data(contentsOf: keysURL)
            try db.forget("Z1")
            #expect(try Data(contentsOf: keysURL) != savedKeys, "forget destroyed the key")
        }
        // The crash: the forget is committed, the key file is as it was before.
        try savedKeys.write(to: keysURL)
        let db = try Database(path: dir.path("db"))
        let report = try db.verify()
        #expect(report.problems.contains { $0.contains("forgotten client \"Z1\" still has a key") && $0.contains("patron rebuild") }, "\(report.problems)")
        try db.rebuild()
        #expect(try db.verify().isOK)
        #expect(try db.client("Y2")?.name == "Yusuf Keeps", "only the forgotten client's key goes")
        let after = try Data(contentsOf: keysURL)
        #expect(after != savedKeys)
        #expect(after.count == savedKeys.count)
    }

    @Test("A forget whose key cannot be destroyed after the commit says the events are stored and the erasure is not complete; the database stays in step; rebuild finishes it")
    func forgetWhoseKeyCannotBeDestroyed() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let keysPath = dir.path("db") + "-keys"
        try await db.append([
            Event(client: "Z1", at: ms("2025-01-01"), payload: .client(ClientDetails(name: "Zelda Quarterfield"))),
            Event(client: "Y2", at: ms("2025-01-01"), payload: .client(ClientDetails(name: "Yusuf Keeps"))),
        ])
        let before = try db.lastPosition
        KeyStore.failingDestroys.withLock { _ = $0.insert(keysPath) }
        defer { KeyStore.failingDestroys.withLock { _ = $0.remove(keysPath) } }
        do {
            try db.forget("Z1")
            Issue.record("the forget reported success though its key is still there")
        } catch let e as PatronError {
            guard case .erasureIncomplete(let clients, _) = e else { Issue.record("\(e)"); return }
            #expect(clients == 1)
            #expect(e.description.contains("the events were stored") && e.description.contains("patron rebuild"), "\(e)")
        }
        // Committed, and everything after the commit happened: the position moved, a new
        // append works and is seen, the client reads as forgotten.
        #expect(try db.lastPosition == before + 1)
        #expect(try db.client("Z1")?.name == nil)
        try await db.append([Event(client: "N3", at: ms("2025-02-01"), payload: .visit(Visit(services: ["peel"])))])
        #expect(try db.query("clients where id = N3 show visits").rows == [[.number(1)]])
        #expect(try db.verify().problems.contains { $0.contains("forgotten client \"Z1\" still has a key") })
        KeyStore.failingDestroys.withLock { _ = $0.remove(keysPath) }
        try db.rebuild()
        #expect(try db.verify().isOK)
        #expect(try db.client("Y2")?.name == "Yusuf Keeps")
    }

    @Test func aFileThatIsNotADatabaseIsRefused() throws {
        let dir = TempDir()
        try Data("hello, not lmdb at all, just text".utf8).write(to: dir.url.appendingPathComponent("db"))
        #expect(throws: PatronError.self) { try Database(path: dir.path("db")) }
        #expect(try Data(contentsOf: dir.url.appendingPathComponent("db")) == Data("hello, not lmdb at all, just text".utf8))
    }

    @Test func mapGrowsFromATinyMapWithoutAnError() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"), options: .init(initialMapSize: 256 << 10, durable: false))
        var rng = SeededRandom(seed: 4)
        for _ in 0..<8 {
            try await db.append(RandomHistory.events(count: 5000, clients: 2000, rng: &rng))
        }
        #expect(try db.lastPosition == 40_000)
        #expect(try db.stats().mapSize > 256 << 10)
        #expect(try db.verify().isOK)
    }

    @Test("Projection rows of clients that arrive over many transactions fill their pages: two 14-row chunks to a page, not one")
    func rowChunksOfNewClientsFillTheirPages() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"), options: .init(durable: false))
        // 200 transactions, each bringing 14 new clients (one chunk) and touching an
        // earlier one, so chunks are both appended and rewritten.
        for t in 0..<200 {
            var batch = (0..<14).map { i in
                Event(client: "N\(t * 14 + i)", at: 1_700_000_000_000 + Int64(t), payload: .visit(Visit(services: ["peel"])))
            }
            batch.append(Event(client: "N\(t * 7)", at: 1_700_000_000_000, payload: .purchase(Purchase(amount: Money(cents: 500)))))
            try await db.append(batch)
        }
        let rows = try #require(try db.stats().tables.first { $0.name == "rows" })
        // Client numbers start at 1: clients 1…2,800 lie in chunks 0…200.
        #expect(rows.entries == 201)
        // 101 full leaf pages and a branch page or two; one chunk per page would be 201.
        #expect(rows.pages <= 104, "rows take \(rows.pages) pages for 201 chunks")
        #expect(try db.client("N7")?.purchases == 1)
        #expect(try db.client("N2799")?.visits == 1)
        #expect(try db.verify().isOK)
    }

    @Test("A commit that changes a quarter or more of the clients rewrites the details table with full pages, and the projections are those of writing in place")
    func detailsRewrittenByALargeCommitFillTheirPages() async throws {
        let dir = TempDir()
        let rewritten = try Database(path: dir.path("a"), options: .init(durable: false))
        let inPlace = try Database(path: dir.path("b"), options: .init(durable: false))
        inPlace.store.detailsRewriteOff.withLock { $0 = true }
        let clients = 12_000
        var rng = SeededRandom(seed: 11)
        func visit(_ c: Int, _ t: Int64) -> Event {
            // A later day and another service each time: the detail grows.
            Event(client: "R\(c)", at: 1_700_000_000_000 + t * 86_400_000 * 3, payload: .visit(Visit(services: ["s\((c + Int(t)) % 7)"])))
        }
        // Every client; then four commits of 3,000 (in place in both: under
        // `DetailsWriter.rewriteFrom`), whose details grow and split their pages; then
        // (rewritten in one database only) half of the clients but the last hundred, and
        // half of them with new ones after them; then a few hundred (in place in both).
        func some(_ n: Int, _ t: Int64) -> [Event] { (0..<n).map { _ in visit(Int(rng.next() % UInt64(clients)) + 1, t) } }
        func half(of range: ClosedRange<Int>, _ t: Int64) -> [Event] { range.filter { _ in rng.next() % 2 == 0 }.map { visit($0, t) } }
        var batches: [[Event]] = [(1...clients).map { visit($0, 0) }]
        for t in 1...4 { batches.append(some(3_000, Int64(t))) }
        batches.append(half(of: 1...(clients - 100), 5))
        batches.append(half(of: 1...clients, 6) + (clients + 1...clients + 50).map { visit($0, 6) })
        batches.append(some(300, 7))
        func detailPages(_ db: Database) throws -> Int { try #require(try db.stats().tables.first { $0.name == "details" }).pages }
        for (k, batch) in batches.enumerated() {
            try await rewritten.append(batch)
            try await inPlace.append(batch)
            if k == 5 {
                let full = try detailPages(rewritten), split = try detailPages(inPlace)
                #expect(full * 10 <= split * 8, "details: \(full) pages rewritten, \(split) in place")
            }
        }
        #expect(try rewritten.verify().isOK)
        #expect(try inPlace.verify().isOK)
        for c in 1...(clients + 50) {
            let a = try rewritten.client("R\(c)"), b = try inPlace.client("R\(c)")
            #expect(a != nil && a == b, "client R\(c)")
            if a == nil || a != b { break }
        }
    }

    /// With every reader slot taken (by long reads, e.g. other processes' queries), a
    /// commit large enough to rewrite the details, which needs a slot for its snapshot,
    /// writes them in place instead. (Written by a review.)
    @Test(arguments: [false, true]) func aLargeCommitWithEveryReaderSlotTakenWritesInPlace(rewriteOff: Bool) throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"), options: .init(durable: false))
        db.store.detailsRewriteOff.withLock { $0 = rewriteOff }
        let clients = 5_000
        func batch(_ d: Int64) -> [Event] {
            (0..<clients).map { Event(client: "k\($0)", at: 1_735_689_600_000 + d * 86_400_000, payload: .visit(Visit(services: ["a"]))) }
        }
        _ = try db.appendAndWait(batch(0))
        let release = DispatchSemaphore(value: 0)
        let entered = DispatchSemaphore(value: 0)
        let failures = Mutex(0)
        let group = DispatchGroup()
        for _ in 0..<260 {
            Thread.detachNewThread {
                group.enter()
                defer { group.leave() }
                do { try db.store.env.read { _ in entered.signal(); release.wait() } } catch {
                    failures.withLock { $0 += 1 }
                    entered.signal()
                }
            }
        }
        for _ in 0..<260 { entered.wait() }
        #expect(failures.withLock { $0 } > 0, "every slot taken")
        var outcome: String = "ok"
        // Requests of 50 (no fold on a second thread), 100 of them in one transaction.
        let events = batch(1)
        do {
            try db.writer.session { session in
                try session.transaction { ctx in
                    for k in stride(from: 0, to: events.count, by: 50) {
                        _ = try ctx.apply(AppendRequest(events: Array(events[k..<k + 50]), expectedVersions: [:]))
                    }
                }
            }
        } catch { outcome = "\(error)" }
        for _ in 0..<260 { release.signal() }
        group.wait()
        #expect(outcome == "ok")
        #expect(try db.client("k7")?.visits == 2)
        #expect(try db.verify().isOK)
    }

    /// An import left unfinished (its session gone) is undone by the next writer, whose
    /// transaction then changes every client: the details must be the restored ones
    /// plus that change, not the snapshot's (which holds the undone import's states), so
    /// the table is not rewritten from it. (Written by a review.)
    @Test func aLargeCommitAfterAnUndoInTheSameTransactionKeepsTheRestoredDetails() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"), options: .init(durable: false))
        let clients = 5_000
        func batch(_ d: Int64) -> [Event] {
            (0..<clients).map { Event(client: "k\($0)", at: 1_735_689_600_000 + d * 86_400_000, payload: .visit(Visit(services: ["s\(d)"]))) }
        }
        _ = try db.appendAndWait(batch(0))
        let lost = batch(1) + batch(2)
        // An import's first transaction, committed with its journal; the session ends
        // without ending or undoing it (as a killed importer would).
        try db.writer.session { session in
            try session.transaction { ctx in
                try ctx.beginJournal(file: "lost.ndjson")
                _ = try ctx.apply(AppendRequest(events: lost, expectedVersions: [:]))
            }
        }
        #expect(try db.client("k7")?.visits == 3)
        // The next writer undoes it, then changes every client in the same transaction.
        _ = try db.appendAndWait(Array(batch(3).prefix(4_500)))
        #expect(try db.client("k7")?.visits == 2)
        #expect(try db.client("k4999")?.visits == 1, "a client the undone import changed and the commit did not")
        #expect(try db.verify().isOK)
    }

    @Test func backupIsACompactedConsistentCopy() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        try await db.append(everyType)
        try db.backup(to: dir.path("copy"))
        #expect(throws: PatronError.self) { try db.backup(to: dir.path("copy")) }
        let copy = try Database(path: dir.path("copy"), readOnly: true)
        #expect(try copy.events() == db.events())
        #expect(try copy.verify().isOK)
        #expect(try copy.client("C1")?.name == "Ava Lind")
    }

    @Test func forgetErasesPersonalDataFromEveryFile() async throws {
        let dir = TempDir()
        let secrets = ["Zelda Quarterfield", "zelda.q@example.org", "+1 555 7788", "My knee hurt afterwards", "prefers-the-blue-room"]
        do {
            let db = try Database(path: dir.path("db"))
            try await db.append([
                Event(client: "Z1", at: ms("2025-01-01"), payload: .client(ClientDetails(name: secrets[0], email: secrets[1], phone: secrets[2]))),
                Event(client: "Z1", at: ms("2025-01-02"), payload: .visit(Visit(provider: "Dr. Kim", services: ["botox"])), extra: #"{"note":"prefers-the-blue-room"}"#),
                Event(client: "Z1", at: ms("2025-01-02"), payload: .purchase(Purchase(amount: Money(dollars: 400)))),
                Event(client: "Z1", at: ms("2025-01-03"), payload: .feedback(Feedback(score: 2, comment: secrets[3]))),
                Event(client: "Y2", at: ms("2025-01-03"), payload: .client(ClientDetails(name: "Yusuf Keeps"))),
            ])
            #expect(try db.client("Z1")?.name == secrets[0])
            // Never in plain text, even before forget.
            for (name, data) in try dir.allFiles() { for s in secrets { #expect(!contains(data, s), "\(s) in \(name)") } }
            try db.forget("Z1")
            let p = try #require(try db.client("Z1", today: day("2025-02-01")))
            #expect(p.name == nil && p.email == nil && p.phone == nil && p.forgotten)
            #expect(p.visits == 1 && p.spend == Money(dollars: 400) && p.satisfaction == 2, "facts keep counting")
            #expect(try db.client("Y2")?.name == "Yusuf Keeps")
            var exported = ""
            try db.exportNDJSON(to: { exported += $0 + "\n" })
            for s in secrets { #expect(!exported.contains(s)) }
            #expect(exported.contains("Yusuf Keeps"))
            #expect(try db.verify().isOK)
            // Personal data sent after the forget is not stored either.
            try await db.append(Event(client: "Z1", at: ms("2025-03-01"), payload: .client(ClientDetails(name: secrets[0]))))
            #expect(try db.client("Z1")?.name == nil)
        }
        for (name, data) in try dir.allFiles() {
            for s in secrets { #expect(!contains(data, s), "\(s) found in \(name)") }
        }
        let reopened = try Database(path: dir.path("db"))
        #expect(try reopened.stream("Z1").allSatisfy { PersonalData(of: $0.event).isEmpty })
    }
}
