import Foundation
import Testing
@testable import Patron

/// The analytic statements `clv`, `cohorts` and `paths` (SPEC 3.7, 3.11) and
/// `returned(D)`, on small hand-built histories. Every expected number is worked out
/// by hand in the comments, never by asking the engine twice.
@Suite struct AnalyticsTests {
    // MARK: Helpers

    typealias H = QueryFieldTests

    static func client(_ c: String, _ at: String, source: String? = nil, cost: String? = nil) -> Event {
        H.e(c, at, .client(ClientDetails(source: source, acquisitionCost: cost.map(H.usd))))
    }
    static func refund(_ c: String, _ at: String, _ amount: String) -> Event { H.e(c, at, .refund(Refund(amount: H.usd(amount)))) }
    static func visit(_ c: String, _ at: String, _ services: [String] = []) -> Event { H.visit(c, at, services: services) }
    static func purchase(_ c: String, _ at: String, _ amount: String) -> Event { H.purchase(c, at, amount) }

    /// Column name → value of the row at `index`.
    static func record(_ r: QueryResult, _ index: Int = 0, sourceLocation: SourceLocation = #_sourceLocation) -> [String: Value] {
        guard index < r.rows.count else {
            Issue.record("no row \(index) in \(r.rows)", sourceLocation: sourceLocation)
            return [:]
        }
        var out: [String: Value] = [:]
        for (c, v) in zip(r.columns, r.rows[index]) { out[c.name] = v }
        return out
    }

    static func money(_ text: String) -> Value { H.money(text) }

    static func number(_ v: Value?, _ x: Double, sourceLocation: SourceLocation = #_sourceLocation) {
        H.expectNumber(v, x, sourceLocation: sourceLocation)
    }

    /// The rendered diagnostic of a statement that must fail.
    static func failure(_ db: Database, _ text: String, today: String = "2025-06-30", sourceLocation: SourceLocation = #_sourceLocation) -> String {
        do {
            let r = try db.query(text, today: day(today))
            Issue.record("\(text) should fail, gave \(r.rows)", sourceLocation: sourceLocation)
        } catch let e as QueryError {
            return e.render()
        } catch {
            Issue.record("\(text): not a query error: \(error)", sourceLocation: sourceLocation)
        }
        return ""
    }

    // MARK: clv

    /// Today 2025-06-30.
    /// * alice (instagram, $100): purchases 2025-01-01 $100, 2025-03-01 $200, refund 2025-03-05 $50, visit 2025-04-01.
    ///   first 2025-01-01, last 2025-04-01: tenure 180d, lifespan 90d; 2 purchases, spend $250.
    /// * bob (referral, $50): purchase 2025-06-10 $90. tenure 20d → 30d floor, lifespan 0; 1 purchase, spend $90.
    /// * carol (no source, no cost): purchases 2025-02-01 $60 and $40 (one day), visit 2025-05-01.
    ///   tenure 149d, lifespan 89d; 2 purchases, spend $100.
    /// * dan (INSTAGRAM, $30): a lead, never came.
    /// * erin: registered 2025-07-01 ($1000) and bought 2025-07-15 — after today, not in the world.
    static func clvHistory() throws -> H.DB {
        try H.DB([
            client("alice", "2024-12-20", source: "instagram", cost: "100"),
            purchase("alice", "2025-01-01", "100"), purchase("alice", "2025-03-01", "200"),
            refund("alice", "2025-03-05", "50"), visit("alice", "2025-04-01"),
            client("bob", "2025-06-01", source: "referral", cost: "50"),
            purchase("bob", "2025-06-10", "90"),
            purchase("carol", "2025-02-01", "60"), purchase("carol", "2025-02-01", "40"), visit("carol", "2025-05-01"),
            client("dan", "2025-03-01", source: "INSTAGRAM", cost: "30"),
            client("erin", "2025-07-01", source: "instagram", cost: "1000"), purchase("erin", "2025-07-15", "80"),
        ])
    }

