import Foundation
import Testing
@testable import Patron

/// Every clause and operator of the query language (SPEC 3.1–3.4, 3.6, 3.8, 3.9,
/// 3.11) on one small fixed history. Expected answers are worked out by hand from the
/// table below, never by running the engine twice.
///
/// With today = 2025-06-30:
///
/// | id   | tier     | visits | purchases | spend | last_seen  | lapsed | cadence | first_seen | source    | provider |
/// |------|----------|--------|-----------|-------|------------|--------|---------|------------|-----------|----------|
/// | ann  | gold     | 3      | 2         | $750  | 2025-06-20 | 10d    | 83d     | 2025-01-05 | instagram | Dr. Kim  |
/// | bob  | silver   | 2      | 1         | $100  | 2025-02-15 | 135d   | 14d     | 2025-02-01 | Referral  | Dr. Lee  |
/// | cara | gold     | 1      | 1         | $600  | 2025-04-01 | 90d    | null    | 2025-04-01 | null      | Dr. Kim  |
/// | dan  | bronze   | 0      | 0         | $0    | null       | null   | null    | null       | instagram | null     |
/// | eve  | platinum | 2      | 2         | $1200 | 2025-06-30 | 0d     | 241d    | 2024-11-01 | null      | Dr. Kim  |
/// | fay  | null     | 1      | 0         | $0    | 2025-05-10 | 51d    | null    | 2025-05-10 | google    | Dr. Lee  |
///
/// ann's cadence: gaps Jan 5→Mar 10 = 26 + 28 + 10 = 64, Mar 10→Jun 20 = 21 + 30 + 31 + 20 = 102 → (64 + 102) / 2 = 83.
/// eve's cadence: Nov 1 2024 → Jun 30 2025 = 29 + 31 + 31 + 28 + 31 + 30 + 31 + 30 = 241.
/// bob's lapsed: Feb 15 → Jun 30 = 13 + 31 + 30 + 31 + 30 = 135; cara's: Apr 1 → Jun 30 = 29 + 31 + 30 = 90.
@Suite struct QueryClauseTests {
    // MARK: Fixture

    static let T = day("2025-06-30")

    static func e(_ client: String, _ at: String, _ payload: Payload) -> Event {
        Event(client: client, at: ms(at), payload: payload)
    }
    static func usd(_ text: String) -> Money { Money(parsing: text)! }
    static func money(_ text: String) -> Value { .money(usd(text)) }
    static func date(_ text: String) -> Value { .date(day(text)) }
    static func visit(_ c: String, _ at: String, _ location: String, _ provider: String, _ services: [String]) -> Event {
        e(c, at, .visit(Visit(location: location, provider: provider, services: services)))
    }
    static func item(_ name: String, _ category: String, _ amount: String) -> PurchaseItem {
        PurchaseItem(name: name, category: category, amount: usd(amount))
    }

    /// The fixed history, in append order (position = index + 1).
    static let history: [Event] = [
        /* P1 */ e("ann", "2025-01-02", .client(ClientDetails(name: "Ann", location: "Midtown", source: "instagram", acquisitionCost: usd("50")))),
        /* P2 */ e("bob", "2025-01-10", .client(ClientDetails(name: "Bob", source: "Referral", acquisitionCost: usd("20")))),
        /* P3 */ e("ann", "2025-02-01", .tier(TierChange(tier: "gold"))),
        /* P4 */ e("bob", "2025-01-15", .tier(TierChange(tier: "silver"))),
        /* P5 */ visit("ann", "2025-01-05", "Midtown", "Dr. Kim", ["botox"]),
        /* P6 */ e("ann", "2025-01-05", .purchase(Purchase(amount: usd("300"), items: [item("botox", "injectable", "300")], location: "Midtown",
                                                          provider: "Dr. Kim", channel: "clinic"))),
        /* P7 */ visit("bob", "2025-02-01", "Uptown", "Dr. Lee", ["facial"]),
        /* P8 */ e("bob", "2025-02-01", .purchase(Purchase(items: [item("serum", "skincare", "120.01")], channel: "online"))),
        /* P9 */ visit("bob", "2025-02-15", "Uptown", "Dr. Lee", ["peel"]),
        /* P10 */ e("bob", "2025-02-20", .refund(Refund(amount: usd("20.01")))),
        /* P11 */ visit("ann", "2025-03-10", "Midtown", "Dr. Kim", ["botox", "facial"]),
        /* P12 */ e("ann", "2025-03-10", .feedback(Feedback(score: 5, comment: "lovely"))),
        /* P13 */ e("cara", "2025-03-01", .tier(TierChange(tier: "gold"))),
        /* P14 */ visit("cara", "2025-04-01", "Midtown", "Dr. Kim", ["Botox"]),
        /* P15 */ e("cara", "2025-04-01", .purchase(Purchase(amount: usd("600"), items: [item("juvederm", "filler", "600")], channel: "clinic"))),
        /* P16 */ e("dan", "2025-05-01", .client(ClientDetails(name: "Dan", source: "instagram", acquisitionCost: usd("30")))),
        /* P17 */ e("dan", "2025-05-01", .tier(TierChange(tier: "bronze"))),
        /* P18 */ e("fay", "2025-05-10", .client(ClientDetails(name: "Fay", source: "google"))),
        /* P19 */ visit("fay", "2025-05-10", "Uptown", "Dr. Lee", ["facial"]),
        /* P20 */ visit("ann", "2025-06-20", "Midtown", "Dr. Lee", ["filler", "botox"]),
        /* P21 */ e("ann", "2025-06-20", .purchase(Purchase(amount: usd("450"), items: [item("filler", "injectable", "450")]))),
        /* P22 */ visit("eve", "2025-06-30", "Eastside", "Dr. Kim", ["laser", "botox"]),
        /* P23 */ e("eve", "2025-06-30", .purchase(Purchase(items: [item("botox", "injectable", "150"), item("cream", "skincare", "50")],
                                                           channel: "online"))),
        /* P24 */ visit("eve", "2024-11-01", "Eastside", "Dr. Kim", ["laser"]),
        /* P25 */ e("eve", "2024-11-01", .purchase(Purchase(amount: usd("1000"), items: [item("laser", "device", "1000")]))),
        /* P26 */ e("eve", "2024-12-01", .tier(TierChange(tier: "platinum"))),
        /* P27 */ visit("ann", "2025-07-05", "Midtown", "Dr. Kim", ["botox"]),  // after today
        /* P28 */ e("bob", "2025-02-16", .feedback(Feedback(score: 2))),
        /* P29 */ e("bob", "2025-02-20", .feedback(Feedback(score: 4))),
        /* P30 */ e("ann", "2025-01-05", .reward(Reward(points: 100, kind: "earned", reason: "first visit"))),
        /* P31 */ e("ann", "2025-06-20", .reward(Reward(points: -40, kind: "redeemed"))),
        /* P32 */ e("ann", "2025-02-01", .membership(Membership(plan: "Glow", action: .start, fee: usd("99")))),
        /* P33 */ e("bob", "2025-02-01", .membership(Membership(plan: "Basic", action: .start, fee: usd("49")))),
        /* P34 */ e("bob", "2025-04-01", .membership(Membership(plan: "Basic", action: .cancel))),
        /* P35 */ e("ann", "2025-07-05", .tier(TierChange(tier: "platinum"))),  // after today
    ]

