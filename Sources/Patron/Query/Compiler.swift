/// A checked, compiled expression: its kind and a closure that evaluates it on a row.
struct Compiled {
    var kind: ValueKind
    var eval: (Row) -> V
    var range: SourceRange
    /// Evaluates the same on every row.
    var isConstant = false
    /// A bare word that is not a field: a string where a string fits, else an unknown field.
    var bare: String?
    /// Depends on the current line item (`items.<field>` on a purchase).
    var perItem = false
    /// Contains a row aggregate (`count()`, `avg(spend)`).
    var hasAggregate = false
    /// Reads the row's output columns (a `show` alias in `sort by` or `top`).
    var readsColumns = false
    /// The same condition on the scope's unit index, reading columns directly (see
    /// FastFilter.swift; on clients, only for rows whose stored projection is current).
    var fast: ((Int) -> Bool)?
    /// Typed readings of a field on the scope's unit index.
    var fastField: FastField?
    /// The condition a run of units at a time (``FastBatch``), when its fields have
    /// column readings: same answers as ``fast``.
    var batch: FastBatch?
    /// A grouping code on the scope's unit index (equal codes, equal keys).
    var code: ((Int) -> Int32)?
    /// Expensive per row (a model prediction): `and`/`or` test it after the cheap parts.
    var costly = false
    /// A client field's output values for many rows at once, without a ``Row`` per
    /// value: row numbers in; out, the value of `rows[j]` at `order[j]` (a permutation
    /// of the positions), or at `j` without an order.
    var clientColumn: (([Int], [Int]?) -> [Value])?
    /// The same values when every row is current for `today`, reading only immutable
    /// columns (no memo, cache or transaction), so it may run on another thread.
    var pureColumn: (([Int], [Int]?) -> [Value])?
    /// Whether `clientColumn` of current rows reads no per-row cache of decoded client
    /// states (which hold a few thousand rows), so it may be made for any number of
    /// rows at once without decoding any state twice.
    var wholeColumn = false
    /// An event condition that is exactly "the event's day is in `lo...hi`" (`at in last D`).
    var eventDays: ClosedRange<Int32>?
    /// The same event condition on raw string columns (a leaf `=` or `contains`).
    var rawTest: RawEventTest?
    /// A date bucket (`month`, …) of the event's own day (`month(at)` on an event entity).
    var dayBucket: String?

    static func constant(_ v: V, _ kind: ValueKind, _ range: SourceRange) -> Compiled {
        Compiled(kind: kind, eval: { _ in v }, range: range, isConstant: true)
    }
}

/// Where names resolve.
enum Scope: Equatable {
    /// A client row (`clients`).
    case client
    /// An event row of an entity; bare names that are not event fields fall back to
    /// the client's fields when `clientFallback` (inner conditions of `has`/`count`).
    case event(Entity, clientFallback: Bool)
    /// A grouped output row: group keys, aliases and aggregates.
    case group
}

/// One row aggregate of a grouped (or all-aggregate) query.
struct AggregateSpec {
    var function: String
    var argument: Compiled?
    var percentile: Double
    var kind: ValueKind
}

/// Collects the row aggregates met while compiling `show`, `sort by` and `top`.
final class AggregateCollector {
    var specs: [AggregateSpec] = []
    let inputScope: Scope
    init(inputScope: Scope) { self.inputScope = inputScope }
}

/// Type-checks expressions against an entity's fields and compiles them to closures.
struct Compiler {
    let env: QueryEnv
    let source: String
    let parameters: [String: Value]
    var scope: Scope
    var aggregates: AggregateCollector?
    /// Group keys by normalised text (grouped output scope).
    var groupKeys: [(text: String, kind: ValueKind)] = []
    /// `show` aliases and column kinds (for `sort by alias`).
    var aliases: [(name: String, kind: ValueKind, column: Int)] = []

    func text(_ r: SourceRange) -> String {
        let b = Array(source.utf8)
        guard r.start >= 0, r.end <= b.count, r.start <= r.end else { return "" }
        return String(decoding: b[r.start..<r.end], as: UTF8.self)
    }

    /// Expression text in quotes for a message (a string literal keeps its own quotes).
    func quoted(_ r: SourceRange) -> String {
        let t = text(r).split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        return t.hasPrefix("\"") || t.hasPrefix("'") ? t : "\"\(t)\""
    }

    /// Expression text with white space removed and lower-cased, to match a `show`
    /// item or `sort by` key against a group key.
    func normalized(_ r: SourceRange) -> String { text(r).lowercased().filter { !$0.isWhitespace } }

    func error(_ message: String, _ r: SourceRange, hint: String? = nil) -> QueryError {
        QueryError(message, at: r, hint: hint, source: source)
    }

    /// Compiles a condition: it must be boolean.
    func condition(_ e: Expr, what: String) throws(QueryError) -> Compiled {
        let c = try resolved(e)
        guard c.kind == .boolean || c.kind == .null else {
            throw error("\(what) needs a condition (true or false), but \"\(text(e.range))\" is a \(c.kind)", e.range,
                        hint: c.kind == .string ? "compare it with something, e.g. \(text(e.range)) = \"value\"" : nil)
        }
        return c
    }

    /// Compiles an expression where a bare word must be a field.
    func resolved(_ e: Expr) throws(QueryError) -> Compiled {
        let c = try compile(e)
        if let w = c.bare { throw unknownField(w, c.range) }
        return c
    }

