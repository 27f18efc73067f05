import Foundation
import Testing
@testable import Patron

/// The documentation of the query language is checked against the parser:
/// every `(* example: … *)` line of `grammar/patron.ebnf`, every statement of
/// `examples/*.pql` (also run on the sample database) and every line of the
/// ```` ```pql ```` blocks of `README.md`.
@Suite struct GrammarTests {
    // MARK: Sources of examples

    static var grammarURL: URL { packageRoot.appendingPathComponent("grammar/patron.ebnf") }
    static var examplesURL: URL { packageRoot.appendingPathComponent("examples") }
    static var readmeURL: URL { packageRoot.appendingPathComponent("README.md") }

    /// The statements of the `(* example: STATEMENT *)` lines, with their line numbers.
    static func grammarExamples(_ text: String) -> [(line: Int, text: String)] {
        var out: [(Int, String)] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            let open = "(* example:"
            guard line.hasPrefix(open), line.hasSuffix("*)") else { continue }
            let body = line.dropFirst(open.count).dropLast(2).trimmingCharacters(in: .whitespaces)
            out.append((n + 1, body))
        }
        return out
    }

    /// Splits a script into statements: a `;` outside quotes and outside `--`
    /// comments ends one (the `;` stays with it); statements holding nothing but
    /// white space and comments are skipped. Quotes follow the lexer: a doubled
    /// quote or a backslash escape does not close a string.
    ///
    /// `line` is the line of the statement's first token; `padded` is the text
    /// preceded by as many line feeds as there are lines before it, so that an
    /// error's line number is the line in the file.
    static func splitStatements(_ text: String) -> [(line: Int, text: String, padded: String)] {
        let b = Array(text.utf8)
        var out: [(Int, String, String)] = []
        var start = 0
        var chunkLine = 1, startLine = 1, line = 1
        var hasContent = false
        var i = 0
        func flush(_ end: Int) {
            if hasContent {
                let s = String(decoding: b[start..<end], as: UTF8.self)
                out.append((startLine, s, String(repeating: "\n", count: chunkLine - 1) + s))
            }
            start = end
            chunkLine = line
            hasContent = false
        }
        while i < b.count {
            let c = b[i]
            if c == 0x0A { line += 1; i += 1; continue }
            if c == UInt8(ascii: " ") || c == 0x09 || c == 0x0D || c == 0x0C { i += 1; continue }
            if c == UInt8(ascii: "-") && i + 1 < b.count && b[i + 1] == UInt8(ascii: "-") {
                while i < b.count && b[i] != 0x0A { i += 1 }
                continue
            }
            if !hasContent { startLine = line }
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                hasContent = true
                i += 1
                while i < b.count {
                    if b[i] == 0x0A { line += 1 }
                    if b[i] == c {
                        if i + 1 < b.count && b[i + 1] == c { i += 2; continue }
                        i += 1
                        break
                    }
                    if b[i] == UInt8(ascii: "\\") && i + 1 < b.count {
                        if b[i + 1] == 0x0A { line += 1 }
                        i += 2
                        continue
                    }
                    i += 1
                }
                continue
            }
            if c == UInt8(ascii: ";") {
                i += 1
                flush(i)
                continue
            }
            hasContent = true
            i += 1
        }
        flush(b.count)
        return out
    }

    /// The lines of the fenced code blocks tagged `pql` (```` ```pql ```` or `~~~pql`),
    /// without blank lines and lines that are only a comment.
    static func markdownPQLLines(_ text: String) -> [(line: Int, text: String)] {
        var out: [(Int, String)] = []
        var fence: String?
        var inPQL = false
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw).trimmingCharacters(in: .whitespaces)
            if let f = fence {
                if line.hasPrefix(f) && line.drop(while: { String($0) == String(f.first!) }).trimmingCharacters(in: .whitespaces).isEmpty {
                    fence = nil
                    inPQL = false
                    continue
                }
                let content = line.trimmingCharacters(in: .whitespacesAndNewlines)
                if inPQL && !content.isEmpty && !content.hasPrefix("--") { out.append((n + 1, String(raw))) }
                continue
            }
            for marker in ["```", "~~~"] where line.hasPrefix(marker) {
                let ch = marker.first!
                let run = line.prefix(while: { $0 == ch })
                let info = line.dropFirst(run.count).trimmingCharacters(in: .whitespaces)
                fence = String(run)
                inPQL = info.split(whereSeparator: { $0 == " " || $0 == "{" || $0 == "," }).first.map { $0.lowercased() == "pql" } ?? false
                break
            }
        }
        return out
    }

    static func pqlFiles() throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: examplesURL, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "pql" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    /// Parses `text`, recording a failure that names `origin` and shows the caret.
    @discardableResult
    static func parse(_ text: String, origin: String, sourceLocation: SourceLocation = #_sourceLocation) -> Statement? {
        do {
            return try Parser.statement(text)
        } catch {
            // Parser.statement throws only QueryError (typed throws).
            Issue.record("\(origin) does not parse:\n\(error.render(origin: origin))", sourceLocation: sourceLocation)
        }
        return nil
    }

    /// A fresh database holding `examples/clinic.ndjson`.
    static func sampleDatabase(_ dir: TempDir) throws -> Database {
        let db = try Database(path: dir.path("db"))
        let report = try db.importFile(examplesURL.appendingPathComponent("clinic.ndjson").path)
        #expect(report.appended > 0)
        return db
    }

    static let sampleToday = day("2025-01-01")

    // MARK: grammar/patron.ebnf

    @Test func everyGrammarExampleParses() throws {
        let text = try String(contentsOf: Self.grammarURL, encoding: .utf8)
        let examples = Self.grammarExamples(text)
        #expect(examples.count >= 40, "grammar/patron.ebnf has only \(examples.count) example lines")
        for (line, example) in examples {
            #expect(!example.isEmpty, "empty example at patron.ebnf:\(line)")
            Self.parse(example, origin: "patron.ebnf line \(line)")
        }
    }

    /// The examples between them use every token kind, statement, clause and
    /// expression form of the grammar.
    @Test func grammarExamplesCoverEveryProduction() throws {
        let text = try String(contentsOf: Self.grammarURL, encoding: .utf8)
        var seen = Set<String>()
        for (_, example) in Self.grammarExamples(text) {
            for t in Lexer(example).tokens() { seen.insert("token \(t.kind)") }
            if example.contains("--") { seen.insert("comment") }
            let lower = example.lowercased()
            for w in Parser.reserved where lower.split(whereSeparator: { !$0.isLetter && $0 != "_" }).contains(Substring(w)) {
                seen.insert("word \(w)")
            }
            guard let s = try? Parser.statement(example) else { continue }
            Self.collect(s, into: &seen)
        }
        var wanted: [String] = [
            "token word", "token number", "token duration", "token date", "token money", "token string",
            "token parameter", "token lparen", "token rparen", "token comma", "token dot", "token semicolon",
            "token eq", "token ne", "token lt", "token le", "token gt", "token ge",
            "token plus", "token minus", "token star", "token slash", "token percent", "comment",
            "statement query", "statement save", "statement run", "statement queries", "statement drop",
            "analytic clv", "analytic cohorts", "analytic paths", "analytic fit",
            "clv by", "clv where", "cohorts by month", "cohorts by quarter", "cohorts by year",
            "cohorts show retention", "cohorts show revenue", "cohorts where", "paths within", "statement set",
            "where", "group by", "show", "show alias", "sort by", "sort desc", "sort asc", "top", "top %", "limit", "as of",
            "literal number", "literal money", "literal duration", "literal date", "literal string", "literal bool", "literal null",
            "today", "name", "path", "parameter", "parameter default", "not", "negate",
            "op or", "op and", "op =", "op !=", "op <", "op <=", "op >", "op >=", "op +", "op -", "op *", "op /",
            "in list", "not in list", "between", "not between", "is null", "is not null", "contains", "not contains",
            "in last", "not in last", "call", "scoped count", "scoped sum", "scoped avg", "scoped min", "scoped max",
            "scoped median", "scoped where", "has", "has no", "has where",
        ]
        wanted += Parser.reserved.map { "word \($0)" }
        for entity in Entity.allCases { wanted.append("entity \(entity.rawValue)") }
        for w in wanted { #expect(seen.contains(w), "no example in grammar/patron.ebnf shows \(w)") }
    }

    static func collect(_ s: Statement, into seen: inout Set<String>) {
        switch s {
        case .query(let q):
            seen.insert("statement query")
            collect(q, into: &seen)
        case .save(_, let q, _):
            seen.insert("statement save")
            collect(q, into: &seen)
        case .run(_, let args, _):
            seen.insert("statement run")
            for (_, e) in args { collect(e, into: &seen) }
        case .queries: seen.insert("statement queries")
        case .drop: seen.insert("statement drop")
        case .clv(let c):
            seen.insert("analytic clv")
            if let by = c.by { seen.insert("clv by"); collect(by, into: &seen) }
            if let f = c.filter { seen.insert("clv where"); collect(f, into: &seen) }
        case .cohorts(let c):
            seen.insert("analytic cohorts")
            seen.insert("cohorts by \(c.period.rawValue)")
            seen.insert("cohorts show \(c.measure.rawValue)")
            if let f = c.filter { seen.insert("cohorts where"); collect(f, into: &seen) }
        case .paths(let p):
            seen.insert("analytic paths")
            if p.within != nil { seen.insert("paths within") }
        case .fit: seen.insert("analytic fit")
        case .set: seen.insert("statement set")
        }
    }

    static func collect(_ q: Query, into seen: inout Set<String>) {
        seen.insert("entity \(q.entity.rawValue)")
        if let f = q.filter { seen.insert("where"); collect(f, into: &seen) }
        if !q.groupBy.isEmpty { seen.insert("group by") }
        for g in q.groupBy { collect(g, into: &seen) }
        if !q.show.isEmpty { seen.insert("show") }
        for item in q.show {
            if item.alias != nil { seen.insert("show alias") }
            collect(item.expr, into: &seen)
        }
        if !q.sortBy.isEmpty { seen.insert("sort by") }
        for k in q.sortBy {
            seen.insert(k.descending ? "sort desc" : "sort asc")
            collect(k.expr, into: &seen)
        }
        if let t = q.top {
            seen.insert(t.percent ? "top %" : "top")
            collect(t.by, into: &seen)
        }
        if q.limit != nil { seen.insert("limit") }
        if let a = q.asOf { seen.insert("as of"); collect(a, into: &seen) }
    }

    static func collect(_ e: Expr, into seen: inout Set<String>) {
        switch e.kind {
        case .literal(let l):
            switch l {
            case .number: seen.insert("literal number")
            case .money: seen.insert("literal money")
            case .duration: seen.insert("literal duration")
            case .date: seen.insert("literal date")
            case .string: seen.insert("literal string")
            case .bool: seen.insert("literal bool")
            case .null: seen.insert("literal null")
            }
        case .today: seen.insert("today")
        case .name: seen.insert("name")
        case .path: seen.insert("path")
        case .parameter(_, let d):
            seen.insert("parameter")
            if let d { seen.insert("parameter default"); collect(d, into: &seen) }
        case .not(let x): seen.insert("not"); collect(x, into: &seen)
        case .negate(let x): seen.insert("negate"); collect(x, into: &seen)
        case .binary(let op, let a, let b):
            seen.insert("op \(op.rawValue)")
            collect(a, into: &seen)
            collect(b, into: &seen)
        case .inList(let x, let items, let negated):
            seen.insert(negated ? "not in list" : "in list")
            collect(x, into: &seen)
            for i in items { collect(i, into: &seen) }
        case .between(let x, let lo, let hi, let negated):
            seen.insert(negated ? "not between" : "between")
            for y in [x, lo, hi] { collect(y, into: &seen) }
        case .isNull(let x, let negated):
            seen.insert(negated ? "is not null" : "is null")
            collect(x, into: &seen)
        case .contains(let x, let y, let negated):
            seen.insert(negated ? "not contains" : "contains")
            collect(x, into: &seen)
            collect(y, into: &seen)
        case .inLast(let x, let d, let negated):
            seen.insert(negated ? "not in last" : "in last")
            collect(x, into: &seen)
            collect(d, into: &seen)
        case .call(_, let args):
            seen.insert("call")
            for a in args { collect(a, into: &seen) }
        case .scoped(let function, _, _, let cond):
            seen.insert("scoped \(function)")
            if let cond { seen.insert("scoped where"); collect(cond, into: &seen) }
        case .has(let negated, _, let cond):
            seen.insert(negated ? "has no" : "has")
            if let cond { seen.insert("has where"); collect(cond, into: &seen) }
        }
    }

    // MARK: examples/*.pql

    @Test func thereAreExampleScripts() throws {
        let files = try Self.pqlFiles()
        #expect(files.count >= 4, "examples/ holds \(files.count) .pql files")
        for f in files {
            let text = try String(contentsOf: f, encoding: .utf8)
            #expect(!Self.splitStatements(text).isEmpty, "\(f.lastPathComponent) holds no statement")
        }
    }

    @Test func everyExampleScriptStatementParses() throws {
        for f in try Self.pqlFiles() {
            let text = try String(contentsOf: f, encoding: .utf8)
            for statement in Self.splitStatements(text) {
                Self.parse(statement.padded, origin: f.lastPathComponent)
            }
        }
    }

    /// Each script runs in file order (saves before runs) on its own copy of the
    /// sample database, today being 2025-01-01.
    @Test func everyExampleScriptRunsOnTheSampleDatabase() throws {
        for f in try Self.pqlFiles() {
            let dir = TempDir()
            let db = try Self.sampleDatabase(dir)
            let text = try String(contentsOf: f, encoding: .utf8)
            for statement in Self.splitStatements(text) {
                do {
                    _ = try db.query(statement.padded, today: Self.sampleToday)
                } catch let e as QueryError {
                    Issue.record("statement at \(f.lastPathComponent):\(statement.line) fails:\n\(e.render(origin: f.lastPathComponent))")
                } catch {
                    Issue.record("statement at \(f.lastPathComponent):\(statement.line) fails: \(error)\n\(statement.text)")
                }
            }
        }
    }

    @Test func theSplitterFollowsQuotesAndComments() {
        let script = """
            -- a comment; with a semicolon and a 'quote
            clients where name = 'a;b' and comment = "it''s; \\"fine\\"";
            ;  -- nothing here
            visits -- trailing; comment
              where provider = 'O''Brien;';
            queries
            """
        let parts = Self.splitStatements(script)
        #expect(parts.count == 3)
        #expect(parts.map(\.line) == [2, 4, 6])
        #expect(parts.map { $0.padded.prefix(while: { $0 == "\n" }).count } == [0, 2, 5])
        #expect(parts.first?.text.hasSuffix("\"it''s; \\\"fine\\\"\";") == true)
        #expect(parts.last?.text.trimmingCharacters(in: .whitespacesAndNewlines) == "queries")
    }

    // MARK: README.md

    @Test func everyReadmePQLLineParses() throws {
        let text = try String(contentsOf: Self.readmeURL, encoding: .utf8)
        // There may be no ```pql block yet; every line of those there are must parse.
        for (line, statement) in Self.markdownPQLLines(text) {
            Self.parse(statement, origin: "README.md line \(line)")
        }
    }

    /// The README check would catch a bad line: the extractor finds the lines of
    /// ```pql blocks only, and a misspelt one does not parse.
    @Test func readmeExtractionFindsPQLBlocksOnly() {
        let markdown = """
            Intro with `clients where nonsense` inline.

            ```swift
            let x = "clients wher x"
            ```

            ```pql
            clients where lapsed > 90d and tier = gold
            -- a comment line

            clients wher lapsed > 90d
            ```

            ~~~ pql
            visits group by provider show count()
            ~~~

            ```
            not a query
            ```
            """
        let lines = Self.markdownPQLLines(markdown)
        #expect(lines.map(\.text) == ["clients where lapsed > 90d and tier = gold", "clients wher lapsed > 90d",
                                      "visits group by provider show count()"])
        #expect(lines.map(\.line) == [8, 11, 15])
        let failing = lines.filter { (try? Parser.statement($0.text)) == nil }
        #expect(failing.map(\.text) == ["clients wher lapsed > 90d"])
    }

    // MARK: Rules the grammar states

    @Test func aDurationComparedWithAPlainNumberIsAnError() throws {
        let dir = TempDir()
        let db = try Self.sampleDatabase(dir)
        // It parses; checking it fails, and the hint suggests 90d.
        #expect(Self.parse("clients where lapsed > 90", origin: "rule") != nil)
        do {
            _ = try db.query("clients where lapsed > 90", today: Self.sampleToday)
            Issue.record("lapsed > 90 was accepted")
        } catch let e as QueryError {
            #expect((e.message + (e.hint ?? "")).contains("90d"), "\(e.render())")
        }
        #expect(try db.query("clients where lapsed > 90d", today: Self.sampleToday).rows.count == 3)
    }

    @Test func aMisspeltKeywordDoesNotParse() throws {
        #expect(throws: QueryError.self) { try Parser.statement("clients wher lapsed > 90d") }
        do {
            _ = try Parser.statement("clients wher lapsed > 90d")
        } catch {
            #expect(error.hint?.contains("where") == true, "\(error.render())")
        }
        let dir = TempDir()
        let db = try Self.sampleDatabase(dir)
        #expect(throws: QueryError.self) { try db.query("clients wher lapsed > 90d", today: Self.sampleToday) }
    }

    @Test func sortByMayComeBeforeTopWhichPicksFirst() throws {
        let text = "clients where tier = gold sort by spend desc top 5 by spend limit 3"
        guard case .query(let q)? = Self.parse(text, origin: "rule") else { Issue.record("not a query"); return }
        #expect(q.sortBy.count == 1 && q.sortBy[0].descending)
        #expect(q.top?.count == 5 && q.top?.percent == false)
        #expect(q.limit?.0 == 3)

        // top picks by spend (C-1001 $1,030.00, C-1003 $315.50), then sort by id desc orders them.
        let dir = TempDir()
        let db = try Self.sampleDatabase(dir)
        let r = try db.query("clients show id sort by id desc top 2 by spend", today: Self.sampleToday)
        #expect(r.rows == [[.string("C-1003")], [.string("C-1001")]])
        #expect(try db.query(text, today: Self.sampleToday).rows.count == 1)
        // A clause out of order does not parse.
        #expect(throws: QueryError.self) { try Parser.statement("clients top 2 by spend show id") }
        #expect(throws: QueryError.self) { try Parser.statement("clients limit 2 where tier = gold") }
    }

    @Test func keywordsIgnoreCase() throws {
        for text in ["CLIENTS WHERE Lapsed > 90D", "Clients Where Tier In (Gold) Show Id Sort By Spend DESC Limit 1",
                     "VISITS GROUP BY PROVIDER SHOW COUNT() AS N", "clients where HAS NO Purchase WHERE Items.Category = Filler",
                     "SAVE x AS clients", "RUN x", "QUERIES", "DROP x"] {
            Self.parse(text, origin: text)
        }
        let dir = TempDir()
        let db = try Self.sampleDatabase(dir)
        let upper = try db.query("CLIENTS WHERE Lapsed > 90D", today: Self.sampleToday)
        let lower = try db.query("clients where lapsed > 90d", today: Self.sampleToday)
        #expect(upper.rows == lower.rows)
        #expect(!upper.rows.isEmpty)
    }

    @Test func lexicalRules() throws {
        func filter(_ text: String) throws -> Expr? {
            guard case .query(let q) = try Parser.statement(text) else { return nil }
            return q.filter
        }
        // != and <> are one operator; = and == too.
        #expect(try filter("clients where tier != gold") == filter("clients where tier <> gold"))
        #expect(try filter("clients where tier  = gold") == filter("clients where tier == gold"))
        // -- comments run to the end of the line; ; ends the statement.
        #expect(try filter("clients -- all of them; really\n where tier = gold;") != nil)
        #expect(throws: QueryError.self) { try Parser.statement("clients; visits") }
        // Money: comma groups of exactly three digits, cents.
        #expect(try filter("clients where spend > $1,250.00")?.kind
                == .binary(.gt, Expr(.name("spend"), SourceRange(14, 19)), Expr(.literal(.money(125_000)), SourceRange(22, 31))))
        #expect(throws: QueryError.self) { try Parser.statement("clients where spend > $1,25") }
        #expect(throws: QueryError.self) { try Parser.statement("clients where spend > $1.234") }
        // Durations: m = 30 days, y = 365 days, w = 7 days.
        for (text, days) in [("90d", 90.0), ("12w", 84), ("6m", 180), ("1y", 365), ("45.5d", 45.5)] {
            guard case .binary(_, _, let r)? = try filter("clients where lapsed > \(text)")?.kind else { Issue.record("\(text)"); continue }
            #expect(r.kind == .literal(.duration(days)), "\(text)")
        }
        #expect(throws: QueryError.self) { try Parser.statement("clients where lapsed > 90days") }
        // Dates are YYYY-MM-DD and real days.
        #expect(throws: QueryError.self) { try Parser.statement("clients where last_seen > 2025-02-30") }
        // Strings: doubled quotes and backslash escapes.
        guard case .binary(_, _, let s)? = try filter(#"clients where name = 'O''Brien' "#)?.kind else { Issue.record("string"); return }
        #expect(s.kind == .literal(.string("O'Brien")))
        guard case .binary(_, _, let s2)? = try filter(#"clients where name = "say \"hi\"""#)?.kind else { Issue.record("string"); return }
        #expect(s2.kind == .literal(.string(#"say "hi""#)))
        #expect(throws: QueryError.self) { try Parser.statement("clients where name = 'open") }
    }

    @Test func aParameterFollowedByEqualsIsADefault() throws {
        guard case .query(let q) = try Parser.statement("clients where $tier = gold") else { Issue.record("not a query"); return }
        guard case .parameter("tier", let d?)? = q.filter?.kind else { Issue.record("\(String(describing: q.filter))"); return }
        #expect(d.kind == .name("gold"))
        guard case .query(let q2) = try Parser.statement("clients where tier = $tier") else { Issue.record("not a query"); return }
        guard case .binary(.eq, _, let p)? = q2.filter?.kind else { Issue.record("not a comparison"); return }
        #expect(p.kind == .parameter("tier", default: nil))
    }

    @Test func precedenceLevels() throws {
        func filter(_ text: String) throws -> ExprKind? {
            guard case .query(let q) = try Parser.statement("clients where " + text) else { return nil }
            return q.filter?.kind
        }
        // or < and: a or (b and c).
        guard case .binary(.or, _, let right)? = try filter("member or tier = gold and spend > $1") else { Issue.record("or"); return }
        guard case .binary(.and, _, _) = right.kind else { Issue.record("and"); return }
        // not binds tighter than and: (not a) and b.
        guard case .binary(.and, let l, _)? = try filter("not member and tier = gold") else { Issue.record("not"); return }
        guard case .not = l.kind else { Issue.record("not"); return }
        // between's "and" belongs to between.
        guard case .between? = try filter("spend between $1 and $2") else { Issue.record("between"); return }
        // * before +, unary minus before *.
        guard case .binary(.gt, _, let sum)? = try filter("spend > $1 + $2 * -3") else { Issue.record("arith"); return }
        guard case .binary(.add, _, let product) = sum.kind, case .binary(.mul, _, let neg) = product.kind else { Issue.record("arith"); return }
        #expect(neg.kind == .literal(.number(-3)))
        // has takes one predicate: the and after it is the client's.
        guard case .binary(.and, let h, _)? = try filter("has visit where services contains botox and lapsed > 90d") else { Issue.record("has"); return }
        guard case .has(false, .visits, _) = h.kind else { Issue.record("has"); return }
        // Inside count(…) the condition runs to the closing parenthesis.
        guard case .binary(.gt, let c, _)? = try filter("count(visits where services contains botox and at in last 1y) > 1")
        else { Issue.record("count"); return }
        guard case .scoped("count", .visits, nil, .some(let cond)) = c.kind, case .binary(.and, _, _) = cond.kind else { Issue.record("count"); return }
        // Comparisons do not chain.
        #expect(throws: QueryError.self) { try Parser.statement("clients where spend > $1 > $2") }
    }

    @Test func groupedResultsWithoutShowShowCount() throws {
        let dir = TempDir()
        let db = try Self.sampleDatabase(dir)
        let r = try db.query("clients group by location", today: Self.sampleToday)
        #expect(r.columns.map(\.name) == ["location", "count()"])
        #expect(r.rows == [[.string("Harbor"), .number(1)], [.string("Midtown"), .number(2)]])
    }

    @Test func moneyAndAPlainNumberCompareAsDollars() throws {
        let dir = TempDir()
        let db = try Self.sampleDatabase(dir)
        let plain = try db.query("clients where spend > 300 show id", today: Self.sampleToday)
        let money = try db.query("clients where spend > $300 show id", today: Self.sampleToday)
        #expect(plain.rows == money.rows)
        #expect(plain.rows == [[.string("C-1001")], [.string("C-1003")]])
    }

    @Test func bareWordsAreStringsWhenNotFields() throws {
        let dir = TempDir()
        let db = try Self.sampleDatabase(dir)
        let bare = try db.query("clients where tier = gold show id", today: Self.sampleToday)
        let quoted = try db.query("clients where tier = \"GOLD\" show id", today: Self.sampleToday)
        #expect(bare.rows == [[.string("C-1001")]])
        #expect(quoted.rows == bare.rows)
        // A reserved word is never a bare string.
        #expect(throws: QueryError.self) { try Parser.statement("clients where tier = by") }
    }
}
