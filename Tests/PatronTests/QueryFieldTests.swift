import Foundation
import Testing
@testable import Patron

/// Every non-model client field of SPEC 3.5, read through the query language on
/// small hand-built histories. Every expected value is worked out by hand in the
/// comments (SPEC 3.5 and 3.11), never by asking the engine twice.
@Suite struct QueryFieldTests {
    // MARK: Helpers

    /// A database in a fresh directory (the directory lives as long as the value).
    final class DB {
        let dir = TempDir()
        let db: Database
        init(_ events: [Event]) throws {
            db = try Database(path: dir.path("db"))
            if !events.isEmpty { try db.appendAndWait(events) }
        }
    }

    static func e(_ client: String, _ at: String, _ payload: Payload) -> Event {
        Event(client: client, at: ms(at), payload: payload)
    }
    static func usd(_ text: String) -> Money { Money(parsing: text)! }
    static func money(_ text: String) -> Value { .money(usd(text)) }
    static func date(_ text: String) -> Value { .date(day(text)) }
    static func visit(_ c: String, _ at: String, location: String? = nil, provider: String? = nil, services: [String] = []) -> Event {
        e(c, at, .visit(Visit(location: location, provider: provider, services: services)))
    }
    static func purchase(_ c: String, _ at: String, _ amount: String, items: [PurchaseItem] = [], location: String? = nil,
                         provider: String? = nil) -> Event {
        e(c, at, .purchase(Purchase(amount: usd(amount), items: items, location: location, provider: provider)))
    }

    /// `clients where id = "<client>" show id, <fields>` → field name → value; checks the
    /// columns are named after the fields and that there is exactly one row.
    static func fields(_ db: Database, _ client: String, _ names: [String], today: String,
                       sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Value] {
        let r = try db.query("clients where id = \"\(client)\" show id, " + names.joined(separator: ", "), today: day(today))
        #expect(r.columns.map(\.name) == ["id"] + names, sourceLocation: sourceLocation)
        try #require(r.rows.count == 1, "client \(client) should be one row, got \(r.rows)", sourceLocation: sourceLocation)
        #expect(r.rows[0][0] == .string(client), sourceLocation: sourceLocation)
        var out: [String: Value] = [:]
        for (i, n) in names.enumerated() { out[n] = r.rows[0][i + 1] }
        return out
    }

    /// `clients show id, <field>` → client id → value.
    static func column(_ db: Database, _ field: String, today: String) throws -> [String: Value] {
        let r = try db.query("clients show id, \(field)", today: day(today))
        #expect(r.columns.map(\.name) == ["id", field])
        var out: [String: Value] = [:]
        for row in r.rows {
            guard case .string(let id) = row[0] else { Issue.record("id is not a string: \(row)"); continue }
            out[id] = row[1]
        }
        return out
    }

    static func expectNumber(_ v: Value?, _ x: Double, sourceLocation: SourceLocation = #_sourceLocation) {
        guard case .number(let y)? = v else {
            Issue.record("expected the number \(x), got \(String(describing: v))", sourceLocation: sourceLocation)
            return
        }
        #expect(abs(y - x) < 1e-9, "expected \(x), got \(y)", sourceLocation: sourceLocation)
    }

    // MARK: Client-event fields

    @Test func clientEventFieldsTakeTheLatestValueByAtThenPosition() throws {
        let h = try DB([
            // 1. the first registration by position, not by `at`
            Self.e("alice", "2025-01-10T09:00:00Z", .client(ClientDetails(name: "Alice A", email: "a@x.com", phone: "555-0101", location: "Midtown",
                                                                          source: "instagram", acquisitionCost: Self.usd("40")))),
            // 2. a later update of name and source only
            Self.e("alice", "2025-02-01T09:00:00Z", .client(ClientDetails(name: "Alice B", source: "referral"))),
            // 3. the same instant as 2, appended later: its source wins on position
            Self.e("alice", "2025-02-01T09:00:00Z", .client(ClientDetails(source: "google"))),
            // 4. appended late but the earliest `at`: it is overridden by 1 for every field it sets
            Self.e("alice", "2025-01-05T09:00:00Z", .client(ClientDetails(name: "Old", email: "old@x.com", phone: "555-0000", location: "Eastside",
                                                                          source: "walk-in", acquisitionCost: Self.usd("25.50")))),
            // 5. after today (2025-06-30): ignored
            Self.e("alice", "2025-07-15", .client(ClientDetails(name: "Future", email: "f@x.com", phone: "555-9", location: "Westside",
                                                                source: "tv", acquisitionCost: Self.usd("99")))),
            // visits elsewhere: the client-event location still wins
            Self.visit("alice", "2025-03-01", location: "Uptown"),
            Self.visit("alice", "2025-03-02", location: "Uptown"),
            Self.visit("alice", "2025-03-03", location: "Uptown"),
        ])
        let names = ["name", "email", "phone", "source", "location", "registered", "acquisition_cost"]
        // today 2025-06-30: name from 2 ("Alice B", 2025-02-01), email/phone/location/cost from 1
        // (2025-01-10 beats 2025-01-05), source from 3 (same instant as 2, later position),
        // registered = day of the first client event by `at` = 2025-01-05 (event 4).
        let now = try Self.fields(h.db, "alice", names, today: "2025-06-30")
        #expect(now["name"] == .string("Alice B"))
        #expect(now["email"] == .string("a@x.com"))
        #expect(now["phone"] == .string("555-0101"))
        #expect(now["source"] == .string("google"))
        #expect(now["location"] == .string("Midtown"))
        #expect(now["registered"] == Self.date("2025-01-05"))
        #expect(now["acquisition_cost"] == Self.money("40.00"))
        // today 2025-01-07: only event 4 exists.
        let early = try Self.fields(h.db, "alice", names, today: "2025-01-07")
        #expect(early["name"] == .string("Old"))
        #expect(early["email"] == .string("old@x.com"))
        #expect(early["phone"] == .string("555-0000"))
        #expect(early["source"] == .string("walk-in"))
        #expect(early["location"] == .string("Eastside"))
        #expect(early["registered"] == Self.date("2025-01-05"))
        #expect(early["acquisition_cost"] == Self.money("25.50"))
        // today 2025-07-20: event 5 now counts.
        let later = try Self.fields(h.db, "alice", names, today: "2025-07-20")
        #expect(later["name"] == .string("Future"))
        #expect(later["source"] == .string("tv"))
        #expect(later["location"] == .string("Westside"))
        #expect(later["acquisition_cost"] == Self.money("99"))
        #expect(later["registered"] == Self.date("2025-01-05"))
    }

