import LMDB
import Synchronization

/// What one append request asks: events, and expected stream versions by client key.
struct AppendRequest {
    var events: [Event]
    var expectedVersions: [String: UInt32]
}

/// One write transaction's work: appends the requests of a group commit, keeping the
/// log, the indexes and the projection in step.
///
/// State is built fresh for every attempt, so a transaction retried after map growth
/// starts clean; only a first attempt may start from the client states the writer
/// carried over from its previous commit (``ProjectionFolding/Carried``).
final class AppendContext {
    let store: Store
    let txn: Transaction
    let recorded: Int64
    /// The store's tables, held here: a computed copy would retain each table's name at
    /// every use, several times per event.
    private let schema: Schema
    private var nextPosition: UInt64
    private var nextClient: UInt32
    /// The first client number this transaction hands out.
    private let firstClientNumber: UInt32
    private var nextString: UInt32
    private(set) var newClients: [String: UInt32] = [:]
    /// Client numbers this writer has looked up or handed out, carried from commit to
    /// commit with the states (``Carried``): one dictionary lookup per event instead of
    /// the shared cache's locks.
    private var numbers = StringIDMap()
    /// The buffer each event is encoded into (``EventCodec/encode(_:id:clientNumber:recorded:sealed:into:)``).
    private var record = ByteWriter(capacity: 256)
    private(set) var newStrings: [String: UInt32] = [:]
    /// Every string id this transaction has used, so repeats skip the shared cache's lock.
    private var interned = StringIDMap()
    private var idsInTxn: [String: UInt64] = [:]
    /// The ids this transaction has assigned, found by ``positionOfAssignedID(_:)``
    /// before their records are in the log.
    private var assignedInTxn = AssignedRuns()
    private var folding: ProjectionFolding
    /// Stream links (``StreamChain``) of the positions from `linksFrom` on, not yet written.
    private var links: [UInt64] = []
    /// The fold of the current run of large requests on a second thread, while one
    /// runs (``applyInOrder(_:)``), and what the writer's side keeps for it.
    private var pipeline: PipelineFeed?
    /// The log records of the chunk being filled, when the writer encodes them itself:
    /// it does for a chunk begun while the fold thread is behind (a chunk sent and not
    /// yet taken up), so that the two threads share the work as their speeds allow.
    private var chunkRecords: FoldPipeline.Records?
    #if DEBUG
    /// Chunks of pipelined requests begun (``Store/writerEncodesChunks``).
    private var chunksBegun = 0
    #endif
    /// No stored event id sorts after it (``DeferredIDs``).
    private var idEdge = IDEdge()
    /// A fold that failed: every later use of the states throws it, so the
    /// transaction cannot commit.
    private var foldFailure: (any Error)?

    /// The writer's side of a ``FoldPipeline``.
    private struct PipelineFeed {
        let fold: FoldPipeline
        /// The chunk being filled, of the request being written.
        var chunk: FoldPipeline.Chunk
    }
    /// Whether the states this transaction holds in LMDB are still those of the snapshot
    /// it started from, so that it may fold on a second thread (``FoldPipeline``) and
    /// rewrite the details from that snapshot (``DetailsWriter``): not after it undid an
    /// unfinished import, which wrote states.
    private var mayFoldAside = true
    private var linksFrom: UInt64
    /// Clients whose keys a `forget` (or a merge with a forgotten person) destroys: the
    /// writer destroys them after the commit, so a transaction that is dropped — a
    /// rejected import, a failed commit, a killed process — erases nothing.
    private(set) var erased: Set<UInt32> = []
    /// The last position this transaction has written.
    var lastPosition: UInt64 { nextPosition - 1 }
    /// The first position this transaction writes.
    private let firstPosition: UInt64
    /// Whether this transaction has appended an event (so its commit writes a new
    /// snapshot, under this transaction's id).
    var appendedAny: Bool { nextPosition > firstPosition }