    func fieldNames() -> [String] {
        switch scope {
        case .client: return Catalog.fields(.clients).map(\.0)
        case .event(let e, let fallback): return Catalog.fields(e).map(\.0) + (fallback ? Catalog.fields(.clients).map(\.0) : [])
        case .group: return aliases.map(\.name) + groupKeys.map(\.text)
        }
    }

    func entityName() -> String {
        switch scope {
        case .client: return "clients"
        case .event(let e, _): return e.rawValue
        case .group: return "the grouped rows"
        }
    }

    func unknownField(_ w: String, _ r: SourceRange) -> QueryError {
        if case .group = scope {
            let numeric = (aggregates.map { c -> Bool in
                var inner = self
                inner.scope = c.inputScope
                return (try? inner.name(w, r)).map { [.number, .money, .duration].contains($0.kind) } ?? false
            }) ?? false
            return error("\"\(w)\" is neither a group key nor an aggregate", r,
                         hint: "add group by \(w), or use an aggregate such as " + (numeric ? "avg(\(w))" : "count() or max(\(w))"))
        }
        if case .event = scope, Catalog.clientKinds[w.lowercased()] != nil || Catalog.modelFieldKinds[w.lowercased()] != nil {
            return error("unknown field \"\(w)\" for \(entityName())", r, hint: "did you mean \"client.\(w.lowercased())\"?")
        }
        let names = fieldNames() + Entity.allCases.map(\.rawValue)
        let hint = Suggest.nearest(w, in: names).map { "did you mean \"\($0)\"?" }
        return error("unknown field \"\(w)\" for \(entityName())", r, hint: hint)
    }

    // MARK: Expressions

