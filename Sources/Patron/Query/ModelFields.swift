/// The model-based client fields (SPEC 3.5, 5): `p_alive`, `expected(D)`,
/// `predicted_clv[(D)]` from the stored BG/NBD or MBG/NBD and Gamma-Gamma models, and
/// the RFM fields `r`, `f`, `m`, `rfm`, `segment` computed over the population.
///
/// Every input is as of the query's `today`: x, t_x and T come from the projection
/// columns (`active_days`, `first_seen`, `last_seen`) through the ``QueryEnv``
/// accessors, which are exact for `as of`; so is the mean repeat-day value that
/// Gamma-Gamma and `predicted_clv` need (the projection keeps its sum).

/// Per-query values of the model fields, computed on first use.
final class ModelCache {
    var stored: StoredModels?
    var kind: TransactionModelKind?
    var monetary: [Double]?
    var rfm: RFMScores?
    /// A model field was compiled while its model is not stored.
    var missing = false
}

/// RFM scores per client row (0 for clients without an activity day).
struct RFMScores {
    var r: [UInt8]
    var f: [UInt8]
    var m: [UInt8]

    /// The segment names of SPEC 5.3, in the order of their ids (id = index + 1).
    static let segments = ["champions", "loyal", "potential_loyalist", "new", "promising", "need_attention",
                           "about_to_sleep", "cant_lose", "at_risk", "hibernating"]

    /// The segment of an R and F score (1–5 each), as an index into ``segments``.
    /// SPEC 5.3's table covers all 25 pairs.
    static func segment(r: Int, f: Int) -> Int {
        switch (r, f) {
        case (5, 4...5): return 0  // champions
        case (3...4, 4...5): return 1  // loyal
        case (4...5, 2...3): return 2  // potential_loyalist
        case (5, 1): return 3  // new
        case (4, 1): return 4  // promising
        case (3, 3): return 5  // need_attention
        case (3, 1...2): return 6  // about_to_sleep
        case (1...2, 5): return 7  // cant_lose
        case (1...2, 3...4): return 8  // at_risk
        default: return 9  // hibernating: R 1–2, F 1–2
        }
    }

    /// Scores by SPEC 5.3: with n clients, a client's rank k (1 = worst; ties share the
    /// lowest rank, so k − 1 is the number of clients strictly worse) gives
    /// 1 + floor(5(k − 1)/n).
    static func scores(worseCounts: [Int], n: Int) -> [UInt8] {
        worseCounts.map { UInt8(1 + 5 * $0 / max(n, 1)) }
    }
}

enum ModelInputs {
    /// Row `i`'s (x, t_x, T) as of `env.today`, in weeks; nil without an activity day.
    @inline(__always) static func summary(_ env: QueryEnv, _ i: Int) -> (x: Int, tx: Double, T: Double)? {
        if env.isAbsent(i) { return nil }
        guard let f = env.day(.firstSeen, i), let l = env.day(.lastSeen, i) else { return nil }
        let n = Int(env.u32(.activeDays, i))
        guard n > 0 else { return nil }
        return (n - 1, (Double(l) - Double(f)) / 7, (Double(env.today) - Double(f)) / 7)
    }

    /// The summaries of every client with an activity day as of `env.today`, with
    /// the mean value of their repeat activity days.
    static func summaries(_ env: QueryEnv) -> [ClientSummary] {
        let values = monetary(env)
        var out: [ClientSummary] = []
        out.reserveCapacity(env.table.count)
        for i in 0..<env.table.count {
            guard let s = summary(env, i) else { continue }
            out.append(ClientSummary(x: s.x, tx: s.tx, T: s.T, monetary: i < values.count ? values[i] : 0))
        }
        return out
    }

    /// Each row's mean value of its repeat activity days (every activity day on or
    /// before today but the first), in dollars; 0 with fewer than two. A day's value is
    /// the purchases minus the refunds of that day (SPEC 5.2); a refund on a day
    /// without a visit or purchase belongs to no activity day and is left out. The
    /// projection keeps the sum (``ClientState/repeatValueCents``); rows with events
    /// after today recomputed from the event table (``AsOfTable``, which leaves the
    /// sum out) compute it from their events here, replayed rows read their state.
    static func monetary(_ env: QueryEnv) -> [Double] {
        let rows = env.table.count
        var out = [Double](repeating: 0, count: rows)
        for i in 0..<rows {
            let n = env.u32(.activeDays, i)
            guard n >= 2 else { continue }
            let cents = env.isRecomputed(i)
                ? env.clientEvents.repeatValueCents(i, upTo: env.today, events: env.events)
                : env.i64(.repeatValueCents, i)
            out[i] = Double(cents) / Double(n - 1) / 100
        }
        return out
    }

