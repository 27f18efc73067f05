import Foundation
import LMDB
import Synchronization

/// A query's answer: typed columns and rows of typed values.
///
/// The values are held column by column (as the executor produces them); ``rows``
/// gives them row by row, built once on first use. ``rowCount``, ``value(row:column:)``
/// and ``rendered(as:style:)`` read the columns without building rows.
public struct QueryResult: Sendable, Equatable {
    /// The result's columns (names and kinds), in order.
    public private(set) var columns: [Column]
    /// The values column by column: `columnValues[c][r]` is row `r`'s value in column `c`.
    public private(set) var columnValues: [[Value]]
    /// The number of rows.
    public private(set) var rowCount: Int
    private var cache = RowCache()

    /// A result from rows; a row narrower than the columns (or than the widest row) is
    /// padded with nulls.
    public init(columns: [Column], rows: [[Value]]) {
        self.columns = columns
        let width = rows.reduce(columns.count) { max($0, $1.count) }
        columnValues = (0..<width).map { c in rows.map { c < $0.count ? $0[c] : .null } }
        rowCount = rows.count
        if rows.allSatisfy({ $0.count == width }) { cache.store(rows) }
    }

    /// A result from its values column by column; every column holds `rowCount` values.
    init(columns: [Column], columnValues: [[Value]], rowCount: Int) {
        self.columns = columns
        self.columnValues = columnValues
        self.rowCount = rowCount
    }

    /// The rows, each a value per column, built from the columns on first use and
    /// kept (shared by copies of the result). Setting it replaces the whole result
    /// (its columns are rebuilt from the new rows, a narrow row padded with nulls):
    /// to change many values, build the rows once and set them once.
    public var rows: [[Value]] {
        get {
            if let rows = cache.rows { return rows }
            let rows = (0..<rowCount).map { r in columnValues.map { $0[r] } }
            cache.store(rows)
            return rows
        }
        set { self = QueryResult(columns: columns, rows: newValue) }
    }

    /// Row `row`'s value in column `column`; both must be in range (`row < rowCount`,
    /// `column < columnValues.count`), as with an array subscript.
    public func value(row: Int, column: Int) -> Value { columnValues[column][row] }

    /// Row `r`'s values, built from the columns (not kept); `r` must be below ``rowCount``.
    public func row(_ r: Int) -> [Value] { columnValues.map { $0[r] } }

    /// The result as text in `format` (SPEC 4.6).
    public func rendered(as format: OutputFormat, style: TableStyle = .plain) -> String {
        var writer = ResultWriter(format: format, columns: columns, style: style)
        var out = writer.begin()
        for r in 0..<rowCount { out += writer.row(row(r)) }
        out += writer.end()
        return out
    }

    /// Two results are equal when their columns, row counts and values are, however
    /// each was built (from rows or column by column).
    public static func == (a: QueryResult, b: QueryResult) -> Bool {
        a.columns == b.columns && a.rowCount == b.rowCount && a.columnValues == b.columnValues
    }

    /// The rows once built, shared by copies of one result (whose values never change:
    /// a change makes a new result with a new cache).
    private final class RowCache: Sendable {
        private let built = Mutex<[[Value]]?>(nil)
        var rows: [[Value]]? { built.withLock { $0 } }
        func store(_ rows: [[Value]]) { built.withLock { $0 = rows } }
    }
}

/// Collects a statement's result column by column: rows one at a time, or blocks of
/// rows already in columns (the executor's column-wise paths).
final class ResultCollector {
    private(set) var columns: [Column] = []
    private var values: [[Value]] = []
    private var count = 0

    func begin(_ columns: [Column]) {
        self.columns = columns
        values = Array(repeating: [], count: columns.count)
        count = 0
    }

    func append(row: [Value]) {
        if row.count > values.count {
            values += Array(repeating: Array(repeating: Value.null, count: count), count: row.count - values.count)
        }
        for c in values.indices { values[c].append(c < row.count ? row[c] : .null) }
        count += 1
    }

