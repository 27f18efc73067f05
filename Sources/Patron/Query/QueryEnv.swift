import LMDB

/// The state of one query evaluation: the snapshot, `today`, the client table, and
/// per-query caches (replayed clients, strings, the current client's events).
final class QueryEnv {
    let store: Store
    let txn: Transaction
    let table: ClientTable
    /// Set when the table was recomputed for an earlier `today` (``AsOfTable``).
    private let rowKinds: [AsOfTable.RowKind]?
    /// With `rowKinds`: per row, whether a `client` event comes after `today`.
    private let laterClientEvent: [Bool]?
    let today: Day
    /// Rows whose client has events after `today`: the state replayed up to `today`
    /// (nil when the client has no event on or before it, so is not in the world).
    private var replayed: [Int: ClientState?] = [:]
    private var rowOverride: [Int: [UInt8]] = [:]
    /// Dictionary strings read so far, by id (nil: not read yet).
    private var strings: [V?] = []
    /// Rows' projections and states read lately, by row: output columns are computed
    /// a chunk of rows at a time (``Executor/clientOutputs(_:_:)``), so each list or
    /// personal column of a chunk finds the rows the previous column decoded.
    private var projectionCache: [Int: ClientProjection?] = [:]
    private var stateCache: [Int: ClientState] = [:]
    private static let rowCacheLimit = 2_048
    private var eventData: (table: EventTable, count: Int)?
    private var clientEventIndex: ClientEvents?
    private var decodedCache: (Int, EventCodec.Decoded?)?
    private var poolValues: [V] = []
    /// Model-field values computed once per query (ModelFields.swift).
    let modelCache = ModelCache()
    /// The first error met while evaluating (rows keep going; the query then fails with it).
    var failure: (any Error)?
    let database: Database

    init(database: Database, txn: Transaction, table: ClientTable, today: Day, asOf: ClientTable.AsOf? = nil) {
        self.database = database
        self.store = database.store
        self.txn = txn
        self.table = table
        self.today = today
        rowKinds = asOf?.kinds
        laterClientEvent = asOf?.laterClientEvent
    }

    func fail(_ e: any Error) { if failure == nil { failure = e } }

    /// Whether row `i`'s stored projection covers only events up to `today`.
    @inline(__always) func isCurrent(_ i: Int) -> Bool { table.i32(.maxDay, i) <= today }

    /// The replayed state of a row whose client has events after `today`.
    func replayedState(_ i: Int) -> ClientState? {
        if let s = replayed[i] { return s }
        var s: ClientState?
        do {
            let st = try database.replay(root: table.numbers[i], upTo: today, txn: txn)
            s = st.eventCount > 0 ? st : nil
        } catch {
            fail(error)
        }
        replayed[i] = s
        if let s { rowOverride[i] = s.encodeRow() }
        return s
    }

    /// Whether row `i`'s client has at least one event in the world of the query.
    func exists(_ i: Int) -> Bool {
        if isAbsent(i) { return false }
        return isCurrent(i) || replayedState(i) != nil
    }

    /// Whether row `i`'s columns were recomputed for `today` from the event table.
    @inline(__always) func isRecomputed(_ i: Int) -> Bool { rowKinds?[i] == .recomputed }

    /// Whether row `i` is known to have no event on or before `today`.
    @inline(__always) func isAbsent(_ i: Int) -> Bool { rowKinds?[i] == .absent }

    /// Whether each row is known to have no event on or before `today` (for loops:
    /// read once, not per row), or nil when none is.
    private(set) lazy var absentRows: [Bool]? = rowKinds.map { $0.map { $0 == .absent } }

    /// Whether every row's stored projection is current for `today` (no client has a
    /// later event), read from the table without a scan.
    var allCurrent: Bool { table.latestDay <= today }

    /// Recomputes the columns of clients with events after `today` from the event
    /// table (``AsOfTable``) when there are more than a few, so the query scans
    /// columns instead of replaying each one; the table is kept with the snapshot's
    /// client table for the next query of the same day (``ClientTable/asOf(_:make:)``).
    /// `tallies`: whether the query may read `location` or `provider`.
    /// Returns the environment to use instead, or nil to keep this one.
    func recomputedForToday(tallies: Bool) -> QueryEnv? {
        guard rowKinds == nil, !allCurrent else { return nil }
        var stale = 0
        for i in 0..<table.count where !isCurrent(i) { stale += 1 }
        guard FastPaths.enabled, stale > FastPaths.recomputeAbove else { return nil }
        let (t, count) = (events, eventCount)
        let ce = clientEvents
        let strings = t.pool.strings
        var made: ClientTable.AsOf?
        let kept = table.asOf(ClientTable.AsOfKey(day: today, tallies: tallies)) {
            var failed = false
            made = AsOfTable.make(base: table, events: t, count: count, clientEvents: ce, day: today, tallies: tallies) { id in
                do { return try self.store.stringID(strings[Int(id)], txn: self.txn) ?? 0 } catch {
                    self.fail(error)
                    failed = true
                    return 0
                }
            }
            // Kept only when made from every event of the snapshot without an error.
            guard let made, !failed, table.isWhole(count) else { return .stopped }
            return .value(made)
        }
        if kept != nil && made == nil { FastPaths.taken?.add("as-of-kept") }
        guard let asOf = kept ?? made else { return nil }
        let env = QueryEnv(database: database, txn: txn, table: asOf.table, today: today, asOf: asOf)
        env.eventData = eventData
        env.clientEventIndex = clientEventIndex
        env.failure = failure
        return env
    }

