import Foundation
import LMDB
import Synchronization

/// The storage engine under ``Database``: the LMDB environment, its tables, the key
/// file, and caches of committed, immutable mappings (string ids, client numbers).
final class Store: Sendable {
    let env: Environment
    let schema: Schema
    let keys: KeyStore
    let zone: Zone
    let path: String
    let readOnly: Bool

    /// Committed string ids. Entries never change once committed, so they are valid
    /// in every process and every later snapshot.
    let stringCache = Mutex<[String: UInt32]>([:])
    let stringValueCache = Mutex<[UInt32: String]>([:])
    /// Committed client numbers, valid under one projection epoch: a rebuild or an
    /// undone import (in this process or another) bumps the epoch and may give the
    /// numbers to other keys. It starts over past ``clientCacheLimit`` entries.
    let clientCache = Mutex(ClientCache())
    /// The most client numbers cached: some 40 MB with keys of up to 15 bytes (an
    /// import of a file with millions of clients must stay within its memory bound).
    static let clientCacheLimit = 1_000_000
    /// The projection epoch of the last snapshot (transaction id) looked at.
    private let snapshotEpoch = Mutex<(txn: Int, epoch: UInt64)>((-1, 0))

    struct ClientCache {
        var epoch: UInt64 = .max
        var numbers: [String: UInt32] = [:]
    }
    let idGenerator = EventIDGenerator()
    #if DEBUG
    /// Tests only: which of a commit's state writes from the writer's thread fails
    /// (counted from 1 over the states it encodes itself, then cleared), as a full
    /// disk would make it fail (``AppendContext``).
    let failStateWrite = Mutex<Int?>(nil)
    /// Tests only: imports into this store do not grow the map ahead of their
    /// transactions, so that one runs out of map half-way.
    let importSkipsMapReserve = Mutex(false)
    /// Tests only: how often an import read its file again because a transaction ran
    /// out of map with its batches not kept.
    let importReadAgain = Mutex(0)
    /// Tests only: the first run of this transaction of an import (counted from 1, in
    /// each reading of the file) fails as if the map were full, once it has read its rows.
    let importMapFullInSegment = Mutex<Int?>(nil)
    /// Tests only: commits write their changed details in place, never by rewriting
    /// the table (``DetailsWriter``).
    let detailsRewriteOff = Mutex(false)
    /// Tests only: the most client states an import's transactions hold while they can
    /// let go of some, in place of ``Writer/sessionHoldLimit``.
    let importHoldLimit = Mutex<Int?>(nil)
    /// Tests only: who encodes the log records of a pipelined request's chunks, in
    /// place of the fold's backlog deciding: the writer (true) or the fold thread
    /// (false), chunk after chunk in turn through the list.
    let writerEncodesChunks = Mutex<[Bool]?>(nil)
    /// Tests only: folds of this store's pipelines started and not yet ended on their
    /// thread (``FoldPipeline``).
    let foldsRunning = Mutex(0)
    #endif

    struct Options {
        var timeZone: String
        var initialMapSize: Int
        var durable: Bool
        /// Open a database of an older format whose log this build reads (see
        /// ``Schema/upgradableVersions``), only to rebuild its projections.
        var upgrade = false
    }

    /// The format version found at open (``Schema/formatVersion`` once upgraded).
    let openedFormat: UInt32
    /// How imports derive ids from content in this database (``ContentIDScheme``).
    let contentIDs: ContentIDScheme