    /// Appends `n` rows given column by column (`block[c][r]`).
    func append(block: [[Value]], count n: Int) {
        guard block.count == values.count else {
            for r in 0..<n { append(row: block.map { $0[r] }) }
            return
        }
        if count == 0 {
            values = block
        } else {
            for c in values.indices { values[c] += block[c] }
        }
        count += n
    }

    var result: QueryResult { QueryResult(columns: columns, columnValues: values, rowCount: count) }
}

/// A saved query (SPEC 3.9).
public struct SavedQuery: Sendable, Equatable {
    public var name: String
    /// The query text as saved, `$name = default` placeholders included.
    public var text: String
    /// Its parameters in order of appearance, with the text of their defaults.
    public var parameters: [(name: String, defaultText: String?)]

    public static func == (a: SavedQuery, b: SavedQuery) -> Bool {
        a.name == b.name && a.text == b.text && a.parameters.map(\.name) == b.parameters.map(\.name)
            && a.parameters.map(\.defaultText) == b.parameters.map(\.defaultText)
    }
}

extension Database {
    /// Runs one statement of the query language and returns its whole result.
    ///
    /// ```swift
    /// let r = try db.query("clients where lapsed > $days and tier = gold", parameters: ["days": .duration(90)])
    /// print(r.rendered(as: .table))
    /// ```
    ///
    /// - Parameters:
    ///   - text: a query (SPEC 3.1) or a statement: `save NAME as QUERY`, `run NAME [k=v …]`, `queries`, `drop NAME`,
    ///     or an analytic statement (SPEC 3.7): `clv [by E] [where C]`, `cohorts [by month|quarter|year]
    ///     [show retention|revenue] [where C]`, `paths from "service" [within D]`.
    ///     `fit` (fits and stores the models: ``fit(today:)``), `set model = bgnbd|mbgnbd`.
    ///     A query using `p_alive`, `expected(D)` or `predicted_clv` when no model is
    ///     stored fits the models first (as of `today`) and says so through ``notices``.
    ///   - parameters: values for `$name` placeholders (bound as values, never spliced into the text).
    ///   - today: the day answers are computed for (default: the current date in the database time zone).
    /// - Throws: ``QueryError`` for a malformed or ill-typed query (render it with
    ///   ``QueryError/render(origin:)``), or a storage error.
    public func query(_ text: String, parameters: [String: Value] = [:], today: Day? = nil) throws -> QueryResult {
        let collector = ResultCollector()
        try query(text, parameters: parameters, today: today, columns: { collector.begin($0) },
                  row: { collector.append(row: $0) }, collector: collector)
        return collector.result
    }

    /// Runs one statement and streams its result: `columns` once, then `row` per row,
    /// without building the whole result when the query needs no sorting or grouping.
    ///
    /// The callbacks run inside a read transaction: do not append from them.
    public func query(_ text: String, parameters: [String: Value] = [:], today: Day? = nil,
                      columns: ([Column]) throws -> Void, row: ([Value]) throws -> Void) throws {
        try query(text, parameters: parameters, today: today, columns: columns, row: row, collector: nil)
    }

