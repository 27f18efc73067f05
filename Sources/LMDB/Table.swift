import CLMDB

/// A named database inside an environment (LMDB's `MDB_dbi`).
///
/// Handles are opened once by ``Environment/openTables(_:)`` and stay valid for the
/// environment's life; they are never closed (LMDB advises against `mdb_dbi_close`).
public struct Table: Sendable, Hashable {
    /// The database's name inside the environment.
    public let name: String
    let dbi: MDB_dbi
}

/// How a named database orders and stores its keys and values.
public struct TableOptions: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Keys are native-endian `UInt32` or `UInt64` (`MDB_INTEGERKEY`).
    public static let integerKey = TableOptions(rawValue: UInt32(MDB_INTEGERKEY))
    /// A key may hold many sorted values (`MDB_DUPSORT`).
    public static let duplicates = TableOptions(rawValue: UInt32(MDB_DUPSORT))
    /// With `duplicates`: all values of a key have one size (`MDB_DUPFIXED`).
    public static let fixedSizeDuplicates = TableOptions(rawValue: UInt32(MDB_DUPFIXED))
    /// With `duplicates`: values are native-endian integers (`MDB_INTEGERDUP`).
    public static let integerDuplicates = TableOptions(rawValue: UInt32(MDB_INTEGERDUP))
}

/// Flags for ``Transaction/put(_:key:value:flags:)``.
public struct PutFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Fail with `MDB_KEYEXIST` rather than replace (`MDB_NOOVERWRITE`).
    public static let noOverwrite = PutFlags(rawValue: UInt32(MDB_NOOVERWRITE))
    /// The key is greater than every key in the table (`MDB_APPEND`); fast bulk load.
    public static let append = PutFlags(rawValue: UInt32(MDB_APPEND))
    /// The value is greater than every value of its key (`MDB_APPENDDUP`).
    public static let appendDuplicate = PutFlags(rawValue: UInt32(MDB_APPENDDUP))
    /// With duplicates: fail if this exact key/value pair exists (`MDB_NODUPDATA`).
    public static let noDuplicateData = PutFlags(rawValue: UInt32(MDB_NODUPDATA))
    /// Through a cursor: replace the value at the cursor's position, whose key must be
    /// the one given (`MDB_CURRENT`); no search.
    public static let current = PutFlags(rawValue: UInt32(MDB_CURRENT))
}
