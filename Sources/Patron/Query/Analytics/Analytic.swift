import LMDB

/// What the analytic statements (`clv`, `cohorts`, `paths`) share: one snapshot, the
/// query's `today`, client-scope expressions compiled like a `clients` query's, and
/// the walk over the clients of the world of the query that pass `where`.
///
/// Each statement reads the in-memory columns (``ClientTable``, ``EventTable``,
/// ``ClientEvents``) rather than per-client records, so it scans a million clients
/// in about the time a `clients` query does. Merged clients are one row of the
/// client table, with their members' events (SPEC 1.2 `merge`): each person counts once.
struct AnalyticRun {
    let env: QueryEnv
    let source: String
    let parameters: [String: Value]

    /// A compiler of client-scope expressions (`clv by`, `where`).
    var compiler: Compiler { Compiler(env: env, source: source, parameters: parameters, scope: .client) }

    /// The compiled `where` condition, if any.
    func filter(_ e: Expr?) throws(QueryError) -> Compiled? {
        try e.map { e throws(QueryError) in try compiler.condition(e, what: "where") }
    }

    /// Calls `body` with each client row in the world of the query that passes
    /// `filter` (the same walk as a `clients where …` query).
    func forEachClient(_ filter: Compiled?, _ body: (Int) throws -> Void) throws {
        try env.forEachClientRow(filter, row: Row()) { i in
            try body(i)
            return true
        }
    }

    /// The column name of an expression: its text with spacing normalised.
    func columnName(_ e: Expr) -> String {
        let b = Array(source.utf8)
        let raw = String(decoding: b[max(0, e.range.start)..<min(b.count, max(e.range.start, e.range.end))], as: UTF8.self)
        return raw.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }
}

extension Database {
    /// Runs `body` on one snapshot at `today`, with the client table recomputed for
    /// `today` when many clients have later events (as a `clients` query does);
    /// `tallies`: whether the statement may read `location` or `provider`.
    func analytic(source: String, parameters: [String: Value], today: Day, _ body: (AnalyticRun) throws -> Void) throws {
        try store.env.read { txn in
            let table = try clientTables.table(store: store, txn: txn)
            var env = QueryEnv(database: self, txn: txn, table: table, today: today)
            let text = source.lowercased()
            if let recomputed = env.recomputedForToday(tallies: text.contains("location") || text.contains("provider")) {
                env = recomputed
            }
            try body(AnalyticRun(env: env, source: source, parameters: parameters))
            try QueryCancellation.checkpoint()
            if let failure = env.failure { throw failure }
        }
    }
}