    @Test func idIsTheClientKey() throws {
        let h = try DB([Self.visit("zoe-17", "2025-01-01"), Self.visit("Adam", "2025-01-02")])
        let r = try h.db.query("clients show id", today: day("2025-06-30"))
        #expect(r.columns == [Column(name: "id", kind: .string)])
        // natural order is by key: "Adam" < "zoe-17"
        #expect(r.rows == [[.string("Adam")], [.string("zoe-17")]])
    }

    @Test func locationFallsBackToTheMostFrequentVisitLocation() throws {
        let h = try DB([
            Self.e("bob", "2025-01-01", .client(ClientDetails(name: "Bob"))),  // no location
            Self.visit("bob", "2025-02-01", location: "Uptown"),
            Self.visit("bob", "2025-02-10", location: "Uptown"),
            Self.visit("bob", "2025-03-01", location: "Midtown"),
            // purchase locations are not visit locations
            Self.purchase("bob", "2025-03-05", "10", location: "Downtown"),
            Self.purchase("bob", "2025-03-06", "10", location: "Downtown"),
            Self.purchase("bob", "2025-03-07", "10", location: "Downtown"),
            // carol: the Mar 1 visit is appended first; Uptown 2 (Jan 5, Feb 1) vs Midtown 2 (Jan 20, Mar 1)
            Self.visit("carol", "2025-03-01", location: "Midtown"),
            Self.visit("carol", "2025-01-05", location: "Uptown"),
            Self.visit("carol", "2025-01-20", location: "Midtown"),
            Self.visit("carol", "2025-02-01", location: "Uptown"),
            // after today: would make Eastside the most frequent
            Self.visit("carol", "2025-08-01", location: "Eastside"),
            Self.visit("carol", "2025-08-02", location: "Eastside"),
            Self.visit("carol", "2025-08-03", location: "Eastside"),
        ])
        let loc = try Self.column(h.db, "location", today: "2025-06-30")
        // bob: Uptown 2, Midtown 1 (Downtown purchases do not count) → Uptown
        #expect(loc["bob"] == .string("Uptown"))
        // carol: tie 2–2, Midtown's last visit (Mar 1) is the most recent → Midtown
        #expect(loc["carol"] == .string("Midtown"))
        // carol on 2025-02-15: Uptown 2 (Jan 5, Feb 1), Midtown 1 (Jan 20) → Uptown
        #expect(try Self.fields(h.db, "carol", ["location"], today: "2025-02-15")["location"] == .string("Uptown"))
        // carol on 2025-01-25: Uptown 1 (Jan 5), Midtown 1 (Jan 20) → tie, most recent Midtown
        #expect(try Self.fields(h.db, "carol", ["location"], today: "2025-01-25")["location"] == .string("Midtown"))
        // `locations` is the set of visit locations: no Downtown, no future Eastside
        #expect(try Self.column(h.db, "locations", today: "2025-06-30")["bob"] == .list(["Midtown", "Uptown"]))
        #expect(try Self.column(h.db, "locations", today: "2025-06-30")["carol"] == .list(["Midtown", "Uptown"]))
    }

