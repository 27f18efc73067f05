import LMDB

/// The client streams, stored as a chain through the log: the `chain` table holds,
/// for every position, the position of the previous event of the same client key's
/// stream (0 for a stream's first event), and each client's state holds the last
/// position of its stream (``ClientState/streamHead``).
///
/// Links are kept 64 to a value (a chunk of consecutive positions, 512 bytes), so an
/// append writes only at the table's right edge: its writes grow with the events it
/// appends, not with the number of clients it touches — a per-client index would
/// rewrite a page of nearly every client's entries in each batch. Reading a stream
/// follows the links back from its head, one lookup per event.
enum StreamChain {
    static let linksPerChunk: UInt64 = 64
    static let chunkBytes = Int(linksPerChunk) * 8

    /// Writes the links of positions `first`, `first + 1`, …: the chunk that already
    /// holds some of them is rewritten, the chunks after it are appended.
    static func write(first: UInt64, links: [UInt64], table: Table, txn: Transaction) throws {
        guard !links.isEmpty else { return }
        var last = try Schema.lastKey(in: table, as: UInt64.self, txn: txn)
        var i = 0
        while i < links.count {
            let position = first + UInt64(i)
            try Schema.updateChunk(position / linksPerChunk, size: chunkBytes, last: &last, table: table, txn: txn) { b in
                var slot = Int(position % linksPerChunk)
                while slot < Int(linksPerChunk) && i < links.count {
                    b.storeBytes(of: links[i], toByteOffset: slot * 8, as: UInt64.self)
                    slot += 1
                    i += 1
                }
            }
        }
    }

    /// The link stored for `position`: the previous position of its stream, 0 for none.
    static func link(_ position: UInt64, table: Table, txn: Transaction) throws -> UInt64 {
        guard let v = try txn.get(table, key: position / linksPerChunk), v.count == chunkBytes else {
            throw CorruptData("chain: no link for position \(position)")
        }
        return v.load(at: Int(position % linksPerChunk) * 8)
    }

    /// The positions of the stream whose last event is at `head` and which holds
    /// `count` events, oldest first. A chain that does not go strictly back, or runs
    /// longer or shorter than `count`, is reported as corrupt.
    static func positions(head: UInt64, count: UInt32, table: Table, txn: Transaction) throws -> [UInt64] {
        var out: [UInt64] = []
        out.reserveCapacity(Int(count))
        var p = head
        while p != 0 {
            guard out.count < Int(count) else { throw CorruptData("chain: the stream ending at \(head) runs past its \(count) events") }
            out.append(p)
            let previous = try link(p, table: table, txn: txn)
            guard previous < p else { throw CorruptData("chain: position \(p) links forward to \(previous)") }
            p = previous
        }
        guard out.count == Int(count) else { throw CorruptData("chain: the stream ending at \(head) holds \(out.count) of its \(count) events") }
        return out.reversed()
    }
}
