import Foundation
import LMDB

/// Runs one checked query over one snapshot and hands out its rows.
///
/// Plan: `clients` walks the in-memory client table (columns of the stored
/// projection; recomputed for `today` by ``AsOfTable`` when many clients have events
/// after it, else replaying those few); typed fast paths where they exist
/// (FastFilter.swift); event entities
/// walk the in-memory event table (``EventTable``), taking only events of the
/// entity's type on or before `today`; client-scoped aggregates read only the
/// current client's events (``ClientEvents``).
struct Executor {
    let database: Database
    let query: Query
    let source: String
    let parameters: [String: Value]
    let baseToday: Day
    /// Whether a query using a model none is stored for throws ``NeedsModelFit``
    /// (before its first row) instead of answering null.
    var autoFit = false
    /// Where a whole result is being collected (``Database/query(_:parameters:today:)``,
    /// ``Database/run(_:parameters:today:)``):
    /// the column-wise paths hand it blocks of rows in columns instead of row by row.
    var collector: ResultCollector? = nil

    /// A `show` item, `sort by` key or `top` expression ready to evaluate.
    struct Output {
        var name: String
        var compiled: Compiled
    }

    /// A read transaction queries use instead of their own (tests: a query of an older
    /// snapshot than the cached tables).
    @TaskLocal static var snapshot: LentTransaction?

    func run(columns: ([Column]) throws -> Void, row emit: ([Value]) throws -> Void) throws {
        let store = database.store
        func read(_ body: (Transaction) throws -> Void) throws {
            if let lent = Self.snapshot { try body(lent.txn) } else { try store.env.read(body) }
        }
        try read { txn in
            let table = try database.clientTables.table(store: store, txn: txn)
            var today = baseToday
            if let asOf = query.asOf {
                let probe = QueryEnv(database: database, txn: txn, table: table, today: baseToday)
                let c = try Compiler(env: probe, source: source, parameters: parameters, scope: .client).compile(asOf)
                guard c.bare == nil, c.kind == .date, c.isConstant, case .date(let d) = c.eval(Row()) else {
                    throw QueryError("\"as of\" needs a date, like 2025-06-30 or today - 1y", at: asOf.range, source: source)
                }
                today = d
            }
            var env = QueryEnv(database: database, txn: txn, table: table, today: today)
            if query.entity == .clients {
                let text = source.lowercased()
                if let recomputed = env.recomputedForToday(tallies: text.contains("location") || text.contains("provider")) {
                    env = recomputed
                }
            }
            try execute(env: env, columns: columns, emit: emit)
            try QueryCancellation.checkpoint()
            if let failure = env.failure { throw failure }
        }
    }

