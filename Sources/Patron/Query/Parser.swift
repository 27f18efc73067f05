/// Recursive-descent parser for the query language (`grammar/patron.ebnf`), with
/// precedence climbing for binary operators. Keywords are matched case-insensitively
/// as words; a word that is not a keyword where a value is expected is a name.
struct Parser {
    let source: String
    let bytes: [UInt8]
    let tokens: [Token]
    var index = 0
    /// Current nesting of sub-expressions, bounded so no query can exhaust the stack.
    var depth = 0
    static let maxDepth = 100
    /// Operands in one chain of `and`, `or` or arithmetic.
    static let maxChain = 4096

    mutating func enter() throws(QueryError) {
        depth += 1
        guard depth <= Self.maxDepth else {
            throw QueryError("the query nests more than \(Self.maxDepth) levels deep here", at: peek.range,
                             hint: "flatten it, e.g. with in (a, b, c) instead of nested conditions")
        }
    }

    func checkChain(_ n: Int) throws(QueryError) {
        guard n <= Self.maxChain else {
            throw QueryError("more than \(Self.maxChain) operands in one chain", at: peek.range, hint: "use in (a, b, c) for long lists of alternatives")
        }
    }

    /// Words that end or shape an expression and can never be bare-word strings.
    static let reserved: Set<String> = [
        "where", "group", "by", "show", "sort", "top", "limit", "as", "of", "and", "or", "not", "in", "between",
        "is", "null", "contains", "asc", "desc", "has", "no", "true", "false", "today", "last",
    ]
    static let clauseKeywords = ["where", "group", "show", "sort", "top", "limit", "as"]
    static let statementKeywords = ["save", "run", "queries", "drop", "clv", "cohorts", "paths", "fit", "set"]
    static let functions: Set<String> = [
        "count", "sum", "avg", "min", "max", "median", "percentile", "share",
        "day", "week", "month", "quarter", "year", "expected", "predicted_clv", "returned",
    ]
    static let scopedAggregates: Set<String> = ["count", "sum", "avg", "min", "max", "median"]

    init(_ source: String) {
        self.source = source
        let lexer = Lexer(source)
        bytes = lexer.bytes
        tokens = lexer.tokens()
    }

    /// Parses one statement, with an optional `;` after it.
    static func statement(_ text: String) throws(QueryError) -> Statement {
        var p = Parser(text)
        do throws(QueryError) {
            let s = try p.statement()
            if p.peek.kind == .semicolon { p.index += 1 }
            guard p.peek.kind == .end else {
                throw p.unexpected(expected: p.expectedAfterStatement(s))
            }
            return s
        } catch {
            var e = error
            e.source = text
            throw e
        }
    }

    // MARK: Tokens

    var peek: Token { tokens[index] }
    func peek(_ k: Int) -> Token { tokens[min(index + k, tokens.count - 1)] }

    func text(_ t: Token) -> String { String(decoding: bytes[t.range.start..<t.range.end], as: UTF8.self) }
    func text(_ r: SourceRange) -> String { String(decoding: bytes[r.start..<r.end], as: UTF8.self) }
    func word(_ t: Token) -> String? { t.kind == .word ? text(t).lowercased() : nil }
    func isWord(_ w: String, _ t: Token? = nil) -> Bool { word(t ?? peek) == w }

    mutating func next() -> Token {
        let t = tokens[index]
        if t.kind != .end { index += 1 }
        return t
    }

    mutating func accept(_ w: String) -> Token? {
        guard isWord(w) else { return nil }
        return next()
    }

    mutating func expect(_ w: String, context: String = "") throws(QueryError) -> Token {
        if let t = accept(w) { return t }
        throw unexpected(expected: "\"\(w)\"" + context, suggestions: [w])
    }

    mutating func expect(_ k: TokenKind, _ what: String) throws(QueryError) -> Token {
        guard peek.kind == k else { throw unexpected(expected: what) }
        return next()
    }

    /// Describes a token for messages: `"wher"`, `end of query`, `")"`.
    func describe(_ t: Token) -> String {
        switch t.kind {
        case .end: return "end of query"
        case .invalid:
            let s = text(t)
            if s.hasPrefix("\"") || s.hasPrefix("'") { return "an unterminated string" }
            return "\"\(s)\""
        default: return "\"\(text(t))\""
        }
    }

