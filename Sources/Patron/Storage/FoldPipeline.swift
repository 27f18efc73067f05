import Dispatch
import Foundation
import LMDB
import Synchronization

/// Folds requests' events into the client states on a second thread while the
/// writer's thread writes the next ones to the log and the indexes (``AppendContext``,
/// requests without a `forget` or `merge`). One pipeline serves the large requests of
/// a transaction one after another until the writer needs the states itself.
///
/// The fold thread owns the ``ProjectionFolding`` from ``init`` to ``finish()``, which
/// hands it back with the stream links of the events (for ``StreamChain``). It never
/// touches the write transaction: a state it does not hold yet it loads through a read
/// transaction of its own, whose snapshot is the one the write transaction started
/// from — right for every state this transaction has not changed, and each one it has
/// changed is held. (A transaction that undid an unfinished import changed stored
/// states without holding them: it folds on the writer's thread.) The strings the
/// events' projections keep get their dictionary ids here too (``Strings``): the
/// writer hands over its table of them with the folding, takes it back with the new
/// strings, and puts those into the dictionary tables.
///
/// The fold thread also encodes the events' log records (``EventCodec``), which the
/// writer takes back (``takeRecords()``) and puts into the log in position order: the
/// writer's thread keeps what needs the write transaction or its lookup tables, and
/// encodes the records of a chunk itself only when it begins one while the fold is
/// behind (``backlog()``, ``Chunk/records``).
final class FoldPipeline: @unchecked Sendable {
    /// One event to fold: where it is in its request (``Chunk/events``), and what its
    /// append found out.
    struct Item: Sendable {
        var index: Int
        var owner: UInt32
        var day: Day
        var position: UInt64
        /// The personal fields stored for it (sealed), nil when none.
        var personal: PersonalData?
        /// The id assigned to it, ``GeneratedID/none`` when it came with one.
        var assigned: GeneratedID
        /// Its personal fields, sealed for its record (empty when none or forgotten).
        var sealed: [UInt8]
    }

    /// Log records of a run of positions, one after another: record `k` (position
    /// `first + k`) is `bytes.bytes[ends[k - 1]..<ends[k]]` (from 0 for the first).
    struct Records: Sendable {
        var first: UInt64
        var bytes = ByteWriter(capacity: 0)
        var ends: [Int] = []

        /// Encodes the record of the event `event` points to, the next position's.
        mutating func append(_ event: UnsafePointer<Event>, _ item: Item, recorded: Int64) {
            EventCodec.encode(at: event, assigned: item.assigned == .none ? nil : item.assigned, clientNumber: item.owner,
                              recorded: recorded, sealed: item.sealed, appendingTo: &bytes)
            ends.append(bytes.bytes.count)
        }
    }

    /// Events handed over together, with what the fold needs of LMDB for them. Handed
    /// over whole, never used by the writer again (its states are plain values).
    struct Chunk: Sendable {
        /// The request the items' events are in (by ``Item/index``).
        var events: [Event]
        var items: [Item] = []
        /// The items' log records when the writer encoded them itself (it does while
        /// the fold is behind); nil for the fold to encode.
        var records: Records?
    }

    /// The transaction's dictionary of strings as the writer hands it over: every
    /// string it has given an id (`interned`), and the next id to give.
    struct Strings: Sendable {
        var interned: StringIDMap
        var next: UInt32
        /// Strings given an id by the fold, in the order of their ids: for the writer to
        /// store.
        var added: [(String, UInt32)] = []
    }