    /// Clients of an unfinished import of a process that is gone, undone at the start
    /// of this transaction (``ImportJournal``): their keys go once it commits.
    private(set) var discarded: Set<UInt32> = []
    /// The journal of the import this transaction belongs to, if it spans several
    /// (``ImportJournal``): before states are written, those of clients the import did
    /// not create are saved in `undo`. Set by the import's session.
    var journal: ImportJournal?
    /// When set, the pages read through the map are let go (``Transaction/releaseMappedPages()``)
    /// after every so many page-reading steps (an event, a state saved or written, a row
    /// chunk): an import's bounded memory.
    var releaseMapEvery: Int?
    private var stepsSinceRelease = 0

    /// Counts one step that reads pages through the map; releases them every
    /// `releaseMapEvery` steps.
    private func readStep() {
        guard let every = releaseMapEvery else { return }
        stepsSinceRelease += 1
        if stepsSinceRelease >= every {
            txn.releaseMappedPages()
            stepsSinceRelease = 0
        }
    }

    /// - Parameters:
    ///   - carried: what the transaction committed just before this one by the same
    ///     writer carried (see ``Carried``), or nil.
    ///   - journal: the journal of the import this transaction continues, or nil.
    ///   - erased: clients forgotten earlier in the same import, whose keys are not
    ///     destroyed yet: no personal data is sealed for them.
    /// - Throws: ``PatronError/busy(_:)`` while another process's import is unfinished;
    ///   ``PatronError/importUndone(file:)`` when `journal` is no longer stored.
    init(store: Store, txn: Transaction, recorded: Int64, carried: Carried? = nil, holdAtMost: Int? = nil,
         journal: ImportJournal? = nil, erased: Set<UInt32> = []) throws {
        self.store = store
        self.schema = store.schema
        self.txn = txn
        self.recorded = recorded
        self.journal = journal
        self.erased = erased
        var carried = carried
        let found = try ImportJournal.read(store.schema.meta, txn: txn)
        if let journal, found != journal {
            // Another process took this one for gone and undid the import.
            throw PatronError.importUndone(file: journal.file)
        }
        if let found, found != journal {
            if store.isLive(found) { throw PatronError.busy(found.busyMessage) }
            discarded = try store.rollBack(found, txn: txn)
            carried = nil
            mayFoldAside = false
        }
        nextPosition = try store.lastPosition(txn: txn) + 1
        firstPosition = nextPosition
        linksFrom = nextPosition
        nextClient = try store.schema.nextNumber(in: store.schema.clientNames, txn: txn)
        firstClientNumber = nextClient
        nextString = try store.schema.nextNumber(in: store.schema.stringValues, txn: txn)
        let load: (UInt32) throws -> ClientState? = { [store, txn] n in try store.state(n, txn: txn) }
        folding = ProjectionFolding(load: load, carried: carried?.states ?? .none, holdAtMost: holdAtMost)
        if let carried { numbers = carried.numbers }
    }

    /// What a writer carries from one commit into its next transaction (valid only when
    /// no other writer committed in between): the client states this transaction held
    /// (carried in, loaded or changed), all written by ``finish()``, and the client
    /// numbers it looked up or handed out.
    struct Carried: @unchecked Sendable {
        var states: ProjectionFolding.Carried
        var numbers: StringIDMap
    }

    /// Ends the transaction's hold on its states and lookup tables (call last, after
    /// ``finish()``) and returns what to carry into the next transaction once this one
    /// has committed (see ``Carried``): at most `limit` states
    /// (``ProjectionFolding/trim(to:)``), with the client numbers unless there are
    /// more than four times `limit` of them; nil when there is no `limit`, nothing was
    /// appended, or an undo wrote states. What is not carried is let go of on a fold
    /// thread (``Release``): freeing an import transaction's states takes time the
    /// writer's next transaction can use.
    func handOver(limit: Int?) -> Carried? {
        settle()
        let load = folding.load
        var carried: Carried?
        let left: ProjectionFolding.Carried
        if let limit, appendedAny, mayFoldAside {
            left = folding.trim(to: limit)
            var carriedNumbers = StringIDMap()
            if numbers.count <= 4 * limit { swap(&carriedNumbers, &numbers) }
            carried = Carried(states: folding.carry(), numbers: carriedNumbers)
        } else {
            left = folding.carry()
        }
        folding = ProjectionFolding(load: load)
        // The states alone (their table, not the folding, whose `load` holds the store),
        // with the lookup tables; a few are freed here rather than wake a thread.
        var rest = (left, numbers, idsInTxn, interned)
        numbers = StringIDMap()
        idsInTxn = [:]
        interned = StringIDMap()
        if rest.0.count + rest.1.count + rest.2.count >= Self.encodeAsideFrom {
            Release.aside(&rest, leaving: (.none, StringIDMap(), [:], StringIDMap()))
        }
        return carried
    }