    /// RFM scores over the clients with an activity day as of `env.today` (SPEC 5.3):
    /// R ranks by `lapsed` (longest = worst), F by `active_days`, M by `spend`.
    static func rfm(_ env: QueryEnv) -> RFMScores {
        // Columns exact for today: recompute them when many clients have later events.
        let src = env.recomputedForToday(tallies: false) ?? env
        let rows = src.table.count
        var population: [Int] = []
        var last: [Int32] = [], active: [UInt32] = [], spend: [Int64] = []
        for i in 0..<rows {
            guard !src.isAbsent(i), let l = src.day(.lastSeen, i) else { continue }
            let n = src.u32(.activeDays, i)
            guard n > 0 else { continue }
            population.append(i)
            last.append(l)
            active.append(n)
            spend.append(src.i64(.purchasedCents, i) &- src.i64(.refundedCents, i))
        }
        if let failure = src.failure { env.fail(failure) }
        let n = population.count
        // k − 1 = the number of clients strictly worse: an earlier last_seen (a longer
        // lapse), fewer active days, less spend.
        func worse<T: Comparable>(_ values: [T]) -> [Int] {
            let sorted = values.sorted()
            return values.map { v in
                var lo = 0, hi = sorted.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if sorted[mid] < v { lo = mid + 1 } else { hi = mid }
                }
                return lo
            }
        }
        let r = RFMScores.scores(worseCounts: worse(last), n: n)
        let f = RFMScores.scores(worseCounts: worse(active), n: n)
        let m = RFMScores.scores(worseCounts: worse(spend), n: n)
        var out = RFMScores(r: [UInt8](repeating: 0, count: rows), f: [UInt8](repeating: 0, count: rows),
                            m: [UInt8](repeating: 0, count: rows))
        for (j, i) in population.enumerated() {
            out.r[i] = r[j]
            out.f[i] = f[j]
            out.m[i] = m[j]
        }
        return out
    }
}

extension QueryEnv {
    /// The stored models (read once per query).
    var storedModels: StoredModels {
        if let s = modelCache.stored { return s }
        var s = StoredModels()
        do { s = try database.storedModels(txn: txn) } catch { fail(error) }
        modelCache.stored = s
        return s
    }

    /// The `model` setting.
    var modelKind: TransactionModelKind {
        if let k = modelCache.kind { return k }
        var k = TransactionModelKind.mbgnbd
        do { k = try ModelStore.readSetting(store, txn: txn) ?? .mbgnbd } catch { fail(error) }
        modelCache.kind = k
        return k
    }

    /// The stored transaction model of the `model` setting, if any.
    var transactionModel: TransactionModel? { storedModels.transaction(modelKind)?.model }

    /// The stored Gamma-Gamma model, if any.
    var gammaGammaModel: GammaGammaModel? { storedModels.gammaGamma?.model }

    /// Each row's mean repeat-day value in dollars (computed once per query).
    var monetaryValues: [Double] {
        if let m = modelCache.monetary { return m }
        let m = ModelInputs.monetary(self)
        modelCache.monetary = m
        return m
    }

    /// RFM scores of every row (computed once per query).
    var rfmScores: RFMScores {
        if let s = modelCache.rfm { return s }
        let s = ModelInputs.rfm(self)
        modelCache.rfm = s
        return s
    }
}

extension Compiler {
    /// Whether `w` names a model-based client field.
    static func isModelField(_ w: String) -> Bool { Catalog.modelFieldKinds[w] != nil }

    /// A model-based field of the row's client (`row.i`): a bare name (`args` nil) or a
    /// call (`expected(90d)`, `predicted_clv(6m)`); nil when `w` is not one.
    func modelField(_ w: String, args: [Expr]?, _ r: SourceRange) throws(QueryError) -> Compiled? {
        switch w {
        case "p_alive":
            guard let model = env.transactionModel else { return nullField(.number, r) }
            return summaryField(.number, r) { x, tx, T, _ in model.pAlive(x: x, tx: tx, T: T) }
        case "expected":
            guard let args else {
                throw error("expected(D) needs a duration: the expected activity days in the next D, e.g. expected(90d)", r)
            }
            guard args.count == 1 else { throw error("expected() takes one duration, e.g. expected(90d)", r) }
            let span = try duration(args[0], function: "expected")
            guard let model = env.transactionModel else { return nullField(.number, r) }
            return summaryField(.number, r, span: span) { x, tx, T, weeks, _ in model.expected(t: weeks, x: x, tx: tx, T: T) }
        case "predicted_clv":
            if let args, args.count > 1 { throw error("predicted_clv() takes at most one duration, e.g. predicted_clv(1y)", r) }
            let span: Compiled
            if let arg = args?.first {
                span = try duration(arg, function: "predicted_clv")
            } else {
                span = .constant(.dur(365), .duration, r)
            }
            guard let model = env.transactionModel, let gg = env.gammaGammaModel else { return nullField(.money, r) }
            let values = env.monetaryValues
            return summaryField(.money, r, span: span) { x, tx, T, weeks, i in
                let count = model.expected(t: weeks, x: x, tx: tx, T: T)
                guard let perDay = gg.expectedValue(x: x, monetary: i < values.count ? values[i] : 0) else { return .nan }
                return count * perDay * 100
            }
        case "r", "f", "m", "rfm", "segment":
            guard args == nil else { return nil }
            return rfmField(w, r)
        default:
            return nil
        }
    }