    /// "expected …, found …", with a did-you-mean hint when the found word is close to
    /// one of `suggestions`.
    func unexpected(expected: String, suggestions: [String] = [], at token: Token? = nil) -> QueryError {
        let t = token ?? peek
        var hint: String?
        if t.kind == .word, let s = Suggest.nearest(text(t), in: suggestions) { hint = "did you mean \"\(s)\"?" }
        if t.kind == .invalid {
            let s = text(t)
            if s.hasPrefix("\"") || s.hasPrefix("'") {
                return QueryError("unterminated string: no closing \(s.prefix(1))", at: SourceRange(t.range.start, t.range.start + 1),
                                  hint: "close the string with \(s.prefix(1))")
            }
            if let first = s.unicodeScalars.first, first.properties.numericType != nil || ("0"..."9").contains(first) {
                return QueryError("invalid number \"\(s)\": expected a number, or a duration like 90d, 12w, 6m or 1y", at: t.range)
            }
            return QueryError("unexpected character \"\(s)\"; expected \(expected)", at: t.range, hint: hint)
        }
        return QueryError("expected \(expected), found \(describe(t))", at: t.range, hint: hint)
    }

    /// The clauses that may still follow a query, in order, quoted.
    func remainingClauses(_ q: Query) -> [String] {
        var next: [String] = []
        let hasGroup = !q.groupBy.isEmpty, hasShow = !q.show.isEmpty, hasSort = !q.sortBy.isEmpty
        if q.filter == nil && !hasGroup && !hasShow && !hasSort && q.top == nil && q.limit == nil && q.asOf == nil { next.append("where") }
        if !hasGroup && !hasShow && !hasSort && q.top == nil && q.limit == nil && q.asOf == nil { next.append("group by") }
        if !hasShow && !hasSort && q.top == nil && q.limit == nil && q.asOf == nil { next.append("show") }
        if !hasSort && q.top == nil && q.limit == nil && q.asOf == nil { next.append("sort by") }
        if q.top == nil && q.limit == nil && q.asOf == nil { next.append("top") }
        if q.limit == nil && q.asOf == nil { next.append("limit") }
        if q.asOf == nil { next.append("as of") }
        return next.map { "\"\($0)\"" }
    }

    /// What may follow a complete statement: `an operator, "show", … or end of query`.
    func expectedAfterStatement(_ s: Statement) -> String {
        guard case .query(let q) = s else { return "end of statement" }
        var items: [String] = []
        // The last clause present ends with an expression (or a list of them).
        let endsWithExpression = q.asOf != nil || q.top != nil || !q.sortBy.isEmpty || !q.show.isEmpty || !q.groupBy.isEmpty || q.filter != nil
        if endsWithExpression && q.limit == nil { items.append("an operator") }
        let endsWithList = q.asOf == nil && q.limit == nil && q.top == nil && (!q.sortBy.isEmpty || !q.show.isEmpty || !q.groupBy.isEmpty)
        if endsWithList { items.append("\",\"") }
        items += remainingClauses(q)
        items.append("end of query")
        return items.dropLast().joined(separator: ", ") + " or " + (items.last ?? "")
    }

    // MARK: Statements

