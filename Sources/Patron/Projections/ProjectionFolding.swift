import CSupport
import Synchronization

/// Folds events into client states: the one place that decides how an event changes
/// the projection, used by append (over LMDB), by rebuild and verify (over a fresh
/// replay) and by time travel (over a filtered replay).
///
/// Each client number has a state. A client merged into another keeps only its
/// stream version, its stream head and `mergedInto`; everything counts under the root
/// it points to.
struct ProjectionFolding {
    /// A state held by reference, so it changes in place inside the table.
    fileprivate final class Box {
        var state: ClientState
        /// The ``ProjectionFolding/generation`` of the last folding that changed it.
        var changedIn: UInt64 = 0
        init(_ state: ClientState) { self.state = state }
    }

    /// States loaded or changed so far, indexed by client number (numbers are handed
    /// out densely from 1, so an array is both smaller and faster than a dictionary).
    private var boxes: [Box?] = []
    /// How many entries of `boxes` hold a state.
    private var held = 0
    /// How many client states it holds (loaded or changed).
    var heldCount: Int { held }
    /// Client numbers whose state changed, each once, in the order of their first change.
    private(set) var dirty: [UInt32] = []
    /// Loads a stored state (nil for a client with none yet).
    var load: (UInt32) throws -> ClientState?
    /// Tells this folding's changes from those of the folding its states were carried
    /// from (a box is dirty here when its `changedIn` is this).
    private let generation = Self.generations.add(1, ordering: .relaxed).newValue
    private static let generations = Atomic<UInt64>(0)
    init(load: @escaping (UInt32) throws -> ClientState?) {
        self.load = load
        holdAtMost = nil
    }

    /// When set, loading a state while this many are held first lets go of one this
    /// folding has not changed (see ``letGoOfOne()``), so that states carried from
    /// transaction to transaction stay within bounds: a folding holds at most this many,
    /// or its changed states and one more. Nil: no bound.
    let holdAtMost: Int?
    /// With a bound, the clients whose states may be let go of, in the order they came:
    /// those carried in (in client order), then each as it is loaded. An entry whose
    /// state has changed since, or is no longer held, is passed over when its turn
    /// comes; every held state this folding has not changed has an entry from
    /// `nextUnchanged` on.
    private var unchanged: [UInt32] = []
    private var nextUnchanged = 0

    /// The states of a folding whose changes were all written and committed, carried
    /// into the next transaction so that it need not load and decode them again. Valid
    /// only for the transaction that directly follows that commit (no other writer in
    /// between); used on the writer's thread alone.
    struct Carried: @unchecked Sendable {
        fileprivate var boxes: [Box?]
        /// How many client states it holds.
        let count: Int
        /// No states.
        static let none = Carried(boxes: [], count: 0)
    }

    /// A folding that starts from carried states (see ``Carried``; ``Carried/none`` for
    /// none), holding at most `holdAtMost` while it can let go of some.
    init(load: @escaping (UInt32) throws -> ClientState?, carried: Carried, holdAtMost: Int? = nil) {
        self.load = load
        boxes = carried.boxes
        held = carried.count
        self.holdAtMost = holdAtMost
        if holdAtMost != nil { unchanged = heldClients() }
    }

    /// The clients whose states are held, in client order.
    private func heldClients() -> [UInt32] {
        var clients: [UInt32] = []
        clients.reserveCapacity(held)
        // By index: enumerating the boxes would retain and release each one.
        for i in boxes.indices where boxes[i] != nil { clients.append(UInt32(i)) }
        return clients
    }

    /// The states loaded or changed so far, to carry into the next transaction once
    /// the changes are written and committed.
    func carry() -> Carried { Carried(boxes: boxes, count: held) }

    /// Lets go of held states until at most `limit` are held: first those this folding
    /// has not changed, then others, in client order. Call only once its changes are
    /// committed (every state then equals the stored one). Returns what it let go of,
    /// to be freed where that costs the writer nothing.
    mutating func trim(to limit: Int) -> Carried {
        guard held > limit else { return .none }
        var gone: [Box?] = []
        gone.reserveCapacity(held - limit)
        for anyState in [false, true] {
            var i = 0
            while held > limit && i < boxes.count {
                if let b = boxes[i], anyState || b.changedIn != generation {
                    gone.append(b)
                    boxes[i] = nil
                    held -= 1
                }
                i += 1
            }
        }
        return Carried(boxes: gone, count: gone.count)
    }