    func compile(_ e: Expr) throws(QueryError) -> Compiled {
        let r = e.range
        switch e.kind {
        case .literal(let lit):
            switch lit {
            case .number(let x): return .constant(.num(x), .number, r)
            case .money(let c): return .constant(.money(Double(c)), .money, r)
            case .duration(let d): return .constant(.dur(d), .duration, r)
            case .date(let d): return .constant(.date(d), .date, r)
            case .string(let s): return .constant(.str(s), .string, r)
            case .bool(let b): return .constant(.bool(b), .boolean, r)
            case .null: return .constant(.null, .null, r)
            }
        case .today:
            return .constant(.date(env.today), .date, r)
        case .name(let w):
            return try name(w, r)
        case .path(let parts):
            return try path(parts, r)
        case .parameter(let name, let def):
            if let v = parameters[name] { return .constant(V(v), v.kind, r) }
            if let def {
                var c = try compile(def)
                c.range = r
                if c.bare != nil { c.kind = .string }
                return c
            }
            throw error("missing parameter $\(name)", r, hint: "give it a value, e.g. \(name)=…")
        case .not(let x):
            let c = try condition(x, what: "\"not\"")
            let f = c.eval
            let fast = c.fast.map { p in { (i: Int) in !p(i) } }
            var out = Compiled(kind: .boolean, eval: { .bool(!f($0).isTrue) }, range: r, perItem: c.perItem, hasAggregate: c.hasAggregate, fast: fast)
            out.batch = c.batch.map { b in { s, n, mask in b(s, n, mask); for j in 0..<n { mask[j] ^= 1 } } }
            out.costly = c.costly
            return out
        case .negate(let x):
            let c = try resolved(x)
            guard [.number, .money, .duration, .null].contains(c.kind) else {
                throw error("cannot negate a \(c.kind): \"\(text(x.range))\"", r)
            }
            let f = c.eval
            return Compiled(kind: c.kind, eval: { row in
                switch f(row) {
                case .num(let v): .num(-v)
                case .money(let v): .money(-v)
                case .dur(let v): .dur(-v)
                default: .null
                }
            }, range: r, isConstant: c.isConstant, perItem: c.perItem, hasAggregate: c.hasAggregate)
        case .binary(let op, let a, let b):
            if op == .and || op == .or {
                // A chain `a or b or c …` is a left-deep tree: walk it as a list.
                var operands = [b]
                var left = a
                while case .binary(let o, let x, let y) = left.kind, o == op {
                    operands.append(y)
                    left = x
                }
                operands.append(left)
                operands.reverse()
                var parts: [Compiled] = []
                for operand in operands { parts.append(try condition(operand, what: "\"\(op.rawValue)\"")) }
                let fs = parts.map(\.eval)
                let aggregate = parts.contains { $0.hasAggregate }
                // Cheap tests first: the answer is the same, and a model prediction is
                // computed only for rows the cheap parts let through.
                let fasts = (parts.filter { !$0.costly } + parts.filter(\.costly)).compactMap(\.fast)
                let costly = parts.contains(where: \.costly)
                var fast: ((Int) -> Bool)?
                if fasts.count == parts.count {
                    if fasts.count == 2 {
                        let p = fasts[0], q = fasts[1]
                        fast = op == .and ? { p($0) && q($0) } : { p($0) || q($0) }
                    } else {
                        fast = op == .and ? { i in fasts.allSatisfy { $0(i) } } : { i in fasts.contains { $0(i) } }
                    }
                }
                let batch = fasts.count == parts.count ? Self.combinedBatch(op, parts) : nil
                if fs.count == 2 {
                    let f = fs[0], g = fs[1]
                    let eval: (Row) -> V = op == .and ? { .bool(f($0).isTrue && g($0).isTrue) } : { .bool(f($0).isTrue || g($0).isTrue) }
                    var out = Compiled(kind: .boolean, eval: eval, range: r, hasAggregate: aggregate, fast: fast)
                    out.costly = costly
                    out.batch = batch
                    return out
                }
                let eval: (Row) -> V = op == .and
                    ? { row in .bool(fs.allSatisfy { $0(row).isTrue }) }
                    : { row in .bool(fs.contains { $0(row).isTrue }) }
                var out = Compiled(kind: .boolean, eval: eval, range: r, hasAggregate: aggregate, fast: fast)
                out.costly = costly
                out.batch = batch
                return out
            }
            if op.isComparison { return try comparison(op, a, b, r) }
            return try arithmetic(op, a, b, r)
        case .inList(let x, let items, let negated):
            let c = try compile(x)
            var cs: [Compiled] = []
            for item in items { cs.append(try compile(item)) }
            let target = try operandPair(c, cs.first ?? c).0
            var values: [Compiled] = []
            for (item, ci) in zip(items, cs) {
                var (_, v) = try operandPair(target, ci)
                if isClientID(x) { v = mergedKey(v) }
                guard comparable(target.kind, v.kind) else { throw kindMismatch(x, target, item, v) }
                values.append(v)
            }
            let f = target.eval, gs = values.map(\.eval)
            return anyItem(Compiled(kind: .boolean, eval: { row in
                let v = f(row)
                if v.isNull { return .bool(false) }
                let hit = gs.contains { Ops.compare(.eq, v, $0(row)) }
                return .bool(hit != negated)
            }, range: r, perItem: target.perItem || values.contains { $0.perItem }, hasAggregate: target.hasAggregate))
        case .between(let x, let lo, let hi, let negated):
            let (c, l) = try operandPair(try compile(x), try compile(lo))
            let (_, h) = try operandPair(c, try compile(hi))
            guard comparable(c.kind, l.kind) else { throw kindMismatch(x, c, lo, l) }
            guard comparable(c.kind, h.kind) else { throw kindMismatch(x, c, hi, h) }
            let f = c.eval, g = l.eval, k = h.eval
            return anyItem(Compiled(kind: .boolean, eval: { row in
                let v = f(row), a = g(row), b = k(row)
                if v.isNull || a.isNull || b.isNull { return .bool(false) }
                return .bool((Ops.compare(.ge, v, a) && Ops.compare(.le, v, b)) != negated)
            }, range: r, perItem: c.perItem, hasAggregate: c.hasAggregate, fast: fastBetween(c, l, h, negated: negated)))
        case .isNull(let x, let negated):
            let c = try resolved(x)
            let f = c.eval
            var out = Compiled(kind: .boolean, eval: { .bool(f($0).isNull != negated) }, range: r, perItem: c.perItem, hasAggregate: c.hasAggregate,
                               fast: fastIsNull(c, negated: negated))
            if out.fast != nil { out.batch = fastIsNullBatch(c, negated: negated) }
            return anyItem(out)
        case .contains(let x, let y, let negated):
            let c = try resolved(x)
            var d = try compile(y)
            guard c.kind == .list || c.kind == .string else {
                throw error("\"contains\" needs a list or a string on its left, but \"\(text(x.range))\" is a \(c.kind)", x.range,
                            hint: c.kind == .null ? nil : "use = to compare a \(c.kind)")
            }
            if d.bare != nil { d.bare = nil }
            guard d.kind == .string || d.kind == .null else {
                throw error("\"contains\" needs a string on its right, but \"\(text(y.range))\" is a \(d.kind)", y.range)
            }
            let f = c.eval, g = d.eval
            var contains = Compiled(kind: .boolean, eval: { row in
                let a = f(row), b = g(row)
                if a.isNull || b.isNull { return .bool(false) }
                return .bool(Ops.contains(a, b) != negated)
            }, range: r, perItem: c.perItem || d.perItem, hasAggregate: c.hasAggregate,
                                    fast: d.perItem ? nil : fastContains(c, d, negated: negated))
            if contains.fast != nil { contains.rawTest = rawContains(c, d, negated: negated) }
            return anyItem(contains)
        case .inLast(let x, let d, let negated):
            let c = try resolved(x)
            let dc = try resolved(d)
            guard c.kind == .date || c.kind == .null else {
                throw error("\"in last\" needs a date on its left, but \"\(text(x.range))\" is a \(c.kind)", x.range)
            }
            guard dc.kind == .duration else {
                throw error("\"in last\" needs a duration, but \"\(text(d.range))\" is a \(dc.kind)", d.range,
                            hint: dc.kind == .number ? "write \(text(d.range))d for \(text(d.range)) days" : "write a duration like 90d, 12w, 6m or 1y")
            }
            let f = c.eval, g = dc.eval
            let today = env.today
            var inLast = anyItem(Compiled(kind: .boolean, eval: { row in
                guard case .date(let day) = f(row), case .dur(let span) = g(row) else { return .bool(false) }
                let inside = Double(day) > Double(today) - span && day <= today
                return .bool(inside != negated)
            }, range: r, perItem: c.perItem, hasAggregate: c.hasAggregate, fast: fastInLast(c, dc, negated: negated)))
            // Days after today − D, up to today: the first is floor(today − D) + 1.
            if !negated, c.fastField?.isEventDay == true, dc.isConstant, case .dur(let span) = dc.eval(Row()), span.isFinite,
               let from = Int32(exactly: (Double(today) - span).rounded(.down)), from < today {
                inLast.eventDays = (from + 1)...today
            }
            return inLast
        case .call(let name, let args):
            return try call(name, args, r)
        case .scoped(let function, let entity, let field, let cond):
            return try scoped(function, entity, field, cond, r)
        case .has(let negated, let entity, let cond):
            var c = try scoped("count", entity, nil, cond, r)
            let f = c.eval
            c.kind = .boolean
            c.eval = { row in
                guard case .num(let n) = f(row) else { return .bool(negated) }
                return .bool((n > 0) != negated)
            }
            if let (count, passes, raw) = try scopedTest(entity, cond) {
                let marks = ScopedMarks(env: env, entity: entity, passes: passes, raw: raw, perRow: count)
                c.fast = { i in marks.has(i) != negated }
                // Run at a time only when the marks come from the snapshot's first-match
                // days (made here once per snapshot): a batch asks every row, and a narrow
                // `and` in front must not cost a walk of the events per query.
                if marks.firstMatchDays() != nil { c.batch = { s, n, out in marks.fill(s, n, out, negated: negated) } }
            }
            c.fastField = nil
            return c
        }
    }

