import Foundation
import Testing
@testable import Patron

/// Property test of the query engine: random histories, random queries from a small
/// grammar, and for each query the answer of a slow, plain REFERENCE EVALUATOR written
/// straight from SPEC 3.4–3.6 and 3.11 over the raw event list (client fields come
/// from ``SpecModel``, which is itself checked against the projections elsewhere).
/// The engine's rows must equal the reference's rows exactly: values and order.
///
/// Reference semantics, as the SPEC states them:
/// * the world of a query is every event whose day is on or before `today` (or the
///   `as of` date); a client is a row when it has at least one such event;
/// * a comparison with a null operand is false, and so are its negated forms
///   (`x not in (…)`, `x not between …`, `x not in last …`, `x not contains …`, `!=`);
///   the `not` keyword in front of an expression turns false into true;
/// * strings compare ignoring case — equality and ordering alike (`tier <= Gold` holds
///   for a `gold` client because `tier = Gold` does);
/// * a plain number compares with money as dollars, exactly (`spend = 12.34` is `spend = $12.34`);
/// * `date in last 90d` is after today − 90d, up to and including today;
/// * natural order of clients is the client id ascending; `top` takes the greatest
///   keys (nulls never before a value) with ties in natural order; `sort by` puts nulls
///   last in either direction and keeps natural order for ties;
/// * grouped rows are sorted by key ascending (strings ignoring case), a null key last;
///   a string key shows the spelling of the group's first row in natural order;
/// * money from `avg`/`median`/`percentile` is rounded to the cent, halves away from zero.
@Suite struct QueryPropertyTests {
    static let seeds: [UInt64] = [101, 202, 303, 404]
    static let queriesPerSeed = 300

    @Test(arguments: seeds)
    func randomQueriesAgreeWithTheReferenceEvaluator(seed: UInt64) async throws {
        var rng = SeededRandom(seed: seed)
        let world = try await RefWorld.make(rng: &rng)
        var gen = QueryGen(world: world)
        var mismatches = 0
        var reported = 0
        var kinds: [String: Int] = [:]
        for n in 0..<Self.queriesPerSeed {
            let q = gen.next(&rng)
            kinds[q.kind, default: 0] += 1
            let expected = q.expected()
            let actual: QueryResult
            do {
                actual = try world.db.query(q.text, today: world.today)
            } catch let e as QueryError {
                mismatches += 1
                if reported < 12 {
                    reported += 1
                    Issue.record("seed \(seed) query #\(n) (today \(Patron.Calendar.format(world.today))) was rejected:\n\(e.render(origin: "query"))")
                }
                continue
            }
            if actual.columns.count != expected.columnCount || actual.rows != expected.rows {
                mismatches += 1
                if reported < 12 {
                    reported += 1
                    Issue.record("""
                        seed \(seed) query #\(n) (today \(Patron.Calendar.format(world.today))):
                          \(q.text)
                        \(RefWorld.diff(expected: expected, actual: actual))
                        """)
                }
            }
        }
        #expect(mismatches == 0, "seed \(seed): \(mismatches) of \(Self.queriesPerSeed) queries disagree with the reference (queries by kind: \(kinds.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))")
    }

    /// The reference evaluator's own foundation: the typed client records agree with
    /// the engine's `clients show …` on every field it uses, for several days. (If this
    /// fails, the reference is wrong, not the query language.)
    @Test func referenceRecordsMatchTheEngineFieldByField() async throws {
        var rng = SeededRandom(seed: 7)
        let world = try await RefWorld.make(rng: &rng)
        let fields = RefWorld.fieldKinds.keys.sorted()
        for t in [world.today, world.today - 200, day("2023-01-05"), world.today + 100] {
            let r = try world.db.query("clients show id, " + fields.joined(separator: ", "), today: t)
            let expected = world.clients(at: t).map { rec in [rec["id"] ?? .null] + fields.map { rec[$0] ?? .null } }
            #expect(r.rows == expected, "today \(Patron.Calendar.format(t))")
        }
    }
}

// MARK: - The world: a random history in a database, and the reference's view of it

/// One client as the reference sees it on one day: SPEC 3.5 fields as typed values.
typealias RefRecord = [String: Value]

final class RefWorld: @unchecked Sendable {
    let dir: TempDir
    let db: Database
    let model: SpecModel
    let today: Day
    let asOfPool: [Day]
    private var cache: [Day: [RefRecord]] = [:]

    /// Spends of the `edge-k` clients.
    static let edgeSpends = [29, 57, 115, 1_005, 2_01, 100_007].map { Money(cents: Int64($0)) }

    /// The client fields the generator uses, with their kinds.
    static let fieldKinds: [String: ValueKind] = [
        "lapsed": .duration, "tenure": .duration, "cadence": .duration,
        "visits": .number, "purchases": .number, "active_days": .number, "points": .number,
        "spend": .money, "tier": .string, "name": .string, "member": .boolean,
        "first_seen": .date, "last_seen": .date,
    ]

    private init(dir: TempDir, db: Database, model: SpecModel, today: Day, asOfPool: [Day]) {
        self.dir = dir
        self.db = db
        self.model = model
        self.today = today
        self.asOfPool = asOfPool
    }

