import Foundation
import Synchronization
import Testing
@testable import Patron
#if canImport(Glibc)
import Glibc
#endif

/// Fixed-seed fuzzing of the query language (SPEC 3.10: "No input, however malformed,
/// crashes the process or corrupts the database").
///
/// * The parser gets arbitrary text — random bytes, random UTF-8, and mutations of
///   valid queries — and must parse it or throw a ``QueryError`` whose range lies in
///   the text and whose rendering has the `query:L:C: error:` line and a caret line.
/// * `db.query` gets random token sequences on a small database and must return a
///   result or throw a ``QueryError`` (never another error, never crash); afterwards
///   the database verifies and holds the same events.
///
/// Scale and seed come from the environment, for long runs (`scripts/fuzz-queries`):
/// `PATRON_FUZZ_ITERATIONS` (parser inputs; token sequences are a tenth of it; default
/// 200,000) and `PATRON_FUZZ_SEED` (default 20251122). On a crash, the input being run
/// is printed to stderr before the backtrace (Linux).
@Suite struct QueryFuzzTests {
    static var iterations: Int {
        ProcessInfo.processInfo.environment["PATRON_FUZZ_ITERATIONS"].flatMap { Int($0) } ?? 200_000
    }
    static var seed: UInt64 {
        ProcessInfo.processInfo.environment["PATRON_FUZZ_SEED"].flatMap { UInt64($0) } ?? 20_251_122
    }

    // MARK: (a) The parser on arbitrary text

    /// Two halves (run in parallel), each with its own stream of inputs.
    @Test(arguments: [0, 1])
    func parserAcceptsOrRejectsAnyTextWithAWellFormedDiagnostic(half: Int) throws {
        FuzzCrashReporter.install()
        defer { FuzzCrashReporter.set(slot: half, "") }
        var rng = SeededRandom(seed: Self.seed &+ UInt64(half) &* 1_000_003)
        let corpus = FuzzCorpus.validQueries
        var parsed = 0, rejected = 0
        var problems = FuzzProblems()
        var slowest: (Duration, String) = (.zero, "")
        let clock = ContinuousClock()
        let count = (Self.iterations + 1 - half) / 2
        for i in 0..<count {
            let text: String
            switch i % 3 {
            case 0: text = FuzzInput.randomBytes(&rng)
            case 1: text = FuzzInput.randomUnicode(&rng)
            default: text = FuzzInput.mutate(corpus.randomElement(using: &rng)!, &rng)
            }
            FuzzCrashReporter.set(slot: half, text)
            let start = clock.now
            do {
                _ = try Parser.statement(text)
                parsed += 1
            } catch {
                rejected += 1
                if let p = FuzzCheck.problem(with: error, source: text) { problems.add(p, input: text) }
            }
            let took = clock.now - start
            if took > slowest.0 { slowest = (took, text) }
        }
        #expect(problems.isEmpty, "\(problems.total) of \(rejected) diagnostics are malformed:\n\(problems)")
        #expect(slowest.0 < .seconds(1), "parsing took \(slowest.0) on \(slowest.1.debugDescription)")
        // The mix must exercise both outcomes, or the generator is broken.
        #expect(parsed > count / 50 && rejected > count / 2, "parsed \(parsed), rejected \(rejected)")
    }

    // MARK: (b) Queries built from random tokens, on a database

