import Synchronization
import Testing
@testable import Patron

/// The typed fast paths (FastFilter.swift, the grouped and scoped fast loops) give
/// exactly the answers of the general path, over random histories with mixed-case
/// strings, leads, clients first seen after `today` and out-of-order events.
@Suite struct FastPathTests {
    static let queries = [
        "clients where lapsed > 90d and tier = gold",
        "clients where tier != GOLD or visits >= 3",
        "clients where not (spend > $100) and cadence is not null",
        "clients where not (tier = gold or lapsed <= 30d) and visits > 0",
        "clients where cadence is null or tier != silver",
        "clients where tier is not null and spend >= $0 and first_seen < 2024-01-01 and points > 10",
        "clients where lifespan > 10d and (tenure >= 100d or refunds > 0) group by tier show count()",
        "clients where (visits > 2 or purchases > 2) and not (name contains \"a\") show id, name",
        "clients top 10% by spend",
        "clients where visits >= 1 show id, lapsed top 7 by lapsed limit 5",
        "clients show id, cadence top 25% by cadence",
        "clients show id, first_seen top 3 by first_seen as of 2023-12-31",
        "clients group by tier show count(), avg(spend), median(cadence), min(first_seen), max(spend), share()",
        "clients group by tier, month(first_seen) show count(), sum(spend), percentile(lapsed, 90)",
        "clients where has visit where services contains \"botox\" and has no purchase where items.category = \"filler\"",
        "clients where has no visit where (provider = maya and at in last 1y)",
        "clients where count(visits where services not contains peel) >= 2 show id, count(purchases where amount > $50)",
        "clients where has purchase where (items.amount >= $20 and items.name contains \"o\")",
        "clients where has tier where tier = gold",
        "clients where has visit where provider = maya show id",
        "clients where has visit where provider contains ay show id, visits",
        "clients where has item where location = north show id",
        "clients where has purchase where items contains item3 show id",
        "clients where has no purchase where categories contains injectable and visits > 0 show id",
        "clients where has item where name = item4 show id, visits",
        "clients where has no item where (amount > $30 and category = skincare) and visits > 1",
        "visits where at in last 1y group by provider show count()",
        "visits where at in last 45d group by location show count(), share()",
        "purchases where at in last 2y group by channel show count() sort by count() desc",
        "visits group by provider show count()",
        "visits where at in last 0.5d group by provider show count()",
        "visits where at not in last 90d and location is null group by week(at) show count()",
        "visits where services contains botox show client, at, provider",
        "visits group by provider, quarter(at) show count(), share()",
        "items group by category, month(at) show sum(amount), avg(quantity), max(amount)",
        "items where amount > $10 and category != injectable group by name show count()",
        "purchases where amount between $10 and $500 group by year(at) show sum(amount), median(amount)",
        "purchases where channel contains cli group by location show count()",
        "rewards group by kind show sum(points), min(points)",
        "feedback group by month(at) show avg(score), count()",
        "tiers group by tier show count()",
        // Counts and integer sums straight from the event table's columns.
        "items group by category, month(at) show sum(amount)",
        "items group by category, month(at) show sum(amount), count(), avg(amount), share(), count(amount)",
        "items group by name show sum(quantity), avg(quantity)",
        "items group by location, year(at) show count(), sum(amount)",
        "purchases group by channel, quarter(at) show sum(amount), avg(amount)",
        "purchases where at in last 1y group by location show sum(amount), count()",
        "rewards group by kind, week(at) show sum(points)",
        "memberships group by plan show sum(fee), avg(fee)",
        "visits group by month(at), week(at) show count()",
        "visits group by at show count() sort by count() desc limit 5",
        "items group by day(at) show count()",
        "refunds group by year(at) show sum(amount)",
        "memberships group by action, plan show count(), sum(fee)",
        "events group by type show count()",
        // The same shapes again over other ranges of days: answered from the day cubes.
        "visits where at in last 30d group by provider show count()",
        "visits where at in last 400d group by provider, quarter(at) show count(), share()",
        "items group by provider show count(), sum(amount)",
        "items group by provider, category show count()",
        "purchases where at in last 90d group by channel, month(at) show sum(amount), avg(amount)",
        "clients where lapsed > 30d as of 2023-12-31",
        "clients where has visit where services contains peel show id as of 2023-12-31",
        "clients where has no purchase where items.category = skincare and visits > 0 show id as of 2023-11-30",
        "clients where has tier where tier = gold show id, tier as of 2024-01-15",
        "clients group by tier show count(), avg(spend) as of 2023-09-30",
        "clients where provider = maya or location = north show id, name, location, provider, services as of 2023-11-30",
        "clients show id, name, email, tier, plan, member, points, satisfaction, avg_satisfaction, source, acquisition_cost, registered, first_visit, last_visit, frequency, cadence, overdue, next_due, aov, refunded as of 2023-10-15",
        // Every client field as an output column (typed column reads), today and as of.
        "clients show id, name, email, phone, tier, plan, source, location, provider, member, points, satisfaction, avg_satisfaction, acquisition_cost, registered, first_seen, last_seen, first_visit, last_visit, active_days, visits, purchases, refunds, lapsed, tenure, lifespan, frequency, cadence, overdue, next_due, spend, refunded, aov, clv, services",
        "clients show id, name, tier, visits, spend, last_seen, lapsed, cadence, next_due top 30% by spend as of 2023-12-31",
    ]

