import Foundation
import Testing
@testable import Patron

/// `patron import` of CSV and NDJSON: formats, mapping, dates, gzip, stdin, systems.
@Suite struct ImportFormatTests {
    static func write(_ dir: TempDir, _ name: String, _ text: String) throws -> String {
        let path = dir.path(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func options(_ edit: (inout ImportOptions) throws -> Void) rethrows -> ImportOptions {
        var o = ImportOptions()
        try edit(&o)
        return o
    }

    /// Every client row of `clients` with every field, as CSV text (a whole-state fingerprint).
    static func snapshot(_ db: Database, today: String = "2026-01-01") throws -> String {
        let fields = "id, name, email, source, location, registered, first_seen, last_seen, visits, purchases, refunds, "
            + "spend, refunded, points, tier, member, plan, satisfaction, services, providers, items, categories, provider, cadence"
        return try db.query("clients show \(fields)", today: day(today)).rendered(as: .csv)
    }

    @Test func csvWithQuotesNewlinesCRLFAndABOM() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let text = "\u{FEFF}type,client,at,services,provider,location\r\n"
            + "visit,C-1,2025-03-14,\"botox;filler\",\"Kim, Dr.\",Main\r\n"
            + "\r\n"
            + "visit,C-1,2025-04-01,facial,\"Dr. \"\"Lee\"\"\",\"North\nWing\"\r\n"
            + "client,C-1,2025-01-02,,,Main"
        let file = try Self.write(dir, "visits.csv", text)
        let report = try db.importFile(file)
        #expect(report.read == 3 && report.appended == 3 && report.rejected == 0)
        let c = try #require(try db.client("C-1", today: day("2025-05-01")))
        #expect(c.visits == 2)
        #expect(c.services == ["botox", "facial", "filler"])
        #expect(Set(c.providers) == ["Kim, Dr.", "Dr. \"Lee\""])
        #expect(c.locations.contains("North\nWing"))
    }

    @Test func typeOptionMapAndTheHeaderChecks() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let file = try Self.write(dir, "sales.csv", """
            Client ID,Sale Date,Total,Till
            1001,2025-03-14,$450.50,front
            1002,2025-03-15,"1,250.00",front
            """)
        // No type column and no --type: the header is at fault, nothing is read.
        do { try db.importFile(file); Issue.record("imported without a type") } catch let e as ImportError {
            #expect(e.description == "\(file):1: the header row: no client column (the columns are \"Client ID\", \"Sale Date\", \"Total\", \"Till\"); name it with --map \"Your Column=client\"")
        }
        let opts = try Self.options {
            $0.type = .purchase
            $0.map = try ImportOptions.parseMap("client id=client, Sale Date=at,Total=amount")
        }
        let report = try db.importFile(file, options: opts)
        #expect(report.appended == 2)
        #expect(try db.client("1001", today: day("2025-04-01"))?.spend == Money(cents: 45050))
        #expect(try db.client("1002", today: day("2025-04-01"))?.spend == Money(cents: 125_000))
        // Unknown columns are kept with the event (forward compatibility).
        let first = try #require(try db.stream("1001").first)
        #expect(first.event.extra == "{\"Till\":\"front\"}")
        // A bad value names the field, its input column and the place.
        let bad = try Self.write(dir, "bad.csv", "Client ID,Sale Date,Total\n1003,2025-03-16,12.345\n")
        do { try db.importFile(bad, options: opts); Issue.record("accepted") } catch let f as ImportFailure {
            #expect(f.errors.map(\.description) == [
                "\(bad):2:17: amount \"12.345\": is not an amount of money (write 450, 450.50 or \"$450.50\"; at most 2 decimals) (column \"Total\")",
            ])
        }
        #expect(throws: ImportOptionError.self) { try ImportOptions.parseMap("Total=amont") }
        do { _ = try ImportOptions.parseMap("Total=amont") } catch {
            #expect(error.description == "--map: \"amont\" is not an event field (did you mean \"amount\"?)")
        }
        #expect(try ImportOptions.parseMap("\"Total, USD\"=amount") == ["Total, USD": "amount"])
    }

    @Test func mapEdgeCasesAndUnnamedColumnsAndLeadingBlankLines() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        // An exact name wins over one that differs only in case.
        let both = try Self.write(dir, "both.csv", "client,Client,at,type\nk1,Alice,2025-03-14,client\n")
        #expect(try db.importFile(both, options: Self.options { $0.map = try ImportOptions.parseMap("Client=name") }).appended == 1)
        #expect(try db.client("k1", today: day("2025-04-01"))?.name == "Alice")
        do { _ = try ImportOptions.parseMap("Date=at,DATE=location"); Issue.record("accepted") } catch {
            #expect(error.description == "--map: columns \"Date\" and \"DATE\" differ only in case; name each as the file writes it"
                || error.description == "--map: columns \"DATE\" and \"Date\" differ only in case; name each as the file writes it")
        }
        // Columns without a name (trailing commas from a spreadsheet) are left out.
        let trailing = try Self.write(dir, "trailing.csv", "type,client,at,,\nvisit,k2,2025-03-14,,\n")
        #expect(try db.importFile(trailing).appended == 1)
        // More than 4 KiB of blank lines before the first row is not an empty file.
        let blank = try Self.write(dir, "blank.ndjson", String(repeating: "\n", count: 4200) + "{\"type\":\"visit\",\"client\":\"k3\",\"at\":\"2025-03-14\"}\n")
        #expect(try db.importFile(blank).appended == 1)
        // In NDJSON, a key renamed onto one the object also has would lose a value: an error.
        let collide = try Self.write(dir, "collide.ndjson", "{\"type\":\"visit\",\"Client ID\":\"k1\",\"client\":\"Alice\",\"at\":\"2025-03-14\"}\n")
        do {
            try db.importFile(collide, options: Self.options { $0.map = try ImportOptions.parseMap("Client ID=client") })
            Issue.record("accepted")
        } catch let f as ImportFailure {
            #expect(f.errors.map(\.description) == ["\(collide):1: two keys are both \"client\" after --map"])
        }
    }

    @Test func dateFormats() throws {
        let us = try DateFormat("%m/%d/%Y")
        #expect(us.iso("03/14/2025") == "2025-03-14")
        #expect(us.iso("3/4/2025") == "2025-03-04")
        #expect(us.iso("02/30/2025") == nil)
        #expect(us.iso("2025-03-14") == nil)
        let eu = try DateFormat("%d.%m.%Y %H:%M")
        #expect(eu.iso("14.03.2025 10:30") == "2025-03-14T10:30:00")
        let twelve = try DateFormat("%b %d, %Y %I:%M %p")
        #expect(twelve.iso("Mar 14, 2025 12:05 AM") == "2025-03-14T00:05:00")
        #expect(twelve.iso("march 14, 2025 1:05 pm") == "2025-03-14T13:05:00")
        #expect(try DateFormat("%y%m%d").iso("970101") == "1997-01-01")
        #expect(throws: ImportOptionError.self) { try DateFormat("%m/%d") }
        #expect(throws: ImportOptionError.self) { try DateFormat("%Y-%q-%d") }

        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let file = try Self.write(dir, "d.csv", "client,at,amount\na,03/14/2025,10\nb,19970101,5\nc,2025-03-15T09:00,1\n")
        let opts = Self.options { $0.type = .purchase; $0.dateFormat = us }
        #expect(try db.importFile(file, options: opts).appended == 3)
        #expect(try db.client("a", today: day("2025-04-01"))?.firstSeen == day("2025-03-14"))
        #expect(try db.client("b", today: day("2025-04-01"))?.firstSeen == day("1997-01-01"))
        let bad = try Self.write(dir, "bad.csv", "client,at,amount\na,14/03/2025,10\n")
        do { try db.importFile(bad, options: opts); Issue.record("accepted") } catch let f as ImportFailure {
            #expect(f.errors.map(\.description) == ["\(bad):2:3: at \"14/03/2025\": does not match --date-format %m/%d/%Y (nor ISO-8601)"])
        }
    }

    @Test func gzipAndFormatDetection() throws {
        let dir = TempDir()
        let lines = (1...300).map { "{\"type\":\"visit\",\"client\":\"c\($0 % 17)\",\"at\":\"2025-01-\(String(format: "%02d", $0 % 28 + 1))\",\"services\":[\"s\($0 % 5)\"]}" }
        let plain = try Self.write(dir, "v.ndjson", lines.joined(separator: "\n") + "\n")
        let gz = dir.path("export.gz")  // no format in the name: detected from the first byte
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "gzip -c '\(plain)' > '\(gz)'"]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let a = try Database(path: dir.path("a")), b = try Database(path: dir.path("b"))
        #expect(try a.importFile(plain).appended == 300)
        #expect(try b.importFile(gz).appended == 300)
        #expect(try Self.snapshot(a) == Self.snapshot(b))
        // Re-importing the compressed copy into the first database stores nothing new.
        #expect(try a.importFile(gz).duplicates == 300)
    }

    @Test func stdinThroughTheCommandLine() throws {
        let dir = TempDir()
        let db = dir.path("db")
        let csv = "type,client,at,amount\npurchase,a,2025-01-01,10\npurchase,b,2025-01-02,20\n"
        let r = try runProduct("patron", ["import", "-", "--format", "csv", "--db", db], stdin: csv)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.hasPrefix("stdin: 2 rows read, 2 events stored, 0 duplicates skipped, 0 rejected"))
        let bad = try runProduct("patron", ["import", "-", "--db", db], stdin: "type,client,at,amount\npurchase,a,2025-01-01,-3\n")
        #expect(bad.status == 1)
        #expect(bad.err.contains("stdin:2:"))
        #expect(bad.err.contains("nothing of this file was imported"))
        #expect(try Database(path: db, readOnly: true).lastPosition == 2)
    }

    @Test func systemsNamespaceKeysAndIds() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let file = try Self.write(dir, "p.csv", "id,type,client,at,amount\nINV-1,purchase,1001,2025-01-01,10\n")
        #expect(try db.importFile(file, options: Self.options { $0.system = "pms" }).appended == 1)
        // The same key and invoice id from another system is another client and another fact.
        #expect(try db.importFile(file, options: Self.options { $0.system = "shop" }).appended == 1)
        #expect(try db.importFile(file, options: Self.options { $0.system = "shop" }).duplicates == 1)
        #expect(try db.client("pms:1001", today: day("2025-02-01"))?.spend == Money(dollars: 10))
        #expect(try db.client("shop:1001", today: day("2025-02-01"))?.spend == Money(dollars: 10))
        #expect(try db.client("1001", today: day("2025-02-01")) == nil)
        #expect(try db.stream("pms:1001").first?.event.id == "pms:INV-1")
        #expect(throws: ImportOptionError.self) { try ImportOptions.parseSystem("has space") }
    }

    @Test func mergeFromAFileAndFromTheCommandLine() throws {
        let dir = TempDir()
        let path = dir.path("db")
        let db = try Database(path: path)
        let file = try Self.write(dir, "e.ndjson", """
            {"type":"purchase","client":"pms:7","at":"2025-01-01","amount":100}
            {"type":"purchase","client":"shop:x","at":"2025-02-01","amount":50}
            {"type":"merge","client":"shop:x","into":"pms:7","at":"2025-03-01"}
            """)
        try db.importFile(file)
        let today = day("2025-04-01")
        #expect(try db.client("pms:7", today: today)?.spend == Money(dollars: 150))
        let ids = try db.query("clients show id", today: today).rows.map { $0[0] }
        #expect(ids == [.string("pms:7")])
        let named = try db.query("clients where id = \"shop:x\" show id, spend", today: today)
        #expect(named.rows == [[.string("pms:7"), .money(Money(dollars: 150))]])
        let r = try runProduct("patron", ["merge", "pms:7", "C-9", "--db", path])
        #expect(r.status == 0, "\(r.err)")
        // The command records the merge now; identity holds for every day, so time travel
        // to before it shows the one person under the surviving key too.
        for d in [db.today, today] {
            #expect(try db.client("C-9", today: d)?.spend == Money(dollars: 150))
            #expect(try db.query("clients show id, spend", today: d).rows == [[.string("C-9"), .money(Money(dollars: 150))]])
        }
        let again = try runProduct("patron", ["merge", "nobody", "C-9", "--db", path])
        #expect(again.status == 1)
    }
}