    @Test func randomTokenSequencesReturnAResultOrAQueryErrorAndLeaveTheDatabaseIntact() async throws {
        FuzzCrashReporter.install()
        defer { FuzzCrashReporter.set(slot: 2, "") }
        var rng = SeededRandom(seed: Self.seed &+ 1)
        let dir = TempDir()
        let db = try Database(path: dir.path("db"), options: .init(durable: false))
        var events = RandomHistory.events(count: 160, clients: 12, rng: &rng)
        events.append(Event(client: "c3", at: ms("2024-06-01"), payload: .merge(Merge(into: "c4"))))
        events.append(Event(client: "lead", at: ms("2024-02-01"), payload: .client(ClientDetails(name: "Lead", acquisitionCost: Money(cents: 5000)))))
        try await db.append(events)
        try db.forget("c5")
        let positions = try db.lastPosition
        let verified = try db.verify()
        try #require(verified.isOK, "\(verified.problems)")

        let count = max(1, Self.iterations / 10)
        let todays = [day("2025-03-01"), day("2024-01-15")]
        let parameters: [String: Value] = ["days": .duration(90), "tier": .string("gold"), "n": .number(3), "when": .date(day("2024-06-30"))]
        var results = 0, queryErrors = 0
        var problems = FuzzProblems()
        var slowest: (Duration, String) = (.zero, "")
        let clock = ContinuousClock()
        for i in 0..<count {
            let text = FuzzTokens.sequence(&rng)
            FuzzCrashReporter.set(slot: 2, text)
            let start = clock.now
            do {
                _ = try db.query(text, parameters: i % 2 == 0 ? parameters : [:], today: todays[i % todays.count])
                results += 1
            } catch let e as QueryError {
                queryErrors += 1
                if let p = FuzzCheck.problem(with: e, source: e.source) { problems.add(p, input: text) }
            } catch {
                problems.add(("\(type(of: error)) instead of QueryError", "\(error)"), input: text)
            }
            let took = clock.now - start
            if took > slowest.0 { slowest = (took, text) }
        }
        #expect(problems.isEmpty, "\(problems.total) of \(count) statements misbehaved:\n\(problems)")
        #expect(slowest.0 < .seconds(2), "a query took \(slowest.0): \(slowest.1.debugDescription)")
        #expect(results > count / 50 && queryErrors > count / 4, "results \(results), query errors \(queryErrors)")
        let after = try db.verify()
        #expect(after.isOK, "\(after.problems)")
        #expect(try db.lastPosition == positions)
        #expect(after.events == verified.events)
    }

    // MARK: (c) Crashes found by fuzzing, rerun in a child process

    /// Inputs that crashed the engine when found (fuzzing and probing around it). They
    /// run in a `patron query` child process so that a crash fails this test only,
    /// instead of killing the test run: each must exit 0 (a result) or 1 (a rendered
    /// query error).
    @Test(arguments: [
        "clients top 99999999999999999999 by spend",
        "clients top 9223372036854775807 by spend",
        "clients show spend * 99999999999999999999",
        "clients show spend - 9223372036854775807",
        "clients show $90,000,000,000,000,000 + $90,000,000,000,000,000",
        "clients group by tier show sum(spend * 99999999999999999999)",
        "clients show avg(spend * 99999999999999999999), percentile(spend * 99999999999999999999, 50)",
        "clients show week(today - 2147503794d)",
        "visits group by week(at - 2147483000d) show count()",
        "clients show today - 2147503000d, today + 2147483000d",
        "clients show month(today - 2147503794d), quarter(today - 2147503794d), year(today - 2147503794d)",
        "clients where lapsed * 99999999999999999999 > 1d show lapsed * 99999999999999999999 * 99999999999999999999",
        "purchases show amount * 99999999999999999999",
        "clients sort by spend * 99999999999999999999 limit 9223372036854775807",
    ])
    func inputsThatCrashedTheEngineNowExitCleanly(query: String) async throws {
        let dir = TempDir()
        let path = dir.path("db")
        do {
            let db = try Database(path: path)
            try await db.append([
                Event(client: "a", at: ms("2025-01-10"), payload: .visit(Visit(provider: "Lee", services: ["botox"]))),
                Event(client: "a", at: ms("2025-01-10"), payload: .purchase(Purchase(amount: Money(cents: 12_345)))),
                Event(client: "b", at: ms("2025-02-12"), payload: .tier(TierChange(tier: "gold"))),
                Event(client: "b", at: ms("2025-02-12"), payload: .purchase(Purchase(amount: Money(cents: 1_000)))),
            ])
        }
        let r = try runProduct("patron", ["query", query, "--db", path, "--today", "2025-03-01", "--format", "csv"],
                               environment: ["SWIFT_BACKTRACE": "enable=no"])
        #expect(r.status == 0 || (r.status == 1 && r.err.contains("error:")),
                "patron query exited \(r.status) for \(query)\nstdout: \(r.out.prefix(400))\nstderr: \(r.err.prefix(600))")
    }
}