    /// Applies one request, or throws ``PatronError/wrongExpectedVersion`` having
    /// written nothing of it.
    func apply(_ request: AppendRequest) throws -> AppendResult {
        if request.expectedVersions.isEmpty { return try applyInOrder(request.events) }
        // Versions and the folding below need the states here.
        try finishPipeline()
        // 1. Ids: skip events already stored; assign ids to events without one.
        var positions = [UInt64](repeating: 0, count: request.events.count)
        var ids = [String](repeating: "", count: request.events.count)
        var assigned: [GeneratedID] = []
        var fresh: [Int] = []
        var seen: [String: Int] = [:]
        for (i, e) in request.events.enumerated() {
            guard let id = e.id else {
                // Assigned as it is written (the id names the position).
                if assigned.isEmpty { assigned = [GeneratedID](repeating: .none, count: request.events.count) }
                fresh.append(i)
                continue
            }
            ids[i] = id
            if let p = idsInTxn[id] { positions[i] = p; continue }
            if let p = try storedPosition(ofID: id) { positions[i] = p; continue }
            if let first = seen[id] { positions[i] = UInt64(first) | (1 << 63); continue }  // same id twice in one batch
            seen[id] = i
            fresh.append(i)
        }
        // 2. Expected versions, checked only when something new is appended.
        if !fresh.isEmpty {
            for (key, expected) in request.expectedVersions.sorted(by: { $0.key < $1.key }) {
                let actual = try version(key)
                if actual != expected { throw PatronError.wrongExpectedVersion(client: key, expected: expected, actual: actual) }
            }
        }
        // 3. Write.
        let firstOfRequest = nextPosition
        do {
            for i in fresh {
                let event = request.events[i]
                let given = event.id != nil
                if !given { assigned[i] = store.idGenerator.next(now: recorded, position: nextPosition) }
                let p = try append(event, id: given ? nil : assigned[i])
                positions[i] = p
                // Generated ids are unique by construction; only given ids can repeat.
                if given { idsInTxn[ids[i]] = p }
            }
        } catch let error as PatronError where nextPosition != firstOfRequest {
            throw RequestFailedPartway(error)
        }
        for i in positions.indices where positions[i] & (1 << 63) != 0 {
            positions[i] = positions[Int(positions[i] & ~(1 << 63))]
        }
        return AppendResult(positions: positions, given: ids, assigned: assigned, appended: fresh.count)
    }

