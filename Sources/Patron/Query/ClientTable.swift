import LMDB
import Synchronization

/// The projection rows of every client, copied column by column into memory and
/// sorted by client key (the natural order of `clients`), for one LMDB snapshot.
///
/// A query checks the snapshot's transaction id and reuses the table while no write
/// has committed, so a warm query over a million clients touches only the columns
/// it needs (4 or 8 bytes per client each).
final class ClientTable: @unchecked Sendable {
    /// What the rows were read from: the log's last position and the projection
    /// epoch (``Store/projectionVersion(txn:)``). Writes that append nothing (saved
    /// queries, fitted models, settings) leave it, and the table, as they were.
    let version: Store.ProjectionVersion
    /// Client numbers, in key order (clients merged into another are left out).
    let numbers: [UInt32]
    /// Client keys, same order.
    let keys: [String]
    /// 32-bit columns (``Col32``), column-major: column c of row i at `c * count + i`.
    /// Raw memory, written once in `init` and freed in `deinit`, so reads cost no
    /// reference counting (the table is immutable; it is `Sendable` for that reason).
    let c32: UnsafeMutablePointer<UInt32>
    /// 64-bit columns (``Col64``), column-major.
    let c64: UnsafeMutablePointer<Int64>
    /// Number of rows (cached for the column arithmetic).
    let n: Int
    /// Client number → row index (a merged client points at the row of its root), or -1.
    let rowOfNumber: [Int32]

    var count: Int { numbers.count }

    /// The latest `maxDay` of any row: a query for this day or later finds every
    /// stored projection current.
    let latestDay: Int32

    /// Decrypted personal fields of clients as they are now (their latest values), by
    /// row, filled as queries show them; shared with the tables derived from this one
    /// for earlier days, which have the same rows. The table (and this cache) is
    /// dropped when a write commits, `forget` included.
    let personalCache: SharedPersonalCache

    /// A ``PersonalCache`` behind a lock, shared by reference.
    final class SharedPersonalCache: Sendable {
        private let cache: Mutex<PersonalCache>
        init(rows: Int) { cache = Mutex(PersonalCache(rows: rows)) }
        func withLock<R>(_ body: (inout PersonalCache) -> R) -> R { cache.withLock { body(&$0) } }
    }

    /// Decrypted personal values by row and tag, an array per tag made on first use
    /// (a value read as "none" is kept too, as `.some(nil)`).
    struct PersonalCache {
        private var values: [[String??]] = []
        let rows: Int

        init(rows: Int) { self.rows = rows }

        subscript(row: Int, tag: PersonalData.Tag) -> String?? {
            get {
                let t = Int(tag.rawValue)
                return t < values.count && !values[t].isEmpty ? values[t][row] : nil
            }
            set {
                let t = Int(tag.rawValue)
                if t >= values.count { values += Array(repeating: [], count: t + 1 - values.count) }
                if values[t].isEmpty { values[t] = Array(repeating: nil, count: rows) }
                values[t][row] = newValue
            }
        }
    }

    /// Each row's events and activity days, built by the first query that needs them;
    /// shared with the tables derived from this one (same rows, same snapshot).
    private let eventIndex: SharedEventIndex

    /// A ``ClientEvents`` behind a lock, shared by reference.
    final class SharedEventIndex: Sendable {
        let index = Mutex<ClientEvents?>(nil)
    }

    /// Each row's events in `events` (the snapshot's first `count` events).
    func clientEvents(events: EventTable, count: Int) -> ClientEvents {
        if let e = eventIndex.index.withLock({ $0 }) { return e }
        let e = ClientEvents(clients: self, events: events, count: count)
        // Kept for later queries only when built from every event of the snapshot: a
        // query whose event table could not be read (an error, or Ctrl-C during the
        // read) goes on with none, and its empty index must not outlive it.
        if isWhole(count) { eventIndex.index.withLock { $0 = $0 ?? e } }
        return e
    }

    /// Whether `count` events are every event of the table's snapshot.
    func isWhole(_ count: Int) -> Bool { UInt64(count) == version.position }

    /// The table as of an earlier day, with what became of each row (``AsOfTable``).
    struct AsOf: Sendable {
        let table: ClientTable
        let kinds: [AsOfTable.RowKind]
        /// Per row, whether its client has a `client` event after the day (so its
        /// personal fields as of the day may differ from the current ones).
        let laterClientEvent: [Bool]
    }

    /// What an ``AsOf`` table was made for: the day, and whether it holds the
    /// most-frequent-visit columns.
    struct AsOfKey: Hashable, Sendable {
        let day: Day
        let tallies: Bool
    }

