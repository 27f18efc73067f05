import Foundation
import Testing
@testable import Patron

/// `patron demo` (`DemoClinic`): a deterministic, realistic med spa history.
@Suite struct DemoTests {
    static let end = day("2025-06-30")

    /// A fresh database holding a demo clinic.
    func demo(clients: Int, seed: UInt64, end: Day = DemoTests.end) throws -> (TempDir, Database, DemoReport) {
        let dir = TempDir()
        let db = try Database(path: dir.path("demo.patron"), options: .init(durable: false))
        let report = try DemoClinic.build(into: db, clients: clients, seed: seed, end: end)
        return (dir, db, report)
    }

    func count(_ db: Database, _ query: String) throws -> Int {
        try db.query(query, today: Self.end).rows.count
    }

    @Test func sameSeedGivesTheSameEventsAndAnotherSeedDoesNot() throws {
        let (dirA, a, reportA) = try demo(clients: 300, seed: 7)
        let (dirB, b, reportB) = try demo(clients: 300, seed: 7)
        let (dirC, c, _) = try demo(clients: 300, seed: 8)
        defer { withExtendedLifetime((dirA, dirB, dirC)) {} }
        let first = try a.events().map(\.event)
        let second = try b.events().map(\.event)
        let other = try c.events().map(\.event)
        #expect(first.count == reportA.events && reportA.events == reportB.events)
        #expect(reportA.clients == 300)
        #expect(first == second, "same seed, same events, ids included")
        #expect(first != other)
        #expect(Set(first.compactMap(\.id)).isDisjoint(with: other.compactMap(\.id)), "two seeds never share ids")
        // The export, byte for byte.
        var exportA: [String] = [], exportB: [String] = []
        try a.exportNDJSON(to: { exportA.append($0) })
        try b.exportNDJSON(to: { exportB.append($0) })
        #expect(exportA == exportB)
    }

