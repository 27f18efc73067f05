import Foundation
import Testing
@testable import Patron

/// `DirectEventReader`: plain NDJSON lines read straight into events must give exactly
/// the events of the general path (a JSON tree, then `RowConverter`), and every line
/// it is unsure of must be left to the general path.
@Suite struct DirectEventReaderTests {
    /// The general path's event for a line, or nil when it rejects the line.
    static func general(_ bytes: [UInt8], zone: Zone = .utc) -> Event? {
        let json = bytes.withUnsafeBytes { try? JSONReader.parse($0) }
        guard case .object(let pairs)? = json else { return nil }
        return try? RowConverter(options: ImportOptions(), zone: zone).event(pairs)
    }

    static func direct(_ bytes: [UInt8], zone: Zone = .utc) -> Event? {
        var reader = DirectEventReader()
        return bytes.withUnsafeBytes { reader.event($0, zone: zone) }
    }

    /// Lines of every type in the forms exports write them.
    static let plainLines = [
        #"{"type":"client","id":"e1","client":"C1","at":"2025-03-14T10:30:00Z","name":"Ana Ruiz","email":"ana@example.com","phone":"(212) 555-0101","location":"Midtown","source":"google","acquisition_cost":48.51}"#,
        #"{"type":"visit","id":"e2","client":"C1","at":"2025-03-14T10:30:00Z","location":"Harbor","provider":"Taylor Reed","services":["consultation","botox"]}"#,
        #"{"type":"visit","client":"C1","at":"2025-03-14","services":"botox; filler ;"}"#,
        #"{"type":"purchase","id":"e3","client":"C1","at":"2025-03-14T19:12:00-05:00","amount":247,"items":[{"name":"HydraFacial","category":"facial","quantity":1,"amount":199},{"name":"SPF 50","category":"skincare","quantity":2,"amount":24}],"location":"Midtown","provider":"Ana Lopez","channel":"clinic"}"#,
        #"{"type":"purchase","client":"C1","at":"2025-03-14T10:30","items":[{"amount":19.5},{}]}"#,
        #"{"type":"purchase","client":42,"at":"2025-03-14","amount":"$1,250.50"}"#,
        #"{"type":"refund","id":"e4","client":"C1","at":"2025-03-15T10:30:00Z","amount":225,"purchase":"e3"}"#,
        #"{"type":"reward","id":"e5","client":"C1","at":"2025-03-15T10:30:00Z","points":-247,"kind":"redeemed","reason":"purchase"}"#,
        #"{"type":"tier","client":"C1","at":"2025-03-15T10:30:00.250Z","tier":"Gold"}"#,
        #"{"type":"membership","client":"C1","at":"2025-03-15","plan":"Glow","action":"Start","fee":99}"#,
        #"{"type":"feedback","client":"C1","at":"2025-03-16","score":5,"comment":"Très bien","visit":"e2"}"#,
        #"{"type":"feedback","client":"C1","at":"2025-03-16","score":"4"}"#,
        #"{"type":"Visit","client":"C1","at":"20250316","location":""}"#,
        #"{"type":"forget","client":"C1","at":"2025-03-17"}"#,
        #" { "type" : "merge" , "client" : "C2" , "at" : "2025-03-17T08:00:00+01:00" , "into" : "C1" } "#,
    ]

    @Test func plainLinesOfEveryTypeReadDirectlyAsTheGeneralPathReadsThem() throws {
        for zone in [Zone.utc, try #require(Zone(identifier: "America/New_York"))] {
            for line in Self.plainLines {
                let bytes = Array(line.utf8)
                let direct = Self.direct(bytes, zone: zone)
                #expect(direct != nil, "\(line)")
                #expect(direct == Self.general(bytes, zone: zone), "\(line)")
            }
        }
    }