    mutating func statement() throws(QueryError) -> Statement {
        let t = peek
        guard let w = word(t) else {
            throw unexpected(expected: "an entity (" + Entity.allCases.map(\.rawValue).joined(separator: ", ") + ") or a command")
        }
        switch w {
        case "save":
            _ = next()
            let name = try savedName()
            if let problem = SavedQuery.nameProblem(name.0) { throw QueryError(problem, at: name.1) }
            _ = try expect("as", context: " after the saved query's name")
            let start = peek.range.start
            let q = try query()
            return .save(name: name.0, query: q, text: SourceRange(start, tokens[index - 1].range.end))
        case "run":
            _ = next()
            let name = try savedName()
            var args: [(String, Expr)] = []
            while peek.kind == .word || peek.kind == .parameter {
                let k = next()
                var key = text(k)
                if k.kind == .parameter { key.removeFirst() }
                _ = try expect(.eq, "\"=\" and a value after parameter \"\(key)\"")
                args.append((key, try additive()))
            }
            return .run(name: name.0, arguments: args, range: name.1)
        case "queries":
            _ = next()
            return .queries
        case "drop":
            _ = next()
            let name = try savedName()
            return .drop(name: name.0, range: name.1)
        case "fit":
            _ = next()
            return .fit(t.range)
        case "set":
            _ = next()
            guard peek.kind == .word else { throw unexpected(expected: "a setting's name after \"set\" (model)", suggestions: ["model"]) }
            let name = next()
            _ = try expect(.eq, "\"=\" and a value after \"set \(text(name))\"")
            guard peek.kind == .word || peek.kind == .string else {
                throw unexpected(expected: "a value for \"\(text(name))\" (e.g. set model = bgnbd)")
            }
            let value = next()
            return .set(name: text(name).lowercased(), value: value.kind == .string ? unquote(value) : text(value),
                        nameRange: name.range, valueRange: value.range)
        case "clv":
            _ = next()
            return .clv(try clvStatement(t))
        case "cohorts":
            _ = next()
            return .cohorts(try cohortsStatement(t))
        case "paths":
            _ = next()
            return .paths(try pathsStatement(t))
        default:
            return .query(try query())
        }
    }

    mutating func savedName() throws(QueryError) -> (String, SourceRange) {
        guard peek.kind == .word || peek.kind == .string else { throw unexpected(expected: "a saved query's name") }
        let t = next()
        return (t.kind == .string ? unquote(t) : text(t), t.range)
    }

    // MARK: Queries

    mutating func query() throws(QueryError) -> Query {
        let t = peek
        guard let w = word(t), let entity = Entity(rawValue: w) else {
            let names = Entity.allCases.map(\.rawValue)
            if let w = word(t), let e = Entity.named(w) {
                throw QueryError("unknown entity \"\(text(t))\"", at: t.range, hint: "did you mean \"\(e.rawValue)\"?")
            }
            throw unexpected(expected: "an entity (" + names.joined(separator: ", ") + ")", suggestions: names + Self.statementKeywords)
        }
        _ = next()
        var q = Query(entity: entity, entityRange: t.range, range: t.range)
        if accept("where") != nil { q.filter = try expression() }
        if accept("group") != nil {
            _ = try expect("by", context: " after \"group\"")
            q.groupBy = try commaList { (p: inout Parser) throws(QueryError) in try p.expression() }
        }
        if accept("show") != nil {
            q.show = try commaList { (p: inout Parser) throws(QueryError) in
                let e = try p.expression()
                var alias: String?
                if p.isWord("as") && !p.isWord("of", p.peek(1)) {
                    _ = p.next()
                    guard p.peek.kind == .word || p.peek.kind == .string else { throw p.unexpected(expected: "a column name after \"as\"") }
                    let a = p.next()
                    alias = a.kind == .string ? p.unquote(a) : p.text(a)
                }
                return ShowItem(expr: e, alias: alias)
            }
        }
        if accept("sort") != nil {
            _ = try expect("by", context: " after \"sort\"")
            q.sortBy = try commaList { (p: inout Parser) throws(QueryError) in
                let e = try p.expression()
                if p.accept("desc") != nil { return SortKey(expr: e, descending: true) }
                _ = p.accept("asc")
                return SortKey(expr: e, descending: false)
            }
        }
        if let top = accept("top") {
            let n = try expect(.number, "a number after \"top\" (top 20 by spend, top 10% by spend)")
            let count = Double(text(n)) ?? 0
            let percent = peek.kind == .percent
            if percent { _ = next() }
            _ = try expect("by", context: " after \"top \(text(n))\(percent ? "%" : "")\"")
            let by = try expression()
            if percent && !(count > 0 && count <= 100) {
                throw QueryError("top percentage must be more than 0 and at most 100, found \(text(n))%", at: n.range)
            }
            if !percent && count > 1e15 {
                throw QueryError("top \(text(n)) is more rows than a query can return", at: n.range)
            }
            if !percent && (count != count.rounded() || count < 0) {
                throw QueryError("top needs a whole number of rows, found \(text(n))", at: n.range, hint: "write top \(text(n))% for a share of rows")
            }
            q.top = TopClause(count: count, percent: percent, by: by, range: top.range.union(by.range))
        }
        if accept("limit") != nil {
            let n = try expect(.number, "a whole number after \"limit\"")
            if text(n).allSatisfy(\.isNumber), Int(text(n)) == nil {
                throw QueryError("limit \(text(n)) is more rows than a query can return", at: n.range)
            }
            guard let v = Int(text(n)), v >= 0 else {
                throw QueryError("limit needs a whole number, found \(text(n))", at: n.range)
            }
            q.limit = (v, n.range)
        }
        if isWord("as") {
            _ = next()
            _ = try expect("of", context: " after \"as\" (as of 2025-06-30)")
            q.asOf = try additive()
        }
        q.range = SourceRange(t.range.start, tokens[max(index - 1, 0)].range.end)
        if let w = word(peek), !Self.reserved.contains(w) || Self.clauseKeywords.contains(w) {
            let order = ["where", "group", "show", "sort", "top", "limit", "as"]
            if let rank = order.firstIndex(of: w) {
                let names = ["where", "group by", "show", "sort by", "top", "limit", "as of"]
                let present = [q.filter != nil, !q.groupBy.isEmpty, !q.show.isEmpty, !q.sortBy.isEmpty, q.top != nil, q.limit != nil, q.asOf != nil]
                let later = (rank..<names.count).first { present[$0] }.map { names[$0] } ?? names[rank]
                throw QueryError("\"\(names[rank])\" must come before \"\(later)\" (clauses go in the order where, group by, show, sort by, top, limit, as of)",
                                 at: peek.range)
            }
            throw unexpected(expected: expectedAfterStatement(.query(q)), suggestions: Self.clauseKeywords + ["group by", "sort by", "as of"])
        }
        return q
    }

