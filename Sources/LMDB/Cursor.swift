import CLMDB

/// A cursor over one table inside a transaction; see ``Transaction/withCursor(_:_:)``.
///
/// Each move returns the key and value it lands on, or nil at the end
/// (`MDB_NOTFOUND`, the only code that means "no more data"). The buffers point
/// into the memory map: valid until the transaction ends or writes.
public struct Cursor {
    let handle: OpaquePointer
    let table: Table

    /// A key/value pair the cursor stands on.
    public typealias Entry = (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)

    private func move(_ op: MDB_cursor_op, key: UnsafeRawBufferPointer? = nil,
                      value: UnsafeRawBufferPointer? = nil) throws -> Entry? {
        var k = MDB_val(mv_size: key?.count ?? 0, mv_data: UnsafeMutableRawPointer(mutating: key?.baseAddress))
        var v = MDB_val(mv_size: value?.count ?? 0, mv_data: UnsafeMutableRawPointer(mutating: value?.baseAddress))
        let rc = mdb_cursor_get(handle, &k, &v, op)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_cursor_get(\(table.name), op \(op.rawValue))")
        return (UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size),
                UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
    }

    /// The first entry.
    public func first() throws -> Entry? { try move(MDB_FIRST) }
    /// The last entry.
    public func last() throws -> Entry? { try move(MDB_LAST) }
    /// The next entry (the next value of the same key in a duplicates table).
    public func next() throws -> Entry? { try move(MDB_NEXT) }
    /// The previous entry.
    public func previous() throws -> Entry? { try move(MDB_PREV) }
    /// The entry under exactly `key`.
    public func find(_ key: UnsafeRawBufferPointer) throws -> Entry? { try move(MDB_SET_KEY, key: key) }
    /// The first entry whose key is ≥ `key`.
    public func seek(_ key: UnsafeRawBufferPointer) throws -> Entry? { try move(MDB_SET_RANGE, key: key) }
    /// The next key's first value, skipping remaining values of this key.
    public func nextKey() throws -> Entry? { try move(MDB_NEXT_NODUP) }
    /// In a fixed-size duplicates table: up to a page of values of the current key.
    public func getMultiple() throws -> Entry? { try move(MDB_GET_MULTIPLE) }
    /// In a fixed-size duplicates table: the next page of values of the current key.
    public func nextMultiple() throws -> Entry? { try move(MDB_NEXT_MULTIPLE) }
    /// Number of values under the current key in a duplicates table.
    public func duplicateCount() throws -> Int {
        var n: Int = 0
        try check(mdb_cursor_count(handle, &n), "mdb_cursor_count(\(table.name))")
        return n
    }

    /// Stores through the cursor (e.g. with `.append` for bulk loads).
    public func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, flags: PutFlags = []) throws {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try check(mdb_cursor_put(handle, &k, &v, flags.rawValue), "mdb_cursor_put(\(table.name))")
    }

    /// Stores under `key` as native-endian integer bytes; see ``put(key:value:flags:)``.
    public func put<K: FixedWidthInteger>(key: K, value: UnsafeRawBufferPointer, flags: PutFlags = []) throws {
        var k = key
        try withUnsafeBytes(of: &k) { kb in try put(key: kb, value: value, flags: flags) }
    }

    /// Seeks `key` with native-endian integer bytes; see ``seek(_:)``.
    public func seek<K: FixedWidthInteger>(_ key: K) throws -> Entry? {
        var k = key
        return try withUnsafeBytes(of: &k) { kb in try seek(kb) }
    }

    /// Finds `key` with native-endian integer bytes; see ``find(_:)``.
    public func find<K: FixedWidthInteger>(_ key: K) throws -> Entry? {
        var k = key
        return try withUnsafeBytes(of: &k) { kb in try find(kb) }
    }
}

extension UnsafeRawBufferPointer {
    /// Reads a native-endian integer at `offset` without alignment requirements.
    @inlinable @inline(__always)
    public func load<T: FixedWidthInteger>(at offset: Int, as: T.Type = T.self) -> T {
        loadUnaligned(fromByteOffset: offset, as: T.self)
    }
}