    /// Encodes the state of `client` (``ClientState/encodeRow(appendingTo:)``,
    /// ``ClientState/encodeDetail(into:)``) where it lies, without copying it (a copy
    /// retains each of its lists); false if never loaded or changed. `mutating` (it
    /// changes nothing) so that a folding held in a class is used in place: to call a
    /// non-mutating method on a class's stored struct, Swift copies the struct first,
    /// retaining each of its tables (see ``prefetch(_:)``).
    mutating func encode(_ client: UInt32, row: inout [UInt8], detail: inout ByteWriter) -> Bool {
        let i = Int(client)
        guard i < boxes.count, let b = boxes[i] else { return false }
        b.state.encode(row: &row, detail: &detail)
        return true
    }

    /// The state of `client` as folded so far (nil if never loaded or changed).
    subscript(client: UInt32) -> ClientState? {
        Int(client) < boxes.count ? boxes[Int(client)]?.state : nil
    }

    private mutating func box(_ client: UInt32) throws -> Box {
        let i = Int(client)
        if i < boxes.count, let found = boxes[i] { return found }
        if let bound = holdAtMost, held >= bound, held > dirty.count { letGoOfOne() }
        let b = Box(try load(client) ?? ClientState())
        if i >= boxes.count {
            boxes.append(contentsOf: repeatElement(nil, count: i + 1 - boxes.count))
        }
        boxes[i] = b
        held += 1
        if holdAtMost != nil { unchanged.append(client) }
        return b
    }

    mutating func state(_ client: UInt32) throws -> ClientState { try box(client).state }

    /// Lets go of one held state that this folding has not changed (carried in, or
    /// loaded and only read), the one that came first (``unchanged``). Such a state
    /// equals the stored one, so a later use loads it again. Call only while one is
    /// held (`held > dirty.count`: every changed state is held and listed once in
    /// `dirty`). A caller holding a ``Box`` across a call that may load another would
    /// lose its changes: none does (``apply`` and ``update(_:_:)`` change a box before
    /// they load the next).
    private mutating func letGoOfOne() {
        while nextUnchanged < unchanged.count {
            let i = Int(unchanged[nextUnchanged])
            nextUnchanged += 1
            if let b = boxes[i], b.changedIn != generation {
                boxes[i] = nil
                held -= 1
                return
            }
        }
    }

    /// Asks the CPU to bring in the memory of `client`'s state, if it is held, ahead of
    /// its fold: a fold of events of many clients otherwise waits on memory for nearly
    /// every one (``AppendContext`` folds a request's events a few behind this hint).
    ///
    /// `mutating` (it changes nothing): the fold thread calls it for every event on the
    /// folding its ``FoldPipeline`` holds, and a non-mutating call on a class's stored
    /// struct copies the struct first, retaining and releasing each of its tables.
    mutating func prefetch(_ client: UInt32) {
        let i = Int(client)
        guard i < boxes.count else { return }
        // The box's address read as bits: `boxes[i]` would retain the box, an atomic
        // write to the very line the hint is for, and so wait for it after all.
        let bits = boxes.withUnsafeBytes { $0.load(fromByteOffset: i * MemoryLayout<Box?>.stride, as: UInt.self) }
        guard let p = UnsafeRawPointer(bitPattern: bits) else { return }
        for offset in stride(from: 0, to: Self.boxBytes, by: 64) { patron_prefetch(p + offset) }
    }

    /// The second step of ``prefetch(_:)``, once the state itself is in the cache: the
    /// lists an event adds to (activity days, tallies, services). `mutating` for the
    /// reason ``prefetch(_:)`` is.
    mutating func prefetchLists(_ client: UInt32) {
        let i = Int(client)
        guard i < boxes.count, let b = boxes[i] else { return }
        b.state.prefetchLists()
    }

    /// Hints the states of the clients a few places after `k` in `clients` into the
    /// cache (``prefetch(_:)``, then ``prefetchLists(_:)`` half as far on), for a loop
    /// over them: a commit encodes states the fold left long before, and otherwise
    /// waits on memory for each.
    mutating func prefetchAhead(_ clients: ArraySlice<UInt32>, _ k: Int) {
        let ahead = 8
        if k + ahead < clients.endIndex { prefetch(clients[k + ahead]) }
        if k + ahead / 2 < clients.endIndex { prefetchLists(clients[k + ahead / 2]) }
    }

    /// The bytes of a held state: the box's header and the state stored inline.
    private static let boxBytes = 16 + MemoryLayout<ClientState>.size

    /// The last position of `client`'s own stream so far (0 before its first event).
    mutating func streamHead(_ client: UInt32) throws -> UInt64 { try box(client).state.streamHead }