    @Test(arguments: [11, 22, 33])
    func fastAndGeneralPathsAgree(seed: Int) async throws {
        var rng = SeededRandom(seed: UInt64(seed))
        let world = try await RefWorld.make(rng: &rng)
        defer { withExtendedLifetime(world) {} }
        var fastRows = 0
        let taken = FastPaths.Tally()
        for q in Self.queries {
            // Recompute the client table for any earlier day, however few clients it concerns.
            let fast = try FastPaths.$recomputeAbove.withValue(0) {
                try FastPaths.$taken.withValue(taken) { try world.db.query(q, today: world.today) }
            }
            let general = try FastPaths.$enabled.withValue(false) { try world.db.query(q, today: world.today) }
            #expect(fast.columns.map(\.name) == general.columns.map(\.name), "\(q)")
            #expect(fast.rows == general.rows, "fast and general paths differ on: \(q)")
            fastRows += fast.rows.count
            // Clients with events after `today` replayed one by one (too few to recompute
            // the table): their rows are not current, so typed reads must step aside.
            let replayed = try world.db.query(q, today: world.today)
            #expect(replayed == general, "with replayed rows, fast and general paths differ on: \(q)")
            // `has` answered from marks made in one walk over the events from the first row
            // on, walks in two halves on two cores, `top` outputs split over two threads.
            let marked = try ScopedMarks.$minimumAsked.withValue(0) {
                try FastPaths.$recomputeAbove.withValue(0) {
                    try ColumnAggregation.$parallelAbove.withValue(2) {
                        try Executor.$splitOutputsAbove.withValue(0) {
                            try FastPaths.$taken.withValue(taken) { try world.db.query(q, today: world.today) }
                        }
                    }
                }
            }
            #expect(marked == general, "with has-marks, fast and general paths differ on: \(q)")
            // Streamed row by row, the same answer as collected column by column.
            var streamedColumns: [Column] = [], streamedRows: [[Value]] = []
            try world.db.query(q, today: world.today, columns: { streamedColumns = $0 }, row: { streamedRows.append($0) })
            #expect(QueryResult(columns: streamedColumns, rows: streamedRows) == replayed, "streamed and collected differ on: \(q)")
        }
        #expect(fastRows > 100, "the queries should return rows over a random world")
        // The fast paths were really taken (else this test would compare the general path with itself).
        #expect(taken["filter"] >= 8)
        #expect(taken["group"] >= 11)
        #expect(taken["scoped"] >= 4)
        #expect(taken["top"] >= 4)
        #expect(taken["batch"] >= 8)
        #expect(taken["event-columns"] >= 20)
        #expect(taken["day-cube"] >= 20)
        #expect(taken["marks"] >= 10)
        #expect(taken["raw-marks"] >= 8)
        #expect(taken["first-match-days"] >= 8)
        #expect(taken["as-of-kept"] >= 8)
    }
}

/// A table recomputed as of a day is kept for the next query of that day, and only
/// while the snapshot it was made from is current: events appended later (before or
/// after the day) are in the next answer. One made with the `location`/`provider`
/// columns also answers a query without them, never the other way round.
@Test func asOfTablesAreKeptPerSnapshot() throws {
    let dir = TempDir()
    let db = try Database(path: dir.path("db"), options: .init(durable: false))
    func at(_ text: String) -> Int64 { Int64(day(text)) * 86_400_000 }
    _ = try db.appendAndWait((0..<40).flatMap { k in
        [Event(client: "c\(k)", at: at("2024-01-0\(k % 9 + 1)"), payload: .visit(Visit(location: k % 2 == 0 ? "North" : "South", provider: "Kim"))),
         Event(client: "c\(k)", at: at("2024-09-0\(k % 9 + 1)"), payload: .visit(Visit(location: "East", provider: "Maya")))]
    })
    let today = day("2025-01-01")
    let taken = FastPaths.Tally()
    func both(_ q: String) throws -> QueryResult {
        let fast = try FastPaths.$recomputeAbove.withValue(0) { try FastPaths.$taken.withValue(taken) { try db.query(q, today: today) } }
        let general = try FastPaths.$enabled.withValue(false) { try db.query(q, today: today) }
        #expect(fast == general, "\(q)")
        return fast
    }
    let lapsed = "clients where lapsed > 150d show id, visits, location as of 2024-06-30"
    let plain = "clients where lapsed > 150d show id, visits as of 2024-06-30"
    #expect(try both(lapsed).rowCount == 40)
    #expect(taken["as-of-kept"] == 0)
    _ = try both(plain)
    #expect(taken["as-of-kept"] == 1, "the table with the tallies answers a query without them")
    _ = try both(lapsed)
    #expect(taken["as-of-kept"] == 2)
    // A visit before the day for c0, and a client event after it for c1: a new snapshot.
    _ = try db.appendAndWait([Event(client: "c0", at: at("2024-06-20"), payload: .visit(Visit(location: "West"))),
                              Event(client: "c1", at: at("2024-10-01"), payload: .client(ClientDetails(name: "Later Name")))])
    let after = try both(lapsed)
    #expect(after.rowCount == 39, "c0 visited ten days before the day")
    #expect(taken["as-of-kept"] == 2, "a table of the old snapshot answered the new one")
    // c1's name, given after the day, is no name as of the day (and today's is not
    // taken from the day's, nor the day's from today's, through the names kept).
    let names = "clients where lapsed > 150d show id, name as of 2024-06-30"
    #expect(try both("clients where id = c1 show name").rows == [[.string("Later Name")]])
    #expect(try both(names).rows.first { $0[0] == .string("c1") }?[1] == .null)
    #expect(taken["as-of-kept"] == 3)
    #expect(try both("clients where id = c1 show name").rows == [[.string("Later Name")]])
    // Another day is another table; a day without tallies does not serve one with them,
    // and the one with them replaces it (two days are kept: 2024-06-30 stays).
    _ = try both("clients where lapsed > 150d show id as of 2024-07-31")
    _ = try both("clients where lapsed > 150d show id, provider as of 2024-07-31")
    #expect(taken["as-of-kept"] == 3)
    _ = try both("clients where lapsed > 150d show id as of 2024-06-30")
    #expect(taken["as-of-kept"] == 4, "the day's table without tallies made room, not another day's")
}

