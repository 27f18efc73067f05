import Foundation
import Testing
@testable import Patron

@Suite struct ProjectionTests {
    /// Random histories appended in random batch sizes give projections equal to a
    /// rebuild and to the plain model of SPEC 3.5, for several `today`s.
    @Test(arguments: [1 as UInt64, 2, 3])
    func randomHistoriesMatchTheModelAndARebuild(seed: UInt64) async throws {
        var rng = SeededRandom(seed: seed)
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let events = RandomHistory.events(count: 1500, clients: 40, rng: &rng)
        var model = SpecModel()
        var i = 0
        while i < events.count {
            let n = min(Int.random(in: 1...200, using: &rng), events.count - i)
            let batch = Array(events[i..<(i + n)])
            let result = try await db.append(batch)
            for (p, e) in zip(result.positions, batch) { model.events.append((p, e)) }
            i += n
        }
        let keys = Set(events.map(\.client)).sorted()
        let todays = [day("2025-06-01"), day("2024-01-15"), day("2023-03-01")]
        var before: [String: [String: String]] = [:]
        for key in keys {
            for today in todays {
                let p = try #require(try db.client(key, today: today))
                let expected = model.fields(of: key, today: today)
                for (field, value) in expected {
                    #expect(p.fieldMap[field] == value, "client \(key) today \(Calendar.format(today)) field \(field)")
                }
            }
            before[key] = try db.client(key, today: todays[0])?.fieldMap
        }
        let report = try db.verify()
        #expect(report.isOK, "\(report.problems)")
        try db.rebuild()
        for key in keys { #expect(try db.client(key, today: todays[0])?.fieldMap == before[key]) }
        #expect(try db.verify().isOK)
    }

    @Test func outOfOrderArrivalGivesTheSameProjection() async throws {
        var rng = SeededRandom(seed: 9)
        // Distinct instants, so "latest" never falls back to the position tie-break.
        let events = RandomHistory.events(count: 400, clients: 5, rng: &rng).enumerated().map { i, e in
            var e = e
            e.at += Int64(i)
            return e
        }
        let sorted = events.sorted { $0.at < $1.at }
        let a = TempDir(), b = TempDir()
        let inOrder = try Database(path: a.path("db")), shuffled = try Database(path: b.path("db"))
        try await inOrder.append(sorted)
        for e in events { try await shuffled.append(e) }
        for key in Set(events.map(\.client)) {
            let x = try #require(try inOrder.client(key, today: day("2026-01-01")))
            let y = try #require(try shuffled.client(key, today: day("2026-01-01")))
            #expect(x == y)
        }
    }

    @Test func emptyValuesFollowTheExactRules() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        try await db.append(Event(client: "lead", at: ms("2025-01-01"), payload: .client(ClientDetails(name: "Lead", acquisitionCost: Money(dollars: 30)))))
        let p = try #require(try db.client("lead", today: day("2025-02-01")))
        #expect(p.visits == 0 && p.purchases == 0 && p.refunds == 0 && p.activeDays == 0 && p.points == 0)
        #expect(p.spend == Money(cents: 0) && p.refunded == Money(cents: 0))
        #expect(p.member == false)
        #expect(p.firstSeen == nil && p.lapsed == nil && p.tenure == nil && p.frequency == nil && p.aov == nil && p.cadence == nil)
        #expect(p.registered == day("2025-01-01"))
    }