    @Test func eventsAreWellFormedAndInTimeOrder() throws {
        let (dir, db, report) = try demo(clients: 300, seed: 3)
        defer { withExtendedLifetime(dir) {} }
        let events = try db.events().map(\.event)
        #expect(events.count == report.events)
        #expect(report.first == DemoTests.end - Day(DemoClinic.historyDays))
        let ids = events.compactMap(\.id)
        #expect(ids.count == events.count && Set(ids).count == ids.count, "every event has its own id")
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.at <= $1.at }, "appended in business-time order")
        let zone = db.timeZone
        #expect(events.allSatisfy { zone.day(of: $0.at) <= DemoTests.end && zone.day(of: $0.at) >= report.first })
        var purchases: [String: (client: String, cents: Int64)] = [:]
        var visits = Set<String>()
        var points: [String: Int64] = [:]
        for e in events {
            switch e.payload {
            case .client(let c):
                #expect(c.name != nil && c.email?.contains("@example.") == true && c.phone?.contains(" 555-01") == true)
                #expect(c.source != nil && c.acquisitionCost != nil && c.location != nil)
            case .visit(let v):
                #expect(!v.services.isEmpty && v.provider != nil && v.location != nil)
                visits.insert(e.id ?? "")
            case .purchase(let p):
                #expect(!p.items.isEmpty)
                #expect(p.amount.cents == p.items.reduce(0) { $0 + ($1.amount?.cents ?? 0) }, "amount = sum of items")
                #expect(p.items.allSatisfy { $0.name != nil && $0.category != nil && $0.quantity >= 1 && ($0.amount?.cents ?? 0) > 0 })
                #expect(p.channel == "clinic" || p.channel == "online")
                purchases[e.id ?? ""] = (e.client, p.amount.cents)
            case .refund(let r):
                let refunded = try #require(r.purchase.flatMap { purchases[$0] }, "a refund names an earlier purchase")
                #expect(refunded.client == e.client && r.amount.cents > 0 && r.amount.cents <= refunded.cents)
            case .feedback(let f):
                #expect((1...5).contains(f.score))
                #expect(f.visit.map { visits.contains($0) } == true, "feedback names an earlier visit")
            case .reward(let r):
                #expect(["earned", "redeemed", "adjusted", "expired"].contains(r.kind ?? ""))
                #expect((r.points > 0) == (r.kind == "earned"))
                points[e.client, default: 0] += r.points
                #expect(points[e.client, default: 0] >= 0, "a balance never goes negative")
            case .tier(let t):
                #expect(["bronze", "silver", "gold", "platinum"].contains(t.tier))
            case .membership(let m):
                #expect(m.plan != nil && m.fee != nil)
            case .forget, .merge:
                Issue.record("the demo has no \(e.type) events")
            }
        }
        #expect(try db.verify().isOK)
        try checkTiers(events)
    }

    /// Each client's tier follows their rolling 12-month spend (purchases so far and
    /// refunds dated up to the day, after the day a year before), is set at every
    /// purchase where it changes, and is written only when it changes.
    func checkTiers(_ events: [Event]) throws {
        let zone = Zone.utc
        let thresholds: [(Int64, String)] = [(500_000, "platinum"), (250_000, "gold"), (100_000, "silver"), (Int64.min, "bronze")]
        var refunds: [String: [(day: Day, cents: Int64)]] = [:]
        for e in events { if case .refund(let r) = e.payload { refunds[e.client, default: []].append((zone.day(of: e.at), r.amount.cents)) } }
        var bought: [String: [(day: Day, cents: Int64)]] = [:]
        var tier: [String: String] = [:]
        var expected: [String: (at: Int64, tier: String)] = [:]
        var checked = 0
        func settle(before at: Int64?) {
            for (client, e) in expected where at == nil || e.at < at ?? 0 {
                #expect(tier[client] == e.tier, "client \(client): tier \(tier[client] ?? "none"), spend says \(e.tier)")
                expected[client] = nil
                checked += 1
            }
        }
        for e in events {
            settle(before: e.at)
            switch e.payload {
            case .purchase(let p):
                let d = zone.day(of: e.at)
                bought[e.client, default: []].append((d, p.amount.cents))
                let inWindow = { (x: (day: Day, cents: Int64)) in x.day > d - 365 && x.day <= d }
                let spend = bought[e.client, default: []].filter(inWindow).reduce(0) { $0 + $1.cents }
                    - refunds[e.client, default: []].filter(inWindow).reduce(0) { $0 + $1.cents }
                expected[e.client] = (e.at, thresholds.first { spend >= $0.0 }?.1 ?? "bronze")
            case .tier(let t):
                #expect(tier[e.client] != t.tier, "a tier event only when the tier changes")
                tier[e.client] = t.tier
            default:
                break
            }
        }
        settle(before: nil)
        #expect(checked > 1_000)
    }

    @Test func visitsKeepOpeningHoursInTheDatabaseTimeZone() throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let db = try Database(path: dir.path("ny.patron"), options: .init(timeZone: "America/New_York", durable: false))
        _ = try DemoClinic.build(into: db, clients: 150, seed: 11, end: Self.end)
        let zone = db.timeZone
        var visits = 0
        for r in try db.events() {
            let local = r.event.at + Int64(zone.offset(atUTC: r.event.at)) * 1000
            #expect(zone.day(of: r.event.at) <= Self.end)
            guard case .visit = r.event.payload else { continue }
            visits += 1
            let minute = (local / 60_000) % 1440
            #expect((9 * 60...18 * 60 + 45).contains(minute) && minute % 15 == 0, "appointments on the quarter hour, 9:00–18:45")
            let weekday = ((Int(zone.day(of: r.event.at)) % 7) + 7 + 4) % 7
            #expect(weekday != 0, "closed on Sundays")
        }
        #expect(visits > 300)
    }

    @Test func looksLikeARealMedSpa() throws {
        let (dir, db, report) = try demo(clients: 2_000, seed: 1)
        defer { withExtendedLifetime(dir) {} }
        #expect(report.clients == 2_000)
        #expect((40_000...70_000).contains(report.events), "about 25 events per client: \(report.events)")
        let all = try count(db, "clients")
        #expect(all == 2_000)

        // One-time clients, lapsed clients and loyal regulars.
        let active = try count(db, "clients where active_days >= 1")
        let once = try count(db, "clients where active_days = 1")
        let share = Double(once) / Double(active)
        #expect((0.22...0.42).contains(share), "one-time share \(share)")
        #expect(active < all, "some leads never came")
        let lapsed = try count(db, "clients where lapsed > 180d")
        #expect(Double(lapsed) / Double(active) > 0.2)
        #expect(try count(db, "clients where lapsed <= 60d") > 200, "and many still come")
        #expect(try count(db, "clients where visits >= 20") >= 20, "loyal regulars")

        // Channels with acquisition costs.
        let sources = try db.query("clients group by source show avg(acquisition_cost)", today: Self.end)
        var cost: [String: Money] = [:]
        for row in sources.rows {
            if case .string(let s) = row[0], case .money(let m) = row[1] { cost[s] = m }
        }
        #expect(Set(cost.keys) == ["instagram", "google", "facebook", "referral", "walk-in", "groupon"])
        #expect(cost["walk-in"] == Money(cents: 0))
        #expect((cost["google"] ?? Money(cents: 0)) > (cost["instagram"] ?? Money(cents: 0)))
        #expect((cost["instagram"] ?? Money(cents: 0)) > (cost["referral"] ?? Money(cents: 0)))

        // Tiers, memberships, refunds, points.
        let tiers = try db.query("clients group by tier", today: Self.end).rows.compactMap { row -> String? in
            if case .string(let s) = row[0] { s } else { nil }
        }
        #expect(Set(tiers).isSuperset(of: ["bronze", "silver", "gold", "platinum"]))
        #expect(try count(db, "clients where member = true") > 0)
        #expect(try count(db, "memberships where action = \"cancel\"") > 0)
        #expect(try count(db, "refunds") > 0)
        #expect(try count(db, "rewards where kind = \"redeemed\"") > 0)
        #expect(try count(db, "clients where points < 0") == 0)

        // Feedback, mostly high.
        let scores = try count(db, "feedback")
        let high = try count(db, "feedback where score >= 4")
        #expect(scores > 1_000 && Double(high) / Double(scores) > 0.7)

        // Locations and providers.
        #expect(try db.query("visits group by location", today: Self.end).rows.count >= 2)
        let visits = try count(db, "visits")
        let withPreferred = try count(db, "visits where provider = client.provider")
        #expect(Double(withPreferred) / Double(visits) > 0.6, "most visits are with the client's own provider")

        // Prices: a neurotoxin visit costs a few hundred dollars, a filler syringe $650–$850.
        let toxin = try db.query("items where category = \"neurotoxin\" show avg(amount), min(amount), max(amount)", today: Self.end)
        if case .money(let avg) = toxin.rows.first?[0] { #expect((30_000...70_000).contains(avg.cents)) } else { Issue.record("no neurotoxin") }
        let filler = try db.query("items where category = \"filler\" show min(amount / quantity), max(amount / quantity)", today: Self.end)
        if case .money(let lo) = filler.rows.first?[0], case .money(let hi) = filler.rows.first?[1] {
            #expect(lo.cents >= 65_000 && hi.cents <= 85_000)
        } else {
            Issue.record("no filler: \(filler.rows)")
        }
        let categories = Set(try db.query("items group by category", today: Self.end).rows.compactMap { row -> String? in
            if case .string(let s) = row[0] { s } else { nil }
        })
        #expect(categories == ["neurotoxin", "filler", "laser", "facial", "microneedling", "prp", "skincare"])
        #expect(try count(db, "purchases where channel = \"online\"") > 0)

        // Service paths: neurotoxin clients who later had filler.
        var firstToxin: [String: Int64] = [:]
        var laterFiller = Set<String>()
        try db.forEachEvent { r in
            if case .visit(let v) = r.event.payload {
                let s = Set(v.services)
                if let t = firstToxin[r.event.client], s.contains("filler"), r.event.at > t { laterFiller.insert(r.event.client) }
                if firstToxin[r.event.client] == nil && !s.isDisjoint(with: ["botox", "dysport", "xeomin"]) {
                    firstToxin[r.event.client] = r.event.at
                }
            }
            return true
        }
        #expect(laterFiller.count >= 20, "neurotoxin, then filler: \(laterFiller.count)")
    }

    @Test func rejectsBadArguments() throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let db = try Database(path: dir.path("demo.patron"))
        #expect(throws: PatronError.self) { try DemoClinic.build(into: db, clients: 0, seed: 1, end: Self.end) }
        _ = try DemoClinic.build(into: db, clients: 5, seed: 1, end: Self.end)
        #expect(throws: PatronError.self) { try DemoClinic.build(into: db, clients: 5, seed: 1, end: Self.end) }
    }

    @Test func commandLine() throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let path = dir.path("demo.db")
        let made = try runProduct("patron", ["demo", "--db", path, "--clients", "200", "--end", "2025-06-30"])
        #expect(made.status == 0, "\(made.err)")
        #expect(made.out.isEmpty, "nothing on stdout")
        #expect(made.err.contains("200 clients") && made.err.contains("2025-06-30"))
        let stats = try runProduct("patron", ["stats", "--db", path])
        #expect(stats.out.contains("200 (200 keys"))
        let again = try runProduct("patron", ["demo", "--db", path, "--clients", "200"])
        #expect(again.status == 1)
        #expect(again.err.contains(path) && again.err.contains("already holds"))
        #expect(try runProduct("patron", ["demo", "--db", dir.path("x.db"), "--clients", "0"]).status == 2)
        #expect(try runProduct("patron", ["demo", "--db", dir.path("x.db"), "--end", "2025-13-01"]).status == 2)
        let help = try runProduct("patron", ["demo", "--help"])
        #expect(help.status == 0 && help.out.contains("patron demo --db demo.db"))
    }
}