    /// Appends events one by one when no stream version is expected (nothing to check
    /// before writing): an id already stored, by an earlier transaction or earlier in
    /// this one, is a duplicate.
    ///
    /// The events are folded on a second thread while they are written (``FoldPipeline``)
    /// unless the request is small or holds a `forget` or a `merge`, whose effects on
    /// other clients the events after them must see as they are written.
    private func applyInOrder(_ events: [Event]) throws -> AppendResult {
        var result = AppendResult()
        // The ids assigned here share the bits the generator gives the first (the time
        // is the transaction's, the positions only increase); it is told of the last.
        var bits: (ms: Int64, random: UInt64)?
        var lastAssigned: UInt64?
        defer { if let lastAssigned { store.idGenerator.handedOut(through: lastAssigned) } }
        let deferring = mayFoldAside && events.count >= Self.deferFoldsFrom && !events.contains { e in
            switch e.payload {
            case .forget, .merge: return true
            default: return false
            }
        }
        if deferring { startPipeline(events) } else { try finishPipeline() }
        // After a failure here the fold stops at once (the transaction may go on with
        // other requests, or end); otherwise it goes on into the next large request.
        var written = false
        defer { if !written { settle() } }
        // Ids past every one stored before the request go into the index in key order
        // after the loop; the others are put (or found stored) as they come. The edge
        // is the one the request started with: an id generated and indexed during it
        // (past ``GeneratedID/positionLimit``) raises the transaction's, and a later id
        // below that may repeat one set aside here.
        var deferred = DeferredIDs()
        try idEdge.load(table: schema.ids, txn: txn)
        let requestEdge = idEdge
        let firstOfRequest = nextPosition
        do {
            // Each event read in place (`all[i]`): an event folded aside is never passed
            // whole (``appendFoldedAside(_:_:id:)`` reads the fields it needs), and any
            // event passed to a call is copied there, retaining each of its strings and
            // lists (the compiler cannot tell the call leaves the buffer alone).
            try events.withUnsafeBufferPointer { all in for i in all.indices {
                readStep()
                // The client number of an event a few ahead, hinted into the cache: the
                // lookups otherwise wait on memory for nearly every event.
                if i + Self.numberAhead < all.count { numbers.prefetch(all[i + Self.numberAhead].client) }
                if var id = all[i].id {
                    let stored: UInt64? = try id.withUTF8 { b in
                        let key = UnsafeRawBufferPointer(b)
                        // One this database assigned is in the log, not in the index.
                        if let p = try positionOfAssignedID(key) { return p }
                        if requestEdge.isPast(key) {
                            switch deferred.insert(key, position: nextPosition) {
                            case .kept: return nil
                            case .repeats(let first): return first
                            case .outOfReach:
                                // Far back among those set aside, and not one of them:
                                // put in its place (or found there, put so earlier in
                                // the request) like the ids below the edge.
                                break
                            }
                        }
                        // Stored with the position the event will take, or found stored.
                        return try schema.putNewID(key, position: nextPosition, txn: txn)
                    }
                    if let stored {
                        result.record(position: stored, given: id)
                        continue
                    }
                    let p = deferring ? try appendFoldedAside(all, i) : try append(all[i], idStored: true)
                    result.record(position: p, given: id)
                } else {
                    // The id goes beside the event: no copy of it.
                    let id: GeneratedID
                    if let bits {
                        id = GeneratedID(ms: bits.ms, position: nextPosition, random: bits.random)
                    } else {
                        id = store.idGenerator.next(now: recorded, position: nextPosition)
                        bits = (id.ms, id.random)
                    }
                    lastAssigned = nextPosition
                    let p = deferring ? try appendFoldedAside(all, i, id: id) : try append(all[i], id: id)
                    result.record(position: p, assigned: id)
                }
                result.appended += 1
            } }
        } catch let error as PatronError where nextPosition != firstOfRequest {
            // Some events of the request are written (and their ids not all put): the
            // whole transaction must go, not only this request.
            throw RequestFailedPartway(error)
        }
        try deferred.put(into: schema.ids, txn: txn, edge: &idEdge)
        if deferring {
            try sendChunk()
            // The writer lets go of its reference to the events here (the fold thread
            // holds its own while it has some of them to fold), so that it is not the one
            // that frees them (see ``ImportPipe/giveBack(_:)``).
            pipeline?.chunk.events = []
        }
        written = true
        return result
    }

    /// A request that failed after some of its events were written: not a
    /// ``PatronError``, so the writer drops the whole transaction instead of failing
    /// only this request and committing the others.
    struct RequestFailedPartway: Error, CustomStringConvertible {
        var underlying: PatronError
        init(_ underlying: PatronError) { self.underlying = underlying }
        var description: String { "nothing stored: \(underlying)" }
    }

    /// How many events ahead ``applyInOrder(_:)`` hints a client number into the cache.
    private static let numberAhead = 8

    /// Requests of at least this many events fold on a second thread while they are
    /// written (``applyInOrder(_:)``, ``FoldPipeline``).
    static let deferFoldsFrom = 64