// MARK: - Checks

enum FuzzCheck {
    /// What is wrong with the error thrown for `source` — (kind of problem, details) —
    /// or nil when it is a QueryError pointing inside the text, rendered as the header
    /// `query:L:C: error: MESSAGE`, the source line, a caret line under column C, and
    /// an optional `  hint:` line.
    static func problem(with error: any Error, source: String) -> (kind: String, detail: String)? {
        guard let e = error as? QueryError else { return ("\(type(of: error)) instead of QueryError", "\(error)") }
        let bytes = Array(source.utf8)
        let r = e.range
        guard r.start >= 0, r.start <= r.end, r.end <= bytes.count else {
            return ("range outside the text", "\(r.start)..<\(r.end) in \(bytes.count) bytes: \(e.message)")
        }
        func boundary(_ k: Int) -> Bool { k == bytes.count || bytes[k] & 0xC0 != 0x80 }
        guard boundary(r.start), boundary(r.end) else { return ("range splits a character", "\(r.start)..<\(r.end): \(e.message)") }
        guard !e.message.isEmpty else { return ("empty message", "") }
        let text = e.render(origin: "query")
        if e.message.utf8.contains(0x0A) || e.message.utf8.contains(0x0D) || (e.hint?.utf8.contains(0x0A) ?? false) {
            return ("message or hint spans lines (quotes source text with a line break)", text.debugDescription)
        }
        let lines = text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false)
        guard lines.count == 4 || lines.count == 5, lines.last?.isEmpty == true else {
            return ("rendering is not header, source line, caret line[, hint]", text.debugDescription)
        }
        // Line and column, counted independently.
        var line = 1, lineStart = 0
        for k in 0..<r.start where bytes[k] == 0x0A { line += 1; lineStart = k + 1 }
        let column = String(decoding: bytes[lineStart..<r.start], as: UTF8.self).count + 1
        let header = "query:\(line):\(column): error: "
        guard lines[0].starts(with: header.utf8), lines[0].count > header.utf8.count else {
            return ("header has the wrong line:column", "expected \(header)…, got \(String(decoding: lines[0], as: UTF8.self).debugDescription)")
        }
        let caret = lines[2]
        let spaces = caret.prefix { $0 == 0x20 }.count
        let marks = caret.dropFirst(spaces)
        guard spaces >= 2, marks.first == UInt8(ascii: "^"), marks.dropFirst().allSatisfy({ $0 == UInt8(ascii: "~") }) else {
            return ("no caret line", text.debugDescription)
        }
        guard spaces - 2 + 1 == column else { return ("caret under the wrong column", "caret at \(spaces - 1), header \(column): \(text.debugDescription)") }
        if lines.count == 5, !lines[3].starts(with: "  hint: ".utf8) {
            return ("unexpected line after the caret", text.debugDescription)
        }
        return nil
    }
}

/// Problems found, by kind, with a few examples of each.
struct FuzzProblems: CustomStringConvertible {
    var byKind: [String: (count: Int, examples: [String])] = [:]
    var total = 0
    var isEmpty: Bool { total == 0 }

    mutating func add(_ p: (kind: String, detail: String), input: String) {
        total += 1
        var entry = byKind[p.kind] ?? (0, [])
        entry.count += 1
        if entry.examples.count < 3 { entry.examples.append("input \(input.debugDescription)\n      \(p.detail)") }
        byKind[p.kind] = entry
    }

