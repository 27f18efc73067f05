import Foundation
import Testing
@testable import Patron

/// One event of every type, with every field set.
let everyType: [Event] = [
    Event(id: "e1", client: "C1", at: ms("2025-01-02T09:00:00Z"),
          payload: .client(ClientDetails(name: "Ava Lind", email: "ava@example.com", phone: "+1 555 0101", location: "Midtown",
                                         source: "instagram", acquisitionCost: Money(cents: 4000))),
          extra: #"{"vip":true,"notes":"prefers mornings"}"#),
    Event(id: "e2", client: "C1", at: ms("2025-01-02T10:00:00Z"),
          payload: .visit(Visit(location: "Midtown", provider: "Dr. Kim", services: ["botox", "consultation"]))),
    Event(id: "e3", client: "C1", at: ms("2025-01-02T10:30:00Z"),
          payload: .purchase(Purchase(amount: Money(cents: 53_200), items: [
              PurchaseItem(name: "Botox 20u", category: "injectable", quantity: 1, amount: Money(cents: 45_000)),
              PurchaseItem(name: "SPF", category: "skincare", quantity: 2, amount: Money(cents: 8_200)),
          ], location: "Midtown", provider: "Dr. Kim", channel: "clinic"))),
    Event(id: "e4", client: "C1", at: ms("2025-01-05"), payload: .refund(Refund(amount: Money(cents: 4_100), purchase: "e3"))),
    Event(id: "e5", client: "C1", at: ms("2025-01-05"), payload: .reward(Reward(points: -200, kind: "redeemed", reason: "gift"))),
    Event(id: "e6", client: "C1", at: ms("2025-01-06"), payload: .tier(TierChange(tier: "gold"))),
    Event(id: "e7", client: "C1", at: ms("2025-01-06"), payload: .membership(Membership(plan: "glow", action: .start, fee: Money(cents: 7_900)))),
    Event(id: "e8", client: "C1", at: ms("2025-01-07"), payload: .feedback(Feedback(score: 4, comment: "Great, a bit rushed", visit: "e2"))),
    Event(id: "e9", client: "C2", at: ms("2025-01-08"), payload: .merge(Merge(into: "C1"))),
    Event(id: "e10", client: "C3", at: ms("2025-01-09"), payload: .forget),
]

@Suite struct EventTests {
    @Test func everyTypeRoundTripsThroughTheBinaryCodec() throws {
        for event in everyType {
            var stripped = event
            PersonalData.strip(&stripped)
            let bytes = EventCodec.encode(stripped, clientNumber: 42, recorded: 1234, sealed: [1, 2, 3])
            let decoded = try bytes.withUnsafeBytes { try EventCodec.decode($0, position: 7, verifyChecksum: true) }
            #expect(decoded.event == stripped)
            #expect(decoded.clientNumber == 42)
            #expect(decoded.recorded == 1234)
            #expect(decoded.sealed == [1, 2, 3])
        }
    }

    /// An assigned id is stored as its bits (7 bytes when its milliseconds are the
    /// record's, 13 when not) and reads back as its text, at the record's position; a
    /// text id (a given one, or an assigned one as the first format-4 builds stored it)
    /// reads back as it is.
    @Test func assignedIdsAreStoredAsTheirBits() throws {
        let event = Event(client: "C-1", at: 1_700_000_000_000, payload: .visit(Visit(services: ["facial"])))
        let position: UInt64 = 0x12_3456_789A
        for (ms, extra) in [(Int64(1_767_225_600_123), 7), (Int64(1_767_225_599_000), 13)] {
            let id = GeneratedID(ms: ms, position: position, random: 0xAB_CDEF_0123)
            var w = ByteWriter()
            EventCodec.encode(event, assigned: id, clientNumber: 3, recorded: 1_767_225_600_123, sealed: [], into: &w)
            var plain = ByteWriter()
            EventCodec.encode(event, clientNumber: 3, recorded: 1_767_225_600_123, sealed: [], into: &plain)
            #expect(w.bytes.count == plain.bytes.count - 1 + extra, "slot of \(extra) bytes for the id")
            try w.bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> Void in
                let d = try EventCodec.decode(raw, position: position, verifyChecksum: true)
                #expect(d.event.id == id.text && d.event.client == "C-1" && d.event.payload == event.payload)
                #expect(try EventView(position: position, bytes: raw).event().id == id.text)
                var text = id.text, other = GeneratedID(ms: ms, position: position + 1, random: 0xAB_CDEF_0123).text
                #expect(text.withUTF8 { EventCodec.storedID(raw)?.matches(UnsafeRawBufferPointer($0), position: position) } == true)
                #expect(other.withUTF8 { EventCodec.storedID(raw)?.matches(UnsafeRawBufferPointer($0), position: position) } == false)
            }
        }
        let given = Event(id: "8ZZZZZZZZZZZZZZZZZZZZZZZZZ", client: "C-1", at: 0, payload: .visit(Visit()))
        let bytes = EventCodec.encode(given, clientNumber: 3, recorded: 5, sealed: [])
        try bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> Void in
            #expect(try EventCodec.decode(raw, position: 9, verifyChecksum: true).event.id == given.id)
            var text = "8ZZZZZZZZZZZZZZZZZZZZZZZZZ"
            #expect(text.withUTF8 { EventCodec.storedID(raw)?.matches(UnsafeRawBufferPointer($0), position: 9) } == true)
        }
    }

    @Test func personalDataSealsAndOpens() throws {
        let key = (0..<32).map { UInt8($0 * 7 % 256) }
        for event in everyType {
            let p = PersonalData(of: event)
            let sealed = p.sealed(key: key, position: 99)
            #expect(PersonalData.open(sealed, key: key, position: 99) == p)
            if let name = p.name { #expect(!contains(Data(sealed), name)) }
        }
    }

    @Test func everyTypeRoundTripsThroughJSON() throws {
        for event in everyType {
            let line = event.jsonLine(zone: .utc)
            let parsed = try #require(JSONValue.parse(line))
            #expect(try Event(json: parsed, zone: .utc) == event, "\(line)")
        }
    }

    @Test func everyTypeRoundTripsThroughTheDatabase() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let result = try await db.append(everyType)
        #expect(result.positions == Array(1...UInt64(everyType.count)))
        let stored = try db.events()
        #expect(stored.map(\.event) == everyType)
        for (i, e) in everyType.enumerated() { #expect(try db.event(at: UInt64(i + 1))?.event == e) }
    }

    @Test func purchaseAmountDefaultsToTheItemsSum() throws {
        let line = #"{"type":"purchase","client":"c","at":"2025-01-01","items":[{"name":"a","amount":"$10.50"},{"name":"b","quantity":2,"amount":4}]}"#
        let e = try Event(json: try #require(JSONValue.parse(line)), zone: .utc)
        guard case .purchase(let p) = e.payload else { Issue.record("not a purchase"); return }
        #expect(p.amount == Money(cents: 1450))
        #expect(p.items[1].quantity == 2)
        #expect(p.items[0].quantity == 1)
    }

    @Test func unknownFieldsAreKept() throws {
        let line = #"{"type":"visit","client":"c","at":"2025-01-01","room":7,"nurse":{"name":"Jo"}}"#
        let e = try Event(json: try #require(JSONValue.parse(line)), zone: .utc)
        #expect(e.extra == #"{"room":7,"nurse":{"name":"Jo"}}"#)
        #expect(e.jsonLine(zone: .utc).contains(#""room":7"#))
    }

    /// Every rule of SPEC 1.3: the message names the field and the offending value (as written).
    @Test(arguments: [
        (#"{"type":"vist","client":"c","at":"2025-01-01"}"#, "type", "vist"),
        (#"{"client":"c","at":"2025-01-01"}"#, "type", "missing"),
        (#"{"type":"visit","at":"2025-01-01"}"#, "client", "missing"),
        (#"{"type":"visit","client":"c"}"#, "at", "missing"),
        (#"{"type":"visit","client":"c","at":"2025-02-30"}"#, "at", "2025-02-30"),
        (#"{"type":"visit","client":"c","at":"yesterday"}"#, "at", "yesterday"),
        (#"{"type":"purchase","client":"c","at":"2025-01-01","amount":-5}"#, "amount", "\"-5\""),
        (#"{"type":"refund","client":"c","at":"2025-01-01","amount":"-$5"}"#, "amount", "\"-$5\""),
        (#"{"type":"feedback","client":"c","at":"2025-01-01","score":7}"#, "score", "7"),
        (#"{"type":"feedback","client":"c","at":"2025-01-01","score":0}"#, "score", "0"),
        (#"{"type":"feedback","client":"c","at":"2025-01-01","score":4.5}"#, "score", "4.5"),
        (#"{"type":"purchase","client":"c","at":"2025-01-01","amount":"12.345"}"#, "amount", "12.345"),
        (#"{"type":"purchase","client":"c","at":"2025-01-01","amount":"$12,34"}"#, "amount", "$12,34"),
        (#"{"type":"client","client":"c","at":"2025-01-01","acquisition_cost":"lots"}"#, "acquisition_cost", "lots"),
        (#"{"type":"membership","client":"c","at":"2025-01-01","action":"pause"}"#, "action", "pause"),
        (#"{"type":"reward","client":"c","at":"2025-01-01","points":5,"kind":"bonus"}"#, "kind", "bonus"),
        (#"{"type":"merge","client":"c","at":"2025-01-01","into":"c"}"#, "into", "c"),
    ])
    func validationRejects(_ line: String, _ field: String, _ value: String) throws {
        let json = try #require(JSONValue.parse(line))
        do {
            _ = try Event(json: json, zone: .utc)
            Issue.record("accepted \(line)")
        } catch {
            #expect(error.field == field)
            #expect(error.description.hasPrefix(field))
            #expect(error.description.contains(value), "\(error.description) should name \(value)")
        }
    }

    @Test func stringsOverTheirLimitsAreRejected() throws {
        let long = String(repeating: "x", count: Limits.key + 1)
        let e = Event(client: long, at: 0, payload: .forget)
        #expect(throws: EventValidationError.self) { try e.validate() }
        let name = String(repeating: "n", count: Limits.text + 1)
        let c = Event(client: "c", at: 0, payload: .client(ClientDetails(name: name)))
        do { try c.validate(); Issue.record("accepted a long name") } catch {
            #expect(error.field == "name")
            #expect(error.description.contains("over the limit of 1024"))
        }
    }

    /// JSON strings read back as written: plain ASCII and UTF-8 (read straight from the
    /// input) and with escapes (decoded), over random text.
    @Test func jsonStringsReadBackAsWritten() throws {
        var rng = SeededRandom(seed: 5)
        let pieces = ["a", "Dr. Kim", "é", "日本", "👩‍⚕️", "\"", "\\", "\n", "\t", "/", "\u{01}", " ", "z9"]
        for _ in 0..<500 {
            let text = (0..<Int.random(in: 0...8, using: &rng)).map { _ in pieces[Int.random(in: 0..<pieces.count, using: &rng)] }.joined()
            var quoted = ""
            JSONText.quote(text, into: &quoted)
            let bytes = Array("{\"k\":\(quoted),\"n\":1}".utf8)
            let v = try bytes.withUnsafeBytes { try JSONReader.parse($0) }
            #expect(v == .object([("k", .string(text)), ("n", .number("1"))]), "\(quoted)")
        }
    }

    @Test func invalidUTF8IsRejected() throws {
        var bytes = Array(#"{"type":"visit","client":"c","at":"2025-01-01","provider":"Dr. "#.utf8)
        bytes += [0xC3, 0x28]
        bytes += Array(#""}"#.utf8)
        #expect(throws: JSONSyntaxError.self) { try bytes.withUnsafeBytes { try JSONReader.parse($0) } }
    }
}

/// Every type's stored code reads back as that type, and no other byte names a type.
@Test func eventTypeCodesRoundTrip() {
    for t in EventType.allCases { #expect(EventType(code: t.code) == t) }
    let codes = Set(EventType.allCases.map(\.code))
    for b in 0...255 where !codes.contains(UInt8(b)) { #expect(EventType(code: UInt8(b)) == nil) }
}

@Test func eventTypesAreNamedInAnyLetterCase() {
    for t in EventType.allCases {
        #expect(EventType(named: t.rawValue) == t)
        #expect(EventType(named: t.rawValue.uppercased()) == t)
        #expect(EventType(named: t.rawValue.prefix(1).uppercased() + t.rawValue.dropFirst()) == t)
        #expect(EventType(named: t.rawValue + "s") == nil)
        #expect(EventType(named: String(t.rawValue.dropLast())) == nil)
    }
    #expect(EventType(named: "vi sit") == nil)
    #expect(EventType(named: "") == nil)
    // Beyond ASCII, Unicode lower-casing decides: the Kelvin sign lower-cases to "k".
    #expect(EventType(named: "FEEDBAC\u{212A}") == .feedback)
    #expect(EventType(named: "vísit") == nil)
}
