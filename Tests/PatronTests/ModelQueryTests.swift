import Foundation
import Synchronization
import Testing
@testable import Patron

/// The lifetime-value models wired into the database and the query language:
/// `fit`, stored parameters, `set model`, `p_alive`, `expected(D)`, `predicted_clv`,
/// and the RFM fields (SPEC 3.5, 3.7, 5).

/// Notices a database wrote, for tests.
private final class NoticeLog: Sendable {
    let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func attach(to db: Database) { db.notices = { line in self.lines.withLock { $0.append(line) } } }
}

private let cdnowToday = day("1997-09-30")

private func cdnowURL() throws -> URL {
    try #require(Bundle.module.url(forResource: "cdnow_sample_purchases", withExtension: "csv", subdirectory: "Fixtures"))
}

/// A database holding the CDNOW sample imported as purchases (the CSV has client, at, amount).
private func cdnowDatabase(_ dir: TempDir) throws -> Database {
    let db = try Database(path: dir.path("cdnow"), options: .init(durable: false))
    var options = ImportOptions()
    options.type = .purchase
    try db.importFile(try cdnowURL().path, options: options)
    return db
}

/// Each CDNOW client's purchase cents per day, from the CSV itself (not the database).
private func cdnowDays() throws -> [String: [Int: Int64]] {
    let text = try String(contentsOf: try cdnowURL(), encoding: .utf8)
    var perClient: [String: [Int: Int64]] = [:]
    for line in text.split(separator: "\n").dropFirst() {
        let f = line.split(separator: ",", omittingEmptySubsequences: false)
        guard f.count == 3, let m = Money(parsing: String(f[2])) else { continue }
        perClient[String(f[0]), default: [:]][Int(day(String(f[1]))), default: 0] += m.cents
    }
    return perClient
}

/// A client's summary as of `today`, computed by hand: same-day purchases count once,
/// days after today are out, monetary = mean value of the repeat days.
private func handSummary(_ days: [Int: Int64], today: Day) -> ClientSummary? {
    let sorted = days.keys.filter { $0 <= Int(today) }.sorted()
    guard let first = sorted.first, let last = sorted.last else { return nil }
    let repeats = sorted.dropFirst()
    let mean = repeats.isEmpty ? 0 : Double(repeats.reduce(Int64(0)) { $0 + (days[$1] ?? 0) }) / Double(repeats.count) / 100
    return ClientSummary(x: sorted.count - 1, tx: Double(last - first) / 7, T: Double(Int(today) - first) / 7, monetary: mean)
}

private func within(_ value: Double, _ target: Double, relative: Double) -> Bool {
    abs(value - target) <= relative * abs(target)
}

private func number(_ v: Value) -> Double? {
    switch v {
    case .number(let x): return x
    case .money(let m): return Double(m.cents)
    default: return nil
    }
}

@Suite("ModelQuery")
struct ModelQueryTests {
    // MARK: CDNOW end to end

    @Test("CDNOW through the database: fit reproduces the published BG/NBD and Gamma-Gamma, and is stored")
    func cdnowFit() throws {
        let dir = TempDir()
        let db = try cdnowDatabase(dir)
        let log = NoticeLog()
        log.attach(to: db)
        let fits = try db.fit(today: cdnowToday)
        #expect(fits.clients == 2357)
        #expect(fits.position == (try db.lastPosition))
        let bg = fits.bgnbd
        #expect(bg.converged, "\(bg.reason ?? "")")
        #expect(within(bg.model.r, 0.243, relative: 0.005), "r = \(bg.model.r)")
        #expect(within(bg.model.alpha, 4.414, relative: 0.005), "α = \(bg.model.alpha)")
        #expect(within(bg.model.a, 0.793, relative: 0.005), "a = \(bg.model.a)")
        #expect(within(bg.model.b, 2.426, relative: 0.005), "b = \(bg.model.b)")
        #expect(abs(bg.logLikelihood - -9582.4) < 0.1, "LL = \(bg.logLikelihood)")
        #expect(fits.mbgnbd.converged, "\(fits.mbgnbd.reason ?? "")")
        let gg = fits.gammaGamma
        #expect(gg.converged, "\(gg.reason ?? "")")
        #expect(within(gg.model.p, 6.25, relative: 0.01), "p = \(gg.model.p)")
        #expect(within(gg.model.q, 3.74, relative: 0.01), "q = \(gg.model.q)")
        #expect(within(gg.model.gamma, 15.44, relative: 0.01), "γ = \(gg.model.gamma)")

        // Read back, with the day and log position of the fit; from a fresh handle too.
        for handle in [db, try Database(path: dir.path("cdnow"), readOnly: true)] {
            let stored = try handle.storedModels()
            #expect(stored.bgnbd?.model == bg.model)
            #expect(stored.mbgnbd?.model == fits.mbgnbd.model)
            #expect(stored.gammaGamma?.model == gg.model)
            #expect(stored.bgnbd?.today == cdnowToday)
            #expect(stored.bgnbd?.position == fits.position)
            #expect(stored.bgnbd?.clients == 2357)
            #expect(stored.bgnbd?.logLikelihood == bg.logLikelihood)
        }
        #expect(log.all.isEmpty, "an explicit fit writes no notice")
    }

