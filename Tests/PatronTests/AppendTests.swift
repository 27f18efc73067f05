import Foundation
import Testing
@testable import Patron

@Suite struct AppendTests {
    func visit(_ client: String, _ id: String? = nil, on date: String = "2025-01-01") -> Event {
        Event(id: id, client: client, at: ms(date), payload: .visit(Visit(services: ["facial"])))
    }

    @Test func positionsAreGapFreeAndIdsAssigned() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let a = try await db.append([visit("a"), visit("b")])
        let b = try await db.append([visit("a")])
        #expect(a.positions == [1, 2] && b.positions == [3])
        #expect(Set(a.ids + b.ids).count == 3)
        #expect(a.ids.allSatisfy { $0.count == 26 })
        #expect(a.ids[0] < a.ids[1] && a.ids[1] < b.ids[0], "assigned ids are time-ordered")
        #expect(a.ids.indices.map { a.id(at: $0) } == a.ids)
        #expect(try db.lastPosition == 3)
        #expect(try db.stream("a").map(\.position) == [1, 3])
    }

    /// A result keeps positions and assigned ids as runs: what it spells out is what
    /// the log holds, event by event, across duplicates (stored before, and repeated
    /// in the request) that break the runs, in a request large enough to fold aside.
    @Test func resultsSpellEachEventsPositionAndId() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let first = try await db.append([visit("a", "old-1"), visit("b"), visit("a", "old-2")])
        var events: [Event] = []
        for i in 0..<150 {
            switch i % 10 {
            case 3: events.append(visit("c", "old-\(i % 20 == 3 ? 1 : 2)"))
            case 5: events.append(visit("c", "new-\(i)"))
            case 7: events.append(visit("c", "new-\(i - 2)"))
            case 8: events.append(visit("c", first.ids[1]))
            default: events.append(visit("c\(i % 4)"))
            }
        }
        let r = try await db.append(events)
        #expect(r.count == 150 && r.duplicates == 45 && r.appended == 105)
        let positions = r.positions, ids = r.ids
        #expect(positions.count == 150 && ids.count == 150)
        #expect(positions.indices.map(r.position(at:)) == positions)
        #expect(ids.indices.map(r.id(at:)) == ids)
        #expect(Set(positions).count == 105 + 3 && positions.allSatisfy { (1...108).contains($0) })
        for i in positions.indices {
            #expect(try db.event(at: positions[i])?.event.id == ids[i], "event \(i)")
        }
        #expect(positions[3] == 1 && positions[13] == 3 && positions[8] == 2 && positions[7] == positions[5])
        #expect(ids[8] == first.ids[1] && ids[0].count == 26 && ids[0] != first.ids[1])

        // Built from arrays, as the checked path builds it.
        let built = AppendResult(positions: [5, 6, 7, 3, 8, 9, 3], given: ["x", "", "", "y", "", "z", "y"],
                                 assigned: [.none, GeneratedID(ms: 1, position: 6, random: 9),
                                            GeneratedID(ms: 1, position: 7, random: 9), .none,
                                            GeneratedID(ms: 2, position: 8, random: 4), .none, .none],
                                 appended: 4)
        #expect(built.positions == [5, 6, 7, 3, 8, 9, 3] && built.duplicates == 3)
        #expect(built.ids == ["x", GeneratedID(ms: 1, position: 6, random: 9).text, GeneratedID(ms: 1, position: 7, random: 9).text,
                              "y", GeneratedID(ms: 2, position: 8, random: 4).text, "z", "y"])
        // New positions leave the ids as they were (an assigned id is spelled from its
        // position while it is kept as bits).
        var moved = built
        moved.positions = [15, 16, 17, 13, 18, 19, 13]
        #expect(moved.ids == built.ids && moved.position(at: 1) == 16 && moved != built)
        var changed = built
        changed.positions = [1, 2]
        #expect(changed.count == 2 && changed.position(at: 1) == 2 && changed.ids == Array(built.ids.prefix(2)))
        changed.ids = ["p", "q"]
        #expect(changed.id(at: 0) == "p" && changed.ids == ["p", "q"])
    }

    /// An index outside the result traps, as an array's does, instead of making up a
    /// position or an id.
    @Test func aResultTrapsOnAnIndexOutOfRange() async {
        await #expect(processExitsWith: .failure) {
            _ = AppendResult(positions: [1, 2], given: ["a", "b"], assigned: [], appended: 2).position(at: 2)
        }
        await #expect(processExitsWith: .failure) {
            _ = AppendResult(positions: [1, 2], given: ["a", "b"], assigned: [], appended: 2).id(at: -1)
        }
    }

    /// Assigned ids are kept as bits until the result is read: the text the result
    /// gives is the one in the log, by which the event is found again, beside given
    /// ids in the same request, with and without expected versions.
    @Test func assignedIdsReadBackAsTheResultSpellsThem() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let plain = try await db.append([visit("a", "given-1"), visit("a"), visit("b"), visit("a", "given-2")])
        let checked = try await db.append([visit("a"), visit("a", "given-3")], expectedVersions: ["a": 3])
        #expect(plain.ids[0] == "given-1" && plain.ids[3] == "given-2" && checked.ids[1] == "given-3")
        #expect(plain.ids.indices.map { plain.id(at: $0) } == plain.ids)
        #expect([plain.ids[1], plain.ids[2], checked.ids[0]].allSatisfy { $0.count == 26 })
        #expect(try db.stream("a").map { $0.event.id } == [plain.ids[0], plain.ids[1], plain.ids[3], checked.ids[0], checked.ids[1]])
        #expect(try db.stream("b").map { $0.event.id } == [plain.ids[2]])
        let again = try await db.append((plain.ids + checked.ids).map { visit("c", $0) })
        #expect(again.appended == 0 && again.positions == plain.positions + checked.positions)
        #expect(again == again && again != plain)
    }

    /// An assigned id is 26 Crockford base32 digits of the marker `01` and its 128
    /// bits, most significant first, and reads back from its text.
    @Test func assignedIdsAreSpelledInCrockfordBase32() {
        let digits = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        func reference(_ id: GeneratedID) -> String {
            // Bit k of the 130-bit number (the marker 01 on top), from the least significant.
            func bit(_ k: Int) -> UInt64 { k < 64 ? (id.low >> k) & 1 : k < 128 ? (id.high >> (k - 64)) & 1 : k == 128 ? 1 : 0 }
            return String((0..<26).reversed().map { d in digits[Int((0..<5).reduce(UInt64(0)) { $0 | bit(d * 5 + $1) << $1 })] })
        }
        #expect(GeneratedID(high: 1 << 16, low: 0).text == "800000000" + "1" + String(repeating: "0", count: 16))
        var rng = SystemRandomNumberGenerator()
        for id in [GeneratedID(high: .max, low: .max), GeneratedID(high: 0, low: 0),
                   GeneratedID(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210)]
            + (0..<200).map({ _ in GeneratedID(high: rng.next(), low: rng.next()) }) {
            var text = id.text
            #expect(text == reference(id))
            #expect(text.withUTF8 { GeneratedID(text: UnsafeRawBufferPointer($0)) } == id, "\(text)")
        }
        #expect(Set((0..<32).map { GeneratedID(high: 1, low: UInt64($0)).text.last }).count == 32)
        // Only the spelling `text` writes reads back: a ULID (first digit 0-7), a first
        // digit past F, lower case, letters Crockford leaves out, another length.
        let valid = GeneratedID(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210).text
        let rest = String(valid.dropFirst()), head = String(valid.dropLast())
        let others: [String] = ["0" + rest, "7" + rest, "G" + rest, valid.lowercased(), head + "I", head + "L",
                                head + "O", head + "U", head, valid + "0", "t-" + String(rest.dropFirst())]
        for other in others {
            var o = other
            #expect(o.withUTF8 { GeneratedID(text: UnsafeRawBufferPointer($0)) } == nil, "\(other)")
        }
        // The layout: milliseconds, the position (40 bits), 40 random bits.
        let id = GeneratedID(ms: 1_767_225_600_123, position: 0xAB_CDEF_0123, random: 0x12_3456_789A)
        #expect(id.high >> 16 == 1_767_225_600_123 && id.position == 0xAB_CDEF_0123 && id.low & GeneratedID.randomMask == 0x12_3456_789A)
        #expect(id.locates(0xAB_CDEF_0123) && !id.locates(0xAB_CDEF_0124))
        let past = GeneratedID(ms: 1, position: GeneratedID.positionLimit + 5, random: 0)
        // Past the limit an id names only the low bits: the position's id goes into the index.
        #expect(past.position == 5 && !past.locates(GeneratedID.positionLimit + 5))
    }

    /// The generator keeps its random bits within a millisecond while positions go up,
    /// and draws new ones when a position comes again (a dropped transaction, an undone
    /// import): the event written there then gets another id.
    @Test func theGeneratorDrawsAgainWhenAPositionComesAgain() {
        let g = EventIDGenerator()
        let a = g.next(now: 1_000, position: 10), b = g.next(now: 1_000, position: 11)
        #expect(a.high >> 16 == 1_000 && a.low & GeneratedID.randomMask == b.low & GeneratedID.randomMask)
        let again = (0..<4).map { _ in g.next(now: 1_000, position: 11) }
        #expect(Set(([b] + again).map(\.text)).count == 5)
        #expect(again.allSatisfy { $0.high >> 16 == 1_000 && $0.position == 11 })
        #expect(g.next(now: 999, position: 12).high >> 16 == 1_000, "time never goes back")
    }

    /// A request takes the generator's bits once and makes the rest of its ids from
    /// them; the generator still counts every one as handed out, so a position of the
    /// request that comes again (an undone import) gets new random bits.
    @Test func aRequestsIdsAllCountAsHandedOut() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let r = try await db.append((0..<100).map { visit("c\($0)") })
        var text = r.ids[99]
        let last = try #require(text.withUTF8 { GeneratedID(text: UnsafeRawBufferPointer($0)) })
        #expect(last.position == 100 && r.ids.allSatisfy { $0.hasPrefix(String(r.ids[0].prefix(10))) })
        let again = db.store.idGenerator.next(now: last.ms, position: 50)
        #expect(again.ms == last.ms && again.random != last.random)
    }

    /// A transaction's assigned ids are kept as runs (``AssignedRuns``): each id is found
    /// at its position, and no other, across changes of milliseconds and given ids between.
    @Test func assignedRunsFindExactlyTheIdsRecorded() {
        var runs = AssignedRuns()
        var recorded: [GeneratedID] = []
        var rng = SeededRandom(seed: 5)
        var ms: Int64 = 1_767_225_600_000, random: UInt64 = 99
        for p in UInt64(500)..<UInt64(900) {
            if rng.next() % 10 == 0 { ms += 1; random = rng.next() & GeneratedID.randomMask }
            if rng.next() % 7 == 0 { continue }  // a given id
            let id = GeneratedID(ms: ms, position: p, random: random)
            runs.record(id, at: p)
            recorded.append(id)
        }
        #expect(recorded.allSatisfy { runs.contains($0) })
        for id in recorded.prefix(100) {
            let (ms, random) = (Int64(id.high >> 16), id.low & GeneratedID.randomMask)
            for other in [GeneratedID(ms: ms + 1, position: id.position, random: random),
                          GeneratedID(ms: ms, position: id.position, random: random ^ 1),
                          GeneratedID(ms: ms, position: id.position + 2_000, random: random),
                          GeneratedID(ms: ms, position: id.position - 500, random: random)] {
                #expect(!runs.contains(other))
            }
        }
        let positions = Set(recorded.map(\.position))
        for p in UInt64(500)..<UInt64(900) where !positions.contains(p) {
            #expect(!runs.contains(GeneratedID(ms: 1_767_225_600_000, position: p, random: 99)), "a given id's position")
        }
    }

    /// An assigned id names its position: it has no entry in the `ids` index, yet an
    /// event appended again with it is found stored (with and without expected
    /// versions, after a rebuild too). A given id spelled like an assigned one that
    /// does not name the event holding it is an ordinary id, indexed.
    @Test func assignedIdsNameTheirPositionsAndNeedNoIndexEntry() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        func indexed() throws -> Int { try db.store.env.read { try $0.count(db.store.schema.ids) } }
        let first = try await db.append([visit("a"), visit("b", "given-1"), visit("a")])
        let second = try await db.append([visit("b")], expectedVersions: ["b": 1])
        #expect(try indexed() == 1, "only the given id is indexed")
        for (result, k) in [(first, 0), (first, 2), (second, 0)] {
            let id = result.id(at: k)
            var text = id
            #expect(text.withUTF8 { GeneratedID(text: UnsafeRawBufferPointer($0))?.position } == result.positions[k])
            #expect(try db.event(at: result.positions[k])?.event.id == id)
        }
        // A lookalike: the spelling of an assigned id that names position 1, which holds
        // another id; and one naming a position past the log.
        let other = GeneratedID(ms: 1_700_000_000_000, position: 1, random: 7).text
        let ahead = GeneratedID(ms: 1_700_000_000_000, position: 1_000, random: 7).text
        let lookalikes = try await db.append([visit("c", other), visit("c", ahead)])
        #expect(lookalikes.appended == 2 && lookalikes.positions == [5, 6])
        #expect(try indexed() == 3)
        for round in 0..<2 {
            let assigned = [first.id(at: 0), first.id(at: 2), second.id(at: 0)]
            let plain = try await db.append((assigned + ["given-1", other, ahead]).map { visit("z", $0) })
            #expect(plain.appended == 0 && plain.positions == [1, 3, 4, 2, 5, 6], "round \(round)")
            let checked = try await db.append((assigned + [other]).map { visit("z", $0) }, expectedVersions: ["z": 0])
            #expect(checked.appended == 0 && checked.positions == [1, 3, 4, 5], "round \(round)")
            #expect(try db.verify().isOK)
            // Rebuilt, the index again holds only the ids that do not name their event.
            if round == 0 { try db.rebuild() }
            #expect(try indexed() == 3)
        }
        #expect(try db.lastPosition == 6)
    }

    /// A large batch is validated in parts on every core (``Database/validate(_:)``):
    /// the error is still the first invalid event's, wherever the others are, and
    /// nothing of the batch is stored.
    @Test func aLargeBatchFailsOnItsFirstInvalidEvent() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"), options: .init(durable: false))
        let part = Database.validationPart
        for (first, later) in [(part + 3, 3 * part), (10, part * 2 + 1), (5 * part - 1, 5 * part)] {
            var events = (0..<(6 * part)).map { visit("c\($0 % 50)") }
            events[later] = Event(client: "c1", at: 0, payload: .feedback(Feedback(score: 7)))
            events[first] = Event(client: "", at: 0, payload: .visit(Visit()))
            for _ in 0..<3 {
                await #expect(throws: EventValidationError(field: "client", value: nil, problem: "is missing")) {
                    try await db.append(events)
                }
            }
        }
        #expect(try db.lastPosition == 0)
        var valid = (0..<(3 * part)).map { visit("c\($0 % 50)") }
        valid[part] = Event(client: "c1", at: 0, payload: .feedback(Feedback(score: 7)))
        await #expect(throws: EventValidationError.self) { try await db.append(valid) }
        valid[part] = visit("c1")
        #expect(try await db.append(valid).appended == 3 * part)
    }

    @Test func reAppendingAnIdIsANoOp() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let first = try await db.append([visit("a", "v1"), visit("a", "v2")])
        let again = try await db.append([visit("a", "v1"), visit("a", "v2"), visit("a", "v3")])
        #expect(again.positions == [first.positions[0], first.positions[1], 3])
        #expect(again.appended == 1 && again.duplicates == 2)
        let inBatch = try await db.append([visit("b", "w"), visit("b", "w")])
        #expect(inBatch.appended == 1 && inBatch.positions == [4, 4])
        #expect(try db.streamVersion("a") == 3)
        #expect(try db.client("a", today: day("2025-02-01"))?.visits == 3)
    }

    /// Generated ids go at the id index's right edge, or in their place when a given id
    /// sorts after them; either way each is found again (re-appending is a no-op).
    @Test func generatedIdsAreIndexedWhereverGivenIdsSort() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        _ = try await db.append([visit("a", "0-sorts-first")])
        let before = try await db.append((0..<100).map { visit("c\($0 % 7)") })
        _ = try await db.append([visit("a", "zzz-sorts-last")])
        let after = try await db.append((0..<100).map { visit("c\($0 % 7)") })
        let ids = before.ids + after.ids
        #expect(Set(ids).count == 200 && ids.allSatisfy { $0 < "zzz-sorts-last" && $0 > "0-sorts-first" })
        let again = try await db.append(ids.map { visit("c0", $0) })
        #expect(again.appended == 0 && again.positions == before.positions + after.positions)
        #expect(try db.verify().isOK)
        #expect(try db.client("c3", today: day("2025-02-01"))?.visits == 28)
    }

    /// Ids past every stored one are put in key order after their request
    /// (``DeferredIDs``), the others as they come: ids that tie and come out of order,
    /// repeats within a request, ids stored by earlier requests, new ids sorting before
    /// stored ones, and generated ids between them, sorting before or after them. Each
    /// is stored once and found again, as a plain model says.
    @Test func givenIDsInAnyOrderAreStoredOnceAndFoundAgain() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"), options: .init(durable: false))
        var rng = SeededRandom(seed: 5)
        func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        func padded(_ n: Int, _ width: Int) -> String { String(repeating: "0", count: max(0, width - String(n).count)) + String(n) }
        // Ids of a round sort after those of earlier rounds; those of the first three
        // sort before generated ids ("01…"), the later ones after them.
        func given(round: Int) -> String { (round < 3 ? "0" : "9") + padded(round, 3) + "-" + padded(pick(1_000), 3) }
        var stored: [String: UInt64] = [:]
        var next: UInt64 = 1
        // First, into the empty table: ids out of order, one repeated, and a generated
        // id that sorts after the ones before it (which no longer go at the edge).
        let first = ["0000-500", "0000-100", "0000-300", nil, "0000-200", "0000-100", "0000-900"].map { visit("c1", $0) }
        for round in -1..<40 {
            var events: [Event] = round < 0 ? first : []
            for _ in 0..<(round < 0 ? 0 : 50 + pick(150)) {
                let id: String?
                switch pick(20) {
                case 0: id = nil
                case 1, 2: id = stored.isEmpty ? nil : stored.keys.sorted()[pick(stored.count)]
                case 3, 4: id = events.isEmpty ? nil : events[pick(events.count)].id
                case 5, 6: id = given(round: pick(round + 1))
                default: id = given(round: round)
                }
                events.append(visit("c\(pick(9))", id))
            }
            let result = try await db.append(events)
            var expected: [UInt64] = []
            var added: [String: UInt64] = [:]
            for e in events {
                if let id = e.id, let p = stored[id] ?? added[id] {
                    expected.append(p)
                    continue
                }
                if let id = e.id { added[id] = next }
                expected.append(next)
                next += 1
            }
            stored.merge(added) { a, _ in a }
            #expect(result.positions == expected, "round \(round)")
            if result.positions != expected { break }
        }
        let ids = stored.keys.sorted()
        let again = try await db.append(ids.reversed().map { visit("c0", $0) })
        #expect(again.appended == 0 && again.positions == ids.reversed().map { stored[$0] })
        #expect(try db.lastPosition == next - 1)
        #expect(try db.verify().isOK)
    }

    /// What the several-requests test expects, carried from one transaction to the next.
    final class IDModel: @unchecked Sendable {
        var stored: [String: UInt64] = [:]
        var next: UInt64 = 1
        var versions: [String: UInt32] = [:]
        var rng = SeededRandom(seed: 17)
        var problems: [String] = []
        var requests = 0, failedVersion = 0, outOfReachish = 0, seq = 0
        func copy() -> IDModel {
            let m = IDModel()
            m.stored = stored; m.next = next; m.versions = versions; m.rng = rng
            m.problems = problems; m.requests = requests; m.failedVersion = failedVersion; m.seq = seq
            return m
        }
        func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
    }

    static func sameDayVisit(_ c: String, _ id: String?) -> Event {
        Event(id: id, client: c, at: 1_735_689_600_000, payload: .visit(Visit(services: ["facial"])))
    }

    /// Several requests per transaction (as a group commit runs them), in order and with
    /// expected versions (right and wrong), with ids below and past the edge, in order and
    /// not, repeats within and across requests, generated ids, and stored ids: positions
    /// as a model says, every id found again, one id per position. (Written by a review.)
    @Test func severalRequestsPerTransactionKeepOnePositionPerID() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"), options: .init(durable: false))
        var committed = IDModel()
        for round in 0..<60 {
            let start = committed
            let result: IDModel = try db.writer.session { session in
                try session.transaction { ctx -> IDModel in
                    let m = start.copy()
                    var txnIDs: [String] = []
                    for r in 0..<(1 + m.pick(5)) {
                        m.requests += 1
                        let withVersions = m.pick(10) < 3
                        let n = m.pick(4) == 0 ? 64 + m.pick(400) : 1 + m.pick(40)
                        var events: [Event] = []
                        var asc = 0
                        for _ in 0..<n {
                            let id: String?
                            switch m.pick(20) {
                            case 0, 1: id = nil
                            case 2, 3: id = m.stored.isEmpty ? nil : Array(m.stored.keys)[m.pick(m.stored.count)]
                            case 4, 5: id = events.isEmpty ? nil : events[m.pick(events.count)].id
                            case 6: id = txnIDs.isEmpty ? nil : txnIDs[m.pick(txnIDs.count)]
                            case 7: id = "00-\(m.pick(100_000))"            // before generated ids
                            case 8: id = "m-\(m.pick(100_000))"             // after generated ids
                            case 9, 10: id = String(format: "zz-%03d-%d-a%06d", round, r, m.pick(m.seq + 50))  // past the edge, no order
                            default:
                                asc += 1
                                m.seq += 1
                                id = String(format: "zz-%03d-%d-a%06d", round, r, m.seq)  // past the edge, in order
                            }
                            events.append(Self.sameDayVisit("c\(m.pick(5))", id))
                        }
                        var expectedVersions: [String: UInt32] = [:]
                        var wrong = false
                        if withVersions {
                            let c = "c\(m.pick(5))"
                            wrong = m.pick(4) == 0
                            expectedVersions[c] = (m.versions[c] ?? 0) + (wrong ? 7 : 0)
                        }
                        // The model.
                        var expected: [UInt64] = []
                        var added: [String: UInt64] = [:]
                        var next = m.next
                        var versions = m.versions
                        var fresh = 0
                        for e in events {
                            if let id = e.id, let p = m.stored[id] ?? added[id] { expected.append(p); continue }
                            if let id = e.id { added[id] = next }
                            expected.append(next)
                            next += 1
                            fresh += 1
                            versions[e.client, default: 0] += 1
                        }
                        let shouldFail = wrong && fresh > 0
                        do {
                            let res = try ctx.apply(AppendRequest(events: events, expectedVersions: expectedVersions))
                            if shouldFail { m.problems.append("round \(round) req \(r): should have failed") }
                            if res.positions != expected {
                                let k = zip(res.positions, expected).enumerated().first { $0.element.0 != $0.element.1 }
                                m.problems.append("round \(round) req \(r) (versions: \(withVersions)): positions differ at \(String(describing: k)), event id \(String(describing: k.map { events[$0.offset].id }))")
                            }
                            m.next = next
                            m.versions = versions
                            for (id, p) in added { m.stored[id] = p }
                            let ids = res.ids  // spelled once (each read spells every assigned id)
                            for (i, e) in events.enumerated() where e.id == nil {
                                m.stored[ids[i]] = res.positions[i]
                            }
                            txnIDs.append(contentsOf: res.ids)
                        } catch let e as PatronError {
                            if !shouldFail { m.problems.append("round \(round) req \(r): failed \(e)") } else { m.failedVersion += 1 }
                        }
                    }
                    return m
                }
            }
            committed = result
            if !committed.problems.isEmpty { break }
        }
        #expect(committed.problems.isEmpty, "\(committed.problems.prefix(5))")
        // Every id found again.
        let ids = committed.stored.keys.sorted()
        let again = try db.appendAndWait(ids.reversed().map { Self.sameDayVisit("c0", $0) })
        #expect(again.appended == 0)
        #expect(again.positions == ids.reversed().map { committed.stored[$0]! })
        #expect(try db.lastPosition == committed.next - 1)
        // Assigned ids name their positions and have no entry in the index.
        let count = try db.store.env.read { try $0.count(db.store.schema.ids) }
        let assigned = committed.stored.filter { Schema.locatesItself($0.key, at: $0.value) }.count
        #expect(assigned > 0 && count == Int(committed.next - 1) - assigned)
        let report = try db.verify()
        #expect(report.isOK, "\(report.problems)")
    }

    @Test func expectedVersionConflictNamesExpectedAndActual() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        try await db.append(visit("a"), expectedVersion: 0)
        try await db.append(visit("a"), expectedVersion: 1)
        do {
            try await db.append(visit("a"), expectedVersion: 1)
            Issue.record("a stale expected version was accepted")
        } catch let e as PatronError {
            #expect(e == .wrongExpectedVersion(client: "a", expected: 1, actual: 2))
            #expect(e.description == "wrong expected version for client \"a\": expected 1, actual 2")
        }
        #expect(try db.streamVersion("a") == 2)
        // A retried batch that is all duplicates succeeds whatever the version.
        let r = try await db.append([visit("a", "x")], expectedVersions: ["a": 2])
        let retry = try await db.append([visit("a", "x")], expectedVersions: ["a": 2])
        #expect(retry.positions == r.positions && retry.appended == 0)
    }

    @Test func groupCommitUnderManyConcurrentTasksLosesAndDuplicatesNothing() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let tasks = 32, perTask = 40
        try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for t in 0..<tasks {
                group.addTask {
                    var positions: [UInt64] = []
                    for i in 0..<perTask {
                        let r = try await db.append(Event(id: "t\(t)-\(i)", client: "c\(t % 7)", at: ms("2025-01-01") + Int64(i),
                                                          payload: .purchase(Purchase(amount: Money(cents: 100)))))
                        positions += r.positions
                    }
                    return positions
                }
            }
            var all: [UInt64] = []
            for try await p in group { all += p }
            #expect(all.count == tasks * perTask)
            #expect(Set(all).count == tasks * perTask)
            #expect(all.sorted() == Array(1...UInt64(tasks * perTask)))
        }
        let events = try db.events()
        #expect(events.count == tasks * perTask)
        #expect(Set(events.compactMap(\.event.id)).count == tasks * perTask)
        var spend: Int64 = 0
        for c in 0..<7 { spend += try db.client("c\(c)", today: day("2025-02-01"))?.spend.cents ?? 0 }
        #expect(spend == Int64(tasks * perTask * 100))
        #expect(try db.verify().isOK)
    }

    /// Large requests (each folded on the second thread) from many tasks, mixed with
    /// small ones and with conflicting expected versions that fail alone, share commits:
    /// every request's events count once, under the right clients.
    @Test func largeRequestsInGroupCommitsFoldEverythingOnce() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let tasks = 8, rounds = 3, large = 100
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<tasks {
                group.addTask {
                    for r in 0..<rounds {
                        let batch = (0..<large).map { i in
                            Event(client: "c\((t + i) % 11)", at: ms("2025-01-01") + Int64(r * large + i) * 60_000,
                                  payload: .visit(Visit(provider: "p\(i % 3)", services: ["s\(t)"])))
                        }
                        _ = try await db.append(batch)
                        _ = try await db.append([Event(client: "small-\(t)", at: ms("2025-01-02"), payload: .reward(Reward(points: 1)))])
                        // Conflicts with the stream's real version: fails alone.
                        _ = try? await db.append([Event(client: "c0", at: ms("2025-01-03"), payload: .visit(Visit()))],
                                                 expectedVersions: ["c0": 0])
                    }
                }
            }
            try await group.waitForAll()
        }
        let total = tasks * rounds * large
        var visits = 0
        for c in 0..<11 { visits += Int(try db.client("c\(c)", today: day("2025-02-01"))?.visits ?? 0) }
        #expect(visits == total)
        #expect(try db.lastPosition == UInt64(total + tasks * rounds))
        #expect(try db.client("c3", today: day("2025-02-01"))?.services.count == tasks)
        #expect(try db.verify().isOK)
    }

    @Test func aConflictFailsOnlyItsOwnRequestInAGroupCommit() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let results = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<20 {
                group.addTask {
                    // Every task claims version 0 of the same stream: exactly one wins.
                    (try? await db.append([Event(id: "e\(i)", client: "hot", at: ms("2025-01-01"), payload: .visit(Visit()))],
                                          expectedVersions: ["hot": 0])) != nil
                }
            }
            var wins = 0
            for await ok in group where ok { wins += 1 }
            return wins
        }
        #expect(results == 1)
        #expect(try db.streamVersion("hot") == 1)
    }

    @Test func invalidEventsAreRejectedBeforeAnythingIsStored() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        await #expect(throws: EventValidationError.self) {
            try await db.append([self.visit("a"), Event(client: "a", at: 0, payload: .feedback(Feedback(score: 9)))])
        }
        #expect(try db.lastPosition == 0)
    }

    @Test func subscriptionCatchesUpThenFollows() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        try await db.append([visit("a"), visit("b"), visit("c")])
        let stream = db.subscribe(from: 2)
        let reader = Task {
            var seen: [UInt64] = []
            for try await e in stream {
                seen.append(e.position)
                if seen.count == 4 { break }
            }
            return seen
        }
        try await Task.sleep(for: .milliseconds(50))
        try await db.append([visit("d"), visit("e")])
        #expect(try await reader.value == [2, 3, 4, 5])
    }

    /// A fold on the second thread that fails (here: a stored state that does not
    /// decode) fails its transaction: the log and the indexes keep nothing of it.
    @Test func aFoldThatFailsOnTheSecondThreadStoresNothing() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        _ = try await db.append((0..<10).map { visit("c\($0)") })
        let n = try #require(try db.store.env.read { txn in try db.store.clientNumber("c3", txn: txn) })
        try db.store.env.write { txn in try txn.put(db.store.schema.details, key: n, value: [0xFF, 0xFF, 0xFF]) }
        // A request this large folds on the second thread (``AppendContext/deferFoldsFrom``).
        let large = (0..<(2 * AppendContext.deferFoldsFrom)).map { visit("c\($0 % 10)", "large-\($0)", on: "2025-02-01") }
        await #expect(throws: (any Error).self) { try await db.append(large) }
        #expect(try db.lastPosition == 10)
        let indexed = try db.store.env.read { txn in try txn.get(db.store.schema.ids, key: "large-0") != nil }
        #expect(!indexed, "no id of the failed request is indexed")
        // Rebuilt, the state decodes again and the same request goes in whole.
        _ = try db.rebuild()
        let r = try await db.append(large)
        #expect(r.appended == large.count)
        #expect(try db.lastPosition == UInt64(10 + large.count))
        #expect(try db.verify().isOK)
    }

    /// A large request's log records are encoded on the fold thread, or by the writer
    /// for chunks begun while the fold is behind (``FoldPipeline/Records``; here forced
    /// each way, in turns, and left to the backlog): every type it may hold, given and
    /// assigned ids, personal fields, read back as requests too small to fold aside
    /// write them, with no personal value in plain text in the log.
    @Test(arguments: [[true], [false], [true, false, false], nil] as [[Bool]?])
    func recordsEncodedBesideTheWriterReadBackWhole(writerEncodes: [Bool]?) async throws {
        let dir = TempDir()
        let kinds = everyType.filter { $0.type != .merge && $0.type != .forget }
        var events: [Event] = []
        for c in 0..<160 {
            for (k, e) in kinds.enumerated() {
                var copy = e
                copy.client = "client-\(c)"
                copy.id = (c + k) % 2 == 0 ? "id-\(c)-\(k)" : nil
                events.append(copy)
            }
        }
        #expect(events.count > 2 * FoldPipeline.chunkSize)
        let aside = try Database(path: dir.path("aside"))
        aside.store.writerEncodesChunks.withLock { $0 = writerEncodes }
        let one = try Database(path: dir.path("one"))
        let a = try await aside.append(events)
        var singles: [AppendResult] = []
        // Each under the fold-aside threshold: folded and encoded by the writer.
        for start in stride(from: 0, to: events.count, by: 50) {
            let r = try await one.append(Array(events[start..<min(start + 50, events.count)]))
            let ids = r.ids
            singles += r.positions.indices.map { AppendResult(positions: [r.positions[$0]], given: [ids[$0]], assigned: [], appended: 1) }
        }
        for (db, ids, positions) in [(aside, a.ids, a.positions), (one, singles.map { $0.ids[0] }, singles.map { $0.positions[0] })] {
            var recorded: Set<Int64> = []
            for (i, e) in events.enumerated() {
                var expected = e
                expected.id = ids[i]
                let stored = try db.event(at: positions[i])
                #expect(stored?.event == expected)
                recorded.insert(stored?.recorded ?? 0)
            }
            if db === aside { #expect(recorded.count == 1, "one transaction, one recorded time") }
            #expect(try db.verify().isOK)
            let plain = try db.store.env.read { txn in
                try txn.withCursor(db.store.schema.log) { c in
                    var found = 0
                    var entry = try c.first()
                    while let (_, v) = entry {
                        for secret in ["ava@example.com", "+1 555 0101", "Ava Lind", "prefers mornings", "a bit rushed"] {
                            let bytes = Array(secret.utf8)
                            if v.count >= bytes.count, (0...(v.count - bytes.count)).contains(where: { o in
                                bytes.indices.allSatisfy { v[o + $0] == bytes[$0] }
                            }) { found += 1 }
                        }
                        entry = try c.next()
                    }
                    return found
                }
            }
            #expect(plain == 0, "no personal value in plain text in the log")
        }
        // The strings first seen in the large request got their ids on the fold thread:
        // stored, and the projections name them as the single appends' do.
        for c in [0, 7, 19] {
            let key = "client-\(c)"
            let fields = try #require(try aside.client(key, today: day("2025-03-01"))?.fieldMap)
            #expect(fields == (try one.client(key, today: day("2025-03-01"))?.fieldMap))
            #expect(fields["provider"] == "Dr. Kim" && fields["tier"] == "gold")
        }
        let reopened = try Database(path: dir.path("aside"), readOnly: true)
        #expect(try reopened.client("client-3", today: day("2025-03-01"))?.fieldMap["location"] == "Midtown")
    }

    /// Running out of map in a put of the fold thread's records, while the fold still
    /// runs (a tiny map, records of 1.5 KB): each time the fold is ended before the
    /// transaction is dropped and the map grown, and the appends go in whole.
    @Test func mapFullInAPipelinedLogPutEndsTheFold() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"), options: .init(initialMapSize: 256 << 10, durable: false))
        let pad = String(repeating: "x", count: 1500)
        for round in 0..<6 {
            _ = try await db.append((0..<3000).map { i in
                Event(client: "c\(i % 8)", at: 1_700_000_000_000,
                      payload: .reward(Reward(points: 1, kind: "earned", reason: "\(round)-\(i)-" + pad)))
            })
            #expect(db.store.foldsRunning.withLock { $0 } == 0, "no fold left running after round \(round)")
        }
        #expect(try db.lastPosition == 18_000)
        #expect(try db.verify().isOK)
    }

    /// Strings handed between the writer and the fold within one transaction: a large
    /// request (the fold gives ids), a small one (the writer gives ids, reusing the
    /// fold's), a large one again, one with expected versions, then a later
    /// transaction; each string has one id, both tables agree, and every client's
    /// location reads back after reopening. (From a review, as are the test above and
    /// the fix it shows.)
    @Test(arguments: [[true], [false], nil] as [[Bool]?])
    func stringsCrossThePipelineBoundaryWithOneIdEach(writerEncodes: [Bool]?) throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"), options: .init(durable: false))
        db.store.writerEncodesChunks.withLock { $0 = writerEncodes }
        @Sendable func visits(_ clients: Range<Int>, loc: (Int) -> Int) -> [Event] {
            clients.map { c in
                Event(client: "k\(c)", at: ms("2025-01-02"),
                      payload: .visit(Visit(location: "L\(loc(c))", provider: "P\(loc(c) % 7)", services: ["s\(c % 50)"])))
            }
        }
        try db.writer.session { session in
            try session.transaction { ctx in
                _ = try ctx.apply(AppendRequest(events: visits(0..<1200, loc: { $0 % 100 }), expectedVersions: [:]))
                _ = try ctx.apply(AppendRequest(events: visits(1200..<1250, loc: { $0 % 150 }), expectedVersions: [:]))
                _ = try ctx.apply(AppendRequest(events: visits(1250..<2400, loc: { $0 % 200 }), expectedVersions: [:]))
                _ = try ctx.apply(AppendRequest(events: visits(2400..<2410, loc: { 300 + $0 % 5 }),
                                                expectedVersions: ["k2400": 0]))
            }
        }
        _ = try db.writer.session { session in
            try session.transaction { ctx in
                try ctx.apply(AppendRequest(events: visits(2410..<3000, loc: { $0 % 260 }), expectedVersions: [:]))
            }
        }
        var expected: [Int: Int] = [:]
        for c in 0..<1200 { expected[c] = c % 100 }
        for c in 1200..<1250 { expected[c] = c % 150 }
        for c in 1250..<2400 { expected[c] = c % 200 }
        for c in 2400..<2410 { expected[c] = 300 + c % 5 }
        for c in 2410..<3000 { expected[c] = c % 260 }
        #expect(try db.verify().isOK)
        let (pairs, values) = try db.store.env.read { txn in
            var pairs: [String: UInt32] = [:], values: [UInt32: String] = [:]
            try txn.withCursor(db.store.schema.strings) { c in
                var e = try c.first()
                while let (k, v) = e { pairs[String(decoding: k, as: UTF8.self)] = v.load(at: 0); e = try c.next() }
            }
            try txn.withCursor(db.store.schema.stringValues) { c in
                var e = try c.first()
                while let (k, v) = e { values[k.load(at: 0)] = String(decoding: v, as: UTF8.self); e = try c.next() }
            }
            return (pairs, values)
        }
        #expect(pairs.count == values.count)
        for (s, id) in pairs { #expect(values[id] == s) }
        let reopened = try Database(path: dir.path("db"), readOnly: true)
        for (c, l) in expected where c % 37 == 0 || c >= 2400 {
            #expect(try reopened.client("k\(c)", today: day("2025-03-01"))?.fieldMap["location"] == "L\(l)")
        }
    }

    /// A commit of many changed states encodes them from both ends, on two threads
    /// (``StatesEncodedAside``, from ``AppendContext/encodeAsideFrom``): just under,
    /// at and just over the threshold, and many runs of 256, every state comes out
    /// as a rebuild makes it.
    @Test(arguments: [AppendContext.encodeAsideFrom - 1, AppendContext.encodeAsideFrom,
                      AppendContext.encodeAsideFrom + 1, 20_000])
    func manyChangedStatesAreWrittenWhole(clients: Int) async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let first = (0..<clients).map { visit("c\($0)", on: "2025-01-0\(1 + $0 % 7)") }
        _ = try await db.append(first)
        // Again, on states carried from the first commit, with a purchase for some.
        let second = (0..<clients).map { i in
            i % 3 == 0
                ? Event(client: "c\(i)", at: ms("2025-02-01"), payload: .purchase(Purchase(amount: Money(cents: Int64(100 + i)))))
                : visit("c\(i)", on: "2025-02-02")
        }
        _ = try await db.append(second)
        let keys = [0, 1, clients / 2, clients - 2, clients - 1].map { "c\($0)" }
        let before = try keys.map { try db.client($0, today: day("2025-03-01"))?.fieldMap }
        #expect(try db.client("c0", today: day("2025-03-01"))?.visits == 1)
        #expect(try db.client("c1", today: day("2025-03-01"))?.visits == 2)
        let report = try db.verify()
        #expect(report.isOK, "\(report.problems)")
        _ = try db.rebuild()
        #expect(try keys.map { try db.client($0, today: day("2025-03-01"))?.fieldMap } == before)
    }

    /// A state write that fails while the other end of the states is encoded on a fold
    /// thread fails the transaction whole; the next commit writes every state.
    @Test func aStateWriteThatFailsMidCommitStoresNothing() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let clients = 20_000
        _ = try await db.append((0..<clients).map { visit("c\($0)") })
        db.store.failStateWrite.withLock { $0 = 300 }
        let second = (0..<clients).map { visit("c\($0)", on: "2025-02-01") }
        await #expect(throws: PatronError.self) { try await db.append(second) }
        #expect(db.store.failStateWrite.withLock { $0 } == nil, "the injected failure happened")
        #expect(try db.lastPosition == UInt64(clients))
        #expect(try db.client("c0", today: day("2025-03-01"))?.visits == 1)
        let r = try await db.append(second)
        #expect(r.appended == clients)
        #expect(try db.client("c\(clients - 1)", today: day("2025-03-01"))?.visits == 2)
        let report = try db.verify()
        #expect(report.isOK, "\(report.problems)")
    }
}
