import Foundation
import LMDB
import Synchronization

/// A Patron database: an append-only event log in one LMDB file, with per-client
/// projections and indexes kept current in the same transaction as each append.
///
/// Open it once per process and share it: it is `Sendable`, reads run concurrently
/// from many tasks, and appends from many tasks are grouped into shared commits.
/// Other processes may read (and write) the same file at the same time.
///
/// ```swift
/// let db = try Database(path: "clinic.patron")
/// try await db.append([
///     Event(client: "c-1", at: try Event.instant("2025-03-14"), payload: .visit(Visit(services: ["facial"]))),
/// ])
/// let c = try db.client("c-1")
/// print(c?.visits ?? 0)   // 1
/// ```
public final class Database: Sendable {
    /// How to open or create a database.
    public struct Options: Sendable {
        /// The time zone of a new database (IANA name); ignored when the file exists.
        public var timeZone: String = "UTC"
        /// The map size to start with; it grows on demand.
        public var initialMapSize: Int = 64 << 20
        /// Sync to disk at every commit (true) or leave it to the OS (faster; the last
        /// commits may be lost on power loss, never torn).
        public var durable: Bool = true
        /// Default options.
        public init(timeZone: String = "UTC", initialMapSize: Int = 64 << 20, durable: Bool = true) {
            self.timeZone = timeZone
            self.initialMapSize = initialMapSize
            self.durable = durable
        }
    }

    let store: Store
    let writer: Writer
    let commits: CommitSignal
    let clientTables = ClientTableCache()
    let eventTables = EventTableCache()
    /// The notice hook and in-memory model state (Database+Models.swift).
    let modelState = ModelState()
    /// The path of the database file.
    public var path: String { store.path }
    /// The database's time zone: days are calendar days here.
    public var timeZone: Zone { store.zone }
    /// Whether the database was opened read-only.
    public var isReadOnly: Bool { store.readOnly }

    /// Opens the database at `path`, creating it (mode 0600) unless `readOnly`.
    ///
    /// Opening checks the on-disk format version and clears reader slots left by
    /// killed processes. A read-only database never writes to its file.
    public convenience init(path: String, readOnly: Bool = false, options: Options = Options()) throws {
        self.init(store: try Store(path: path, readOnly: readOnly,
                                   options: .init(timeZone: options.timeZone, initialMapSize: options.initialMapSize,
                                                  durable: options.durable)))
    }

    init(store: Store) {
        self.store = store
        let signal = CommitSignal()
        commits = signal
        writer = Writer(store: store) { last in signal.notify(last) }
    }

    private func request(_ events: [Event], _ expected: [String: UInt32]) throws -> AppendRequest {
        if store.readOnly { throw PatronError.readOnly("append") }
        try Self.validate(events)
        return AppendRequest(events: events, expectedVersions: expected)
    }

    /// Validates every event, throwing the error of the first invalid one. A large
    /// batch is checked in parts on every core: the writer waits for the request
    /// meanwhile, so the caller's check would otherwise run alone.
    static func validate(_ events: [Event]) throws(EventValidationError) {
        guard events.count >= 2 * validationPart else {
            for e in events { try e.validate() }
            return
        }
        let parts = (events.count + validationPart - 1) / validationPart
        let first = Mutex<(index: Int, error: EventValidationError)?>(nil)
        DispatchQueue.concurrentPerform(iterations: parts) { k in
            // Each event read in place (``Event/validate(at:)``), not copied.
            events.withUnsafeBufferPointer { all in
                guard let base = all.baseAddress else { return }
                for i in (k * validationPart)..<min((k + 1) * validationPart, all.count) {
                    do throws(EventValidationError) {
                        try Event.validate(at: base + i)
                    } catch {
                        first.withLock { f in if f.map({ i < $0.index }) ?? true { f = (i, error) } }
                        return
                    }
                }
            }
        }
        if let (_, error) = first.withLock({ $0 }) { throw error }
    }

    /// Events per part of a batch validated in parts (``validate(_:)``).
    static let validationPart = 4_096

    /// Appends a batch in one transaction: all of it commits or none.
    ///
    /// Events whose id is already stored are skipped (idempotent re-append). Each
    /// entry of `expectedVersions` names a client key and the number of events its
    /// stream must hold before this append; a mismatch throws
    /// ``PatronError/wrongExpectedVersion(client:expected:actual:)`` and stores nothing.
    @discardableResult
    public func append(_ events: [Event], expectedVersions: [String: UInt32] = [:]) async throws -> AppendResult {
        try await writer.append(try request(events, expectedVersions))
    }

    /// Appends one event; see ``append(_:expectedVersions:)``.
    @discardableResult
    public func append(_ event: Event, expectedVersion: UInt32? = nil) async throws -> AppendResult {
        try await append([event], expectedVersions: expectedVersion.map { [event.client: $0] } ?? [:])
    }

    /// Appends a batch, blocking the calling thread until it is committed; for code
    /// outside Swift concurrency. See ``append(_:expectedVersions:)``.
    @discardableResult
    public func appendAndWait(_ events: [Event], expectedVersions: [String: UInt32] = [:]) throws -> AppendResult {
        try writer.appendBlocking(try request(events, expectedVersions))
    }

    /// Erases the personal data of `client` for good (SPEC 4.5) by appending a
    /// `forget` event: its key is destroyed, so its name, email, phone, comments and
    /// extra fields can no longer be read from any file, while its facts keep counting.
    public func forget(_ client: String) throws {
        guard try streamVersion(client) > 0 else { throw PatronError.unknownClient(client) }
        try appendAndWait([Event(client: client, at: Int64((Date().timeIntervalSince1970 * 1000).rounded()), payload: .forget)])
    }

    /// Records that client keys `client` and `into` are the same person (SPEC 1.2
    /// `merge`): from then on everything of `client` counts under `into`. `client`
    /// must exist; `into` may be new (a rename).
    public func merge(_ client: String, into: String) throws {
        guard client != into else { throw PatronError.invalidArgument("cannot merge \"\(client)\" into itself") }
        guard try streamVersion(client) > 0 else { throw PatronError.unknownClient(client) }
        try appendAndWait([Event(client: client, at: Int64((Date().timeIntervalSince1970 * 1000).rounded()), payload: .merge(Merge(into: into)))])
    }
}

/// Wakes subscribers when this process commits.
final class CommitSignal: Sendable {
    private let waiters = Mutex<[UInt64: AsyncStream<Void>.Continuation]>([:])
    private let counter = Atomic<UInt64>(0)

    func notify(_ last: UInt64) {
        for c in waiters.withLock({ Array($0.values) }) { c.yield() }
    }

    /// A stream that yields after every local commit and at least every `poll` (for
    /// commits by other processes), until the consumer stops.
    func ticks(poll: Duration) -> AsyncStream<Void> {
        let id = counter.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        waiters.withLock { $0[id] = continuation }
        let poller = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: poll)
                continuation.yield()
            }
        }
        continuation.onTermination = { [weak self] _ in
            poller.cancel()
            self?.waiters.withLock { _ = $0.removeValue(forKey: id) }
        }
        return stream
    }
}
