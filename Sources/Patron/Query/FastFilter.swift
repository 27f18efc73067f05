import Synchronization

/// Typed fast paths: fields read straight from the in-memory columns as numbers,
/// string ids or id lists, indexed by the scope's *unit* — a client row (`clients`;
/// valid only for rows whose stored projection is current for `today`), an event
/// index (event entities) or an item index (`items` rows, and `items.<field>` inside a
/// purchase). Conditions of a field against constants, combined with `and`, `or`
/// and `not`, become `(unit) -> Bool` closures with no ``V`` values; group keys
/// become integer codes; aggregate arguments become doubles. Anything else takes
/// the general path, which computes the same answers.

/// Whether queries may take the typed fast paths (tests turn them off to check that
/// both paths give the same answers).
enum FastPaths {
    @TaskLocal static var enabled = true
    /// Clients with events after `today` beyond which the client table is recomputed
    /// for `today` (``AsOfTable``) rather than replaying each such client.
    @TaskLocal static var recomputeAbove = 64
    /// When set, counts the fast paths taken, by name ("filter", "group", "scoped").
    @TaskLocal static var taken: Tally?

    /// Counts of named events, safe to share between tasks.
    final class Tally: Sendable {
        private let counts = Mutex<[String: Int]>([:])
        func add(_ name: String) { counts.withLock { $0[name, default: 0] += 1 } }
        subscript(name: String) -> Int { counts.withLock { $0[name] ?? 0 } }
    }
}

/// A string field as dictionary ids (0 is null) and the value of an id.
struct FastString {
    let id: (Int) -> UInt32
    let value: (UInt32) -> V
    /// The ids as a column, unit after unit (client fields).
    var column: UnsafeMutablePointer<UInt32>? = nil
}

/// A condition over a run of consecutive units at once: `out[j]` becomes 1 when unit
/// `start + j` passes, else 0. Loops over raw columns with no call per unit, so a
/// scan of a million client rows costs a few passes over memory.
typealias FastBatch = (_ start: Int, _ count: Int, _ out: UnsafeMutablePointer<UInt8>) -> Void

/// Fills `out[0..<count]` with a numeric field's values (NaN for null) of units `start…`.
typealias NumberBatch = (_ start: Int, _ count: Int, _ out: UnsafeMutablePointer<Double>) -> Void

/// Units per batch: a few KiB of scratch, small enough to stay in the L1 cache.
let fastBatchSize = 2048

/// A list field as "does any element's id satisfy…", and the value of an id.
struct FastList {
    let any: (Int, (UInt32) -> Bool) -> Bool
    let value: (UInt32) -> V
    /// Where the ids lie in the event table's raw columns (event list fields).
    var raw: RawEventTest.Ids? = nil
}

/// Typed readings of one field.
struct FastField {
    /// Numbers in the field's own unit: days, cents, counts (NaN for null).
    var number: ((Int) -> Double)?
    /// The number is the event's own day (`at` on an event entity other than items).
    var isEventDay = false
    /// The same numbers a run of units at a time (client fields).
    var numberBatch: NumberBatch?
    var string: FastString?
    var list: FastList?
    /// Where the values lie in the event table's raw columns (event and item fields).
    var raw: RawEventColumn?
}

extension Compiler {
    /// The typed readings of client field `field` (clients scope only).
    func fastClientField(_ field: String) -> FastField? {
        guard FastPaths.enabled, case .client = scope else { return nil }
        let t = env.table
        let env = self.env
        func str(_ c: ClientTable.Col32) -> FastField {
            FastField(string: FastString(id: { t.u32(c, $0) }, value: { env.string($0) }, column: t.column(c)))
        }
        switch field {
        case "tier": return str(.tier)
        case "plan": return str(.plan)
        case "source": return str(.source)
        case "location": return str(.location)
        case "provider": return str(.provider)
        default: return fastClientNumber(field).map { FastField(number: $0, numberBatch: fastClientNumberBatch(field)) }
        }
    }