/// A cancelled query stops with ``QueryInterrupted`` wherever the cancellation comes,
/// and never shows a value that the cancellation cut short: every client here has a
/// name, so a row without one would be such a value. Collected (columns over all
/// rows at once, or slices of rows for list columns) and streamed.
@Test func cancelledQueriesShowNoValueCutShort() throws {
    let dir = TempDir()
    let db = try Database(path: dir.path("db"), options: .init(durable: false))
    let at = Int64(day("2025-01-05")) * 86_400_000
    _ = try db.appendAndWait((0..<2_500).flatMap { k in
        [Event(client: "c\(k)", at: at, payload: .client(ClientDetails(name: "Name \(k)"))),
         Event(client: "c\(k)", at: at, payload: .visit(Visit(location: "North", services: ["s\(k % 7)"])))]
    })
    for q in ["clients show id, name", "clients where visits > 0 show id, name, services, locations"] {
        var interrupted = 0
        for after in 1...16 {
            let calls = Atomic<Int>(0)
            let stop = QueryCancellation { calls.add(1, ordering: .relaxed).newValue > after }
            var streamed: [[Value]] = []
            _ = try db.appendAndWait([Event(client: "c0", at: at, payload: .reward(Reward(points: 1)))])
            do {
                try QueryCancellation.$current.withValue(stop) {
                    try db.query(q, today: day("2025-06-01"), columns: { _ in }, row: { streamed.append($0) })
                }
            } catch is QueryInterrupted {
                interrupted += 1
            }
            #expect(!streamed.contains { $0[1] == .null }, "\(q), stopped after \(after) checks: a row went out without its name")
            // The collected run starts from cold names too: a write makes a new client
            // table, whose decrypted names start empty.
            _ = try db.appendAndWait([Event(client: "c0", at: at, payload: .reward(Reward(points: 1)))])
            calls.store(0, ordering: .relaxed)
            do {
                let r = try QueryCancellation.$current.withValue(stop) { try db.query(q, today: day("2025-06-01")) }
                #expect(r.rowCount == 2_500 && !r.columnValues[1].contains(.null), "\(q): a finished query lost names")
            } catch is QueryInterrupted {
                interrupted += 1
            }
        }
        #expect(interrupted > 8, "\(q): the cancellations should have stopped most runs")
    }
}

/// The run-at-a-time string test answers ids in any order of first appearance, an id
/// below the largest seen so far included (it once looped for ever on one).
@Test func idMemoFillAnswersIdsInAnyOrder() {
    let memo = IDMemo { $0 % 3 == 0 }
    for run: [UInt32] in [[9, 0, 4], [3, 6, 1], [2, 12, 9], [0, 0]] {
        for want in [true, false] {
            var ids = run
            var out = [UInt8](repeating: 7, count: run.count)
            ids.withUnsafeMutableBufferPointer { c in
                out.withUnsafeMutableBufferPointer { o in
                    if let column = c.baseAddress, let mask = o.baseAddress { memo.fill(column, 0, run.count, mask, want: want) }
                }
            }
            #expect(out == run.map { $0 != 0 && ($0 % 3 == 0) == want ? 1 : 0 }, "\(run) want \(want)")
        }
    }
}