    @Test func providerIsTheProviderOfMostVisitsTiesToTheMostRecent() throws {
        let h = try DB([
            Self.visit("dave", "2025-03-01", provider: "Dr. Lee"),  // appended first
            Self.visit("dave", "2025-01-01", provider: "Dr. Kim"),
            Self.visit("dave", "2025-01-15", provider: "Dr. Kim"),
            Self.visit("dave", "2025-02-01", provider: "Dr. Lee"),
            Self.visit("dave", "2025-08-01", provider: "Dr. Kim"),  // after today
            // ed: purchases by Dr. Zed do not count, only visits
            Self.visit("ed", "2025-01-01", provider: "Dr. Kim"),
            Self.purchase("ed", "2025-01-02", "10", provider: "Dr. Zed"),
            Self.purchase("ed", "2025-01-03", "10", provider: "Dr. Zed"),
        ])
        // dave on 2025-06-30: Kim 2 (Jan 1, Jan 15), Lee 2 (Feb 1, Mar 1) → tie; Lee's Mar 1 is most recent → Dr. Lee
        let now = try Self.column(h.db, "provider", today: "2025-06-30")
        #expect(now["dave"] == .string("Dr. Lee"))
        #expect(now["ed"] == .string("Dr. Kim"))
        // dave on 2025-02-10: Kim 2, Lee 1 (Feb 1) → Dr. Kim
        #expect(try Self.fields(h.db, "dave", ["provider"], today: "2025-02-10")["provider"] == .string("Dr. Kim"))
        // dave on 2025-08-02: Kim 3, Lee 2 → Dr. Kim
        #expect(try Self.fields(h.db, "dave", ["provider"], today: "2025-08-02")["provider"] == .string("Dr. Kim"))
        // providers is the set of visit providers (no Dr. Zed)
        #expect(try Self.column(h.db, "providers", today: "2025-06-30")["ed"] == .list(["Dr. Kim"]))
        #expect(try Self.column(h.db, "providers", today: "2025-06-30")["dave"] == .list(["Dr. Kim", "Dr. Lee"]))
    }

    // MARK: Activity days

    static let activityFields = ["first_seen", "last_seen", "first_visit", "last_visit", "active_days", "visits", "purchases",
                                 "refunds", "lapsed", "tenure", "lifespan", "frequency", "cadence", "overdue", "next_due"]

    @Test func activityFieldsWithAnEvenNumberOfGaps() throws {
        let h = try DB([
            // 2025-03-14T23:30-05:00 is 2025-03-15T04:30Z: day 2025-03-15 in UTC
            Self.e("erin", "2025-03-14T23:30:00-05:00", .visit(Visit(location: "Midtown"))),
            Self.purchase("erin", "2025-01-10T12:00:00Z", "100"),
            Self.visit("erin", "2025-01-20T10:00:00Z"),
            Self.purchase("erin", "2025-01-20T15:00:00Z", "50"),  // same day as the visit: one activity day
            Self.visit("erin", "2025-02-19"),
            Self.purchase("erin", "2025-04-05", "30"),
            // not activity
            Self.e("erin", "2025-05-01", .refund(Refund(amount: Self.usd("10")))),
            Self.e("erin", "2025-06-01", .reward(Reward(points: 10, kind: "earned"))),
            Self.e("erin", "2025-06-10", .tier(TierChange(tier: "gold"))),
            Self.e("erin", "2025-06-15", .feedback(Feedback(score: 5))),
            Self.e("erin", "2025-06-20", .membership(Membership(plan: "Glow", action: .start))),
            Self.e("erin", "2025-06-25", .client(ClientDetails(name: "Erin"))),
            // after today (2025-06-30)
            Self.visit("erin", "2025-08-01"),
            Self.purchase("erin", "2025-07-01", "70"),
        ])
        let f = try Self.fields(h.db, "erin", Self.activityFields, today: "2025-06-30")
        // activity days: Jan 10, Jan 20, Feb 19, Mar 15, Apr 5 → 5
        #expect(f["first_seen"] == Self.date("2025-01-10"))
        #expect(f["last_seen"] == Self.date("2025-04-05"))
        #expect(f["first_visit"] == Self.date("2025-01-20"))
        #expect(f["last_visit"] == Self.date("2025-03-15"))
        #expect(f["active_days"] == .number(5))
        #expect(f["visits"] == .number(3))  // Jan 20, Feb 19, Mar 15 (Aug 1 is after today)
        #expect(f["purchases"] == .number(3))  // Jan 10, Jan 20, Apr 5 (Jul 1 is after today)
        #expect(f["refunds"] == .number(1))
        // lapsed = Jun 30 − Apr 5 = 25 + 31 + 30 = 86
        #expect(f["lapsed"] == .duration(86))
        // tenure = Jun 30 − Jan 10 = 21 + 28 + 31 + 30 + 31 + 30 = 171
        #expect(f["tenure"] == .duration(171))
        // lifespan = Apr 5 − Jan 10 = 21 + 28 + 31 + 5 = 85
        #expect(f["lifespan"] == .duration(85))
        // frequency = 5 × 365 / max(171, 30) = 1825 / 171
        Self.expectNumber(f["frequency"], 1825.0 / 171.0)
        // gaps 10 (Jan 10→20), 30 (→Feb 19), 24 (→Mar 15), 21 (→Apr 5); sorted 10, 21, 24, 30 → (21 + 24) / 2 = 22.5
        #expect(f["cadence"] == .duration(22.5))
        // overdue = 86 − 22.5 = 63.5
        #expect(f["overdue"] == .duration(63.5))
        // next_due = Apr 5 + floor(22.5) = Apr 5 + 22 = Apr 27
        #expect(f["next_due"] == Self.date("2025-04-27"))
        // the visit's own day is 2025-03-15 too
        let v = try h.db.query("visits where client = erin show at", today: day("2025-06-30"))
        #expect(v.rows.map { $0[0] } == [Self.date("2025-03-15"), Self.date("2025-01-20"), Self.date("2025-02-19")])
        let onFifteenth = try h.db.query("clients where last_visit = 2025-03-15 show id", today: day("2025-06-30"))
        #expect(onFifteenth.rows == [[.string("erin")]])
    }