    /// Wraps a predicate on a purchase's items so it holds when any item matches.
    func anyItem(_ c: Compiled) -> Compiled {
        guard c.perItem else { return c }
        let f = c.eval
        var out = c
        out.perItem = false
        out.batch = nil
        let env = self.env
        if let p = c.fast {
            out.fast = { k in env.events.items(k).contains { p($0) } }
        }
        out.eval = { row in
            guard row.k >= 0 else { return .bool(false) }
            let saved = row.item
            defer { row.item = saved }
            for j in env.events.items(row.k) {
                row.item = j
                if f(row).isTrue { return .bool(true) }
            }
            return .bool(false)
        }
        return out
    }

    /// Settles bare words in a pair of operands: a bare word next to a string (or a
    /// list, for `contains`) is a string; otherwise it is an unknown field.
    func operandPair(_ a: Compiled, _ b: Compiled) throws(QueryError) -> (Compiled, Compiled) {
        var a = a, b = b
        let stringy: Set<ValueKind> = [.string, .list, .null]
        if let w = a.bare {
            if b.bare != nil {
                // Two bare words: the one that looks like a field is the unknown field.
                let bw = b.bare ?? ""
                let aNear = Suggest.nearest(w, in: fieldNames()) != nil, bNear = Suggest.nearest(bw, in: fieldNames()) != nil
                throw unknownField(aNear || !bNear ? w : bw, aNear || !bNear ? a.range : b.range)
            }
            if stringy.contains(b.kind) && b.kind != .null { a.bare = nil } else { throw unknownField(w, a.range) }
        }
        if let w = b.bare {
            if stringy.contains(a.kind) && a.kind != .null { b.bare = nil } else { throw unknownField(w, b.range) }
        }
        return (a, b)
    }

    func kindMismatch(_ ea: Expr, _ a: Compiled, _ eb: Expr, _ b: Compiled) -> QueryError {
        var hint: String?
        let (num, other, numExpr) = a.kind == .number ? (a, b, ea) : (b, a, eb)
        if num.kind == .number, case .literal(.number(let x)) = numExpr.kind {
            let t = ValueFormat.number(x)
            switch other.kind {
            case .duration: hint = "write \(t)d for \(t) days (or \(t)w, \(t)m, \(t)y)"
            case .date: hint = "write a date as YYYY-MM-DD, or today - \(t)d"
            default: break
            }
        }
        if hint == nil && (a.kind == .list || b.kind == .list) && (a.kind == .string || b.kind == .string) {
            hint = "use contains to test a list: \(text(a.kind == .list ? ea.range : eb.range)) contains \(text(a.kind == .list ? eb.range : ea.range))"
        }
        let where_ = b.range.start >= a.range.start ? b.range : a.range
        return error("cannot compare \(quoted(ea.range)) (a \(a.kind)) with \(quoted(eb.range)) (a \(b.kind))", where_, hint: hint)
    }

    /// True for the client key field `id` of a `clients` row.
    func isClientID(_ e: Expr) -> Bool {
        guard scope == .client else { return false }
        switch e.kind {
        case .name(let w): return w.lowercased() == "id"
        case .path(let p): return p.count == 1 && p[0].lowercased() == "id"
        default: return false
        }
    }

    /// A constant client key compared with `id`, resolved through merges, so a query
    /// naming a key that was merged away finds the client it was merged into.
    func mergedKey(_ c: Compiled) -> Compiled {
        guard c.isConstant, case .str(let key) = c.eval(Row()), let root = env.survivingKey(key), root != key else { return c }
        return Compiled(kind: c.kind, eval: { _ in .str(root) }, range: c.range, isConstant: true)
    }