    /// ~30–60 clients with random, out-of-order histories (RandomHistory), plus leads
    /// that never came (no activity day), clients first seen after `today`, tiers
    /// spelled in other cases, appended in random batches.
    static func make(rng: inout SeededRandom) async throws -> RefWorld {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"), options: .init(durable: false))
        let clients = Int.random(in: 30...60, using: &rng)
        var events = RandomHistory.events(count: clients * Int.random(in: 8...16, using: &rng), clients: clients, rng: &rng)
        let today = day("2024-03-01") + Day(Int.random(in: 0...270, using: &rng))
        func at(_ d: Day) -> Int64 { Int64(d) * 86_400_000 + Int64.random(in: 0..<20, using: &rng) * 3_600_000 }
        for k in 0..<Int.random(in: 2...4, using: &rng) {
            // Leads: registered, rewarded, never active.
            let key = "lead-\(k)"
            events.append(Event(client: key, at: at(today - Day(Int.random(in: 0...500, using: &rng))),
                                payload: .client(ClientDetails(name: "Lead \(k)", source: "ads"))))
            for _ in 0..<Int.random(in: 0...2, using: &rng) {
                events.append(Event(client: key, at: at(today - Day(Int.random(in: -30...500, using: &rng))),
                                    payload: .reward(Reward(points: Int64.random(in: 1...300, using: &rng)))))
            }
        }
        for k in 0..<2 {
            // Late clients: every event after today.
            let key = "late-\(k)"
            for _ in 0..<3 {
                events.append(Event(client: key, at: at(today + Day(Int.random(in: 1...60, using: &rng))),
                                    payload: .visit(Visit(provider: "Maya", services: ["peel"]))))
            }
            events.append(Event(client: key, at: at(today + 5), payload: .tier(TierChange(tier: "gold"))))
        }
        for (k, m) in edgeSpends.enumerated() {
            // Spends whose decimal form is not exact in binary floating point ($0.29 is not 0.29 × 100 in a Double).
            let at = at(today - Day(Int.random(in: 0...300, using: &rng)))
            events.append(Event(client: "edge-\(k)", at: at, payload: .purchase(Purchase(amount: m))))
        }
        for _ in 0..<(clients / 6) {
            // Tiers in other spellings (strings compare ignoring case).
            events.append(Event(client: "c\(Int.random(in: 0..<clients, using: &rng))",
                                at: at(day("2023-01-01") + Day(Int.random(in: 0..<730, using: &rng))),
                                payload: .tier(TierChange(tier: ["Gold", "SILVER", "Bronze", "PLATINUM"].randomElement(using: &rng)!))))
        }
        events.shuffle(using: &rng)
        var model = SpecModel()
        var i = 0
        while i < events.count {
            let n = min(Int.random(in: 1...120, using: &rng), events.count - i)
            let batch = Array(events[i..<(i + n)])
            let result = try await db.append(batch)
            for (p, e) in zip(result.positions, batch) { model.events.append((p, e)) }
            i += n
        }
        var pool: [Day] = [today]
        for _ in 0..<4 { pool.append(day("2023-02-01") + Day(Int.random(in: 0...Int(today - day("2023-02-01")) + 60, using: &rng))) }
        return RefWorld(dir: dir, db: db, model: model, today: today, asOfPool: pool)
    }

    /// The clients in the world of day `t`, in natural order (id ascending), each with
    /// its fields as of `t`.
    func clients(at t: Day) -> [RefRecord] {
        if let c = cache[t] { return c }
        let keys = Set(model.events.filter { Zone.utc.day(of: $0.event.at) <= t }.map(\.event.client))
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let out = keys.map { key -> RefRecord in
            let f = model.fields(of: key, today: t)
            var r: RefRecord = ["id": .string(key)]
            for (name, kind) in Self.fieldKinds { r[name] = Self.typed(f[name] ?? "null", kind) }
            return r
        }
        cache[t] = out
        return out
    }

    /// A SpecModel field string as a typed value.
    static func typed(_ s: String, _ kind: ValueKind) -> Value {
        if s == "null" { return .null }
        switch kind {
        case .duration: return .duration(Double(s)!)
        case .number: return .number(Double(s)!)
        case .money: return .money(Money(cents: Int64(s)!))
        case .date: return .date(Day(s)!)
        case .boolean: return .bool(s == "true")
        default: return .string(s)
        }
    }

    /// Raw events of `type` whose day is in (t − span, t], in log order.
    func events(_ type: EventType, inLast span: Double, at t: Day) -> [(position: UInt64, event: Event, day: Day)] {
        model.events.compactMap { p, e in
            let d = Zone.utc.day(of: e.at)
            guard e.type == type, Double(d) > Double(t) - span, d <= t else { return nil }
            return (p, e, d)
        }.sorted { $0.position < $1.position }
    }