    /// A fold that went wrong. Not a ``PatronError``: the writer fails the one request
    /// that throws one and goes on in the same transaction, but this request's events
    /// are written already — the whole transaction must go.
    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ what: String) { description = "internal error, nothing stored: \(what)" }
    }

    /// Events per chunk: large enough that handing over costs little per event, small
    /// enough that the fold starts soon after the writer does.
    static let chunkSize = 512

    // Owned by the fold thread between `init` and `finish()`.
    private var folding: ProjectionFolding
    private let writersLoad: (UInt32) throws -> ClientState?
    private var strings: Strings
    private let store: Store
    private let env: Environment
    /// The position of the first event handed over (the others follow without a gap).
    let firstPosition: UInt64
    private var links: [UInt64] = []
    private var failure: (any Error)?
    /// The `recorded` time of every record (the transaction's).
    private let recorded: Int64
    /// Records encoded and not yet taken by the writer, in position order.
    private let records = Mutex<[Records]>([])

    private let queue = Mutex<(chunks: [Chunk], closed: Bool)>(([], false))
    private let ready = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    /// Starts folding the events of the chunks sent into `folding` on the fold thread;
    /// the items' positions run on from `firstPosition` without a gap. States not held
    /// are read from `store` in read transactions of `store.env`.
    init(folding: consuming ProjectionFolding, strings: Strings, firstPosition: UInt64, recorded: Int64, store: Store) {
        writersLoad = folding.load
        let reader = Reader()
        folding.load = { [store, reader] n in
            guard let txn = reader.txn else { throw Failure("the fold read a state outside a chunk") }
            return try store.state(n, txn: txn)
        }
        self.reader = reader
        self.folding = folding
        self.firstPosition = firstPosition
        self.recorded = recorded
        self.strings = strings
        self.store = store
        env = store.env
        #if DEBUG
        store.foldsRunning.withLock { $0 += 1 }
        #endif
        FoldThreads.shared.run { self.run() }
    }

    /// The read transaction of the chunk being folded.
    private final class Reader: @unchecked Sendable {
        var txn: Transaction?
    }
    private let reader: Reader

    /// Chunks sent and not yet taken up by the fold thread (writer's thread).
    func backlog() -> Int { queue.withLock { $0.chunks.count } }

    /// Hands a chunk over (writer's thread).
    func send(_ chunk: Chunk) {
        queue.withLock { $0.chunks.append(chunk) }
        ready.signal()
    }

    /// The records encoded since the last call, in position order (writer's thread;
    /// does not wait).
    func takeRecords() -> [Records] {
        records.withLock { r in
            defer { r.removeAll() }
            return r
        }
    }

    /// Waits for every chunk sent to be folded and hands back the folding and the
    /// stream link of each item, in order (writer's thread); the records of every chunk
    /// are then ready for ``takeRecords()``. Throws ``Failure`` when the fold failed,
    /// whatever the cause.
    func finish() throws -> (folding: ProjectionFolding, links: [UInt64], strings: Strings) {
        queue.withLock { $0.closed = true }
        ready.signal()
        done.wait()
        if let failure { throw failure as? Failure ?? Failure(String(describing: failure)) }
        folding.load = writersLoad
        let result = (folding, links, strings)
        folding = ProjectionFolding(load: { _ in nil })
        strings = Strings(interned: StringIDMap(), next: 0)
        return result
    }

    /// The dictionary id of `s`: the transaction's, the stored one, or a new one
    /// (fold thread, inside a chunk's read transaction).
    private func intern(_ s: String) throws -> UInt32 {
        if let id = strings.interned[s] { return id }
        guard let txn = reader.txn else { throw Failure("the fold looked up \"\(s)\" outside a chunk") }
        if let id = try store.stringID(s, txn: txn) {
            strings.interned[s] = id
            return id
        }
        let id = strings.next
        strings.next += 1
        strings.interned[s] = id
        strings.added.append((s, id))
        return id
    }

    private func run() {
        while true {
            ready.wait()
            let (chunks, closed) = queue.withLock { q in
                defer { q.chunks.removeAll() }
                return (q.chunks, q.closed)
            }
            for chunk in chunks where failure == nil {
                // Ended within the chunk, and so before the write transaction, which
                // waits for it: beside that write, no lock is needed (nor taken, so no
                // thread waiting to resize the map can hold it up). Its snapshot is the
                // write transaction's base, inside this process's map.
                do {
                    try env.readBesideWrite { txn in
                        reader.txn = txn
                        defer { reader.txn = nil }
                        try fold(chunk)
                    }
                } catch { failure = error }
            }
            if closed && queue.withLock({ $0.chunks.isEmpty }) { break }
        }
        #if DEBUG
        store.foldsRunning.withLock { $0 -= 1 }
        #endif
        done.signal()
    }

    /// Folds one chunk, in log order, with cache hints a few events ahead: the state of
    /// the client of the event `ahead` places on, then the lists of the one half as far
    /// on, whose state has arrived by then. Folding many clients' events one after
    /// another otherwise waits on memory for nearly every event.
    private func fold(_ chunk: Chunk) throws {
        let intern: (String) throws -> UInt32 = { [unowned self] s in try self.intern(s) }
        let items = chunk.items
        let encoded = chunk.records != nil
        var out = chunk.records ?? Records(first: items.first?.position ?? 0)
        if !encoded {
            out.bytes.bytes.reserveCapacity(items.count * 128)
            out.ends.reserveCapacity(items.count)
        }
        let ahead = 8
        // The events passed by their address: every call taking an event by value
        // copies it, retaining each of its strings and lists.
        try chunk.events.withUnsafeBufferPointer { events in
            guard let base = events.baseAddress else {
                if items.isEmpty { return }
                throw Failure("the fold was handed \(items.count) events without the request")
            }
            for k in items.indices {
                if k + ahead < items.count { folding.prefetch(items[k + ahead].owner) }
                if k + ahead / 2 < items.count { folding.prefetchLists(items[k + ahead / 2].owner) }
                let item = items[k]
                guard Int(item.position - firstPosition) == links.count, item.index < events.count else {
                    throw Failure("the fold was handed event \(item.position) out of step")
                }
                try foldAndEncode(base + item.index, item, intern: intern, encode: !encoded, into: &out)
            }
        }
        records.withLock { $0.append(out) }
    }

    /// Folds `event` and, unless the writer did, appends its log record to `out`
    /// (``Records/append(_:_:recorded:)``).
    private func foldAndEncode(_ event: UnsafePointer<Event>, _ item: Item, intern: (String) throws -> UInt32, encode: Bool,
                               into out: inout Records) throws {
        links.append(try folding.streamHead(item.owner))
        try folding.apply(at: event, position: item.position, day: item.day, owner: item.owner,
                          into: nil, personal: item.personal, intern: intern)
        if encode { out.append(event, item, recorded: recorded) }
    }
}