    func comparison(_ op: BinaryOp, _ ea: Expr, _ eb: Expr, _ r: SourceRange) throws(QueryError) -> Compiled {
        var (a, b) = try operandPair(try compile(ea), try compile(eb))
        if op == .eq || op == .ne {
            if isClientID(ea) { b = mergedKey(b) }
            if isClientID(eb) { a = mergedKey(a) }
        }
        guard comparable(a.kind, b.kind) else { throw kindMismatch(ea, a, eb, b) }
        if op != .eq && op != .ne && (a.kind == .list || b.kind == .list || a.kind == .boolean) {
            throw error("\"\(op.rawValue)\" does not order \(a.kind == .boolean ? "booleans" : "lists")", r)
        }
        if a.kind == .list || b.kind == .list {
            if a.kind != b.kind {
                throw kindMismatch(ea, a, eb, b)
            }
        }
        let f = a.eval, g = b.eval
        var c: Compiled
        if b.isConstant {
            let k = g(Row())
            c = Compiled(kind: .boolean, eval: { .bool(Ops.compare(op, f($0), k)) }, range: r, perItem: a.perItem, hasAggregate: a.hasAggregate,
                         fast: fastComparison(op, a, b))
            if c.fast != nil {
                c.batch = fastComparisonBatch(op, a, b)
                c.rawTest = rawEquality(op, a, b)
            }
        } else {
            c = Compiled(kind: .boolean, eval: { .bool(Ops.compare(op, f($0), g($0))) }, range: r,
                         perItem: a.perItem || b.perItem, hasAggregate: a.hasAggregate || b.hasAggregate)
        }
        c.costly = a.costly || b.costly
        return anyItem(c)
    }

    func arithmetic(_ op: BinaryOp, _ ea: Expr, _ eb: Expr, _ r: SourceRange) throws(QueryError) -> Compiled {
        let a = try resolved(ea), b = try resolved(eb)
        guard let kind = arithmeticKind(op, a.kind, b.kind) else {
            var hint: String?
            if (a.kind == .duration && b.kind == .number) || (a.kind == .date && b.kind == .number) || (a.kind == .number && b.kind == .duration),
               case .literal(.number(let x)) = (a.kind == .number ? ea : eb).kind {
                hint = "write \(ValueFormat.number(x))d for \(ValueFormat.number(x)) days"
            }
            throw error("cannot apply \"\(op.rawValue)\" to \"\(text(ea.range))\" (a \(a.kind)) and \"\(text(eb.range))\" (a \(b.kind))", r, hint: hint)
        }
        let f = a.eval, g = b.eval
        let c = Compiled(kind: kind, eval: { Ops.arithmetic(op, f($0), g($0)) }, range: r, isConstant: a.isConstant && b.isConstant,
                         perItem: a.perItem || b.perItem, hasAggregate: a.hasAggregate || b.hasAggregate)
        if c.isConstant {
            let v = c.eval(Row())
            return Compiled(kind: kind, eval: { _ in v }, range: r, isConstant: true)
        }
        return c
    }

    // MARK: Names

    func name(_ raw: String, _ r: SourceRange) throws(QueryError) -> Compiled {
        let w = raw.lowercased()
        switch scope {
        case .group:
            if let a = aliases.first(where: { $0.name.lowercased() == w }) {
                let col = a.column
                return Compiled(kind: a.kind, eval: { row in col < row.columns.count ? row.columns[col] : .null }, range: r)
            }
            if let k = groupKeys.firstIndex(where: { $0.text == w }) {
                let kind = groupKeys[k].kind
                return Compiled(kind: kind, eval: { row in k < row.keys.count ? row.keys[k] : .null }, range: r)
            }
            var c = Compiled.constant(.str(raw), .string, r)
            c.bare = raw
            return c
        case .client:
            if let c = clientField(w, r) { return c }
            if let c = try modelField(w, args: nil, r) { return c }
        case .event(let entity, let fallback):
            if let c = eventField(entity, w, r) { return c }
            if fallback, let c = clientField(w, r) { return c }
            if fallback, let c = try modelField(w, args: nil, r) { return c }
        }
        var c = Compiled.constant(.str(raw), .string, r)
        c.bare = raw
        return c
    }

    func path(_ parts: [String], _ r: SourceRange) throws(QueryError) -> Compiled {
        let head = parts[0].lowercased()
        let field = parts.count == 2 ? parts[1].lowercased() : ""
        guard parts.count == 2 else { throw error("unknown field \"\(text(r))\"", r) }
        if head == "client" {
            guard case .event = scope else {
                throw error("\"client.\(field)\" is for event rows; on clients write \(field)", r)
            }
            if let c = clientField(field, r) { return c }
            if field == "expected" {
                throw error("expected(D) is not reachable from \(entityName()) rows; use it in a clients query, e.g. clients show expected(90d)", r)
            }
            if let c = try modelField(field, args: nil, r) { return c }
            let hint = Suggest.nearest(field, in: Catalog.fields(.clients).map(\.0)).map { "did you mean \"client.\($0)\"?" }
            throw error("unknown client field \"\(parts[1])\"", r, hint: hint)
        }
        if head == "items" || head == "item" {
            if case .event(.purchases, _) = scope {
                guard let k = Catalog.itemFields.first(where: { $0.0 == field }) else {
                    let hint = Suggest.nearest(field, in: Catalog.itemFields.map(\.0)).map { "did you mean \"items.\($0)\"?" }
                    throw error("unknown item field \"\(parts[1])\"", r, hint: hint)
                }
                var c = itemField(field, k.1, r)
                c.perItem = true
                c.fastField = fastItemField(field)
                return c
            }
            if case .event(.items, _) = scope, let c = eventField(.items, field, r) { return c }
        }
        if let e = Entity.named(head), e != .clients {
            throw error("\"\(text(r))\" names the \(e.rawValue) of a client: use it inside an aggregate, e.g. sum(\(e.rawValue).\(field)) or max(\(e.rawValue).\(field))", r)
        }
        throw error("unknown field \"\(text(r))\" for \(entityName())", r,
                    hint: Suggest.nearest(head, in: ["client", "items"]).map { "did you mean \"\($0).\(field)\"?" })
    }

