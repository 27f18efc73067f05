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
/// events' projections keep get their dictionary ids on the writer's thread, which the
/// chunk carries in the order the fold asks for them
/// (``ClientState/forEachInterned(in:_:)``).
///
/// The fold thread also encodes the events' log records (``EventCodec``), which the
/// writer takes back (``takeRecords()``) and puts into the log in position order: the
/// writer's thread, the busier one, keeps only what needs the write transaction or its
/// lookup tables.
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
        /// Where the ids of its strings start in ``Chunk/ids`` (in the order
        /// ``ClientState/forEachInterned(in:_:)`` gives them).
        var ids: Int
        /// The id assigned to it, ``GeneratedID/none`` when it came with one.
        var assigned: GeneratedID
        /// Its personal fields, sealed for its record (empty when none or forgotten).
        var sealed: [UInt8]
    }

    /// Log records of a run of positions, one after another: record `k` (position
    /// `first + k`) is `bytes[ends[k - 1]..<ends[k]]` (from 0 for the first).
    struct Records: Sendable {
        var first: UInt64
        var bytes: [UInt8] = []
        var ends: [Int] = []
    }

    /// Events handed over together, with what the fold needs of LMDB for them. Handed
    /// over whole, never used by the writer again (its states are plain values).
    struct Chunk: Sendable {
        /// The request the items' events are in (by ``Item/index``).
        var events: [Event]
        var items: [Item] = []
        /// The dictionary ids of the items' strings, one after another.
        var ids: [UInt32] = []
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
    private let env: Environment
    /// The position of the first event handed over (the others follow without a gap).
    let firstPosition: UInt64
    private var links: [UInt64] = []
    private var failure: (any Error)?
    /// The `recorded` time of every record (the transaction's).
    private let recorded: Int64
    /// The buffer each record is encoded into (fold thread).
    private var record = ByteWriter(capacity: 256)
    /// Records encoded and not yet taken by the writer, in position order.
    private let records = Mutex<[Records]>([])

    private let queue = Mutex<(chunks: [Chunk], closed: Bool)>(([], false))
    private let ready = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    /// Starts folding the events of the chunks sent into `folding` on the fold thread;
    /// the items' positions run on from `firstPosition` without a gap. States not held
    /// are read from `store` in read transactions of `store.env`.
    init(folding: consuming ProjectionFolding, firstPosition: UInt64, recorded: Int64, store: Store) {
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
        env = store.env
        FoldThreads.shared.run { self.run() }
    }

    /// The read transaction of the chunk being folded.
    private final class Reader: @unchecked Sendable {
        var txn: Transaction?
    }
    private let reader: Reader

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
    func finish() throws -> (folding: ProjectionFolding, links: [UInt64]) {
        queue.withLock { $0.closed = true }
        ready.signal()
        done.wait()
        if let failure { throw failure as? Failure ?? Failure(String(describing: failure)) }
        folding.load = writersLoad
        let result = (folding, links)
        folding = ProjectionFolding(load: { _ in nil })
        return result
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
        done.signal()
    }

    /// Folds one chunk, in log order, with cache hints a few events ahead: the state of
    /// the client of the event `ahead` places on, then the lists of the one half as far
    /// on, whose state has arrived by then. Folding many clients' events one after
    /// another otherwise waits on memory for nearly every event.
    private func fold(_ chunk: Chunk) throws {
        // The fold asks for the ids of an event's strings in the order the writer gave
        // them ids: handed out one after another, no lookup.
        let ids = chunk.ids
        var next = 0
        let intern: (String) throws -> UInt32 = { s in
            guard next < ids.count else { throw Failure("\"\(s)\" reached the fold without a string id") }
            next += 1
            return ids[next - 1]
        }
        let items = chunk.items
        var out = Records(first: items.first?.position ?? 0)
        out.bytes.reserveCapacity(items.count * 128)
        out.ends.reserveCapacity(items.count)
        let ahead = 8
        // The events read in place (`events[i]` of a buffer): passing an array's element
        // copies it, retaining each of its strings and lists.
        try chunk.events.withUnsafeBufferPointer { events in
            for k in items.indices {
                if k + ahead < items.count { folding.prefetch(items[k + ahead].owner) }
                if k + ahead / 2 < items.count { folding.prefetchLists(items[k + ahead / 2].owner) }
                let item = items[k]
                guard Int(item.position - firstPosition) == links.count, item.index < events.count else {
                    throw Failure("the fold was handed event \(item.position) out of step")
                }
                guard next == item.ids else { throw Failure("the fold's string ids are out of step at event \(item.position)") }
                links.append(try folding.streamHead(item.owner))
                try folding.apply(events[item.index], position: item.position, day: item.day, owner: item.owner,
                                  into: nil, personal: item.personal, intern: intern)
                encode(events[item.index], item)
                out.bytes.append(contentsOf: record.bytes)
                out.ends.append(out.bytes.count)
            }
        }
        records.withLock { $0.append(out) }
    }

    /// Encodes the log record of `event` into `record`, as the writer would have
    /// (``AppendContext``).
    private func encode(_ event: Event, _ item: Item) {
        GeneratedID.withText(of: item.assigned == .none ? nil : item.assigned) { assigned in
            EventCodec.encode(event, id: assigned, clientNumber: item.owner, recorded: recorded,
                              sealed: item.sealed, into: &record)
        }
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
