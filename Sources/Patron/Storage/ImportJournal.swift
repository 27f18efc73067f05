import Foundation
import LMDB
import Synchronization

/// The record of an import that spans several write transactions, so that an import
/// that does not finish — a bad row half-way, a full disk, a killed process — can be
/// undone as a whole: the database goes back to what it was before the file.
///
/// An import that commits more than one transaction writes the journal (in `meta`) in
/// its first transaction and removes it in its last. In between, every client that
/// existed before the import gets its stored state saved in the `undo` table the first
/// time the import touches it. Undoing (``Store/rollBack(_:txn:)``) deletes the log
/// from ``firstPosition`` on with its ids and stream links, deletes the clients from
/// ``firstClient`` on, and puts the saved states back.
///
/// While the journal names a live process, other writers are refused (an append in
/// between would be undone with the import); once that process is gone, the next
/// writer (or the next read-write open) undoes the import first.
struct ImportJournal: Equatable, Sendable {
    static let key = "import-journal"

    /// The first log position the import wrote.
    var firstPosition: UInt64
    /// The first client number the import could create.
    var firstClient: UInt32
    /// The importing process.
    var pid: Int32
    /// When that process started (clock ticks since boot, `/proc/PID/stat`), so a
    /// reused process id is not taken for the importer; 0 where unknown.
    var processStart: UInt64
    /// The file being imported, for messages.
    var file: String

    /// A journal for this process.
    static func mine(firstPosition: UInt64, firstClient: UInt32, file: String) -> ImportJournal {
        let pid = getpid()
        return ImportJournal(firstPosition: firstPosition, firstClient: firstClient, pid: pid,
                             processStart: processStart(of: pid) ?? 0, file: file)
    }

    func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 32 + file.utf8.count)
        w.u8(1)
        w.fixed(firstPosition)
        w.fixed(firstClient)
        w.fixed(UInt32(bitPattern: pid))
        w.fixed(processStart)
        w.string(file)
        return w.bytes
    }

    init(firstPosition: UInt64, firstClient: UInt32, pid: Int32, processStart: UInt64, file: String) {
        self.firstPosition = firstPosition
        self.firstClient = firstClient
        self.pid = pid
        self.processStart = processStart
        self.file = file
    }

    init(_ bytes: UnsafeRawBufferPointer) throws(CorruptData) {
        var r = ByteReader(bytes)
        guard try r.u8() == 1 else { throw CorruptData("meta: an import journal of an unknown version") }
        firstPosition = try r.fixed()
        firstClient = try r.fixed()
        pid = Int32(bitPattern: try r.fixed(UInt32.self))
        processStart = try r.fixed()
        file = try r.string()
    }

    /// The journal stored in `meta`, if an import is unfinished.
    static func read(_ meta: Table, txn: Transaction) throws -> ImportJournal? {
        guard let v = try txn.get(meta, key: key) else { return nil }
        return try ImportJournal(v)
    }

    /// Whether the importing process is still running.
    var ownerIsAlive: Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard processStart != 0, let start = Self.processStart(of: pid) else { return true }
        return start == processStart
    }

    /// What another writer is told while the import runs.
    var busyMessage: String {
        "an import of \(file) by process \(pid) is under way (it commits in several transactions, "
            + "and anything written in between would be undone with it if it fails); try again when it has finished"
    }

    /// What `stats` and `verify` say about it, given whether it is under way.
    func note(live: Bool) -> String {
        live
            ? "an import of \(file) by process \(pid) is under way; it has stored events from position \(firstPosition) on so far"
            : "an import of \(file) by process \(pid) stopped unfinished; its events, from position \(firstPosition) on, "
                + "are undone by the next read-write opening (any write command)"
    }

    /// Field 22 of `/proc/PID/stat` (start time in clock ticks since boot), nil where
    /// there is no `/proc`.
    static func processStart(of pid: Int32) -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // Fields after the command name (which may hold spaces), from field 3 on.
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }
}

/// The state of a client as stored before an import touched it: its `details` value
/// and its projection row, each nil when it had none.
struct SavedState {
    var detail: [UInt8]?
    var row: [UInt8]?