    /// A client field of the row's client (`row.i`).
    func clientField(_ w: String, _ r: SourceRange) -> Compiled? {
        guard let kind = Catalog.clientKinds[w], let f = ClientFields.accessor(w, env: env) else { return nil }
        var c = Compiled(kind: kind, eval: { row in row.i < 0 ? .null : f(row.i) }, range: r)
        c.fastField = fastClientField(w)
        // Column-wise output is a fast path too: with fast paths off (tests' reference
        // answers) every value goes through the general per-row evaluation.
        guard FastPaths.enabled else { return c }
        let env = self.env
        switch w {
        case "id":
            // The key whatever the day: read straight from the sorted keys.
            let keys = env.table.keys
            c.clientColumn = { rows, order in Self.placed(rows.count, order) { .string(keys[rows[$0]]) } }
            c.pureColumn = c.clientColumn
            c.wholeColumn = true
        case "name", "email", "phone":
            let tag: PersonalData.Tag = w == "name" ? .name : w == "email" ? .email : .phone
            c.clientColumn = { rows, order in
                let values = env.personalValues(rows, tag)
                return Self.placed(rows.count, order) { values[$0] }
            }
            // Decrypted values are kept per row for the whole table (not a few thousand).
            c.wholeColumn = true
        default:
            let fast = c.fastField
            if let number = fast?.number, Self.outputKinds.contains(kind) {
                c.clientColumn = { rows, order in
                    Self.placed(rows.count, order) { j in
                        let i = rows[j]
                        return env.isCurrent(i) ? Self.output(number(i), kind) : f(i).output
                    }
                }
                // Typed client numbers read the table's columns only (FastFilter.swift).
                c.pureColumn = { rows, order in Self.placed(rows.count, order) { Self.output(number(rows[$0]), kind) } }
                c.wholeColumn = true
            } else if let string = fast?.string {
                c.clientColumn = { rows, order in
                    // Output values per dictionary id (0 is null), made once each.
                    var memo: [Value?] = []
                    return Self.placed(rows.count, order) { j in
                        let i = rows[j]
                        guard env.isCurrent(i) else { return f(i).output }
                        let id = Int(string.id(i))
                        if id < memo.count, let v = memo[id] { return v }
                        let v = string.value(UInt32(id)).output
                        if id >= memo.count { memo += Array(repeating: nil, count: id + 1 - memo.count) }
                        memo[id] = v
                        return v
                    }
                }
                c.wholeColumn = true
            } else {
                c.clientColumn = { rows, order in Self.placed(rows.count, order) { f(rows[$0]).output } }
            }
        }
        return c
    }

    /// `count` values, `value(j)` placed at `order[j]` (a permutation of `0..<count`) or
    /// at `j`: each written once, straight into the result.
    @inline(__always) static func placed(_ count: Int, _ order: [Int]?, _ value: (Int) -> Value) -> [Value] {
        guard let order else { return (0..<count).map(value) }
        return [Value](unsafeUninitializedCapacity: count) { buffer, initialized in
            guard let base = buffer.baseAddress else { return }
            for j in 0..<count { (base + order[j]).initialize(to: value(j)) }
            initialized = count
        }
    }

    /// The kinds whose values ``output(_:_:)`` makes from a field's typed number.
    static let outputKinds: Set<ValueKind> = [.number, .money, .duration, .date]

    /// The output value of a typed number (``FastField/number``: days, cents or a
    /// count; NaN for null) of kind `kind` — what the field's value would print as.
    @inline(__always) static func output(_ x: Double, _ kind: ValueKind) -> Value {
        switch kind {
        case .number: return V.num(x).output
        case .money: return x.isNaN ? .null : V.money(x).output
        case .duration: return V.dur(x).output
        case .date: return Day(exactly: x).map(Value.date) ?? .null
        default: return .null
        }
    }

    func itemField(_ w: String, _ kind: ValueKind, _ r: SourceRange) -> Compiled {
        let env = self.env
        let eval: (Row) -> V
        switch w {
        case "name": eval = { row in row.item < 0 ? .null : env.poolValue(env.events.itemName[row.item]) }
        case "category": eval = { row in row.item < 0 ? .null : env.poolValue(env.events.itemCategory[row.item]) }
        case "quantity": eval = { row in row.item < 0 ? .null : .num(Double(env.events.itemQuantity[row.item])) }
        default:
            eval = { row in
                guard row.item >= 0 else { return .null }
                let x = env.events.itemAmount[row.item]
                return x == EventTable.null ? .null : .money(Double(x))
            }
        }
        return Compiled(kind: kind, eval: eval, range: r)
    }

    func eventField(_ entity: Entity, _ w: String, _ r: SourceRange) -> Compiled? {
        guard let kind = Catalog.fields(entity).first(where: { $0.0 == w })?.1 else { return nil }
        if entity == .items, Catalog.itemFields.contains(where: { $0.0 == w }) {
            var c = itemField(w, kind, r)
            c.fastField = fastEventField(entity, w)
            return c
        }
        let env = self.env
        let f: (Int) -> V = EventFields.accessor(w, entity: entity, env: env)
        var c = Compiled(kind: kind, eval: { row in row.k < 0 ? .null : f(row.k) }, range: r)
        c.fastField = fastEventField(entity, w)
        return c
    }