/// After merges, every answer equals that of a database where each merged client's
/// events were always under the key it was merged into.
@Suite struct MergePropertyTests {
    @Test(arguments: [1, 2, 3, 4, 5, 6]) func mergedEqualsAlwaysOneKey(seed: UInt64) throws {
        var rng = SeededRandom(seed: seed)
        let keys = (0..<8).map { "k\($0)" }
        var events: [Event] = []
        for _ in 0..<160 {
            let key = keys[Int.random(in: 0..<keys.count, using: &rng)]
            let at = ms("2024-01-01") + Int64.random(in: 0..<500, using: &rng) * 86_400_000 + Int64.random(in: 0..<3, using: &rng) * 3_600_000
            let payload: Payload
            switch Int.random(in: 0..<7, using: &rng) {
            case 0: payload = .client(ClientDetails(name: "N\(Int.random(in: 0..<5, using: &rng))", source: ["ads", "walk-in"].randomElement(using: &rng)))
            case 1, 2: payload = .visit(Visit(location: ["Main", "North"].randomElement(using: &rng), provider: ["Kim", "Lee"].randomElement(using: &rng),
                                              services: [["facial"], ["botox", "filler"], ["peel"]].randomElement(using: &rng) ?? []))
            case 3: payload = .purchase(Purchase(amount: Money(cents: Int64.random(in: 0..<50_000, using: &rng))))
            case 4: payload = .refund(Refund(amount: Money(cents: Int64.random(in: 1..<2_000, using: &rng))))
            case 5: payload = .tier(TierChange(tier: ["gold", "silver"].randomElement(using: &rng) ?? "gold"))
            default: payload = .feedback(Feedback(score: Int64.random(in: 1...5, using: &rng)))
            }
            events.append(Event(client: key, at: at, payload: payload))
        }
        // Random merges without cycles: a key only merges into a key not yet merged away.
        var owner: [String: String] = [:]
        var merges: [Event] = []
        for _ in 0..<3 {
            let from = keys[Int.random(in: 0..<keys.count, using: &rng)]
            let to = keys[Int.random(in: 0..<keys.count, using: &rng)]
            guard from != to, owner[from] == nil, owner[to] == nil, events.contains(where: { $0.client == from }) else { continue }
            owner[from] = to
            for (k, v) in owner where v == from { owner[k] = to }
            merges.append(Event(client: from, at: ms("2024-06-01"), payload: .merge(Merge(into: to))))
        }
        let dir = TempDir()
        let merged = try Database(path: dir.path("merged")), single = try Database(path: dir.path("single"))
        try merged.appendAndWait(Array(events[..<80]))
        try merged.appendAndWait(merges)
        try merged.appendAndWait(Array(events[80...]))
        try single.appendAndWait(events.map { e in
            var moved = e
            moved.client = owner[e.client] ?? e.client
            return moved
        })
        for today in ["2024-03-01", "2024-06-01", "2025-06-01"] {
            #expect(try ImportFormatTests.snapshot(merged, today: today) == ImportFormatTests.snapshot(single, today: today), "seed \(seed) \(today)")
            for q in ["visits show client, at, services, provider", "purchases group by client show sum(amount), count()",
                      "clients where has visit where services contains \"botox\" show id, visits"] {
                #expect(try merged.query(q, today: day(today)).rendered(as: .csv) == single.query(q, today: day(today)).rendered(as: .csv), "seed \(seed) \(q)")
            }
        }
    }
}

/// examples/import/import-all.sh imports three systems' sample exports into one clinic.
@Suite struct ImportExampleTests {
    @Test func sampleExportsOfThreeSystems() throws {
        let dir = TempDir()
        let db = dir.path("example.patron")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [packageRoot.appendingPathComponent("examples/import/import-all.sh").path, db]
        p.environment = ProcessInfo.processInfo.environment.merging(
            ["PATRON": productsDirectory.appendingPathComponent("patron").path]) { _, b in b }
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let messages = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(messages)")
        let clinic = try Database(path: db, readOnly: true)
        let today = day("2025-12-01")
        let ava = try #require(try clinic.client("mindbody:1042", today: today))
        #expect(ava.name == "Ava Martin" && ava.visits == 3 && ava.points == 350)
        #expect(ava.spend == Money(dollars: 68 + 64))  // the online orders, less the refund, now count under 1042
        #expect(ava.services == ["Botox", "Consultation", "Filler"])
        #expect(ava.firstSeen == day("2025-02-01"))
        let ids = try clinic.query("clients show id", today: today).rows.map { $0[0] }
        #expect(ids == [.string("mindbody:1042"), .string("mindbody:1077"), .string("mindbody:1093"), .string("shopify:liam@example.com")])
    }
}