    @Test func everyLineOfADemoExportReadsDirectly() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("demo.patron"), options: .init(durable: false))
        _ = try DemoClinic.build(into: db, clients: 120, seed: 3, end: day("2025-06-30"))
        let events = try db.events().map(\.event)
        #expect(events.count > 1_000)
        for event in events {
            let bytes = Array(event.jsonLine(zone: .utc).utf8)
            let direct = Self.direct(bytes)
            #expect(direct == event)
            #expect(direct == Self.general(bytes))
        }
    }

    /// Lines the general path reads differently or rejects (an error it must word):
    /// each is left to it.
    static let generalLines = [
        #"{"type":"visit","client":"C1","at":"2025-03-14","location":"Mid\"town"}"#,
        #"{"type":"visit","client":"C1","at":"2025-03-14","location":null}"#,
        #"{"type":"visit","client":"C1","at":"2025-03-14","amount":5}"#,
        #"{"type":"visit","client":"C1","at":"2025-03-14","room":"4"}"#,
        #"{"type":"visit","client":"C1","at":"2025-03-14","rejected_reason":"x"}"#,
        #"{"type":"visit","client":"C1","at":"2025-03-14","client":"C2"}"#,
        #"{"type":"visit","client":"C1","at":"2025-03-14"} x"#,
        #"{"type":"visit","client":"C1","at":"2025-03-14","location":true}"#,
        #"{"type":"purchase","client":"C1","at":"2025-03-14","amount":1e2}"#,
        #"{"type":"purchase","client":"C1","at":"2025-03-14","amount":0.125}"#,
        #"{"type":"purchase","client":"C1","at":"2025-03-14","amount":-5}"#,
        #"{"type":"purchase","client":"C1","at":"2025-03-14","items":[{"amount":5,"size":"L"}]}"#,
        #"{"type":"purchase","client":"C1","at":"2025-03-14","items":[{"amount":5,"amount":6}]}"#,
        #"{"type":"reward","client":"C1","at":"2025-03-14","points":2.0}"#,
        #"{"type":"reward","client":"C1","at":"2025-03-14","points":99999999999999999999}"#,
        #"{"type":"feedback","client":"C1","at":"2025-03-14","score":6}"#,
        #"{"type":"visit","client":"C1","at":"2025-02-30"}"#,
        #"{"type":"visit","client":"C1","at":20250314}"#,
        #"{"type":"visit","client":"C1"}"#,
        #"{"client":"C1","at":"2025-03-14"}"#,
        #"{"type":"massage","client":"C1","at":"2025-03-14"}"#,
        #"{}"#,
        #"[1]"#,
    ]

    @Test func linesInAnyOtherFormAreLeftToTheGeneralPath() {
        for line in Self.generalLines {
            #expect(Self.direct(Array(line.utf8)) == nil, "\(line)")
        }
    }

    /// Values and bytes a mutation puts into a line.
    static let tokens = [
        "null", "true", "false", "\"\"", "\" \"", "\"a\\u00e9\"", "\"a\\nb\"", "1e2", "-5", "0", "-0", "0.5", "0.125",
        "12.30", "01", "1.", "\"5\"", "\" 7 \"", "[]", "{}", "[\"a\",1]", "[\"a\",\"\"]", "[{}]", "[{\"quantity\":\"2\"}]",
        "9223372036854775807", "92233720368547758.07", "\"2025-13-01\"", "\"2025-03-14T25:00\"", "\"$12.50\"", "\"1,000\"",
        "\"Visit\"", "\"PURCHASE\"", "\"start\"", "\"CANCEL\"", "\"é\"", "\"\u{7f}\"", String(repeating: "x", count: 300),
    ]
    static let keys = EventField.allCases.map(\.text) + ["Type", "extra", "rejected_reason", "quantity"]

    static func mutate(_ line: String, _ rng: inout SeededRandom) -> [UInt8] {
        var bytes = Array(line.utf8)
        for _ in 0..<Int.random(in: 1...2, using: &rng) {
            let i = Int.random(in: 0...bytes.count, using: &rng)
            switch Int.random(in: 0..<8, using: &rng) {
            case 0:  // a value replaced: after a ':' up to the next ',' or '}'
                guard let colon = bytes[i...].firstIndex(of: UInt8(ascii: ":")) else { continue }
                let end = bytes[(colon + 1)...].firstIndex { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "}") } ?? bytes.count
                bytes.replaceSubrange((colon + 1)..<end, with: Array(tokens.randomElement(using: &rng)!.utf8))
            case 1:  // a key replaced
                guard let open = bytes[i...].firstIndex(of: UInt8(ascii: "\"")),
                      let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "\"")) else { continue }
                bytes.replaceSubrange((open + 1)..<close, with: Array(keys.randomElement(using: &rng)!.utf8))
            case 2:  // a field added
                guard let last = bytes.lastIndex(of: UInt8(ascii: "}")) else { continue }
                let field = ",\"\(keys.randomElement(using: &rng)!)\":\(tokens.randomElement(using: &rng)!)"
                bytes.insert(contentsOf: Array(field.utf8), at: last)
            case 3: bytes.insert([0x20, 0x09, 0x0d, 0x0a].randomElement(using: &rng)!, at: i)
            case 4: if i < bytes.count { bytes.remove(at: i) }
            case 5: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: i)
            case 6: bytes.insert(contentsOf: Array(tokens.randomElement(using: &rng)!.utf8), at: i)
            default: if i < bytes.count { bytes[i] = [0x22, 0x5c, 0x2c, 0x3a, 0x7b, 0x7d, 0x5b, 0x5d, 0xc3, 0xff].randomElement(using: &rng)! }
            }
        }
        return bytes
    }

    @Test func mutatedLinesReadDirectlyOnlyAsTheGeneralPathReadsThem() {
        var rng = SeededRandom(seed: 20261123)
        var direct = 0, generalOnly = 0
        for _ in 0..<30_000 {
            let bytes = Self.mutate(Self.plainLines.randomElement(using: &rng)!, &rng)
            let general = Self.general(bytes)
            if let event = Self.direct(bytes) {
                direct += 1
                #expect(event == general, "\(String(decoding: bytes, as: UTF8.self))")
            } else if general != nil {
                generalOnly += 1
            }
        }
        // Both ways are exercised: many mutated lines are still plain, many are not.
        #expect(direct > 2_000)
        #expect(generalOnly > 1_000)
    }
}

