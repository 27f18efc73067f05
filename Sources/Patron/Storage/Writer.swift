import Dispatch
import Foundation
import Synchronization

/// The serial writer: every append goes through it, and appends that arrive while a
/// commit is running are gathered into the next transaction (group commit), so many
/// concurrent durable appenders share one fsync.
///
/// A request that fails its own checks (a wrong expected version) fails alone; an
/// LMDB failure fails every request of that transaction, none of which is stored.
final class Writer: Sendable {
    private struct Pending {
        var request: AppendRequest
        var complete: @Sendable (Result<AppendResult, any Error>) -> Void
        /// A job that has the writer to itself (a long import transaction) instead of a request.
        var exclusive: (@Sendable () -> Void)?
    }

    private struct Queue {
        var pending: [Pending] = []
        var draining = false
    }

    fileprivate let store: Store
    private let queue = Mutex(Queue())
    private let thread = DispatchQueue(label: "patron.writer", qos: .userInitiated)
    /// Called after each commit with the last position written.
    private let onCommit: @Sendable (UInt64) -> Void
    /// The client states this writer's transactions have loaded or changed since the
    /// carry last started over (all written and committed), and the id of the last of
    /// those transactions: the next transaction starts from them when no other writer
    /// (another process, a rebuild) has committed in between, instead of loading and
    /// decoding them again: at most ``carriedLimit`` of them.
    private let carried = Mutex<(txnID: Int, states: AppendContext.Carried)?>(nil)
    /// The most client states carried from one transaction to the next (about 1 KB each:
    /// at most some 150 MB, dropped whenever another writer commits).
    static let carriedLimit = 150_000
    /// The most client states a session's transactions hold while they can let go of
    /// some (``ProjectionFolding/holdAtMost``), and carry from one to the next: an
    /// import's memory stays bounded whatever the number of its clients.
    /// 40,000 states take about 40 MB; more did not make the demo import faster
    /// (BENCHMARKS.md).
    static let sessionHoldLimit = 40_000

    /// ``sessionHoldLimit``, or the store's test setting.
    private var sessionHold: Int {
        #if DEBUG
        if let n = store.importHoldLimit.withLock({ $0 }) { return n }
        #endif
        return Self.sessionHoldLimit
    }

    init(store: Store, onCommit: @escaping @Sendable (UInt64) -> Void) {
        self.store = store
        self.onCommit = onCommit
    }

    /// Queues a request; `complete` runs on the writer's thread after the commit.
    func submit(_ request: AppendRequest, complete: @escaping @Sendable (Result<AppendResult, any Error>) -> Void) {
        enqueue(Pending(request: request, complete: complete, exclusive: nil))
    }

    /// Queues work and starts draining on the writer's thread unless it already is.
    private func enqueue(_ p: Pending) {
        let start = queue.withLock { q in
            q.pending.append(p)
            if q.draining { return false }
            q.draining = true
            return true
        }
        if start { thread.async { self.drain() } }
    }