/// Quickselect (median and percentile without a full sort) agrees with sorting.
@Test func selectAgreesWithSorting() {
    var rng = SeededRandom(seed: 77)
    for _ in 0..<300 {
        let n = Int.random(in: 1...60, using: &rng)
        let values = (0..<n).map { _ in Double(Int.random(in: -5...5, using: &rng)) }
        let sorted = values.sorted()
        for k in 0..<n {
            var v = values
            #expect(Accumulator.select(&v, k) == sorted[k], "k=\(k) of \(values)")
            #expect(v[..<k].allSatisfy { $0 <= sorted[k] } && v[(k + 1)...].allSatisfy { $0 >= sorted[k] })
        }
    }
}

/// `top N` by selection keeps exactly what sorting everything would.
@Test func topBySelectionEqualsTopBySorting() {
    var rng = SeededRandom(seed: 91)
    for _ in 0..<300 {
        let n = Int.random(in: 0...50, using: &rng)
        let keys = (0..<n).map { _ in Int.random(in: 0..<6, using: &rng) == 0 ? Double.nan : Double(Int.random(in: -4...4, using: &rng)) }
        let sorted = keys.indices.sorted { a, b in
            let x = keys[a], y = keys[b]
            if x.isNaN != y.isNaN { return y.isNaN }
            if !x.isNaN && x != y { return x > y }
            return a < b
        }
        for keep in 0...(n + 1) {
            #expect(TopSelection.greatest(keys, keep) == Array(sorted.prefix(keep)), "keep \(keep) of \(keys)")
        }
    }
}

/// The same at sizes where the histogram and radix passes matter: many rows, keys
/// spread over several magnitudes and signs, ties, zeros of both signs, infinities.
@Test func topBySelectionEqualsTopBySortingLarge() {
    var rng = SeededRandom(seed: 92)
    for round in 0..<12 {
        let n = Int.random(in: 5_000...30_000, using: &rng)
        let keys: [Double] = (0..<n).map { _ in
            switch Int.random(in: 0..<10, using: &rng) {
            case 0: return .nan
            case 1: return [0.0, -0.0, .infinity, -.infinity][Int.random(in: 0..<4, using: &rng)]
            case 2, 3: return Double(Int.random(in: -3...3, using: &rng))  // many ties
            case 4, 5: return Double(Int.random(in: 0...10_000_000, using: &rng))  // cents
            default: return Double.random(in: -1e6...1e9, using: &rng) * (round.isMultiple(of: 2) ? 1 : 1e-9)
            }
        }
        let sorted = keys.indices.sorted { a, b in
            let x = keys[a], y = keys[b]
            if x.isNaN != y.isNaN { return y.isNaN }
            if !x.isNaN && x != y { return x > y }
            return a < b
        }
        for keep in [1, 7, n / 10, n / 2, n - 1, n, n + 5] {
            #expect(TopSelection.greatest(keys, keep) == Array(sorted.prefix(keep)), "round \(round), keep \(keep) of \(n)")
        }
    }
}

/// The column loop of grouped counts and sums (ColumnAggregation.swift) on a history
/// made for its edges: items and fees without amounts (nulls are not summed or
/// counted), categories in two spellings (one group, its first spelling shown — in
/// two halves, the first half's first), events after `today`, two date-bucket keys.
@Test func eventColumnsAgreeWithGeneralPath() throws {
    let dir = TempDir()
    let db = try Database(path: dir.path("db"), options: .init(durable: false))
    let today = day("2024-06-30")
    var events: [Event] = []
    for k in 0..<40 {
        let at = Int64(today - Day(k * 17 % 400) + (k % 7 == 0 ? 3 : 0)) * 86_400_000
        let items = [PurchaseItem(name: "serum", category: k == 1 || k >= 20 ? "skincare" : "Skincare", amount: k % 4 == 0 ? nil : Money(cents: Int64(1_000 + k))),
                     PurchaseItem(name: "botox", category: "injectable", quantity: Int64(1 + k % 3), amount: Money(cents: 30_000))]
        events.append(Event(client: "c\(k % 9)", at: at, payload: .purchase(Purchase(amount: Money(cents: 50_000), items: items, channel: k % 2 == 0 ? "clinic" : "online"))))
        events.append(Event(client: "c\(k % 9)", at: at, payload: .membership(Membership(plan: k % 2 == 0 ? "glow" : "Glow", action: .start, fee: k % 5 == 0 ? nil : Money(cents: 7_900)))))
    }
    _ = try db.appendAndWait(events)
    let queries = [
        "items group by category, month(at) show sum(amount), count(amount), avg(amount), count(), share()",
        "items group by category show sum(quantity)",
        "items group by channel, quarter(at) show sum(amount)",
        "memberships group by plan show sum(fee), avg(fee), count(fee), count()",
        "purchases group by month(at), week(at) show count(), sum(amount)",
        "items group by year(at) show sum(amount)",
    ]
    let taken = FastPaths.Tally()
    for q in queries {
        let before = taken["event-columns"]
        let fast = try FastPaths.$taken.withValue(taken) { try db.query(q, today: today) }
        #expect(taken["event-columns"] == before + 1, "the column loop should answer: \(q)")
        let general = try FastPaths.$enabled.withValue(false) { try db.query(q, today: today) }
        #expect(fast.rows == general.rows, "column loop and general path differ on: \(q)")
        // In two halves on two cores: the same answer.
        let halves = try ColumnAggregation.$parallelAbove.withValue(2) { try db.query(q, today: today) }
        #expect(halves.rows == general.rows, "the column loop in halves differs on: \(q)")
        #expect(!fast.rows.isEmpty)
    }
    // By hand: the serum lines without an amount (k % 4 == 0) are neither summed nor
    // counted; k = 0 lies after today (3 days on), the other days on or before it.
    var cents: Int64 = 0, priced = 0, lines = 0
    for k in 1..<40 {
        lines += 1
        if k % 4 != 0 {
            cents += Int64(1_000 + k)
            priced += 1
        }
    }
    let r = try db.query("items where name = serum show sum(amount), count(amount), count()", today: today)
    #expect(r.rows == [[.money(Money(cents: cents)), .number(Double(priced)), .number(Double(lines))]])
    // The same by the column loop.
    let before = taken["event-columns"]
    let grouped = try FastPaths.$taken.withValue(taken) {
        try db.query("items group by name show sum(amount), count(amount), count()", today: today)
    }
    #expect(taken["event-columns"] == before + 1)
    #expect(grouped.rows.first { $0.first == .string("serum") }
        == [.string("serum"), .money(Money(cents: cents)), .number(Double(priced)), .number(Double(lines))])
}