    /// Hands the folding to a ``FoldPipeline`` for the request about to be written, or
    /// gives the running one the request's events.
    private func startPipeline(_ events: [Event]) {
        if var feed = pipeline {
            feed.chunk = FoldPipeline.Chunk(events: events)
            pipeline = feed
            return
        }
        var moved = ProjectionFolding(load: folding.load)
        swap(&moved, &folding)
        // The fold thread gives the strings ids until the pipeline ends (the writer gives
        // none meanwhile: it folds nothing itself).
        let strings = FoldPipeline.Strings(interned: interned, next: nextString)
        interned = StringIDMap()
        pipeline = PipelineFeed(fold: FoldPipeline(folding: moved, strings: strings, firstPosition: nextPosition,
                                                   recorded: recorded, store: store),
                                chunk: FoldPipeline.Chunk(events: events))
    }

    /// Sends the chunk being filled (a full one, or the request's last), and puts the
    /// log records the fold thread has encoded so far; the pipeline goes on.
    private func sendChunk() throws {
        guard var feed = pipeline, !feed.chunk.items.isEmpty else { return }
        feed.chunk.records = chunkRecords
        chunkRecords = nil
        feed.fold.send(feed.chunk)
        feed.chunk = FoldPipeline.Chunk(events: feed.chunk.events)
        pipeline = feed
        try putRecords(feed.fold.takeRecords())
    }

    /// Puts log records the fold thread encoded (``FoldPipeline/Records``), in position
    /// order. A failure here leaves events without their records: it is kept as the
    /// fold's, so the transaction cannot commit.
    private func putRecords(_ all: [FoldPipeline.Records]) throws {
        do {
            // One cursor for all: it stays on the log's last page, where a fresh one
            // (`mdb_put`) would descend from the root for every record.
            try txn.withCursor(schema.log) { c in
                for r in all {
                    try r.bytes.bytes.withUnsafeBytes { b in
                        var start = 0
                        for (k, end) in r.ends.enumerated() {
                            try c.put(key: r.first + UInt64(k), value: UnsafeRawBufferPointer(rebasing: b[start..<end]),
                                      flags: .append)
                            start = end
                        }
                    }
                }
            }
        } catch {
            foldFailure = foldFailure ?? error
            throw error
        }
    }

    /// Ends the pipeline, if one runs: for a transaction about to end anyway
    /// (``Writer``), or a request that failed. The fold thread is done with the
    /// folding and its read transaction when this returns. A failed fold is kept:
    /// every later use of the states, and ``finish()``, throws it, so the transaction
    /// cannot commit.
    func settle() {
        if pipeline != nil { try? finishPipeline() }
    }

    /// Queues the fold of an event the writer has just indexed (writer's thread), with
    /// the ids of its strings and what its log record needs (encoded on the fold thread).
    private func queueFold(_ item: FoldPipeline.Item) throws {
        // The chunk changes in place, through the optional: taking the feed out and
        // putting it back would retain and release its lists for every event.
        pipeline?.chunk.items.append(item)
        if let n = pipeline?.chunk.items.count, n >= FoldPipeline.chunkSize { try sendChunk() }
    }

    /// Waits for the fold of the requests sent and takes the folding back with the
    /// events' stream links; nothing to do when no pipeline runs. Call before the
    /// writer's thread reads or changes `folding`.
    private func finishPipeline() throws {
        guard var feed = pipeline else {
            if let foldFailure { throw foldFailure }
            return
        }
        pipeline = nil
        if let foldFailure {
            // A put of the fold's records failed while it ran: the fold thread still ends
            // here, before the transaction does (and the map may be resized).
            _ = try? feed.fold.finish()
            chunkRecords = nil
            throw foldFailure
        }
        feed.chunk.records = chunkRecords
        chunkRecords = nil
        if !feed.chunk.items.isEmpty { feed.fold.send(feed.chunk) }
        let done: ProjectionFolding, newLinks: [UInt64], strings: FoldPipeline.Strings
        do {
            (done, newLinks, strings) = try feed.fold.finish()
        } catch {
            foldFailure = error
            throw error
        }
        folding = done
        interned = strings.interned
        nextString = strings.next
        do {
            for (s, id) in strings.added {
                try schema.putString(s, id: id, txn: txn)
                newStrings[s] = id
            }
        } catch {
            foldFailure = error
            throw error
        }
        let base = Int(feed.fold.firstPosition - linksFrom)
        for (k, link) in newLinks.enumerated() { links[base + k] = link }
        try putRecords(feed.fold.takeRecords())
    }