    /// ``fastClientNumber(_:)`` a run of rows at a time: the same values, each read by
    /// a loop over the raw column.
    private func fastClientNumberBatch(_ field: String) -> NumberBatch? {
        let t = env.table
        let today = Double(env.today)
        let null = ProjectionRow.nullDay
        /// A day column as days, or as days from it to `from` (`lapsed`, `tenure`).
        func days(_ c: ClientTable.Col32, since from: Double? = nil) -> NumberBatch {
            let p = t.column(c)
            if let from {
                return { s, n, out in for j in 0..<n { let d = Int32(bitPattern: p[s &+ j]); out[j] = d == null ? .nan : from - Double(d) } }
            }
            return { s, n, out in for j in 0..<n { let d = Int32(bitPattern: p[s &+ j]); out[j] = d == null ? .nan : Double(d) } }
        }
        func counts(_ c: ClientTable.Col32) -> NumberBatch {
            let p = t.column(c)
            return { s, n, out in for j in 0..<n { out[j] = Double(p[s &+ j]) } }
        }
        func wide(_ c: ClientTable.Col64) -> NumberBatch {
            let p = t.column(c)
            return { s, n, out in for j in 0..<n { out[j] = Double(p[s &+ j]) } }
        }
        switch field {
        case "lapsed": return days(.lastSeen, since: today)
        case "tenure": return days(.firstSeen, since: today)
        case "lifespan":
            let f = t.column(.firstSeen), l = t.column(.lastSeen)
            return { s, n, out in
                for j in 0..<n {
                    let a = Int32(bitPattern: f[s &+ j]), b = Int32(bitPattern: l[s &+ j])
                    out[j] = a == null ? .nan : Double(b) - Double(a)
                }
            }
        case "registered": return days(.registered)
        case "first_seen": return days(.firstSeen)
        case "last_seen": return days(.lastSeen)
        case "first_visit": return days(.firstVisit)
        case "last_visit": return days(.lastVisit)
        case "active_days": return counts(.activeDays)
        case "visits": return counts(.visits)
        case "purchases": return counts(.purchases)
        case "refunds": return counts(.refunds)
        case "points": return wide(.points)
        case "refunded": return wide(.refundedCents)
        case "spend", "clv":
            // Both totals are sums of non-negative amounts: the difference cannot overflow.
            let a = t.column(.purchasedCents), b = t.column(.refundedCents)
            return { s, n, out in for j in 0..<n { out[j] = Double(a[s &+ j] &- b[s &+ j]) } }
        case "cadence":
            let p = t.column(.cadenceHalfDays)
            return { s, n, out in for j in 0..<n { let h = Int32(bitPattern: p[s &+ j]); out[j] = h < 0 ? .nan : Double(h) / 2 } }
        default: return nil
        }
    }