    @Test func activityFieldsWithAnOddNumberOfGaps() throws {
        let h = try DB([
            Self.visit("frank", "2025-03-12"),
            Self.visit("frank", "2025-01-01"),
            Self.purchase("frank", "2025-01-31", "20"),
            Self.visit("frank", "2025-01-11"),
        ])
        let f = try Self.fields(h.db, "frank", Self.activityFields, today: "2025-06-30")
        // days Jan 1, Jan 11, Jan 31, Mar 12 → gaps 10, 20, 40 → median 20
        #expect(f["cadence"] == .duration(20))
        #expect(f["first_seen"] == Self.date("2025-01-01"))
        #expect(f["last_seen"] == Self.date("2025-03-12"))
        #expect(f["first_visit"] == Self.date("2025-01-01"))
        #expect(f["last_visit"] == Self.date("2025-03-12"))
        #expect(f["active_days"] == .number(4))
        #expect(f["visits"] == .number(3))
        #expect(f["purchases"] == .number(1))
        #expect(f["refunds"] == .number(0))
        // lapsed = Jun 30 − Mar 12 = 19 + 30 + 31 + 30 = 110
        #expect(f["lapsed"] == .duration(110))
        // tenure = Jun 30 − Jan 1 = 180; lifespan = Mar 12 − Jan 1 = 30 + 28 + 12 = 70
        #expect(f["tenure"] == .duration(180))
        #expect(f["lifespan"] == .duration(70))
        // frequency = 4 × 365 / 180
        Self.expectNumber(f["frequency"], 1460.0 / 180.0)
        // overdue = 110 − 20 = 90; next_due = Mar 12 + 20 = Apr 1
        #expect(f["overdue"] == .duration(90))
        #expect(f["next_due"] == Self.date("2025-04-01"))
        // on 2025-03-20: lapsed 8 → overdue 8 − 20 = −12 (not yet due)
        let early = try Self.fields(h.db, "frank", ["lapsed", "overdue", "next_due"], today: "2025-03-20")
        #expect(early["lapsed"] == .duration(8))
        #expect(early["overdue"] == .duration(-12))
        #expect(early["next_due"] == Self.date("2025-04-01"))
    }

    @Test func oneActivityDay() throws {
        let h = try DB([
            Self.visit("gina", "2025-06-20T09:00:00Z"),
            Self.purchase("gina", "2025-06-20T17:00:00Z", "80"),  // same day: still one activity day
        ])
        let f = try Self.fields(h.db, "gina", Self.activityFields + ["aov"], today: "2025-06-30")
        #expect(f["active_days"] == .number(1))
        #expect(f["visits"] == .number(1))
        #expect(f["purchases"] == .number(1))
        #expect(f["first_seen"] == Self.date("2025-06-20"))
        #expect(f["last_seen"] == Self.date("2025-06-20"))
        #expect(f["lifespan"] == .duration(0))
        #expect(f["tenure"] == .duration(10))
        #expect(f["lapsed"] == .duration(10))
        // fewer than 2 activity days: no cadence, so no overdue or next_due
        #expect(f["cadence"] == .null)
        #expect(f["overdue"] == .null)
        #expect(f["next_due"] == .null)
        // frequency = 1 × 365 / max(10, 30) = 365 / 30 (the 30-day floor)
        Self.expectNumber(f["frequency"], 365.0 / 30.0)
        #expect(f["aov"] == Self.money("80"))
        // on the day itself: tenure 0, still the 30-day floor
        let same = try Self.fields(h.db, "gina", ["tenure", "lapsed", "frequency"], today: "2025-06-20")
        #expect(same["tenure"] == .duration(0))
        #expect(same["lapsed"] == .duration(0))
        Self.expectNumber(same["frequency"], 365.0 / 30.0)
    }

    // MARK: Money