    mutating func commaList<T>(_ item: (inout Parser) throws(QueryError) -> T) throws(QueryError) -> [T] {
        var out = [try item(&self)]
        while peek.kind == .comma {
            _ = next()
            out.append(try item(&self))
        }
        return out
    }

    // MARK: Expressions

    mutating func expression() throws(QueryError) -> Expr {
        try enter()
        defer { depth -= 1 }
        return try orExpr()
    }

    mutating func orExpr() throws(QueryError) -> Expr {
        var l = try andExpr()
        var n = 1
        while accept("or") != nil {
            n += 1
            try checkChain(n)
            let r = try andExpr()
            l = Expr(.binary(.or, l, r), l.range.union(r.range))
        }
        return l
    }

    mutating func andExpr() throws(QueryError) -> Expr {
        var l = try notExpr()
        var n = 1
        while accept("and") != nil {
            n += 1
            try checkChain(n)
            let r = try notExpr()
            l = Expr(.binary(.and, l, r), l.range.union(r.range))
        }
        return l
    }

    mutating func notExpr() throws(QueryError) -> Expr {
        if let t = accept("not") {
            try enter()
            defer { depth -= 1 }
            let e = try notExpr()
            return Expr(.not(e), t.range.union(e.range))
        }
        return try predicate()
    }

    mutating func predicate() throws(QueryError) -> Expr {
        let l = try additive()
        let op: BinaryOp?
        switch peek.kind {
        case .eq: op = .eq
        case .ne: op = .ne
        case .lt: op = .lt
        case .le: op = .le
        case .gt: op = .gt
        case .ge: op = .ge
        default: op = nil
        }
        if let op {
            _ = next()
            let r = try additive()
            return Expr(.binary(op, l, r), l.range.union(r.range))
        }
        var negated = false
        if isWord("not"), let w = word(peek(1)), ["in", "between", "contains"].contains(w) {
            _ = next()
            negated = true
        }
        if accept("in") != nil {
            if accept("last") != nil {
                let d = try additive()
                return Expr(.inLast(l, d, negated: negated), l.range.union(d.range))
            }
            _ = try expect(.lparen, "\"(\" and a list of values, or \"last\" and a duration, after \"in\"")
            let items = try commaList { (p: inout Parser) throws(QueryError) in try p.additive() }
            let close = try expect(.rparen, "\",\" or \")\" in the list")
            return Expr(.inList(l, items, negated: negated), l.range.union(close.range))
        }
        if accept("between") != nil {
            let lo = try additive()
            _ = try expect("and", context: " in \"between … and …\"")
            let hi = try additive()
            return Expr(.between(l, lo, hi, negated: negated), l.range.union(hi.range))
        }
        if accept("contains") != nil {
            let r = try additive()
            return Expr(.contains(l, r, negated: negated), l.range.union(r.range))
        }
        if negated { throw unexpected(expected: "\"in\", \"between\" or \"contains\" after \"not\"") }
        if let isTok = accept("is") {
            let not = accept("not") != nil
            let n = try expect("null", context: not ? " after \"is not\"" : " or \"not null\" after \"is\"")
            return Expr(.isNull(l, negated: not), l.range.union(n.range).union(isTok.range))
        }
        return l
    }