    static func diff(expected: Expected, actual: QueryResult) -> String {
        var s = "  columns: expected \(expected.columnCount), got \(actual.columns.count) \(actual.columns.map(\.name))\n"
        s += "  rows: expected \(expected.rows.count), got \(actual.rows.count)\n"
        for k in 0..<max(expected.rows.count, actual.rows.count) {
            let e = k < expected.rows.count ? "\(expected.rows[k])" : "—"
            let a = k < actual.rows.count ? "\(actual.rows[k])" : "—"
            if e != a {
                s += "  first difference at row \(k):\n    expected \(e)\n    actual   \(a)\n"
                break
            }
        }
        return s
    }
}

/// A query's expected answer.
struct Expected {
    var columnCount: Int
    var rows: [[Value]]
}

// MARK: - Reference semantics

enum Ref {
    /// Strings ignoring case (then exactly, only to make the order total).
    static func compareStrings(_ a: String, _ b: String) -> Int {
        let x = a.lowercased(), y = b.lowercased()
        return x < y ? -1 : (x > y ? 1 : 0)
    }

    /// -1, 0, 1 for two non-null values of comparable kinds.
    static func order(_ a: Value, _ b: Value) -> Int {
        func c<T: Comparable>(_ x: T, _ y: T) -> Int { x < y ? -1 : (x > y ? 1 : 0) }
        switch (a, b) {
        case (.string(let x), .string(let y)): return compareStrings(x, y)
        case (.bool(let x), .bool(let y)): return c(x ? 1 : 0, y ? 1 : 0)
        case (.number(let x), .number(let y)): return c(x, y)
        case (.duration(let x), .duration(let y)): return c(x, y)
        case (.date(let x), .date(let y)): return c(x, y)
        case (.money(let x), .money(let y)): return c(x.cents, y.cents)
        default: fatalError("reference: cannot order \(a) and \(b)")
        }
    }

    /// A comparison: false when either side is null.
    static func compare(_ a: Value, _ op: String, _ b: Value) -> Bool {
        if a.isNull || b.isNull { return false }
        let c = order(a, b)
        switch op {
        case "=": return c == 0
        case "!=", "<>": return c != 0
        case "<": return c < 0
        case "<=": return c <= 0
        case ">": return c > 0
        default: return c >= 0
        }
    }

    /// Sorting with nulls after every value (either direction).
    static func nullsLast(_ a: Value, _ b: Value, descending: Bool) -> Int {
        if a.isNull || b.isNull { return a.isNull == b.isNull ? 0 : (a.isNull ? 1 : -1) }
        let c = order(a, b)
        return descending ? -c : c
    }

    /// `n / d` cents rounded to the nearest cent, halves away from zero.
    static func roundedDivision(_ n: Int64, _ d: Int64) -> Int64 {
        let q = n / d, r = n % d
        if 2 * abs(r) >= abs(d) { return q + ((n < 0) != (d < 0) ? -1 : 1) }
        return q
    }

    /// `percentile(x, p)` of money: linear interpolation between neighbours, exact, then rounded.
    static func percentile(_ cents: [Int64], _ p: Int) -> Value {
        guard !cents.isEmpty else { return .null }
        let v = cents.sorted(), n = v.count
        let scaled = p * (n - 1)               // rank × 100
        let lo = scaled / 100, frac = Int64(scaled - lo * 100)
        let hi = min(lo + 1, n - 1)
        let exact100 = v[lo] * 100 + (v[hi] - v[lo]) * frac   // value × 100
        return .money(Money(cents: roundedDivision(exact100, 100)))
    }
}

// MARK: - Predicates

/// A generated condition: its text and its reference meaning on a record at `today`.
struct Pred {
    var text: String
    /// 0: an `or` chain, 1: an `and` chain, 2: a single predicate (needs no parentheses under `not`).
    var level: Int
    var eval: (RefRecord, Day) -> Bool
}

/// A generated literal: its text and its value on `today`.
struct Lit {
    var text: String
    var value: (Day) -> Value
    init(_ text: String, _ value: @escaping (Day) -> Value) {
        self.text = text
        self.value = value
    }
    init(_ text: String, _ v: Value) { self.init(text, { _ in v }) }
}

/// A generated query with its reference answer.
struct GenQuery {
    var kind: String
    var text: String
    var expected: () -> Expected
}

struct QueryGen {
    let world: RefWorld
    var base: [RefRecord]

    init(world: RefWorld) {
        self.world = world
        base = world.clients(at: world.today)
    }

    static let durationFields = ["lapsed", "tenure", "cadence"]
    static let numberFields = ["visits", "purchases", "active_days", "points"]
    static let dateFields = ["first_seen", "last_seen"]
    static let defaultColumns = ["id", "name", "tier", "visits", "spend", "last_seen", "lapsed"]
    static let allFields = ["lapsed", "tenure", "cadence", "visits", "purchases", "active_days", "points", "spend",
                            "tier", "member", "first_seen", "last_seen", "name"]

    /// A keyword, sometimes in another case (keywords are case-insensitive).
    func kw(_ w: String, _ rng: inout SeededRandom) -> String {
        switch Int.random(in: 0..<12, using: &rng) {
        case 0: return w.uppercased()
        case 1: return w.prefix(1).uppercased() + w.dropFirst()
        default: return w
        }
    }