    /// Calls `body` with each client row in the world of the query (on or before
    /// `today`) that passes `filter`, until it returns false: rows with nothing after
    /// `today` are tested on the columns (the typed fast path when there is one), the
    /// others only if they exist as of `today`. `row` is the evaluation row to use.
    func forEachClientRow(_ filter: Compiled?, row: Row, _ body: (Int) throws -> Bool) throws {
        if let batch = filter?.batch, let test = filter?.eval {
            FastPaths.taken?.add("batch")
            return try forEachClientRow(batch: batch, test: test, row: row, body)
        }
        let fast = filter?.fast
        let test = filter?.eval
        let passes: (Int) -> Bool = fast ?? { _ in true }
        for i in 0..<table.count {
            if i & 0x3FFF == 0 { try QueryCancellation.checkpoint() }
            if table.i32(.maxDay, i) <= today {
                if fast != nil {
                    guard passes(i) else { continue }
                } else if let test {
                    row.i = i
                    guard test(row).isTrue else { continue }
                }
            } else {
                guard exists(i) else { continue }
                row.i = i
                if let test, !test(row).isTrue { continue }
            }
            guard try body(i) else { return }
        }
    }

    /// The rows that pass `filter` (every row with an event on or before `today`
    /// without one), ascending: the same rows as ``forEachClientRow(_:row:_:)``,
    /// gathered without a call per row where the condition allows; at most `limit`.
    func clientRows(_ filter: Compiled?, limit: Int = .max) throws -> [Int32] {
        var out: [Int32] = []
        guard limit > 0 else { return out }
        if let filter {
            if filter.fast != nil { FastPaths.taken?.add("filter") }
            let row = Row()
            try forEachClientRow(filter, row: row) { i in
                out.append(Int32(truncatingIfNeeded: i))
                return out.count < limit
            }
            return out
        }
        out.reserveCapacity(min(table.count, limit))
        let maxDay = table.column(.maxDay)
        let today = self.today
        for i in 0..<table.count {
            if i & 0xFFFF == 0 { try QueryCancellation.checkpoint() }
            if Int32(bitPattern: maxDay[i]) <= today || exists(i) {
                out.append(Int32(truncatingIfNeeded: i))
                if out.count == limit { break }
            }
        }
        return out
    }