    final class Fixture {
        let dir = TempDir()
        let db: Database
        init(_ events: [Event] = QueryClauseTests.history) throws {
            db = try Database(path: dir.path("db"))
            if !events.isEmpty { try db.appendAndWait(events) }
        }
        /// Runs `text` for today = 2025-06-30 unless told otherwise.
        func run(_ text: String, _ parameters: [String: Value] = [:], today: Day = QueryClauseTests.T) throws -> QueryResult {
            try db.query(text, parameters: parameters, today: today)
        }
        /// The first column as strings (the ids of a `clients` query).
        func ids(_ text: String, _ parameters: [String: Value] = [:], today: Day = QueryClauseTests.T) throws -> [String] {
            try run(text, parameters, today: today).rows.map { row in
                if case .string(let s) = row.first ?? .null { return s }
                return "<\(String(describing: row.first))>"
            }
        }
        /// A column by name.
        func column(_ r: QueryResult, _ name: String) -> [Value] {
            guard let i = r.columns.firstIndex(where: { $0.name == name }) else {
                Issue.record("no column \(name) in \(r.columns.map(\.name))")
                return []
            }
            return r.rows.map { $0[i] }
        }
    }

    static func near(_ v: Value, _ x: Double) -> Bool {
        if case .number(let y) = v { return abs(y - x) < 1e-9 }
        return false
    }

    // MARK: Comparisons

    @Test func comparisonOperators() throws {
        let f = try Fixture()
        #expect(try f.ids("clients where tier = gold") == ["ann", "cara"])
        // fay's tier is null: a comparison with null is false, also for !=
        #expect(try f.ids("clients where tier != gold") == ["bob", "dan", "eve"])
        #expect(try f.ids("clients where visits < 2") == ["cara", "dan", "fay"])
        #expect(try f.ids("clients where visits <= 2") == ["bob", "cara", "dan", "eve", "fay"])
        #expect(try f.ids("clients where lapsed > 90d") == ["bob"])  // cara is exactly 90d
        #expect(try f.ids("clients where lapsed >= 90d") == ["bob", "cara"])
        #expect(try f.ids("clients where lapsed < 51d") == ["ann", "eve"])
        #expect(try f.ids("clients where lapsed <= 51d") == ["ann", "eve", "fay"])
        #expect(try f.ids("clients where last_seen = 2025-04-01") == ["cara"])
        #expect(try f.ids("clients where first_seen < 2025-01-05") == ["eve"])
        #expect(try f.ids("clients where spend = $100") == ["bob"])
        #expect(try f.ids("clients where spend >= $1,200.00") == ["eve"])
    }

    @Test func inAndNotIn() throws {
        let f = try Fixture()
        #expect(try f.ids("clients where tier in (gold, silver)") == ["ann", "bob", "cara"])
        #expect(try f.ids("clients where visits in (0, 2)") == ["bob", "dan", "eve"])
        // not in with a null operand is a comparison with null: false (fay)
        #expect(try f.ids("clients where tier not in (gold, silver)") == ["dan", "eve"])
        // not (…) flips false to true: fay is in
        #expect(try f.ids("clients where not (tier in (gold, silver))") == ["dan", "eve", "fay"])
        #expect(try f.ids("clients where id in (\"eve\", 'ann')") == ["ann", "eve"])
    }

    @Test func betweenIsInclusiveAtBothEnds() throws {
        let f = try Fixture()
        #expect(try f.ids("clients where spend between $100 and $750") == ["ann", "bob", "cara"])
        #expect(try f.ids("clients where lapsed between 10d and 90d") == ["ann", "cara", "fay"])
        #expect(try f.ids("clients where last_seen between 2025-04-01 and 2025-06-20") == ["ann", "cara", "fay"])
        // dan's spend is $0 (not null): 0 is outside
        #expect(try f.ids("clients where spend not between $100 and $750") == ["dan", "eve", "fay"])
        // dan's lapsed is null: false for between and for not between
        #expect(try f.ids("clients where lapsed not between 10d and 90d") == ["bob", "eve"])
    }

    @Test func isNullAndIsNotNull() throws {
        let f = try Fixture()
        #expect(try f.ids("clients where cadence is null") == ["cara", "dan", "fay"])
        #expect(try f.ids("clients where tier is null") == ["fay"])
        #expect(try f.ids("clients where last_seen is not null") == ["ann", "bob", "cara", "eve", "fay"])
        #expect(try f.ids("clients where name is not null") == ["ann", "bob", "dan", "fay"])
        #expect(try f.ids("clients where source is null") == ["cara", "eve"])
    }

    @Test func containsOnListsAndStringsIgnoresCase() throws {
        let f = try Fixture()
        // services: ann {botox, facial, filler}, cara {Botox}, eve {botox, laser}
        #expect(try f.ids("clients where services contains botox") == ["ann", "cara", "eve"])
        #expect(try f.ids("clients where services contains \"BOTOX\"") == ["ann", "cara", "eve"])
        #expect(try f.ids("clients where categories contains skincare") == ["bob", "eve"])
        // names: Ann, Bob, Dan, Fay
        #expect(try f.ids("clients where name contains \"an\"") == ["ann", "dan"])
        #expect(try f.ids("clients where name contains 'AN'") == ["ann", "dan"])
        #expect(try f.ids("visits where services contains facial show client") == ["bob", "ann", "fay"])
        // null names (cara, eve): contains and not contains are both false; not (…) makes them true
        let notContains = try f.ids("clients where name not contains \"an\"")
        #expect(notContains == ["bob", "fay"], "a null operand makes not contains false too (SPEC 3.4), got \(notContains)")
        #expect(try f.ids("clients where not (name contains \"an\")") == ["bob", "cara", "eve", "fay"])
        #expect(try f.ids("clients where services not contains botox") == ["bob", "dan", "fay"])
    }

    @Test func inLastExcludesTodayMinusDurationAndIncludesToday() throws {
        let f = try Fixture()
        // today − 90d = 2025-04-01: cara's last_seen (Apr 1) is OUT; eve's (today) is IN
        #expect(try f.ids("clients where last_seen in last 90d") == ["ann", "eve", "fay"])
        #expect(try f.ids("clients where last_seen in last 91d") == ["ann", "cara", "eve", "fay"])
        // visits after Apr 1 up to today: P19 fay May 10, P20 ann Jun 20, P22 eve Jun 30
        #expect(try f.ids("visits where at in last 90d show client") == ["fay", "ann", "eve"])
        // not (…): dan's null last_seen makes the comparison false, so not makes it true
        #expect(try f.ids("clients where not (last_seen in last 90d)") == ["bob", "cara", "dan"])
    }