    /// Tables of this one as of earlier days, made by the first query of each day and
    /// kept for the next (an analyst's session asks several questions of one day); at
    /// most two, the least recently used dropped. Derived tables never keep their own.
    private let asOfTables = DerivedCache<AsOfKey, AsOf>(limit: 2)

    /// The table as of `key.day`, made by `make` when none is kept (one with the
    /// tallies also serves a query without them).
    func asOf(_ key: AsOfKey, make: () -> DerivedCache<AsOfKey, AsOf>.Made) -> AsOf? {
        if !key.tallies, let kept = asOfTables.known(AsOfKey(day: key.day, tallies: true)) { return kept }
        // One with the tallies makes the day's table without them redundant: it goes
        // first, so it is not another day's table that makes room.
        if key.tallies { asOfTables.remove(AsOfKey(day: key.day, tallies: false)) }
        return asOfTables.value(key, make: make)
    }

    /// 32-bit columns and their row offsets.
    enum Col32: Int, CaseIterable {
        case flags, registered, firstSeen, lastSeen, firstVisit, lastVisit, activeDays, visits, purchases, refunds
        case feedbackCount, tier, plan, source, location, provider, satisfaction, feedbackSum, cadenceHalfDays, maxDay, eventCount

        var offset: Int {
            typealias O = ProjectionRow.Offset
            switch self {
            case .flags: return O.flags
            case .registered: return O.registered
            case .firstSeen: return O.firstSeen
            case .lastSeen: return O.lastSeen
            case .firstVisit: return O.firstVisit
            case .lastVisit: return O.lastVisit
            case .activeDays: return O.activeDays
            case .visits: return O.visits
            case .purchases: return O.purchases
            case .refunds: return O.refunds
            case .feedbackCount: return O.feedbackCount
            case .tier: return O.tier
            case .plan: return O.plan
            case .source: return O.source
            case .location: return O.location
            case .provider: return O.provider
            case .satisfaction: return O.satisfaction
            case .feedbackSum: return O.feedbackSum
            case .cadenceHalfDays: return O.cadenceHalfDays
            case .maxDay: return O.maxDay
            case .eventCount: return O.eventCount
            }
        }
    }

    /// 64-bit columns and their row offsets.
    enum Col64: Int, CaseIterable {
        case purchasedCents, refundedCents, acquisitionCost, points, repeatValueCents

        var offset: Int {
            typealias O = ProjectionRow.Offset
            switch self {
            case .purchasedCents: return O.purchasedCents
            case .refundedCents: return O.refundedCents
            case .acquisitionCost: return O.acquisitionCost
            case .points: return O.points
            case .repeatValueCents: return O.repeatValueCents
            }
        }
    }

    /// Column `c`'s first value (rows follow contiguously), for loops over runs of rows.
    func column(_ c: Col32) -> UnsafeMutablePointer<UInt32> { c32 + c.rawValue &* n }
    func column(_ c: Col64) -> UnsafeMutablePointer<Int64> { c64 + c.rawValue &* n }

    @inline(__always) func u32(_ c: Col32, _ i: Int) -> UInt32 { c32[c.rawValue &* n &+ i] }
    @inline(__always) func i32(_ c: Col32, _ i: Int) -> Int32 { Int32(bitPattern: c32[c.rawValue &* n &+ i]) }
    @inline(__always) func i64(_ c: Col64, _ i: Int) -> Int64 { c64[c.rawValue &* n &+ i] }

    deinit {
        LargeMemory.free(c32)
        LargeMemory.free(c64)
    }

    /// A table with the rows of `base` and other column values (owned by the new table,
    /// which frees them with ``LargeMemory/free(_:)``).
    init(derivedFrom base: ClientTable, c32: UnsafeMutablePointer<UInt32>, c64: UnsafeMutablePointer<Int64>) {
        version = base.version
        numbers = base.numbers
        keys = base.keys
        n = base.n
        personalCache = base.personalCache
        rowOfNumber = base.rowOfNumber
        eventIndex = base.eventIndex
        self.c32 = c32
        self.c64 = c64
        latestDay = Self.latest(c32, base.n)
    }

    /// The greatest `maxDay` column value (Int32.min with no rows).
    private static func latest(_ c32: UnsafeMutablePointer<UInt32>, _ n: Int) -> Int32 {
        var latest = Int32.min
        let column = c32 + Col32.maxDay.rawValue * n
        for i in 0..<n { latest = max(latest, Int32(bitPattern: column[i])) }
        return latest
    }

