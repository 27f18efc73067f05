import Foundation
import LMDB

extension Database {
    /// The position of the last event (0 when the log is empty).
    public var lastPosition: UInt64 {
        get throws { try store.env.read { try store.lastPosition(txn: $0) } }
    }

    /// The event at `position`, with its checksum verified; nil past the end.
    public func event(at position: UInt64) throws -> RecordedEvent? {
        try store.env.read { txn in
            guard let bytes = try txn.get(store.schema.log, key: position) else { return nil }
            return try store.recorded(bytes, position: position, verify: true)
        }
    }

    /// Up to `limit` events from `position` on, in log order.
    public func events(from position: UInt64 = 1, limit: Int = Int.max) throws -> [RecordedEvent] {
        try store.env.read { txn in try events(from: position, limit: limit, txn: txn) }
    }

    func events(from position: UInt64, limit: Int, txn: Transaction) throws -> [RecordedEvent] {
        var out: [RecordedEvent] = []
        try forEachEvent(from: position, txn: txn) { e in
            out.append(e)
            return out.count < limit
        }
        return out
    }

    /// Calls `body` with each event from `position` on, in one consistent snapshot,
    /// until it returns false. Checksums are not checked here (``verify()`` does).
    ///
    /// The body runs inside a read transaction: do not append from it (growing the
    /// map waits for this process's readers to finish, so the append would wait forever).
    public func forEachEvent(from position: UInt64 = 1, _ body: (RecordedEvent) throws -> Bool) throws {
        try store.env.read { txn in try forEachEvent(from: position, txn: txn, body) }
    }

    private func forEachEvent(from position: UInt64, txn: Transaction, _ body: (RecordedEvent) throws -> Bool) throws {
        try txn.withCursor(store.schema.log) { c in
            var entry = try c.seek(max(position, 1))
            while let (k, v) = entry {
                let p: UInt64 = k.load(at: 0)
                guard try body(try store.recorded(v, position: p, verify: false)) else { return }
                entry = try c.next()
            }
        }
    }

    /// The events of one client key's stream, in log order (merged clients' events stay
    /// in their own key's stream).
    public func stream(_ client: String) throws -> [RecordedEvent] {
        try store.env.read { txn in
            guard let n = try store.clientNumber(client, txn: txn) else { return [] }
            return try positions(of: n, txn: txn).map { p in
                guard let bytes = try txn.get(store.schema.log, key: p) else {
                    throw CorruptData("stream of \(client) names position \(p), which is not in the log")
                }
                return try store.recorded(bytes, position: p, verify: true)
            }
        }
    }

    /// The positions of client number `client`'s own stream, oldest first.
    func positions(of client: UInt32, txn: Transaction) throws -> [UInt64] {
        guard let state = try store.state(client, txn: txn) else { return [] }
        return try StreamChain.positions(head: state.streamHead, count: state.streamVersion,
                                         table: store.schema.chain, txn: txn)
    }

    /// The number of events in `client`'s stream (0 for an unknown key): the value to
    /// pass as an expected version.
    public func streamVersion(_ client: String) throws -> UInt32 {
        try store.env.read { txn in
            guard let n = try store.clientNumber(client, txn: txn) else { return 0 }
            return try store.state(n, txn: txn)?.streamVersion ?? 0
        }
    }