    @Test func spendRefundedAovAndClv() throws {
        let h = try DB([
            Self.purchase("hank", "2025-01-01", "100.00"),
            Self.purchase("hank", "2025-02-01", "20.05"),
            Self.e("hank", "2025-02-05", .refund(Refund(amount: Self.usd("10.00")))),
            Self.e("hank", "2025-07-05", .refund(Refund(amount: Self.usd("50.00")))),  // after today
            Self.purchase("ivy", "2025-01-01", "10.00"),
            Self.purchase("ivy", "2025-01-02", "10.00"),
            Self.purchase("ivy", "2025-01-03", "10.01"),
            Self.purchase("jack", "2025-01-01", "5.00"),
            Self.purchase("jack", "2025-01-02", "5.00"),
            Self.e("jack", "2025-01-03", .refund(Refund(amount: Self.usd("20.05")))),
            // amount from the items: 12.34 + 0.66 = 13.00
            Self.e("kim", "2025-01-01", .purchase(Purchase(items: [PurchaseItem(name: "a", amount: Self.usd("12.34")),
                                                                   PurchaseItem(name: "b", amount: Self.usd("0.66"))]))),
        ])
        let names = ["spend", "refunded", "aov", "clv", "purchases", "refunds"]
        // hank: spend = 100.00 + 20.05 − 10.00 = 110.05; aov = 110.05 / 2 = 55.025 → $55.03 (half away from zero)
        let hank = try Self.fields(h.db, "hank", names, today: "2025-06-30")
        #expect(hank["spend"] == Self.money("110.05"))
        #expect(hank["refunded"] == Self.money("10.00"))
        #expect(hank["aov"] == Self.money("55.03"))
        #expect(hank["clv"] == Self.money("110.05"))
        #expect(hank["purchases"] == .number(2))
        #expect(hank["refunds"] == .number(1))
        // ivy: spend 30.01; aov = 30.01 / 3 = 10.00333… → $10.00
        let ivy = try Self.fields(h.db, "ivy", names, today: "2025-06-30")
        #expect(ivy["spend"] == Self.money("30.01"))
        #expect(ivy["refunded"] == Self.money("0"))
        #expect(ivy["aov"] == Self.money("10.00"))
        #expect(ivy["clv"] == Self.money("30.01"))
        #expect(ivy["refunds"] == .number(0))
        // jack: spend = 10.00 − 20.05 = −10.05; aov = −5.025 → −$5.03 (away from zero)
        let jack = try Self.fields(h.db, "jack", names, today: "2025-06-30")
        #expect(jack["spend"] == .money(Money(cents: -1005)))
        #expect(jack["refunded"] == Self.money("20.05"))
        #expect(jack["aov"] == .money(Money(cents: -503)))
        #expect(jack["clv"] == .money(Money(cents: -1005)))
        let kim = try Self.fields(h.db, "kim", names, today: "2025-06-30")
        #expect(kim["spend"] == Self.money("13.00"))
        #expect(kim["aov"] == Self.money("13.00"))
        // hank with today after the second refund: 120.05 − 60.00 = 60.05; aov 30.025 → $30.03
        let later = try Self.fields(h.db, "hank", names, today: "2025-07-05")
        #expect(later["spend"] == Self.money("60.05"))
        #expect(later["refunded"] == Self.money("60.00"))
        #expect(later["aov"] == Self.money("30.03"))
        #expect(later["refunds"] == .number(2))
    }

    @Test func pointsSumRewardPoints() throws {
        let h = try DB([
            Self.e("lou", "2025-01-01", .reward(Reward(points: 100, kind: "earned", reason: "signup"))),
            Self.e("lou", "2025-02-01", .reward(Reward(points: -30, kind: "redeemed"))),
            Self.e("lou", "2025-03-01", .reward(Reward(points: 7, kind: "adjusted"))),
            Self.e("lou", "2025-07-01", .reward(Reward(points: 500, kind: "earned"))),  // after today
        ])
        // 100 − 30 + 7 = 77
        #expect(try Self.column(h.db, "points", today: "2025-06-30")["lou"] == .number(77))
        // on 2025-02-15: 100 − 30 = 70
        #expect(try Self.column(h.db, "points", today: "2025-02-15")["lou"] == .number(70))
    }

    // MARK: Latest-event fields