/// The threads folds run on (``FoldPipeline``), and the work a commit does beside the
/// writer (``StatesEncodedAside``, ``Release``): started as needed, a job at a time
/// each, kept for the process. Their own threads, not a dispatch queue's: callers
/// blocked in ``Database/appendAndWait(_:)`` on dispatch's worker threads could
/// otherwise leave no worker to run the fold they wait for. A fold lasts until its
/// writer ends it, so a fold never waits for another: when every fold thread is busy
/// (two databases writing at once, or an import's progress hook appending to a
/// second database while the first's fold runs) another thread starts. There are
/// never more than the folds that ever ran at once.
final class FoldThreads: Sendable {
    static let shared = FoldThreads()

    private let state = Mutex<(jobs: [@Sendable () -> Void], idle: Int)>(([], 0))
    private let waiting = DispatchSemaphore(value: 0)

    private init() {}

    /// Runs `job` on a fold thread that is not running another.
    func run(_ job: @escaping @Sendable () -> Void) {
        let start = state.withLock { s -> Bool in
            s.jobs.append(job)
            // A thread that has finished its fold and waits (or is about to) takes it.
            guard s.idle == 0 else {
                s.idle -= 1
                return false
            }
            return true
        }
        if start { startThread() }
        waiting.signal()
    }

    private func startThread() {
        let thread = Thread { [self] in
            while true {
                waiting.wait()
                let job = state.withLock { $0.jobs.isEmpty ? nil : $0.jobs.removeFirst() }
                job?()
                state.withLock { $0.idle += 1 }
            }
        }
        thread.name = "patron.fold"
        thread.qualityOfService = .userInitiated
        thread.start()
    }
}