    init(path: String, readOnly: Bool, options: Options) throws {
        self.path = path
        self.readOnly = readOnly
        let exists = FileManager.default.fileExists(atPath: path)
        if readOnly && !exists { throw PatronError.io("no database at \(path)") }
        if exists {
            // A file that is not LMDB (or is empty) must not be taken over.
            try Store.checkLooksLikeLMDB(path)
        }
        do {
            env = try Environment(path: path, options: .init(maxTables: 16, initialMapSize: options.initialMapSize,
                                                             readOnly: readOnly, noSync: !options.durable))
        } catch let e as LMDBError where e.code == LMDBError.invalid || e.code == LMDBError.versionMismatch {
            throw PatronError.format("\(path) is not a Patron database (\(e.message))")
        }
        let tables: [Table]
        var found = Schema.formatVersion
        do {
            // The format first, from `meta` alone: a database of another format is
            // refused before anything (a table this format adds) is created in it.
            let meta = try env.openTables([Schema.specs[0]])[0]
            if let version = try env.read({ txn in try Store.formatVersion(meta, txn: txn, path: path) }) {
                found = version
                if Schema.upgradableVersions.contains(version) && !(options.upgrade && !readOnly) {
                    throw PatronError.format("\(path) is Patron format version \(version); this build keeps its projections in format \(Schema.formatVersion). Run `patron rebuild --db \(path)` once to upgrade it: the projections are recomputed from the log, which is unchanged.")
                }
                guard version == Schema.formatVersion || Schema.upgradableVersions.contains(version)
                        || Schema.compatibleVersions.contains(version) else {
                    throw PatronError.format("\(path) is Patron format version \(version); this build reads version \(Schema.formatVersion). Use a Patron that matches, or export and re-import.")
                }
            }
            // `undo` with the others when it may be created; a read-only opening of a
            // file made before it existed goes without.
            tables = try env.openTables(Schema.specs + (readOnly ? [] : [Schema.undoSpec]))
        } catch let e as LMDBError where e.code == LMDBError.notFound {
            throw PatronError.format("\(path) is not a Patron database (it lacks Patron's tables)")
        }
        let undo: Table?
        if !readOnly {
            undo = tables.last
        } else {
            do { undo = try env.openTables([Schema.undoSpec])[0] } catch let e as LMDBError where e.code == LMDBError.notFound { undo = nil }
        }
        schema = Schema(tables, undo: undo)
        let (zoneName, timedIDs) = try env.write(readOnly: readOnly) { [schema] txn -> (String, Bool) in
            // A stored version was checked above; a new database gets this build's, and
            // one of a compatible format is marked with it before anything is written.
            let stored = try Store.formatVersion(schema.meta, txn: txn, path: path)
            if let v = stored, Schema.compatibleVersions.contains(v), !readOnly { try schema.putFormatVersion(txn: txn) }
            if stored == nil {
                if readOnly { throw PatronError.format("\(path) is not a Patron database (no format version)") }
                guard try txn.count(schema.log) == 0 else { throw PatronError.format("\(path) has events but no format version") }
                guard Zone(identifier: options.timeZone) != nil else {
                    throw PatronError.invalidArgument("unknown time zone \"\(options.timeZone)\"")
                }
                try schema.putFormatVersion(txn: txn)
                try txn.put(schema.meta, key: "timezone", value: Array(options.timeZone.utf8))
                try txn.put(schema.meta, key: ContentIDScheme.key, value: Array(ContentIDScheme.timed.rawValue.utf8))
            }
            let scheme = try txn.get(schema.meta, key: ContentIDScheme.key).map { String(decoding: $0, as: UTF8.self) }
            guard let z = try txn.get(schema.meta, key: "timezone") else { return ("UTC", scheme == ContentIDScheme.timed.rawValue) }
            return (String(decoding: z, as: UTF8.self), scheme == ContentIDScheme.timed.rawValue)
        }
        contentIDs = timedIDs ? .timed : .hashed
        openedFormat = Schema.compatibleVersions.contains(found) && !readOnly ? Schema.formatVersion : found
        guard let zone = Zone(identifier: zoneName) else { throw PatronError.format("\(path): unknown time zone \"\(zoneName)\"") }
        self.zone = zone
        keys = try KeyStore(path: path + "-keys", readOnly: readOnly)
        if !readOnly { try recoverUnfinishedImport() }
    }