    /// Appends and waits (for callers outside Swift concurrency, e.g. the CLI).
    func appendBlocking(_ request: AppendRequest) throws -> AppendResult {
        let done = DispatchSemaphore(value: 0)
        let box = Mutex<Result<AppendResult, any Error>?>(nil)
        submit(request) { result in
            box.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        guard let result = box.withLock({ $0 }) else { throw PatronError.io("append finished without a result") }
        return try result.get()
    }

    /// Appends without blocking a cooperative thread.
    func append(_ request: AppendRequest) async throws -> AppendResult {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<AppendResult, any Error>) in
            submit(request) { c.resume(with: $0) }
        }
    }

    private func drain() {
        while true {
            let batch: [Pending] = queue.withLock { q in
                let b = q.pending
                q.pending.removeAll(keepingCapacity: true)
                if b.isEmpty { q.draining = false }
                return b
            }
            if batch.isEmpty { return }
            // Requests queued before an exclusive job commit before it, and those after, after.
            var group: [Pending] = []
            for p in batch {
                if let job = p.exclusive {
                    if !group.isEmpty { commit(group) }
                    group.removeAll()
                    job()
                } else {
                    group.append(p)
                }
            }
            if !group.isEmpty { commit(group) }
        }
    }

    /// Runs `body` with the writer to itself, in the writer's order, for as many write
    /// transactions as it runs through the ``WriterSession`` it is given (an import
    /// file: one, or several under an ``ImportJournal``). Requests that arrive
    /// meanwhile wait. Keys of clients forgotten by the session's transactions are
    /// destroyed only once `body` returns, so a session undone on failure erases nothing
    /// (unless ``WriterSession/defersErasure`` is false: then after each commit).
    func session<R: Sendable>(_ body: @escaping @Sendable (WriterSession) throws -> R) throws -> R {
        let done = DispatchSemaphore(value: 0)
        let box = Mutex<Result<R, any Error>?>(nil)
        let job: @Sendable () -> Void = { [self] in
            // The session carries its own, within ``sessionHoldLimit``.
            carried.withLock { $0 = nil }
            let session = WriterSession(writer: self)
            var outcome = Result { try body(session) }
            session.end()
            if case .success = outcome, let failure = destroy(session.erased) { outcome = .failure(failure) }
            box.withLock { $0 = outcome }
            done.signal()
        }
        enqueue(Pending(request: AppendRequest(events: [], expectedVersions: [:]), complete: { _ in }, exclusive: job))
        done.wait()
        guard let result = box.withLock({ $0 }) else { throw PatronError.io("the write finished without a result") }
        return try result.get()
    }

    private func commit(_ batch: [Pending]) {
        let outcome = transaction { context in
            var results: [Result<AppendResult, any Error>] = []
            results.reserveCapacity(batch.count)
            for p in batch {
                do { results.append(.success(try context.apply(p.request))) } catch let e as PatronError {
                    results.append(.failure(e))
                }
            }
            return results
        }
        switch outcome {
        case .success(let results):
            for (p, r) in zip(batch, results) { p.complete(r) }
        case .failure(let error):
            for p in batch { p.complete(.failure(error)) }
        }
    }

    /// One write transaction through an ``AppendContext``: commits, then (only then)
    /// caches the new string and client numbers and reports the last position; on
    /// failure drops the keys it created. Runs on the writer's thread. In a `session`,
    /// states are carried within the session's bound and the keys of forgotten clients
    /// are left to the session.
    fileprivate func transaction<R>(session: WriterSession? = nil, _ body: (AppendContext) throws -> R) -> Result<R, any Error> {
        let recorded = Int64((Date().timeIntervalSince1970 * 1000).rounded())
        var newStrings: [String: UInt32] = [:]
        var newClients: [String: UInt32] = [:]
        var erased: Set<UInt32> = []
        var discarded: Set<UInt32> = []
        var epoch: UInt64 = 0
        var journal: ImportJournal?
        var appendedAny = false
        // Taken out for this transaction alone: a body run again (the map grew) or a
        // failed transaction must not see states this attempt has changed.
        var previous = if let session {
            session.takeCarried()
        } else {
            carried.withLock { c in
                defer { c = nil }
                return c
            }
        }
        // A session's transactions let go of states past its limit as they load others.
        let limit = session == nil ? Self.carriedLimit : sessionHold
        let holdAtMost = session == nil ? nil : limit
        var next: (txnID: Int, states: AppendContext.Carried)?
        let outcome: Result<(R, UInt64), any Error> = Result {
            try store.env.write { txn in
                let usable = previous.flatMap { $0.txnID + 1 == txn.id ? $0.states : nil }
                previous = nil
                next = nil
                // Consumed, so the folding holds the only reference to the carried table
                // and adds to it in place (a second reference would make it copy).
                let context = try AppendContext(store: store, txn: txn, recorded: recorded, carried: consume usable,
                                                holdAtMost: holdAtMost, journal: session?.journal,
                                                erased: session.map { $0.defersErasure ? $0.erased : [] } ?? [])
                // However the body ends, the fold thread is done before the transaction.
                defer { context.settle() }
                let value = try body(context)
                try context.finish()
                newStrings = context.newStrings
                newClients = context.newClients
                erased = context.erased
                discarded = context.discarded
                journal = context.journal
                appendedAny = context.appendedAny
                epoch = try store.epoch(of: txn)
                // Only a transaction that wrote commits under its id (LMDB skips the
                // commit of one that wrote nothing, and the next writer reuses the id).
                if let states = context.handOver(limit: limit) { next = (txn.id, states) }
                return (value, context.lastPosition)
            }
        }
        switch outcome {
        case .success(let (value, last)):
            if let next {
                if let session { session.carried = next } else { carried.withLock { $0 = next } }
            }
            // A transaction that wrote nothing did not commit under its id, which the next
            // writer (maybe another process, bumping the epoch) takes: forget its epoch.
            if !appendedAny { store.forgetEpochMemo() }
            // Only now are the new mappings committed, so only now may they be cached.
            store.stringCache.withLock { $0.merge(newStrings) { a, _ in a } }
            store.stringValueCache.withLock { c in for (s, id) in newStrings { c[id] = s } }
            store.cacheClients(newClients, epoch: epoch)
            onCommit(last)
            // Clients of an undone import are gone; their keys go too.
            _ = destroy(discarded)
            // The forget is committed: now its keys go, for good (at the end of a session
            // that may yet be undone).
            if let session { session.committed(journal: journal) }
            if let session, session.defersErasure {
                session.erased.formUnion(erased)
            } else if let failure = destroy(erased) {
                return .failure(failure)
            }
            return .success(value)
        case .failure(let error):
            store.keys.discardPending()
            // The transaction may have undone an import (renumbering clients, bumping the
            // epoch in the caches' memo) before it failed: start the caches over.
            store.dropCaches()
            return .failure(error)
        }
    }

    /// Destroys the keys of `clients`. A key that cannot be destroyed is reported with
    /// what is true: the events are stored, the erasure is not complete (rebuild
    /// finishes it).
    private func destroy(_ clients: Set<UInt32>) -> PatronError? {
        var failed = 0
        var reason: String?
        for n in clients.sorted() {
            do { try store.keys.destroy(n) } catch {
                failed += 1
                if reason == nil { reason = String(describing: error) }
            }
        }
        return reason.map { PatronError.erasureIncomplete(clients: failed, reason: $0) }
    }
}

