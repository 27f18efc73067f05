/// Typed fast paths for the commonest `clients` conditions: a client field compared
/// with a constant, combined with `and`, `or` and `not`. They read the in-memory
/// columns directly (no ``V`` values) and hold for rows whose stored projection is
/// current for `today`; other rows take the general path.
extension Compiler {
    /// A numeric reading of a column-backed client field (NaN for null), in the
    /// field's own unit (days, cents, counts).
    func fastNumeric(_ field: String) -> ((Int) -> Double)? {
        guard case .client = scope else { return nil }
        let t = env.table
        let today = Double(env.today)
        let null = Double(ProjectionRow.nullDay)
        func day(_ c: ClientTable.Col32) -> (Int) -> Double {
            { i in let d = Double(t.i32(c, i)); return d == null ? .nan : d }
        }
        func count(_ c: ClientTable.Col32) -> (Int) -> Double { { i in Double(t.u32(c, i)) } }
        switch field {
        case "lapsed": return { i in let d = Double(t.i32(.lastSeen, i)); return d == null ? .nan : today - d }
        case "tenure": return { i in let d = Double(t.i32(.firstSeen, i)); return d == null ? .nan : today - d }
        case "lifespan":
            return { i in
                let f = Double(t.i32(.firstSeen, i)), l = Double(t.i32(.lastSeen, i))
                return f == null ? .nan : l - f
            }
        case "registered": return day(.registered)
        case "first_seen": return day(.firstSeen)
        case "last_seen": return day(.lastSeen)
        case "first_visit": return day(.firstVisit)
        case "last_visit": return day(.lastVisit)
        case "active_days": return count(.activeDays)
        case "visits": return count(.visits)
        case "purchases": return count(.purchases)
        case "refunds": return count(.refunds)
        case "points": return { i in Double(t.i64(.points, i)) }
        case "spend", "clv": return { i in Double(t.i64(.purchasedCents, i) - t.i64(.refundedCents, i)) }
        case "refunded": return { i in Double(t.i64(.refundedCents, i)) }
        case "cadence": return { i in let h = t.i32(.cadenceHalfDays, i); return h < 0 ? .nan : Double(h) / 2 }
        default: return nil
        }
    }

    /// The dictionary-id column of a string client field.
    func fastStringColumn(_ field: String) -> ClientTable.Col32? {
        guard case .client = scope else { return nil }
        switch field {
        case "tier": return .tier
        case "plan": return .plan
        case "source": return .source
        case "location": return .location
        case "provider": return .provider
        default: return nil
        }
    }

    /// The fast form of `field op constant`, when there is one.
    func fastComparison(_ op: BinaryOp, _ ea: Expr, _ a: Compiled, _ b: Compiled) -> ((Int) -> Bool)? {
        guard b.isConstant, !a.perItem, case .name(let raw) = ea.kind else { return nil }
        let field = raw.lowercased()
        let k = b.eval(Row())
        if let get = fastNumeric(field) {
            var c: Double
            switch k {
            case .num(let x): c = a.kind == .money ? Ops.cents(x) : x
            case .money(let x), .dur(let x): c = x
            case .date(let d): c = Double(d)
            default: return nil
            }
            if c.isNaN { return nil }
            switch op {
            case .eq: return { i in get(i) == c }
            case .ne: return { i in let v = get(i); return !v.isNaN && v != c }
            case .lt: return { i in get(i) < c }
            case .le: return { i in get(i) <= c }
            case .gt: return { i in get(i) > c }
            case .ge: return { i in get(i) >= c }
            default: return nil
            }
        }
        if let col = fastStringColumn(field), case .str(let s) = k, op == .eq || op == .ne {
            let t = env.table
            let env = self.env
            let memo = IDMemo { id in
                guard case .str(let v) = env.string(id) else { return false }
                return Text.equal(v, s)
            }
            if op == .eq { return { i in memo.test(t.u32(col, i)) } }
            return { i in let id = t.u32(col, i); return id != 0 && !memo.test(id) }
        }
        return nil
    }
}

/// Remembers a predicate's answer per dictionary id (0 is null: always false).
final class IDMemo {
    @exclusivity(unchecked) private var known: [Int8] = []
    private let compute: (UInt32) -> Bool

    init(_ compute: @escaping (UInt32) -> Bool) { self.compute = compute }

    @inline(__always) func test(_ id: UInt32) -> Bool {
        if id == 0 { return false }
        let i = Int(id)
        if i < known.count, known[i] != 0 { return known[i] > 0 }
        if i >= known.count { known.append(contentsOf: repeatElement(0, count: i + 1 - known.count)) }
        let r = compute(id)
        known[i] = r ? 1 : -1
        return r
    }
}