    private func fastClientNumber(_ field: String) -> ((Int) -> Double)? {
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

    /// The typed readings of an event field of `entity` (its own scope only).
    func fastEventField(_ entity: Entity, _ field: String) -> FastField? {
        guard FastPaths.enabled, case .event(let e, _) = scope, e == entity else { return nil }
        let t = env.events
        let env = self.env
        // On items rows the unit is an item; event fields read its purchase.
        let items = entity == .items
        let itemEvent = t.itemEvent
        func ev(_ f: @escaping (Int) -> Double) -> (Int) -> Double { items ? { f(Int(itemEvent[$0])) } : f }
        func str(_ c: RawColumn<UInt32>) -> FastField {
            FastField(string: FastString(id: items ? { c[Int(itemEvent[$0])] } : { c[$0] }, value: { env.poolValue($0) },
                                         column: items ? nil : c.base), raw: .string(c.base, byItem: false))
        }
        let num: (Int) -> Double = { k in let x = t.num[k]; return x == EventTable.null ? .nan : Double(x) }
        if items, let f = fastItemField(field) { return f }
        switch (entity, field) {
        case (_, "at"): return FastField(number: ev { Double(t.day[$0]) }, isEventDay: !items, raw: .day)
        case (_, "position"): return FastField(number: ev { Double($0 + 1) })
        case (.visits, "location"), (.purchases, "location"), (.items, "location"), (.rewards, "kind"),
             (.tiers, "tier"), (.memberships, "plan"):
            return str(t.s0)
        case (.visits, "provider"), (.purchases, "provider"), (.items, "provider"), (.rewards, "reason"),
             (.memberships, "action"):
            return str(t.s1)
        case (.purchases, "channel"), (.items, "channel"): return str(t.s2)
        case (.purchases, "amount"), (.refunds, "amount"), (.rewards, "points"), (.feedback, "score"),
             (.memberships, "fee"):
            return FastField(number: num, raw: .number(t.num.base, byItem: false))
        case (.visits, "services"):
            return FastField(list: FastList(any: { k, p in t.serviceRange(k).contains { p(t.services[$0]) } },
                                             value: { env.poolValue($0) }, raw: .services(t.services.base)))
        case (.purchases, "items"):
            return FastField(list: FastList(any: { k, p in t.items(k).contains { p(t.itemName[$0]) } }, value: { env.poolValue($0) },
                                            raw: .items(t.itemName.base)))
        case (.purchases, "categories"):
            return FastField(list: FastList(any: { k, p in t.items(k).contains { p(t.itemCategory[$0]) } },
                                            value: { env.poolValue($0) }, raw: .items(t.itemCategory.base)))
        default: return nil
        }
    }

    /// The typed readings of a line-item field, by item index.
    func fastItemField(_ field: String) -> FastField? {
        guard FastPaths.enabled else { return nil }
        let t = env.events
        let env = self.env
        switch field {
        case "name":
            return FastField(string: FastString(id: { t.itemName[$0] }, value: { env.poolValue($0) }),
                             raw: .string(t.itemName.base, byItem: true))
        case "category":
            return FastField(string: FastString(id: { t.itemCategory[$0] }, value: { env.poolValue($0) }),
                             raw: .string(t.itemCategory.base, byItem: true))
        case "quantity": return FastField(number: { Double(t.itemQuantity[$0]) }, raw: .number(t.itemQuantity.base, byItem: true))
        case "amount":
            return FastField(number: { j in let x = t.itemAmount[j]; return x == EventTable.null ? .nan : Double(x) },
                             raw: .number(t.itemAmount.base, byItem: true))
        default: return nil
        }
    }

    /// The fast form of `field op constant`, when there is one.
    func fastComparison(_ op: BinaryOp, _ a: Compiled, _ b: Compiled) -> ((Int) -> Bool)? {
        guard b.isConstant, let f = a.fastField else { return nil }
        let k = b.eval(Row())
        if let get = f.number {
            guard let c = Self.number(k, comparedWith: a) else { return nil }
            return Self.numberTest(op, get, c)
        }
        if let s = f.string, case .str(let x) = k, op == .eq || op == .ne {
            let memo = Self.equalityMemo(s, x)
            let id = s.id
            if op == .eq { return { i in memo.test(id(i)) } }
            return { i in let v = id(i); return v != 0 && !memo.test(v) }
        }
        return nil
    }

    /// A constant compared with numeric field `a`, in the field's unit (money in
    /// cents); nil when it is not a number of a comparable kind.
    static func number(_ k: V, comparedWith a: Compiled) -> Double? {
        let c: Double
        switch k {
        case .num(let x): c = a.kind == .money ? Ops.cents(x) : x
        case .money(let x), .dur(let x): c = x
        case .date(let d): c = Double(d)
        default: return nil
        }
        return c.isNaN ? nil : c
    }

    /// Whether each id of string field `s` equals `x` (ignoring case), remembered per id.
    static func equalityMemo(_ s: FastString, _ x: String) -> IDMemo {
        IDMemo { id in
            guard case .str(let v) = s.value(id) else { return false }
            return Text.equal(v, x)
        }
    }

    /// The run-at-a-time form of ``fastComparison(_:_:_:)``, for client fields with
    /// column readings; nil otherwise.
    func fastComparisonBatch(_ op: BinaryOp, _ a: Compiled, _ b: Compiled) -> FastBatch? {
        guard b.isConstant, let f = a.fastField else { return nil }
        let k = b.eval(Row())
        if let fill = f.numberBatch {
            guard let c = Self.number(k, comparedWith: a) else { return nil }
            return Self.numberBatch(fill) { v, out, n in
                switch op {
                case .eq: for j in 0..<n { out[j] = v[j] == c ? 1 : 0 }
                case .ne: for j in 0..<n { out[j] = !v[j].isNaN && v[j] != c ? 1 : 0 }
                case .lt: for j in 0..<n { out[j] = v[j] < c ? 1 : 0 }
                case .le: for j in 0..<n { out[j] = v[j] <= c ? 1 : 0 }
                case .gt: for j in 0..<n { out[j] = v[j] > c ? 1 : 0 }
                case .ge: for j in 0..<n { out[j] = v[j] >= c ? 1 : 0 }
                default: for j in 0..<n { out[j] = 0 }
                }
            }
        }
        if let s = f.string, let column = s.column, case .str(let x) = k, op == .eq || op == .ne {
            let memo = Self.equalityMemo(s, x)
            let want = op == .eq
            return { st, n, out in memo.fill(column, st, n, out, want: want) }
        }
        return nil
    }

    /// A batch that fills a scratch run with `fill` and lets `test` turn it into the mask.
    static func numberBatch(_ fill: @escaping NumberBatch,
                            _ test: @escaping (UnsafeMutablePointer<Double>, UnsafeMutablePointer<UInt8>, Int) -> Void) -> FastBatch {
        { start, n, out in
            withUnsafeTemporaryAllocation(of: Double.self, capacity: max(n, 1)) { buffer in
                guard let v = buffer.baseAddress else { return }
                fill(start, n, v)
                test(v, out, n)
            }
        }
    }

    /// The run-at-a-time form of ``fastIsNull(_:negated:)`` for client fields.
    func fastIsNullBatch(_ a: Compiled, negated: Bool) -> FastBatch? {
        guard let f = a.fastField else { return nil }
        let yes: UInt8 = negated ? 0 : 1, no: UInt8 = negated ? 1 : 0
        if let fill = f.numberBatch {
            return Self.numberBatch(fill) { v, out, n in for j in 0..<n { out[j] = v[j].isNaN ? yes : no } }
        }
        if let column = f.string?.column {
            return { s, n, out in for j in 0..<n { out[j] = column[s &+ j] == 0 ? yes : no } }
        }
        return nil
    }

    /// `and`/`or` of conditions that all have a per-unit form, a run at a time: the
    /// parts with a batch form first, combined mask by mask; then each other part
    /// (cheap ones before model predictions) only on the units still undecided.
    /// Nil when no part has a batch form.
    static func combinedBatch(_ op: BinaryOp, _ parts: [Compiled]) -> FastBatch? {
        let batches = parts.compactMap(\.batch)
        guard let first = batches.first else { return nil }
        let rest = Array(batches.dropFirst())
        let single = parts.filter { $0.batch == nil }
        let perUnit = (single.filter { !$0.costly } + single.filter(\.costly)).compactMap(\.fast)
        let isAnd = op == .and
        return { s, n, out in
            first(s, n, out)
            if !rest.isEmpty {
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(n, 1)) { buffer in
                    guard let tmp = buffer.baseAddress else { return }
                    for b in rest {
                        b(s, n, tmp)
                        if isAnd { for j in 0..<n { out[j] &= tmp[j] } } else { for j in 0..<n { out[j] |= tmp[j] } }
                    }
                }
            }
            for p in perUnit {
                if isAnd {
                    for j in 0..<n where out[j] != 0 && !p(s &+ j) { out[j] = 0 }
                } else {
                    for j in 0..<n where out[j] == 0 && p(s &+ j) { out[j] = 1 }
                }
            }
        }
    }