    mutating func additive() throws(QueryError) -> Expr {
        var l = try term()
        var n = 1
        while peek.kind == .plus || peek.kind == .minus {
            n += 1
            guard n <= Self.maxDepth else { throw QueryError("more than \(Self.maxDepth) terms in one sum", at: peek.range) }
            let op: BinaryOp = next().kind == .plus ? .add : .sub
            let r = try term()
            l = Expr(.binary(op, l, r), l.range.union(r.range))
        }
        return l
    }

    mutating func term() throws(QueryError) -> Expr {
        var l = try unary()
        var n = 1
        while peek.kind == .star || peek.kind == .slash {
            n += 1
            guard n <= Self.maxDepth else { throw QueryError("more than \(Self.maxDepth) factors in one product", at: peek.range) }
            let op: BinaryOp = next().kind == .star ? .mul : .div
            let r = try unary()
            l = Expr(.binary(op, l, r), l.range.union(r.range))
        }
        return l
    }

    mutating func unary() throws(QueryError) -> Expr {
        if peek.kind == .minus {
            let t = next()
            try enter()
            defer { depth -= 1 }
            let e = try unary()
            if case .literal(let lit) = e.kind {
                switch lit {
                case .number(let x): return Expr(.literal(.number(-x)), t.range.union(e.range))
                case .money(let c): return Expr(.literal(.money(-c)), t.range.union(e.range))
                case .duration(let d): return Expr(.literal(.duration(-d)), t.range.union(e.range))
                default: break
                }
            }
            return Expr(.negate(e), t.range.union(e.range))
        }
        return try primary()
    }

    mutating func primary() throws(QueryError) -> Expr {
        let t = peek
        switch t.kind {
        case .number:
            _ = next()
            return Expr(.literal(.number(Double(text(t)) ?? 0)), t.range)
        case .duration:
            _ = next()
            return Expr(.literal(.duration(try duration(t))), t.range)
        case .date:
            _ = next()
            return Expr(.literal(.date(try date(t))), t.range)
        case .money:
            _ = next()
            return Expr(.literal(.money(try money(t))), t.range)
        case .string:
            _ = next()
            return Expr(.literal(.string(unquote(t))), t.range)
        case .parameter:
            _ = next()
            let name = String(text(t).dropFirst())
            if peek.kind == .eq {
                _ = next()
                let d = try additive()
                return Expr(.parameter(name, default: d), t.range.union(d.range))
            }
            return Expr(.parameter(name, default: nil), t.range)
        case .lparen:
            _ = next()
            let e = try expression()
            let close = try expect(.rparen, "\")\"")
            return Expr(e.kind, t.range.union(close.range))
        case .word:
            return try wordPrimary()
        default:
            throw unexpected(expected: "a value, a field or \"(\"")
        }
    }