    /// Changes a client's state in place.
    mutating func update(_ client: UInt32, _ change: (inout ClientState) throws -> Void) throws {
        let b = try box(client)
        try change(&b.state)
        markChanged(b, client)
    }

    private mutating func markChanged(_ b: Box, _ client: UInt32) {
        if b.changedIn != generation {
            b.changedIn = generation
            dirty.append(client)
        }
    }

    private mutating func mergedInto(_ client: UInt32) throws -> UInt32 { try box(client).state.mergedInto }

    /// The client number everything of `client` counts under.
    mutating func root(_ client: UInt32) throws -> UInt32 {
        var c = client
        var hops = 0
        while true {
            let next = try mergedInto(c)
            if next == 0 || hops > 10_000 { return c }
            c = next
            hops += 1
        }
    }

    /// Folds one event of client `owner` at `position`.
    ///
    /// - Parameters:
    ///   - into: the client number of a merge's `into` key.
    ///   - personal: which personal fields the event carries (nil when none are stored).
    /// - Returns: client numbers whose keys must be destroyed (a forget, or a merge
    ///   that joins a forgotten person).
    ///   - identityOnly: a merge after the day of a time-travel replay: it joins the two
    ///     people (identity holds whenever it was recorded) without counting as an event.
    @discardableResult
    mutating func apply(_ event: Event, position: UInt64, day: Day, owner: UInt32, into: UInt32?,
                        personal: PersonalData?, intern: (String) throws -> UInt32,
                        identityOnly: Bool = false) throws -> [UInt32] {
        try withUnsafePointer(to: event) { e in
            try apply(at: e, position: position, day: day, owner: owner, into: into, personal: personal, intern: intern,
                      identityOnly: identityOnly)
        }
    }

    /// ``apply(_:position:day:owner:into:personal:intern:identityOnly:)`` for the event
    /// `event` points to, read in place (passed by value, it would be copied).
    @discardableResult
    mutating func apply(at event: UnsafePointer<Event>, position: UInt64, day: Day, owner: UInt32, into: UInt32?,
                        personal: PersonalData?, intern: (String) throws -> UInt32,
                        identityOnly: Bool = false) throws -> [UInt32] {
        let type = event.pointee.type
        if type != .merge && type != .forget {
            // Most events: a client that is its own root takes the whole fold in one
            // lookup of its state (the general steps below look it up four times).
            let b = try box(owner)
            if b.state.mergedInto == 0 {
                let forgotten = b.state.forgotten
                b.state.countInStream(position)
                try b.state.apply(at: event, position: position, day: day, owner: owner,
                                  hasPersonal: forgotten ? nil : personal, intern: intern)
                markChanged(b, owner)
                return []
            }
        }
        try update(owner) { s in s.countInStream(position) }
        let target = try root(owner)
        switch event.pointee.payload {
        case .merge:
            guard let into else { return [] }
            let other = try root(into)
            // Count the merge itself under the surviving root, like any other event.
            if !identityOnly {
                try update(other) { s in
                    s.eventCount += 1
                    s.maxDay = max(s.maxDay ?? day, day)
                }
            }
            guard other != target else { return [] }
            let absorbed = try state(target)
            try update(other) { s in
                s.absorb(absorbed)
                s.members.append(target)
                s.members.append(contentsOf: absorbed.members)
                if s.forgotten { s.name = nil; s.email = nil; s.phone = nil }
            }
            try update(target) { s in
                s = ClientState(streamVersion: s.streamVersion, streamHead: s.streamHead, mergedInto: other)
            }
            let merged = try state(other)
            return merged.forgotten ? [other] + merged.members : []
        case .forget:
            try update(target) { s in
                s.apply(at: event, position: position, day: day, owner: owner, hasPersonal: nil, intern: { _ in 0 })
                s.name = nil; s.email = nil; s.phone = nil
            }
            return [target] + (try state(target).members)
        default:
            // Read in place: a copy of the whole state would retain each of its arrays.
            let forgotten = try box(target).state.forgotten
            try update(target) { s in
                try s.apply(at: event, position: position, day: day, owner: owner,
                            hasPersonal: forgotten ? nil : personal, intern: intern)
            }
            return []
        }
    }
}

extension ClientState {
    /// Counts the event at `position` in the stream of the state's own key.
    mutating func countInStream(_ position: UInt64) {
        streamVersion += 1
        streamHead = max(streamHead, position)
    }

    init(streamVersion: UInt32, streamHead: UInt64, mergedInto: UInt32) {
        self.init()
        self.streamVersion = streamVersion
        self.streamHead = streamHead
        self.mergedInto = mergedInto
    }
}