    /// Events in the stream of `key` as of this transaction.
    func version(_ key: String) throws -> UInt32 {
        try finishPipeline()
        guard let n = try number(key, create: false) else { return 0 }
        return try folding.state(n).streamVersion
    }

    private func number(_ key: String, create: Bool) throws -> UInt32? {
        if let n = numbers[key] { return n }
        if let n = try store.clientNumber(key, txn: txn) {
            numbers[key] = n
            return n
        }
        guard create else { return nil }
        let n = nextClient
        nextClient += 1
        try schema.putClient(key: key, number: n, txn: txn)
        _ = store.keys.createKey(n)
        // The number of a client an undo deleted, given again: its new key stays.
        discarded.remove(n)
        newClients[key] = n
        numbers[key] = n
        return n
    }

    private func intern(_ s: String) throws -> UInt32 {
        // Every string this transaction added is in `interned`, so an uncommitted id
        // never reaches `store.stringID` (whose cache every transaction shares).
        if let id = interned[s] { return id }
        if let id = try store.stringID(s, txn: txn) {
            interned[s] = id
            return id
        }
        let id = nextString
        nextString += 1
        try schema.putString(s, id: id, txn: txn)
        newStrings[s] = id
        interned[s] = id
        return id
    }

    /// The next position, for an event whose id is `generated` (nil for a given id).
    private func takePosition(assigned generated: GeneratedID?) -> UInt64 {
        let position = nextPosition
        nextPosition += 1
        if let generated { assignedInTxn.record(generated, at: position) }
        return position
    }

    /// The position of the stored event whose id is `id`, written by an earlier
    /// transaction or by this one.
    private func storedPosition(ofID id: String) throws -> UInt64? {
        var key = id
        return try key.withUTF8 { b in
            let k = UnsafeRawBufferPointer(b)
            if let p = try positionOfAssignedID(k) { return p }
            return try txn.get(schema.ids, key: k).map { $0.loadUnaligned(as: UInt64.self) }
        }
    }

    /// The position of the event this database assigned `id` to, written by an earlier
    /// transaction or by this one; nil for any other id (see ``GeneratedID``).
    private func positionOfAssignedID(_ id: UnsafeRawBufferPointer) throws -> UInt64? {
        guard let assigned = GeneratedID(text: id) else { return nil }
        let p = assigned.position
        // This transaction's records may not be in the log yet (``FoldPipeline``).
        guard p >= firstPosition else { return try schema.positionOfAssignedID(id, txn: txn) }
        return assignedInTxn.contains(assigned) ? p : nil
    }

    /// Appends one event at the next position, folded here.
    ///
    /// - Parameters:
    ///   - idStored: its id → position entry is already written.
    ///   - id: the id ``EventIDGenerator`` gave an event without one (naming this
    ///     position, it needs no index entry), stored in place of `event.id`.
    private func append(_ event: Event, idStored: Bool = false, id generated: GeneratedID? = nil) throws -> UInt64 {
        let position = takePosition(assigned: generated)
        guard let owner = try number(event.client, create: true) else { throw PatronError.io("client number not assigned") }
        // The type is asked first: matching the payload itself copies it, which retains
        // each of its strings and lists, for every event.
        let type = event.type
        let into: UInt32?
        if type == .merge, case .merge(let m) = event.payload { into = try number(m.into, create: true) } else { into = nil }
        let (personal, sealed) = seal(PersonalData.mayHold(type) || event.extra != nil ? PersonalData(of: event) : nil,
                                      owner: owner, position: position)
        let day = store.zone.day(of: event.at)
        // The codec writes no personal field (they go sealed in `sealed`): the event is
        // encoded as it is.
        EventCodec.encode(event, assigned: generated, clientNumber: owner, recorded: recorded, sealed: sealed,
                          into: &record)
        try record.bytes.withUnsafeBytes { try txn.put(schema.log, key: position, value: $0, flags: .append) }
        if let generated {
            try putAssignedID(generated, position: position)
        } else if !idStored {
            try schema.putID(event.id ?? "", position: position, txn: txn, edge: &idEdge)
        }
        links.append(try folding.streamHead(owner))
        let destroy = try folding.apply(event, position: position, day: day, owner: owner,
                                        into: into, personal: personal, intern: intern)
        // Keys are destroyed only once the transaction has committed (see `erased`).
        erased.formUnion(destroy)
        return position
    }