    private func execute(env: QueryEnv, columns: ([Column]) throws -> Void, emit: ([Value]) throws -> Void) throws {
        let inputScope: Scope = query.entity == .clients ? .client : .event(query.entity, clientFallback: false)
        let compiler = Compiler(env: env, source: source, parameters: parameters, scope: inputScope)
        let filter = try query.filter.map { e throws(QueryError) in try compiler.condition(e, what: "where") }

        // Grouped when there is a group by, or when show holds row aggregates.
        if !query.groupBy.isEmpty || query.show.contains(where: { Self.hasRowAggregate($0.expr) }) {
            try grouped(env: env, inputScope: inputScope, filter: filter, columns: columns, emit: emit)
            return
        }

        // Row mode.
        var outputs: [Output] = []
        if query.show.isEmpty {
            for f in Catalog.defaults(query.entity) {
                outputs.append(Output(name: f, compiled: try compiler.resolved(Expr(.name(f), query.entityRange))))
            }
        } else {
            for item in query.show {
                outputs.append(Output(name: item.alias ?? columnName(item.expr), compiled: try compiler.resolved(item.expr)))
            }
        }
        for o in outputs where o.compiled.perItem {
            throw QueryError("\"\(o.name)\" is one value per line item: use it in a condition, or query items", at: o.compiled.range, source: source)
        }
        let sortKeys = try query.sortBy.map { k throws(QueryError) in (try orderExpr(k.expr, compiler, outputs), k.descending) }
        let topKey = try query.top.map { t throws(QueryError) in try orderExpr(t.by, compiler, outputs) }
        try checkModels(env)
        try columns(outputs.map { Column(name: $0.name, kind: $0.compiled.kind == .null ? .string : $0.compiled.kind) })

        let ordered = !sortKeys.isEmpty || topKey != nil
        let limit = query.limit?.0 ?? Int.max
        var emitted = 0
        let evals = outputs.map(\.compiled.eval)
        let byAlias = sortKeys.contains { $0.0.readsColumns } || (topKey?.readsColumns ?? false)
        // `top N by` a client field with a typed reading, nothing else to sort by: keep
        // only row numbers and numeric keys, and select (the general path below keeps
        // every row's tuple of values).
        if query.entity == .clients, let t = query.top, sortKeys.isEmpty, !byAlias, let topKey,
           let number = topKey.fastField?.number {
            FastPaths.taken?.add("top")
            let general = topKey.eval
            let rows = try env.clientRows(filter)
            let words = try Self.topWords(rows, env: env, number: number, batch: topKey.fastField?.numberBatch, general: general)
            let picked = TopSelection.greatest(words: words, topCount(t, words.count)).prefix(limit)
            // The output columns are read in row order (front to back through the
            // columns: in rank order every read is a cache miss), each value written
            // straight to its rank.
            var rank = [Int32](repeating: -1, count: rows.count)
            for (r, k) in picked.enumerated() { rank[k] = Int32(truncatingIfNeeded: r) }
            var inRowOrder: [Int] = [], ranks: [Int] = []
            inRowOrder.reserveCapacity(picked.count)
            ranks.reserveCapacity(picked.count)
            for (k, r) in rank.enumerated() where r >= 0 {
                inRowOrder.append(Int(rows[k]))
                ranks.append(Int(r))
            }
            let values = env.allCurrent && inRowOrder.count >= Self.splitOutputsAbove
                ? Self.clientOutputsOnTwoCores(inRowOrder, outputs, order: ranks)
                : Self.clientOutputs(inRowOrder, outputs, order: ranks)
            try emitBlock(values, count: picked.count, emit)
            return
        }
        // Unordered client rows: the rows that pass first (a run at a time where the
        // condition allows), then the output columns. Collected into a result whose
        // rows all read their columns as stored (or recomputed for the day): when no
        // column reads a per-row cache, each column is made over all the rows at once
        // (pure ones on a second core; the query's last checkpoint ends a cancelled
        // one); otherwise a slice of 1,024 rows at a time (list columns share caches of
        // decoded client states, which hold 2,048 rows), moved into one array per
        // column, with a checkpoint between slices. A streamed result, or rows replayed
        // as of `today`, goes out 1,024 rows at a time.
        if query.entity == .clients && !ordered {
            let rows = try env.clientRows(filter, limit: limit).map { Int($0) }
            if collector != nil, rows.allSatisfy(env.isCurrent) {
                let values: [[Value]]
                if outputs.allSatisfy(\.compiled.wholeColumn) {
                    values = rows.count >= Self.splitOutputsAbove
                        ? Self.clientOutputsOnTwoCores(rows, outputs, order: nil)
                        : Self.clientOutputs(rows, outputs)
                } else {
                    values = try Self.columnsInSlices(rows, width: outputs.count, slice: 1_024) { Self.clientOutputs($0, outputs) }
                }
                try emitBlock(values, count: rows.count, emit)
                return
            }
            var start = 0
            while start < rows.count {
                try QueryCancellation.checkpoint()
                let chunk = Array(rows[start..<min(start + 1024, rows.count)])
                try emitBlock(Self.clientOutputs(chunk, outputs), count: chunk.count, emit)
                start += chunk.count
            }
            return
        }
        // Ordered queries keep each row's identity and order keys; the output columns
        // are computed only for the rows that survive top/limit.
        var kept: [(i: Int, k: Int, item: Int, sort: [V], top: V)] = []
        try forEachInputRow(env: env, filter: filter) { row in
            if ordered {
                if byAlias { row.columns = evals.map { $0(row) } }
                kept.append((row.i, row.k, row.item, sortKeys.map { $0.0.eval(row) }, topKey?.eval(row) ?? .null))
                return true
            }
            guard emitted < limit else { return false }
            try emit(evals.map { $0(row).output })
            emitted += 1
            return emitted < limit
        }
        guard ordered else { return }
        let order = try arrange(count: kept.count, sort: { i in kept[i].sort }, descending: sortKeys.map(\.1),
                            top: topKey == nil ? nil : { i in kept[i].top })
        let row = Row()
        for k in order.prefix(limit) {
            row.i = kept[k].i
            row.k = kept[k].k
            row.item = kept[k].item
            try emit(evals.map { $0(row).output })
        }
    }

    /// Hands `count` rows given column by column (`columns[c][r]`) to the collector,
    /// or row by row to `emit` when the result is streamed.
    private func emitBlock(_ columns: [[Value]], count: Int, _ emit: ([Value]) throws -> Void) throws {
        // A cancelled query stops before its block goes out: a column cut short by the
        // cancellation (``QueryEnv/personalValues(_:_:)``) is never shown.
        try QueryCancellation.checkpoint()
        if let collector, !columns.isEmpty {
            collector.append(block: columns, count: count)
            return
        }
        for r in 0..<count { try emit(columns.map { $0[r] }) }
    }