    var description: String {
        byKind.sorted { $0.value.count > $1.value.count }.map { kind, e in
            "  \(e.count) × \(kind), e.g.\n" + e.examples.map { "    " + $0 }.joined(separator: "\n")
        }.joined(separator: "\n")
    }
}

// MARK: - Inputs

enum FuzzCorpus {
    /// Valid statements to mutate: a hand-written set plus every example in the grammar.
    static let validQueries: [String] = {
        var out = [
            "clients where lapsed > 90d and tier = gold",
            "clients where lapsed > $days = 90d and tier = $tier",
            "clients where spend between $500 and $1,250.00 show id, spend sort by spend desc limit 10",
            "clients where not (tier in (gold, 'platinum', \"Silver\")) or cadence is null",
            "clients where has visit where services contains \"botox\" and lapsed > 90d",
            "clients where has no purchase where items.category = \"filler\"",
            "clients where count(visits where at in last 1y) >= 4 and sum(purchases.amount where at in last 1y) > $5000",
            "clients group by tier show count(), sum(spend), max(lapsed), percentile(spend, 90), share()",
            "clients top 10% by spend show id, spend",
            "clients top 20 by spend as of 2025-06-30",
            "clients where first_seen > today - 30d and last_seen in last 2w",
            "visits where at in last 90d group by provider show count(), avg(returned(90d)) as return_rate sort by return_rate desc",
            "visits where client.tier = gold and services contains 'Botox' show client, at, provider",
            "purchases where at in last 1y group by month(at), channel show count(), sum(amount)",
            "items where category = 'skincare' group by name show sum(amount), avg(quantity)",
            "events where type = visit show position, type, client, at limit 5",
            "feedback group by quarter(at) show avg(score), min(score), max(score)",
            "clients\n  where lapsed > 90d -- long gone\n  show id, name;",
            "save lapsed_vips as clients where lapsed > $days = 90d and tier = gold",
            "run lapsed_vips days=120d",
            "queries",
            "drop lapsed_vips",
            "clv by tier where lapsed < 1y",
            "cohorts by quarter show revenue",
            "paths from \"botox\" within 90d",
            "fit",
        ]
        let grammar = packageRoot.appendingPathComponent("grammar/patron.ebnf")
        if let text = try? String(contentsOf: grammar, encoding: .utf8) {
            for part in text.components(separatedBy: "(* example: ").dropFirst() {
                if let end = part.range(of: " *)") { out.append(String(part[..<end.lowerBound])) }
            }
        }
        return out
    }()
}