    /// Undoes the unfinished import of a process that is gone (``ImportJournal``), if
    /// there is one, so that readers of this opening never see half of it.
    private func recoverUnfinishedImport() throws {
        // Looked for first in a snapshot, so an opening takes no write lock for nothing.
        guard let found = try env.read({ txn in try ImportJournal.read(schema.meta, txn: txn) }), !isLive(found) else { return }
        let discarded = try env.write { txn -> Set<UInt32> in
            guard let j = try ImportJournal.read(schema.meta, txn: txn), !isLive(j) else { return [] }
            return try rollBack(j, txn: txn)
        }
        dropCaches()
        for n in discarded.sorted() { try keys.destroy(n) }
    }

    /// The format version stored in `meta`, nil when none is.
    private static func formatVersion(_ meta: Table, txn: Transaction, path: String) throws -> UInt32? {
        guard let v = try txn.get(meta, key: "format") else { return nil }
        guard v.count == 4 else { throw PatronError.format("\(path): unreadable format version") }
        return UInt32(littleEndian: v.load(at: 0))
    }

    private static func checkLooksLikeLMDB(_ path: String) throws {
        guard let h = FileHandle(forReadingAtPath: path) else { throw PatronError.io("cannot read \(path)") }
        defer { try? h.close() }
        let head = h.readData(ofLength: 32)
        if head.isEmpty { return }  // a zero-length file: LMDB initialises it
        // LMDB's meta page holds the magic 0xBEEFC0DE after the 16-byte page header.
        guard head.count >= 20, head[16] == 0xDE, head[17] == 0xC0, head[18] == 0xEF, head[19] == 0xBE else {
            throw PatronError.format("\(path) is not a Patron database (not an LMDB file)")
        }
    }

    // MARK: Lookups (in any transaction)

    func clientNumber(_ key: String, txn: Transaction) throws -> UInt32? {
        let epoch = try self.epoch(of: txn)
        if let n = clientCache.withLock({ $0.epoch == epoch ? $0.numbers[key] : nil }) { return n }
        guard let v = try txn.get(schema.clientKeys, key: key), v.count == 4 else { return nil }
        let n: UInt32 = v.load(at: 0)
        cacheClients([key: n], epoch: epoch)
        return n
    }

    /// Adds committed client numbers of a snapshot of projection epoch `epoch` to the
    /// cache, which starts over when the epoch is another.
    func cacheClients(_ numbers: [String: UInt32], epoch: UInt64) {
        clientCache.withLock { cache in
            if cache.epoch != epoch || cache.numbers.count > Self.clientCacheLimit {
                cache.numbers.removeAll(keepingCapacity: cache.epoch == epoch)
                cache.epoch = epoch
            }
            cache.numbers.merge(numbers) { a, _ in a }
        }
    }

    /// The projection epoch of `txn`'s snapshot, read from `meta` once per snapshot.
    func epoch(of txn: Transaction) throws -> UInt64 {
        let id = txn.id
        if let e = snapshotEpoch.withLock({ $0.txn == id ? $0.epoch : nil }) { return e }
        let e = try projectionEpoch(txn: txn)
        snapshotEpoch.withLock { $0 = (id, e) }
        return e
    }

    /// Forgets the epoch memo (after a write transaction that committed nothing, whose
    /// id the next commit takes).
    func forgetEpochMemo() { snapshotEpoch.withLock { $0 = (-1, 0) } }

    /// Drops every cache of committed mappings and the epoch memo: after a transaction
    /// that renumbers clients (rebuild, an undone import), whether or not it commits.
    func dropCaches() {
        clientCache.withLock { $0 = ClientCache() }
        stringCache.withLock { $0.removeAll() }
        stringValueCache.withLock { $0.removeAll() }
        snapshotEpoch.withLock { $0 = (-1, 0) }
    }

    func clientKey(_ number: UInt32, txn: Transaction) throws -> String? {
        try txn.get(schema.clientNames, key: number).map { String(decoding: $0, as: UTF8.self) }
    }