    /// A value of `field` taken from a client of the base day (to hit boundaries), or nil.
    func sample(_ field: String, _ rng: inout SeededRandom) -> Value? {
        let v = base.randomElement(using: &rng)?[field] ?? .null
        return v.isNull ? nil : v
    }

    // MARK: Literals

    func literal(for field: String, _ rng: inout SeededRandom) -> Lit {
        switch RefWorld.fieldKinds[field] ?? .string {
        case .duration: return duration(field, &rng)
        case .number: return number(field, &rng)
        case .money: return money(&rng)
        case .date: return date(field, &rng)
        case .boolean: let b = Bool.random(using: &rng); return Lit(kw(b ? "true" : "false", &rng), .bool(b))
        default: return tier(&rng)
        }
    }

    func duration(_ field: String, _ rng: inout SeededRandom) -> Lit {
        if Int.random(in: 0..<3, using: &rng) == 0, case .duration(let d)? = sample(field, &rng) {
            return Lit(ValueFormat.number(d) + "d", .duration(d))
        }
        switch Int.random(in: 0..<10, using: &rng) {
        case 0..<5: let n = Int.random(in: 0...700, using: &rng); return Lit("\(n)d", .duration(Double(n)))
        case 5: let n = Int.random(in: 0...90, using: &rng); return Lit("\(n)w", .duration(Double(n * 7)))
        case 6: let n = Int.random(in: 0...20, using: &rng); return Lit("\(n)m", .duration(Double(n * 30)))
        case 7: let n = Int.random(in: 0...2, using: &rng); return Lit("\(n)y", .duration(Double(n * 365)))
        case 8: let n = Int.random(in: 0...120, using: &rng); return Lit("\(n).5d", .duration(Double(n) + 0.5))
        default: let n = Int.random(in: 1...60, using: &rng); return Lit("\(n)D", .duration(Double(n)))
        }
    }

    func number(_ field: String, _ rng: inout SeededRandom) -> Lit {
        if Int.random(in: 0..<3, using: &rng) == 0, case .number(let x)? = sample(field, &rng) {
            return Lit(ValueFormat.number(x), .number(x))
        }
        let n = field == "points" ? Int.random(in: -400...3000, using: &rng) : Int.random(in: 0...25, using: &rng)
        if Int.random(in: 0..<8, using: &rng) == 0 { return Lit("\(n).5", .number(Double(n) + 0.5)) }
        return Lit("\(n)", .number(Double(n)))
    }

    /// Money literals, or plain numbers (compared as dollars, exactly).
    func money(_ rng: inout SeededRandom) -> Lit {
        var cents = Int64.random(in: 0...150_000, using: &rng)
        var sampled = false
        if Int.random(in: 0..<3, using: &rng) == 0, case .money(let m)? = sample("spend", &rng) { cents = m.cents; sampled = true }
        if Int.random(in: 0..<10, using: &rng) == 0 { cents = -Int64.random(in: 0...5_000, using: &rng) }
        let m = Money(cents: cents)
        let plain = ValueFormat.moneyNumber(m)
        switch Int.random(in: sampled ? -2..<5 : 0..<5, using: &rng) {
        case ...0: return Lit(plain, .money(m))                                 // 123.45 (dollars)
        case 1: return Lit((cents < 0 ? "-$" : "$") + ValueFormat.moneyNumber(Money(cents: abs(cents))), .money(m))  // $12.5
        default: return Lit(ValueFormat.money(m), .money(m))                   // $1,234.50, -$3.00
        }
    }

    func date(_ field: String, _ rng: inout SeededRandom) -> Lit {
        switch Int.random(in: 0..<6, using: &rng) {
        case 0:
            let n = Int.random(in: 0...600, using: &rng)
            return Lit("\(kw("today", &rng)) - \(n)d", { t in .date(t - Day(n)) })
        case 1: return Lit(kw("today", &rng), { t in .date(t) })
        case 2:
            if case .date(let d)? = sample(field, &rng) { return Lit(Patron.Calendar.format(d), .date(d)) }
            fallthrough
        default:
            let d = day("2022-12-01") + Day(Int.random(in: 0...820, using: &rng))
            return Lit(Patron.Calendar.format(d), .date(d))
        }
    }

