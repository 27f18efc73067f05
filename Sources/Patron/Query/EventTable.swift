import Foundation
import LMDB
import Synchronization

/// A growable run of plain values in raw memory: reads cost no reference counting or
/// bounds checks, which matters in loops over tens of millions of events.
final class RawColumn<T: BitwiseCopyable>: @unchecked Sendable {
    private(set) var base: UnsafeMutablePointer<T>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int = 1024) {
        self.capacity = max(capacity, 16)
        base = LargeMemory.allocate(T.self, count: self.capacity)
    }

    /// A copy of `other` with room for `extra` more values.
    init(copying other: RawColumn<T>, reserving extra: Int) {
        capacity = max(other.count + extra, 16)
        base = LargeMemory.allocate(T.self, count: capacity)
        base.initialize(from: other.base, count: other.count)
        count = other.count
    }

    @inline(__always) func append(_ v: T) {
        if count == capacity { grow() }
        (base + count).initialize(to: v)
        count += 1
    }

    private func grow() {
        let c = capacity * 2
        let b = LargeMemory.allocate(T.self, count: c)
        b.initialize(from: base, count: count)
        LargeMemory.free(base)
        base = b
        capacity = c
    }

    @inline(__always) subscript(i: Int) -> T { base[i] }

    deinit { LargeMemory.free(base) }
}

/// The strings of an event table, each stored once with an id from 1 (0 is null),
/// found by their UTF-8 bytes without building a `String` for strings already seen.
struct StringPool {
    /// id → string.
    private(set) var strings: [String] = [""]
    /// id → the id of the first string equal to it ignoring case (0 for 0).
    private(set) var folded: [UInt32] = [0]
    private var foldIndex: [String: UInt32] = [:]
    private var hashes: [UInt64] = [0]
    private var spans: [Range<Int>] = [0..<0]
    private var arena: [UInt8] = []
    private var slots = [UInt32](repeating: 0, count: 1024)

    var count: Int { strings.count }