    @Test func clvOverall() throws {
        let h = try Self.clvHistory()
        let r = try h.db.query("clv", today: day("2025-06-30"))
        #expect(r.columns.map(\.name) == ["clients", "apv", "frequency", "lifespan_years", "clv", "cac", "clv_cac"])
        #expect(r.columns.map(\.kind) == [.number, .money, .number, .number, .money, .money, .number])
        #expect(r.rows.count == 1)
        let x = Self.record(r)
        // alice, bob, carol have an activity day (dan is a lead, erin is after today).
        Self.number(x["clients"], 3)
        // APV = ($250 + $90 + $100) / (2 + 1 + 2) = $440 / 5 = $88.00
        #expect(x["apv"] == Self.money("88.00"))
        // client-years = (180 + 30 + 149) / 365 = 359/365; frequency = 5 / (359/365) = 1825/359
        Self.number(x["frequency"], 1825.0 / 359.0)
        // lifespan = mean(90, 0, 89) / 365 = 179 / 1095
        Self.number(x["lifespan_years"], 179.0 / 1095.0)
        // clv = 88 × 1825/359 × 179/1095 = 88 × 5 × 179 / (3 × 359) = 78760/1077 = 73.129… → $73.13
        #expect(x["clv"] == Self.money("73.13"))
        // cac = ($100 + $50 + $30, dan the lead included) / 3 = $60.00
        #expect(x["cac"] == Self.money("60.00"))
        // clv_cac = (78760/1077) / 60, the unrounded clv
        Self.number(x["clv_cac"], 78760.0 / 1077.0 / 60.0)
    }

    @Test func clvByAFieldWithANullKeyGroup() throws {
        let h = try Self.clvHistory()
        let r = try h.db.query("clv by source", today: day("2025-06-30"))
        #expect(r.columns.map(\.name) == ["source", "clients", "apv", "frequency", "lifespan_years", "clv", "cac", "clv_cac"])
        #expect(r.columns.first?.kind == .string)
        // instagram (alice and dan, grouped ignoring case; alice's spelling comes first),
        // referral, then the null key last.
        #expect(r.rows.map(\.first) == [.string("instagram"), .string("referral"), .null])
        let insta = Self.record(r, 0)
        Self.number(insta["clients"], 1)
        #expect(insta["apv"] == Self.money("125.00"))                  // $250 / 2
        Self.number(insta["frequency"], 2.0 / (180.0 / 365.0))        // 730/180
        Self.number(insta["lifespan_years"], 90.0 / 365.0)
        #expect(insta["clv"] == Self.money("125.00"))                  // 125 × 730/180 × 90/365 = 125
        #expect(insta["cac"] == Self.money("130.00"))                  // ($100 + $30 of dan) / 1
        Self.number(insta["clv_cac"], 125.0 / 130.0)
        let referral = Self.record(r, 1)
        Self.number(referral["clients"], 1)
        #expect(referral["apv"] == Self.money("90.00"))
        Self.number(referral["frequency"], 365.0 / 30.0)               // 1 / (30/365): the 30-day floor
        Self.number(referral["lifespan_years"], 0)
        #expect(referral["clv"] == Self.money("0.00"))
        #expect(referral["cac"] == Self.money("50.00"))
        Self.number(referral["clv_cac"], 0)
        let none = Self.record(r, 2)
        Self.number(none["clients"], 1)                                // carol
        #expect(none["apv"] == Self.money("50.00"))                    // $100 / 2
        Self.number(none["frequency"], 730.0 / 149.0)                  // 2 / (149/365)
        Self.number(none["lifespan_years"], 89.0 / 365.0)
        #expect(none["clv"] == Self.money("59.73"))                    // 50 × 730/149 × 89/365 = 8900/149 = 59.731…
        #expect(none["cac"] == .null, "no client of the group has an acquisition cost")
        #expect(none["clv_cac"] == .null)

        // The key column is named by the expression's text.
        let byYear = try h.db.query("clv by year( first_seen )", today: day("2025-06-30"))
        #expect(byYear.columns.first == Column(name: "year( first_seen )", kind: .number))
        // alice, bob and carol were all first seen in 2025; dan has no first_seen.
        #expect(byYear.rows.map(\.first) == [.number(2025), .null])
        Self.number(Self.record(byYear, 1)["clients"], 0)
    }