    @Test func andOrNotWithParentheses() throws {
        let f = try Fixture()
        #expect(try f.ids("clients where (tier = silver or tier = platinum) and visits = 2") == ["bob", "eve"])
        // and binds tighter than or: silver or (platinum and visits > 5)
        #expect(try f.ids("clients where tier = silver or tier = platinum and visits > 5") == ["bob"])
        #expect(try f.ids("clients where (tier = silver or tier = platinum) and visits > 5") == [])
        #expect(try f.ids("clients where not (tier = gold)") == ["bob", "dan", "eve", "fay"])
        #expect(try f.ids("clients where not tier = gold and visits > 0") == ["bob", "eve", "fay"])
        #expect(try f.ids("clients where not (tier = gold or visits = 0)") == ["bob", "eve", "fay"])
        #expect(try f.ids("clients where spend > $500 and (lapsed < 20d or cadence is null)") == ["ann", "cara", "eve"])
    }

    @Test func comparisonsWithNullAreFalseAndNotFlipsThem() throws {
        let f = try Fixture()
        // cadence: ann 83, bob 14, eve 241; null for cara, dan, fay
        #expect(try f.ids("clients where cadence = 14d") == ["bob"])
        #expect(try f.ids("clients where cadence != 14d") == ["ann", "eve"])
        #expect(try f.ids("clients where cadence < 100d") == ["ann", "bob"])
        #expect(try f.ids("clients where cadence <= 83d") == ["ann", "bob"])
        #expect(try f.ids("clients where cadence > 10d") == ["ann", "bob", "eve"])
        #expect(try f.ids("clients where cadence >= 241d") == ["eve"])
        #expect(try f.ids("clients where cadence in (14d, 83d)") == ["ann", "bob"])
        #expect(try f.ids("clients where cadence between 1d and 1000d") == ["ann", "bob", "eve"])
        #expect(try f.ids("clients where not (cadence > 10d)") == ["cara", "dan", "fay"])
        #expect(try f.ids("clients where not (cadence != 14d)") == ["bob", "cara", "dan", "fay"])
        #expect(try f.ids("clients where not (cadence = 14d)") == ["ann", "cara", "dan", "eve", "fay"])
        #expect(try f.ids("clients where not (cadence in (14d, 83d))") == ["cara", "dan", "eve", "fay"])
        #expect(try f.ids("clients where not (cadence between 1d and 1000d)") == ["cara", "dan", "fay"])
        // a null literal is a null operand too
        #expect(try f.ids("clients where tier = null") == [])
        #expect(try f.ids("clients where tier != null") == [])
        #expect(try f.ids("clients where not (tier = null)") == ["ann", "bob", "cara", "dan", "eve", "fay"])
        // arithmetic on null is null, so the comparison is false
        #expect(try f.ids("clients where cadence + 1d > 0d") == ["ann", "bob", "eve"])
        #expect(try f.ids("clients where lapsed - cadence > 0d") == ["bob"])  // overdue: ann −73, bob 121, eve −241
    }

    @Test func stringEqualityIgnoresCaseAndBareWordsAreStrings() throws {
        let f = try Fixture()
        #expect(try f.ids("clients where tier = GOLD") == ["ann", "cara"])
        #expect(try f.ids("clients where tier = \"Gold\"") == ["ann", "cara"])
        #expect(try f.ids("clients where source = instagram") == ["ann", "dan"])
        #expect(try f.ids("clients where source = 'REFERRAL'") == ["bob"])
        #expect(try f.ids("clients where provider = \"dr. lee\"") == ["bob", "fay"])
        #expect(try f.ids("clients where id = ANN") == ["ann"])
        #expect(try f.ids("clients where tier in (GOLD, Bronze)") == ["ann", "cara", "dan"])
    }