    /// `get(i) op c` on numbers (NaN, null, is never equal, less or greater).
    private static func numberTest(_ op: BinaryOp, _ get: @escaping (Int) -> Double, _ c: Double) -> ((Int) -> Bool)? {
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

    /// The fast form of `field contains "constant"` (a list element equal to it, or a
    /// substring of a string), when there is one.
    func fastContains(_ a: Compiled, _ b: Compiled, negated: Bool) -> ((Int) -> Bool)? {
        guard b.isConstant, case .str(let x) = b.eval(Row()), let f = a.fastField else { return nil }
        if let l = f.list {
            let memo = IDMemo { id in
                guard case .str(let v) = l.value(id) else { return false }
                return Text.equal(v, x)
            }
            let any = l.any
            let test: (UInt32) -> Bool = { memo.test($0) }
            return negated ? { i in !any(i, test) } : { i in any(i, test) }
        }
        if let s = f.string {
            let memo = IDMemo { id in
                guard case .str(let v) = s.value(id) else { return false }
                return Text.contains(v, x)
            }
            let id = s.id
            return negated ? { i in let v = id(i); return v != 0 && !memo.test(v) } : { i in memo.test(id(i)) }
        }
        return nil
    }

    /// The raw form of `field contains "constant"` on an event field (a list element
    /// equal to it, or a substring of a string), when there is one.
    func rawContains(_ a: Compiled, _ b: Compiled, negated: Bool) -> RawEventTest? {
        guard !negated, b.isConstant, case .str(let x) = b.eval(Row()), let f = a.fastField else { return nil }
        if let l = f.list, let ids = l.raw {
            return RawEventTest(ids: ids, memo: IDMemo { id in
                guard case .str(let v) = l.value(id) else { return false }
                return Text.equal(v, x)
            })
        }
        if let s = f.string, case .string(let p, let byItem)? = f.raw {
            return RawEventTest(ids: byItem ? .items(p) : .event(p), memo: IDMemo { id in
                guard case .str(let v) = s.value(id) else { return false }
                return Text.contains(v, x)
            })
        }
        return nil
    }

    /// The raw form of `field = "constant"` on an event string field, when there is one.
    func rawEquality(_ op: BinaryOp, _ a: Compiled, _ b: Compiled) -> RawEventTest? {
        guard op == .eq, b.isConstant, case .str(let x) = b.eval(Row()), let f = a.fastField, let s = f.string,
              case .string(let p, let byItem)? = f.raw else { return nil }
        return RawEventTest(ids: byItem ? .items(p) : .event(p), memo: Self.equalityMemo(s, x))
    }

    /// The fast form of `field [not] between lo and hi` for constant bounds.
    func fastBetween(_ a: Compiled, _ lo: Compiled, _ hi: Compiled, negated: Bool) -> ((Int) -> Bool)? {
        guard let ge = fastComparison(.ge, a, lo), let le = fastComparison(.le, a, hi),
              let get = a.fastField?.number else { return nil }
        return { i in get(i).isNaN ? false : (ge(i) && le(i)) != negated }
    }

    /// The fast form of `date in last D` for a constant D.
    func fastInLast(_ a: Compiled, _ d: Compiled, negated: Bool) -> ((Int) -> Bool)? {
        guard d.isConstant, case .dur(let span) = d.eval(Row()), let get = a.fastField?.number else { return nil }
        let today = Double(env.today)
        let from = today - span
        return { i in
            let x = get(i)
            if x.isNaN { return false }
            return (x > from && x <= today) != negated
        }
    }

    /// The fast form of `field is [not] null`.
    func fastIsNull(_ a: Compiled, negated: Bool) -> ((Int) -> Bool)? {
        guard let f = a.fastField else { return nil }
        if let get = f.number { return { i in get(i).isNaN != negated } }
        if let s = f.string { let id = s.id; return { i in (id(i) == 0) != negated } }
        return nil
    }

    /// A grouping code for a field with typed readings: a string's case-folded class,
    /// a date's day (Int32.min for null). Equal codes mean equal group keys.
    func fastCode(_ c: Compiled) -> ((Int) -> Int32)? {
        guard let f = c.fastField else { return nil }
        if let s = f.string {
            let memo = FoldMemo(s.value)
            let id = s.id
            return { i in memo.code(id(i)) }
        }
        if c.kind == .date, let get = f.number {
            return { i in let x = get(i); return x.isNaN ? Int32.min : Int32(x) }
        }
        return nil
    }
}

/// Remembers a predicate's answer per dictionary id (0 is null: always false).
final class IDMemo {
    @exclusivity(unchecked) private var known: [Int8] = []
    /// Answers computed so far (an answer can fill a slot below `known.count`, so the
    /// count of slots does not tell whether `known` changed).
    private var answered = 0
    /// ``fill(_:_:_:_:want:)``'s answers per id, made from `known` when `answered` was `lookupFor`.
    @exclusivity(unchecked) private var lookup: [UInt8] = []
    private var lookupFor = -1
    private var lookupWant = true
    private let compute: (UInt32) -> Bool