enum FuzzInput {
    static func randomBytes(_ rng: inout SeededRandom) -> String {
        let n = Int.random(in: 0...32, using: &rng)
        let bytes = (0..<n).map { _ in
            // Half printable ASCII, so the lexer gets past the first byte now and then.
            Bool.random(using: &rng) ? UInt8.random(in: 0x20...0x7E, using: &rng) : UInt8.random(in: 0...255, using: &rng)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static let scalars: [String] = [
        "é", "ñ", "日本", "😀", "👍🏽", "\u{301}", "\u{202E}", "\u{FEFF}", "“", "”", "‘", "’", "\u{A0}", "\u{2028}",
        "１", "٣", "\u{0}", "\u{7}", "\t", "\n", "\r\n", "\r", "ß", "İ", "ﬀ", "Ω", "$", "--", "'", "\"", "\\",
    ]
    static let ascii = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ()$,.;-'\"=<>!%*/+_#@:?[]{}|&^~`")

    static func randomUnicode(_ rng: inout SeededRandom) -> String {
        var s = ""
        for _ in 0..<Int.random(in: 0...24, using: &rng) {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<6: s.append(ascii.randomElement(using: &rng)!)
            case 6..<8: s += scalars.randomElement(using: &rng)!
            case 8: s += FuzzTokens.vocabulary.randomElement(using: &rng)!
            default:
                let v = UInt32.random(in: 0...0x10FFFF, using: &rng)
                if let u = Unicode.Scalar(v) { s.unicodeScalars.append(u) }
            }
        }
        return s
    }

    /// A valid query with 1–4 byte-level edits: delete, insert, replace, swap, duplicate, truncate.
    static func mutate(_ query: String, _ rng: inout SeededRandom) -> String {
        var b = Array(query.utf8)
        let interesting: [UInt8] = Array("()$,.;-'\"=<>!%*/+ \n\t0123456789dwmy".utf8) + [0, 0x80, 0xC3, 0xE2, 0xF0, 0xFF]
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            let k = b.isEmpty ? 0 : Int.random(in: 0..<b.count, using: &rng)
            switch Int.random(in: 0..<7, using: &rng) {
            case 0 where !b.isEmpty: b.removeSubrange(k..<min(b.count, k + Int.random(in: 1...3, using: &rng)))
            case 1: b.insert(interesting.randomElement(using: &rng)!, at: k)
            case 2 where !b.isEmpty: b[k] = Bool.random(using: &rng) ? interesting.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
            case 3 where b.count > 1:
                let j = Int.random(in: 0..<b.count, using: &rng)
                b.swapAt(k, j)
            case 4 where !b.isEmpty: b.insert(contentsOf: b[k..<min(b.count, k + Int.random(in: 1...8, using: &rng))], at: k)
            case 5: b.insert(contentsOf: Array((" " + FuzzTokens.vocabulary.randomElement(using: &rng)! + " ").utf8), at: k)
            default: b = Array(b.prefix(k))
            }
        }
        return String(decoding: b, as: UTF8.self)
    }
}

/// Random token sequences for `db.query`.
enum FuzzTokens {
    static let entities = ["clients", "visits", "purchases", "items", "refunds", "rewards", "tiers", "memberships", "feedback", "events", "client", "visit"]
    static let keywords = [
        "where", "group", "by", "show", "sort", "top", "limit", "as", "of", "and", "or", "not", "in", "between", "is", "null",
        "contains", "asc", "desc", "has", "no", "true", "false", "today", "last", "save", "run", "queries", "drop", "clv",
        "cohorts", "paths", "fit", "from", "within", "WHERE", "Group",
    ]
    static let fields = [
        "id", "name", "email", "tier", "lapsed", "tenure", "lifespan", "visits", "purchases", "refunds", "spend", "refunded",
        "aov", "clv", "points", "member", "plan", "cadence", "overdue", "next_due", "first_seen", "last_seen", "first_visit",
        "active_days", "frequency", "services", "providers", "items", "categories", "provider", "location", "source",
        "satisfaction", "avg_satisfaction", "acquisition_cost", "registered", "p_alive", "rfm", "segment",
        "client", "at", "position", "type", "amount", "score", "comment", "services", "channel", "category", "quantity",
        "action", "fee", "kind", "reason", "client.tier", "client.lapsed", "client.spend", "items.category", "items.amount",
        "purchases.amount", "visits.provider", "feedback.score", "lapsd", "x",
    ]
    static let functions = [
        "count(", "sum(", "avg(", "min(", "max(", "median(", "percentile(", "share(", "day(", "week(", "month(", "quarter(",
        "year(", "returned(", "expected(", "predicted_clv(", "count()", "share()", "nosuch(",
    ]
    static let literals = [
        "0", "1", "3", "2.5", "-1", "100", "99999999999999999999", "9223372036854775807", "4294967296", "0.29",
        "90d", "12w", "6m", "1y", "0d", "45.5d", "2147503794d", "99999999999999999999d",
        "$500", "$1,250.00", "$0.29", "$0", "$99999999999999999", "$90,000,000,000,000,000",
        "2025-06-30", "2024-02-29", "2025-02-30", "0000-01-01", "9999-12-31", "1970-01-01",
        "\"Dr. Kim\"", "'botox'", "\"\"", "'O''Brien'", "gold", "Gold", "silver", "facial", "Lee",
        "$days", "$tier", "$n", "$when", "$missing", "$days = 30d", "$x = gold",
    ]
    static let punctuation = ["=", "!=", "<>", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "(", ")", ",", ".", ";", "--", "==", "#", "\"open", "é"]
    static let vocabulary = entities + keywords + fields + functions + literals + punctuation