    /// ``query(_:parameters:today:columns:row:)``, where the executor may hand blocks of
    /// rows straight to `collector` (the one `columns` and `row` also feed).
    private func query(_ text: String, parameters: [String: Value], today: Day?, columns: ([Column]) throws -> Void,
                       row: ([Value]) throws -> Void, collector: ResultCollector?) throws {
        let statement = try Parser.statement(text)
        let day = today ?? self.today
        switch statement {
        case .query(let q):
            try withModels(today: day) { autoFit in
                try Executor(database: self, query: q, source: text, parameters: parameters, baseToday: day, autoFit: autoFit,
                             collector: collector)
                    .run(columns: columns, row: row)
            }
        case .run(let name, let arguments, let range):
            guard let saved = try savedQuery(name) else {
                let names = try savedQueries().map(\.name)
                throw QueryError("no saved query named \"\(name)\"", at: range,
                                 hint: Suggest.nearest(name, in: names).map { "did you mean \"\($0)\"?" }, source: text)
            }
            var bound = parameters
            for (key, expr) in arguments { bound[key] = try literalValue(expr, source: text, today: day) }
            try runSaved(saved, parameters: bound, today: day, columns: columns, row: row, collector: collector)
        case .save(let name, _, let range):
            let body = String(decoding: Array(text.utf8)[range.start..<range.end], as: UTF8.self)
            try saveQuery(name, body)
            try columns([])
        case .drop(let name, let range):
            guard try savedQuery(name) != nil else {
                throw QueryError("no saved query named \"\(name)\"", at: range, source: text)
            }
            try dropQuery(name)
            try columns([])
        case .queries:
            try columns([Column(name: "name", kind: .string), Column(name: "parameters", kind: .list), Column(name: "query", kind: .string)])
            for q in try savedQueries() {
                try row([.string(q.name), .list(q.parameters.map { p in p.defaultText.map { "$\(p.name) = \($0)" } ?? "$\(p.name)" }), .string(q.text)])
            }
        case .clv(let s):
            try analytic(source: text, parameters: parameters, today: day) { run in
                try CLVReport(statement: s, run: run).execute(columns: columns, row: row)
            }
        case .cohorts(let s):
            try analytic(source: text, parameters: parameters, today: day) { run in
                try CohortsReport(statement: s, run: run).execute(columns: columns, row: row)
            }
        case .paths(let s):
            try analytic(source: text, parameters: parameters, today: day) { run in
                try PathsReport(statement: s, run: run).execute(columns: columns, row: row)
            }
        case .fit:
            let result = try fit(today: day).result
            try columns(result.columns)
            for r in result.rows { try row(r) }
        case .set(let name, let value, let nameRange, let valueRange):
            guard name == "model" else {
                throw QueryError("unknown setting \"\(name)\"", at: nameRange, hint: "the settings: model (set model = bgnbd or mbgnbd)", source: text)
            }
            guard let kind = TransactionModelKind(rawValue: value.lowercased()) else {
                throw QueryError("the model is bgnbd or mbgnbd, not \"\(value)\"", at: valueRange,
                                 hint: Suggest.nearest(value, in: TransactionModelKind.allCases.map(\.rawValue)).map { "did you mean \"\($0)\"?" },
                                 source: text)
            }
            try setTransactionModelKind(kind)
            try columns([])
        }
    }

    /// Runs a saved query with `parameters` bound as values.
    public func run(_ name: String, parameters: [String: Value] = [:], today: Day? = nil) throws -> QueryResult {
        guard let saved = try savedQuery(name) else { throw PatronError.invalidArgument("no saved query named \"\(name)\"") }
        let collector = ResultCollector()
        try runSaved(saved, parameters: parameters, today: today ?? self.today, columns: { collector.begin($0) },
                     row: { collector.append(row: $0) }, collector: collector)
        return collector.result
    }

    /// Runs a saved query and streams its result (see ``query(_:parameters:today:columns:row:)``).
    public func run(_ name: String, parameters: [String: Value] = [:], today: Day? = nil,
                    columns: ([Column]) throws -> Void, row: ([Value]) throws -> Void) throws {
        guard let saved = try savedQuery(name) else { throw PatronError.invalidArgument("no saved query named \"\(name)\"") }
        try runSaved(saved, parameters: parameters, today: today ?? self.today, columns: columns, row: row, collector: nil)
    }

    /// A parameter value written as text, read as a literal of the language (`120d`,
    /// `$500`, `2025-06-30`, `today - 30d`, `"Dr. Kim"`); text that is not one literal
    /// (`gold`, `Dr. Kim`) is a string. Never becomes part of a query's text.
    public func parameterValue(_ text: String, today: Day? = nil) throws -> Value {
        var p = Parser(text)
        guard let e = try? p.additive(), p.peek.kind == .end else { return .string(text) }
        if case .path = e.kind { return .string(text) }  // `Dr. Kim`
        return try literalValue(e, source: text, today: today ?? self.today)
    }

