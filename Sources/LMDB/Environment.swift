import CLMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open LMDB environment: one data file plus its lock file.
///
/// The environment is opened with `MDB_NOSUBDIR` (the path names the data file,
/// the lock file is `PATH-lock`) and `MDB_NOTLS` (Swift tasks hop threads, so a
/// read transaction must not be tied to a thread). It is safe to use from many
/// tasks: read transactions run concurrently; write transactions are serialised
/// by LMDB itself, across processes too.
///
/// The map grows on demand: ``write(_:)`` doubles the map before it fills and
/// retries a body that hit `MDB_MAP_FULL`, and every transaction adopts a map
/// that another process grew (`MDB_MAP_RESIZED`).
///
/// ```swift
/// let env = try Environment(path: "/tmp/x.db", options: .init(maxTables: 8))
/// let table = try env.openTables([("log", [.integerKey])])[0]
/// try env.write { txn in try txn.put(table, key: UInt64(1), value: [1, 2, 3]) }
/// ```
public final class Environment: @unchecked Sendable {
    /// How to open an environment.
    public struct Options: Sendable {
        /// The most named databases the environment will ever hold.
        public var maxTables: UInt32 = 16
        /// The map size to start with, in bytes; it grows on demand.
        public var initialMapSize: Int = 64 << 20
        /// Open read-only: no write transaction is possible and nothing is written.
        public var readOnly: Bool = false
        /// Unix mode of a newly created data and lock file.
        public var fileMode: mode_t = 0o600
        /// Skip the fsync at commit (`MDB_NOSYNC`): faster, loses the last commits on power loss.
        public var noSync: Bool = false
        /// Creates options; see each property.
        public init(maxTables: UInt32 = 16, initialMapSize: Int = 64 << 20, readOnly: Bool = false,
                    fileMode: mode_t = 0o600, noSync: Bool = false) {
            self.maxTables = maxTables
            self.initialMapSize = initialMapSize
            self.readOnly = readOnly
            self.fileMode = fileMode
            self.noSync = noSync
        }
    }

    let handle: OpaquePointer
    /// The path of the data file.
    public let path: String
    /// The data file's path with links resolved, as the process's list of mappings has it.
    private let mappedFile: String
    /// Whether the environment was opened read-only.
    public let isReadOnly: Bool
    /// Transactions hold this shared; resizing the map holds it exclusively, because
    /// `mdb_env_set_mapsize` may only run with no transaction open in the process.
    private let resizeLock: UnsafeMutablePointer<pthread_rwlock_t>