/// Sums whose magnitudes reach 2^53 cents leave the column loop: a double's running
/// sum (the general path) may round there, and both paths must give one answer.
@Test func hugeSumsLeaveTheColumnLoop() throws {
    let dir = TempDir()
    let db = try Database(path: dir.path("db"), options: .init(durable: false))
    let at = Int64(day("2024-05-01")) * 86_400_000
    var events = (0..<10).map { _ in Event(client: "rich", at: at, payload: .purchase(Purchase(amount: Money(cents: 1_000_000_000_000_000), provider: "Kim"))) }
    events += (0..<2).map { _ in Event(client: "rich", at: at, payload: .purchase(Purchase(amount: Money(cents: 1), provider: "Kim"))) }
    events.append(Event(client: "small", at: at, payload: .refund(Refund(amount: Money(cents: 250)))))
    _ = try db.appendAndWait(events)
    let taken = FastPaths.Tally()
    for (q, column) in [("purchases group by provider show sum(amount)", false), ("purchases show sum(amount), avg(amount)", false),
                        ("refunds group by year(at) show sum(amount)", true)] {
        let before = taken["event-columns"]
        let fast = try FastPaths.$taken.withValue(taken) { try db.query(q, today: day("2024-06-30")) }
        let general = try FastPaths.$enabled.withValue(false) { try db.query(q, today: day("2024-06-30")) }
        #expect(fast.rows == general.rows, "\(q)")
        #expect((taken["event-columns"] > before) == column, "\(q)")
    }
}

/// A grouped query stopped during its walk shows no groups, and a `has` walk stopped
/// midway is not tried again row after row.
@Test func stoppedWalksEndTheQuery() throws {
    let dir = TempDir()
    let db = try Database(path: dir.path("db"), options: .init(durable: false))
    let at = Int64(day("2025-01-05")) * 86_400_000
    _ = try db.appendAndWait((0..<3_000).map { k in
        Event(client: "c\(k)", at: at, payload: .visit(Visit(provider: k % 3 == 0 ? "Maya" : "Kim")))
    })
    let grouped = ["visits group by provider show count()", "visits where provider contains a group by provider show count()"]
    for q in grouped { _ = try db.query(q, today: day("2025-06-01")) }  // the event table read before the stop
    let always = QueryCancellation { true }
    for q in grouped {
        var shown = 0
        #expect(throws: QueryInterrupted.self) {
            try QueryCancellation.$current.withValue(always) {
                try db.query(q, today: day("2025-06-01"), columns: { _ in }, row: { _ in shown += 1 })
            }
        }
        #expect(shown == 0, "the stopped query showed \(shown) groups: \(q)")
    }
    let calls = Atomic<Int>(0)
    let stop = QueryCancellation { calls.add(1, ordering: .relaxed).newValue >= 2 }
    #expect(throws: QueryInterrupted.self) {
        try ScopedMarks.$minimumAsked.withValue(0) {
            try QueryCancellation.$current.withValue(stop) {
                try db.query("clients where has visit where provider = maya show id", today: day("2025-06-01"))
            }
        }
    }
    #expect(calls.load(ordering: .relaxed) < 10, "the stopped has-walk was tried again: \(calls.load(ordering: .relaxed)) checks")
}