    /// Reads every projection row of the snapshot.
    init(store: Store, txn: Transaction) throws {
        version = try store.projectionVersion(txn: txn)
        var rowNumbers: [UInt32] = []
        var raw: [UInt8] = []
        var merged: [(UInt32, UInt32)] = []
        try RowChunks.forEach(table: store.schema.rows, txn: txn) { n, row in
            let flags: UInt32 = UInt32(littleEndian: row.load(at: ProjectionRow.Offset.flags))
            if flags & ProjectionRow.Flag.merged != 0 {
                merged.append((n, UInt32(littleEndian: row.load(at: ProjectionRow.Offset.mergedInto))))
                return
            }
            rowNumbers.append(n)
            raw.append(contentsOf: row)
        }
        // The key index is a B-tree ordered by the keys' bytes: walking it gives the rows
        // in key order without sorting (or looking up) a million strings.
        let maxRowNumber = Int(rowNumbers.max() ?? 0)
        var slotOf = [Int32](repeating: -1, count: maxRowNumber + 1)
        for (j, num) in rowNumbers.enumerated() { slotOf[Int(num)] = Int32(j) }
        var order: [Int] = []
        var sortedKeys: [String] = []
        order.reserveCapacity(rowNumbers.count)
        sortedKeys.reserveCapacity(rowNumbers.count)
        try txn.withCursor(store.schema.clientKeys) { c in
            var entry = try c.first()
            while let (k, v) = entry {
                if v.count == 4 {
                    let num = Int(v.load(at: 0) as UInt32)
                    if num <= maxRowNumber, slotOf[num] >= 0 {
                        order.append(Int(slotOf[num]))
                        sortedKeys.append(String(decoding: k, as: UTF8.self))
                        slotOf[num] = -1
                    }
                }
                entry = try c.next()
            }
        }
        // A row without a key entry (never written so) still shows, named by its number.
        let unnamed = rowNumbers.indices.filter { slotOf[Int(rowNumbers[$0])] >= 0 }
        if !unnamed.isEmpty {
            var pairs = Array(zip(order, sortedKeys)) + unnamed.map { ($0, "#\(rowNumbers[$0])") }
            pairs.sort { $0.1.utf8.lexicographicallyPrecedes($1.1.utf8) }
            order = pairs.map(\.0)
            sortedKeys = pairs.map(\.1)
        }
        let n = order.count
        numbers = order.map { rowNumbers[$0] }
        keys = sortedKeys
        self.n = n
        personalCache = SharedPersonalCache(rows: n)
        let c32 = LargeMemory.allocate(UInt32.self, count: Col32.allCases.count * n)
        let c64 = LargeMemory.allocate(Int64.self, count: Col64.allCases.count * n)
        raw.withUnsafeBytes { b in
            for (i, src) in order.enumerated() {
                let base = src * ProjectionRow.size
                for c in Col32.allCases { c32[c.rawValue * n + i] = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: base + c.offset, as: UInt32.self)) }
                for c in Col64.allCases { c64[c.rawValue * n + i] = Int64(littleEndian: b.loadUnaligned(fromByteOffset: base + c.offset, as: Int64.self)) }
            }
        }
        self.c32 = c32
        self.c64 = c64
        latestDay = Self.latest(c32, n)
        let maxNumber = Int(max(rowNumbers.max() ?? 0, merged.map(\.0).max() ?? 0))
        var rowOf = [Int32](repeating: -1, count: maxNumber + 1)
        for (i, num) in numbers.enumerated() { rowOf[Int(num)] = Int32(i) }
        var into: [UInt32: UInt32] = [:]
        for (a, b) in merged { into[a] = b }
        for (a, _) in merged {
            var r = a
            var hops = 0
            while let next = into[r], hops < 10_000 { r = next; hops += 1 }
            if Int(r) < rowOf.count { rowOf[Int(a)] = rowOf[Int(r)] }
        }
        rowOfNumber = rowOf
        eventIndex = SharedEventIndex()
    }

    /// The row index of a client number, or nil.
    func row(ofNumber n: UInt32) -> Int? {
        guard Int(n) < rowOfNumber.count else { return nil }
        let r = rowOfNumber[Int(n)]
        return r < 0 ? nil : Int(r)
    }

    /// The row index of a client key (binary search over the sorted keys).
    func row(ofKey key: String) -> Int? {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if keys[mid].utf8.lexicographicallyPrecedes(key.utf8) { lo = mid + 1 } else { hi = mid }
        }
        return lo < keys.count && keys[lo] == key ? lo : nil
    }
}

/// The most recent ``ClientTable`` of a database, reused while its snapshot is current.
final class ClientTableCache: Sendable {
    private let current = Mutex<ClientTable?>(nil)

    func table(store: Store, txn: Transaction) throws -> ClientTable {
        let version = try store.projectionVersion(txn: txn)
        if let t = current.withLock({ $0 }), t.version == version { return t }
        let t = try ClientTable(store: store, txn: txn)
        current.withLock { c in
            if c.map({ $0.version <= t.version }) ?? true { c = t }
        }
        return t
    }
}