    /// The output columns (`[c][j]`) of client rows `rows`, computed column by column: one column's
    /// reads of many rows are independent, so their memory loads overlap (row by row,
    /// each row's seven or so reads of far-apart columns came one after another).
    /// With `order`, row `rows[j]`'s values land at position `order[j]` (a permutation):
    /// read in row order, written once in rank order.
    static func clientOutputs(_ rows: [Int], _ outputs: [Output], order: [Int]? = nil) -> [[Value]] {
        let row = Row()
        return outputs.map { o in
            if let column = o.compiled.clientColumn { return column(rows, order) }
            let e = o.compiled.eval
            return Compiler.placed(rows.count, order) { j in
                row.i = rows[j]
                return e(row).output
            }
        }
    }

    /// The `width` output columns of `rows`, made by `compute` a slice of at most
    /// `slice` rows at a time (a cancellation checkpoint before each) and moved into one
    /// array per column: no value is copied (a retain each) or released on the way.
    static func columnsInSlices(_ rows: [Int], width: Int, slice: Int,
                                _ compute: ([Int]) -> [[Value]]) throws -> [[Value]] {
        let n = rows.count
        var columns = (0..<width).map { _ in [Value](repeating: .null, count: n) }
        var filled = 0
        while filled < n {
            try QueryCancellation.checkpoint()
            let end = min(filled + max(slice, 1), n)
            var block = compute(Array(rows[filled..<end]))
            for c in 0..<min(width, block.count) {
                let m = min(block[c].count, end - filled)
                block[c].withUnsafeMutableBufferPointer { src in
                    columns[c].withUnsafeMutableBufferPointer { dst in
                        guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                        // The nulls there go (nothing to release), the slice's values move
                        // in, and the block is left holding nulls.
                        (d + filled).deinitialize(count: m)
                        (d + filled).moveInitialize(from: s, count: m)
                        s.initialize(repeating: .null, count: m)
                    }
                }
            }
            filled = end
        }
        return columns
    }

    /// Output blocks of at least this many rows compute their pure columns on a second core.
    @TaskLocal static var splitOutputsAbove = 20_000

    /// ``clientOutputs(_:_:order:)`` when every row is current: the columns with a pure
    /// form (ids and typed numbers, which read immutable columns only) on a second
    /// thread while this one computes the others (which may use the query's memos,
    /// caches and read transaction, so they stay here).
    static func clientOutputsOnTwoCores(_ rows: [Int], _ outputs: [Output], order: [Int]?) -> [[Value]] {
        let pure = outputs.indices.filter { outputs[$0].compiled.pureColumn != nil }
        guard !pure.isEmpty, pure.count < outputs.count, ProcessInfo.processInfo.activeProcessorCount > 1 else {
            return clientOutputs(rows, outputs, order: order)
        }
        let work = PureColumns(columns: pure.compactMap { outputs[$0].compiled.pureColumn }, rows: rows, order: order)
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { work.run() }
        let others = clientOutputs(rows, outputs.indices.filter { !pure.contains($0) }.map { outputs[$0] }, order: order)
        group.wait()
        var fromPure = work.results.makeIterator(), fromOthers = others.makeIterator()
        return outputs.indices.map { pure.contains($0) ? fromPure.next() ?? [] : fromOthers.next() ?? [] }
    }

    /// Pure output columns computed on another thread (handed over whole, read back
    /// after the group's wait).
    private final class PureColumns: @unchecked Sendable {
        let columns: [([Int], [Int]?) -> [Value]]
        let rows: [Int]
        let order: [Int]?
        var results: [[Value]] = []
        init(columns: [([Int], [Int]?) -> [Value]], rows: [Int], order: [Int]?) {
            self.columns = columns
            self.rows = rows
            self.order = order
        }
        func run() { results = columns.map { $0(rows, order) } }
    }

    /// Throws ``NeedsModelFit`` when the compiled query uses a model none is stored for.
    private func checkModels(_ env: QueryEnv) throws {
        if autoFit && env.modelCache.missing { throw NeedsModelFit() }
    }

    /// Whether an expression calls a row aggregate (`count()`, `avg(x)`, …) outside
    /// client-scoped aggregates. Recursion is bounded by the parser's nesting limit.
    static func hasRowAggregate(_ e: Expr) -> Bool {
        switch e.kind {
        case .call(let name, let args):
            return ["count", "sum", "avg", "min", "max", "median", "percentile", "share"].contains(name) || args.contains(where: hasRowAggregate)
        case .not(let x), .negate(let x), .isNull(let x, _): return hasRowAggregate(x)
        case .binary(_, let a, let b), .contains(let a, let b, _), .inLast(let a, let b, _):
            return hasRowAggregate(a) || hasRowAggregate(b)
        case .inList(let x, let items, _): return hasRowAggregate(x) || items.contains(where: hasRowAggregate)
        case .between(let a, let b, let c, _): return hasRowAggregate(a) || hasRowAggregate(b) || hasRowAggregate(c)
        default: return false
        }
    }