    /// A tier name: a bare word (any case) or a quoted string; some tiers nobody has.
    func tier(_ rng: inout SeededRandom) -> Lit {
        let name = ["gold", "silver", "bronze", "platinum", "diamond"].randomElement(using: &rng)!
        let spelled: String
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: spelled = name.uppercased()
        case 1: spelled = name.prefix(1).uppercased() + name.dropFirst()
        default: spelled = name
        }
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: return Lit("\"\(spelled)\"", .string(spelled))
        case 1: return Lit("'\(spelled)'", .string(spelled))
        default: return Lit(spelled, .string(spelled))
        }
    }

    // MARK: Predicates

    mutating func pred(_ rng: inout SeededRandom, depth: Int = 0) -> Pred {
        let r = Int.random(in: 0..<10, using: &rng)
        if depth < 3 && r < 4 {
            let a = pred(&rng, depth: depth + 1), b = pred(&rng, depth: depth + 1)
            switch r {
            case 0, 1:
                // and: an `or` operand needs parentheses.
                let ta = a.level == 0 ? "(\(a.text))" : a.text, tb = b.level == 0 ? "(\(b.text))" : b.text
                return Pred(text: "\(ta) \(kw("and", &rng)) \(tb)", level: 1, eval: { a.eval($0, $1) && b.eval($0, $1) })
            case 2:
                return Pred(text: "\(a.text) \(kw("or", &rng)) \(b.text)", level: 0, eval: { a.eval($0, $1) || b.eval($0, $1) })
            default:
                let t = a.level < 2 || Bool.random(using: &rng) ? "(\(a.text))" : a.text
                return Pred(text: "\(kw("not", &rng)) \(t)", level: 2, eval: { !a.eval($0, $1) })
            }
        }
        var p = atom(&rng)
        if Int.random(in: 0..<12, using: &rng) == 0 { p.text = "(\(p.text))" }
        return p
    }

    mutating func atom(_ rng: inout SeededRandom) -> Pred {
        let field = Self.allFields.randomElement(using: &rng)!
        let kind = RefWorld.fieldKinds[field]!
        let get: (RefRecord) -> Value = { $0[field] ?? .null }
        func simple(_ text: String, _ eval: @escaping (RefRecord, Day) -> Bool) -> Pred { Pred(text: text, level: 2, eval: eval) }
        switch Int.random(in: 0..<21, using: &rng) {
        case 20:
            // spend against a client's exact spend written as a plain number of dollars (12.34 is $12.34)
            var m = Money(cents: Int64.random(in: 0...9_999, using: &rng))
            if case .money(let x)? = sample("spend", &rng) { m = x }
            if Bool.random(using: &rng) { m = RefWorld.edgeSpends.randomElement(using: &rng)! }
            let op = ["=", "<=", ">=", "!="].randomElement(using: &rng)!
            return simple("spend \(op) \(ValueFormat.moneyNumber(m))") { r, _ in Ref.compare(r["spend"] ?? .null, op, .money(m)) }
        case 0..<9:
            // field op literal
            if field == "name" {
                let needle = ["1", "2", "Name 1", "NAME", "lead", "7", "x"].randomElement(using: &rng)!
                let negated = Bool.random(using: &rng)
                return simple("name \(negated ? kw("not", &rng) + " " : "")\(kw("contains", &rng)) \"\(needle)\"") { r, _ in
                    guard case .string(let s) = get(r) else { return false }
                    return s.lowercased().contains(needle.lowercased()) != negated
                }
            }
            if field == "member" && Bool.random(using: &rng) {
                return simple("member") { r, _ in get(r) == .bool(true) }
            }
            let ops: [String]
            switch kind {
            case .boolean: ops = ["=", "!="]
            case .string: ops = ["=", "=", "!=", "<>", "<", "<=", ">", ">="]
            default: ops = ["=", "!=", "<", "<=", ">", ">="]
            }
            let op = ops.randomElement(using: &rng)!
            let lit = literal(for: field, &rng)
            return simple("\(field) \(op) \(lit.text)") { r, t in Ref.compare(get(r), op, lit.value(t)) }
        case 9, 10:
            // x [not] in (a, b, …)
            let f = field == "name" || field == "member" ? "tier" : field
            let items = (0..<Int.random(in: 1...4, using: &rng)).map { _ in literal(for: f, &rng) }
            let negated = Int.random(in: 0..<3, using: &rng) == 0
            let text = "\(f) \(negated ? kw("not", &rng) + " " : "")\(kw("in", &rng)) (\(items.map(\.text).joined(separator: ", ")))"
            return simple(text) { r, t in
                let v = r[f] ?? .null
                if v.isNull { return false }
                return items.contains { Ref.compare(v, "=", $0.value(t)) } != negated
            }
        case 11, 12:
            // x [not] between a and b
            let f = ["lapsed", "tenure", "visits", "points", "spend", "first_seen", "last_seen", "cadence", "tier"].randomElement(using: &rng)!
            let lo = literal(for: f, &rng), hi = literal(for: f, &rng)
            let negated = Int.random(in: 0..<3, using: &rng) == 0
            let text = "\(f) \(negated ? kw("not", &rng) + " " : "")\(kw("between", &rng)) \(lo.text) \(kw("and", &rng)) \(hi.text)"
            return simple(text) { r, t in
                let v = r[f] ?? .null, a = lo.value(t), b = hi.value(t)
                if v.isNull || a.isNull || b.isNull { return false }
                return (Ref.compare(v, ">=", a) && Ref.compare(v, "<=", b)) != negated
            }
        case 13, 14:
            // x is [not] null
            let f = ["cadence", "tier", "first_seen", "last_seen", "lapsed", "name", "tenure"].randomElement(using: &rng)!
            let negated = Bool.random(using: &rng)
            return simple("\(f) \(kw("is", &rng)) \(negated ? kw("not", &rng) + " " : "")\(kw("null", &rng))") { r, _ in
                (r[f] ?? .null).isNull != negated
            }
        case 15, 16:
            // date [not] in last D
            let f = Self.dateFields.randomElement(using: &rng)!
            let span = duration("lapsed", &rng)
            let negated = Int.random(in: 0..<3, using: &rng) == 0
            return simple("\(f) \(negated ? kw("not", &rng) + " " : "")\(kw("in", &rng)) \(kw("last", &rng)) \(span.text)") { r, t in
                guard case .date(let d) = r[f] ?? .null, case .duration(let s) = span.value(t) else { return false }
                return (Double(d) > Double(t) - s && d <= t) != negated
            }
        case 17:
            // field op field (same kind)
            let (a, b) = [("lapsed", "cadence"), ("tenure", "lapsed"), ("visits", "purchases"), ("active_days", "visits"),
                          ("last_seen", "first_seen"), ("cadence", "tenure")].randomElement(using: &rng)!
            let op = ["=", "!=", "<", "<=", ">", ">="].randomElement(using: &rng)!
            return simple("\(a) \(op) \(b)") { r, _ in Ref.compare(r[a] ?? .null, op, r[b] ?? .null) }
        case 18:
            // lapsed > cadence * k (arithmetic on durations; null stays null)
            let k = Int.random(in: 1...3, using: &rng)
            let op = [">", "<=", ">="].randomElement(using: &rng)!
            return simple("lapsed \(op) cadence * \(k)") { r, _ in
                guard case .duration(let c) = r["cadence"] ?? .null else { return false }
                return Ref.compare(r["lapsed"] ?? .null, op, .duration(c * Double(k)))
            }
        default:
            // last_seen >= first_seen + Nd (date + duration)
            let n = Int.random(in: 0...400, using: &rng)
            let op = [">=", "<", "="].randomElement(using: &rng)!
            return simple("last_seen \(op) first_seen + \(n)d") { r, _ in
                guard case .date(let f) = r["first_seen"] ?? .null else { return false }
                return Ref.compare(r["last_seen"] ?? .null, op, .date(f + Day(n)))
            }
        }
    }

    // MARK: Queries

    mutating func next(_ rng: inout SeededRandom) -> GenQuery {
        let world = self.world
        let today = world.today
        switch Int.random(in: 0..<20, using: &rng) {
        case 0..<5:
            // clients where P  (default columns)
            let p = pred(&rng)
            return GenQuery(kind: "where", text: "clients \(kw("where", &rng)) \(p.text)") {
                Expected(columnCount: Self.defaultColumns.count,
                         rows: world.clients(at: today).filter { p.eval($0, today) }.map { r in Self.defaultColumns.map { r[$0] ?? .null } })
            }
        case 5..<10:
            // clients where P show id, F
            let p = pred(&rng)
            let fields = ["id"] + (0..<Int.random(in: 1...2, using: &rng)).map { _ in Self.allFields.randomElement(using: &rng)! }
            return GenQuery(kind: "show", text: "clients \(kw("where", &rng)) \(p.text) \(kw("show", &rng)) \(fields.joined(separator: ", "))") {
                Expected(columnCount: fields.count,
                         rows: world.clients(at: today).filter { p.eval($0, today) }.map { r in fields.map { r[$0] ?? .null } })
            }
        case 10, 11:
            return grouped(&rng)
        case 12, 13:
            return top(&rng)
        case 14:
            // clients where P show id, F sort by F [asc|desc] [limit n]
            let p = pred(&rng)
            let f = Self.allFields.filter { $0 != "name" }.randomElement(using: &rng)!
            let dir = ["", " asc", " desc"].randomElement(using: &rng)!
            let limit = Bool.random(using: &rng) ? Int.random(in: 0...20, using: &rng) : nil
            let text = "clients \(kw("where", &rng)) \(p.text) \(kw("show", &rng)) id, \(f) \(kw("sort", &rng)) \(kw("by", &rng)) \(f)\(dir)"
                + (limit.map { " \(kw("limit", &rng)) \($0)" } ?? "")
            return GenQuery(kind: "sort", text: text) {
                let rows = world.clients(at: today).filter { p.eval($0, today) }
                let order = rows.indices.sorted { a, b in
                    let c = Ref.nullsLast(rows[a][f] ?? .null, rows[b][f] ?? .null, descending: dir == " desc")
                    return c != 0 ? c < 0 : a < b
                }
                return Expected(columnCount: 2, rows: order.prefix(limit ?? Int.max).map { [rows[$0]["id"]!, rows[$0][f] ?? .null] })
            }
        case 15, 16:
            return events(&rng)
        default:
            // clients where P [show id, F] as of D
            let p = pred(&rng)
            let (asOfText, t): (String, Day)
            if Int.random(in: 0..<4, using: &rng) == 0 {
                let n = Int.random(in: 0...400, using: &rng)
                (asOfText, t) = ("\(kw("today", &rng)) - \(n)d", today - Day(n))
            } else {
                let d = world.asOfPool.randomElement(using: &rng)!
                (asOfText, t) = (Patron.Calendar.format(d), d)
            }
            let show: [String]? = Bool.random(using: &rng) ? ["id", Self.allFields.randomElement(using: &rng)!] : nil
            let text = "clients \(kw("where", &rng)) \(p.text)" + (show.map { " \(kw("show", &rng)) " + $0.joined(separator: ", ") } ?? "")
                + " \(kw("as", &rng)) \(kw("of", &rng)) \(asOfText)"
            return GenQuery(kind: "as of", text: text) {
                let columns = show ?? Self.defaultColumns
                return Expected(columnCount: columns.count,
                                rows: world.clients(at: t).filter { p.eval($0, t) }.map { r in columns.map { r[$0] ?? .null } })
            }
        }
    }

    /// `clients [where P] group by K show <aggregates>`.
    mutating func grouped(_ rng: inout SeededRandom) -> GenQuery {
        let world = self.world
        let today = world.today
        let p: Pred? = Bool.random(using: &rng) ? pred(&rng) : nil
        let keys: [(String, (RefRecord) -> Value)] = [
            ("tier", { $0["tier"] ?? .null }),
            ("member", { $0["member"] ?? .null }),
            ("year(first_seen)", { r in
                guard case .date(let d) = r["first_seen"] ?? .null else { return .null }
                return .number(Double(Patron.Calendar.civil(Int(d)).year))
            }),
            ("month(last_seen)", { r in
                guard case .date(let d) = r["last_seen"] ?? .null else { return .null }
                return .string(String(Patron.Calendar.format(d).prefix(7)))
            }),
        ]
        let (keyText, key) = Int.random(in: 0..<2, using: &rng) == 0 ? keys[0] : keys.randomElement(using: &rng)!
        var aggs = ["count()", "sum(spend)", "max(lapsed)"]
        if Bool.random(using: &rng) {
            let p = [10, 25, 50, 75, 90, 33].randomElement(using: &rng)!
            aggs = (["count()", "sum(spend)", "max(lapsed)", "min(first_seen)", "avg(visits)", "median(spend)",
                     "percentile(spend, \(p))", "share()", "avg(spend)"].shuffled(using: &rng)).prefix(Int.random(in: 1...4, using: &rng)).map { $0 }
        }
        let text = "clients" + (p.map { " \(kw("where", &rng)) \($0.text)" } ?? "")
            + " \(kw("group", &rng)) \(kw("by", &rng)) \(keyText) \(kw("show", &rng)) \(aggs.joined(separator: ", "))"
        return GenQuery(kind: "group", text: text) {
            let rows = world.clients(at: today).filter { p?.eval($0, today) ?? true }
            // Groups by key (strings ignoring case), in order of first appearance.
            var groups: [(display: Value, members: [RefRecord])] = []
            for r in rows {
                let k = key(r)
                if let g = groups.firstIndex(where: { g in
                    if case .string(let a) = g.display, case .string(let b) = k { return a.lowercased() == b.lowercased() }
                    return g.display == k
                }) {
                    groups[g].members.append(r)
                } else {
                    groups.append((k, [r]))
                }
            }
            groups.sort { Ref.nullsLast($0.display, $1.display, descending: false) < 0 }
            func aggregate(_ a: String, _ m: [RefRecord]) -> Value {
                func values(_ f: String) -> [Value] { m.compactMap { r in (r[f] ?? .null).isNull ? nil : r[f] } }
                func cents(_ f: String) -> [Int64] { values(f).map { if case .money(let x) = $0 { return x.cents }; return 0 } }
                switch a {
                case "count()": return .number(Double(m.count))
                case "share()": return .number(Double(m.count) / Double(rows.count))
                case "sum(spend)": return cents("spend").isEmpty ? .null : .money(Money(cents: cents("spend").reduce(0, +)))
                case "avg(spend)":
                    let c = cents("spend")
                    return c.isEmpty ? .null : .money(Money(cents: Ref.roundedDivision(c.reduce(0, +), Int64(c.count))))
                case "median(spend)": return Ref.percentile(cents("spend"), 50)
                case "max(lapsed)": return values("lapsed").max { Ref.order($0, $1) < 0 } ?? .null
                case "min(first_seen)": return values("first_seen").min { Ref.order($0, $1) < 0 } ?? .null
                case "avg(visits)":
                    let v = values("visits").map { if case .number(let x) = $0 { return x }; return 0 }
                    return v.isEmpty ? .null : .number(v.reduce(0, +) / Double(v.count))
                default:
                    // percentile(spend, p)
                    let p = Int(a.dropFirst("percentile(spend, ".count).dropLast())!
                    return Ref.percentile(cents("spend"), p)
                }
            }
            return Expected(columnCount: 1 + aggs.count, rows: groups.map { g in [g.display] + aggs.map { aggregate($0, g.members) } })
        }
    }

    /// `clients [where P] top N[%] by K [show id, K]`.
    mutating func top(_ rng: inout SeededRandom) -> GenQuery {
        let world = self.world
        let today = world.today
        let p: Pred? = Bool.random(using: &rng) ? pred(&rng) : nil
        let k = Int.random(in: 0..<2, using: &rng) == 0 ? "spend" : ["lapsed", "visits", "first_seen", "cadence", "points", "spend"].randomElement(using: &rng)!
        let percent = Int.random(in: 0..<4, using: &rng) == 0
        let halves = percent ? Int.random(in: 1...200, using: &rng) : 0            // p = halves / 2
        let n = Int.random(in: 0...25, using: &rng)
        let countText = percent ? (halves % 2 == 0 ? "\(halves / 2)%" : "\(halves / 2).5%") : "\(n)"
        let show = k != "spend" || Bool.random(using: &rng)
        let text = "clients" + (p.map { " \(kw("where", &rng)) \($0.text)" } ?? "") + (show ? " \(kw("show", &rng)) id, \(k)" : "")
            + " \(kw("top", &rng)) \(countText) \(kw("by", &rng)) \(k)"
        return GenQuery(kind: "top", text: text) {
            let rows = world.clients(at: today).filter { p?.eval($0, today) ?? true }
            let keep = percent ? (halves * rows.count + 199) / 200 : n      // ceil(p × n ÷ 100)
            let order = rows.indices.sorted { a, b in
                let c = Ref.nullsLast(rows[a][k] ?? .null, rows[b][k] ?? .null, descending: true)
                return c != 0 ? c < 0 : a < b
            }
            let columns = show ? ["id", k] : Self.defaultColumns
            return Expected(columnCount: columns.count, rows: order.prefix(keep).map { i in columns.map { rows[i][$0] ?? .null } })
        }
    }

    /// Event entities: `visits where at in last Nd … group by provider show count()` and kin.
    mutating func events(_ rng: inout SeededRandom) -> GenQuery {
        let world = self.world
        let today = world.today
        let span = duration("lapsed", &rng)
        let spanDays: Double
        if case .duration(let d) = span.value(today) { spanDays = d } else { spanDays = 0 }
        let inLast = "\(kw("at", &rng)) \(kw("in", &rng)) \(kw("last", &rng)) \(span.text)"
        func groupsOf(_ rows: [(key: Value, row: (position: UInt64, event: Event, day: Day))]) -> [(Value, [(position: UInt64, event: Event, day: Day)])] {
            var groups: [(Value, [(position: UInt64, event: Event, day: Day)])] = []
            for (k, r) in rows {
                if let g = groups.firstIndex(where: { g in
                    if case .string(let a) = g.0, case .string(let b) = k { return a.lowercased() == b.lowercased() }
                    return g.0 == k
                }) { groups[g].1.append(r) } else { groups.append((k, [r])) }
            }
            return groups.sorted { Ref.nullsLast($0.0, $1.0, descending: false) < 0 }
        }
        func visit(_ e: Event) -> Visit? { if case .visit(let v) = e.payload { return v }; return nil }
        switch Int.random(in: 0..<4, using: &rng) {
        case 0:
            return GenQuery(kind: "visits", text: "visits \(kw("where", &rng)) \(inLast) \(kw("group", &rng)) \(kw("by", &rng)) provider \(kw("show", &rng)) count()") {
                let g = groupsOf(world.events(.visit, inLast: spanDays, at: today).map { (visit($0.event)?.provider.map(Value.string) ?? .null, $0) })
                return Expected(columnCount: 2, rows: g.map { [$0.0, .number(Double($0.1.count))] })
            }
        case 1:
            let t = tier(&rng)
            let text = "visits \(kw("where", &rng)) \(inLast) \(kw("and", &rng)) client.tier = \(t.text) \(kw("group", &rng)) \(kw("by", &rng)) provider \(kw("show", &rng)) count()"
            return GenQuery(kind: "visits", text: text) {
                let tiers = Dictionary(uniqueKeysWithValues: world.clients(at: today).map { (($0["id"] ?? .null), $0["tier"] ?? .null) })
                let rows = world.events(.visit, inLast: spanDays, at: today).filter { r in
                    Ref.compare(tiers[.string(r.event.client)] ?? .null, "=", t.value(today))
                }
                let g = groupsOf(rows.map { (visit($0.event)?.provider.map(Value.string) ?? .null, $0) })
                return Expected(columnCount: 2, rows: g.map { [$0.0, .number(Double($0.1.count))] })
            }
        case 2:
            return GenQuery(kind: "visits", text: "visits \(kw("where", &rng)) \(inLast) \(kw("group", &rng)) \(kw("by", &rng)) location \(kw("show", &rng)) count()") {
                let g = groupsOf(world.events(.visit, inLast: spanDays, at: today).map { (visit($0.event)?.location.map(Value.string) ?? .null, $0) })
                return Expected(columnCount: 2, rows: g.map { [$0.0, .number(Double($0.1.count))] })
            }
        default:
            let text = "purchases \(kw("where", &rng)) \(inLast) \(kw("group", &rng)) \(kw("by", &rng)) month(at) \(kw("show", &rng)) count(), sum(amount)"
            return GenQuery(kind: "purchases", text: text) {
                let g = groupsOf(world.events(.purchase, inLast: spanDays, at: today).map { (.string(String(Patron.Calendar.format($0.day).prefix(7))), $0) })
                return Expected(columnCount: 3, rows: g.map { key, rows in
                    let sum = rows.reduce(Int64(0)) { s, r in if case .purchase(let p) = r.event.payload { return s + p.amount.cents }; return s }
                    return [key, .number(Double(rows.count)), .money(Money(cents: sum))]
                })
            }
        }
    }
}