    @Test("A query needing a model fits first, once, and says so; the next query uses the stored models")
    func fitsOnFirstUse() throws {
        let dir = TempDir()
        let db = try cdnowDatabase(dir)
        let log = NoticeLog()
        log.attach(to: db)
        #expect(try db.storedModels() == StoredModels())
        let first = try db.query("clients where p_alive < 0.5 show count()", today: cdnowToday)
        #expect(log.all.count == 1)
        #expect(log.all.first?.hasPrefix("no fitted model: fitting BG/NBD, MBG/NBD and Gamma-Gamma as of 1997-09-30 … done in ") == true,
                "\(log.all)")
        let stored = try db.storedModels()
        #expect(stored.bgnbd != nil && stored.mbgnbd != nil && stored.gammaGamma != nil)
        let second = try db.query("clients where p_alive < 0.5 show count()", today: cdnowToday)
        _ = try db.query("clients show sum(predicted_clv), avg(expected(90d))", today: cdnowToday)
        #expect(log.all.count == 1, "\(log.all)")
        #expect(first == second)
        #expect(try db.storedModels() == stored)
        // RFM needs no model: a fresh database answers without fitting.
        let other = TempDir()
        let fresh = try cdnowDatabase(other)
        let freshLog = NoticeLog()
        freshLog.attach(to: fresh)
        _ = try fresh.query("clients group by segment show count()", today: cdnowToday)
        #expect(freshLog.all.isEmpty)
        // A query that fails to compile does not fit.
        #expect(throws: QueryError.self) { try fresh.query("clients where expected(90) > 1", today: cdnowToday) }
        #expect(freshLog.all.isEmpty)
        #expect(try fresh.storedModels() == StoredModels())
    }

    @Test("A fit stopped by Ctrl-C stores nothing and is not taken for a failed one: the next query fits")
    func stoppedFitsAreRetried() throws {
        let dir = TempDir()
        let db = try cdnowDatabase(dir)
        let log = NoticeLog()
        log.attach(to: db)
        let stop = QueryCancellation { true }
        #expect(throws: QueryInterrupted.self) {
            _ = try QueryCancellation.$current.withValue(stop) { try db.fit(today: cdnowToday) }
        }
        #expect(throws: QueryInterrupted.self) {
            _ = try QueryCancellation.$current.withValue(stop) { try db.query("clients where p_alive < 0.5 show count()", today: cdnowToday) }
        }
        #expect(try db.storedModels() == StoredModels())
        #expect(log.all.isEmpty, "\(log.all)")
        // The stopped fit was reading the events: nothing half-built is left behind.
        let perClient = "clients show id, count(purchases), sum(purchases.amount) sort by id limit 50"
        let other = TempDir()
        #expect(try db.query(perClient, today: cdnowToday) == (try cdnowDatabase(other).query(perClient, today: cdnowToday)))
        let answer = try db.query("clients where p_alive < 0.5 show count()", today: cdnowToday)
        #expect(log.all.count == 1, "fitted on the next query: \(log.all)")
        let stored = try db.storedModels()
        #expect(stored.bgnbd != nil && stored.mbgnbd != nil && stored.gammaGamma != nil)
        #expect(answer.rows.first?.first != .null)
    }

    @Test("p_alive, expected(39w) and predicted_clv equal the models applied to the client's summary by hand")
    func fieldsMatchTheModelsByHand() throws {
        let dir = TempDir()
        let db = try cdnowDatabase(dir)
        _ = try db.fit(today: cdnowToday)
        let stored = try db.storedModels()
        let mbg = try #require(stored.mbgnbd?.model)
        let bg = try #require(stored.bgnbd?.model)
        let gg = try #require(stored.gammaGamma?.model)
        let perClient = try cdnowDays()
        #expect(try db.transactionModelKind == .mbgnbd)

        // Every client: the fast (typed columns) and the general path, against the hand summary.
        for fast in [true, false] {
            let r = try FastPaths.$enabled.withValue(fast) {
                try db.query("clients show id, p_alive, expected(39w), predicted_clv, expected(365d)", today: cdnowToday)
            }
            #expect(r.rows.count == 2357)
            for row in r.rows {
                guard case .string(let id) = row[0], let days = perClient[id] else { Issue.record("row \(row)"); continue }
                guard let s = handSummary(days, today: cdnowToday) else {
                    // First purchase after today: not a client yet as of today… but a row exists only with events.
                    #expect(row[1] == .null && row[2] == .null && row[3] == .null)
                    continue
                }
                let p = mbg.pAlive(x: s.x, tx: s.tx, T: s.T)
                let e39 = mbg.expected(t: 39, x: s.x, tx: s.tx, T: s.T)
                let e365 = mbg.expected(t: 365.0 / 7, x: s.x, tx: s.tx, T: s.T)
                #expect(number(row[1]).map { abs($0 - p) <= 1e-12 } == true, "\(id): p_alive \(row[1]) vs \(p)")
                #expect(number(row[2]).map { abs($0 - e39) <= 1e-12 } == true, "\(id): expected \(row[2]) vs \(e39)")
                #expect(number(row[4]).map { abs($0 - e365) <= 1e-12 } == true)
                let perDay = try #require(gg.expectedValue(x: s.x, monetary: s.monetary))
                let cents = (e365 * perDay * 100).rounded(.toNearestOrAwayFromZero)
                #expect(row[3] == .money(Money(cents: Int64(cents))), "\(id): predicted_clv \(row[3]) vs \(cents)")
            }
        }

        // The published per-customer check, on a client with x = 2 (the model's own numbers).
        let days4 = try #require(perClient["4"])
        let client4 = try #require(handSummary(days4, today: cdnowToday))
        let r4 = try db.query("clients where id = \"4\" show p_alive, expected(39w)", today: cdnowToday)
        #expect(r4.rows.first?[0] == .number(mbg.pAlive(x: client4.x, tx: client4.tx, T: client4.T)))

        // set model = bgnbd switches p_alive: a one-time client is certainly alive under BG/NBD.
        let oneTimer = try #require(perClient.first { k, v in handSummary(v, today: cdnowToday)?.x == 0 }?.key)
        let q = "clients where id = \"\(oneTimer)\" show p_alive, expected(39w)"
        let before = try db.query(q, today: cdnowToday)
        #expect(number(before.rows[0][0]).map { $0 < 1 } == true)
        _ = try db.query("set model = bgnbd")
        #expect(try db.transactionModelKind == .bgnbd)
        let after = try db.query(q, today: cdnowToday)
        #expect(after.rows[0][0] == .number(1))
        let daysOne = try #require(perClient[oneTimer])
        let s = try #require(handSummary(daysOne, today: cdnowToday))
        #expect(after.rows[0][1] == .number(bg.expected(t: 39, x: s.x, tx: s.tx, T: s.T)))
        let r4bg = try db.query("clients where id = \"4\" show p_alive", today: cdnowToday)
        #expect(r4bg.rows.first?[0] == .number(bg.pAlive(x: client4.x, tx: client4.tx, T: client4.T)))
        _ = try db.query("SET model = 'mbgnbd';")
        #expect(try db.transactionModelKind == .mbgnbd)
        #expect(try db.query(q, today: cdnowToday) == before)
    }

    @Test("as of: model fields from the summaries as of that day, the fast filter agreeing with the rows")
    func asOfUsesAsOfSummaries() throws {
        let dir = TempDir()
        let db = try cdnowDatabase(dir)
        _ = try db.fit(today: cdnowToday)
        let models = try db.storedModels()
        let mbg = try #require(models.mbgnbd?.model)
        let perClient = try cdnowDays()
        let asOf = day("1997-05-31")
        var expected: [String: Double] = [:]
        for (id, days) in perClient {
            if let s = handSummary(days, today: asOf) { expected[id] = mbg.pAlive(x: s.x, tx: s.tx, T: s.T) }
        }
        let r = try db.query("clients show id, p_alive as of 1997-05-31", today: cdnowToday)
        var seen = 0
        for row in r.rows {
            guard case .string(let id) = row[0], let p = expected[id] else {
                #expect(row[1] == .null)
                continue
            }
            seen += 1
            #expect(number(row[1]).map { abs($0 - p) <= 1e-12 } == true, "\(id): \(row[1]) vs \(p)")
        }
        #expect(seen == expected.count)
        for fast in [true, false] {
            let count = try FastPaths.$enabled.withValue(fast) {
                try db.query("clients where p_alive < 0.4 and active_days > 1 show count() as of 1997-05-31", today: cdnowToday)
            }
            let byHand = perClient.values.filter { days in
                guard let s = handSummary(days, today: asOf), s.x > 0 else { return false }
                return mbg.pAlive(x: s.x, tx: s.tx, T: s.T) < 0.4
            }.count
            #expect(count.rows == [[.number(Double(byHand))]], "fast \(fast)")
        }
        // predicted_clv reads each client's repeat-day value as of the day: rows
        // recomputed from the event table compute it from their events, and agree with
        // a replay of each client.
        let clv = "clients show id, predicted_clv as of 1997-05-31"
        let recomputed = try FastPaths.$recomputeAbove.withValue(0) { try db.query(clv, today: cdnowToday) }
        let replayed = try FastPaths.$enabled.withValue(false) { try db.query(clv, today: cdnowToday) }
        #expect(recomputed.rows == replayed.rows)
        #expect(recomputed.rows.filter { number($0[1]).map { $0 > 0 } == true }.count > 100)
    }

    // MARK: Fitting edge cases

    @Test("A fit that does not converge says so and keeps the stored parameters")
    func nonConvergingFitKeepsThePrevious() throws {
        let dir = TempDir()
        let db = try cdnowDatabase(dir)
        let good = try db.fit(today: cdnowToday)
        #expect(good.allConverged)
        let stored = try db.storedModels()
        // As of the first day of the cohort every client has one activity day: nothing to identify.
        let bad = try db.fit(today: day("1997-01-01"))
        #expect(!bad.bgnbd.converged && !bad.mbgnbd.converged && !bad.gammaGamma.converged)
        #expect(try db.storedModels() == stored)
        #expect(bad.stored == stored)
        let notes = bad.result.rows.filter { $0[1] == .string("log_likelihood") }.map { $0[4] }
        #expect(notes.count == 3)
        for n in notes {
            guard case .string(let text) = n else { Issue.record("note \(n)"); continue }
            #expect(text.hasPrefix("did not converge: ") && text.hasSuffix("; the stored parameters are kept"), "\(text)")
        }
        // The statement form says the same, as a table.
        let r = try db.query("fit", today: day("1997-01-01"))
        #expect(r.rows.filter { $0[1] == .string("log_likelihood") }.allSatisfy {
            if case .string(let t) = $0[4] { t.contains("did not converge") } else { false }
        })
        #expect(try db.storedModels() == stored)
    }

    @Test("Only one-time clients: no model, a notice once, null model fields")
    func oneTimeClientsOnly() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"), options: .init(durable: false))
        try await db.append((1...30).map { i in
            Event(client: "c\(i)", at: ms("2025-01-\(String(format: "%02d", i))"), payload: .visit(Visit()))
        })
        let log = NoticeLog()
        log.attach(to: db)
        let today = day("2025-03-01")
        let r = try db.query("clients where id = c1 show p_alive, expected(30d), predicted_clv, r, segment", today: today)
        #expect(r.rows == [[.null, .null, .null, .number(1), .string("hibernating")]])
        #expect(log.all.count == 1)
        #expect(log.all.first?.contains("BG/NBD did not converge") == true, "\(log.all)")
        _ = try db.query("clients where p_alive > 0", today: today)
        #expect(log.all.count == 1, "a failed fit is not retried at the same position and day")
        #expect(try db.storedModels() == StoredModels())
    }

    @Test("The fit statement is an ordinary table, in CSV too")
    func fitRendersAsCSV() throws {
        let dir = TempDir()
        let db = try cdnowDatabase(dir)
        let r = try db.query("fit", today: cdnowToday)
        #expect(r.columns.map(\.name) == ["model", "parameter", "value", "std_error", "note"])
        #expect(r.rows.map { "\($0[0]) \($0[1])" } == [
            "bgnbd r", "bgnbd alpha", "bgnbd a", "bgnbd b", "bgnbd log_likelihood",
            "mbgnbd r", "mbgnbd alpha", "mbgnbd a", "mbgnbd b", "mbgnbd log_likelihood",
            "gammagamma p", "gammagamma q", "gammagamma gamma", "gammagamma log_likelihood",
        ])
        let csv = r.rendered(as: .csv)
        let lines = csv.split(separator: "\n").map(String.init)
        #expect(lines.first == "model,parameter,value,std_error,note")
        #expect(lines.count == 15)
        #expect(lines[1].hasPrefix("bgnbd,r,0.24"), "\(lines[1])")
        #expect(lines[5].hasPrefix("bgnbd,log_likelihood,-9582.4"), "\(lines[5])")
        #expect(lines[5].contains("converged in ") && lines[5].hasSuffix(" s, \"2,357 clients\"") || lines[5].hasSuffix(" s, 2,357 clients\""),
                "\(lines[5])")
        // Standard errors are there for converged fits.
        #expect(r.rows[0][3] != .null)
        let json = r.rendered(as: .json)
        #expect(json.contains("\"parameter\":\"log_likelihood\"") || json.contains("\"parameter\": \"log_likelihood\""))
    }

    // MARK: RFM

    /// Five clients with activity and a lead without, today = 2025-01-31:
    ///
    /// | client | activity days                         | active_days | last_seen  | spend |
    /// |--------|---------------------------------------|-------------|------------|-------|
    /// | a      | purchases 01-10, 01-20, 01-30 ($100)  | 3           | 2025-01-30 | $300  |
    /// | b      | purchase 01-15 ($50), visit 01-30     | 2           | 2025-01-30 | $50   |
    /// | c      | visits 09-01, 10-01, 11-01; 12-01 $500| 4           | 2024-12-01 | $500  |
    /// | d      | purchase 2024-06-01 ($500)            | 1           | 2024-06-01 | $500  |
    /// | e      | visit 01-05                           | 1           | 2025-01-05 | $0    |
    /// | lead   | a client event only                   | 0           | —          | $0    |
    ///
    /// n = 5; score = 1 + floor(5 (k − 1) / 5) = k, where k − 1 = clients strictly worse.
    /// R (earlier last_seen is worse): d 0 → 1; c 1 → 2; e 2 → 3; a, b 3 (tie) → 4, 4.
    /// F (fewer active days is worse): d, e 0 (tie) → 1, 1; b 2 → 3; a 3 → 4; c 4 → 5.
    /// M (less spend is worse): e 0 → 1; b 1 → 2; a 2 → 3; c, d 3 (tie) → 4, 4.
    /// rfm: a 443, b 432, c 254, d 114, e 311.
    /// segment: a R4 F4 loyal; b R4 F3 potential_loyalist; c R2 F5 cant_lose;
    /// d R1 F1 hibernating; e R3 F1 about_to_sleep; lead: null everywhere.
    @Test("RFM on a hand-built population with ties")
    func rfmByHand() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"), options: .init(durable: false))
        func buy(_ c: String, _ at: String, _ dollars: Int64) -> Event {
            Event(client: c, at: ms(at), payload: .purchase(Purchase(amount: Money(dollars: dollars))))
        }
        func visit(_ c: String, _ at: String) -> Event { Event(client: c, at: ms(at), payload: .visit(Visit())) }
        try await db.append([
            buy("a", "2025-01-10", 100), buy("a", "2025-01-20", 100), buy("a", "2025-01-30", 100),
            buy("b", "2025-01-15", 50), visit("b", "2025-01-30"),
            visit("c", "2024-09-01"), visit("c", "2024-10-01"), visit("c", "2024-11-01"), buy("c", "2024-12-01", 500),
            buy("d", "2024-06-01", 500),
            visit("e", "2025-01-05"),
            Event(client: "lead", at: ms("2024-01-01"), payload: .client(ClientDetails(name: "Lead"))),
            // After today: ignored.
            buy("d", "2025-02-10", 900), visit("e", "2025-02-11"),
        ])
        let today = day("2025-01-31")
        let expected: [[Value]] = [
            [.string("a"), .number(4), .number(4), .number(3), .string("443"), .string("loyal")],
            [.string("b"), .number(4), .number(3), .number(2), .string("432"), .string("potential_loyalist")],
            [.string("c"), .number(2), .number(5), .number(4), .string("254"), .string("cant_lose")],
            [.string("d"), .number(1), .number(1), .number(4), .string("114"), .string("hibernating")],
            [.string("e"), .number(3), .number(1), .number(1), .string("311"), .string("about_to_sleep")],
            [.string("lead"), .null, .null, .null, .null, .null],
        ]
        for fast in [true, false] {
            try FastPaths.$enabled.withValue(fast) {
                let r = try db.query("clients show id, r, f, m, rfm, segment", today: today)
                #expect(r.rows == expected, "fast \(fast)")
                let g = try db.query("clients group by segment show count()", today: today)
                #expect(g.rows == [[.string("about_to_sleep"), .number(1)], [.string("cant_lose"), .number(1)],
                                   [.string("hibernating"), .number(1)], [.string("loyal"), .number(1)],
                                   [.string("potential_loyalist"), .number(1)], [.null, .number(1)]], "fast \(fast)")
                let w = try db.query("clients where r = 4 and f >= 3 and segment != loyal show id", today: today)
                #expect(w.rows == [[.string("b")]])
                let e = try db.query("purchases where client.rfm = \"443\" show count()", today: today)
                #expect(e.rows == [[.number(3)]])
            }
        }
        // The same population one day later than everything: the later events count.
        let later = try db.query("clients where id in (d, e) show id, f, rfm", today: day("2025-03-01"))
        #expect(later.rows.count == 2)
        // The segment table covers every (R, F) pair, each with the name SPEC 5.3 gives it.
        for r in 1...5 {
            for f in 1...5 {
                let name = RFMScores.segments[RFMScores.segment(r: r, f: f)]
                let wanted: String
                switch (r, f) {
                case (5, 4...5): wanted = "champions"
                case (3...4, 4...5): wanted = "loyal"
                case (4...5, 2...3): wanted = "potential_loyalist"
                case (5, 1): wanted = "new"
                case (4, 1): wanted = "promising"
                case (3, 3): wanted = "need_attention"
                case (3, 1...2): wanted = "about_to_sleep"
                case (1...2, 5): wanted = "cant_lose"
                case (1...2, 3...4): wanted = "at_risk"
                default: wanted = "hibernating"
                }
                #expect(name == wanted, "R\(r) F\(f)")
            }
        }
        #expect(RFMScores.segment(r: 5, f: 3) == 2)  // potential_loyalist
    }

    @Test("The mean repeat-day value: purchases minus refunds of the day, refunds on other days left out")
    func monetaryByHand() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"), options: .init(durable: false))
        try await db.append([
            // First day (not a repeat day): $80.
            Event(client: "a", at: ms("2025-01-01"), payload: .purchase(Purchase(amount: Money(dollars: 80)))),
            // Day 2: $100 and $20 purchases, a $30 refund → $90.
            Event(client: "a", at: ms("2025-01-08"), payload: .purchase(Purchase(amount: Money(dollars: 100)))),
            Event(client: "a", at: ms("2025-01-08T15:00"), payload: .purchase(Purchase(amount: Money(dollars: 20)))),
            Event(client: "a", at: ms("2025-01-08T16:00"), payload: .refund(Refund(amount: Money(dollars: 30)))),
            // A refund on a day without activity: no activity day carries it.
            Event(client: "a", at: ms("2025-01-10"), payload: .refund(Refund(amount: Money(dollars: 500)))),
            // Day 3: a visit only → $0.
            Event(client: "a", at: ms("2025-01-15"), payload: .visit(Visit())),
            // After today.
            Event(client: "a", at: ms("2025-03-01"), payload: .purchase(Purchase(amount: Money(dollars: 1000)))),
            Event(client: "b", at: ms("2025-01-02"), payload: .purchase(Purchase(amount: Money(dollars: 70)))),
        ])
        let today = day("2025-02-01")
        try db.store.env.read { txn in
            let table = try db.clientTables.table(store: db.store, txn: txn)
            var env = QueryEnv(database: db, txn: txn, table: table, today: today)
            if let r = env.recomputedForToday(tallies: false) { env = r }
            let m = ModelInputs.monetary(env)
            #expect(m == [45, 0])  // a: (90 + 0) / 2; b: one day
            let s = ModelInputs.summaries(env)
            #expect(s == [ClientSummary(x: 2, tx: 2, T: Double(31) / 7, monetary: 45), ClientSummary(x: 0, tx: 0, T: Double(30) / 7, monetary: 0)])
        }
    }

    @Test("The mean repeat-day value on random histories with merges, refunds on and off activity days, and past days",
          arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func monetaryOnRandomHistories(seed: UInt64) async throws {
        var rng = SeededRandom(seed: seed)
        // Few clients: past days replay them; many: past days recompute them from the event table.
        let keys = (0..<(seed % 2 == 0 ? 150 : 12)).map { "k\($0)" }
        var events: [Event] = []
        for _ in 0..<(seed % 2 == 0 ? 2_000 : 400) {
            let key = keys[Int.random(in: 0..<keys.count, using: &rng)]
            let at = ms("2025-01-01") + Int64.random(in: 0..<120, using: &rng) * 86_400_000 + Int64.random(in: 0..<20, using: &rng) * 3_600_000
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: events.append(Event(client: key, at: at, payload: .visit(Visit())))
            case 1, 2: events.append(Event(client: key, at: at, payload: .purchase(Purchase(amount: Money(cents: Int64.random(in: 0..<40_000, using: &rng))))))
            default: events.append(Event(client: key, at: at, payload: .refund(Refund(amount: Money(cents: Int64.random(in: 1..<9_000, using: &rng))))))
            }
        }
        // Merges between two batches: the projection joins people with and without
        // their later events (the stored value sums follow both ways).
        var owner: [String: String] = [:]
        var merges: [Event] = []
        for (from, to) in [("k1", "k2"), ("k3", "k2"), ("k5", "k6")] {
            owner[from] = to
            merges.append(Event(client: from, at: ms("2025-02-15"), payload: .merge(Merge(into: to))))
        }
        let dir = TempDir()
        let db = try Database(path: dir.path("db"), options: .init(durable: false))
        try await db.append(Array(events[..<(events.count / 2)]))
        try await db.append(merges)
        try await db.append(Array(events[(events.count / 2)...]))
        #expect(try db.verify().problemCount == 0)
        for todayText in ["2025-02-10", "2025-03-20", "2025-06-01"] {
            let today = day(todayText)
            // By hand: each person's day values up to today, then the mean over all days but the first.
            var values: [String: [Day: Int64]] = [:]
            var active: [String: Set<Day>] = [:]
            for e in events {
                let d = Zone.utc.day(of: e.at)
                guard d <= today else { continue }
                let person = owner[e.client] ?? e.client
                switch e.payload {
                case .visit: active[person, default: []].insert(d)
                case .purchase(let p):
                    active[person, default: []].insert(d)
                    values[person, default: [:]][d, default: 0] += p.amount.cents
                case .refund(let r): values[person, default: [:]][d, default: 0] -= r.amount.cents
                default: break
                }
            }
            var expected: [String: Double] = [:]
            for (person, days) in active where days.count >= 2 {
                let repeatDays = days.sorted().dropFirst()
                let total = repeatDays.reduce(Int64(0)) { $0 + (values[person]?[$1] ?? 0) }
                expected[person] = Double(total) / Double(repeatDays.count) / 100
            }
            try db.store.env.read { txn in
                let table = try db.clientTables.table(store: db.store, txn: txn)
                var env = QueryEnv(database: db, txn: txn, table: table, today: today)
                if let r = env.recomputedForToday(tallies: false) { env = r }
                let m = ModelInputs.monetary(env)
                for i in 0..<table.count {
                    let key = table.keys[i]
                    #expect(abs(m[i] - (expected[key] ?? 0)) < 1e-9, "seed \(seed) \(todayText) \(key): \(m[i]) vs \(expected[key] ?? 0)")
                }
            }
        }
    }

    @Test("Model and RFM fields are null for clients without an activity day; bad arguments are errors")
    func nullsAndErrors() async throws {
        let dir = TempDir()
        let db = try cdnowDatabase(dir)
        try await db.append([
            Event(client: "lead", at: ms("1997-02-01"), payload: .client(ClientDetails(name: "Lead"))),
            Event(client: "lead", at: ms("1997-03-01"), payload: .refund(Refund(amount: Money(dollars: 5)))),
        ])
        _ = try db.fit(today: cdnowToday)
        let r = try db.query("clients where id = lead show p_alive, expected(90d), predicted_clv, predicted_clv(6m), r, f, m, rfm, segment",
                             today: cdnowToday)
        #expect(r.rows == [[Value](repeating: .null, count: 9)])
        let kinds = try db.query("clients show p_alive, expected(1w), predicted_clv, r, rfm, segment limit 1", today: cdnowToday)
        #expect(kinds.columns.map(\.kind) == [.number, .number, .money, .number, .string, .string])
        // Event rows reach the client's model fields.
        let ev = try db.query("purchases where client.p_alive >= 0 and client.segment is not null show count()", today: cdnowToday)
        let all = try db.query("purchases where at <= 1997-09-30 show count()", today: cdnowToday)
        #expect(ev.rows == all.rows)

        func message(_ q: String) -> String {
            do { _ = try db.query(q, today: cdnowToday); return "" } catch let e as QueryError { return e.message + " " + (e.hint ?? "") } catch { return "\(error)" }
        }
        #expect(message("clients where expected > 1").contains("expected(D) needs a duration"))
        #expect(message("clients show expected(1d, 2d)").contains("takes one duration"))
        #expect(message("clients show predicted_clv(90)").contains("needs a duration"))
        #expect(message("clients group by tier show expected(90d)").contains("neither a group key nor an aggregate"))
        #expect(message("visits where p_alive > 0.5").contains("client.p_alive"))
        #expect(message("set model = bgnbdd").contains("bgnbd or mbgnbd"))
        #expect(message("set colour = red").contains("unknown setting"))
        #expect(message("clients where p_aliv > 0.5").contains("p_alive"))
    }

    @Test("Completion and .fields know the model fields; the vocabulary has fit and set")
    func vocabulary() throws {
        let names = try #require(QueryVocabulary.fields(of: "clients")).map(\.name)
        for f in ["p_alive", "expected", "predicted_clv", "r", "f", "m", "rfm", "segment"] { #expect(names.contains(f)) }
        #expect(QueryVocabulary.functions.contains("expected"))
        #expect(QueryVocabulary.keywords.contains("fit") && QueryVocabulary.keywords.contains("set"))
        #expect(try Parser.statement("fit") == .fit(SourceRange(0, 3)))
        #expect(throws: QueryError.self) { try Parser.statement("fit now") }
        #expect(throws: QueryError.self) { try Parser.statement("set model") }
    }

    @Test("patron fit prints the table and stores the models")
    func fitCommand() throws {
        let dir = TempDir()
        let db = try cdnowDatabase(dir)
        let help = try runProduct("patron", ["fit", "--help"])
        #expect(help.status == 0 && help.out.contains("Examples:") && help.out.contains("--today"))
        let r = try runProduct("patron", ["fit", "--db", db.path, "--today", "1997-09-30", "--format", "csv"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.hasPrefix("model,parameter,value,std_error,note\nbgnbd,r,0.24"))
        #expect(try db.storedModels().bgnbd?.today == cdnowToday)
        let q = try runProduct("patron", ["query", "--db", db.path, "--today", "1997-09-30", "clients where p_alive < 0.3 and spend > $200 show count()"])
        #expect(q.status == 0 && q.err.isEmpty, "\(q.err)")
    }
}