/// `DirectCSVEvents`: CSV records read straight into events must give exactly the
/// events of the general path (named values, then `RowConverter`).
@Suite struct DirectCSVEventsTests {
    static func general(_ names: [String], _ values: [String], type: EventType?) -> Event? {
        var options = ImportOptions()
        options.type = type
        let pairs = zip(names, values).filter { !$0.0.isEmpty }.map { ($0.0, JSONValue.string($0.1)) }
        return try? RowConverter(options: options, zone: .utc).event(pairs)
    }

    static func direct(_ names: [String], _ values: [String], type: EventType?) -> Event? {
        DirectCSVEvents(fields: names, type: type).event(values, zone: .utc)
    }

    @Test func demoEventsWrittenAsCSVRecordsReadDirectlyAsTheGeneralPathReadsThem() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("demo.patron"), options: .init(durable: false))
        _ = try DemoClinic.build(into: db, clients: 60, seed: 4, end: day("2025-06-30"))
        let names = EventField.allCases.filter { $0 != .items }.map(\.text) + ["room", RowConverter.reasonColumn]
        var read = 0
        for recorded in try db.events() {
            guard case .object(let pairs)? = JSONValue.parse(recorded.event.jsonLine(zone: .utc)) else { continue }
            let values = names.map { name -> String in
                switch pairs.first(where: { $0.0 == name })?.1 {
                case .string(let s)?: s
                case .number(let n)?: n
                case .array(let list)?: list.compactMap { if case .string(let s) = $0 { s } else { nil } }.joined(separator: ";")
                default: name == "room" && read % 3 == 0 ? "4B" : ""
                }
            }
            let direct = Self.direct(names, values, type: nil)
            #expect(direct != nil, "\(values)")
            #expect(direct == Self.general(names, values, type: nil), "\(values)")
            if direct != nil { read += 1 }
        }
        #expect(read > 1_000)
    }

    /// Values a random record holds.
    static let values = [
        "", " ", "C1", "c-17", "2025-03-14", "2025-03-14T10:30", "20250314", "2025-02-30", "yesterday", "5", " 7 ", "-3",
        "2.5", "$1,250.50", "1,25", "0.125", "abc", "visit", "Visit", "PURCHASE", "refund", "reward", "tier", "membership",
        "feedback", "forget", "merge", "client", "massage", "start", "Cancel", "pause", "gold", "botox; filler", ";",
        "Très bien", "[1]", String(repeating: "x", count: 300), "9223372036854775807",
    ]

    @Test func randomRecordsReadDirectlyOnlyAsTheGeneralPathReadsThem() {
        var rng = SeededRandom(seed: 1123)
        let pool = EventField.allCases.map(\.text) + ["room", "", RowConverter.reasonColumn]
        var direct = 0, generalOnly = 0
        for _ in 0..<20_000 {
            // A header of distinct names, always with a client and a date, as the header check requires.
            var names = ["client", "at"]
            for name in pool.shuffled(using: &rng).prefix(Int.random(in: 0...8, using: &rng))
            where !names.contains(name) || name.isEmpty { names.append(name) }
            names.shuffle(using: &rng)
            let type: EventType? = Bool.random(using: &rng) ? EventType.allCases.randomElement(using: &rng) : nil
            let values = names.map { name -> String in
                switch name {
                case "client": Bool.random(using: &rng) ? "C1" : Self.values.randomElement(using: &rng)!
                case "at": Int.random(in: 0..<4, using: &rng) > 0 ? "2025-03-14" : Self.values.randomElement(using: &rng)!
                default: Self.values.randomElement(using: &rng)!
                }
            }
            let general = Self.general(names, values, type: type)
            if let event = Self.direct(names, values, type: type) {
                direct += 1
                #expect(event == general, "\(names) \(values)")
            } else if general != nil {
                generalOnly += 1
            }
        }
        // Both ways are exercised, and a record the general path reads is read directly too.
        #expect(direct > 2_000)
        #expect(generalOnly == 0)
    }
}

