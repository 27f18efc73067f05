import Synchronization
import CLMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A transaction: a consistent snapshot to read, and in ``Environment/write(_:)`` the
/// one place changes are made.
///
/// Transactions are closure-scoped: the environment begins, commits and aborts
/// them. A transaction must not escape its closure nor cross an `await`.
///
/// Values returned by `get` and cursors point into LMDB's memory map and are valid
/// only until the transaction ends or the next write in it: copy what you keep.
public final class Transaction {
    let handle: OpaquePointer
    var finished = false

    init(handle: OpaquePointer) { self.handle = handle }

    /// The transaction's id: grows with every committed write transaction, so a cache
    /// built from one snapshot is valid while the id is unchanged.
    public var id: Int { mdb_txn_id(handle) }

    /// The value stored under `key`, or nil when there is none.
    public func get(_ table: Table, key: UnsafeRawBufferPointer) throws -> UnsafeRawBufferPointer? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let rc = mdb_get(handle, table.dbi, &k, &v)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_get(\(table.name))")
        return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
    }

    /// Stores `value` under `key`.
    public func put(_ table: Table, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer,
                    flags: PutFlags = []) throws {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try check(mdb_put(handle, table.dbi, &k, &v, flags.rawValue), "mdb_put(\(table.name))")
    }

    /// Stores `value` under `key` at the table's right edge (`MDB_APPEND`) when `key`
    /// sorts after every stored key; returns false, having stored nothing, when it does not.
    public func append(_ table: Table, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws -> Bool {
        try put(table, key: key, value: value, flags: UInt32(MDB_APPEND), unlessKeyExists: "append")
    }

    /// Stores `value` under `key` unless the key exists; returns false when it did.
    public func insert(_ table: Table, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws -> Bool {
        try put(table, key: key, value: value, flags: UInt32(MDB_NOOVERWRITE), unlessKeyExists: "noOverwrite")
    }

    /// A put whose `MDB_KEYEXIST` is an answer (false), not an error.
    private func put(_ table: Table, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, flags: UInt32,
                     unlessKeyExists name: String) throws -> Bool {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        let rc = mdb_put(handle, table.dbi, &k, &v, flags)
        if rc == MDB_KEYEXIST { return false }
        try check(rc, "mdb_put(\(table.name), \(name))")
        return true
    }

    /// Stores `value` under `key` unless the key exists, in one descent of the tree;
    /// returns nil when stored, else the value already there (valid until the
    /// transaction's next write).
    public func insertOrExisting(_ table: Table, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws
        -> UnsafeRawBufferPointer? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        let rc = mdb_put(handle, table.dbi, &k, &v, UInt32(MDB_NOOVERWRITE))
        // On MDB_KEYEXIST, LMDB points `v` at the stored value.
        if rc == MDB_KEYEXIST { return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size) }
        try check(rc, "mdb_put(\(table.name), noOverwrite)")
        return nil
    }

    /// Deletes `key` (and all its values in a duplicates table); returns false when absent.
    @discardableResult
    public func delete(_ table: Table, key: UnsafeRawBufferPointer) throws -> Bool {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let rc = mdb_del(handle, table.dbi, &k, nil)
        if rc == MDB_NOTFOUND { return false }
        try check(rc, "mdb_del(\(table.name))")
        return true
    }

    /// Removes every entry of `table`, keeping the table.
    public func empty(_ table: Table) throws {
        try check(mdb_drop(handle, table.dbi, 0), "mdb_drop(\(table.name))")
    }

    /// Deletes the named table and its entries, if there is one (write transactions).
    public func drop(named name: String) throws {
        var dbi: MDB_dbi = 0
        let rc = mdb_dbi_open(handle, name, 0, &dbi)
        if rc == MDB_NOTFOUND { return }
        try check(rc, "mdb_dbi_open(\(name))")
        try check(mdb_drop(handle, dbi, 1), "mdb_drop(\(name), delete)")
    }

    /// Number of entries in `table`.
    public func count(_ table: Table) throws -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(handle, table.dbi, &stat), "mdb_stat(\(table.name))")
        return Int(stat.ms_entries)
    }

    /// Pages used by `table` (branch + leaf + overflow).
    public func pages(_ table: Table) throws -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(handle, table.dbi, &stat), "mdb_stat(\(table.name))")
        return Int(stat.ms_branch_pages + stat.ms_leaf_pages + stat.ms_overflow_pages)
    }

    /// Runs `body` with a cursor over `table`; the cursor is closed afterwards.
    public func withCursor<R>(_ table: Table, _ body: (Cursor) throws -> R) throws -> R {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(handle, table.dbi, &cursor), "mdb_cursor_open(\(table.name))")
        guard let cursor else { throw LMDBError(code: MDB_INVALID, operation: "mdb_cursor_open(\(table.name))") }
        defer { mdb_cursor_close(cursor) }
        return try body(Cursor(handle: cursor, table: table))
    }
}