    func stringValue(_ id: UInt32, txn: Transaction) throws -> String? {
        if id == 0 { return nil }
        if let s = stringValueCache.withLock({ $0[id] }) { return s }
        guard let v = try txn.get(schema.stringValues, key: id) else { return nil }
        let s = String(decoding: v, as: UTF8.self)
        stringValueCache.withLock { $0[id] = s }
        return s
    }

    func stringID(_ s: String, txn: Transaction) throws -> UInt32? {
        if let id = stringCache.withLock({ $0[s] }) { return id }
        guard let v = try txn.get(schema.strings, key: s), v.count == 4 else { return nil }
        let id: UInt32 = v.load(at: 0)
        stringCache.withLock { $0[s] = id }
        return id
    }

    /// Bytes of the database file in use (up to its last page in use).
    var usedSize: Int { env.usedSize }

    /// Grows the map, if needed, so that `bytes` more than what is in use fit with room
    /// to spare: address space only (the file grows as pages are written).
    func reserve(_ bytes: Int) throws { try env.reserve(bytes) }

    func state(_ number: UInt32, txn: Transaction) throws -> ClientState? {
        guard let d = try txn.get(schema.details, key: number) else { return nil }
        return try ClientState(detail: d)
    }

    /// A snapshot's projection rows, named: the log's last position and an epoch that
    /// `rebuild` bumps (it may renumber clients without appending). Equal versions mean
    /// equal rows.
    struct ProjectionVersion: Equatable, Comparable, Sendable {
        var position: UInt64
        var epoch: UInt64
        static func < (a: Self, b: Self) -> Bool { (a.epoch, a.position) < (b.epoch, b.position) }
    }

    static let epochKey = "projection-epoch"

    func projectionVersion(txn: Transaction) throws -> ProjectionVersion {
        ProjectionVersion(position: try lastPosition(txn: txn), epoch: try projectionEpoch(txn: txn))
    }

    private func projectionEpoch(txn: Transaction) throws -> UInt64 {
        try txn.get(schema.meta, key: Self.epochKey).map { $0.count == 8 ? $0.load(at: 0) : 0 } ?? 0
    }

    /// Marks every cached projection and client number stale (rebuild, an undone import).
    func bumpProjectionEpoch(txn: Transaction) throws {
        var next = try projectionEpoch(txn: txn) + 1
        try withUnsafeBytes(of: &next) { try txn.put(schema.meta, key: Self.epochKey, value: Array($0)) }
        let id = txn.id, epoch = next
        clientCache.withLock { $0 = ClientCache() }
        snapshotEpoch.withLock { $0 = (id, epoch) }
    }

    func lastPosition(txn: Transaction) throws -> UInt64 {
        try txn.withCursor(schema.log) { c in try c.last().map { $0.key.load(at: 0) as UInt64 } ?? 0 }
    }

    /// Decrypts the personal data of a decoded record, nil when none or erased.
    func personal(_ d: EventCodec.Decoded, position: UInt64) -> PersonalData? {
        guard !d.sealed.isEmpty, let key = keys.key(d.clientNumber) else { return nil }
        return PersonalData.open(d.sealed, key: key, position: position)
    }

    /// The full event at a record, personal data restored where it still exists.
    func recorded(_ bytes: UnsafeRawBufferPointer, position: UInt64, verify: Bool) throws -> RecordedEvent {
        let d = try EventCodec.decode(bytes, position: position, verifyChecksum: verify)
        var event = d.event
        personal(d, position: position)?.restore(into: &event)
        return RecordedEvent(position: position, recorded: d.recorded, event: event)
    }
}

extension Environment {
    /// A write transaction, or a read one when the store is read-only.
    func write<R>(readOnly: Bool, _ body: (Transaction) throws -> R) throws -> R {
        readOnly ? try read(body) : try write(body)
    }
}