/// `Event.jsonLine` (export) and `contentText` (content ids) write their text field by
/// field; it must be the text of the same fields as a JSON tree, and read back.
@Suite struct EventLineTests {
    @Test func linesAreTheTreesTextAndReadBackAsTheEvent() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("demo.patron"), options: .init(durable: false))
        _ = try DemoClinic.build(into: db, clients: 40, seed: 5, end: day("2025-06-30"))
        var events = try db.events().map(\.event)
        let odd = ["tab\there", "quote \" and \\ back", "line\nend\r", "bell \u{07} \u{1F}", "é ✓ 𝄞", ""]
        for (i, s) in odd.enumerated() {
            events.append(Event(client: "c\(i)\(s)", at: ms("2025-01-01"), payload: .visit(Visit(location: s, provider: s, services: [s, "x"]))))
            events.append(Event(id: "id\(s)", client: "c", at: ms("2025-01-02"),
                                payload: .purchase(Purchase(items: [PurchaseItem(name: s, category: nil, quantity: 2, amount: Money(cents: 150)),
                                                                    PurchaseItem()]))))
            events.append(Event(client: "c", at: ms("2025-01-03"), payload: .feedback(Feedback(score: 4, comment: s)),
                                extra: JSONValue.object([("z\(i)\(s)", .string(s)), ("a", .array([.number("1"), .object([("k", .null)])])),
                                                         ("m", .bool(true))]).text))
        }
        for event in events {
            for line in [event.jsonLine(zone: .utc), event.jsonLine(zone: .utc, personal: false), event.contentText()] {
                let tree = try #require(JSONValue.parse(line), "\(line)")
                // Written as the tree of the same fields writes itself.
                #expect(tree.text == line)
            }
            let line = event.jsonLine(zone: .utc)
            #expect(try Event(json: try #require(JSONValue.parse(line)), zone: .utc) == event, "\(line)")
        }
    }
}