    /// A hash of the bytes, eight at a time (strings here are short names).
    private static func hash(_ b: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(b.count)
        var i = 0
        while i + 8 <= b.count {
            h = (h ^ b.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xff51_afd7_ed55_8ccd
            h ^= h >> 32
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < b.count {
            tail |= UInt64(b[i]) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0xc4ce_b9fe_1a85_ec53
        return h ^ (h >> 29)
    }

    private func same(_ id: UInt32, _ b: UnsafeRawBufferPointer) -> Bool {
        let span = spans[Int(id)]
        guard span.count == b.count else { return false }
        return arena.withUnsafeBytes { a in
            guard b.count > 0 else { return true }
            guard let base = a.baseAddress, let other = b.baseAddress else { return false }
            return memcmp(base + span.lowerBound, other, b.count) == 0
        }
    }

    /// The id of a string given as UTF-8 bytes, adding it when new.
    mutating func intern(_ b: UnsafeRawBufferPointer) -> UInt32 {
        let h = Self.hash(b)
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let id = slots[i]
            if id == 0 { break }
            if hashes[Int(id)] == h && same(id, b) { return id }
            i = (i + 1) & mask
        }
        let id = UInt32(strings.count)
        let s = String(decoding: b, as: UTF8.self)
        strings.append(s)
        hashes.append(h)
        spans.append(arena.count..<(arena.count + b.count))
        arena.append(contentsOf: b)
        let key = Text.fold(s)
        if let f = foldIndex[key] {
            folded.append(f)
        } else {
            foldIndex[key] = id
            folded.append(id)
        }
        slots[i] = id
        if strings.count * 2 > slots.count { rehash() }
        return id
    }

    private mutating func rehash() {
        var bigger = [UInt32](repeating: 0, count: slots.count * 2)
        let mask = bigger.count - 1
        for id in 1..<strings.count {
            var i = Int(truncatingIfNeeded: hashes[id]) & mask
            while bigger[i] != 0 { i = (i + 1) & mask }
            bigger[i] = UInt32(id)
        }
        slots = bigger
    }
}

/// Every stored event, column by column in memory, indexed by position − 1: the
/// input of event queries (`visits where …`, `items group by …`), of client-scoped
/// aggregates and of `as of`.
///
/// The log is append-only and positions are gap-free, so a table read from one
/// snapshot is a correct prefix of every later one: ``EventTableCache`` extends it
/// with the new events instead of reading the log again. Personal data (names,
/// comments) is never copied here, nor are event ids and references; those fields
/// are read from the log for the rows that show them.
///
/// Slots follow ``EventFieldVisitor``: `num` holds the amount, points, score, fee or
/// acquisition cost (``EventTable/null`` when absent); `s0`–`s2` the string fields.
/// A visit's services and a purchase's items are runs starting at `sub` of length
/// `subCount` in `services` or the item columns.
final class EventTable: @unchecked Sendable {
    /// Marks an absent number in `num` and `itemAmount`.
    static let null = Int64.min

    let type: RawColumn<UInt8>
    let day: RawColumn<Int32>
    let at: RawColumn<Int64>
    let client: RawColumn<UInt32>
    let num: RawColumn<Int64>
    let s0: RawColumn<UInt32>
    let s1: RawColumn<UInt32>
    let s2: RawColumn<UInt32>
    let sub: RawColumn<UInt32>
    let subCount: RawColumn<UInt32>
    let services: RawColumn<UInt32>
    let itemName: RawColumn<UInt32>
    let itemCategory: RawColumn<UInt32>
    let itemQuantity: RawColumn<Int64>
    let itemAmount: RawColumn<Int64>
    /// The event index of each item.
    let itemEvent: RawColumn<UInt32>
    /// The strings the `s0`–`s2`, `services`, `itemName` and `itemCategory` ids name.
    private(set) var pool: StringPool

    /// Number of events (the last position read).
    var count: Int { type.count }

    /// Each type's event indexes, ascending, made by the first query that asks (a
    /// published table never changes: a newer snapshot's table is a copy).
    private let byType = Mutex<[UInt8: [UInt32]]>([:])

    /// The least and greatest day of any event, made by the first query that asks.
    private let days = Mutex<ClosedRange<Int32>??>(nil)

    /// Day cubes of grouped event queries (``DayCube``), made by the first query of
    /// each shape.
    private let cubes = DerivedCache<DayCube.Shape, DayCube>(limit: 16)
    /// First-match days of `has` conditions (``FirstMatchDays``), likewise.
    private let firstDays = DerivedCache<FirstMatchDays.Shape, FirstMatchDays>(limit: 4)

    /// The cube of `shape`, made by `make` when not known; nil when it cannot be made
    /// or making it was stopped.
    func cube(_ shape: DayCube.Shape, make: () -> DerivedCache<DayCube.Shape, DayCube>.Made) -> DayCube? {
        cubes.value(shape, make: make)
    }

    /// The first-match days of `shape`, made by `make` when not known; nil when they
    /// cannot be made or making them was stopped.
    func firstMatchDays(_ shape: FirstMatchDays.Shape,
                        make: () -> DerivedCache<FirstMatchDays.Shape, FirstMatchDays>.Made) -> FirstMatchDays? {
        firstDays.value(shape, make: make)
    }

    /// The days of all events, from the first to the last (nil for an empty table).
    func dayRange() -> ClosedRange<Int32>? {
        if let known = days.withLock({ $0 }) { return known }
        var lo = Int32.max, hi = Int32.min
        let d = day.base
        for k in 0..<count {
            lo = min(lo, d[k])
            hi = max(hi, d[k])
        }
        let range: ClosedRange<Int32>? = count == 0 ? nil : lo...hi
        days.withLock { $0 = .some(range) }
        return range
    }

    /// The indexes of the events of type `code`, ascending (one pass over `type`, once).
    func indexes(ofType code: UInt8) -> [UInt32] {
        if let known = byType.withLock({ $0[code] }) { return known }
        var out: [UInt32] = []
        let t = type.base
        for k in 0..<count where t[k] == code { out.append(UInt32(truncatingIfNeeded: k)) }
        byType.withLock { $0[code] = out }
        return out
    }

    /// How many of one type's ascending event indexes (``indexes(ofType:)``) are below
    /// `n`: its events in a snapshot of the first `n` (this table may hold a newer one).
    static func count(of indexes: [UInt32], below n: Int) -> Int {
        var a = 0, b = indexes.count
        while a < b {
            let m = (a + b) / 2
            if Int(indexes[m]) < n { a = m + 1 } else { b = m }
        }
        return a
    }

    /// An empty table, or a copy of `base` with room for `extra` more events.
    private init(base: EventTable?, reserving extra: Int) {
        func c<T>(_ x: RawColumn<T>?) -> RawColumn<T> {
            x.map { RawColumn(copying: $0, reserving: extra) } ?? RawColumn(capacity: extra)
        }
        type = c(base?.type); day = c(base?.day); at = c(base?.at); client = c(base?.client); num = c(base?.num)
        s0 = c(base?.s0); s1 = c(base?.s1); s2 = c(base?.s2); sub = c(base?.sub); subCount = c(base?.subCount)
        services = c(base?.services); itemName = c(base?.itemName); itemCategory = c(base?.itemCategory)
        itemQuantity = c(base?.itemQuantity); itemAmount = c(base?.itemAmount); itemEvent = c(base?.itemEvent)
        pool = base?.pool ?? StringPool()
    }

    /// Reads of more events than this use two cores.
    @TaskLocal static var parallelAbove = 500_000

    /// A table of no events.
    static var empty: EventTable { EventTable(base: nil, reserving: 0) }

    /// Reads the events of the snapshot after those `base` already holds (all of them
    /// without a base).
    static func read(store: Store, txn: Transaction, logCount: Int, base: EventTable?) throws -> EventTable {
        let from = base?.count ?? 0
        let todo = max(logCount - from, 0)
        let t = EventTable(base: base, reserving: todo)
        // Large reads go in two halves on two cores (the second in its own read
        // transaction: positions up to `logCount` are the same in every snapshot).
        guard todo >= max(parallelAbove, 2), ProcessInfo.processInfo.activeProcessorCount > 1 else {
            try t.fill(store: store, txn: txn, positions: (from + 1)...max(logCount, from + 1), upTo: logCount)
            return t
        }
        let mid = from + todo / 2
        let tail = EventTable(base: nil, reserving: logCount - mid)
        let failures = Mutex<[any Error]>([])
        let lent = LentTransaction(txn: txn)
        let cancellation = QueryCancellation.current
        DispatchQueue.concurrentPerform(iterations: 2) { half in
            do {
                // Task-locals do not follow work onto other threads: bind it again.
                try QueryCancellation.$current.withValue(cancellation) {
                    if half == 0 {
                        try t.fill(store: store, txn: lent.txn, positions: (from + 1)...mid, upTo: mid)
                    } else {
                        try store.env.read { own in try tail.fill(store: store, txn: own, positions: (mid + 1)...logCount, upTo: logCount) }
                    }
                }
            } catch {
                failures.withLock { $0.append(error) }
            }
        }
        if let e = failures.withLock({ $0.first }) { throw e }
        t.append(tail, offset: mid)
        return t
    }

    /// Reads the events at `positions` (stopping after `upTo`) onto the end of this
    /// table; the first must follow the table's last.
    private func fill(store: Store, txn: Transaction, positions: ClosedRange<Int>, upTo last: Int) throws {
        var sink = Sink(table: self, pool: pool)
        let zone = store.zone
        let type = self.type, day = self.day, at = self.at, client = self.client, num = self.num
        let s0 = self.s0, s1 = self.s1, s2 = self.s2, sub = self.sub, subCount = self.subCount
        let start = type.count
        try txn.withCursor(store.schema.log) { c in
            var entry = try c.seek(UInt64(positions.lowerBound))
            while let (key, v) = entry {
                let position: UInt64 = key.load(at: 0)
                if position > UInt64(last) { break }
                let k = type.count
                if k & 0xFFFF == 0 { try QueryCancellation.checkpoint() }
                let expected = UInt64(positions.lowerBound + (k - start))
                guard position == expected else {
                    throw CorruptData("the log skips from position \(expected - 1) to \(position)")
                }
                let view = try EventView(position: position, bytes: v)
                sink.start(event: k)
                try view.visitFields(&sink)
                type.append(view.type.code)
                day.append(zone.day(of: view.at))
                at.append(view.at)
                client.append(view.clientNumber)
                num.append(sink.num)
                s0.append(sink.s.0)
                s1.append(sink.s.1)
                s2.append(sink.s.2)
                sub.append(sink.subStart)
                subCount.append(sink.subCount)
                entry = try c.next()
            }
        }
        pool = sink.pool
    }

    /// Appends the events of `o`, whose event 0 has index `offset` here (its strings
    /// re-numbered into this table's pool, its runs moved past this table's).
    private func append(_ o: EventTable, offset: Int) {
        var remap = [UInt32](repeating: 0, count: o.pool.count)
        for id in 1..<o.pool.count {
            var text = o.pool.strings[id]
            remap[id] = text.withUTF8 { pool.intern(UnsafeRawBufferPointer($0)) }
        }
        let servicesBase = UInt32(services.count), itemsBase = UInt32(itemName.count)
        let visit = EventType.visit.code
        for k in 0..<o.count {
            type.append(o.type[k])
            day.append(o.day[k])
            at.append(o.at[k])
            client.append(o.client[k])
            num.append(o.num[k])
            s0.append(remap[Int(o.s0[k])])
            s1.append(remap[Int(o.s1[k])])
            s2.append(remap[Int(o.s2[k])])
            let n = o.subCount[k]
            sub.append(n == 0 ? 0 : o.sub[k] + (o.type[k] == visit ? servicesBase : itemsBase))
            subCount.append(n)
        }
        for j in 0..<o.services.count { services.append(remap[Int(o.services[j])]) }
        for j in 0..<o.itemName.count {
            itemName.append(remap[Int(o.itemName[j])])
            itemCategory.append(remap[Int(o.itemCategory[j])])
            itemQuantity.append(o.itemQuantity[j])
            itemAmount.append(o.itemAmount[j])
            itemEvent.append(o.itemEvent[j] + UInt32(offset))
        }
    }

    /// Collects one event's fields while the log is read.
    private struct Sink: EventFieldVisitor {
        // The list columns themselves (not through the table: a property read per
        // item would cost a retain).
        let services: RawColumn<UInt32>
        let itemName: RawColumn<UInt32>
        let itemCategory: RawColumn<UInt32>
        let itemQuantity: RawColumn<Int64>
        let itemAmount: RawColumn<Int64>
        let itemEvent: RawColumn<UInt32>
        var pool: StringPool
        var event = 0
        var num = EventTable.null
        var s: (UInt32, UInt32, UInt32) = (0, 0, 0)
        var subStart: UInt32 = 0
        var subCount: UInt32 = 0

        init(table t: EventTable, pool: StringPool) {
            services = t.services
            itemName = t.itemName
            itemCategory = t.itemCategory
            itemQuantity = t.itemQuantity
            itemAmount = t.itemAmount
            itemEvent = t.itemEvent
            self.pool = pool
        }

        mutating func start(event k: Int) {
            event = k
            num = EventTable.null
            s = (0, 0, 0)
            subStart = 0
            subCount = 0
        }

        mutating func number(_ value: Int64?) { num = value ?? EventTable.null }

        mutating func string(_ slot: Int, _ utf8: UnsafeRawBufferPointer?) {
            let id = utf8.map { pool.intern($0) } ?? 0
            switch slot {
            case 0: s.0 = id
            case 1: s.1 = id
            default: s.2 = id
            }
        }

        mutating func service(_ utf8: UnsafeRawBufferPointer) {
            if subCount == 0 { subStart = UInt32(services.count) }
            services.append(pool.intern(utf8))
            subCount += 1
        }

        mutating func item(name: UnsafeRawBufferPointer?, category: UnsafeRawBufferPointer?, quantity: Int64, amount: Int64?) {
            if subCount == 0 { subStart = UInt32(itemName.count) }
            itemName.append(name.map { pool.intern($0) } ?? 0)
            itemCategory.append(category.map { pool.intern($0) } ?? 0)
            itemQuantity.append(quantity)
            itemAmount.append(amount ?? EventTable.null)
            itemEvent.append(UInt32(event))
            subCount += 1
        }
    }

    /// The items (indexes into the item columns) of event `k` (empty unless a purchase).
    @inline(__always) func items(_ k: Int) -> Range<Int> {
        guard type[k] == EventType.purchase.code else { return 0..<0 }
        let s = Int(sub[k])
        return s..<(s + Int(subCount[k]))
    }

    /// The services (indexes into `services`) of event `k` (empty unless a visit).
    @inline(__always) func serviceRange(_ k: Int) -> Range<Int> {
        guard type[k] == EventType.visit.code else { return 0..<0 }
        let s = Int(sub[k])
        return s..<(s + Int(subCount[k]))
    }

    /// The string of an id (nil for 0).
    func string(_ id: UInt32) -> String? { id == 0 ? nil : pool.strings[Int(id)] }
}

/// Values derived from an event table for one snapshot, made by the first query that
/// asks and kept with the table: at most `limit`, the least recently used dropped
/// when one more is made. A value that cannot be made (too large) is remembered as
/// such, so later queries do not try again; one whose making was stopped is not.
final class DerivedCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    /// What making a value gave.
    enum Made {
        case value(Value)
        /// It cannot be made for this snapshot.
        case impossible
        /// The making was stopped (the query was cancelled).
        case stopped
    }

    private struct Entries: Sendable {
        var values: [Key: (value: Value?, used: Int)] = [:]
        var clock = 0

        mutating func get(_ key: Key) -> Value?? {
            guard let e = values[key] else { return nil }
            clock += 1
            values[key]?.used = clock
            return .some(e.value)
        }
    }

    private let entries = Mutex(Entries())
    private let limit: Int

    init(limit: Int) { self.limit = max(limit, 1) }

    /// The value of `key` when one is kept (marked as just used), without making it.
    func known(_ key: Key) -> Value? {
        entries.withLock { $0.get(key) } ?? nil
    }

    /// Forgets the value of `key`, if any.
    func remove(_ key: Key) {
        entries.withLock { _ = $0.values.removeValue(forKey: key) }
    }

    /// The value of `key`, made by `make` (outside the lock) when not known; nil when
    /// it cannot be made or its making was stopped.
    func value(_ key: Key, make: () -> Made) -> Value? {
        if let known = entries.withLock({ $0.get(key) }) { return known }
        let made: Value?
        switch make() {
        case .value(let v): made = v
        case .impossible: made = nil
        case .stopped: return nil
        }
        entries.withLock { e in
            if e.values[key] == nil, e.values.count >= limit,
               let oldest = e.values.min(by: { $0.value.used < $1.value.used })?.key {
                e.values[oldest] = nil
            }
            e.clock += 1
            e.values[key] = (made, e.clock)
        }
        return made
    }
}

/// The caller's read transaction, lent to the worker reading the first half of the
/// log: the caller waits for both halves, so one thread at a time uses it, which the
/// environment allows (it is opened with `MDB_NOTLS`).
struct LentTransaction: @unchecked Sendable {
    let txn: Transaction
}

/// The event table of a database, extended as the log grows (a prefix of a newer
/// table answers an older snapshot exactly, so one table serves every reader).
final class EventTableCache: Sendable {
    private let current = Mutex<EventTable?>(nil)

    /// A table holding at least the snapshot's events, and the snapshot's event count.
    func table(store: Store, txn: Transaction) throws -> (table: EventTable, count: Int) {
        let n = try txn.count(store.schema.log)
        let cached = current.withLock { $0 }
        if let t = cached, t.count >= n { return (t, n) }
        let t = try EventTable.read(store: store, txn: txn, logCount: n, base: cached)
        current.withLock { c in
            if (c?.count ?? -1) < t.count { c = t }
        }
        return (t, min(n, t.count))
    }
}