    static func any(_ rng: inout SeededRandom) -> String { vocabulary.randomElement(using: &rng)! }
    static func literal(_ rng: inout SeededRandom) -> String { literals.randomElement(using: &rng)! }
    static func field(_ rng: inout SeededRandom) -> String { fields.randomElement(using: &rng)! }

    /// A roughly well-typed expression made of vocabulary tokens (often ill-typed on purpose).
    static func expr(_ rng: inout SeededRandom, _ depth: Int = 0) -> [String] {
        switch Int.random(in: 0..<(depth > 2 ? 4 : 12), using: &rng) {
        case 0: return [field(&rng)]
        case 1: return [literal(&rng)]
        case 2: return [field(&rng), ["=", "!=", "<", ">=", ">"].randomElement(using: &rng)!, literal(&rng)]
        case 3: return [field(&rng), ["+", "-", "*", "/"].randomElement(using: &rng)!, literal(&rng)]
        case 4: return expr(&rng, depth + 1) + [["and", "or"].randomElement(using: &rng)!] + expr(&rng, depth + 1)
        case 5: return ["not"] + expr(&rng, depth + 1)
        case 6: return ["("] + expr(&rng, depth + 1) + [")"]
        case 7: return [field(&rng), "in", "("] + [literal(&rng), ",", literal(&rng)] + [")"]
        case 8: return [field(&rng), "between", literal(&rng), "and", literal(&rng)]
        case 9: return [field(&rng), "is", Bool.random(using: &rng) ? "null" : "not null"]
        case 10:
            let f = functions.randomElement(using: &rng)!
            if f.hasSuffix(")") { return [f] }
            return [f] + expr(&rng, depth + 1) + (Bool.random(using: &rng) ? [",", literal(&rng)] : []) + [")"]
        default:
            return ["has", ["visit", "purchase", "no visit", "feedback", "item"].randomElement(using: &rng)!]
                + (Bool.random(using: &rng) ? ["where"] + expr(&rng, depth + 1) : [])
        }
    }

