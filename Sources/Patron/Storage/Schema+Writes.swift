import LMDB

/// The index writes shared by append and rebuild, so both lay out entries the same way.
extension Schema {
    /// `id → position`.
    func putID(_ id: String, position: UInt64, txn: Transaction) throws {
        var p = position, key = id
        try withUnsafeBytes(of: &p) { pb in
            try key.withUTF8 { ib in try txn.put(ids, key: UnsafeRawBufferPointer(ib), value: pb) }
        }
    }

    /// Both directions of client key ↔ client number. `number` must be greater than
    /// every number stored (numbers are handed out in order): it is appended at the
    /// table's right edge (`MDB_APPEND`), which leaves full pages behind instead of
    /// the half-full ones of a split in the middle.
    func putClient(key: String, number: UInt32, txn: Transaction) throws {
        try txn.put(clientKeys, key: key, value: withUnsafeBytes(of: number) { Array($0) })
        try txn.put(clientNames, key: number, value: Array(key.utf8), flags: .append)
    }

    /// Both directions of string ↔ dictionary id; `id` must be greater than every id
    /// stored (appended, like client numbers).
    func putString(_ s: String, id: UInt32, txn: Transaction) throws {
        try txn.put(strings, key: s, value: withUnsafeBytes(of: id) { Array($0) })
        try txn.put(stringValues, key: id, value: Array(s.utf8), flags: .append)
    }

    /// The last key of an integer-keyed table, nil when it is empty.
    static func lastKey(in table: Table, txn: Transaction) throws -> UInt32? {
        try txn.withCursor(table) { c in try c.last().map { $0.key.load(at: 0) as UInt32 } }
    }

    /// The number after the last key of an integer-keyed table (1 when empty).
    func nextNumber(in table: Table, txn: Transaction) throws -> UInt32 {
        try (Schema.lastKey(in: table, txn: txn) ?? 0) + 1
    }
}