    @Test func clvWhereAndNullCases() throws {
        let h = try Self.clvHistory()
        let today = day("2025-06-30")
        // where keeps alice and the lead dan: the instagram group above.
        let insta = Self.record(try h.db.query("clv where source = instagram", today: today))
        Self.number(insta["clients"], 1)
        #expect(insta["clv"] == Self.money("125.00"))
        #expect(insta["cac"] == Self.money("130.00"))
        // Only leads: no client with an activity day, so everything but clients is null.
        let leads = try h.db.query("clv where visits = 0 and purchases = 0", today: today)
        #expect(leads.rows.count == 1)
        #expect(leads.rows[0] == [.number(0), .null, .null, .null, .null, .null, .null])
        // Nobody in scope: still one row.
        #expect(try h.db.query("clv where spend > $10,000", today: today).rows == [[.number(0), .null, .null, .null, .null, .null, .null]])

        // Visits only: no purchase, so apv and clv are null; frequency is 0.
        // frank: visits 2025-06-01 and 2025-06-11: tenure 29d → 30d, lifespan 10d.
        let v = try H.DB([Self.visit("frank", "2025-06-01"), Self.visit("frank", "2025-06-11"), Self.client("frank", "2025-06-01", cost: "20")])
        let f = Self.record(try v.db.query("clv", today: today))
        Self.number(f["clients"], 1)
        #expect(f["apv"] == .null)
        Self.number(f["frequency"], 0)
        Self.number(f["lifespan_years"], 10.0 / 365.0)
        #expect(f["clv"] == .null)
        #expect(f["cac"] == Self.money("20.00"))
        #expect(f["clv_cac"] == .null)
    }

    @Test func clvRunsAtTheQuerysToday() throws {
        let h = try Self.clvHistory()
        // Today 2025-02-15: alice (2025-01-01 $100; 2 events later) and carol (2025-02-01 $60 + $40).
        // dan and bob registered later; erin later still.
        // spend $200, 3 purchases: APV = $66.67 (200/3 = 66.666…).
        // tenure: alice 45d, carol 14d → 30d: client-years 75/365; frequency = 3 × 365 / 75 = 14.6.
        // lifespan 0 for both → clv $0.00. cac = $100 (alice's, registered 2024-12-20) / 2 = $50.00.
        let x = Self.record(try h.db.query("clv", today: day("2025-02-15")))
        Self.number(x["clients"], 2)
        #expect(x["apv"] == Self.money("66.67"))
        Self.number(x["frequency"], 14.6)
        Self.number(x["lifespan_years"], 0)
        #expect(x["clv"] == Self.money("0.00"))
        #expect(x["cac"] == Self.money("50.00"))
        Self.number(x["clv_cac"], 0)
    }

    // MARK: cohorts

    /// Today 2025-06-15.
    /// * e: visit 2024-12-31, purchase 2025-01-01 $40.                         cohort 2024-12 / 2024-Q4 / 2024
    /// * a (ads): purchase 2025-01-10 $100, visit 2025-02-05, purchase 2025-04-20 $50, refund 2025-05-02 $30.
    /// * b: visit 2025-01-25, purchase 2025-03-03 $200, visit 2025-03-20.   a and b: cohort 2025-01 / 2025-Q1 / 2025
    /// * c (ads): purchase 2025-03-15 $80, purchase 2025-06-20 $500 (after today). cohort 2025-03 / 2025-Q1 / 2025
    /// * d: a lead (registered 2025-02-01): no cohort, so no 2025-02 row.
    static func cohortHistory() throws -> H.DB {
        try H.DB([
            visit("e", "2024-12-31"), purchase("e", "2025-01-01", "40"),
            client("a", "2025-01-01", source: "ads"),
            purchase("a", "2025-01-10", "100"), visit("a", "2025-02-05"), purchase("a", "2025-04-20", "50"), refund("a", "2025-05-02", "30"),
            visit("b", "2025-01-25"), purchase("b", "2025-03-03", "200"), visit("b", "2025-03-20"),
            client("c", "2025-03-01", source: "ads"),
            purchase("c", "2025-06-20", "500"), purchase("c", "2025-03-15", "80"),
            client("d", "2025-02-01", source: "ads"),
        ])
    }

    static let cohortToday = day("2025-06-15")