    // MARK: Calls

    func call(_ name: String, _ args: [Expr], _ r: SourceRange) throws(QueryError) -> Compiled {
        switch name {
        case "day", "week", "month", "quarter", "year":
            guard args.count == 1 else { throw error("\(name)() takes one date, e.g. \(name)(at)", r) }
            let c = try resolved(args[0])
            guard c.kind == .date || c.kind == .null else {
                throw error("\(name)() needs a date, but \"\(text(args[0].range))\" is a \(c.kind)", args[0].range)
            }
            let f = c.eval
            var b = Compiled(kind: Bucket.kind(name), eval: { row in
                guard case .date(let d) = f(row) else { return .null }
                return Bucket.apply(name, d)
            }, range: r, isConstant: c.isConstant, perItem: c.perItem, hasAggregate: c.hasAggregate)
            if let get = c.fastField?.number {
                b.code = { i in let x = get(i); return x.isNaN ? Int32.min : Bucket.code(name, Int32(x)) }
            }
            if case .day? = c.fastField?.raw { b.dayBucket = name }
            return b
        case "count", "sum", "avg", "min", "max", "median", "percentile", "share":
            return try rowAggregate(name, args, r)
        case "expected", "predicted_clv":
            switch scope {
            case .client, .event(_, clientFallback: true):
                if let c = try modelField(name, args: args, r) { return c }
            case .group:
                throw error("\"\(text(r))\" is neither a group key nor an aggregate", r,
                            hint: "add it to group by, or use an aggregate such as avg(\(text(r)))")
            case .event:
                break
            }
            throw error("\(name)(D) is a client field: use it in a clients query, e.g. clients show \(name)(90d)", r)
        case "returned":
            return try returned(args, r)
        default:
            let known = ["count", "sum", "avg", "min", "max", "median", "percentile", "share", "day", "week", "month",
                         "quarter", "year", "returned", "expected", "predicted_clv"]
            throw error("unknown function \"\(name)\"", SourceRange(r.start, r.start + name.utf8.count),
                        hint: Suggest.nearest(name, in: known).map { "did you mean \"\($0)\"?" })
        }
    }

    func returned(_ args: [Expr], _ r: SourceRange) throws(QueryError) -> Compiled {
        guard case .event(let e, _) = scope, e == .visits || e == .purchases else {
            throw error("returned(D) is for visits and purchases rows", r)
        }
        guard args.count == 1 else { throw error("returned() takes one duration, e.g. returned(90d)", r) }
        let d = try resolved(args[0])
        guard d.kind == .duration else {
            throw error("returned() needs a duration, but \"\(text(args[0].range))\" is a \(d.kind)", args[0].range,
                        hint: d.kind == .number ? "write \(text(args[0].range))d" : nil)
        }
        let g = d.eval
        let env = self.env
        return Compiled(kind: .boolean, eval: { row in
            guard row.k >= 0, row.i >= 0, case .dur(let span) = g(row) else { return .bool(false) }
            let day = env.events.day[row.k]
            guard let next = env.nextActivityDay(row.i, after: day) else { return .bool(false) }
            return .bool(Double(next - day) <= span)
        }, range: r)
    }

    func rowAggregate(_ name: String, _ args: [Expr], _ r: SourceRange) throws(QueryError) -> Compiled {
        guard let collector = aggregates else {
            throw error("\(name)() is an aggregate: use it in show, sort by or top (with or without group by)", r,
                        hint: name == "count" ? "to count a client's events write count(visits where …)" : nil)
        }
        var inner = self
        inner.scope = collector.inputScope
        inner.aggregates = nil
        var arg: Compiled?
        var p = 50.0
        var kind = ValueKind.number
        switch name {
        case "count":
            guard args.count <= 1 else { throw error("count() takes at most one argument", r) }
            if let a = args.first { arg = try inner.resolved(a) }
        case "share":
            guard args.isEmpty else { throw error("share() takes no argument: it is the group's fraction of all rows", r) }
        case "percentile":
            guard args.count == 2 else { throw error("percentile() takes a value and a percentage, e.g. percentile(spend, 90)", r) }
            let a = try inner.resolved(args[0])
            guard case .literal(.number(let x)) = args[1].kind, x >= 0, x <= 100 else {
                throw error("percentile()'s second argument is a number from 0 to 100", args[1].range)
            }
            p = x
            arg = a
        default:
            guard args.count == 1 else { throw error("\(name)() takes one argument, e.g. \(name)(spend)", r) }
            arg = try inner.resolved(args[0])
            if name == "median" { p = 50 }
        }
        if let a = arg {
            if a.hasAggregate { throw error("aggregates cannot be nested", a.range) }
            switch name {
            case "count": kind = .number
            case "min", "max":
                guard a.kind != .list else { throw error("\(name)() cannot take a list", a.range) }
                kind = a.kind
            default:
                guard [.number, .money, .duration, .boolean, .null].contains(a.kind) else {
                    throw error("\(name)() needs numbers, money or durations, but \"\(text(a.range))\" is a \(a.kind)", a.range)
                }
                kind = a.kind == .boolean ? .number : a.kind
            }
        }
        let slot = collector.specs.count
        collector.specs.append(AggregateSpec(function: name, argument: arg, percentile: p, kind: kind))
        return Compiled(kind: kind, eval: { row in slot < row.aggs.count ? row.aggs[slot] : .null }, range: r, hasAggregate: true)
    }

