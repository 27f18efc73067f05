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
/// here (``insert(_:position:)``).
struct DeferredIDs {
    private var bytes: [UInt8] = []
    /// In key order: each id's bytes in `bytes`, and the position of its event.
    private var entries: [(start: Int, end: Int, position: UInt64)] = []

    var isEmpty: Bool { entries.isEmpty }

    private func key(_ k: Int, in all: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: all[entries[k].start..<entries[k].end])
    }

    /// Records `id` for the event to be written at `position`, or, when an earlier event
    /// of the request has the same id, returns that event's position (recording nothing).
    mutating func insert(_ id: UnsafeRawBufferPointer, position: UInt64) -> UInt64? {
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
        if place < 0 { return entries[-1 - place].position }
        let start = bytes.count
        bytes.append(contentsOf: id)
        entries.insert((start, bytes.count, position), at: place)
        return nil
    }

    /// Puts the ids and their positions into `table` in key order and raises `edge` to
    /// the last. An id that does not sort after the table's last key after all (an id
    /// generated during the request sorts after it) is put in its place; one found
    /// stored there was given to two events, and the transaction fails.
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
                edge.raise(to: id)
            }
        }
    }

    /// An id stored twice in one transaction: nothing of the transaction is kept.
    struct DuplicateID: Error, CustomStringConvertible {
        var id: String
        var description: String { "internal error, nothing stored: event id \(id) was stored for two events" }
    }
}