    /// A statement: a mostly well-ordered query with random pieces, then a few token-level edits.
    static func sequence(_ rng: inout SeededRandom) -> String {
        var t: [String]
        if Int.random(in: 0..<4, using: &rng) == 0 {
            // Pure noise, usually starting with an entity.
            t = (0..<Int.random(in: 1...14, using: &rng)).map { _ in any(&rng) }
            if Bool.random(using: &rng) { t.insert(entities.randomElement(using: &rng)!, at: 0) }
        } else {
            t = [Int.random(in: 0..<6, using: &rng) == 0 ? entities.randomElement(using: &rng)! : (Bool.random(using: &rng) ? "clients" : "visits")]
            if Int.random(in: 0..<10, using: &rng) == 0 {
                t = ["save", ["fuzzed", "fuzzed", "fuzzed", "\"Dr. Kim\"", "'9lives'", "\"\"", "gold", "x"].randomElement(using: &rng)!, "as"] + t
            }
            if Bool.random(using: &rng) { t += ["where"] + expr(&rng) }
            if Int.random(in: 0..<4, using: &rng) == 0 { t += ["group", "by"] + expr(&rng, 2) }
            if Bool.random(using: &rng) {
                t += ["show"] + expr(&rng, 1)
                for _ in 0..<Int.random(in: 0...2, using: &rng) { t += [","] + expr(&rng, 1) + (Bool.random(using: &rng) ? [] : ["as", "x"]) }
            }
            if Int.random(in: 0..<4, using: &rng) == 0 { t += ["sort", "by"] + expr(&rng, 2) + [["asc", "desc", ""].randomElement(using: &rng)!] }
            if Int.random(in: 0..<5, using: &rng) == 0 { t += ["top", literal(&rng)] + (Bool.random(using: &rng) ? ["%"] : []) + ["by"] + expr(&rng, 2) }
            if Int.random(in: 0..<5, using: &rng) == 0 { t += ["limit", literal(&rng)] }
            if Int.random(in: 0..<5, using: &rng) == 0 { t += ["as", "of"] + (Bool.random(using: &rng) ? [literal(&rng)] : ["today", "-", literal(&rng)]) }
            if Int.random(in: 0..<12, using: &rng) == 0 { t = ["run", "fuzzed"] + (Bool.random(using: &rng) ? ["tier", "=", literal(&rng)] : []) }
            // Token-level edits.
            for _ in 0..<[0, 0, 0, 1, 1, 2].randomElement(using: &rng)! {
                let k = Int.random(in: 0...t.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0 where k < t.count: t.remove(at: k)
                case 1 where k < t.count: t[k] = any(&rng)
                default: t.insert(any(&rng), at: k)
                }
            }
        }
        let separator = [" ", " ", " ", " ", "", "\n", "  "].randomElement(using: &rng)!
        return t.filter { !$0.isEmpty }.joined(separator: separator)
    }
}

// MARK: - Crash reporting

/// Prints the input being fuzzed when the process dies of a signal (Linux): the
/// handler writes it to stderr, restores the previous handler (Swift's backtracer)
/// and returns, so the fault happens again and is reported as usual.
enum FuzzCrashReporter {
    static let capacity = 4096
    static let slots = 3
    nonisolated(unsafe) static let buffers: [UnsafeMutablePointer<UInt8>] = (0..<slots).map { _ in
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        p.initialize(repeating: 0, count: capacity)
        return p
    }
    nonisolated(unsafe) static let lengths: UnsafeMutablePointer<Int> = {
        let p = UnsafeMutablePointer<Int>.allocate(capacity: slots)
        p.initialize(repeating: 0, count: slots)
        return p
    }()
    static let installed = Mutex(false)

    /// Records the input being run in a slot (0, 1: the parser halves; 2: db.query).
    static func set(slot: Int, _ text: String) {
        let bytes = Array(text.utf8.prefix(capacity))
        lengths[slot] = 0
        bytes.withUnsafeBufferPointer { b in
            if let base = b.baseAddress { buffers[slot].update(from: base, count: b.count) }
        }
        lengths[slot] = bytes.count
    }

    static func install() {
        #if os(Linux)
        installed.withLock { done in
            guard !done else { return }
            done = true
            for sig in [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGFPE, SIGABRT] {
                var action = sigaction()
                action.__sigaction_handler.sa_handler = { sig in
                    let header = "\n*** fuzz input being run when the process crashed (slots 0, 1: parser; 2: db.query):\n"
                    _ = header.withCString { write(2, $0, strlen($0)) }
                    for s in 0..<FuzzCrashReporter.slots where FuzzCrashReporter.lengths[s] > 0 {
                        _ = write(2, FuzzCrashReporter.buffers[s], FuzzCrashReporter.lengths[s])
                        _ = "\n".withCString { write(2, $0, 1) }
                    }
                    FuzzCrashReporter.restore(sig)
                }
                sigemptyset(&action.sa_mask)
                action.sa_flags = 0
                sigaction(sig, &action, previous + Int(sig))
            }
        }
        #endif
    }

    #if os(Linux)
    nonisolated(unsafe) static let previous: UnsafeMutablePointer<sigaction> = .allocate(capacity: 65)
    static func restore(_ sig: Int32) {
        sigaction(sig, previous + Int(sig), nil)
    }
    #endif
}
