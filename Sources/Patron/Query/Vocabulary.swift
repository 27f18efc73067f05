/// The words of the query language, for shells and editors (completion, help) —
/// kept here so they cannot drift from the parser and the catalog of fields.
public enum QueryVocabulary {
    /// Keywords (`where`, `group`, `by`, …).
    public static var keywords: [String] { Catalog.keywords + ["save", "run", "queries", "drop", "fit", "set", "model", "bgnbd", "mbgnbd"] }

    /// The words that start a statement other than a query (`save`, `clv`, …).
    public static let statements = ["save", "run", "queries", "drop", "clv", "cohorts", "paths", "fit"]

    /// The clause words of an analytic statement, in the order they are written
    /// (`clv` → `by`, `where`), or nil for a word that is not one (SPEC 3.7).
    public static func analyticClauses(_ statement: String) -> [String]? {
        switch statement.lowercased() {
        case "clv": ["by", "where"]
        case "cohorts": ["by", "show", "where"]
        case "paths": ["from", "within"]
        case "fit": []
        default: nil
        }
    }

    /// The words that may follow a clause word of an analytic statement when they are
    /// a fixed choice (`cohorts by` → `month`, `quarter`, `year`), else nil.
    public static func analyticChoices(_ statement: String, after clause: String) -> [String]? {
        switch (statement.lowercased(), clause.lowercased()) {
        case ("cohorts", "by"): CohortsStatement.Period.allCases.map(\.rawValue)
        case ("cohorts", "show"): CohortsStatement.Measure.allCases.map(\.rawValue)
        default: nil
        }
    }

    /// Entity names, plural (`clients`, `visits`, …).
    public static var entities: [String] { Entity.allCases.map(\.rawValue) }

    /// Functions and aggregates (`count`, `month`, …).
    public static let functions = ["count", "sum", "avg", "min", "max", "median", "percentile", "share",
                                   "day", "week", "month", "quarter", "year", "returned", "expected", "predicted_clv"]

    /// The fields of an entity's rows with their kinds (nil for an unknown entity);
    /// accepts singular names (`visit`). Clients include the model fields `p_alive`,
    /// `expected` (written `expected(D)`), `predicted_clv`, `r`, `f`, `m`, `rfm`, `segment`.
    public static func fields(of entity: String) -> [(name: String, kind: ValueKind)]? {
        guard let e = Entity.named(entity) else { return nil }
        return Catalog.fields(e).map { ($0.0, $0.1) }
    }

    /// Fields of a purchase's line items (`items.<field>`).
    public static var itemFields: [String] { Catalog.itemFields.map(\.0) }
}

/// What the parser makes of a statement typed so far: a shell runs it, reads another
/// line, or shows the error.
public enum StatementStatus: Sendable, Equatable {
    /// A whole statement.
    case complete
    /// Valid so far but unfinished (`clients where`, an open parenthesis or quote).
    case incomplete
    /// Wrong before its end: the diagnostic.
    case invalid(QueryError)

    /// The status of `text` (comments and white space allowed anywhere).
    public init(of text: String) {
        do {
            _ = try Parser.statement(text)
            self = .complete
        } catch {
            // An error at the end of the input (or at a string still open there)
            // means more text could still fix it.
            let tokens = Lexer(text).tokens()
            let real = tokens.filter { $0.kind != .end }
            let endOfInput = real.last?.range.end ?? 0
            if error.range.start >= endOfInput {
                self = .incomplete
            } else if let last = real.last, last.kind == .invalid, error.range.start >= last.range.start,
                      Self.opensString(last, text) {
                self = .incomplete
            } else {
                self = .invalid(error)
            }
        }
    }

    private static func opensString(_ t: Token, _ text: String) -> Bool {
        let b = Array(text.utf8)
        guard t.range.start < b.count else { return false }
        return b[t.range.start] == UInt8(ascii: "\"") || b[t.range.start] == UInt8(ascii: "'")
    }
}

/// Splits script text into statements at `;` (outside strings and comments).
public enum StatementSplitter {
    /// The statements ended by `;` (without it, trimmed, empty ones dropped) and the
    /// text after the last `;`.
    public static func split(_ text: String) -> (statements: [String], rest: String) {
        let bytes = Array(text.utf8)
        var statements: [String] = []
        var start = 0
        for t in Lexer(text).tokens() where t.kind == .semicolon {
            let piece = String(decoding: bytes[start..<t.range.start], as: UTF8.self)
            if !isBlank(piece) { statements.append(piece.trimmingWhitespace()) }
            start = t.range.end
        }
        return (statements, String(decoding: bytes[start...], as: UTF8.self))
    }

    /// Whether text holds nothing but white space and `--` comments.
    public static func isBlank(_ text: String) -> Bool {
        Lexer(text).tokens().allSatisfy { $0.kind == .end }
    }
}
