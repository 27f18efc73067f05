import CLMDB

/// An error returned by an LMDB call.
///
/// A struct over the raw result code, so codes this wrapper does not name stay
/// representable. `message` is LMDB's own text (`mdb_strerror`) and `operation`
/// names the call that failed, e.g. `mdb_put(log)`.
///
/// ```swift
/// do { try env.write { txn in try txn.put(table, key: k, value: v) } }
/// catch let error as LMDBError where error.code == LMDBError.mapFull { … }
/// ```
public struct LMDBError: Error, Equatable, Sendable, CustomStringConvertible {
    /// LMDB's (or the system's errno) result code.
    public let code: Int32
    /// The LMDB function (and table, where known) that returned the code.
    public let operation: String

    /// Creates an error for `code` returned by `operation`.
    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// LMDB's description of the code.
    public var message: String { String(cString: mdb_strerror(code)) }

    public var description: String { "\(operation) failed: \(message) (code \(code))" }

    /// `MDB_NOTFOUND`: the key or data item was not found.
    public static let notFound: Int32 = MDB_NOTFOUND
    /// `MDB_KEYEXIST`: the key already exists (or `MDB_APPEND` out of order).
    public static let keyExists: Int32 = MDB_KEYEXIST
    /// `MDB_MAP_FULL`: the environment's map size is reached.
    public static let mapFull: Int32 = MDB_MAP_FULL
    /// `MDB_MAP_RESIZED`: another process grew the map beyond ours.
    public static let mapResized: Int32 = MDB_MAP_RESIZED
    /// `MDB_READERS_FULL`: every reader slot is taken.
    public static let readersFull: Int32 = MDB_READERS_FULL
    /// `MDB_TXN_FULL`: the transaction has too many dirty pages.
    public static let transactionFull: Int32 = MDB_TXN_FULL
    /// `MDB_INVALID`: the file is not an LMDB file.
    public static let invalid: Int32 = MDB_INVALID
    /// `MDB_VERSION_MISMATCH`: the file was written by an incompatible LMDB.
    public static let versionMismatch: Int32 = MDB_VERSION_MISMATCH
}

/// The one checking helper every `mdb_*` call goes through: a non-zero code
/// becomes an `LMDBError` naming the operation.
@inline(__always)
func check(_ code: Int32, _ operation: @autoclosure () -> String) throws {
    if code != 0 { throw LMDBError(code: code, operation: operation()) }
}
