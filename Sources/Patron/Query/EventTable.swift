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
        base = .allocate(capacity: self.capacity)
    }

    /// A copy of `other` with room for `extra` more values.
    init(copying other: RawColumn<T>, reserving extra: Int) {
        capacity = max(other.count + extra, 16)
        base = .allocate(capacity: capacity)
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
        let b = UnsafeMutablePointer<T>.allocate(capacity: c)
        b.initialize(from: base, count: count)
        base.deallocate()
        base = b
        capacity = c
    }

    @inline(__always) subscript(i: Int) -> T { base[i] }

    deinit { base.deallocate() }
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

    private static func hash(_ b: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for x in b { h = (h ^ UInt64(x)) &* 0x100_0000_01b3 }
        return h
    }

    private func same(_ id: UInt32, _ b: UnsafeRawBufferPointer) -> Bool {
        let span = spans[Int(id)]
        guard span.count == b.count else { return false }
        return arena.withUnsafeBytes { a in
            b.count == 0 || memcmp(a.baseAddress! + span.lowerBound, b.baseAddress!, b.count) == 0
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

    /// A table of no events.
    static var empty: EventTable { EventTable(base: nil, reserving: 0) }

    /// Reads the events of the snapshot after those `base` already holds (all of them
    /// without a base).
    static func read(store: Store, txn: Transaction, logCount: Int, base: EventTable?) throws -> EventTable {
        let from = base?.count ?? 0
        let t = EventTable(base: base, reserving: max(logCount - from, 0))
        var sink = Sink(table: t, pool: t.pool)
        let zone = store.zone
        try txn.withCursor(store.schema.log) { c in
            var entry = try c.seek(UInt64(from + 1))
            while let (k, v) = entry {
                let position: UInt64 = k.load(at: 0)
                guard position == UInt64(t.count + 1) else {
                    throw CorruptData("the log skips from position \(t.count) to \(position)")
                }
                let view = try EventView(position: position, bytes: v)
                sink.start(event: t.count)
                try view.visitFields(&sink)
                t.type.append(view.type.code)
                t.day.append(zone.day(of: view.at))
                t.at.append(view.at)
                t.client.append(view.clientNumber)
                t.num.append(sink.num)
                t.s0.append(sink.s.0)
                t.s1.append(sink.s.1)
                t.s2.append(sink.s.2)
                t.sub.append(sink.subStart)
                t.subCount.append(sink.subCount)
                entry = try c.next()
            }
        }
        t.pool = sink.pool
        return t
    }

    /// Collects one event's fields while the log is read.
    private struct Sink: EventFieldVisitor {
        let table: EventTable
        var pool: StringPool
        var event = 0
        var num = EventTable.null
        var s: (UInt32, UInt32, UInt32) = (0, 0, 0)
        var subStart: UInt32 = 0
        var subCount: UInt32 = 0

        init(table: EventTable, pool: StringPool) {
            self.table = table
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
            if subCount == 0 { subStart = UInt32(table.services.count) }
            table.services.append(pool.intern(utf8))
            subCount += 1
        }

        mutating func item(name: UnsafeRawBufferPointer?, category: UnsafeRawBufferPointer?, quantity: Int64, amount: Int64?) {
            if subCount == 0 { subStart = UInt32(table.itemName.count) }
            table.itemName.append(name.map { pool.intern($0) } ?? 0)
            table.itemCategory.append(category.map { pool.intern($0) } ?? 0)
            table.itemQuantity.append(quantity)
            table.itemAmount.append(amount ?? EventTable.null)
            table.itemEvent.append(UInt32(event))
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