    @Test func cadenceKeepsHalfDaysAndNextDueRoundsDown() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        // Activity days 0, 10, 41 → gaps 10, 31 → cadence 20.5.
        for d in ["2025-01-01", "2025-01-11", "2025-02-11"] {
            try await db.append(Event(client: "c", at: ms(d), payload: .visit(Visit())))
        }
        let p = try #require(try db.client("c", today: day("2025-03-01")))
        #expect(p.cadence == 20.5)
        #expect(p.nextDue == day("2025-02-11") + 20)
        #expect(p.overdue == Double(day("2025-03-01") - day("2025-02-11")) - 20.5)
        #expect(p.frequency == 3.0 * 365 / 59)
    }

    @Test func aovRoundsHalvesAwayFromZero() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        for cents in [100, 100, 101] as [Int64] {
            try await db.append(Event(client: "c", at: ms("2025-01-01"), payload: .purchase(Purchase(amount: Money(cents: cents)))))
        }
        // 301 / 3 = 100.33 → 100; then add a purchase for 301+1 = 302/4 = 75.5 → 76.
        #expect(try db.client("c", today: day("2025-01-02"))?.aov == Money(cents: 100))
        try await db.append(Event(client: "c", at: ms("2025-01-01"), payload: .purchase(Purchase(amount: Money(cents: 1)))))
        #expect(try db.client("c", today: day("2025-01-02"))?.aov == Money(cents: 76))
    }

    @Test func timeTravelEqualsADatabaseWithOnlyThoseEvents() async throws {
        var rng = SeededRandom(seed: 5)
        let events = RandomHistory.events(count: 600, clients: 8, rng: &rng)
        let cut = day("2024-02-10")
        let full = TempDir(), partial = TempDir()
        let all = try Database(path: full.path("db")), some = try Database(path: partial.path("db"))
        try await all.append(events)
        try await some.append(events.filter { Zone.utc.day(of: $0.at) <= cut })
        for key in Set(events.map(\.client)) {
            let a = try all.client(key, today: cut), b = try some.client(key, today: cut)
            if let b {
                var a2 = try #require(a)
                a2.eventCount = b.eventCount
                #expect(a2 == b, "client \(key)")
            }
        }
    }

    /// A large request folds on a second thread, which reads the states it does not
    /// hold through its own snapshot: a merged client's survivor among them, after a
    /// reopening (nothing carried over).
    @Test func aLargeRequestFoldsMergedClientsOnTheSecondThread() async throws {
        let dir = TempDir()
        do {
            let db = try Database(path: dir.path("db"))
            try await db.append([
                Event(client: "pms-1", at: ms("2025-01-01"), payload: .visit(Visit(services: ["botox"]))),
                Event(client: "shop-9", at: ms("2025-01-06"), payload: .merge(Merge(into: "pms-1"))),
            ])
        }
        let db = try Database(path: dir.path("db"))
        // 100 events (above AppendContext.deferFoldsFrom), none a merge or a forget.
        let purchases = (0..<100).map { i in
            Event(client: i % 2 == 0 ? "shop-9" : "new-\(i % 5)", at: ms("2025-02-01") + Int64(i) * 86_400_000,
                  payload: .purchase(Purchase(amount: Money(dollars: 10), items: [PurchaseItem(name: "serum \(i % 3)")])))
        }
        #expect(purchases.count >= AppendContext.deferFoldsFrom)
        let result = try await db.append(purchases)
        #expect(result.appended == 100)
        let p = try #require(try db.client("pms-1", today: day("2025-12-01")))
        #expect(p.visits == 1 && p.purchases == 50 && p.spend == Money(dollars: 500))
        #expect(p.items == ["serum 0", "serum 1", "serum 2"])
        #expect(try db.client("new-1", today: day("2025-12-01"))?.purchases == 10)
        #expect(try db.stream("shop-9").count == 51)
        #expect(try db.verify().isOK)
    }

    @Test func mergeCountsEverythingUnderTheSurvivor() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        try await db.append([
            Event(client: "pms-1", at: ms("2025-01-01"), payload: .visit(Visit(services: ["botox"]))),
            Event(client: "shop-9", at: ms("2025-01-05"), payload: .purchase(Purchase(amount: Money(dollars: 80)))),
            Event(client: "shop-9", at: ms("2025-01-06"), payload: .merge(Merge(into: "pms-1"))),
            Event(client: "shop-9", at: ms("2025-02-01"), payload: .purchase(Purchase(amount: Money(dollars: 20)))),
        ])
        let p = try #require(try db.client("pms-1", today: day("2025-03-01")))
        #expect(p.visits == 1 && p.purchases == 2 && p.spend == Money(dollars: 100) && p.activeDays == 3)
        #expect(try db.client("shop-9", today: day("2025-03-01"))?.id == "pms-1")
        #expect(try db.stats().clients == 1)
        #expect(try db.verify().isOK)
        try db.rebuild()
        #expect(try db.client("pms-1", today: day("2025-03-01")) == p)
        // A merge back is a no-op: they are already one person.
        try await db.append(Event(client: "pms-1", at: ms("2025-02-02"), payload: .merge(Merge(into: "shop-9"))))
        #expect(try db.client("pms-1", today: day("2025-03-01"))?.spend == Money(dollars: 100))
        #expect(try db.verify().isOK)
    }

    /// Transactions that carry their states to the next and hold at most a few while
    /// they can let go of unchanged ones fold to the same states as one unbounded
    /// folding, and never hold more than the bound or their changed states and one:
    /// with merges into merged clients, whose events read the states between them and
    /// their survivor without changing them.
    @Test(arguments: [1 as UInt64, 2])
    func aBoundedFoldingLetsGoOfUnchangedStatesOnly(seed: UInt64) throws {
        var rng = SeededRandom(seed: seed)
        var events = RandomHistory.events(count: 2_000, clients: 120, rng: &rng)
        // Chains: c1 → c2 → c3 → c4 (merged in that order), c10 → c11, c12 → c11.
        for (k, (from, into)) in [(1, 2), (10, 11), (2, 3), (12, 11), (3, 4)].enumerated() {
            events.insert(Event(client: "c\(from)", at: ms("2024-01-01"), payload: .merge(Merge(into: "c\(into)"))),
                          at: 150 + 250 * k)
        }
        var numbers: [String: UInt32] = [:]
        for e in events {
            var keys = [e.client]
            if case .merge(let m) = e.payload { keys.append(m.into) }
            for key in keys where numbers[key] == nil { numbers[key] = UInt32(numbers.count + 1) }
        }
        var strings: [String: UInt32] = [:]
        let intern: (String) -> UInt32 = { s in
            if let id = strings[s] { return id }
            strings[s] = UInt32(strings.count + 1)
            return UInt32(strings.count)
        }
        func fold(_ f: inout ProjectionFolding, _ k: Int) throws {
            let e = events[k]
            let owner = try #require(numbers[e.client])
            var into: UInt32?
            if case .merge(let m) = e.payload { into = numbers[m.into] }
            try f.apply(e, position: UInt64(k + 1), day: Zone.utc.day(of: e.at), owner: owner, into: into,
                        personal: nil, intern: intern)
        }
        var whole = ProjectionFolding(load: { _ in nil })
        for k in events.indices { try fold(&whole, k) }

        // "Committed" states, written at the end of each transaction of 100 events.
        final class Stored { var states: [UInt32: ClientState] = [:] }
        let stored = Stored()
        let bound = 12
        var carried = ProjectionFolding.Carried.none
        var letGo = 0
        for start in stride(from: 0, to: events.count, by: 100) {
            var f = ProjectionFolding(load: { stored.states[$0] }, carried: carried, holdAtMost: bound)
            for k in start..<min(start + 100, events.count) {
                try fold(&f, k)
                #expect(f.heldCount <= max(bound, f.dirty.count + 1))
            }
            for n in f.dirty { stored.states[n] = f[n] }
            letGo += f.trim(to: bound).count
            #expect(f.heldCount <= bound)
            carried = f.carry()
        }
        #expect(letGo > 0, "the transactions let go of states at their ends (else this shows little)")
        for n in numbers.values {
            #expect(stored.states[n] == whole[n], "client \(n)")
        }
    }
}