    @Test func arithmetic() throws {
        let f = try Fixture()
        let bob = try f.run("clients where id = bob show spend / 3 as third, spend / 32 as small, spend * 2 as twice, spend + $0.50 as plus, "
            + "today - 30d as back, last_seen + 10d as due, last_seen - first_seen as span, visits * 2 + 1 as n")
        #expect(bob.columns.map(\.name) == ["third", "small", "twice", "plus", "back", "due", "span", "n"])
        #expect(bob.rows == [[
            Self.money("33.33"),  // 100 / 3 = 33.333…
            Self.money("3.13"),  // 100 / 32 = 3.125 → half away from zero
            Self.money("200"),
            Self.money("100.50"),
            Self.date("2025-05-31"),  // Jun 30 − 30
            Self.date("2025-02-25"),  // Feb 15 + 10
            .duration(14),  // Feb 15 − Feb 1
            .number(5),
        ]])
        #expect(try f.run("clients where id = eve show spend / 7").rows == [[Self.money("171.43")]])  // 1200 / 7 = 171.428…
        #expect(try f.ids("clients where last_seen > today - 30d") == ["ann", "eve"])
        #expect(try f.ids("clients where last_seen - first_seen > 100d") == ["ann", "eve"])  // ann 166, eve 241
        #expect(try f.ids("clients where spend / 2 >= $300") == ["ann", "cara", "eve"])  // ann 375, bob 50, cara 300, eve 600
        // a plain number compares with money as dollars
        #expect(try f.ids("clients where spend > 500") == ["ann", "cara", "eve"])
        #expect(try f.ids("clients where spend = 100") == ["bob"])
        #expect(try f.ids("clients where 1000 < spend") == ["eve"])
        #expect(try f.run("clients where id = ann show today").rows == [[Self.date("2025-06-30")]])
    }

    @Test func kindErrors() throws {
        let f = try Fixture()
        do {
            _ = try f.run("clients where lapsed > 90")
            Issue.record("comparing a duration with a plain number should fail")
        } catch let e as QueryError {
            #expect((e.message + " " + (e.hint ?? "")).contains("90d"), "\(e)")
        }
        do {
            _ = try f.run("clients where tier > $5")
            Issue.record("comparing a string with money should fail")
        } catch let e as QueryError {
            let text = e.message + " " + (e.hint ?? "")
            #expect(text.contains("string") && text.contains("money"), "\(e)")
        }
    }

    // MARK: Grouping

    @Test func groupByDateBuckets() throws {
        let f = try Fixture()
        // visits up to today: 2024-11-01, 2025-01-05, 02-01, 02-15, 03-10, 04-01, 05-10, 06-20, 06-30
        let month = try f.run("visits group by month(at) show count() as n")
        #expect(month.columns.map(\.name).last == "n")
        #expect(month.columns.count == 2)
        #expect(month.rows == [
            [.string("2024-11"), .number(1)], [.string("2025-01"), .number(1)], [.string("2025-02"), .number(2)],
            [.string("2025-03"), .number(1)], [.string("2025-04"), .number(1)], [.string("2025-05"), .number(1)],
            [.string("2025-06"), .number(2)],
        ])
        let quarter = try f.run("visits group by quarter(at) show count()")
        #expect(quarter.rows == [[.string("2024-Q4"), .number(1)], [.string("2025-Q1"), .number(4)], [.string("2025-Q2"), .number(4)]])
        let year = try f.run("visits group by year(at) show count()")
        #expect(year.rows == [[.number(2024), .number(1)], [.number(2025), .number(8)]])
        // Mondays: Nov 1 2024 (Fri) → Oct 28; Jan 5 2025 (Sun) → Dec 30 2024; Feb 1 (Sat) → Jan 27; Feb 15 (Sat) → Feb 10;
        // Mar 10 (Mon) → Mar 10; Apr 1 (Tue) → Mar 31; May 10 (Sat) → May 5; Jun 20 (Fri) → Jun 16; Jun 30 (Mon) → Jun 30
        let week = try f.run("visits group by week(at) show count()")
        #expect(week.rows.map { $0[0] } == ["2024-10-28", "2024-12-30", "2025-01-27", "2025-02-10", "2025-03-10", "2025-03-31",
                                            "2025-05-05", "2025-06-16", "2025-06-30"].map(Self.date))
        #expect(week.rows.allSatisfy { $0[1] == .number(1) })
        // bob's events by day: Jan 10 client, Jan 15 tier, Feb 1 visit+purchase+membership, Feb 15 visit,
        // Feb 16 feedback, Feb 20 refund+feedback, Apr 1 cancel
        let byDay = try f.run("events where client = bob group by day(at) show count()")
        #expect(byDay.rows == [
            [Self.date("2025-01-10"), .number(1)], [Self.date("2025-01-15"), .number(1)], [Self.date("2025-02-01"), .number(3)],
            [Self.date("2025-02-15"), .number(1)], [Self.date("2025-02-16"), .number(1)], [Self.date("2025-02-20"), .number(2)],
            [Self.date("2025-04-01"), .number(1)],
        ])
        // a bucket of a client field
        let firstSeen = try f.run("clients group by quarter(first_seen) show count()")
        #expect(firstSeen.rows == [[.string("2024-Q4"), .number(1)], [.string("2025-Q1"), .number(2)], [.string("2025-Q2"), .number(2)],
                                   [.null, .number(1)]])
    }

    @Test func groupByPutsTheNullKeyLastAndSortsKeysIgnoringCase() throws {
        let f = try Fixture()
        let tier = try f.run("clients group by tier show count() as n, sum(spend) as total")
        #expect(tier.columns.map(\.name) == ["tier", "n", "total"])
        #expect(tier.rows == [
            [.string("bronze"), .number(1), Self.money("0")],
            [.string("gold"), .number(2), Self.money("1350")],  // ann 750 + cara 600
            [.string("platinum"), .number(1), Self.money("1200")],
            [.string("silver"), .number(1), Self.money("100")],
            [.null, .number(1), Self.money("0")],  // fay
        ])
        // ignoring case: google < instagram < Referral (byte order would put "Referral" first)
        let source = try f.run("clients group by source show count()")
        #expect(source.rows == [
            [.string("google"), .number(1)], [.string("instagram"), .number(2)], [.string("Referral"), .number(1)], [.null, .number(2)],
        ])
        // two keys
        let two = try f.run("clients where visits > 0 group by provider, member show count()")
        // ann (Dr. Kim, true), bob (Dr. Lee, false), cara (Dr. Kim, false), eve (Dr. Kim, false), fay (Dr. Lee, false)
        #expect(two.rows == [
            [.string("Dr. Kim"), .bool(false), .number(2)], [.string("Dr. Kim"), .bool(true), .number(1)],
            [.string("Dr. Lee"), .bool(false), .number(2)],
        ])
        // top on groups: 50% of 5 groups = 2.5 → 3; gold (2), then the ties in key order
        #expect(try f.run("clients group by tier show count() as n top 50% by n").rows.map { $0[0] }
            == [.string("gold"), .string("bronze"), .string("platinum")])
        // sort by overrides the key order
        let sorted = try f.run("clients group by tier show count() as n sort by n desc")
        #expect(sorted.rows.map { $0[0] } == [.string("gold"), .string("bronze"), .string("platinum"), .string("silver"), .null])
    }

    // MARK: Showing and aggregates

    @Test func showAliasesAndAggregates() throws {
        let f = try Fixture()
        #expect(try f.run("clients").columns.map(\.name) == ["id", "name", "tier", "visits", "spend", "last_seen", "lapsed"])
        let ann = try f.run("clients where id = ann show id as who, spend as \"total spend\", tier")
        #expect(ann.columns.map(\.name) == ["who", "total spend", "tier"])
        #expect(ann.rows == [[.string("ann"), Self.money("750"), .string("gold")]])
        // spends of clients with visits: 0 (fay), 100 (bob), 600 (cara), 750 (ann), 1200 (eve)
        let agg = try f.run("clients where visits > 0 show count() as n, sum(spend) as total, avg(spend) as mean, min(spend) as lo, "
            + "max(spend) as hi, median(spend) as mid, percentile(spend, 90) as p90, percentile(spend, 30) as p30, "
            + "percentile(spend, 0) as p0, percentile(spend, 100) as p100")
        #expect(agg.columns.map(\.name) == ["n", "total", "mean", "lo", "hi", "mid", "p90", "p30", "p0", "p100"])
        #expect(agg.rows == [[
            .number(5), Self.money("2650"), Self.money("530"), Self.money("0"), Self.money("1200"), Self.money("600"),
            Self.money("1020"),  // rank 0.9 × 4 = 3.6 → 750 + 0.6 × (1200 − 750) = 1020
            Self.money("200"),  // rank 0.3 × 4 = 1.2 → 100 + 0.2 × (600 − 100) = 200
            Self.money("0"), Self.money("1200"),
        ]])
        // cadences 14, 83, 241: median 83; p25 → rank 0.5 → 14 + 0.5 × 69 = 48.5
        let cad = try f.run("clients show median(cadence), percentile(cadence, 25), min(cadence), max(cadence), avg(cadence)")
        #expect(cad.rows.count == 1)
        #expect(Array(cad.rows[0][0..<4]) == [.duration(83), .duration(48.5), .duration(14), .duration(241)])
        if case .duration(let d) = cad.rows[0][4] { #expect(abs(d - 338.0 / 3.0) < 1e-9) } else { Issue.record("avg(cadence) \(cad.rows[0][4])") }
        // dates
        #expect(try f.run("clients show min(first_seen), max(last_seen)").rows == [[Self.date("2024-11-01"), Self.date("2025-06-30")]])
        #expect(try f.run("clients show count()").rows == [[.number(6)]])
        // an even count: median of 100, 600, 750, 1200 = (600 + 750) / 2
        #expect(try f.run("clients where spend > 0 show median(spend)").rows == [[Self.money("675")]])
        // numbers: avg of feedback scores 5, 2, 4 = 11/3
        let fb = try f.run("feedback show avg(score), sum(score), max(score)")
        #expect(fb.rows.count == 1)
        #expect(Self.near(fb.rows[0][0], 11.0 / 3.0))
        #expect(Array(fb.rows[0][1...]) == [.number(11), .number(5)])
    }

    @Test func moneyFromAvgMedianAndPercentileIsRoundedToTheCentAtTheEnd() throws {
        let f = try Fixture()
        // bob 120.01, cara 600.00 → 720.01 / 2 = 360.005 → $360.01 (half away from zero)
        let two = try f.run("purchases where client in (bob, cara) show avg(amount), median(amount), percentile(amount, 50)")
        #expect(two.rows == [[Self.money("360.01"), Self.money("360.01"), Self.money("360.01")]])
        // ann 750, bob 100, eve 1200 → 2050 / 3 = 683.333… → $683.33
        #expect(try f.run("clients where visits >= 2 show avg(spend)").rows == [[Self.money("683.33")]])
        // amounts 120.01, 200, 300, 450, 600, 1000; p10 → rank 0.5 → 120.01 + 0.5 × 79.99 = 160.005 → $160.01
        #expect(try f.run("purchases show percentile(amount, 10)").rows == [[Self.money("160.01")]])
        // grouped: gold = ann 750 + cara 600 → 675; platinum 1200; silver 100
        let g = try f.run("clients where spend > 0 group by tier show avg(spend)")
        #expect(g.rows == [[.string("gold"), Self.money("675")], [.string("platinum"), Self.money("1200")], [.string("silver"), Self.money("100")]])
    }

    @Test func shareIsTheGroupsFractionOfTheRowsThatPassedWhere() throws {
        let f = try Fixture()
        // ann, bob, cara, eve, fay pass: gold 2/5, platinum 1/5, silver 1/5, null 1/5
        let r = try f.run("clients where visits > 0 group by tier show count() as n, share() as s")
        #expect(r.rows.map { $0[0] } == [.string("gold"), .string("platinum"), .string("silver"), .null])
        #expect(r.rows.map { $0[1] } == [.number(2), .number(1), .number(1), .number(1)])
        let shares: [Value] = r.rows.map { $0[2] }
        let fifths: [Double] = [0.4, 0.2, 0.2, 0.2]
        #expect(shares.count == 4 && zip(shares, fifths).allSatisfy { Self.near($0, $1) }, "\(shares)")
        // all six clients: gold 2/6
        let all = try f.run("clients group by tier show share()")
        let sixths: [Double] = [1, 2, 1, 1, 1].map { $0 / 6 }
        let allShares: [Value] = all.rows.map { $0[1] }
        #expect(allShares.count == 5 && zip(allShares, sixths).allSatisfy { Self.near($0, $1) }, "\(all.rows)")
        // without group by: every passing row
        #expect(Self.near(try f.run("clients where tier = gold show share()").rows.first?.first ?? .null, 1))
    }

    // MARK: Sorting, top, limit

    @Test func sortByPutsNullsLastAndKeepsNaturalOrderForTies() throws {
        let f = try Fixture()
        #expect(try f.ids("clients sort by cadence") == ["bob", "ann", "eve", "cara", "dan", "fay"])
        #expect(try f.ids("clients sort by cadence asc") == ["bob", "ann", "eve", "cara", "dan", "fay"])
        #expect(try f.ids("clients sort by cadence desc") == ["eve", "ann", "bob", "cara", "dan", "fay"])
        // ties keep the natural (id) order in both directions
        #expect(try f.ids("clients sort by visits") == ["dan", "cara", "fay", "bob", "eve", "ann"])
        #expect(try f.ids("clients sort by visits desc") == ["ann", "bob", "eve", "cara", "fay", "dan"])
        #expect(try f.ids("clients sort by visits desc, spend") == ["ann", "bob", "eve", "fay", "cara", "dan"])
        #expect(try f.ids("clients show id, spend as s sort by s desc") == ["eve", "ann", "cara", "bob", "dan", "fay"])
        // events: ties by position. Dr. Kim: P5 ann, P11 ann, P14 cara, P22 eve, P24 eve; Dr. Lee: P7 bob, P9 bob, P19 fay, P20 ann
        let kim = try f.run("visits show client, at sort by provider")
        #expect(kim.rows == [
            [.string("ann"), Self.date("2025-01-05")], [.string("ann"), Self.date("2025-03-10")], [.string("cara"), Self.date("2025-04-01")],
            [.string("eve"), Self.date("2025-06-30")], [.string("eve"), Self.date("2024-11-01")],
            [.string("bob"), Self.date("2025-02-01")], [.string("bob"), Self.date("2025-02-15")], [.string("fay"), Self.date("2025-05-10")],
            [.string("ann"), Self.date("2025-06-20")],
        ])
        let lee = try f.run("visits show client sort by provider desc")
        #expect(lee.rows.map { $0[0] } == ["bob", "bob", "fay", "ann", "ann", "ann", "cara", "eve", "eve"].map { .string($0) })
        // channels: P6 clinic, P8 online, P15 clinic, P21 null, P23 online, P25 null
        let asc = try f.run("purchases show client, channel sort by channel")
        #expect(asc.rows.map { $0[0] } == ["ann", "cara", "bob", "eve", "ann", "eve"].map { .string($0) })
        let desc = try f.run("purchases show client, channel sort by channel desc")
        #expect(desc.rows.map { $0[0] } == ["bob", "eve", "ann", "cara", "ann", "eve"].map { .string($0) })
        #expect(desc.rows.map { $0[1] }.suffix(2) == [.null, .null])
        // strings sort ignoring case, nulls last: google, instagram (ann, dan), Referral, then cara, eve
        #expect(try f.ids("clients show id, source sort by source") == ["fay", "ann", "dan", "bob", "cara", "eve"])
        #expect(try f.ids("clients show id, source sort by source desc") == ["bob", "ann", "dan", "fay", "cara", "eve"])
        // by date: P24 (Nov 1) first
        #expect(try f.ids("visits show client sort by at") == ["eve", "ann", "bob", "bob", "ann", "cara", "fay", "ann", "eve"])
    }

    @Test func topNAndTopPercent() throws {
        let f = try Fixture()
        #expect(try f.ids("clients top 2 by spend") == ["eve", "ann"])
        // visits: ann 3, bob 2, eve 2 → the tie at the boundary goes to the natural order (bob)
        #expect(try f.ids("clients top 2 by visits") == ["ann", "bob"])
        #expect(try f.ids("clients top 3 by visits") == ["ann", "bob", "eve"])
        // 50% of 6 = 3; 34% of 6 = 2.04 → 3; 16% of 6 = 0.96 → 1
        #expect(try f.ids("clients top 50% by visits") == ["ann", "bob", "eve"])
        #expect(try f.ids("clients top 34% by visits") == ["ann", "bob", "eve"])
        #expect(try f.ids("clients top 16% by visits") == ["ann"])
        // nulls are never the greatest
        #expect(try f.ids("clients top 4 by cadence") == ["eve", "ann", "bob", "cara"])
        // events: client.purchases is 2 for ann's P6, P21 and eve's P23, P25 → natural (position) order
        let p = try f.run("purchases show client, at top 3 by client.purchases")
        #expect(p.rows == [[.string("ann"), Self.date("2025-01-05")], [.string("ann"), Self.date("2025-06-20")],
                           [.string("eve"), Self.date("2025-06-30")]])
        // top then sort
        #expect(try f.ids("clients sort by id desc top 3 by spend") == ["eve", "cara", "ann"])

        // 11 clients, one purchase each; three tie at $100
        let spends = [("k01", "50"), ("k02", "100"), ("k03", "30"), ("k04", "100"), ("k05", "100"), ("k06", "10"), ("k07", "20"),
                      ("k08", "40"), ("k09", "60"), ("k10", "70"), ("k11", "80")]
        let g = try Fixture(spends.map { Self.e($0.0, "2025-03-01", .purchase(Purchase(amount: Self.usd($0.1)))) })
        // 10% of 11 = 1.1 → ceil 2: k02 and k04 (k05 ties but comes later in the natural order)
        #expect(try g.ids("clients top 10% by spend") == ["k02", "k04"])
        #expect(try g.ids("clients top 1 by spend") == ["k02"])
        #expect(try g.ids("clients top 20% by spend") == ["k02", "k04", "k05"])  // 2.2 → 3
        #expect(try g.ids("clients top 30% by spend") == ["k02", "k04", "k05", "k11"])  // 3.3 → 4
        #expect(try g.ids("clients top 100% by spend").count == 11)
        #expect(try g.ids("clients top 20 by spend").count == 11)
    }

    @Test func limitCutsAfterSorting() throws {
        let f = try Fixture()
        #expect(try f.ids("clients sort by spend desc limit 2") == ["eve", "ann"])
        #expect(try f.ids("clients limit 3") == ["ann", "bob", "cara"])
        let none = try f.ids("clients limit 0")
        #expect(none == [], "limit 0 should keep no row, got \(none)")
        #expect(try f.ids("clients limit 100").count == 6)
        #expect(try f.ids("visits limit 2") == ["ann", "bob"])
        let v = try f.run("visits show client, at limit 2")
        #expect(v.rows == [[.string("ann"), Self.date("2025-01-05")], [.string("bob"), Self.date("2025-02-01")]])
        #expect(try f.ids("clients top 4 by spend limit 1") == ["eve"])
        #expect(try f.run("clients group by tier show count() limit 2").rows.map { $0[0] } == [.string("bronze"), .string("gold")])
    }

    // MARK: Time travel and today

    @Test func asOfEqualsADatabaseOfTheEarlierEvents() throws {
        let full = try Fixture()
        let queries = [
            "clients",
            "clients show id, name, source, location, registered, acquisition_cost, first_seen, last_seen, first_visit, last_visit, visits, "
                + "purchases, refunds, active_days, lapsed, tenure, lifespan, frequency, cadence, overdue, next_due, spend, refunded, aov, "
                + "clv, points, tier, member, plan, satisfaction, avg_satisfaction, services, providers, locations, items, categories, provider",
            "visits", "purchases show client, at, amount, channel, location",
            "items show client, at, name, category, quantity, amount, location, provider, channel", "refunds show client, at, amount", "rewards",
            "tiers", "memberships", "feedback show client, at, score", "events show type, client, at",
            "clients group by tier show count(), sum(spend), avg(spend)",
            "visits group by month(at) show count()",
            "clients where has visit where services contains botox show id",
            "clients where count(visits where at in last 60d) >= 1 show id, count(visits)",
            "clients top 2 by spend",
            "clients where lapsed > 30d sort by lapsed desc",
        ]
        for cutoff in ["2025-03-31", "2025-02-15", "2025-06-20"] {
            let c = day(cutoff)
            let early = try Fixture(Self.history.filter { Zone.utc.day(of: $0.at) <= c })
            for q in queries {
                // the as-of query ignores today = 2025-06-30
                let a = try full.run(q + " as of " + cutoff)
                let b = try early.run(q, today: c)
                #expect(a == b, "\(q) as of \(cutoff)")
            }
        }
        // by hand, as of 2025-03-31: dan (May 1) and fay (May 10) do not exist yet
        let r = try full.run("clients show id, visits, spend, tier as of 2025-03-31")
        #expect(r.rows == [
            [.string("ann"), .number(2), Self.money("300"), .string("gold")],
            [.string("bob"), .number(2), Self.money("100"), .string("silver")],
            [.string("cara"), .number(0), Self.money("0"), .string("gold")],
            [.string("eve"), .number(1), Self.money("1000"), .string("platinum")],
        ])
        // as of a later day than today: ann's Jul 5 visit and tier count
        let later = try full.run("clients where id = ann show visits, tier, lapsed as of 2025-07-10")
        #expect(later.rows == [[.number(4), .string("platinum"), .duration(5)]])
        // the as-of date may be an expression: today − 30d = 2025-05-31
        #expect(try full.run("clients show id, visits as of today - 30d") == full.run("clients show id, visits as of 2025-05-31"))
        #expect(try full.ids("clients as of today - 30d") == ["ann", "bob", "cara", "dan", "fay", "eve"].sorted())
        // today inside an as-of query is the as-of date
        #expect(try full.run("clients where id = ann show today as of 2025-03-31").rows == [[Self.date("2025-03-31")]])
    }

    @Test func todayParameterSetsTheWorld() throws {
        let f = try Fixture()
        #expect(try f.run("clients where id = ann show lapsed, visits, tier").rows == [[.duration(10), .number(3), .string("gold")]])
        // on 2025-07-10 the Jul 5 visit and tier change count: lapsed 5, visits 4, platinum
        #expect(try f.run("clients where id = ann show lapsed, visits, tier", today: day("2025-07-10")).rows
            == [[.duration(5), .number(4), .string("platinum")]])
        #expect(try f.ids("visits where client = ann show client", today: day("2025-07-10")).count == 4)
        #expect(try f.ids("visits where client = ann show client").count == 3)
        #expect(try f.ids("tiers where client = ann show tier", today: day("2025-07-10")) == ["gold", "platinum"])
        #expect(try f.ids("tiers where client = ann show tier") == ["gold"])
        #expect(try f.run("clients where id = ann show today", today: day("2025-01-03")).rows == [[Self.date("2025-01-03")]])
        // ann's first event is on 2025-01-02: on 2025-01-01 she does not exist yet
        #expect(try f.run("clients where id = ann show today", today: day("2025-01-01")).rows == [])
        // on 2025-01-31 only ann, bob and eve exist
        #expect(try f.ids("clients", today: day("2025-01-31")) == ["ann", "bob", "eve"])
    }

    // MARK: Parameters and saved queries

    @Test func parameters() throws {
        let f = try Fixture()
        #expect(try f.ids("clients where lapsed > $days", ["days": .duration(90)]) == ["bob"])
        #expect(try f.ids("clients where lapsed > $days and tier = $tier", ["days": .duration(5), "tier": .string("GOLD")]) == ["ann", "cara"])
        #expect(try f.ids("clients where spend >= $min", ["min": .money(Money(dollars: 600))]) == ["ann", "cara", "eve"])
        // a parameter is a value, never query text
        #expect(try f.ids("clients where tier = $tier", ["tier": .string("gold or 1 = 1")]) == [])
        // a parameter without a value or a default is an error
        #expect(throws: QueryError.self) { try f.run("clients where tier = $tier") }
        // defaults
        #expect(try f.ids("clients where lapsed > $days = 100d") == ["bob"])
        #expect(try f.ids("clients where lapsed > $days = 100d", ["days": .duration(40)]) == ["bob", "cara", "fay"])
        #expect(try f.ids("clients where last_seen in last $window = 90d") == ["ann", "eve", "fay"])
    }

    @Test func savedQueries() throws {
        let f = try Fixture()
        let saved = try f.run("save q1 as clients where lapsed > $days = 90d and tier = $tier")
        #expect(saved.rows.isEmpty)
        // bob: lapsed 135 > 90, silver
        #expect(try f.ids("run q1 tier=silver") == ["bob"])
        // gold: ann 10, cara 90 → neither is over 90d
        #expect(try f.ids("run q1 tier=gold") == [])
        #expect(try f.ids("run q1 tier=gold days=5d") == ["ann", "cara"])
        #expect(try f.ids("run q1 tier=\"GOLD\" days=5d") == ["ann", "cara"])
        #expect(try f.db.run("q1", parameters: ["tier": .string("silver")], today: Self.T).rows.map { $0[0] } == [.string("bob")])
        // a missing parameter is an error listing the parameters
        do {
            _ = try f.run("run q1")
            Issue.record("run without $tier should fail")
        } catch let e as QueryError {
            let text = e.message + " " + (e.hint ?? "")
            #expect(text.contains("$tier") && text.contains("$days"), "\(e)")
        }
        // an unknown parameter is an error too
        #expect(throws: QueryError.self) { try f.run("run q1 tier=gold color=red") }
        // queries lists it
        let list = try f.run("queries")
        #expect(list.rows.count == 1)
        #expect(list.rows.first?.first == .string("q1"))
        #expect(list.rows.first?.contains { if case .string(let s) = $0 { s.contains("lapsed > $days") } else { false } } == true)
        #expect(try f.db.savedQueries().map(\.name) == ["q1"])
        // drop removes it; the history keeps both entries
        _ = try f.run("drop q1")
        #expect(try f.run("queries").rows.isEmpty)
        #expect(try f.db.savedQuery("q1") == nil)
        #expect(throws: (any Error).self) { try f.run("run q1 tier=gold") }
        let history = try f.db.savedQueryHistory()
        #expect(history.map(\.action) == ["save", "drop"])
        #expect(history.map(\.name) == ["q1", "q1"])
        #expect(history.first?.text.contains("lapsed > $days = 90d and tier = $tier") == true)
    }

    // MARK: Event entities

    @Test func eventEntitiesShowTheirOwnFieldsByDefault() throws {
        let f = try Fixture()
        let expected: [(String, [String], Int)] = [
            // entity, fields it must show, rows up to today
            ("visits", ["client", "at", "location", "provider", "services"], 9),
            ("purchases", ["client", "at", "amount", "items", "location", "provider", "channel"], 6),
            ("items", ["client", "at", "name", "category", "quantity", "amount", "location", "provider", "channel"], 7),
            ("refunds", ["client", "at", "amount", "purchase"], 1),
            ("rewards", ["client", "at", "points", "kind", "reason"], 2),
            ("tiers", ["client", "at", "tier"], 5),
            ("memberships", ["client", "at", "plan", "action", "fee"], 3),
            ("feedback", ["client", "at", "score", "comment", "visit"], 3),
            ("events", ["client", "at", "type"], 33),
        ]
        for (entity, fields, count) in expected {
            let r = try f.run(entity)
            let names = r.columns.map(\.name)
            #expect(Set(fields).isSubset(of: Set(names)), "\(entity): \(names)")
            #expect(r.rows.count == count, "\(entity)")
        }
        // the first visit row (P5)
        let v = try f.run("visits")
        #expect(f.column(v, "client").first == .string("ann"))
        #expect(f.column(v, "at").first == Self.date("2025-01-05"))
        #expect(f.column(v, "location").first == .string("Midtown"))
        #expect(f.column(v, "provider").first == .string("Dr. Kim"))
        #expect(f.column(v, "services").first == .list(["botox"]))
        // items carry their purchase's client, at and channel
        let items = try f.run("items show client, name, category, quantity, amount, channel")
        #expect(items.rows == [
            [.string("ann"), .string("botox"), .string("injectable"), .number(1), Self.money("300"), .string("clinic")],
            [.string("bob"), .string("serum"), .string("skincare"), .number(1), Self.money("120.01"), .string("online")],
            [.string("cara"), .string("juvederm"), .string("filler"), .number(1), Self.money("600"), .string("clinic")],
            [.string("ann"), .string("filler"), .string("injectable"), .number(1), Self.money("450"), .null],
            [.string("eve"), .string("botox"), .string("injectable"), .number(1), Self.money("150"), .string("online")],
            [.string("eve"), .string("cream"), .string("skincare"), .number(1), Self.money("50"), .string("online")],
            [.string("eve"), .string("laser"), .string("device"), .number(1), Self.money("1000"), .null],
        ])
        #expect(try f.run("items where category = skincare show client, name, at").rows == [
            [.string("bob"), .string("serum"), Self.date("2025-02-01")], [.string("eve"), .string("cream"), Self.date("2025-06-30")],
        ])
        #expect(try f.run("refunds show client, amount").rows == [[.string("bob"), Self.money("20.01")]])
        #expect(try f.run("rewards show client, points, kind").rows == [
            [.string("ann"), .number(100), .string("earned")], [.string("ann"), .number(-40), .string("redeemed")],
        ])
        #expect(try f.run("rewards show sum(points)").rows == [[.number(60)]])
        #expect(try f.ids("tiers where tier = gold show client") == ["ann", "cara"])
        #expect(try f.run("memberships where action = cancel show client, plan").rows == [[.string("bob"), .string("Basic")]])
        #expect(try f.run("feedback show client, score").rows == [
            [.string("ann"), .number(5)], [.string("bob"), .number(2)], [.string("bob"), .number(4)],
        ])
        #expect(try f.run("purchases where client = eve show at, amount").rows == [
            [Self.date("2025-06-30"), Self.money("200")], [Self.date("2024-11-01"), Self.money("1000")],
        ])
        let types = try f.run("events group by type show count()")
        #expect(types.rows == [
            [.string("client"), .number(4)], [.string("feedback"), .number(3)], [.string("membership"), .number(3)],
            [.string("purchase"), .number(6)], [.string("refund"), .number(1)], [.string("reward"), .number(2)],
            [.string("tier"), .number(5)], [.string("visit"), .number(9)],
        ])
    }

    @Test func clientFieldsOnEventRows() throws {
        let f = try Fixture()
        // ann (gold): P5, P11, P20; cara (gold): P14
        let r = try f.run("visits where client.tier = gold show client, at")
        #expect(r.rows == [
            [.string("ann"), Self.date("2025-01-05")], [.string("ann"), Self.date("2025-03-10")],
            [.string("cara"), Self.date("2025-04-01")], [.string("ann"), Self.date("2025-06-20")],
        ])
        #expect(try f.ids("purchases where client.spend > $1000 show client") == ["eve", "eve"])
        #expect(try f.run("visits where client = bob show client.lapsed, client.name").rows == [
            [.duration(135), .string("Bob")], [.duration(135), .string("Bob")],
        ])
        #expect(try f.run("visits group by client.tier show count()").rows == [
            [.string("gold"), .number(4)], [.string("platinum"), .number(2)], [.string("silver"), .number(2)], [.null, .number(1)],
        ])
    }

    @Test func itemsFieldOnPurchasesMatchesWhenAnyItemMatches() throws {
        let f = try Fixture()
        // injectable: P6 ann, P21 ann, P23 eve (botox + cream)
        #expect(try f.ids("purchases where items.category = injectable show client") == ["ann", "ann", "eve"])
        // skincare: P8 bob, P23 eve
        #expect(try f.ids("purchases where items.category = SKINCARE show client") == ["bob", "eve"])
        #expect(try f.ids("purchases where items.name = cream show client") == ["eve"])
        #expect(try f.ids("purchases where items.amount > $500 show client") == ["cara", "eve"])
    }

    // MARK: Client-scoped aggregates

    @Test func clientScopedAggregates() throws {
        let f = try Fixture()
        // visits after Apr 1: ann Jun 20, eve Jun 30, fay May 10
        #expect(try f.ids("clients where count(visits where at in last 90d) >= 1") == ["ann", "eve", "fay"])
        // after 2024-12-12 (today − 200d): ann 3, bob 2, cara 1, eve 1 (Nov 1 is out), fay 1
        #expect(try f.ids("clients where count(visits where at in last 200d) >= 2") == ["ann", "bob"])
        // last 1y (after 2024-06-30): eve's Nov 1 visit counts
        #expect(try f.ids("clients where count(visits where at in last 1y) >= 2") == ["ann", "bob", "eve"])
        #expect(try f.run("clients show id, count(visits) as n").rows.map { $0[1] } == [3, 2, 1, 0, 2, 1].map { .number($0) })
        // since 2025-01-01: ann 750, bob 120.01, cara 600, eve 200
        #expect(try f.ids("clients where sum(purchases.amount where at >= 2025-01-01) > $500") == ["ann", "cara"])
        #expect(try f.run("clients where id = eve show sum(purchases.amount where at in last 1y)").rows == [[Self.money("1200")]])
        #expect(try f.run("clients where id = bob show sum(purchases.amount)").rows == [[Self.money("120.01")]])
        // feedback: ann 5; bob 2, 4
        #expect(try f.run("clients show id, max(feedback.score) as m").rows.map { $0[1] } == [.number(5), .number(4), .null, .null, .null, .null])
        #expect(try f.ids("clients where max(feedback.score) >= 4") == ["ann", "bob"])
        #expect(try f.ids("clients where min(feedback.score) < 3") == ["bob"])
        // botox (any case): ann P5/P11/P20, cara P14 "Botox", eve P22
        #expect(try f.ids("clients where has visit where services contains \"botox\"") == ["ann", "cara", "eve"])
        #expect(try f.ids("clients where has no purchase where items.category = \"filler\"") == ["ann", "bob", "dan", "eve", "fay"])
        #expect(try f.ids("clients where has refund") == ["bob"])
        #expect(try f.ids("clients where has no visit") == ["dan"])
        // inside count(…) the condition runs to the closing parenthesis: both parts speak of the visit (ann's P20)
        #expect(try f.ids("clients where count(visits where services contains botox and provider = \"Dr. Lee\") = 1") == ["ann"])
        // the inner where speaks of the event: the visit's location, not the client's
        #expect(try f.ids("clients where has visit where location = uptown") == ["bob", "fay"])
        #expect(try f.run("clients show id, count(purchases where location = Midtown) as n").rows.map { $0[1] }
            == [1, 0, 0, 0, 0, 0].map { .number($0) })
        // the ann visit after today does not count
        #expect(try f.run("clients where id = ann show count(visits where services contains botox)").rows == [[.number(3)]])
    }

    @Test func hasWhereTakesOneConditionAndTheRestSpeaksOfTheClient() throws {
        let f = try Fixture()
        // `has visit where A and B` = (has visit where A) and B, B on the client:
        // botox visitors ann (lapsed 10), cara (90), eve (0) → lapsed > 50d: cara
        #expect(try f.ids("clients where has visit where services contains \"botox\" and lapsed > 50d") == ["cara"])
        // B = the client's provider: ann's is Dr. Kim (2 visits vs 1), cara's and eve's Dr. Kim → nobody
        #expect(try f.ids("clients where has visit where services contains botox and provider = \"Dr. Lee\"") == [])
        // parenthesised, both speak of the visit: ann's P20 (botox by Dr. Lee)
        #expect(try f.ids("clients where has visit where (services contains botox and provider = \"Dr. Lee\")") == ["ann"])
        // has no … and B
        #expect(try f.ids("clients where has no visit where services contains botox and tier = silver") == ["bob"])
        #expect(try f.ids("clients where has visit where provider = \"Dr. Lee\" or tier = bronze") == ["ann", "bob", "dan", "fay"])
    }
}