    /// Orders rows: `top` picks the greatest by its key (ties: natural order), then
    /// `sort by` orders (nulls last either way; ties keep the order they had).
    /// Watches for cancellation while sorting: sorting millions of rows by a string
    /// takes seconds.
    private func arrange(count n: Int, sort: (Int) -> [V], descending: [Bool], top: ((Int) -> V)?) throws -> [Int] {
        let check = SortCancellation()
        var order = Array(0..<n)
        if let top, let t = query.top {
            let keys = (0..<n).map(top)
            if let numbers = Self.numericKeys(keys) {
                order = TopSelection.greatest(numbers, topCount(t, n))
            } else {
            try order.sort { a, b in
                try check.tick()
                let c = Order.compare(keys[a], keys[b])
                if c != 0 {
                    if keys[a].isNull { return false }
                    if keys[b].isNull { return true }
                    return c > 0
                }
                return a < b
            }
            order = Array(order.prefix(topCount(t, n)))
            }
        }
        if !descending.isEmpty {
            // Sort keys of the rows still in play (all of them, or those `top` kept).
            var keys = [[V]](repeating: [], count: n)
            for i in order { keys[i] = sort(i) }
            let rank = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
            try order.sort { a, b in
                try check.tick()
                for (k, desc) in descending.enumerated() {
                    let x = keys[a][k], y = keys[b][k]
                    if x.isNull != y.isNull { return y.isNull }
                    let c = Order.compare(x, y)
                    if c != 0 { return desc ? c > 0 : c < 0 }
                }
                return (rank[a] ?? a) < (rank[b] ?? b)
            }
        }
        return order
    }

    /// The `top` key of each of `rows` (ascending row numbers) as a ``TopSelection``
    /// word (from the number, NaN for null): read a run of rows at a time from the
    /// column where the field has a batch reading; rows whose projection is not
    /// current for `today` go through `general`.
    static func topWords(_ rows: [Int32], env: QueryEnv, number: (Int) -> Double, batch: NumberBatch?,
                         general: (Row) -> V) throws -> [UInt64] {
        var keys = [UInt64](repeating: 0, count: rows.count)
        let row = Row()
        func slow(_ i: Int) -> Double {
            row.i = i
            return general(row).numeric ?? .nan
        }
        guard let batch else {
            for (j, r) in rows.enumerated() {
                let i = Int(r)
                keys[j] = TopSelection.word(env.isCurrent(i) ? number(i) : slow(i))
            }
            return keys
        }
        try withUnsafeTemporaryAllocation(of: Double.self, capacity: fastBatchSize) { buffer in
            guard let run = buffer.baseAddress else { return }
            var j = 0
            while j < rows.count {
                try QueryCancellation.checkpoint()
                let start = Int(rows[j])
                let n = min(fastBatchSize, env.table.count - start)
                batch(start, n, run)
                let end = start + n
                while j < rows.count, Int(rows[j]) < end {
                    let i = Int(rows[j])
                    keys[j] = TopSelection.word(env.isCurrent(i) ? run[i - start] : slow(i))
                    j += 1
                }
            }
        }
        return keys
    }

    /// The keys as doubles (NaN for null) when every one is a number, money, duration
    /// or date — kinds that order as their numbers do.
    static func numericKeys(_ keys: [V]) -> [Double]? {
        var out: [Double] = []
        out.reserveCapacity(keys.count)
        for k in keys {
            switch k {
            case .null: out.append(.nan)
            case .num(let x), .money(let x), .dur(let x): out.append(x)
            case .date(let d): out.append(Double(d))
            default: return nil
            }
        }
        return out
    }

    /// Rows kept by `top`: N, or ceil(p × n ÷ 100) computed in decimal.
    private func topCount(_ t: TopClause, _ n: Int) -> Int {
        guard t.percent else { return Int(t.count) }
        var exact = (Decimal(string: "\(t.count)") ?? Decimal(t.count)) * Decimal(n) / 100
        var rounded = Decimal()
        NSDecimalRound(&rounded, &exact, 0, .up)
        return NSDecimalNumber(decimal: rounded).intValue
    }

    /// A `sort by` or `top` expression: a `show` alias, or an expression on the row.
    private func orderExpr(_ e: Expr, _ compiler: Compiler, _ outputs: [Output]) throws(QueryError) -> Compiled {
        if case .name(let w) = e.kind, let k = outputs.firstIndex(where: { $0.name.lowercased() == w.lowercased() }),
           query.show.contains(where: { $0.alias?.lowercased() == w.lowercased() }) {
            let kind = outputs[k].compiled.kind
            var c = Compiled(kind: kind, eval: { row in k < row.columns.count ? row.columns[k] : .null }, range: e.range)
            c.readsColumns = true
            return c
        }
        return try compiler.resolved(e)
    }