    /// The current date in the database time zone.
    public var today: Day { store.zone.day(of: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))) }

    /// The client's fields as of `today` (default: the current date).
    ///
    /// Uses the stored projection when no event lies after `today`, and otherwise
    /// replays the client's events up to `today`: the answer equals that of a
    /// database holding only those events. A client merged into another answers
    /// with the surviving client's fields.
    public func client(_ key: String, today: Day? = nil) throws -> ClientProjection? {
        let day = today ?? self.today
        return try store.env.read { txn in
            guard var n = try store.clientNumber(key, txn: txn), var state = try store.state(n, txn: txn) else { return nil }
            var hops = 0
            while state.mergedInto != 0, hops < 10_000, let next = try store.state(state.mergedInto, txn: txn) {
                n = state.mergedInto
                state = next
                hops += 1
            }
            if let maxDay = state.maxDay, maxDay > day {
                state = try replay(root: n, upTo: day, txn: txn)
            }
            let rootKey = try store.clientKey(n, txn: txn) ?? key
            return try ClientProjection(id: rootKey, today: day, state: state, string: { try store.stringValue($0, txn: txn) },
                                        personal: { ref, tag in personalValue(ref, tag, txn: txn) })
        }
    }

    /// Folds the events of a person (root and merged members) with day ≤ `day`.
    func replay(root: UInt32, upTo day: Day, txn: Transaction) throws -> ClientState {
        guard let stored = try store.state(root, txn: txn) else { return ClientState() }
        let records = try personEvents(root: root, members: stored.members, txn: txn)
        var folding = ProjectionFolding(load: { _ in nil })
        var numbers: [String: UInt32] = [:]
        // Erasure holds whatever `today` says (SPEC 3.5): a later forget still counts.
        let forgottenLater = records.contains { _, d in d.event.type == .forget && store.zone.day(of: d.event.at) > day }
        // A merge joins two keys whatever day it was recorded on (they are one person),
        // so one after `day` still joins them, without counting as that day's event.
        for (p, d) in records {
            let eventDay = store.zone.day(of: d.event.at)
            var into: UInt32?
            if case .merge(let m) = d.event.payload {
                into = try numbers[m.into] ?? store.clientNumber(m.into, txn: txn)
            } else if eventDay > day {
                continue
            }
            numbers[d.event.client] = d.clientNumber
            try folding.apply(d.event, position: p, day: min(eventDay, day), owner: d.clientNumber,
                              into: into, personal: store.personal(d, position: p),
                              intern: { try store.stringID($0, txn: txn) ?? 0 }, identityOnly: eventDay > day)
        }
        var r = root
        var hops = 0
        while let next = folding[r]?.mergedInto, next != 0, hops < 10_000 { r = next; hops += 1 }
        var state = folding[r] ?? ClientState()
        if forgottenLater || stored.forgotten {
            state.forgotten = true
            state.name = nil; state.email = nil; state.phone = nil
        }
        return state
    }

    /// The stored events of a person: the root client and the clients merged into it,
    /// in log order.
    func personEvents(root: UInt32, members: [UInt32], txn: Transaction) throws -> [(UInt64, EventCodec.Decoded)] {
        var records: [(UInt64, EventCodec.Decoded)] = []
        for member in [root] + members {
            for p in try positions(of: member, txn: txn) {
                guard let bytes = try txn.get(store.schema.log, key: p) else { continue }
                records.append((p, try EventCodec.decode(bytes, position: p, verifyChecksum: false)))
            }
        }
        if !members.isEmpty { records.sort { $0.0 < $1.0 } }
        return records
    }

    func personalValue(_ ref: Stamped<UInt32>?, _ tag: PersonalData.Tag, txn: Transaction) -> String? {
        guard let ref, let bytes = try? txn.get(store.schema.log, key: ref.stamp.position),
              let d = try? EventCodec.decode(bytes, position: ref.stamp.position, verifyChecksum: false) else { return nil }
        return store.personal(d, position: ref.stamp.position)?.value(tag)
    }

    /// A catch-up subscription: every event from `position` on, then each new one as
    /// it is committed (by this process or another), until the consumer stops.
    ///
    /// Committed events are never changed, with one exception: an import that commits
    /// in several transactions and then fails (or whose process dies) is undone, and
    /// later events take its positions. A subscription that had delivered any of the
    /// undone events ends with ``PatronError/undone(from:)``, naming the position to
    /// subscribe from again.
    ///
    /// ```swift
    /// for try await e in db.subscribe(from: 1) { print(e.position, e.event.type) }
    /// ```
    public func subscribe(from position: UInt64 = 1, pollInterval: Duration = .milliseconds(100))
        -> AsyncThrowingStream<RecordedEvent, any Error>
    {
        let ticks = commits.ticks(poll: pollInterval)
        return AsyncThrowingStream { continuation in
            let task = Task { [self] in
                var next = max(position, 1)
                var wakeups = ticks.makeAsyncIterator()
                var undone: UInt64?
                do {
                    while !Task.isCancelled {
                        // The events and the undo marker of one snapshot: events taken
                        // back (an unfinished import undone) end the subscription if it
                        // had delivered any of them.
                        let (batch, marker) = try store.env.read { txn in
                            (try events(from: next, limit: 1024, txn: txn), try store.undoMarker(txn: txn))
                        }
                        if let undone, let lowest = marker.lowestUndone(since: undone), lowest < next {
                            throw PatronError.undone(from: lowest)
                        }
                        undone = marker.count
                        for e in batch { continuation.yield(e) }
                        if let last = batch.last { next = last.position + 1; continue }
                        guard await wakeups.next() != nil else { break }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