    private func runSaved(_ saved: SavedQuery, parameters: [String: Value], today: Day,
                          columns: ([Column]) throws -> Void, row: ([Value]) throws -> Void, collector: ResultCollector?) throws {
        let statement = try Parser.statement(saved.text)
        guard case .query(let q) = statement else { throw PatronError.format("saved query \(saved.name) is not a query") }
        let names = Set(saved.parameters.map(\.name))
        if let unknown = parameters.keys.sorted().first(where: { !names.contains($0) }) {
            let list = saved.parameters.map { "$" + $0.name }.joined(separator: ", ")
            throw QueryError("saved query \"\(saved.name)\" has no parameter \"\(unknown)\"", at: SourceRange(0, 0),
                             hint: list.isEmpty ? "it takes no parameters" : "it takes \(list)", source: saved.text)
        }
        let missing = saved.parameters.filter { $0.defaultText == nil && parameters[$0.name] == nil }.map(\.name)
        if !missing.isEmpty {
            let list = saved.parameters.map { p in "$\(p.name)" + (p.defaultText.map { " (default \($0))" } ?? "") }.joined(separator: ", ")
            let at = saved.text.range(of: "$" + missing[0]).map {
                let start = saved.text.utf8.distance(from: saved.text.startIndex, to: $0.lowerBound)
                return SourceRange(start, start + missing[0].utf8.count + 1)
            } ?? SourceRange(0, 0)
            throw QueryError("saved query \"\(saved.name)\" needs a value for " + missing.map { "$" + $0 }.joined(separator: ", "),
                             at: at, hint: "its parameters: \(list); e.g. run \(saved.name) \(missing[0])=…", source: saved.text)
        }
        try withModels(today: today) { autoFit in
            try Executor(database: self, query: q, source: saved.text, parameters: parameters, baseToday: today, autoFit: autoFit,
                         collector: collector)
                .run(columns: columns, row: row)
        }
    }

    /// Evaluates a `run` argument: a literal, a date expression, or a bare word (a string).
    private func literalValue(_ e: Expr, source: String, today: Day) throws -> Value {
        if case .name(let w) = e.kind { return .string(w) }
        var result: Value = .null
        try store.env.read { txn in
            let table = try clientTables.table(store: store, txn: txn)
            let env = QueryEnv(database: self, txn: txn, table: table, today: today)
            let c = try Compiler(env: env, source: source, parameters: [:], scope: .group).compile(e)
            guard c.isConstant else { throw QueryError("a parameter value must be a literal (90d, $500, 2025-06-30, gold, \"Dr. Kim\")", at: e.range, source: source) }
            result = c.eval(Row()).output
        }
        return result
    }
}

/// Lets a caller stop a running query (a shell's Ctrl-C): the query checks it every
/// few thousand rows and throws ``QueryInterrupted``.
///
/// ```swift
/// let stop = QueryCancellation { userPressedStop.load(ordering: .relaxed) }
/// let r = try QueryCancellation.$current.withValue(stop) { try db.query("visits group by provider") }
/// ```
public final class QueryCancellation: Sendable {
    private let check: @Sendable () -> Bool

    /// A cancellation that holds when `isCancelled` returns true. It is called often,
    /// from the query's thread and from the worker threads of a walk split in two, so
    /// keep it cheap and thread-safe: an atomic load.
    public init(_ isCancelled: @escaping @Sendable () -> Bool) { check = isCancelled }

    /// Whether the query should stop.
    public var isCancelled: Bool { check() }

    /// The cancellation queries started in this task consult.
    @TaskLocal public static var current: QueryCancellation?

    /// Throws ``QueryInterrupted`` when the current query should stop.
    static func checkpoint() throws(QueryInterrupted) {
        if current?.isCancelled == true { throw QueryInterrupted() }
    }
}

/// A query stopped by its ``QueryCancellation``.
public struct QueryInterrupted: Error, CustomStringConvertible, Sendable {
    public var description: String { "interrupted" }
}