    /// The column name of a `show` item without alias: its text with spacing normalised.
    func columnName(_ e: Expr) -> String {
        let b = Array(source.utf8)
        let raw = String(decoding: b[max(0, e.range.start)..<min(b.count, e.range.end)], as: UTF8.self)
        return raw.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    /// Calls `body` with each input row that passes `where`, until it returns false.
    private func forEachInputRow(env: QueryEnv, filter: Compiled?, _ body: (Row) throws -> Bool) throws {
        let row = Row()
        let test = filter?.eval
        if query.entity == .clients {
            if filter?.fast != nil { FastPaths.taken?.add("filter") }
            try env.forEachClientRow(filter, row: row) { i in
                row.i = i
                return try body(row)
            }
            return
        }
        let t = env.events
        let n = env.eventCount
        let code = query.entity.eventType?.code
        let isItems = query.entity == .items
        let today = env.today
        let type = t.type.base, day = t.day.base, client = t.client.base
        let fast = filter?.fast
        if fast != nil { FastPaths.taken?.add("filter") }
        let hasFast = fast != nil
        let passes: (Int) -> Bool = fast ?? { _ in true }
        let table = env.table
        let anyType = code == nil
        let wanted = code ?? 0
        for k in 0..<n {
            if k & 0xFFFF == 0 { try QueryCancellation.checkpoint() }
            if !anyType && type[k] != wanted { continue }
            if day[k] > today { continue }
            row.k = k
            row.i = -1
            var rowSet = false
            if isItems {
                for item in t.items(k) {
                    guard passes(item) else { continue }
                    if !rowSet { row.i = table.row(ofNumber: client[k]) ?? -1; rowSet = true }
                    row.item = item
                    if !hasFast, let test, !test(row).isTrue { continue }
                    guard try body(row) else { return }
                }
            } else {
                guard passes(k) else { continue }
                row.i = table.row(ofNumber: client[k]) ?? -1
                row.item = -1
                if !hasFast, let test, !test(row).isTrue { continue }
                guard try body(row) else { return }
            }
        }
    }

    // MARK: Grouping

    private func grouped(env: QueryEnv, inputScope: Scope, filter: Compiled?, columns: ([Column]) throws -> Void,
                         emit: ([Value]) throws -> Void) throws {
        let input = Compiler(env: env, source: source, parameters: parameters, scope: inputScope)
        var keys: [Compiled] = []
        for k in query.groupBy {
            let c = try input.resolved(k)
            if c.hasAggregate { throw QueryError("group by needs a value of each row, not an aggregate", at: k.range, source: source) }
            if c.perItem { throw QueryError("\"\(columnName(k))\" is one value per line item: group items instead", at: k.range, source: source) }
            keys.append(c)
        }
        let collector = AggregateCollector(inputScope: inputScope)
        var out = Compiler(env: env, source: source, parameters: parameters, scope: .group, aggregates: collector)
        out.groupKeys = query.groupBy.map { (input.normalized($0.range), .null) }
        for (j, k) in keys.enumerated() { out.groupKeys[j].kind = k.kind }

        var outputs: [Output] = []
        var showItems = query.show
        if showItems.isEmpty { showItems = [ShowItem(expr: Expr(.call("count", []), query.entityRange), alias: "count()")] }
        for item in showItems {
            let c: Compiled
            if let j = out.groupKeys.firstIndex(where: { $0.text == input.normalized(item.expr.range) }) {
                let kind = out.groupKeys[j].kind
                c = Compiled(kind: kind, eval: { row in j < row.keys.count ? row.keys[j] : .null }, range: item.expr.range)
            } else {
                c = try out.resolved(item.expr)
                if !c.hasAggregate && !c.isConstant {
                    throw QueryError("\"\(columnName(item.expr))\" is neither a group key nor an aggregate", at: item.expr.range,
                                     hint: query.groupBy.isEmpty ? "add group by \(columnName(item.expr)), or use an aggregate such as count()" : "add it to group by, or use an aggregate", source: source)
                }
            }
            outputs.append(Output(name: item.alias ?? columnName(item.expr), compiled: c))
        }
        let keyColumns = query.groupBy.enumerated().map { j, k in Column(name: columnName(k), kind: keys[j].kind == .null ? .string : keys[j].kind) }
        out.aliases = outputs.enumerated().compactMap { n, o in
            showItems[n].alias.map { ($0, o.compiled.kind, keys.count + n) }
        }
        let sortKeys = try query.sortBy.map { k throws(QueryError) in (try groupOrderExpr(k.expr, out, input), k.descending) }
        let topKey = try query.top.map { t throws(QueryError) in try groupOrderExpr(t.by, out, input) }
        try checkModels(env)
        try columns(keyColumns + outputs.map { Column(name: $0.name, kind: $0.compiled.kind == .null ? .string : $0.compiled.kind) })

        // Feed the groups (state in a class: no closure-captured boxes per row).
        let specs = collector.specs
        let table = GroupTable(specs: specs)
        let keyEvals = keys.map(\.eval)
        let argEvals = specs.map { $0.argument?.eval }
        if !feedFast(env: env, input: input, filter: filter, keys: keys, specs: specs, table: table) {
          try forEachInputRow(env: env, filter: filter) { row in
            let g = keyEvals.isEmpty ? table.single() : table.group(keyEvals.map { $0(row) })
            table.rows[g] += 1
            table.total += 1
            let base = g &* specs.count
            for (s, arg) in argEvals.enumerated() {
                if let arg { table.accumulators[base + s].add(arg(row)) }
            }
            return true
          }
        }
        // A walk stopped midway leaves groups incomplete: none of them is shown.
        try QueryCancellation.checkpoint()
        // An all-aggregate query without group by has one row even over no rows.
        if table.display.isEmpty && query.groupBy.isEmpty { _ = table.single() }
        let total = table.total
        var groups: [(display: [V], rows: Int, accumulators: [Accumulator])] = []
        for g in table.display.indices {
            groups.append((table.display[g], table.rows[g], Array(table.accumulators[(g * specs.count)..<((g + 1) * specs.count)])))
        }
        var results: [(values: [V], sort: [V], top: V, keys: [V])] = []
        let row = Row()
        for var g in groups {
            row.keys = g.display
            row.aggs = specs.enumerated().map { s, spec in
                switch spec.function {
                case "count" where spec.argument == nil: return .num(Double(g.rows))
                case "share": return total == 0 ? .null : .num(Double(g.rows) / Double(total))
                default: return g.accumulators[s].result()
                }
            }
            row.columns = g.display + outputs.map { $0.compiled.eval(row) }
            results.append((row.columns, sortKeys.map { $0.0.eval(row) }, topKey?.eval(row) ?? .null, g.display))
        }
        // Natural order of groups: keys ascending, nulls last, strings ignoring case.
        var natural = Array(results.indices)
        let check = SortCancellation()
        try natural.sort { a, b in
            try check.tick()
            for (x, y) in zip(results[a].keys, results[b].keys) {
                let c = Order.compare(x, y)
                if c != 0 { return c < 0 }
            }
            return a < b
        }
        let reordered = natural.map { results[$0] }
        let order = try arrange(count: reordered.count, sort: { reordered[$0].sort }, descending: sortKeys.map(\.1),
                            top: topKey == nil ? nil : { reordered[$0].top })
        for i in order.prefix(query.limit?.0 ?? Int.max) { try emit(reordered[i].values.map(\.output)) }
    }

    /// Groups met so far, their row counts and accumulators (flat: group × aggregate).
    final class GroupTable {
        let specs: [AggregateSpec]
        @exclusivity(unchecked) var index: [[V]: Int] = [:]
        @exclusivity(unchecked) var display: [[V]] = []
        @exclusivity(unchecked) var rows: [Int] = []
        @exclusivity(unchecked) var accumulators: [Accumulator] = []
        @exclusivity(unchecked) var total = 0

        init(specs: [AggregateSpec]) { self.specs = specs }

        func add(_ key: [V]) -> Int {
            display.append(key)
            rows.append(0)
            accumulators.append(contentsOf: specs.map { Accumulator(function: $0.function, percentile: $0.percentile) })
            return display.count - 1
        }

        /// The one group of a query without group by.
        func single() -> Int { display.isEmpty ? add([]) : 0 }

        /// The group of a key; strings group ignoring case (the first spelling shows).
        func group(_ key: [V]) -> Int {
            let folded = key.map { v -> V in if case .str(let s) = v { return .str(Text.fold(s)) } else { return v } }
            if let g = index[folded] { return g }
            let g = add(key)
            index[folded] = g
            return g
        }
    }

    /// Feeds `table` through typed columns — integer group codes, double aggregate
    /// arguments, the filter's fast form — when the filter, every key and every
    /// aggregate argument have one; returns false, having done nothing, otherwise.
    /// Groups are met in the same order as on the general path, and a group's key
    /// values are those of its first row, so the answers are the same.
    private func feedFast(env: QueryEnv, input: Compiler, filter: Compiled?, keys: [Compiled], specs: [AggregateSpec],
                          table: GroupTable) -> Bool {
        if let filter, filter.fast == nil { return false }
        guard keys.count <= 2 else { return false }
        var codes: [(Int) -> Int32] = []
        for k in keys {
            guard let c = k.code ?? input.fastCode(k) else { return false }
            codes.append(c)
        }
        var numbers: [((Int) -> Double)?] = []
        var makes: [(Double) -> V] = []
        for spec in specs {
            if let a = spec.argument {
                guard let get = a.fastField?.number else { return false }
                numbers.append(get)
            } else {
                numbers.append(nil)
            }
            switch spec.argument?.kind ?? .number {
            case .money: makes.append { .money($0) }
            case .duration: makes.append { .dur($0) }
            case .date: makes.append { .date(Day($0)) }
            default: makes.append { .num($0) }
            }
        }
        if query.entity == .clients && !env.allCurrent {
            // Typed client columns hold only for rows current for `today`.
            let table = env.table, today = env.today
            let absent = env.absentRows
            for i in 0..<table.count where table.i32(.maxDay, i) > today && !(absent?[i] ?? false) { return false }
        }
        FastPaths.taken?.add("group")
        let fast = filter?.fast
        let keyEvals = keys.map(\.eval)
        let row = Row()
        var index: [Int64: Int] = [:]
        // Small non-negative codes (string classes, years, months) index an array.
        var small = [Int32](repeating: -1, count: 4096)
        let width = specs.count
        // Closures unwrapped once: binding an optional closure per row costs a retain.
        let keyOf: (Int) -> Int64
        switch codes.count {
        case 0: keyOf = { _ in 0 }
        case 1: let a = codes[0]; keyOf = { Int64(a($0)) }
        default: let a = codes[0], b = codes[1]; keyOf = { Int64(a($0)) << 32 | Int64(UInt32(bitPattern: b($0))) }
        }
        let passes: (Int) -> Bool = fast ?? { _ in true }
        let fed = numbers.enumerated().compactMap { s, get in get.map { (s, $0, makes[s]) } }
        let hasFed = !fed.isEmpty
        // The first two fed aggregates as plain closures the walk captures: read from the
        // array of tuples, each call per row cost a retain and a release.
        let noNumber: (Int) -> Double = { _ in .nan }, noMake: (Double) -> V = { _ in .null }
        let s0 = fed.count > 0 ? fed[0].0 : -1, get0 = fed.count > 0 ? fed[0].1 : noNumber, make0 = fed.count > 0 ? fed[0].2 : noMake
        let s1 = fed.count > 1 ? fed[1].0 : -1, get1 = fed.count > 1 ? fed[1].1 : noNumber, make1 = fed.count > 1 ? fed[1].2 : noMake
        let moreFed = Array(fed.dropFirst(2))
        var accumulators: [Accumulator] = []
        var rows: [Int] = []
        var total = 0
        let cancellation = QueryCancellation.current
        var seen = 0
        if let cells = aggregateColumns(env: env, filter: filter, keys: keys, specs: specs) {
            // Stopped: nothing more to walk (the caller's checkpoint throws).
            if cells.cancelled { return true }
            // Events (or line items) of one type counted and summed per raw string id and
            // date bucket in one tight loop; the groups are then made in the order the
            // general walk would make them (by each cell's first unit), so the result is
            // the same.
            FastPaths.taken?.add("event-columns")
            // The group-making lines below repeat the walk's on purpose: shared through a
            // local function, the captured tallies slowed the walk (Q4 at 1M 74/91 →
            // 148/138 ms, alternating builds).
            for c in cells.first.indices {
                let unit = cells.first[c], n = cells.counts[c]
                let key = keyOf(unit)
                var g = key >= 0 && key < 4096 ? Int(small[Int(key)]) : index[key] ?? -1
                if g < 0 {
                    setRow(row, unit: unit, env: env)
                    g = table.add(keyEvals.map { $0(row) })
                    accumulators.append(contentsOf: specs.map { Accumulator(function: $0.function, percentile: $0.percentile) })
                    rows.append(0)
                    if key >= 0 && key < 4096 { small[Int(key)] = Int32(g) } else { index[key] = g }
                }
                rows[g] += n
                total += n
                let base = g &* width
                for (f, (s, _, make)) in fed.enumerated() {
                    accumulators[base + s].add(count: cells.nonNull[f][c], sum: Double(cells.sums[f][c]), make: make)
                }
            }
            table.accumulators = accumulators
            table.rows = rows
            table.total = total
            return true
        }
        // Client rows with a run-at-a-time filter are filtered by the walk itself.
        let batched = query.entity == .clients && filter?.batch != nil
        let test: (Int) -> Bool = batched ? { _ in true } : passes
        forEachUnit(env: env, filter: batched ? filter : nil) { unit in
            seen &+= 1
            if seen & 0xFFFF == 0, cancellation?.isCancelled == true { return }
            guard test(unit) else { return }
            let key = keyOf(unit)
            var g = key >= 0 && key < 4096 ? Int(small[Int(key)]) : index[key] ?? -1
            if g < 0 {
                setRow(row, unit: unit, env: env)
                g = table.add(keyEvals.map { $0(row) })
                accumulators.append(contentsOf: specs.map { Accumulator(function: $0.function, percentile: $0.percentile) })
                rows.append(0)
                if key >= 0 && key < 4096 { small[Int(key)] = Int32(g) } else { index[key] = g }
            }
            rows[g] += 1
            total += 1
            if hasFed {
                let base = g &* width
                if s0 >= 0 { accumulators[base + s0].add(number: get0(unit), make: make0) }
                if s1 >= 0 { accumulators[base + s1].add(number: get1(unit), make: make1) }
                for (s, get, make) in moreFed { accumulators[base + s].add(number: get(unit), make: make) }
            }
        }
        table.accumulators = accumulators
        table.rows = rows
        table.total = total
        return true
    }

    /// For a grouped query over one event type (or line items) keyed by at most two
    /// string fields or date buckets of `at`, with no condition or only `at in last D`,
    /// and only `count()`, `share()` and `count`/`sum`/`avg` of integer fields: the
    /// cells of ``ColumnAggregation``. Nil when the query has another shape.
    private func aggregateColumns(env: QueryEnv, filter: Compiled?, keys: [Compiled], specs: [AggregateSpec])
        -> ColumnAggregation.Cells? {
        guard query.entity != .clients else { return nil }
        if let filter, filter.eventDays == nil { return nil }
        var raw: [ColumnAggregation.Key] = []
        for k in keys {
            if let b = k.dayBucket {
                raw.append(.bucket(b))
                continue
            }
            switch k.fastField?.raw {
            case .string(let ids, let byItem)?: raw.append(.string(ids, byItem: byItem))
            case .day?: raw.append(.bucket("day"))
            default: return nil
            }
        }
        var summed: [ColumnAggregation.Summed] = []
        for spec in specs {
            guard let a = spec.argument else { continue }
            guard ["count", "sum", "avg"].contains(spec.function), case .number(let p, let byItem)? = a.fastField?.raw else {
                return nil
            }
            summed.append(.init(values: p, byItem: byItem))
        }
        let days = filter?.eventDays ?? Int32.min...env.today
        return DayCube.aggregate(env.events, eventCount: env.eventCount, type: query.entity.eventType?.code,
                                 items: query.entity == .items, from: days.lowerBound,
                                 through: min(days.upperBound, env.today), keys: raw, summed: summed)
    }

    /// Calls `body` with each unit of the query's entity in the world of `today`:
    /// client rows, event indexes of the entity's type, or item indexes. With a client
    /// `filter` (one with a batch form), only the rows that pass, a run at a time; the
    /// walk stops only when cancelled, which the caller checks again after the query.
    private func forEachUnit(env: QueryEnv, filter: Compiled? = nil, _ body: (Int) -> Void) {
        if query.entity == .clients {
            if let filter {
                try? env.forEachClientRow(filter, row: Row()) { unit in
                    body(unit)
                    return true
                }
            } else if let absent = env.absentRows {
                for i in 0..<env.table.count where !absent[i] { body(i) }
            } else {
                for i in 0..<env.table.count { body(i) }
            }
            return
        }
        let t = env.events
        let anyType = query.entity.eventType == nil
        let wanted = query.entity.eventType?.code ?? 0
        let type = t.type.base, day = t.day.base
        let today = env.today
        let isItems = query.entity == .items
        for k in 0..<env.eventCount {
            if !anyType && type[k] != wanted { continue }
            if day[k] > today { continue }
            if isItems {
                for j in t.items(k) { body(j) }
            } else {
                body(k)
            }
        }
    }

    /// Points `row` at a unit (for the general evaluation of its group keys).
    private func setRow(_ row: Row, unit: Int, env: QueryEnv) {
        switch query.entity {
        case .clients:
            row.i = unit
        case .items:
            row.item = unit
            row.k = Int(env.events.itemEvent[unit])
            row.i = env.table.row(ofNumber: env.events.client[row.k]) ?? -1
        default:
            row.k = unit
            row.i = env.table.row(ofNumber: env.events.client[unit]) ?? -1
        }
    }

    private func groupOrderExpr(_ e: Expr, _ out: Compiler, _ input: Compiler) throws(QueryError) -> Compiled {
        if let j = out.groupKeys.firstIndex(where: { $0.text == input.normalized(e.range) }) {
            let kind = out.groupKeys[j].kind
            return Compiled(kind: kind, eval: { row in j < row.keys.count ? row.keys[j] : .null }, range: e.range)
        }
        let c = try out.resolved(e)
        return c
    }
}

/// Checks a query's cancellation every 4,096 comparisons of a sort (the sort's
/// comparator throws ``QueryInterrupted`` and the sort stops there).
final class SortCancellation {
    private let cancellation = QueryCancellation.current
    private var comparisons = 0

    func tick() throws(QueryInterrupted) {
        comparisons &+= 1
        if comparisons & 0xFFF == 0, cancellation?.isCancelled == true { throw QueryInterrupted() }
    }
}