    mutating func wordPrimary() throws(QueryError) -> Expr {
        let t = next()
        let raw = text(t)
        let w = raw.lowercased()
        switch w {
        case "true": return Expr(.literal(.bool(true)), t.range)
        case "false": return Expr(.literal(.bool(false)), t.range)
        case "null": return Expr(.literal(.null), t.range)
        case "today": return Expr(.today, t.range)
        case "has":
            let no = accept("no") != nil
            let et = peek
            guard let ew = word(et), let entity = Entity.named(ew), entity != .clients else {
                throw unexpected(expected: "an event entity after \"has\(no ? " no" : "")\" (visit, purchase, item, refund, reward, tier, membership, feedback, event)",
                                 suggestions: ["visit", "purchase", "item", "refund", "reward", "tier", "membership", "feedback", "event"])
            }
            _ = next()
            var cond: Expr?
            if accept("where") != nil { cond = try notExpr() }
            return Expr(.has(negated: no, entity: entity, condition: cond), t.range.union(cond?.range ?? et.range))
        default:
            break
        }
        if Self.reserved.contains(w) {
            index -= 1
            throw unexpected(expected: "a value, a field or \"(\"")
        }
        if peek.kind == .lparen {
            return try call(name: w, nameToken: t)
        }
        var parts = [raw]
        var range = t.range
        while peek.kind == .dot {
            _ = next()
            guard peek.kind == .word else { throw unexpected(expected: "a field name after \".\"") }
            let f = next()
            parts.append(text(f))
            range = range.union(f.range)
        }
        return Expr(parts.count == 1 ? .name(raw) : .path(parts), range)
    }

    mutating func call(name: String, nameToken: Token) throws(QueryError) -> Expr {
        _ = next()  // (
        if Self.scopedAggregates.contains(name), let ew = word(peek), let entity = Entity.named(ew), entity != .clients {
            let after = peek(1)
            let isScoped = name == "count"
                ? (after.kind == .rparen || isWord("where", after))
                : (after.kind == .dot || isWord("where", after))
            if isScoped {
                _ = next()
                var field: String?
                if peek.kind == .dot {
                    _ = next()
                    guard peek.kind == .word else { throw unexpected(expected: "a field name after \".\"") }
                    field = text(next())
                }
                var cond: Expr?
                if accept("where") != nil { cond = try expression() }
                let close = try expect(.rparen, cond == nil ? "\"where\" or \")\"" : "\")\"")
                return Expr(.scoped(function: name, entity: entity, field: field, condition: cond), nameToken.range.union(close.range))
            }
        }
        var args: [Expr] = []
        if peek.kind != .rparen {
            args = try commaList { (p: inout Parser) throws(QueryError) in try p.expression() }
        }
        let close = try expect(.rparen, "\",\" or \")\"")
        return Expr(.call(name, args), nameToken.range.union(close.range))
    }

    // MARK: Literals

    func duration(_ t: Token) throws(QueryError) -> Double {
        let s = text(t)
        guard let unit = s.last, let n = Double(s.dropLast()) else { throw QueryError("invalid duration \"\(s)\"", at: t.range) }
        switch unit.lowercased() {
        case "d": return n
        case "w": return n * 7
        case "m": return n * 30
        default: return n * 365
        }
    }

    func date(_ t: Token) throws(QueryError) -> Day {
        let s = text(t)
        let parts = s.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3, Calendar.isValid(year: parts[0], month: parts[1], day: parts[2]) else {
            throw QueryError("invalid date \"\(s)\": no such day", at: t.range, hint: "dates are written YYYY-MM-DD")
        }
        return Day(Calendar.day(year: parts[0], month: parts[1], day: parts[2]))
    }

    func money(_ t: Token) throws(QueryError) -> Int64 {
        let s = text(t)
        guard let m = Money(parsing: s) else {
            let fraction = s.split(separator: ".").dropFirst().first?.count ?? 0
            throw QueryError(fraction > 2 ? "invalid money \"\(s)\": at most 2 digits after the point" : "money \"\(s)\" is too large", at: t.range)
        }
        return m.cents
    }

    /// The text of a string token without its quotes; a doubled quote or a backslash
    /// escape (`\"`, `\\`, `\n`, `\t`) stands for one character.
    func unquote(_ t: Token) -> String {
        let inner = Array(bytes[(t.range.start + 1)..<max(t.range.start + 1, t.range.end - 1)])
        let quote = bytes[t.range.start]
        var out: [UInt8] = []
        var i = 0
        while i < inner.count {
            let c = inner[i]
            if c == quote && i + 1 < inner.count && inner[i + 1] == quote { out.append(quote); i += 2; continue }
            if c == UInt8(ascii: "\\") && i + 1 < inner.count {
                let e = inner[i + 1]
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                default: out.append(e)
                }
                i += 2
                continue
            }
            out.append(c)
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