    /// Opens (creating if needed) the environment whose data file is `path`.
    ///
    /// Clears reader slots left by killed processes (`mdb_reader_check`).
    public init(path: String, options: Options = Options()) throws {
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw LMDBError(code: EINVAL, operation: "mdb_env_create") }
        do {
            try check(mdb_env_set_maxdbs(env, MDB_dbi(options.maxTables)), "mdb_env_set_maxdbs")
            try check(mdb_env_set_maxreaders(env, 254), "mdb_env_set_maxreaders")
            try check(mdb_env_set_mapsize(env, options.initialMapSize), "mdb_env_set_mapsize")
            var flags = UInt32(MDB_NOSUBDIR | MDB_NOTLS)
            if options.readOnly { flags |= UInt32(MDB_RDONLY) }
            if options.noSync { flags |= UInt32(MDB_NOSYNC) }
            try check(mdb_env_open(env, path, flags, options.fileMode), "mdb_env_open(\(path))")
            var dead: Int32 = 0
            try check(mdb_reader_check(env, &dead), "mdb_reader_check")
        } catch {
            MapRanges.changing(MapRanges.resolved(path)) { mdb_env_close(env) }
            throw error
        }
        self.handle = env
        self.path = path
        mappedFile = MapRanges.resolved(path)
        MapRanges.opened(env, file: mappedFile)
        self.isReadOnly = options.readOnly
        self.resizeLock = .allocate(capacity: 1)
        pthread_rwlock_init(resizeLock, nil)
    }

    deinit {
        MapRanges.close(handle)
        pthread_rwlock_destroy(resizeLock)
        resizeLock.deallocate()
    }

    /// Opens (creating, unless read-only) named databases, in one write transaction.
    ///
    /// In a read-only environment every table must already exist.
    public func openTables(_ specs: [(name: String, options: TableOptions)]) throws -> [Table] {
        var tables: [Table] = []
        let body: (Transaction) throws -> Void = { txn in
            tables = []
            for spec in specs {
                var dbi: MDB_dbi = 0
                var flags = spec.options.rawValue
                if !self.isReadOnly { flags |= UInt32(MDB_CREATE) }
                try check(mdb_dbi_open(txn.handle, spec.name, flags, &dbi), "mdb_dbi_open(\(spec.name))")
                tables.append(Table(name: spec.name, dbi: dbi))
            }
        }
        if isReadOnly {
            // Handles opened in a read-only transaction exist for others only once
            // that transaction commits.
            pthread_rwlock_rdlock(resizeLock)
            defer { pthread_rwlock_unlock(resizeLock) }
            let txn = try begin(flags: UInt32(MDB_RDONLY))
            do {
                try body(txn)
                try check(mdb_txn_commit(txn.handle), "mdb_txn_commit(read)")
            } catch {
                mdb_txn_abort(txn.handle)
                throw error
            }
        } else {
            try self.write(body)
        }
        return tables
    }

    /// Runs `body` in a read-only snapshot transaction on behalf of a write transaction
    /// of this environment that is running (on this thread or another: `MDB_NOTLS`
    /// lets a thread hold read-only transactions beside its write), which must outlast it:
    /// the map cannot be resized meanwhile (the writer holds that off), so unlike
    /// ``read(_:)`` this takes no lock, and so never waits behind a thread that wants to
    /// resize the map while the writer waits for `body`. The snapshot is the last
    /// commit, the one the write transaction started from.
    public func readBesideWrite<R>(_ body: (Transaction) throws -> R) throws -> R {
        var handle: OpaquePointer?
        try check(mdb_txn_begin(self.handle, nil, UInt32(MDB_RDONLY), &handle), "mdb_txn_begin(read beside write)")
        guard let handle else { throw LMDBError(code: EINVAL, operation: "mdb_txn_begin") }
        defer { mdb_txn_abort(handle) }
        return try body(Transaction(handle: handle))
    }

    /// Runs `body` in a read-only snapshot transaction.
    ///
    /// Values the body sees point into the memory map and are valid only inside the
    /// body: copy what you keep. Never `await` inside the body.
    public func read<R>(_ body: (Transaction) throws -> R) throws -> R {
        pthread_rwlock_rdlock(resizeLock)
        defer { pthread_rwlock_unlock(resizeLock) }
        let txn = try begin(flags: UInt32(MDB_RDONLY))
        defer { mdb_txn_abort(txn.handle) }
        return try body(txn)
    }

    /// Runs `body` in the write transaction and commits it; a throw aborts it and the
    /// body's first error is rethrown.
    ///
    /// If the body or the commit runs out of map (`MDB_MAP_FULL`), the transaction is
    /// aborted, the map doubled and the body run again from the start: a body must
    /// keep its effects inside the transaction.
    public func write<R>(_ body: (Transaction) throws -> R) throws -> R {
        if isReadOnly { throw LMDBError(code: EACCES, operation: "mdb_txn_begin(write) on a read-only environment") }
        while true {
            try growIfNearlyFull()
            pthread_rwlock_rdlock(resizeLock)
            let txn: Transaction
            do { txn = try begin(flags: 0) } catch {
                pthread_rwlock_unlock(resizeLock)
                throw error
            }
            var outcome: Result<R, any Error>
            do {
                let value = try body(txn)
                // mdb_txn_commit frees the transaction whether it succeeds or not.
                let rc = mdb_txn_commit(txn.handle)
                txn.finished = true
                try check(rc, "mdb_txn_commit")
                outcome = .success(value)
            } catch {
                if !txn.finished { mdb_txn_abort(txn.handle) }
                outcome = .failure(error)
            }
            txn.finished = true
            pthread_rwlock_unlock(resizeLock)
            switch outcome {
            case .success(let value): return value
            case .failure(let error as LMDBError) where error.code == LMDBError.mapFull:
                try resize(to: max(mapSize * 2, 1 << 20))
            case .failure(let error):
                throw error
            }
        }
    }

    private func begin(flags: UInt32) throws -> Transaction {
        var txn: OpaquePointer?
        var rc = mdb_txn_begin(handle, nil, flags, &txn)
        if rc == MDB_MAP_RESIZED {
            // Another process grew the map: adopt its size. We hold the lock shared,
            // so swap to exclusive for the adoption.
            pthread_rwlock_unlock(resizeLock)
            pthread_rwlock_wrlock(resizeLock)
            let adopt = MapRanges.changing(mappedFile) { mdb_env_set_mapsize(handle, 0) }
            pthread_rwlock_unlock(resizeLock)
            pthread_rwlock_rdlock(resizeLock)
            try check(adopt, "mdb_env_set_mapsize(adopt)")
            rc = mdb_txn_begin(handle, nil, flags, &txn)
        }
        try check(rc, flags & UInt32(MDB_RDONLY) != 0 ? "mdb_txn_begin(read)" : "mdb_txn_begin(write)")
        guard let txn else { throw LMDBError(code: EINVAL, operation: "mdb_txn_begin") }
        // The commit path marks `finished`; a commit failure frees the handle too.
        return Transaction(handle: txn)
    }

    /// The current map size in bytes.
    public var mapSize: Int {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        return info.me_mapsize
    }

    /// Bytes of the map in use (last page used × page size).
    public var usedSize: Int {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        var stat = MDB_stat()
        mdb_env_stat(handle, &stat)
        return (info.me_last_pgno + 1) * Int(stat.ms_psize)
    }

    /// The page size of the environment.
    public var pageSize: Int {
        var stat = MDB_stat()
        mdb_env_stat(handle, &stat)
        return Int(stat.ms_psize)
    }

    private func growIfNearlyFull() throws {
        let size = mapSize
        if usedSize * 10 > size * 7 { try resize(to: size * 2) }
    }

    /// Grows the map, if needed, so that `bytes` more than what is in use fit.
    public func reserve(_ bytes: Int) throws {
        let size = mapSize, need = usedSize + bytes
        guard need > size * 7 / 10 else { return }
        var grown = size
        while grown * 7 / 10 < need { grown *= 2 }
        try resize(to: grown)
    }

    /// Sets the map size, waiting until no transaction of this process is open.
    public func resize(to bytes: Int) throws {
        pthread_rwlock_wrlock(resizeLock)
        defer { pthread_rwlock_unlock(resizeLock) }
        try check(MapRanges.changing(mappedFile) { mdb_env_set_mapsize(handle, bytes) }, "mdb_env_set_mapsize(\(bytes))")
    }

    /// Writes a consistent copy of the environment to `path`, leaving out free pages
    /// (`MDB_CP_COMPACT`). Runs alongside readers and writers.
    public func copyCompacted(to path: String) throws {
        pthread_rwlock_rdlock(resizeLock)
        defer { pthread_rwlock_unlock(resizeLock) }
        try check(mdb_env_copy2(handle, path, UInt32(MDB_CP_COMPACT)), "mdb_env_copy2(\(path))")
    }

    /// Flushes buffers to disk (needed only with `noSync`).
    public func sync() throws {
        try check(mdb_env_sync(handle, 1), "mdb_env_sync")
    }

    /// Clears reader slots of dead processes; returns how many were cleared.
    @discardableResult
    public func clearStaleReaders() throws -> Int {
        var dead: Int32 = 0
        try check(mdb_reader_check(handle, &dead), "mdb_reader_check")
        return Int(dead)
    }
}