/// `has` answered from marks over raw columns: a purchase without items has no item,
/// so an event field of items (`channel`) does not make `has item` true through it.
@Test func hasMarksNeedAnItemForItemQueries() throws {
    let dir = TempDir()
    let db = try Database(path: dir.path("db"), options: .init(durable: false))
    let at = Int64(day("2024-05-01")) * 86_400_000
    _ = try db.appendAndWait([
        Event(client: "a", at: at, payload: .purchase(Purchase(amount: Money(cents: 500), channel: "kiosk"))),
        Event(client: "b", at: at, payload: .purchase(Purchase(items: [PurchaseItem(name: "serum", amount: Money(cents: 900))], channel: "kiosk"))),
        Event(client: "c", at: at, payload: .visit(Visit(provider: "Kim", services: ["peel", "botox"]))),
    ])
    let cases: [(String, [[Value]])] = [
        ("clients where has item where channel = kiosk show id", [[.string("b")]]),
        ("clients where has purchase where channel = kiosk show id", [[.string("a")], [.string("b")]]),
        ("clients where has visit where services contains BOTOX show id", [[.string("c")]]),
        ("clients where has no item where name = serum show id", [[.string("a")], [.string("c")]]),
    ]
    let taken = FastPaths.Tally()
    for (q, expected) in cases {
        let marked = try ScopedMarks.$minimumAsked.withValue(0) {
            try FastPaths.$taken.withValue(taken) { try db.query(q, today: day("2024-06-30")) }
        }
        #expect(marked.rows == expected, "\(q)")
        #expect(try db.query(q, today: day("2024-06-30")).rows == expected, "\(q)")
    }
    #expect(taken["raw-marks"] == cases.count)
    // `top` outputs with every row current, split over two threads: ids and numbers on
    // the second, the rest here, put back in their order.
    for q in ["clients show id, tier, spend, visits, last_seen, lapsed top 2 by spend", "clients top 3 by visits"] {
        let split = try Executor.$splitOutputsAbove.withValue(0) { try db.query(q, today: day("2024-06-30")) }
        let general = try FastPaths.$enabled.withValue(false) { try db.query(q, today: day("2024-06-30")) }
        #expect(split == general, "\(q)")
    }
}

/// A query of an older snapshot than the cached tables (a shell reading while an
/// import appends) answers as a database holding only that snapshot's events, on the
/// column loops, the has-marks and the general paths.
@Test(arguments: [41, 42]) func olderSnapshotThanTheCachedTables(seed: Int) throws {
    var rng = SeededRandom(seed: UInt64(seed))
    let events = RandomHistory.events(count: 700, clients: 40, rng: &rng)
    let cut = 400
    let dir = TempDir()
    let old = try Database(path: dir.path("old"), options: .init(durable: false))
    _ = try old.appendAndWait(Array(events[..<cut]))
    let both = try Database(path: dir.path("both"), options: .init(durable: false))
    _ = try both.appendAndWait(Array(events[..<cut]))
    let today = day("2024-06-30")
    let queries = [
        "visits group by provider show count()",
        "visits where at in last 1y group by provider, month(at) show count()",
        "purchases group by channel show sum(amount), avg(amount)",
        "items group by category, year(at) show sum(amount), count()",
        "events group by type show count()",
        // The same shapes again over other ranges of days: answered from the day cubes.
        "visits where at in last 30d group by provider show count()",
        "visits where at in last 400d group by provider, quarter(at) show count(), share()",
        "items group by provider show count(), sum(amount)",
        "items group by provider, category show count()",
        "purchases where at in last 90d group by channel, month(at) show sum(amount), avg(amount)",
        "clients where has visit where services contains botox show id",
        "clients where has no purchase where items.category = skincare show id, visits",
        "clients where has visit where (provider = maya and at in last 1y) show id",
        "clients show id, visits, spend, last_seen top 10 by spend",
        "clients where lapsed > 30d show id, lapsed as of 2024-01-31",
        "visits show client, at, provider",
    ]
    let taken = FastPaths.Tally()
    try both.store.env.read { txn in
        // The rest appended, and the tables of that newer snapshot cached.
        _ = try both.appendAndWait(Array(events[cut...]))
        for q in queries { _ = try both.query(q, today: today) }
        let lent = LentTransaction(txn: txn)
        for q in queries {
            let answer = try ScopedMarks.$minimumAsked.withValue(0) {
                try ColumnAggregation.$parallelAbove.withValue(2) {
                    try FastPaths.$taken.withValue(taken) {
                        try Executor.$snapshot.withValue(lent) { try both.query(q, today: today) }
                    }
                }
            }
            let expected = try old.query(q, today: today)
            #expect(answer == expected, "on the older snapshot: \(q)")
        }
    }
    #expect(taken["event-columns"] >= 4 && taken["marks"] >= 2)
}