    @Test func tierIsTheLatestByAtThenPosition() throws {
        let h = try DB([
            Self.e("kate", "2025-03-01", .tier(TierChange(tier: "silver"))),
            Self.e("kate", "2025-05-01", .tier(TierChange(tier: "gold"))),
            Self.e("kate", "2025-02-01", .tier(TierChange(tier: "bronze"))),  // appended last, earliest at
            Self.e("kate", "2025-07-10", .tier(TierChange(tier: "platinum"))),  // after today
            // same instant: the later position wins
            Self.e("liam", "2025-04-01T10:00:00Z", .tier(TierChange(tier: "silver"))),
            Self.e("liam", "2025-04-01T10:00:00Z", .tier(TierChange(tier: "gold"))),
            Self.e("mia", "2025-04-01T10:00:00Z", .tier(TierChange(tier: "gold"))),
            Self.e("mia", "2025-04-01T10:00:00Z", .tier(TierChange(tier: "silver"))),
            Self.visit("noah", "2025-01-01"),  // no tier event
        ])
        let t = try Self.column(h.db, "tier", today: "2025-06-30")
        #expect(t["kate"] == .string("gold"))  // May 1 is the latest on or before Jun 30
        #expect(t["liam"] == .string("gold"))
        #expect(t["mia"] == .string("silver"))
        #expect(t["noah"] == .null)
        #expect(try Self.column(h.db, "tier", today: "2025-03-15")["kate"] == .string("silver"))
        #expect(try Self.column(h.db, "tier", today: "2025-02-15")["kate"] == .string("bronze"))
        #expect(try Self.column(h.db, "tier", today: "2025-07-10")["kate"] == .string("platinum"))
    }

    @Test func memberAndPlanFollowTheLatestMembershipEvent() throws {
        let h = try DB([
            Self.e("nora", "2025-04-01", .membership(Membership(plan: "Glow", action: .cancel))),  // appended first
            Self.e("nora", "2025-01-01", .membership(Membership(plan: "Glow", action: .start, fee: Self.usd("99")))),
            Self.e("oscar", "2025-01-01", .membership(Membership(plan: "Basic", action: .start, fee: Self.usd("49")))),
            Self.e("oscar", "2025-03-01", .membership(Membership(plan: "Premium", action: .start, fee: Self.usd("149")))),
            Self.e("oscar", "2025-02-01", .membership(Membership(action: .cancel))),  // appended last
            Self.e("pat", "2025-01-01", .membership(Membership(plan: "Gold", action: .start))),
            Self.e("pat", "2025-07-10", .membership(Membership(plan: "Gold", action: .cancel))),  // after today
            Self.visit("quentin", "2025-01-01"),
        ])
        func mp(_ c: String, _ today: String) throws -> [Value] {
            let f = try Self.fields(h.db, c, ["member", "plan"], today: today)
            return [f["member"] ?? .string("missing"), f["plan"] ?? .string("missing")]
        }
        // nora: start Jan 1, cancel Apr 1 → on Jun 30 not a member; on Mar 1 a Glow member
        #expect(try mp("nora", "2025-06-30") == [.bool(false), .null])
        #expect(try mp("nora", "2025-03-01") == [.bool(true), .string("Glow")])
        // oscar: Basic Jan 1, cancel Feb 1, Premium Mar 1
        #expect(try mp("oscar", "2025-06-30") == [.bool(true), .string("Premium")])
        #expect(try mp("oscar", "2025-02-15") == [.bool(false), .null])
        #expect(try mp("oscar", "2025-01-15") == [.bool(true), .string("Basic")])
        // pat: the cancel is after today
        #expect(try mp("pat", "2025-06-30") == [.bool(true), .string("Gold")])
        #expect(try mp("pat", "2025-07-10") == [.bool(false), .null])
        // no membership event: false, no plan
        #expect(try mp("quentin", "2025-06-30") == [.bool(false), .null])
    }

    @Test func satisfactionIsTheLatestScoreAndAvgSatisfactionTheMean() throws {
        let h = try DB([
            Self.e("pia", "2025-06-01", .feedback(Feedback(score: 2))),  // appended first
            Self.e("pia", "2025-05-01", .feedback(Feedback(score: 4))),
            Self.e("pia", "2025-03-01", .feedback(Feedback(score: 5))),
            Self.e("pia", "2025-07-15", .feedback(Feedback(score: 1))),  // after today
            Self.e("ray", "2025-04-01T10:00:00Z", .feedback(Feedback(score: 3))),
            Self.e("ray", "2025-04-01T10:00:00Z", .feedback(Feedback(score: 5))),  // same instant, later position
            Self.visit("sol", "2025-01-01"),
        ])
        let names = ["satisfaction", "avg_satisfaction"]
        // pia on Jun 30: latest is Jun 1 → 2; mean (2 + 4 + 5) / 3 = 11/3
        let pia = try Self.fields(h.db, "pia", names, today: "2025-06-30")
        #expect(pia["satisfaction"] == .number(2))
        Self.expectNumber(pia["avg_satisfaction"], 11.0 / 3.0)
        // pia on May 15: latest May 1 → 4; mean (4 + 5) / 2 = 4.5
        let early = try Self.fields(h.db, "pia", names, today: "2025-05-15")
        #expect(early["satisfaction"] == .number(4))
        Self.expectNumber(early["avg_satisfaction"], 4.5)
        // pia on Jul 15: latest 1; mean (2 + 4 + 5 + 1) / 4 = 3
        let late = try Self.fields(h.db, "pia", names, today: "2025-07-15")
        #expect(late["satisfaction"] == .number(1))
        Self.expectNumber(late["avg_satisfaction"], 3)
        // ray: same instant → the later position: 5; mean 4
        let ray = try Self.fields(h.db, "ray", names, today: "2025-06-30")
        #expect(ray["satisfaction"] == .number(5))
        Self.expectNumber(ray["avg_satisfaction"], 4)
        let sol = try Self.fields(h.db, "sol", names, today: "2025-06-30")
        #expect(sol["satisfaction"] == .null)
        #expect(sol["avg_satisfaction"] == .null)
    }