    func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 16 + (detail?.count ?? 0) + (row?.count ?? 0))
        w.u8((detail == nil ? 0 : 1) | (row == nil ? 0 : 2))
        if let detail { w.blob(detail) }
        if let row { w.blob(row) }
        return w.bytes
    }

    init(detail: [UInt8]?, row: [UInt8]?) {
        self.detail = detail
        self.row = row
    }

    init(_ bytes: UnsafeRawBufferPointer) throws(CorruptData) {
        var r = ByteReader(bytes)
        let flags = try r.u8()
        detail = flags & 1 != 0 ? try r.blob() : nil
        row = flags & 2 != 0 ? try r.blob() : nil
    }
}

/// How many times events were undone, and from which positions the last
/// ``UndoMarker/kept`` times, newest first (`meta` key `log-undone`), so a subscription
/// can tell that positions it delivered were taken back, even by several undos
/// between two of its reads.
struct UndoMarker: Equatable {
    static let key = "log-undone"
    static let kept = 16
    var count: UInt64
    var recent: [UInt64]

    /// The marker after one more undo, from `position`.
    func adding(_ position: UInt64) -> UndoMarker {
        UndoMarker(count: count + 1, recent: Array(([position] + recent).prefix(Self.kept)))
    }

    /// Stored: the count, then the positions, 8 bytes each (little-endian).
    func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 8 * (recent.count + 1))
        w.fixed(count)
        for p in recent { w.fixed(p) }
        return w.bytes
    }

    init(count: UInt64 = 0, recent: [UInt64] = []) {
        self.count = count
        self.recent = recent
    }

    /// Reads ``encoded()``; anything else is no marker (no undo yet).
    init(_ v: UnsafeRawBufferPointer) {
        guard v.count >= 8, v.count % 8 == 0 else {
            self.init()
            return
        }
        func word(_ at: Int) -> UInt64 { UInt64(littleEndian: v.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        self.init(count: word(0), recent: stride(from: 8, to: v.count, by: 8).map(word))
    }

    /// The lowest position undone by the undos after the first `seen`: nil when
    /// there were none, 1 when they are more than are kept.
    func lowestUndone(since seen: UInt64) -> UInt64? {
        guard count > seen else { return nil }
        let new = count - seen
        guard new <= UInt64(recent.count) else { return 1 }
        return recent.prefix(Int(new)).min()
    }
}

/// The imports under way in this process (``ImportJournal``s of running sessions), by
/// database file (device and inode) and first position: a journal naming this process
/// is live only while its session runs, so one an undo failed to remove is undone by
/// the process's next writer instead of holding it off for good.
private let liveImports = Mutex<Set<String>>([])

extension Store {
    private func liveKey(_ j: ImportJournal) -> String {
        var st = stat()
        let file = stat(path, &st) == 0 ? "\(st.st_dev):\(st.st_ino)" : path
        return "\(file)#\(j.firstPosition)#\(j.processStart)"
    }

    /// Whether the import of `j` is still under way (its process runs, and if that is
    /// this one, its session too).
    func isLive(_ j: ImportJournal) -> Bool {
        guard j.pid == getpid() else { return j.ownerIsAlive }
        let key = liveKey(j)
        return liveImports.withLock { $0.contains(key) }
    }

    func markLive(_ j: ImportJournal) {
        let key = liveKey(j)
        liveImports.withLock { _ = $0.insert(key) }
    }

    func forgetLive(_ j: ImportJournal) {
        let key = liveKey(j)
        liveImports.withLock { _ = $0.remove(key) }
    }

    func undoMarker(txn: Transaction) throws -> UndoMarker {
        try txn.get(schema.meta, key: UndoMarker.key).map(UndoMarker.init) ?? UndoMarker()
    }

    /// Saves the stored state of `client` in `undo` unless it is saved already.
    func saveState(_ client: UInt32, txn: Transaction) throws {
        guard let undo = schema.undo, try txn.get(undo, key: client) == nil else { return }
        let saved = SavedState(detail: try txn.get(schema.details, key: client).map { Array($0) },
                               row: try RowChunks.row(client, table: schema.rows, txn: txn))
        try txn.put(undo, key: client, value: saved.encoded())
    }

    /// Undoes the unfinished import of `journal` inside `txn`: the log from its first
    /// position on, those events' ids and stream links, the clients it created, the
    /// states it changed; then removes the journal and marks every cached projection
    /// stale. Returns the clients it deleted, whose keys go once `txn` has committed.
    func rollBack(_ journal: ImportJournal, txn: Transaction) throws -> Set<UInt32> {
        let s = schema
        // The log and the ids of its events.
        var positions: [UInt64] = []
        try txn.withCursor(s.log) { c in
            var entry = try c.seek(journal.firstPosition)
            while let (k, v) = entry {
                let d = try EventCodec.decode(v, position: k.load(at: 0), verifyChecksum: false)
                _ = try txn.delete(s.ids, key: d.event.id ?? "")
                positions.append(k.load(at: 0))
                entry = try c.next()
            }
        }
        for p in positions { _ = try txn.delete(s.log, key: p) }
        // Stream links: the first chunk keeps its earlier positions' links.
        try truncate(s.chain, from: journal.firstPosition / StreamChain.linksPerChunk,
                     kept: Int(journal.firstPosition % StreamChain.linksPerChunk) * 8, txn: txn)
        // Clients the import created: keys, names, details, rows.
        var created: Set<UInt32> = []
        var names: [(UInt32, String)] = []
        try txn.withCursor(s.clientNames) { c in
            var entry = try c.seek(journal.firstClient)
            while let (k, v) = entry {
                names.append((k.load(at: 0), String(decoding: v, as: UTF8.self)))
                entry = try c.next()
            }
        }
        for (n, key) in names {
            _ = try txn.delete(s.clientKeys, key: key)
            _ = try txn.delete(s.clientNames, key: n)
            _ = try txn.delete(s.details, key: n)
            created.insert(n)
        }
        try truncate(s.rows, from: RowChunks.chunk(journal.firstClient), kept: RowChunks.offset(journal.firstClient), txn: txn)
        // The states it changed, as they were.
        if let undo = s.undo {
            var restored: [(UInt32, [UInt8])] = []
            try txn.withCursor(undo) { c in
                var entry = try c.first()
                while let (k, v) = entry {
                    let n: UInt32 = k.load(at: 0)
                    let saved = try SavedState(v)
                    if let d = saved.detail { try txn.put(s.details, key: n, value: d) } else { _ = try txn.delete(s.details, key: n) }
                    restored.append((n, saved.row ?? [UInt8](repeating: 0, count: ProjectionRow.size)))
                    entry = try c.next()
                }
            }
            try RowChunks.write(restored, table: s.rows, txn: txn)
            try txn.empty(undo)
        }
        _ = try txn.delete(s.meta, key: ImportJournal.key)
        try bumpProjectionEpoch(txn: txn)
        try txn.put(s.meta, key: UndoMarker.key, value: try undoMarker(txn: txn).adding(journal.firstPosition).encoded())
        return created
    }

    /// Deletes the chunks of an integer-keyed chunk table from key `first` on, except
    /// that chunk `first` keeps its first `kept` bytes (the rest zeroed) when `kept` > 0.
    private func truncate<K: FixedWidthInteger>(_ table: Table, from first: K, kept: Int, txn: Transaction) throws {
        var keys: [K] = []
        try txn.withCursor(table) { c in
            var entry = try c.seek(first)
            while let (k, _) = entry {
                keys.append(k.load(at: 0))
                entry = try c.next()
            }
        }
        for k in keys {
            if k == first && kept > 0, let v = try txn.get(table, key: k) {
                var bytes = Array(v)
                for i in min(kept, bytes.count)..<bytes.count { bytes[i] = 0 }
                try txn.put(table, key: k, value: bytes)
            } else {
                _ = try txn.delete(table, key: k)
            }
        }
    }
}