    /// ``forEachClientRow(_:row:_:)`` with the condition's batch form: current rows
    /// are tested a run at a time, the others one by one as of `today`.
    private func forEachClientRow(batch: FastBatch, test: (Row) -> V, row: Row, _ body: (Int) throws -> Bool) throws {
        let count = table.count
        let maxDay = table.column(.maxDay)
        let today = self.today
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: fastBatchSize) { buffer in
            guard let mask = buffer.baseAddress else { return }
            var start = 0
            while start < count {
                try QueryCancellation.checkpoint()
                let n = min(fastBatchSize, count - start)
                batch(start, n, mask)
                for j in 0..<n {
                    let i = start &+ j
                    if Int32(bitPattern: maxDay[i]) <= today {
                        guard mask[j] != 0 else { continue }
                    } else {
                        guard exists(i) else { continue }
                        row.i = i
                        guard test(row).isTrue else { continue }
                    }
                    guard try body(i) else { return }
                }
                start += n
            }
        }
    }

    /// The key of the client row a client key counts under now (itself, or the key it
    /// was merged into); nil for an unknown key.
    func survivingKey(_ key: String) -> String? {
        guard let number = try? store.clientNumber(key, txn: txn), let row = table.row(ofNumber: number) else { return nil }
        return table.keys[row]
    }

    @inline(__always) func u32(_ c: ClientTable.Col32, _ i: Int) -> UInt32 {
        if isCurrent(i) { return table.u32(c, i) }
        guard let row = overrideRow(i) else { return c == .cadenceHalfDays ? UInt32(bitPattern: -1) : (isDay(c) ? UInt32(bitPattern: ProjectionRow.nullDay) : 0) }
        return row.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: c.offset, as: UInt32.self)) }
    }

    @inline(__always) func i32(_ c: ClientTable.Col32, _ i: Int) -> Int32 { Int32(bitPattern: u32(c, i)) }

    @inline(__always) func i64(_ c: ClientTable.Col64, _ i: Int) -> Int64 {
        if isCurrent(i) { return table.i64(c, i) }
        guard let row = overrideRow(i) else { return 0 }
        return row.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(fromByteOffset: c.offset, as: Int64.self)) }
    }

    private func isDay(_ c: ClientTable.Col32) -> Bool {
        [.registered, .firstSeen, .lastSeen, .firstVisit, .lastVisit, .maxDay].contains(c)
    }

    private func overrideRow(_ i: Int) -> [UInt8]? {
        if let r = rowOverride[i] { return r }
        _ = replayedState(i)
        return rowOverride[i]
    }

    /// A day column as a value (null for the null day).
    @inline(__always) func day(_ c: ClientTable.Col32, _ i: Int) -> Day? {
        let d = i32(c, i)
        return d == ProjectionRow.nullDay ? nil : d
    }

    /// A dictionary string as a value.
    func string(_ id: UInt32) -> V {
        if id == 0 { return .null }
        let i = Int(id)
        if i < strings.count, let s = strings[i] { return s }
        var v = V.null
        do { v = try store.stringValue(id, txn: txn).map(V.str) ?? .null } catch { fail(error) }
        if i >= strings.count { strings += Array(repeating: nil, count: max(i + 1, strings.count * 2) - strings.count) }
        strings[i] = v
        return v
    }

    /// The full client state of row `i` as of `today`.
    func state(_ i: Int) -> ClientState? {
        if let s = stateCache[i] { return s }
        var s: ClientState?
        if isCurrent(i) && rowKinds?[i] != .recomputed {
            do { s = try store.state(table.numbers[i], txn: txn) } catch { fail(error) }
        } else {
            s = replayedState(i)
        }
        if let s {
            if stateCache.count >= Self.rowCacheLimit { stateCache.removeAll(keepingCapacity: true) }
            stateCache[i] = s
        }
        return s
    }

    /// Whether row `i`'s personal fields as of `today` are its client's latest ones, which
    /// the table's shared cache holds: a current row, or one recomputed for an earlier
    /// day whose client has no `client` event after that day (most clients register
    /// once, long before).
    private func personalIsLatest(_ i: Int) -> Bool {
        guard let kinds = rowKinds else { return isCurrent(i) }
        switch kinds[i] {
        case .stored: return true
        case .recomputed:
            return laterClientEvent?[i] == false
        case .absent, .replay: return false
        }
    }

    /// A personal field of row `i`'s client (nil once forgotten, whatever `today` says).
    func personal(_ i: Int, _ tag: PersonalData.Tag) -> String? {
        let current = personalIsLatest(i)
        if current, let cached = table.personalCache.withLock({ $0[i, tag] }) { return cached }
        let value = loadPersonal(i, tag)
        if current { table.personalCache.withLock { $0[i, tag] = value } }
        return value
    }

    /// ``personal(_:_:)`` of many rows as output values: the cache is locked twice in
    /// all, not twice a row.
    func personalValues(_ rows: [Int], _ tag: PersonalData.Tag) -> [Value] {
        var out = [Value](repeating: .null, count: rows.count)
        var missing: [Int] = []
        let latest = rows.map { personalIsLatest($0) }
        table.personalCache.withLock { cache in
            for (j, i) in rows.enumerated() {
                guard latest[j], let cached = cache[i, tag] else {
                    missing.append(j)
                    continue
                }
                if let s = cached { out[j] = .string(s) }
            }
        }
        guard !missing.isEmpty else { return out }
        var loaded: [(Int, String?)] = []
        let cancellation = QueryCancellation.current
        for (n, j) in missing.enumerated() {
            // Decrypting many values takes a while: a cancelled query stops here (its
            // last checkpoint then ends it, so the values left null are never shown).
            if n & 1023 == 1023, cancellation?.isCancelled == true { break }
            let i = rows[j]
            let value = loadPersonal(i, tag)
            if let value { out[j] = .string(value) }
            if latest[j] { loaded.append((i, value)) }
        }
        if !loaded.isEmpty {
            table.personalCache.withLock { cache in
                for (i, value) in loaded { cache[i, tag] = value }
            }
        }
        return out
    }

    private func loadPersonal(_ i: Int, _ tag: PersonalData.Tag) -> String? {
        if rowKinds?[i] == .recomputed { return personalAsOf(i, tag) }
        guard let s = state(i), !s.forgotten else { return nil }
        let ref: Stamped<UInt32>?
        switch tag {
        case .name: ref = s.name
        case .email: ref = s.email
        case .phone: ref = s.phone
        default: ref = nil
        }
        return database.personalValue(ref, tag, txn: txn)
    }

    /// A personal field of a recomputed row: the value of the latest (at, position)
    /// `client` event on or before `today` that carries it — what a replay keeps —
    /// reading only the client's `client` events.
    private func personalAsOf(_ i: Int, _ tag: PersonalData.Tag) -> String? {
        guard table.u32(.flags, i) & ProjectionRow.Flag.forgotten == 0 else { return nil }
        let t = events, c = clientEvents
        var candidates: [Int] = []
        for j in c.range(i) {
            let k = Int(c.events[j])
            if t.type[k] == EventType.client.code && t.day[k] <= today { candidates.append(k) }
        }
        candidates.sort { (t.at[$0], $0) > (t.at[$1], $1) }
        for k in candidates {
            guard let d = decoded(k) else { continue }
            if let v = store.personal(d, position: UInt64(k + 1))?.value(tag) { return v }
        }
        return nil
    }

    /// Row `i`'s projection (SPEC 3.5 fields) as of `today`.
    func projection(_ i: Int) -> ClientProjection? {
        if let p = projectionCache[i] { return p }
        var p: ClientProjection?
        if let s = state(i) {
            do {
                p = try ClientProjection(id: table.keys[i], today: today, state: s,
                                         string: { try store.stringValue($0, txn: txn) },
                                         personal: { ref, tag in database.personalValue(ref, tag, txn: txn) })
            } catch {
                fail(error)
            }
        }
        if projectionCache.count >= Self.rowCacheLimit { projectionCache.removeAll(keepingCapacity: true) }
        projectionCache[i] = p
        return p
    }

    /// The snapshot's events, column by column (read from the log by the first query
    /// that needs them, then shared and extended).
    var events: EventTable { eventTableAndCount().table }

    /// The number of events in the snapshot (the table may hold more, from a newer one).
    var eventCount: Int { eventTableAndCount().count }

    private func eventTableAndCount() -> (table: EventTable, count: Int) {
        if let e = eventData { return e }
        var e = (table: EventTable.empty, count: 0)
        do { e = try database.eventTables.table(store: store, txn: txn) } catch { fail(error) }
        eventData = e
        return e
    }

    /// Each client row's events and activity days.
    var clientEvents: ClientEvents {
        if let c = clientEventIndex { return c }
        let c = table.clientEvents(events: events, count: eventCount)
        clientEventIndex = c
        return c
    }

    /// The value of an event-table string id (null for 0).
    @inline(__always) func poolValue(_ id: UInt32) -> V {
        let i = Int(id)
        if i < poolValues.count { return poolValues[i] }
        let strings = events.pool.strings
        poolValues = strings.indices.map { $0 == 0 ? .null : .str(strings[$0]) }
        return i < poolValues.count ? poolValues[i] : .null
    }

    /// Event `k` decoded from the log (for the fields the table leaves out: ids,
    /// references, comments).
    func decoded(_ k: Int) -> EventCodec.Decoded? {
        if let (j, d) = decodedCache, j == k { return d }
        var d: EventCodec.Decoded?
        do {
            if let bytes = try txn.get(store.schema.log, key: UInt64(k + 1)) {
                d = try EventCodec.decode(bytes, position: UInt64(k + 1), verifyChecksum: false)
            }
        } catch {
            fail(error)
        }
        decodedCache = (k, d)
        return d
    }

    /// The key event `k`'s facts count under (the root of a merge).
    func clientKey(ofEvent k: Int) -> String {
        if let r = table.row(ofNumber: events.client[k]) { return table.keys[r] }
        return decoded(k)?.event.client ?? ""
    }

    /// A personal field (feedback `comment`) of event `k`, unless erased.
    func comment(ofEvent k: Int) -> String? {
        guard let d = decoded(k) else { return nil }
        return store.personal(d, position: UInt64(k + 1))?.comment
    }
}

/// The evaluation context of one row.
final class Row {
    /// The client row index (for `clients`, and the client of an event row), or -1.
    var i: Int = -1
    /// The event index (position − 1) of an event row, or -1.
    var k: Int = -1
    /// The line item (an index into the item columns) of an `items` row, or while
    /// testing `items.<field>` on a purchase; -1 otherwise.
    var item: Int = -1
    /// Group keys and aggregate results, when evaluating a grouped output row.
    var keys: [V] = []
    var aggs: [V] = []
    /// Output column values (for `sort by` naming a `show` alias).
    var columns: [V] = []
}

extension QueryEnv {
    /// The first activity day of row `i` after `day` and on or before `today`.
    func nextActivityDay(_ i: Int, after day: Day) -> Day? {
        let c = clientEvents
        let r = c.dayRange(i)
        let lo = ClientEvents.upperBound(c.days.base, r, day)
        guard lo < r.upperBound, c.days[lo] <= today else { return nil }
        return c.days[lo]
    }
}
