import Foundation
import LMDB

/// The greatest key of the `ids` table as this transaction knows it: no stored id sorts
/// after it. Read from the table once (``load(table:txn:)``), then raised by every id
/// the transaction puts (``AppendContext``), so it is never below the true greatest.
struct IDEdge {
    private var last: [UInt8] = []
    private var known = false

    /// Reads the edge from the table, unless it is known.
    mutating func load(table: Table, txn: Transaction) throws {
        guard !known else { return }
        last = try txn.withCursor(table) { c in try c.last().map { Array($0.key) } } ?? []
        known = true
    }

    /// Whether `id` sorts after the edge (LMDB's default key order); after ``load(table:txn:)``.
    func isPast(_ id: UnsafeRawBufferPointer) -> Bool {
        last.withUnsafeBytes { keyOrder(id, $0) > 0 }
    }

    /// Records that `id` is stored (a no-op before the edge is read: reading it then
    /// finds the id in the table).
    mutating func raise(to id: UnsafeRawBufferPointer) {
        guard known, isPast(id) else { return }
        last.removeAll(keepingCapacity: true)
        last.append(contentsOf: id)
    }
}

/// LMDB's default key order: bytes compared as unsigned, a prefix before the longer
/// key. Negative, zero or positive as `a` sorts before, with or after `b`.
func keyOrder(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let n = min(a.count, b.count)
    if n > 0, let pa = a.baseAddress, let pb = b.baseAddress {
        let c = memcmp(pa, pb, n)
        if c != 0 { return Int(c) }
    }
    return a.count - b.count
}

/// The given ids of one request that sort after every id stored before the request
/// (``IDEdge`` as it started), kept in key order and put into the `ids` table at its
/// right edge (`MDB_APPEND`) once the request's events are written.
///
/// Put one by one as they come, ids in time order that tie (exports write many events
/// of the same minute, whose ids then sort by their random part) land just before the
/// last key and split the last page in the middle, which left the table about 65 %
/// full; each put also searches the tree from its root. Put in key order at the right
/// edge, they fill whole pages with no key comparisons on the way down. Such an id
/// cannot be stored already; one that repeats an earlier id of the request is found
/// here (``insert(_:position:)``). An id whose place is far back among those kept
/// (ids in no order) is not kept: the caller puts it in its place at once, like an id
/// below the edge, and finds it there if it comes again.
struct DeferredIDs {
    private var bytes: [UInt8] = []
    /// In key order: each id's bytes in `bytes`, and the position of its event.
    private var entries: [(start: Int, end: Int, position: UInt64)] = []

    private func key(_ k: Int, in all: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: all[entries[k].start..<entries[k].end])
    }

    /// What ``insert(_:position:)`` did with an id.
    enum Insertion {
        /// Kept, in its place.
        case kept
        /// An earlier event of the request has it: the position of that event.
        case repeats(UInt64)
        /// Not kept: its place is more than ``reach`` ids back from the greatest (ids in
        /// no order would make keeping them in order cost a move of every id after it).
        case outOfReach
    }

    /// How far back from the greatest id kept an id may go in its place.
    static let reach = 64

    /// Keeps `id` for the event to be written at `position`, unless it repeats an id kept
    /// or belongs too far back (see ``Insertion``).
    mutating func insert(_ id: UnsafeRawBufferPointer, position: UInt64) -> Insertion {
        let place: Int = bytes.withUnsafeBytes { all in
            // Usually after the last one; otherwise a binary search for its place.
            guard let lastIndex = entries.indices.last else { return 0 }
            let c = keyOrder(id, key(lastIndex, in: all))
            if c > 0 { return entries.count }
            if c == 0 { return -1 - lastIndex }
            var lo = 0, hi = lastIndex
            while lo < hi {
                let mid = (lo + hi) / 2
                if keyOrder(key(mid, in: all), id) < 0 { lo = mid + 1 } else { hi = mid }
            }
            return keyOrder(key(lo, in: all), id) == 0 ? -1 - lo : lo
        }
        if place < 0 { return .repeats(entries[-1 - place].position) }
        if entries.count - place > Self.reach { return .outOfReach }
        let start = bytes.count
        bytes.append(contentsOf: id)
        entries.insert((start, bytes.count, position), at: place)
        return .kept
    }

    /// Puts the ids and their positions into `table` in key order and raises `edge` to
    /// the greatest. An id that does not sort after the table's last key after all (an
    /// id generated during the request and indexed, past ``GeneratedID/positionLimit``,
    /// may sort after it) is put in its place; one found stored there was given to two
    /// events, and the transaction fails.
    func put(into table: Table, txn: Transaction, edge: inout IDEdge) throws {
        try bytes.withUnsafeBytes { all in
            for k in entries.indices {
                let id = key(k, in: all)
                var p = entries[k].position
                try withUnsafeBytes(of: &p) { value in
                    if try txn.append(table, key: id, value: value) { return }
                    if try txn.insertOrExisting(table, key: id, value: value) != nil {
                        throw DuplicateID(id: String(decoding: id, as: UTF8.self))
                    }
                }
            }
            if let last = entries.indices.last { edge.raise(to: key(last, in: all)) }
        }
    }

    /// An id stored twice in one transaction: nothing of the transaction is kept.
    struct DuplicateID: Error, CustomStringConvertible {
        var id: String
        var description: String { "internal error, nothing stored: event id \(id) was stored for two events" }
    }
}