    // MARK: Lists

    @Test func listFieldsAreSortedSetsOfValuesUpToToday() throws {
        let h = try DB([
            Self.visit("quinn", "2025-02-01", location: "Uptown", provider: "Dr. Lee", services: ["peel", "facial"]),
            Self.visit("quinn", "2025-01-01", location: "Midtown", provider: "Dr. Kim", services: ["facial", "botox"]),
            Self.visit("quinn", "2025-08-01", location: "Eastside", provider: "Dr. Zed", services: ["laser"]),  // after today
            Self.e("quinn", "2025-03-01", .purchase(Purchase(items: [
                PurchaseItem(name: "serum", category: "skincare", amount: Self.usd("40")),
                PurchaseItem(name: "filler", category: "injectable", amount: Self.usd("500")),
            ], location: "Downtown"))),
            Self.e("quinn", "2025-04-01", .purchase(Purchase(items: [
                PurchaseItem(name: "cream", category: "skincare", quantity: 2, amount: Self.usd("30")),
                PurchaseItem(name: "serum", category: "skincare", amount: Self.usd("40")),
            ]))),
            Self.e("quinn", "2025-07-01", .purchase(Purchase(items: [PurchaseItem(name: "wand", category: "device", amount: Self.usd("1"))]))),
            Self.e("rex", "2025-01-01", .tier(TierChange(tier: "gold"))),
        ])
        let f = try Self.fields(h.db, "quinn", ["services", "providers", "locations", "items", "categories"], today: "2025-06-30")
        #expect(f["services"] == .list(["botox", "facial", "peel"]))
        #expect(f["providers"] == .list(["Dr. Kim", "Dr. Lee"]))
        #expect(f["locations"] == .list(["Midtown", "Uptown"]))  // visit locations only
        #expect(f["items"] == .list(["cream", "filler", "serum"]))
        #expect(f["categories"] == .list(["injectable", "skincare"]))
        let r = try Self.fields(h.db, "quinn", ["services", "items"], today: "2025-01-15")
        #expect(r["services"] == .list(["botox", "facial"]))
        #expect(r["items"] == .list([]))
        // column kinds are lists
        let cols = try h.db.query("clients show services, providers, locations, items, categories", today: day("2025-06-30")).columns
        #expect(cols.map(\.kind) == [.list, .list, .list, .list, .list])
    }

    // MARK: Empty values and erasure

