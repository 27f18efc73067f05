import LMDB

/// The index writes shared by append and rebuild, so both lay out entries the same way.
extension Schema {
    /// Stores `id → position` unless the id is stored; returns the stored position if it is.
    func putNewID(_ id: UnsafeRawBufferPointer, position: UInt64, txn: Transaction) throws -> UInt64? {
        var p = position
        return try withUnsafeBytes(of: &p) { pb in
            try txn.insertOrExisting(ids, key: id, value: pb).map { $0.loadUnaligned(as: UInt64.self) }
        }
    }

    /// Stores `id → position`. A `generated` id (``EventIDGenerator``: time-ordered;
    /// indexed only past ``GeneratedID/positionLimit``) is tried at the table's right
    /// edge first (`MDB_APPEND`, no descent from the root), and put in its place when
    /// some stored id sorts after it.
    ///
    /// `edge` is raised to the id (``IDEdge``).
    func putID(_ id: String, position: UInt64, generated: Bool = false, txn: Transaction, edge: inout IDEdge) throws {
        var key = id
        try key.withUTF8 { try putID(UnsafeRawBufferPointer($0), position: position, generated: generated, txn: txn, edge: &edge) }
    }

    /// ``putID(_:position:generated:txn:edge:)`` for an id's UTF-8 bytes.
    func putID(_ k: UnsafeRawBufferPointer, position: UInt64, generated: Bool = false, txn: Transaction,
               edge: inout IDEdge) throws {
        var p = position
        try withUnsafeBytes(of: &p) { pb in
            defer { edge.raise(to: k) }
            if generated, try txn.append(ids, key: k, value: pb) { return }
            try txn.put(ids, key: k, value: pb)
        }
    }

    /// ``putID(_:position:generated:txn:edge:)`` outside an append (rebuild).
    func putID(_ id: String, position: UInt64, txn: Transaction) throws {
        var none = IDEdge()
        try putID(id, position: position, txn: txn, edge: &none)
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
    static func lastKey<K: FixedWidthInteger>(in table: Table, as: K.Type = UInt32.self, txn: Transaction) throws -> K? {
        try txn.withCursor(table) { c in try c.last().map { $0.key.load(at: 0) as K } }
    }

    /// Changes the fixed-size value (`size` bytes) under integer key `key` through
    /// `change`: read, changed and put back when the key is stored, or made of zeros
    /// when it lies beyond `last` (the table's last key, kept up to date here) and
    /// appended at the table's right edge (`MDB_APPEND`), so pages fill up instead of
    /// being split in the middle.
    static func updateChunk<K: FixedWidthInteger>(_ key: K, size: Int, last: inout K?, table: Table, txn: Transaction,
                                                  _ change: (UnsafeMutableRawBufferPointer) -> Void) throws {
        let isNew = last.map { key > $0 } ?? true
        var bytes = isNew ? [UInt8](repeating: 0, count: size)
            : try txn.get(table, key: key).map { Array($0) } ?? [UInt8](repeating: 0, count: size)
        guard bytes.count == size else { throw CorruptData("\(table.name): chunk \(key) is \(bytes.count) bytes") }
        bytes.withUnsafeMutableBytes(change)
        try txn.put(table, key: key, value: bytes, flags: isNew ? .append : [])
        if isNew { last = key }
    }

    /// The number after the last key of an integer-keyed table (1 when empty).
    func nextNumber(in table: Table, txn: Transaction) throws -> UInt32 {
        try (Schema.lastKey(in: table, txn: txn) ?? 0) + 1
    }
}
