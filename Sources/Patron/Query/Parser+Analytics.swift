/// The clauses of the analytic statements (SPEC 3.7, `grammar/patron.ebnf` section 1):
///
///     clv [by <expr>] [where <expr>]
///     cohorts [by month|quarter|year] [show retention|revenue] [where <expr>]
///     paths from <string or word> [within <duration>]
extension Parser {
    /// `clv …` after the word `clv` (the token `start`).
    mutating func clvStatement(_ start: Token) throws(QueryError) -> CLVStatement {
        var s = CLVStatement(range: start.range)
        if accept("by") != nil { s.by = try expression() }
        if accept("where") != nil { s.filter = try expression() }
        try analyticEnd("clv", order: ["by", "where"], present: [s.by != nil, s.filter != nil],
                        endsWithExpression: s.by != nil || s.filter != nil)
        s.range = SourceRange(start.range.start, tokens[max(index - 1, 0)].range.end)
        return s
    }

    /// `cohorts …` after the word `cohorts`.
    mutating func cohortsStatement(_ start: Token) throws(QueryError) -> CohortsStatement {
        var s = CohortsStatement(range: start.range)
        var hasBy = false, hasShow = false
        if let p: CohortsStatement.Period = try choice(after: "by", example: "cohorts by quarter") {
            s.period = p
            hasBy = true
        }
        if let m: CohortsStatement.Measure = try choice(after: "show", example: "cohorts show revenue") {
            s.measure = m
            hasShow = true
        }
        if accept("where") != nil { s.filter = try expression() }
        try analyticEnd("cohorts", order: ["by", "show", "where"], present: [hasBy, hasShow, s.filter != nil],
                        endsWithExpression: s.filter != nil)
        s.range = SourceRange(start.range.start, tokens[max(index - 1, 0)].range.end)
        return s
    }

    /// After `keyword` (when present), one of a clause's fixed words, with a
    /// "did you mean" for a misspelling; nil when the keyword is absent.
    private mutating func choice<C: RawRepresentable & CaseIterable>(after keyword: String, example: String)
        throws(QueryError) -> C? where C.RawValue == String {
        guard accept(keyword) != nil else { return nil }
        let names = C.allCases.map(\.rawValue)
        guard let w = word(peek), let value = C(rawValue: w) else {
            throw unexpected(expected: Suggest.list(names) + " after \"\(keyword)\" (\(example))", suggestions: names)
        }
        _ = next()
        return value
    }

    /// `paths …` after the word `paths`.
    mutating func pathsStatement(_ start: Token) throws(QueryError) -> PathsStatement {
        _ = try expect("from", context: " after \"paths\" (paths from \"botox\" within 90d)")
        let x = peek
        let name: String
        switch x.kind {
        case .string: name = unquote(x)
        case .word: name = text(x)
        default: throw unexpected(expected: "a service after \"from\", like \"botox\" (in quotes when it has spaces)")
        }
        guard !name.isEmpty else { throw QueryError("the service after \"from\" is empty", at: x.range, hint: "name a service, e.g. paths from \"botox\"") }
        _ = next()
        var s = PathsStatement(from: name, fromRange: x.range, within: nil, range: start.range)
        if accept("within") != nil {
            let d = peek
            switch d.kind {
            case .duration:
                _ = next()
                s.within = try duration(d)
            case .number:
                let n = text(d)
                throw QueryError("\"within\" needs a duration, but \(n) is a number", at: d.range,
                                 hint: "write \(n)d for \(n) days (or \(n)w, \(n)m, \(n)y)")
            default:
                throw unexpected(expected: "a duration after \"within\", like 90d, 12w, 6m or 1y")
            }
        }
        if s.within == nil, x.kind == .word, peek.kind == .word, Suggest.nearest(text(peek), in: ["within"]) == nil {
            throw QueryError("expected \"within\" or end of query, found \(describe(peek))", at: peek.range,
                             hint: "a service whose name has spaces goes in quotes: paths from \"\(text(x)) \(text(peek))\"")
        }
        try analyticEnd("paths", order: ["within"], present: [s.within != nil], endsWithExpression: false)
        s.range = SourceRange(start.range.start, tokens[max(index - 1, 0)].range.end)
        return s
    }

    /// Checks that an analytic statement ends here (`;` or the end of the text); else
    /// explains: a clause out of order or given twice, or what could still follow.
    func analyticEnd(_ statement: String, order: [String], present: [Bool], endsWithExpression: Bool) throws(QueryError) {
        if peek.kind == .end || peek.kind == .semicolon { return }
        if let w = word(peek), let rank = order.firstIndex(of: w) {
            let listed = order.map { "\"\($0)\"" }.joined(separator: ", ")
            if let later = (rank + 1..<order.count).first(where: { present[$0] }) {
                throw QueryError("\"\(w)\" must come before \"\(order[later])\" (the clauses of \(statement) go in the order \(listed))",
                                 at: peek.range)
            }
            if present[rank] { throw QueryError("\(statement) takes one \"\(w)\" clause", at: peek.range) }
        }
        let last = present.lastIndex(of: true) ?? -1
        var items: [String] = []
        if endsWithExpression { items.append("an operator") }
        items += order[(last + 1)...].map { "\"\($0)\"" }
        items.append("end of query")
        let expected = items.count == 1 ? items[0] : items.dropLast().joined(separator: ", ") + " or " + (items.last ?? "")
        throw unexpected(expected: expected, suggestions: order)
    }
}