    @Test func emptyValuesForAClientWithOnlyATierEvent() throws {
        let h = try DB([Self.e("rita", "2025-03-01", .tier(TierChange(tier: "gold")))])
        let f = try Self.fields(h.db, "rita", Catalog.clientFields.map(\.0).filter { $0 != "id" }, today: "2025-06-30")
        for zero in ["visits", "purchases", "refunds", "active_days", "points"] { #expect(f[zero] == .number(0), "\(zero)") }
        for money in ["spend", "refunded", "clv"] { #expect(f[money] == .money(Money(cents: 0)), "\(money)") }
        #expect(f["member"] == .bool(false))
        #expect(f["tier"] == .string("gold"))
        for null in ["first_seen", "last_seen", "first_visit", "last_visit", "lapsed", "tenure", "lifespan", "frequency", "cadence",
                     "overdue", "next_due", "aov", "name", "email", "phone", "source", "location", "registered", "acquisition_cost",
                     "plan", "satisfaction", "avg_satisfaction", "provider"] {
            #expect(f[null] == .null, "\(null) should be null, got \(String(describing: f[null]))")
        }
    }

    @Test func aLeadWithOnlyAClientEvent() throws {
        let h = try DB([Self.e("lena", "2025-01-01", .client(ClientDetails(name: "Lena", source: "ads", acquisitionCost: Self.usd("30"))))])
        let f = try Self.fields(h.db, "lena", ["registered", "acquisition_cost", "source", "first_seen", "lapsed", "frequency", "aov", "spend",
                                               "member", "visits", "active_days"], today: "2025-02-01")
        #expect(f["registered"] == Self.date("2025-01-01"))
        #expect(f["acquisition_cost"] == Self.money("30"))
        #expect(f["source"] == .string("ads"))
        #expect(f["first_seen"] == .null)
        #expect(f["lapsed"] == .null)
        #expect(f["frequency"] == .null)
        #expect(f["aov"] == .null)
        #expect(f["spend"] == Self.money("0"))
        #expect(f["member"] == .bool(false))
        #expect(f["visits"] == .number(0))
        #expect(f["active_days"] == .number(0))
    }

    @Test func personalDataIsNullAfterForgetWhateverToday() throws {
        let h = try DB([
            Self.e("sam", "2025-01-05", .client(ClientDetails(name: "Sam Smith", email: "sam@example.com", phone: "555-9999", source: "instagram"))),
            Self.visit("sam", "2025-02-01"),
            Self.e("tess", "2025-01-05", .client(ClientDetails(name: "Tess", email: "tess@example.com", phone: "555-1111"))),
        ])
        let names = ["name", "email", "phone", "source", "visits"]
        let before = try Self.fields(h.db, "sam", names, today: "2025-06-30")
        #expect(before["name"] == .string("Sam Smith"))
        #expect(before["email"] == .string("sam@example.com"))
        #expect(before["phone"] == .string("555-9999"))
        try h.db.forget("sam")
        // the forget event is at the current time, after 2025-06-30: personal data is still gone
        let after = try Self.fields(h.db, "sam", names, today: "2025-06-30")
        #expect(after["name"] == .null)
        #expect(after["email"] == .null)
        #expect(after["phone"] == .null)
        #expect(after["source"] == .string("instagram"))  // not personal data
        #expect(after["visits"] == .number(1))  // facts keep counting
        let asOf = try h.db.query("clients where id = sam show name, email, phone as of 2025-03-01")
        #expect(asOf.rows == [[.null, .null, .null]])
        // another client is untouched
        #expect(try Self.fields(h.db, "tess", ["name"], today: "2025-06-30")["name"] == .string("Tess"))
    }

    /// Personal values read by a query for today are cached and reused as of an
    /// earlier day only for clients with no `client` event after that day: a renamed
    /// client shows the old name as of a day before the rename, before and after the
    /// current name was cached, on the recomputed-table path and on the replay path.
    @Test func personalValuesAsOfBeforeARename() throws {
        let h = try DB([
            Self.e("ren", "2025-01-05", .client(ClientDetails(name: "Old Name", email: "old@example.com"))),
            Self.visit("ren", "2025-02-01"),
            Self.e("ren", "2025-05-01", .client(ClientDetails(name: "New Name"))),
            Self.visit("ren", "2025-05-02"),
            Self.e("kim", "2025-01-06", .client(ClientDetails(name: "Kim", email: "kim@example.com"))),
            Self.visit("kim", "2025-05-03"),
        ])
        let now = "clients show id, name, email", then = "clients show id, name, email as of 2025-03-01"
        let expectedNow: [[Value]] = [[.string("kim"), .string("Kim"), .string("kim@example.com")],
                                      [.string("ren"), .string("New Name"), .string("old@example.com")]]
        let expectedThen: [[Value]] = [[.string("kim"), .string("Kim"), .string("kim@example.com")],
                                       [.string("ren"), .string("Old Name"), .string("old@example.com")]]
        for recomputeAbove in [0, 1_000] {
            let answers = try FastPaths.$recomputeAbove.withValue(recomputeAbove) {
                try [then, now, then, now].map { try h.db.query($0).rows }
            }
            #expect(answers[0] == expectedThen, "as of, before the cache is filled (\(recomputeAbove))")
            #expect(answers[1] == expectedNow)
            #expect(answers[2] == expectedThen, "as of, after the cache is filled (\(recomputeAbove))")
            #expect(answers[3] == expectedNow)
        }
    }

    // MARK: Every field

    @Test func everyFieldIsAColumnOfItsKind() throws {
        let h = try DB([Self.visit("a", "2025-01-01")])
        let fields: [(String, ValueKind)] = [
            ("id", .string), ("name", .string), ("email", .string), ("phone", .string), ("source", .string), ("location", .string),
            ("registered", .date), ("acquisition_cost", .money), ("first_seen", .date), ("last_seen", .date), ("first_visit", .date),
            ("last_visit", .date), ("active_days", .number), ("visits", .number), ("purchases", .number), ("refunds", .number),
            ("lapsed", .duration), ("tenure", .duration), ("lifespan", .duration), ("frequency", .number), ("cadence", .duration),
            ("overdue", .duration), ("next_due", .date), ("spend", .money), ("refunded", .money), ("aov", .money), ("clv", .money),
            ("points", .number), ("tier", .string), ("member", .boolean), ("plan", .string), ("satisfaction", .number),
            ("avg_satisfaction", .number), ("services", .list), ("providers", .list), ("locations", .list), ("items", .list),
            ("categories", .list), ("provider", .string),
        ]
        let r = try h.db.query("clients show " + fields.map(\.0).joined(separator: ", "), today: day("2025-06-30"))
        #expect(r.columns == fields.map { Column(name: $0.0, kind: $0.1) })
        #expect(r.rows.count == 1)
        for (i, v) in (r.rows.first ?? []).enumerated() where !v.isNull {
            #expect(v.kind == fields[i].1, "\(fields[i].0)")
        }
    }
}
