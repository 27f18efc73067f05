/// `clv [by <expr>] [where <client expr>]`: the practice-level lifetime value
/// (SPEC 3.7, 3.11).
///
/// Over the clients in scope (in the world of the query, passing `where`) that have
/// at least one activity day:
///
/// * `apv` = total spend ÷ total purchases (spend is purchases minus refunds);
/// * `frequency` = total purchases ÷ total client-years, each client's tenure
///   counting at least 30 days, years being 365 days;
/// * `lifespan_years` = mean client `lifespan` in days ÷ 365;
/// * `clv` = apv × frequency × lifespan_years, unrounded until the end;
/// * `cac` = total `acquisition_cost` of every client in scope (leads who never
///   came included) ÷ the number of clients with an activity day;
/// * `clv_cac` = clv ÷ cac.
///
/// Null cases: with no client with an activity day, everything but `clients` (0) is
/// null; without purchases `apv` and `clv` are null; `cac` is null when no client in
/// scope has an acquisition cost (a client without one counts $0 when others have
/// one); `clv_cac` is null when `clv` or `cac` is null or `cac` is $0.
///
/// With `by`, one row per key (the key column first, named by the expression's
/// text), over every client in scope, sorted like `group by`: ascending, strings
/// ignoring case (grouped ignoring case, the first spelling met shows), null last.
/// A group of leads only has `clients` 0.
struct CLVReport {
    let statement: CLVStatement
    let run: AnalyticRun

    /// Sums over one group's clients.
    struct Sums {
        /// Clients with an activity day.
        var clients = 0
        var spendCents: Int64 = 0
        var purchases: Int64 = 0
        /// Tenure in days, each at least 30.
        var clientDays: Int64 = 0
        var lifespanDays: Int64 = 0
        var acquisitionCents: Int64 = 0
        var hasAcquisitionCost = false
    }

    static let columns: [Column] = [
        Column(name: "clients", kind: .number), Column(name: "apv", kind: .money), Column(name: "frequency", kind: .number),
        Column(name: "lifespan_years", kind: .number), Column(name: "clv", kind: .money), Column(name: "cac", kind: .money),
        Column(name: "clv_cac", kind: .number),
    ]

    func execute(columns: ([Column]) throws -> Void, row emit: ([Value]) throws -> Void) throws {
        let filter = try run.filter(statement.filter)
        var key: Compiled?
        if let by = statement.by {
            if Executor.hasRowAggregate(by) {
                throw QueryError("clv by needs a value of each client, not an aggregate", at: by.range, source: run.source)
            }
            key = try run.compiler.resolved(by)
        }
        var keyColumn: [Column] = []
        if let by = statement.by, let key {
            keyColumn = [Column(name: run.columnName(by), kind: key.kind == .null ? .string : key.kind)]
        }
        try columns(keyColumn + Self.columns)

        let env = run.env
        let today = Int64(env.today)
        var groups: [V: Int] = [:]
        var keys: [V] = []
        var sums: [Sums] = []
        let keyEval = key?.eval
        let row = Row()
        try run.forEachClient(filter) { i in
            var g = 0
            if let keyEval {
                row.i = i
                let k = keyEval(row)
                let folded: V = if case .str(let s) = k { .str(Text.fold(s)) } else { k }
                if let found = groups[folded] {
                    g = found
                } else {
                    g = keys.count
                    groups[folded] = g
                    keys.append(k)
                    sums.append(Sums())
                }
            } else if sums.isEmpty {
                sums.append(Sums())
            }
            if env.u32(.flags, i) & ProjectionRow.Flag.hasAcquisitionCost != 0 {
                sums[g].acquisitionCents &+= env.i64(.acquisitionCost, i)
                sums[g].hasAcquisitionCost = true
            }
            guard let first = env.day(.firstSeen, i), let last = env.day(.lastSeen, i) else { return }
            sums[g].clients += 1
            sums[g].spendCents &+= env.i64(.purchasedCents, i) &- env.i64(.refundedCents, i)
            sums[g].purchases += Int64(env.u32(.purchases, i))
            sums[g].clientDays += max(today - Int64(first), 30)
            sums[g].lifespanDays += Int64(last) - Int64(first)
        }
        if keyEval == nil {
            try emit(Self.values(sums.first ?? Sums()))
            return
        }
        let order = keys.indices.sorted { a, b in
            let c = Order.compare(keys[a], keys[b])
            return c != 0 ? c < 0 : a < b
        }
        for g in order { try emit([keys[g].output] + Self.values(sums[g])) }
    }

    /// The output values of one group (money rounded to the cent only here).
    static func values(_ s: Sums) -> [Value] {
        let n = Double(s.clients)
        let apv: Double? = s.purchases > 0 ? Double(s.spendCents) / Double(s.purchases) : nil
        let frequency: Double? = s.clients > 0 ? Double(s.purchases) / (Double(s.clientDays) / 365) : nil
        let lifespan: Double? = s.clients > 0 ? Double(s.lifespanDays) / n / 365 : nil
        var clv: Double?
        if let apv, let frequency, let lifespan { clv = apv * frequency * lifespan }
        let cac: Double? = s.clients > 0 && s.hasAcquisitionCost ? Double(s.acquisitionCents) / n : nil
        var ratio: Double?
        if let clv, let cac, cac != 0 { ratio = clv / cac }
        return [
            .number(n),
            apv.map { V.money($0).output } ?? .null,
            frequency.map(Value.number) ?? .null,
            lifespan.map(Value.number) ?? .null,
            clv.map { V.money($0).output } ?? .null,
            cac.map { V.money($0).output } ?? .null,
            ratio.map(Value.number) ?? .null,
        ]
    }
}