    init(_ compute: @escaping (UInt32) -> Bool) { self.compute = compute }

    /// `out[j]` = 1 where the answer for id `column[start + j]` is `want`, else 0
    /// (null, id 0, is never true, so `want: false` is "not null and not equal").
    func fill(_ column: UnsafeMutablePointer<UInt32>, _ start: Int, _ n: Int, _ out: UnsafeMutablePointer<UInt8>, want: Bool) {
        while true {
            if lookupFor != answered || lookupWant != want {
                // Per id: 1 = the answer is `want`, 0 = it is not (or null), 2 = not known yet.
                let yes: Int8 = want ? 1 : -1
                lookup = known.map { $0 == 0 ? 2 : ($0 == yes ? 1 : 0) }
                if lookup.isEmpty { lookup = [0] } else { lookup[0] = 0 }
                lookupFor = answered
                lookupWant = want
            }
            var seen: UInt8 = 0
            lookup.withUnsafeBufferPointer { t in
                let count = t.count
                for j in 0..<n {
                    let id = Int(column[start &+ j])
                    let v = id < count ? t[id] : 2
                    out[j] = v & 1
                    seen |= v
                }
            }
            if seen & 2 == 0 { return }
            // Ids not answered yet: answer them, then read the run again.
            for j in 0..<n {
                let id = Int(column[start &+ j])
                if id != 0 && (id >= known.count || known[id] == 0) { _ = test(UInt32(id)) }
            }
        }
    }

    @inline(__always) func test(_ id: UInt32) -> Bool {
        if id == 0 { return false }
        let i = Int(id)
        if i < known.count, known[i] != 0 { return known[i] > 0 }
        if i >= known.count { known.append(contentsOf: repeatElement(0, count: i + 1 - known.count)) }
        let r = compute(id)
        known[i] = r ? 1 : -1
        answered += 1
        return r
    }
}

/// Maps dictionary ids to case-folded classes (0 stays 0, for null).
final class FoldMemo {
    @exclusivity(unchecked) private var codes: [Int32] = []
    @exclusivity(unchecked) private var classes: [String: Int32] = [:]
    private let value: (UInt32) -> V

    init(_ value: @escaping (UInt32) -> V) { self.value = value }

    @inline(__always) func code(_ id: UInt32) -> Int32 {
        if id == 0 { return 0 }
        let i = Int(id)
        if i < codes.count, codes[i] != 0 { return codes[i] }
        if i >= codes.count { codes.append(contentsOf: repeatElement(0, count: i + 1 - codes.count)) }
        var key = ""
        if case .str(let s) = value(id) { key = Text.fold(s) }
        let c = classes[key] ?? Int32(classes.count + 1)
        classes[key] = c
        codes[i] = c
        return c
    }
}