    /// A duration argument of `expected(D)` or `predicted_clv(D)`.
    private func duration(_ e: Expr, function: String) throws(QueryError) -> Compiled {
        let d = try resolved(e)
        guard d.kind == .duration || d.kind == .null else {
            var hint = "write a duration like 90d, 12w, 6m or 1y"
            if d.kind == .number, case .literal(.number(let x)) = e.kind { hint = "write \(ValueFormat.number(x))d for \(ValueFormat.number(x)) days" }
            throw error("\(function)() needs a duration, but \"\(text(e.range))\" is a \(d.kind)", e.range, hint: hint)
        }
        if d.hasAggregate || d.perItem { throw error("\(function)() needs a duration of the client row", e.range) }
        return d
    }

    /// A field that is null on every row: no model is stored (the query asks for a fit
    /// first, see ``NeedsModelFit``; after a fit that did not converge it stays null).
    private func nullField(_ kind: ValueKind, _ r: SourceRange) -> Compiled {
        env.modelCache.missing = true
        var c = Compiled(kind: kind, eval: { _ in .null }, range: r)
        if FastPaths.enabled, case .client = scope { c.fastField = FastField(number: { _ in .nan }) }
        return c
    }

    /// A number from the client's (x, t_x, T) (NaN for null), with a typed fast form
    /// on clients.
    private func summaryField(_ kind: ValueKind, _ r: SourceRange, _ compute: @escaping (Int, Double, Double, Int) -> Double) -> Compiled {
        summaryField(kind, r, span: nil) { x, tx, T, _, i in compute(x, tx, T, i) }
    }

    /// The same with a duration argument, given to `compute` in weeks.
    private func summaryField(_ kind: ValueKind, _ r: SourceRange, span: Compiled?,
                              _ compute: @escaping (Int, Double, Double, Double, Int) -> Double) -> Compiled {
        let env = self.env
        let make: (Double) -> V = kind == .money ? { .money($0) } : { .num($0) }
        let constantWeeks: Double?
        if let span, span.isConstant {
            if case .dur(let d) = span.eval(Row()) { constantWeeks = d / 7 } else { constantWeeks = .nan }
        } else {
            constantWeeks = span == nil ? 0 : nil
        }
        let spanEval = span?.eval
        var c = Compiled(kind: kind, eval: { row in
            guard row.i >= 0, let s = ModelInputs.summary(env, row.i) else { return .null }
            let weeks: Double
            if let w = constantWeeks {
                weeks = w
            } else if let spanEval, case .dur(let d) = spanEval(row) {
                weeks = d / 7
            } else {
                return .null
            }
            guard !weeks.isNaN else { return .null }
            let v = compute(s.x, s.tx, s.T, weeks, row.i)
            return v.isFinite ? make(v) : .null
        }, range: r)
        c.costly = true
        if FastPaths.enabled, case .client = scope, let weeks = constantWeeks, !weeks.isNaN {
            let t = env.table
            let null = ProjectionRow.nullDay
            let today = Double(env.today)
            c.fastField = FastField(number: { i in
                let f = t.i32(.firstSeen, i)
                let n = Int(t.u32(.activeDays, i))
                if f == null || n == 0 { return .nan }
                let l = t.i32(.lastSeen, i)
                let v = compute(n - 1, (Double(l) - Double(f)) / 7, (today - Double(f)) / 7, weeks, i)
                return v.isFinite ? v : .nan
            })
        }
        return c
    }

    /// `r`, `f`, `m` (numbers), `rfm` and `segment` (strings) from the population's
    /// scores; typed forms valid for every row (the scores are computed as of today).
    private func rfmField(_ w: String, _ r: SourceRange) -> Compiled {
        let s = env.rfmScores
        let fast = FastPaths.enabled && scope == .client
        switch w {
        case "rfm":
            let code: (Int) -> UInt32 = { i in
                i < 0 || s.r[i] == 0 ? 0 : UInt32(s.r[i]) * 100 + UInt32(s.f[i]) * 10 + UInt32(s.m[i])
            }
            var c = Compiled(kind: .string, eval: { row in let k = code(row.i); return k == 0 ? .null : .str(String(k)) }, range: r)
            if fast { c.fastField = FastField(string: FastString(id: code, value: { $0 == 0 ? .null : .str(String($0)) })) }
            return c
        case "segment":
            let code: (Int) -> UInt32 = { i in
                i < 0 || s.r[i] == 0 ? 0 : UInt32(RFMScores.segment(r: Int(s.r[i]), f: Int(s.f[i])) + 1)
            }
            let names = [V.null] + RFMScores.segments.map(V.str)
            var c = Compiled(kind: .string, eval: { row in names[Int(code(row.i))] }, range: r)
            if fast { c.fastField = FastField(string: FastString(id: code, value: { names[Int($0)] })) }
            return c
        default:
            let scores = w == "r" ? s.r : w == "f" ? s.f : s.m
            var c = Compiled(kind: .number, eval: { row in
                row.i < 0 || scores[row.i] == 0 ? .null : .num(Double(scores[row.i]))
            }, range: r)
            if fast { c.fastField = FastField(number: { i in scores[i] == 0 ? .nan : Double(scores[i]) }) }
            return c
        }
    }
}