/// Day cubes (DayCube.swift): a shape's cube is made once per snapshot and answers
/// every range of days; an event field of line items is read through the item's
/// purchase (item and event indexes differ here: a visit comes first and one purchase
/// has two items); a newer snapshot gets a new cube that counts the new events.
@Test func dayCubesAnswerEveryRangeOfDays() throws {
    let dir = TempDir()
    let db = try Database(path: dir.path("db"), options: .init(durable: false))
    let today = day("2024-06-30")
    func at(_ daysBack: Int) -> Int64 { Int64(today - Day(daysBack)) * 86_400_000 }
    func item(_ name: String, _ cents: Int64) -> PurchaseItem {
        PurchaseItem(name: name, category: "skincare", amount: Money(cents: cents))
    }
    _ = try db.appendAndWait([
        Event(client: "a", at: at(10), payload: .visit(Visit(provider: "Lee", services: ["peel"]))),
        Event(client: "a", at: at(5), payload: .purchase(Purchase(amount: Money(cents: 300), items: [item("x", 100), item("y", 200)], provider: "Kim"))),
        Event(client: "b", at: at(5), payload: .purchase(Purchase(amount: Money(cents: 50), items: [item("z", 50)], provider: "Lee"))),
        Event(client: "b", at: at(40), payload: .purchase(Purchase(amount: Money(cents: 70), items: [item("z", 70)], provider: "Lee"))),
        Event(client: "b", at: at(-3), payload: .purchase(Purchase(amount: Money(cents: 90), items: [item("z", 90)], provider: "Kim"))),
    ])
    let taken = FastPaths.Tally()
    func ask(_ q: String) throws -> [[Value]] {
        let fast = try FastPaths.$taken.withValue(taken) { try db.query(q, today: today) }
        let general = try FastPaths.$enabled.withValue(false) { try db.query(q, today: today) }
        #expect(fast.rows == general.rows, "cube and general path differ on: \(q)")
        return fast.rows
    }
    let kim = Value.string("Kim"), lee = Value.string("Lee")
    #expect(try ask("items group by provider show count(), sum(amount)")
        == [[kim, .number(2), .money(Money(cents: 300))], [lee, .number(2), .money(Money(cents: 120))]])
    #expect(try ask("purchases group by provider show count(), sum(amount)")
        == [[kim, .number(1), .money(Money(cents: 300))], [lee, .number(2), .money(Money(cents: 120))]])
    #expect(try ask("purchases where at in last 30d group by provider show count(), sum(amount)")
        == [[kim, .number(1), .money(Money(cents: 300))], [lee, .number(1), .money(Money(cents: 50))]])
    #expect(try ask("purchases where at in last 2d group by provider show count()") == [])
    #expect(taken["day-cube"] == 4)
    // A newer snapshot: its own cube, with the new event.
    _ = try db.appendAndWait([Event(client: "c", at: at(1), payload: .purchase(Purchase(amount: Money(cents: 5), items: [item("w", 5)], provider: "Lee")))])
    #expect(try ask("purchases where at in last 2d group by provider show count()") == [[lee, .number(1)]])
    #expect(taken["day-cube"] == 5)
}

/// First-match days (FirstMatchDays.swift): a `has` marks a client whose first match
/// lies on `today` and not one whose first lies a day later, for every `today` asked
/// of the same snapshot's index.
@Test func firstMatchDaysCountTheDayItself() throws {
    let dir = TempDir()
    let db = try Database(path: dir.path("db"), options: .init(durable: false))
    let today = day("2024-06-30")
    func at(_ daysBack: Int) -> Int64 { Int64(today - Day(daysBack)) * 86_400_000 + 3_600_000 }
    _ = try db.appendAndWait([
        Event(client: "a", at: at(0), payload: .visit(Visit(services: ["peel", "Botox"]))),
        Event(client: "a", at: at(-5), payload: .visit(Visit(services: ["botox"]))),
        Event(client: "b", at: at(-1), payload: .visit(Visit(services: ["botox"]))),
        Event(client: "b", at: at(3), payload: .visit(Visit(services: ["peel"]))),
        Event(client: "c", at: at(2), payload: .purchase(Purchase(amount: Money(cents: 5)))),
    ])
    let taken = FastPaths.Tally()
    func ids(_ q: String, _ d: Day) throws -> [[Value]] {
        try ScopedMarks.$minimumAsked.withValue(0) {
            try FastPaths.$taken.withValue(taken) { try db.query(q, today: d) }
        }.rows
    }
    let q = "clients where has visit where services contains botox show id"
    #expect(try ids(q, today) == [[.string("a")]])
    #expect(try ids(q, today + 1) == [[.string("a")], [.string("b")]])
    #expect(try ids(q, today - 1) == [])
    #expect(try ids("clients where has no visit where services contains botox show id", today) == [[.string("b")], [.string("c")]])
    #expect(taken["first-match-days"] == 4)
}