    /// Appends the event at `index` of a request folded on the pipeline's thread
    /// (``queueFold(_:)``), whose id is
    /// `generated` or stored already; the fold thread also encodes its record, put
    /// once it comes back (``putRecords(_:)``).
    ///
    /// Reads in place only the fields the writer needs (client, time, type, personal
    /// fields): passing the event on would copy it, retaining each of its strings and
    /// lists, for every event.
    private func appendFoldedAside(_ events: UnsafeBufferPointer<Event>, _ index: Int,
                                   id generated: GeneratedID? = nil) throws -> UInt64 {
        let position = takePosition(assigned: generated)
        guard let owner = try number(events[index].client, create: true) else {
            throw PatronError.io("client number not assigned")
        }
        let type = events[index].payload.type
        var mayHold = PersonalData.mayHold(type)
        if !mayHold, case .some = events[index].extra { mayHold = true }
        var personal: PersonalData?, sealed: [UInt8] = []
        if mayHold { (personal, sealed) = seal(PersonalData(of: events[index]), owner: owner, position: position) }
        let day = store.zone.day(of: events[index].at)
        if let generated { try putAssignedID(generated, position: position) }
        links.append(0)  // set by the fold
        let item = FoldPipeline.Item(index: index, owner: owner, day: day, position: position, personal: personal,
                                     assigned: generated ?? .none, sealed: sealed)
        if pipeline?.chunk.items.isEmpty ?? false, let backlog = pipeline?.fold.backlog() {
            var here = backlog > 0
            #if DEBUG
            if let turns = store.writerEncodesChunks.withLock({ $0 }), !turns.isEmpty {
                here = turns[chunksBegun % turns.count]
            }
            chunksBegun += 1
            #endif
            chunkRecords = here ? FoldPipeline.Records(first: position) : nil
        }
        // Encoded here only for a chunk begun while the fold was behind, read in place.
        if chunkRecords != nil, let base = events.baseAddress {
            chunkRecords?.append(base + index, item, recorded: recorded)
        }
        try queueFold(item)
        return position
    }

    /// The personal fields of an event of `owner` at `position` as the fold keeps them
    /// (nil when none, or when they cannot be kept: the client is forgotten or has no
    /// key), and sealed for its record.
    private func seal(_ fields: PersonalData?, owner: UInt32, position: UInt64) -> (PersonalData?, [UInt8]) {
        guard let p = fields, !p.isEmpty, !erased.contains(owner), let key = store.keys.key(owner) else { return (nil, []) }
        return (p, p.sealed(key: key, position: position))
    }

    /// Indexes an assigned id only if it does not name `position` (a position past
    /// ``GeneratedID/positionLimit``): the others are found in the log where they say.
    private func putAssignedID(_ id: GeneratedID, position: UInt64) throws {
        guard !id.locates(position) else { return }
        try id.withText { try schema.putID($0, position: position, generated: true, txn: txn, edge: &idEdge) }
    }

    /// Writes every changed client state; call once, after the last request.
    func finish() throws {
        try writeStates()
        try store.keys.sync()
    }

    /// Ends the import's journal in this, its last transaction: the saved states and
    /// the journal go.
    func endJournal() throws {
        if let undo = schema.undo { try txn.empty(undo) }
        _ = try txn.delete(schema.meta, key: ImportJournal.key)
        journal = nil
    }

    /// Starts the import's journal in this, its first transaction, before any state is
    /// written (``writeStates()``): from then on the states it changes are saved first.
    func beginJournal(file: String) throws {
        let j = ImportJournal.mine(firstPosition: firstPosition, firstClient: firstClientNumber, file: file)
        try txn.put(schema.meta, key: ImportJournal.key, value: j.encoded())
        journal = j
    }