    /// `count(visits where …)`, `sum(purchases.amount where …)`, `has visit where …`.
    func scoped(_ function: String, _ entity: Entity, _ field: String?, _ cond: Expr?, _ r: SourceRange) throws(QueryError) -> Compiled {
        let inClients: Bool
        switch scope {
        case .client: inClients = true
        case .group: inClients = aggregates?.inputScope == .client
        default: inClients = false
        }
        guard inClients else {
            throw error("\(text(r)) counts a client's own events: it works in a clients query", r)
        }
        var inner = self
        inner.scope = .event(entity, clientFallback: true)
        inner.aggregates = nil
        let condition = try cond.map { c throws(QueryError) in try inner.condition(c, what: "where") }
        var value: Compiled?
        if let field {
            guard let v = inner.eventField(entity, field.lowercased(), r) else {
                let hint = Suggest.nearest(field, in: Catalog.fields(entity).map(\.0)).map { "did you mean \"\(entity.rawValue).\($0)\"?" }
                throw error("unknown field \"\(field)\" for \(entity.rawValue)", r, hint: hint)
            }
            value = v
        } else if function != "count" {
            throw error("\(function)() of \(entity.rawValue) needs a field, e.g. \(function)(\(entity.rawValue).amount)", r)
        }
        var kind = ValueKind.number
        if let v = value, function != "count" {
            switch function {
            case "min", "max": kind = v.kind
            default:
                guard [.number, .money, .duration].contains(v.kind) else {
                    throw error("\(function)() needs numbers, money or durations, but \(entity.rawValue).\(field ?? "") is a \(v.kind)", r)
                }
                kind = v.kind
            }
        }
        let code = entity.eventType?.code
        let isItems = entity == .items
        let env = self.env
        let test = condition?.eval
        let get = value?.eval
        let fn = function
        if function == "count", let count = try scopedCount(entity, cond) {
            var c = Compiled(kind: .number, eval: { row in row.i < 0 ? .null : .num(Double(count(row.i, false))) }, range: r)
            c.fastField = FastField(number: { Double(count($0, false)) })
            return c
        }
        return Compiled(kind: kind, eval: { row in
            guard row.i >= 0 else { return .null }
            let inner = Row()
            inner.i = row.i
            var n = 0
            var acc = Accumulator(function: fn, percentile: 50)
            // (fn is one of count, sum, avg, min, max, median.)
            let t = env.events
            let c = env.clientEvents
            let today = env.today
            for j in c.range(row.i) {
                let k = Int(c.events[j])
                if let code, t.type[k] != code { continue }
                if t.day[k] > today { continue }
                inner.k = k
                if isItems {
                    for item in t.items(k) {
                        inner.item = item
                        if let test, !test(inner).isTrue { continue }
                        n += 1
                        if let get { acc.add(get(inner)) }
                    }
                } else {
                    inner.item = -1
                    if let test, !test(inner).isTrue { continue }
                    n += 1
                    if let get { acc.add(get(inner)) }
                }
            }
            if fn == "count" { return .num(Double(n)) }
            return acc.result()
        }, range: r)
    }

    /// A typed counter for `count(entity where cond)` when the condition has a fast
    /// form on the entity's units: `(client row, stop at the first match) -> count`.
    /// Valid for every client row (it reads the event table, not the projection).
    func scopedCount(_ entity: Entity, _ cond: Expr?) throws(QueryError) -> ((Int, Bool) -> Int)? {
        try scopedTest(entity, cond)?.count
    }

    /// ``scopedCount(_:_:)``, the condition on one unit (an event, or an item) and its
    /// raw form on the unit's event when it has one.
    func scopedTest(_ entity: Entity, _ cond: Expr?) throws(QueryError)
        -> (count: (Int, Bool) -> Int, passes: (Int) -> Bool, raw: RawEventTest?)? {
        var inner = self
        inner.scope = .event(entity, clientFallback: true)
        inner.aggregates = nil
        var test: ((Int) -> Bool)?
        var raw: RawEventTest?
        if let cond {
            let c = try inner.condition(cond, what: "where")
            guard let f = c.fast else { return nil }
            test = f
            raw = c.rawTest
        }
        let env = self.env
        let code = entity.eventType?.code
        let isItems = entity == .items
        FastPaths.taken?.add("scoped")
        let passes: (Int) -> Bool = test ?? { _ in true }
        let anyType = code == nil
        let wanted = code ?? 0
        let count: (Int, Bool) -> Int = { i, first in
            let t = env.events
            let c = env.clientEvents
            let today = env.today
            let type = t.type.base, day = t.day.base, events = c.events.base
            var n = 0
            for j in c.range(i) {
                let k = Int(events[j])
                if !anyType && type[k] != wanted { continue }
                if day[k] > today { continue }
                if isItems {
                    for item in t.items(k) where passes(item) {
                        n += 1
                        if first { return n }
                    }
                } else if passes(k) {
                    n += 1
                    if first { return n }
                }
            }
            return n
        }
        return (count, passes, raw)
    }
}