/// A run of write transactions with the writer to itself (``Writer/session(_:)``),
/// used on the writer's thread alone.
final class WriterSession {
    private unowned let writer: Writer
    /// The journal of the import the session's transactions belong to, once one of
    /// them has begun it (``AppendContext/beginJournal(file:)``) and committed.
    fileprivate(set) var journal: ImportJournal?
    /// Clients forgotten by the session's transactions, whose keys go when it ends.
    fileprivate(set) var erased: Set<UInt32> = []
    /// Whether the keys of forgotten clients wait for the end of the session (an import
    /// that may be undone), or go after each commit (transactions that stay, whatever
    /// comes after them).
    var defersErasure = true
    /// What the session's last transaction carries into its next (see
    /// ``Writer/sessionHoldLimit``), and that transaction's id.
    fileprivate var carried: (txnID: Int, states: AppendContext.Carried)?

    fileprivate init(writer: Writer) { self.writer = writer }

    /// The carried states, taken: a transaction run again, or one that fails, must not
    /// see states an attempt changed.
    fileprivate func takeCarried() -> (txnID: Int, states: AppendContext.Carried)? {
        defer { carried = nil }
        return carried
    }

    /// The store the session writes to.
    var store: Store { writer.store }

    /// Runs one write transaction (run again from the start if the map has to grow).
    func transaction<R>(_ body: (AppendContext) throws -> R) throws -> R {
        try writer.transaction(session: self, body).get()
    }

    /// Undoes the session's import, if its journal was committed: the database goes
    /// back to what it was before the session. Keys of clients it forgot stay.
    func rollBack() throws {
        guard journal != nil else { return }
        erased = []
        do {
            try transaction { context in try context.rollBackJournal() }
        } catch PatronError.importUndone {
            committed(journal: nil)  // another process undid it already
        }
    }

    /// Keeps the journal a commit left (nil once ended or undone) and tells this
    /// process's other writers whether it is live.
    fileprivate func committed(journal: ImportJournal?) {
        if let old = self.journal, old != journal { writer.store.forgetLive(old) }
        if let journal { writer.store.markLive(journal) }
        self.journal = journal
    }

    /// The session is over: its journal, if one is left (an undo that failed), is no
    /// longer live in this process, so the next writer undoes it.
    fileprivate func end() {
        if let journal { writer.store.forgetLive(journal) }
    }
}