    /// Undoes this session's own import (its journal), in this transaction.
    func rollBackJournal() throws {
        guard let j = journal else { return }
        try finishPipeline()
        discarded.formUnion(try store.rollBack(j, txn: txn))
        mayFoldAside = false
        // States held from before the undo are those it replaced.
        folding = ProjectionFolding(load: folding.load)
        journal = nil
    }

    private func writeStates() throws {
        try finishPipeline()
        if let j = journal {
            for n in folding.dirty where n < j.firstClient {
                try store.saveState(n, txn: txn)
                readStep()
            }
        }
        try StreamChain.write(first: linksFrom, links: links, table: schema.chain, txn: txn)
        linksFrom += UInt64(links.count)
        links.removeAll(keepingCapacity: true)
        // Rows into one buffer and details into one reused writer, each state read in
        // place: a commit writes every changed client, so per-client allocations and
        // copies add up.
        //
        // Many states: encoded from both ends, the far end on a fold thread.
        let sorted = folding.dirty.ascendingDistinct()
        // The table is rewritten from the snapshot the transaction started from only if
        // it still holds what that snapshot does (no undo of an import wrote states).
        let stored = try txn.count(schema.details)
        var rewrite = mayFoldAside && DetailsWriter.rewrites(changed: sorted.count, stored: stored)
        #if DEBUG
        if store.detailsRewriteOff.withLock({ $0 }) { rewrite = false }
        #endif
        var numbers: [UInt32] = []
        numbers.reserveCapacity(sorted.count)
        var rows: [UInt8] = []
        rows.reserveCapacity(sorted.count * ProjectionRow.size)
        var detail = ByteWriter(capacity: 512)
        func encodeAndPut(_ clients: ArraySlice<UInt32>, _ details: inout DetailsWriter) throws {
            for k in clients.indices {
                folding.prefetchAhead(clients, k)
                let n = clients[k]
                guard folding.encode(n, row: &rows, detail: &detail) else { continue }
                numbers.append(n)
                #if DEBUG
                try injectedStateWriteFailure()
                #endif
                try detail.bytes.withUnsafeBytes { try details.put(n, $0) }
            }
        }
        // Steps only count where they release pages (an import's): a call per detail
        // otherwise, each retaining this context.
        let step: (() -> Void)? = releaseMapEvery == nil ? nil : { [unowned self] in readStep() }
        try DetailsWriter.write(table: schema.details, txn: txn, rewritingFrom: rewrite ? store.env : nil,
                                step: step) { details in
            // Started here, once the details can be written: every path below waits for it.
            let aside = sorted.count >= Self.encodeAsideFrom ? StatesEncodedAside(folding: folding, clients: sorted) : nil
            if let aside {
                do {
                    while let run = aside.claimFront() { try encodeAndPut(run, &details) }
                } catch {
                    // The fold thread stops at its next run and lets go of its folding: the
                    // transaction is dropped, maybe to run again (the map grew).
                    aside.cancel()
                    _ = aside.wait()
                    throw error
                }
                for encoded in aside.wait() {
                    try encoded.details.withUnsafeBytes { all in
                        var start = 0
                        for (n, end) in zip(encoded.numbers, encoded.detailEnds) {
                            try details.put(n, UnsafeRawBufferPointer(rebasing: all[start..<end]))
                            start = end
                        }
                    }
                    numbers.append(contentsOf: encoded.numbers)
                    rows.append(contentsOf: encoded.rows)
                }
            } else {
                try encodeAndPut(sorted[...], &details)
            }
        }
        try RowChunks.write(numbers: numbers, rows: rows, table: schema.rows, txn: txn, afterEachChunk: readStep)
    }

    /// A commit that writes at least this many client states encodes some of them on a
    /// fold thread (``StatesEncodedAside``).
    static let encodeAsideFrom = 1_024

    #if DEBUG
    /// Tests only: fails the state write ``Store/failStateWrite`` names.
    private func injectedStateWriteFailure() throws {
        let fails = store.failStateWrite.withLock { n -> Bool in
            guard let k = n else { return false }
            n = k > 1 ? k - 1 : nil
            return k == 1
        }
        if fails { throw PatronError.io("injected failure of a state write") }
    }
    #endif
}
