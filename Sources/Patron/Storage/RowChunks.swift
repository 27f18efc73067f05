import LMDB

/// The `rows` table stores projection rows 14 to a value (a chunk of consecutive
/// client numbers, 1,904 bytes: two chunks fill an LMDB page without overflow), so
/// a scan over all clients is a walk over contiguous memory with one cursor step per
/// 14 clients. Empty slots are zero (no ``ProjectionRow/Flag/present`` bit).
enum RowChunks {
    static let rowsPerChunk = 14
    static let chunkBytes = rowsPerChunk * ProjectionRow.size

    static func chunk(_ client: UInt32) -> UInt32 { client / UInt32(rowsPerChunk) }
    static func offset(_ client: UInt32) -> Int { Int(client % UInt32(rowsPerChunk)) * ProjectionRow.size }

    /// Writes rows (client number, encoded row), one read-modify-write per chunk.
    ///
    /// Chunks beyond the table's last one (new clients) are appended at its right
    /// edge (`MDB_APPEND`), so pages fill up: a split in the middle, LMDB's way for
    /// keys put anywhere else, would leave one 1,904-byte chunk on each 4 KiB page.
    static func write(_ rows: [(UInt32, [UInt8])], table: Table, txn: Transaction, afterEachChunk: () -> Void = {}) throws {
        let sorted = rows.sorted { $0.0 < $1.0 }
        try write(numbers: sorted.map(\.0), rows: sorted.flatMap(\.1), table: table, txn: txn, afterEachChunk: afterEachChunk)
    }

    /// Writes the rows of `numbers` (ascending), held one after another in `rows`: one
    /// read-modify-write per chunk, in chunk order, through one cursor — a stored chunk
    /// is found once and replaced where it is (`MDB_CURRENT`), and the search for the
    /// next one often stays on the page it is on.
    static func write(numbers: [UInt32], rows: [UInt8], table: Table, txn: Transaction,
                      afterEachChunk: () -> Void = {}) throws {
        precondition(rows.count == numbers.count * ProjectionRow.size, "one row per client number")
        var last: UInt32? = try Schema.lastKey(in: table, txn: txn)
        var buffer = [UInt8](repeating: 0, count: chunkBytes)
        try txn.withCursor(table) { cursor in
            try rows.withUnsafeBytes { all in
                try buffer.withUnsafeMutableBytes { b in
                    var i = 0
                    while i < numbers.count {
                        let c = chunk(numbers[i])
                        var end = i + 1
                        while end < numbers.count && chunk(numbers[end]) == c { end += 1 }
                        afterEachChunk()
                        let isNew = last.map { c > $0 } ?? true
                        let stored = isNew ? nil : try cursor.find(c)
                        if let (_, v) = stored {
                            guard v.count == chunkBytes else {
                                throw CorruptData("\(table.name): chunk \(c) is \(v.count) bytes")
                            }
                            b.copyMemory(from: v)
                        } else {
                            b.initializeMemory(as: UInt8.self, repeating: 0)
                        }
                        for k in i..<end {
                            let slot = offset(numbers[k])
                            let row = UnsafeRawBufferPointer(rebasing: all[(k * ProjectionRow.size)..<((k + 1) * ProjectionRow.size)])
                            UnsafeMutableRawBufferPointer(rebasing: b[slot..<(slot + ProjectionRow.size)]).copyMemory(from: row)
                        }
                        var key = c
                        try withUnsafeBytes(of: &key) { k in
                            try cursor.put(key: k, value: UnsafeRawBufferPointer(b),
                                           flags: stored != nil ? .current : isNew ? .append : [])
                        }
                        if isNew { last = c }
                        i = end
                    }
                }
            }
        }
    }

    /// The stored row of `client`, or nil.
    static func row(_ client: UInt32, table: Table, txn: Transaction) throws -> [UInt8]? {
        guard let chunk = try txn.get(table, key: chunk(client)), chunk.count == chunkBytes else { return nil }
        let row = Array(chunk[offset(client)..<(offset(client) + ProjectionRow.size)])
        let flags = UInt32(littleEndian: row.withUnsafeBytes { $0.load(at: 0) })
        return flags & ProjectionRow.Flag.present != 0 ? row : nil
    }

    /// Calls `body` with every present row in client-number order, in place.
    @inline(__always)
    static func forEach(table: Table, txn: Transaction, _ body: (UInt32, UnsafeRawBufferPointer) throws -> Void) throws {
        try txn.withCursor(table) { c in
            var entry = try c.first()
            while let (k, v) = entry {
                let base = (k.load(at: 0) as UInt32) * UInt32(rowsPerChunk)
                guard v.count == chunkBytes else { throw CorruptData("rows: a chunk of \(v.count) bytes") }
                var off = 0
                for slot in 0..<UInt32(rowsPerChunk) {
                    let row = UnsafeRawBufferPointer(rebasing: v[off..<(off + ProjectionRow.size)])
                    if (row.load(at: 0) as UInt32) & ProjectionRow.Flag.present != 0 { try body(base + slot, row) }
                    off += ProjectionRow.size
                }
                entry = try c.next()
            }
        }
    }
}