/// `has` on raw columns run at a time over more rows than one run: every run reads
/// its own rows' marks (hand-counted: client k has botox when k % 3 == 0, filler when
/// k % 5 == 0).
@Test func hasMarksRunAtATimeOverManyRuns() throws {
    let dir = TempDir()
    let db = try Database(path: dir.path("db"), options: .init(durable: false))
    let today = day("2024-06-30")
    let n = fastBatchSize * 2 + 777
    var events: [Event] = []
    for k in 0..<n {
        let client = "c\(100_000 + k)"
        let at = Int64(today - Day(k % 50)) * 86_400_000
        events.append(Event(client: client, at: at, payload: .visit(Visit(services: [k % 3 == 0 ? "botox" : "peel"]))))
        let item = PurchaseItem(name: "x", category: k % 5 == 0 ? "filler" : "skincare", amount: Money(cents: 100))
        events.append(Event(client: client, at: at, payload: .purchase(Purchase(amount: Money(cents: 100), items: [item]))))
    }
    _ = try db.appendAndWait(events)
    let want = (0..<n).filter { $0 % 3 == 0 && $0 % 5 != 0 }.count
    let taken = FastPaths.Tally()
    let r = try FastPaths.$taken.withValue(taken) {
        try db.query("clients where has visit where services contains botox and has no purchase where items.category = filler show count()", today: today)
    }
    #expect(r.rows == [[.number(Double(want))]])
    #expect(taken["first-match-days"] == 2)
    let ids = try db.query("clients where has visit where services contains botox and has no purchase where items.category = filler show id", today: today)
    #expect(ids.rows == (0..<n).filter { $0 % 3 == 0 && $0 % 5 != 0 }.map { [.string("c\(100_000 + $0)")] })
}

/// The derived-value cache keeps the most recently used values, remembers what
/// cannot be made, and tries again what was stopped.
@Test func derivedCacheKeepsRecentValuesAndRemembersImpossibleOnes() {
    let cache = DerivedCache<String, Int>(limit: 2)
    var makes: [String] = []
    func get(_ key: String, _ made: DerivedCache<String, Int>.Made) -> Int? {
        cache.value(key) { makes.append(key); return made }
    }
    #expect(get("a", .value(1)) == 1)
    #expect(get("b", .value(2)) == 2)
    #expect(get("a", .value(9)) == 1)  // known: not made again, and now the most recent
    #expect(get("c", .value(3)) == 3)  // drops b, the least recently used
    #expect(get("a", .value(9)) == 1)
    #expect(get("b", .value(4)) == 4)  // made again
    #expect(get("x", .impossible) == nil)
    #expect(get("x", .value(5)) == nil)  // remembered as impossible
    #expect(get("s", .stopped) == nil)
    #expect(get("s", .value(6)) == 6)  // stopped: tried again
    #expect(makes == ["a", "b", "c", "b", "x", "s", "s"])
}

/// A raw `has` whose first-match days would be too large (clients × distinct strings
/// over 2^24) is not run at a time: behind a narrow `and` it keeps the per-row scan
/// instead of walking every visit per query.
@Test func hasWithoutFirstMatchDaysKeepsPerRowScans() throws {
    let dir = TempDir()
    let db = try Database(path: dir.path("db"), options: .init(durable: false))
    let today = day("2024-06-30")
    let n = 5_000
    var events: [Event] = []
    for k in 0..<n {
        events.append(Event(client: "c\(100_000 + k)", at: Int64(today - 1) * 86_400_000, payload: .visit(Visit(services: ["s\(k)"]))))
    }
    events.append(Event(client: "c100001", at: Int64(today - 2) * 86_400_000, payload: .visit(Visit(services: ["s1"]))))
    _ = try db.appendAndWait(events)
    #expect(n * n > FirstMatchDays.maxSlots)
    let taken = FastPaths.Tally()
    for _ in 0..<2 {
        let r = try FastPaths.$taken.withValue(taken) {
            try db.query("clients where visits > 1 and has visit where services contains s1 show id", today: today)
        }
        #expect(r.rows == [[.string("c100001")]])
    }
    #expect(taken["first-match-days"] == 0)
    #expect(taken["marks"] == 0)
}

/// A table with more distinct strings than one cell per day per string allows (2,300
/// item names over 1,000 days): a cube keyed by a field of few values numbers that
/// field's own strings and is still made.
@Test func dayCubesNumberTheFieldsOwnStrings() throws {
    let dir = TempDir()
    let db = try Database(path: dir.path("db"), options: .init(durable: false))
    let today = day("2024-06-30")
    var events: [Event] = []
    for k in 0..<2_300 {
        let item = PurchaseItem(name: "product \(k)", category: "skincare", amount: Money(cents: Int64(100 + k)))
        let provider = ["Kim", "lee", "Ito", "Lee"][k % 3 + (k / 1_000) % 2]
        events.append(Event(client: "c\(k % 97)", at: Int64(today - Day(k * 7 % 1_000)) * 86_400_000,
                            payload: .purchase(Purchase(amount: Money(cents: Int64(100 + k)), items: [item], provider: provider))))
    }
    _ = try db.appendAndWait(events)
    let span = try #require(try db.query("purchases show min(at), max(at)", today: today).rows.first)
    #expect(span.count == 2)
    let taken = FastPaths.Tally()
    for q in ["purchases group by provider show count(), sum(amount)",
              "items group by provider, month(at) show sum(amount), count()",
              "purchases where at in last 90d group by provider show count()"] {
        let fast = try FastPaths.$taken.withValue(taken) { try db.query(q, today: today) }
        let general = try FastPaths.$enabled.withValue(false) { try db.query(q, today: today) }
        #expect(fast.rows == general.rows, "cube and general path differ on: \(q)")
        #expect(!fast.rows.isEmpty)
    }
    #expect(taken["day-cube"] == 3)
}