    @Test func cohortsByMonthRetention() throws {
        let h = try Self.cohortHistory()
        let r = try h.db.query("cohorts", today: Self.cohortToday)
        // Oldest cohort 2024-12; today's month 2025-06 is 6 months later: p0 … p6.
        #expect(r.columns.map(\.name) == ["cohort", "clients", "p0", "p1", "p2", "p3", "p4", "p5", "p6"])
        #expect(r.columns.map(\.kind) == [.string, .number] + Array(repeating: .number, count: 7))
        let n = { (x: Double) in Value.number(x) }
        #expect(r.rows == [
            // e: active in 2024-12 and 2025-01 only; 2025-06 (p6) is today's month: 0, not null.
            [.string("2024-12"), n(1), n(1), n(1), n(0), n(0), n(0), n(0), n(0)],
            // a: Jan, Feb, Apr (the May refund is not activity); b: Jan, Mar.
            // Jan 2/2, Feb 1/2, Mar 1/2, Apr 1/2, May 0, Jun 0, Jul (p6) after today: null.
            [.string("2025-01"), n(2), n(1), n(0.5), n(0.5), n(0.5), n(0), n(0), .null],
            // c: Mar only (the June 20 purchase is after today); p4 = July onwards null.
            [.string("2025-03"), n(1), n(1), n(0), n(0), n(0), .null, .null, .null],
        ])
        #expect(try h.db.query("cohorts by month show retention", today: Self.cohortToday) == r, "the defaults")
    }

    @Test func cohortsByMonthRevenueWithRefunds() throws {
        let h = try Self.cohortHistory()
        let r = try h.db.query("cohorts show revenue", today: Self.cohortToday)
        #expect(r.columns.map(\.kind) == [.string, .number] + Array(repeating: .money, count: 7))
        let m = Self.money
        #expect(r.rows == [
            // e: nothing bought in December, $40 in January, then unchanged.
            [.string("2024-12"), .number(1), m("0"), m("40"), m("40"), m("40"), m("40"), m("40"), m("40")],
            // a and b: Jan $100 → $50.00; Feb $50.00; Mar +$200 → $300/2 = $150.00; Apr +$50 → $175.00;
            // May −$30 refund → $320/2 = $160.00; Jun $160.00; Jul null.
            [.string("2025-01"), .number(2), m("50"), m("50"), m("150"), m("175"), m("160"), m("160"), .null],
            // c: $80 in March; the $500 of June 20 is after today.
            [.string("2025-03"), .number(1), m("80"), m("80"), m("80"), m("80"), .null, .null, .null],
        ])
    }

    @Test func cohortsByQuarter() throws {
        let h = try Self.cohortHistory()
        let retention = try h.db.query("cohorts by quarter", today: Self.cohortToday)
        // 2024-Q4 … 2025-Q2: p0 … p2.
        #expect(retention.columns.map(\.name) == ["cohort", "clients", "p0", "p1", "p2"])
        #expect(retention.rows == [
            // e: Q4 and Q1 (Jan 1), not Q2.
            [.string("2024-Q4"), .number(1), .number(1), .number(1), .number(0)],
            // a, b, c all in Q1; in Q2 only a (Apr 20): 1/3.
            [.string("2025-Q1"), .number(3), .number(1), .number(1.0 / 3.0), .null],
        ])
        let revenue = try h.db.query("cohorts by quarter show revenue", today: Self.cohortToday)
        #expect(revenue.rows == [
            [.string("2024-Q4"), .number(1), Self.money("0"), Self.money("40"), Self.money("40")],
            // Q1: $100 + $200 + $80 = $380 / 3 = $126.666… → $126.67;
            // Q2: + $50 − $30 = $400 / 3 = $133.333… → $133.33.
            [.string("2025-Q1"), .number(3), Self.money("126.67"), Self.money("133.33"), .null],
        ])
    }

    @Test func cohortsByYearAreNumbersLikeYearBuckets() throws {
        let h = try Self.cohortHistory()
        let retention = try h.db.query("cohorts by year", today: Self.cohortToday)
        #expect(retention.columns.map(\.name) == ["cohort", "clients", "p0", "p1"])
        #expect(retention.columns.first?.kind == .number)
        #expect(retention.rows == [
            [.number(2024), .number(1), .number(1), .number(1)],
            [.number(2025), .number(3), .number(1), .null],
        ])
        let revenue = try h.db.query("cohorts by year show revenue", today: Self.cohortToday)
        #expect(revenue.rows == [
            [.number(2024), .number(1), Self.money("0"), Self.money("40")],
            // $100 + $200 + $80 + $50 − $30 = $400 / 3 → $133.33
            [.number(2025), .number(3), Self.money("133.33"), .null],
        ])
    }

    @Test func cohortsWhereAndToday() throws {
        let h = try Self.cohortHistory()
        // source = ads: a and c (and the lead d, who has no cohort). Oldest 2025-Q1: p0, p1.
        // Q1: both; Q2: a only → 1/2.
        let r = try h.db.query("cohorts by quarter where source = ads", today: Self.cohortToday)
        #expect(r.columns.map(\.name) == ["cohort", "clients", "p0", "p1"])
        #expect(r.rows == [[.string("2025-Q1"), .number(2), .number(1), .number(0.5)]])
        // Today 2025-02-10: c is not yet a client; e's and a/b's months up to February.
        // e: Dec, Jan; a: Jan, Feb (Feb 5); b: Jan.
        let early = try h.db.query("cohorts", today: day("2025-02-10"))
        #expect(early.rows == [
            [.string("2024-12"), .number(1), .number(1), .number(1), .number(0)],
            [.string("2025-01"), .number(2), .number(1), .number(0.5), .null],
        ])
        // Nobody in scope: the two fixed columns and no rows.
        let none = try h.db.query("cohorts where spend > $1,000,000", today: Self.cohortToday)
        #expect(none.columns.map(\.name) == ["cohort", "clients"])
        #expect(none.rows.isEmpty)
    }

    // MARK: paths

    /// Today 2025-06-30; paths from Botox.
    /// * p1: Botox 01-10 (d0), Botox 01-20 (only X: passed over), Filler + botox 02-01 (22d) → Filler.
    ///   Spend after d0: $500 (02-01) − $100 refund (02-10) = $400; the $300 of d0 itself does not count.
    /// * p2: botox 03-01; on 03-15 two visits: Facial, and Peel + Botox → Facial and Peel. Spend after: $200.
    /// * p3: Botox 02-01, Filler 06-01 (120d later) → Filler without a window or within 120d, (none) within 119d.
    ///   Spend after: $100 (05-01).
    /// * p4: Facial 01-05 (before d0), BOTOX 04-01, nothing later → (none). Spend after: $0 ($50 was before).
    /// * p5: Peel only: never had Botox, not counted.
    /// * p6: Botox 05-01, Filler 07-10 after today → (none); the $999 after today does not count.
    /// * p7: appended out of order: Botox 04-10, then Botox 02-10 (d0), Facial 03-01 (19d) → Facial. Spend after: $60.
    static func pathsHistory() throws -> H.DB {
        try H.DB([
            visit("p1", "2025-01-10", ["Botox"]), purchase("p1", "2025-01-10", "300"), visit("p1", "2025-01-20", ["Botox"]),
            visit("p1", "2025-02-01", ["Filler", "botox"]), purchase("p1", "2025-02-01", "500"), refund("p1", "2025-02-10", "100"),
            visit("p2", "2025-03-01", ["botox"]), visit("p2", "2025-03-15", ["Facial"]), visit("p2", "2025-03-15", ["Peel", "Botox"]),
            purchase("p2", "2025-04-01", "200"),
            visit("p3", "2025-02-01", ["Botox"]), purchase("p3", "2025-05-01", "100"), visit("p3", "2025-06-01", ["Filler"]),
            visit("p4", "2025-01-05", ["Facial"]), purchase("p4", "2025-01-05", "50"), visit("p4", "2025-04-01", ["BOTOX"]),
            visit("p5", "2025-05-01", ["Peel"]),
            visit("p6", "2025-05-01", ["Botox"]), visit("p6", "2025-07-10", ["Filler"]), purchase("p6", "2025-07-10", "999"),
            visit("p7", "2025-04-10", ["Botox"]), visit("p7", "2025-02-10", ["Botox"]), visit("p7", "2025-03-01", ["Facial"]),
            purchase("p7", "2025-03-01", "60"),
        ])
    }

    @Test func pathsWithoutAWindow() throws {
        let h = try Self.pathsHistory()
        let r = try h.db.query("paths from \"Botox\"", today: day("2025-06-30"))
        #expect(r.columns == [Column(name: "next", kind: .string), Column(name: "clients", kind: .number),
                              Column(name: "share", kind: .number), Column(name: "avg_spend_after", kind: .money)])
        // 6 clients had Botox (p1, p2, p3, p4, p6, p7). Ties at 2 clients sort by next: "(none)", Facial, Filler.
        #expect(r.rows == [
            [.string("(none)"), .number(2), .number(2.0 / 6.0), Self.money("0")],      // p4, p6
            [.string("Facial"), .number(2), .number(2.0 / 6.0), Self.money("130")],    // p2 $200, p7 $60
            [.string("Filler"), .number(2), .number(2.0 / 6.0), Self.money("250")],    // p1 $400, p3 $100
            [.string("Peel"), .number(1), .number(1.0 / 6.0), Self.money("200")],      // p2 (also under Facial)
        ])
        // A bare word, matched ignoring case.
        #expect(try h.db.query("paths from botox", today: day("2025-06-30")) == r)
    }

    @Test func pathsWithinAWindow() throws {
        let h = try Self.pathsHistory()
        let today = day("2025-06-30")
        let r = try h.db.query("paths from botox within 90d", today: today)
        // p3's Filler is 120 days after d0: (none) now, with p4 and p6.
        #expect(r.rows == [
            [.string("(none)"), .number(3), .number(3.0 / 6.0), Self.money("33.33")],  // ($100 + $0 + $0) / 3
            [.string("Facial"), .number(2), .number(2.0 / 6.0), Self.money("130")],
            [.string("Filler"), .number(1), .number(1.0 / 6.0), Self.money("400")],
            [.string("Peel"), .number(1), .number(1.0 / 6.0), Self.money("200")],
        ])
        // The window's end is inclusive: 120 days is within 120d, not within 119d.
        let filler = { (q: String) in try h.db.query(q, today: today).rows.first { $0[0] == .string("Filler") }?[1] }
        #expect(try filler("paths from botox within 120d") == .number(2))
        #expect(try filler("paths from botox within 119d") == .number(1))
        #expect(try filler("paths from botox within 17w") == .number(1), "17w = 119 days")
        // Today 2025-03-10: p1 (Filler), p3 (Filler is after today: none), p7 (Facial 03-01); p2's d0 is 03-01,
        // its next day 03-15 is after today: none. 4 clients had Botox.
        let early = try h.db.query("paths from botox", today: day("2025-03-10"))
        #expect(early.rows == [
            // p2 nothing after d0 yet; p3 $0 (the $100 is on 05-01).
            [.string("(none)"), .number(2), .number(0.5), Self.money("0")],
            [.string("Facial"), .number(1), .number(0.25), Self.money("60")],
            [.string("Filler"), .number(1), .number(0.25), Self.money("400")],
        ])
    }

    // MARK: Merged clients

    /// g-a (visit Botox + purchase $100 on 2025-01-01) is merged into g-b (visit Filler +
    /// purchase $100 on 2025-04-01) on 2025-05-01: one person.
    @Test func aMergedClientCountsOnce() throws {
        let h = try H.DB([
            Self.visit("g-a", "2025-01-01", ["Botox"]), Self.purchase("g-a", "2025-01-01", "100"),
            Self.client("g-a", "2025-01-01", cost: "40"),
            Self.visit("g-b", "2025-04-01", ["Filler"]), Self.purchase("g-b", "2025-04-01", "100"),
            H.e("g-a", "2025-05-01", .merge(Merge(into: "g-b"))),
        ])
        let today = day("2025-06-30")
        // One client: spend $200 over 2 purchases: APV $100; tenure 180d, lifespan 90d:
        // clv = 100 × 2/(180/365) × 90/365 = $100.00; cac = $40 / 1.
        let x = Self.record(try h.db.query("clv", today: today))
        Self.number(x["clients"], 1)
        #expect(x["apv"] == Self.money("100"))
        #expect(x["clv"] == Self.money("100"))
        #expect(x["cac"] == Self.money("40"))
        // One cohort member, first seen in January, active again in April (p3); June is p5.
        let c = try h.db.query("cohorts", today: today)
        #expect(c.rows == [[.string("2025-01"), .number(1), .number(1), .number(0), .number(0), .number(1), .number(0), .number(0)]])
        // From g-a's Botox to g-b's Filler.
        let p = try h.db.query("paths from botox", today: today)
        #expect(p.rows == [[.string("Filler"), .number(1), .number(1), Self.money("100")]])
    }

    // MARK: returned(D)

    /// Today 2025-06-30. v: visit + purchase 2025-01-01, visit 2025-03-01 (59 days later), visit
    /// 2025-07-01 (after today). w: one visit.
    @Test func returnedLooksForAnotherActivityDayWithinD() throws {
        let h = try H.DB([
            Self.visit("v", "2025-01-01"), Self.purchase("v", "2025-01-01", "10"), Self.visit("v", "2025-03-01"),
            Self.visit("v", "2025-07-01"), Self.visit("w", "2025-02-01"), Self.refund("w", "2025-02-10", "5"),
        ])
        let today = day("2025-06-30")
        let visits = try h.db.query("visits show client, at, returned(59d), returned(58d), returned(1y)", today: today)
        #expect(visits.rows == [
            // Jan 1 → Mar 1 is 59 days: within 59d, not 58d (the purchase on the same day is not another day).
            [.string("v"), H.date("2025-01-01"), .bool(true), .bool(false), .bool(true)],
            // Mar 1 → Jul 1 is after today: not returned.
            [.string("v"), H.date("2025-03-01"), .bool(false), .bool(false), .bool(false)],
            // w's refund is not activity.
            [.string("w"), H.date("2025-02-01"), .bool(false), .bool(false), .bool(false)],
        ])
        let purchases = try h.db.query("purchases show client, returned(59d)", today: today)
        #expect(purchases.rows == [[.string("v"), .bool(true)]])
        let rate = try h.db.query("visits group by client show avg(returned(90d)) as rate", today: today)
        #expect(rate.rows == [[.string("v"), .number(0.5)], [.string("w"), .number(0)]])
        #expect(Self.failure(h.db, "refunds show returned(90d)").contains("returned(D) is for visits and purchases rows"))
        #expect(Self.failure(h.db, "visits show returned(90)").contains("hint: write 90d"))
    }

    // MARK: Errors

    @Test func parseAndCheckErrorsPointAtTheToken() throws {
        let h = try Self.clvHistory()
        func lines(_ xs: String...) -> String { xs.joined(separator: "\n") + "\n" }
        #expect(Self.failure(h.db, "clv by source wher tier = gold") == lines(
            #"query:1:15: error: expected an operator, "where" or end of query, found "wher""#,
            #"  clv by source wher tier = gold"#,
            #"                ^~~~"#,
            #"  hint: did you mean "where"?"#))
        #expect(Self.failure(h.db, "clv where lapsd > 90d") == lines(
            #"query:1:11: error: unknown field "lapsd" for clients"#,
            #"  clv where lapsd > 90d"#,
            #"            ^~~~~"#,
            #"  hint: did you mean "lapsed"?"#))
        #expect(Self.failure(h.db, "clv where lapsed > 90") == lines(
            #"query:1:20: error: cannot compare "lapsed" (a duration) with "90" (a number)"#,
            #"  clv where lapsed > 90"#,
            #"                     ^~"#,
            #"  hint: write 90d for 90 days (or 90w, 90m, 90y)"#))
        #expect(Self.failure(h.db, "clv where tier = gold by source") == lines(
            #"query:1:23: error: "by" must come before "where" (the clauses of clv go in the order "by", "where")"#,
            #"  clv where tier = gold by source"#,
            #"                        ^~"#))
        #expect(Self.failure(h.db, "clv by count()").contains("clv by needs a value of each client, not an aggregate"))
        #expect(Self.failure(h.db, "clv by sorce") == lines(
            #"query:1:8: error: unknown field "sorce" for clients"#,
            #"  clv by sorce"#,
            #"         ^~~~~"#,
            #"  hint: did you mean "source"?"#))
        #expect(Self.failure(h.db, "cohorts by week") == lines(
            #"query:1:12: error: expected "month", "quarter" or "year" after "by" (cohorts by quarter), found "week""#,
            #"  cohorts by week"#,
            #"             ^~~~"#))
        #expect(Self.failure(h.db, "cohorts by quartr").contains(#"hint: did you mean "quarter"?"#))
        #expect(Self.failure(h.db, "cohorts show revenu") == lines(
            #"query:1:14: error: expected "retention" or "revenue" after "show" (cohorts show revenue), found "revenu""#,
            #"  cohorts show revenu"#,
            #"               ^~~~~~"#,
            #"  hint: did you mean "revenue"?"#))
        #expect(Self.failure(h.db, "cohorts sho revenue") == lines(
            #"query:1:9: error: expected "by", "show", "where" or end of query, found "sho""#,
            #"  cohorts sho revenue"#,
            #"          ^~~"#,
            #"  hint: did you mean "show"?"#))
        #expect(Self.failure(h.db, "cohorts show revenue by year").contains(#"error: "by" must come before "show""#))
        #expect(Self.failure(h.db, "cohorts where spend > 5d").contains(#"cannot compare "spend" (a money) with "5d" (a duration)"#))
        #expect(Self.failure(h.db, "paths botox") == lines(
            #"query:1:7: error: expected "from" after "paths" (paths from "botox" within 90d), found "botox""#,
            #"  paths botox"#,
            #"        ^~~~~"#))
        #expect(Self.failure(h.db, "paths from botox within 90") == lines(
            #"query:1:25: error: "within" needs a duration, but 90 is a number"#,
            #"  paths from botox within 90"#,
            #"                          ^~"#,
            #"  hint: write 90d for 90 days (or 90w, 90m, 90y)"#))
        #expect(Self.failure(h.db, "paths from botox witin 90d").contains(#"hint: did you mean "within"?"#))
        #expect(Self.failure(h.db, "paths from laser hair") == lines(
            #"query:1:18: error: expected "within" or end of query, found "hair""#,
            #"  paths from laser hair"#,
            #"                   ^~~~"#,
            #"  hint: a service whose name has spaces goes in quotes: paths from "laser hair""#))
        #expect(Self.failure(h.db, "paths from 90d").contains(#"expected a service after "from""#))
        let p = try Self.pathsHistory()
        #expect(Self.failure(p.db, "paths from \"botx\" within 30d") == lines(
            #"query:1:12: error: no visit has the service "botx""#,
            #"  paths from "botx" within 30d"#,
            #"             ^~~~~~"#,
            #"  hint: did you mean "Botox"?"#))
        // An unfinished statement is incomplete for the shell, not wrong.
        #expect(StatementStatus(of: "paths from") == .incomplete)
        #expect(StatementStatus(of: "cohorts by") == .incomplete)
        #expect(StatementStatus(of: "clv by source where") == .incomplete)
    }

    @Test func parametersBindInAnalyticStatements() throws {
        let h = try Self.clvHistory()
        let r = try h.db.query("clv where source = $s", parameters: ["s": .string("referral")], today: day("2025-06-30"))
        #expect(Self.record(r)["apv"] == Self.money("90"))
    }

    // MARK: Every format

    @Test func everyStatementInEveryFormat() throws {
        let h = try Self.cohortHistory()
        let statements = ["clv", "clv by source", "cohorts by quarter", "cohorts by year show revenue", "paths from \"Facial\" within 30d"]
        let p = try Self.pathsHistory()
        for text in statements {
            let db = text.hasPrefix("paths") ? p.db : h.db
            let r = try db.query(text, today: Self.cohortToday)
            #expect(!r.rows.isEmpty, "\(text)")
            // Streaming gives the same table.
            var columns: [Column] = []
            var rows: [[Value]] = []
            try db.query(text, today: Self.cohortToday, columns: { columns = $0 }, row: { rows.append($0) })
            #expect(QueryResult(columns: columns, rows: rows) == r)
            for format in OutputFormat.allCases {
                let out = r.rendered(as: format)
                #expect(!out.isEmpty, "\(text) as \(format)")
            }
        }
        // Machine formats carry raw numbers: retention as a fraction, money in dollars.
        let q = try h.db.query("cohorts by quarter", today: Self.cohortToday)
        #expect(q.rendered(as: .csv) == "cohort,clients,p0,p1,p2\n2024-Q4,1,1,1,0\n2025-Q1,3,1,\(1.0 / 3.0),\n")
        #expect(q.rendered(as: .ndjson).split(separator: "\n").last
                == "{\"cohort\":\"2025-Q1\",\"clients\":3,\"p0\":1,\"p1\":\(1.0 / 3.0),\"p2\":null}")
        let json = try h.db.query("cohorts by year show revenue", today: Self.cohortToday).rendered(as: .json)
        #expect(json == "[\n{\"cohort\":2024,\"clients\":1,\"p0\":0,\"p1\":40},\n{\"cohort\":2025,\"clients\":3,\"p0\":133.33,\"p1\":null}\n]\n")
        let clv = try h.db.query("clv", today: Self.cohortToday).rendered(as: .markdown)
        #expect(clv.hasPrefix("| clients | apv | frequency | lifespan_years | clv | cac | clv_cac |\n"))
        let table = try p.db.query("paths from facial", today: Self.cohortToday)
        #expect(table.rendered(as: .table).hasPrefix("next"))
    }

    @Test func theCommandLineRunsAnalyticStatements() throws {
        let (dir, db) = try clinic()
        defer { withExtendedLifetime(dir) {} }
        for (q, header) in [("clv by source", "source,clients,apv,frequency,lifespan_years,clv,cac,clv_cac"),
                            ("cohorts by year", "cohort,clients,p0,p1,p2"),
                            ("paths from botox within 1y", "next,clients,share,avg_spend_after")] {
            let r = try runProduct("patron", ["query", q, "--db", db, "--today", "2025-01-01", "--format", "csv"])
            #expect(r.status == 0 && r.err.isEmpty, "\(q): \(r.err)")
            #expect(r.out.hasPrefix(header + "\n"), "\(q): \(r.out)")
        }
        let bad = try runProduct("patron", ["query", "cohorts by week", "--db", db])
        #expect(bad.status == 1 && bad.err.contains(#"expected "month", "quarter" or "year" after "by""#))
    }
}
