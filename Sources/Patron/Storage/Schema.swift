import LMDB

/// The named LMDB databases of a Patron file and what each maps.
struct Schema {
    /// The on-disk format this build reads and writes. 2: projection rows of 136
    /// bytes (14 to a chunk) with the repeat-day value, and the day values in details.
    /// 3: client streams as a chain through the log (`chain`, ``StreamChain``) instead
    /// of the `streams` table. 4: ids the database assigns name their position and
    /// have no entry in `ids` (``GeneratedID``).
    static let formatVersion: UInt32 = 4
    /// Older formats with the same log, which `rebuild` upgrades (``Database/upgrade(path:options:)``).
    static let upgradableVersions: ClosedRange<UInt32> = 1...2
    /// Older formats whose files are also files of this one, marked with this format
    /// at their first read-write opening: format 3 indexed every id, which format 4
    /// still reads (only assigned ids in the new spelling go without an entry).
    static let compatibleVersions: ClosedRange<UInt32> = 3...3

    /// `meta`: setting name → bytes (`format`, `timezone`, `created`).
    let meta: Table
    /// `log`: position (UInt64, native) → encoded event. Appended with `MDB_APPEND`.
    let log: Table
    /// `ids`: event id (UTF-8) → position (UInt64).
    let ids: Table
    /// `client_keys`: client key (UTF-8) → client number (UInt32).
    let clientKeys: Table
    /// `client_names`: client number → client key.
    let clientNames: Table
    /// `chain`: position / 64 → the previous position of the same client key's stream
    /// for each of 64 positions (``StreamChain``).
    let chain: Table
    /// `rows`: chunk number → 14 fixed-size projection rows (``RowChunks``, ``ProjectionRow``).
    let rows: Table
    /// `details`: client number → the variable part of the client state.
    let details: Table
    /// `strings`: string → dictionary id (UInt32), for projected categorical values.
    let strings: Table
    /// `string_values`: dictionary id → string.
    let stringValues: Table
    /// `undo`: client number → its state before the unfinished import of the journal
    /// (``ImportJournal``, ``SavedState``); empty otherwise. Nil in a read-only opening
    /// of a file made before the table existed.
    let undo: Table?

    static let specs: [(name: String, options: TableOptions)] = [
        ("meta", []),
        ("log", [.integerKey]),
        ("ids", []),
        ("client_keys", []),
        ("client_names", [.integerKey]),
        ("chain", [.integerKey]),
        ("rows", [.integerKey]),
        ("details", [.integerKey]),
        ("strings", []),
        ("string_values", [.integerKey]),
    ]

    /// The table added after format 3 was first written: created by a read-write
    /// opening, optional in a read-only one.
    static let undoSpec: (name: String, options: TableOptions) = ("undo", [.integerKey])

    init(_ t: [Table], undo: Table?) {
        meta = t[0]; log = t[1]; ids = t[2]; clientKeys = t[3]; clientNames = t[4]
        chain = t[5]; rows = t[6]; details = t[7]; strings = t[8]; stringValues = t[9]
        self.undo = undo
    }

    /// Marks the file with this build's format version (``formatVersion``).
    func putFormatVersion(txn: Transaction) throws {
        var v = Schema.formatVersion.littleEndian
        try withUnsafeBytes(of: &v) { try txn.put(meta, key: "format", value: Array($0)) }
    }

    /// Tables rebuilt from the log by `rebuild`.
    var derived: [Table] { [ids, clientKeys, clientNames, chain, rows, details] }

    /// The table of formats 1 and 2 that `chain` replaces; an upgrade removes it.
    static let formerStreams = "streams"
}