@available(*, unavailable)
extension Transaction: Sendable {}

// Typed key conveniences.
extension Transaction {
    /// The value under a native-endian integer key.
    public func get<K: FixedWidthInteger>(_ table: Table, key: K) throws -> UnsafeRawBufferPointer? {
        var k = key
        return try withUnsafeBytes(of: &k) { kb in try get(table, key: kb) }
    }

    /// The value under a string key (its UTF-8 bytes).
    public func get(_ table: Table, key: String) throws -> UnsafeRawBufferPointer? {
        var key = key
        return try key.withUTF8 { kb in try get(table, key: UnsafeRawBufferPointer(kb)) }
    }

    /// Stores bytes under a native-endian integer key.
    public func put<K: FixedWidthInteger>(_ table: Table, key: K, value: UnsafeRawBufferPointer, flags: PutFlags = []) throws {
        var k = key
        try withUnsafeBytes(of: &k) { kb in try put(table, key: kb, value: value, flags: flags) }
    }

    /// Stores a byte array under a native-endian integer key.
    public func put<K: FixedWidthInteger>(_ table: Table, key: K, value: [UInt8], flags: PutFlags = []) throws {
        try value.withUnsafeBytes { vb in try put(table, key: key, value: vb, flags: flags) }
    }

    /// Stores a byte array under a string key.
    public func put(_ table: Table, key: String, value: [UInt8], flags: PutFlags = []) throws {
        var key = key
        try key.withUTF8 { kb in
            try value.withUnsafeBytes { vb in
                try put(table, key: UnsafeRawBufferPointer(kb), value: vb, flags: flags)
            }
        }
    }

    /// Deletes a native-endian integer key.
    @discardableResult
    public func delete<K: FixedWidthInteger>(_ table: Table, key: K) throws -> Bool {
        var k = key
        return try withUnsafeBytes(of: &k) { kb in try delete(table, key: kb) }
    }

    /// Deletes a string key (its UTF-8 bytes).
    @discardableResult
    public func delete(_ table: Table, key: String) throws -> Bool {
        var key = key
        return try key.withUTF8 { kb in try delete(table, key: UnsafeRawBufferPointer(kb)) }
    }

    /// Lets the kernel unmap the pages of the file this process has read through the
    /// map (`MADV_DONTNEED`), so they stop counting in its resident memory; they stay
    /// in the page cache and are mapped again when next read. Safe inside a
    /// transaction (the map cannot move while one is open): the map is read-only (no
    /// `MDB_WRITEMAP`), and pages this transaction writes live in LMDB's own memory
    /// until the commit writes them to the file.
    ///
    /// Each random read of a page maps its neighbours too (the kernel's fault-around,
    /// 64 KiB), so a writer reading scattered pages should call this every few thousand
    /// reads. The file's mappings are looked up in `/proc/self/maps` once and kept until
    /// an environment of the file opens, closes or moves its map (``MapRanges``).
    public func releaseMappedPages() {
        guard let env = mdb_txn_env(handle) else { return }
        MapRanges.release(env)
    }
}
