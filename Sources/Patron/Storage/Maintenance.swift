import Foundation
import LMDB

/// What `patron stats` shows.
public struct DatabaseStats: Sendable {
    public var path: String
    /// The file's on-disk format (a read-only opening leaves an older compatible one as it is).
    public var formatVersion: UInt32
    public var timeZone: String
    public var events: Int
    /// Client keys known (including keys merged into others).
    public var clientKeys: Int
    /// Distinct people: client keys not merged into another.
    public var clients: Int
    public var forgotten: Int
    public var eventsByType: [EventType: Int]
    public var firstAt: Int64?
    public var lastAt: Int64?
    /// Size of the data file in bytes.
    public var fileSize: Int
    /// Bytes of the map in use.
    public var usedSize: Int
    public var mapSize: Int
    /// Entries and pages of each table.
    public var tables: [(name: String, entries: Int, pages: Int)]
    /// An import committing in several transactions that has not finished (under way,
    /// or stopped and waiting to be undone), in words; nil when there is none.
    public var unfinishedImport: String?

    /// Used bytes per stored event.
    public var bytesPerEvent: Double? { events > 0 ? Double(usedSize) / Double(events) : nil }
}

/// What `patron verify` found.
public struct VerifyReport: Sendable {
    /// Events checked.
    public var events = 0
    /// Clients whose projection was compared.
    public var clients = 0
    /// Every problem found, each naming the position, client or table at fault
    /// (at most ``problemLimit`` kept; ``problemCount`` counts them all).
    public var problems: [String] = []
    /// All problems found.
    public var problemCount = 0
    /// How many problems are kept in ``problems``.
    public static let problemLimit = 200
    /// True when nothing is wrong.
    public var isOK: Bool { problemCount == 0 }
    /// An import committing in several transactions that has not finished, in words
    /// (``DatabaseStats/unfinishedImport``): what was verified includes the part of it
    /// committed so far.
    public var unfinishedImport: String?

    mutating func report(_ p: String) {
        problemCount += 1
        if problems.count < Self.problemLimit { problems.append(p) }
    }
}

/// Replays the log in order, giving each event its owner's and `into`'s client
/// numbers as append assigned them (a key gets the next number when first seen).
struct LogReplay {
    var numbers: [String: UInt32] = [:]
    var keys: [UInt32: String] = [:]
    var next: UInt32 = 1

    /// Numbers for an event; `problem` receives any disagreement with stored numbers.
    mutating func assign(_ d: EventCodec.Decoded, problem: (String) -> Void) -> (owner: UInt32, into: UInt32?) {
        let owner: UInt32
        if let n = numbers[d.event.client] {
            owner = n
        } else {
            owner = next
            numbers[d.event.client] = next
            keys[next] = d.event.client
            next += 1
        }
        if owner != d.clientNumber {
            problem("client \"\(d.event.client)\": event stores client number \(d.clientNumber), replay assigns \(owner)")
        }
        guard case .merge(let m) = d.event.payload else { return (owner, nil) }
        if let n = numbers[m.into] { return (owner, n) }
        numbers[m.into] = next
        keys[next] = m.into
        next += 1
        return (owner, next - 1)
    }
}

extension Database {
    /// Counts and sizes of the database.
    public func stats() throws -> DatabaseStats {
        let attrs = try? FileManager.default.attributesOfItem(atPath: store.path)
        return try store.env.read { txn in
            let s = store.schema
            var byType: [EventType: Int] = [:]
            var first: Int64?, last: Int64?
            try txn.withCursor(s.log) { c in
                var entry = try c.first()
                while let (k, v) = entry {
                    // Stats reports what it can read; `verify` names damaged records.
                    if let e = try? EventView(position: k.load(at: 0), bytes: v) {
                        byType[e.type, default: 0] += 1
                        first = min(first ?? e.at, e.at)
                        last = max(last ?? e.at, e.at)
                    }
                    entry = try c.next()
                }
            }
            var people = 0, forgotten = 0
            try RowChunks.forEach(table: s.rows, txn: txn) { _, v in
                let flags = UInt32(littleEndian: v.load(at: ProjectionRow.Offset.flags))
                if flags & ProjectionRow.Flag.merged == 0 { people += 1 }
                if flags & ProjectionRow.Flag.forgotten != 0 { forgotten += 1 }
            }
            let all = [s.meta, s.log, s.ids, s.clientKeys, s.clientNames, s.chain, s.rows, s.details, s.strings, s.stringValues]
            return DatabaseStats(
                path: store.path, formatVersion: store.openedFormat, timeZone: store.zone.identifier,
                events: try txn.count(s.log), clientKeys: try txn.count(s.clientNames), clients: people,
                forgotten: forgotten, eventsByType: byType, firstAt: first, lastAt: last,
                fileSize: (attrs?[.size] as? NSNumber)?.intValue ?? 0, usedSize: store.env.usedSize,
                mapSize: store.env.mapSize,
                tables: try all.map { ($0.name, try txn.count($0), try txn.pages($0)) },
                unfinishedImport: try ImportJournal.read(s.meta, txn: txn).map { $0.note(live: store.isLive($0)) })
        }
    }

    /// Checks every event's checksum and encoding, every index, and every client
    /// projection against a fresh replay of the log, and reports what differs.
    public func verify() throws -> VerifyReport {
        try store.env.read { txn in
            var report = VerifyReport()
            let s = store.schema
            report.unfinishedImport = try ImportJournal.read(s.meta, txn: txn).map { $0.note(live: store.isLive($0)) }
            var replay = LogReplay()
            var folding = ProjectionFolding(load: { _ in nil })
            var streams: [UInt32: [UInt64]] = [:]
            var expected: UInt64 = 1
            var missingStrings: Set<String> = []
            var unindexed = 0
            try txn.withCursor(s.log) { c in
                var entry = try c.first()
                while let (k, v) = entry {
                    defer { report.events += 1 }
                    let p: UInt64 = k.load(at: 0)
                    if p != expected { report.report("log: position \(p) follows \(expected - 1); positions must have no gaps") }
                    expected = p + 1
                    entry = try c.next()
                    if !EventCodec.checksumMatches(v) { report.report("log: event at position \(p) fails its checksum"); continue }
                    let d: EventCodec.Decoded
                    do { d = try EventCodec.decode(v, position: p, verifyChecksum: false) } catch {
                        report.report("log: event at position \(p) does not decode: \(error)")
                        continue
                    }
                    if let id = d.event.id {
                        let stored: UInt64? = try txn.get(s.ids, key: id).map { $0.load(at: 0) }
                        // An id this database assigned names its position and needs no
                        // entry (format 3 indexed every id; such an entry must be right).
                        if stored == nil, Schema.locatesItself(id, at: p) {
                            unindexed += 1
                        } else if stored != p {
                            report.report("ids: id \"\(id)\" maps to \(stored.map(String.init) ?? "nothing"), the log has it at \(p)")
                        }
                    } else {
                        report.report("log: event at position \(p) has no id")
                    }
                    let (owner, into) = replay.assign(d) { report.report("log: position \(p): \($0)") }
                    streams[owner, default: []].append(p)
                    try folding.apply(d.event, position: p, day: store.zone.day(of: d.event.at), owner: owner, into: into,
                                      personal: store.personal(d, position: p), intern: { str in
                                          if let id = try store.stringID(str, txn: txn) { return id }
                                          missingStrings.insert(str)
                                          return 0
                                      })
                }
            }
            for str in missingStrings.sorted() { report.report("strings: \"\(str)\" is used by an event but missing from the dictionary") }
            if try txn.count(s.ids) != report.events - unindexed {
                report.report("ids: \(try txn.count(s.ids)) entries for \(report.events - unindexed) events with ids the index holds")
            }
            // Client indexes, streams and projections.
            for (key, n) in replay.numbers.sorted(by: { $0.value < $1.value }) {
                let storedNumber: UInt32? = try txn.get(s.clientKeys, key: key).map { $0.load(at: 0) }
                if storedNumber != n { report.report("client_keys: \"\(key)\" maps to \(storedNumber.map(String.init) ?? "nothing"), replay gives \(n)") }
                if try store.clientKey(n, txn: txn) != key { report.report("client_names: client number \(n) is not \"\(key)\"") }
                do {
                    let storedStream = try positions(of: n, txn: txn)
                    if storedStream != (streams[n] ?? []) {
                        report.report("chain: the stream of \"\(key)\" holds positions \(storedStream.prefix(20)), the log gives \((streams[n] ?? []).prefix(20))")
                    }
                } catch let e as CorruptData {
                    report.report("chain: the stream of \"\(key)\" cannot be read: \(e)")
                }
                let fresh = folding[n] ?? ClientState()
                report.clients += 1
                guard let d = try txn.get(s.details, key: n) else {
                    report.report("details: client \"\(key)\" has no projection")
                    continue
                }
                let stored = try ClientState(detail: d)
                if stored != fresh {
                    report.report("projection of \"\(key)\" differs from a replay in: \(ClientState.differences(stored, fresh).joined(separator: ", "))")
                }
                let row = try RowChunks.row(n, table: s.rows, txn: txn)
                if row != fresh.encodeRow() { report.report("rows: the scan row of \"\(key)\" differs from a replay") }
                if fresh.forgotten && store.keys.key(n) != nil { report.report("keys: forgotten client \"\(key)\" still has a key (`patron rebuild` destroys it)") }
            }
            for table in [s.clientKeys, s.clientNames, s.details] where try txn.count(table) != replay.numbers.count {
                report.report("\(table.name): \(try txn.count(table)) entries for \(replay.numbers.count) clients in the log")
            }
            var rowCount = 0
            try RowChunks.forEach(table: s.rows, txn: txn) { _, _ in rowCount += 1 }
            if rowCount != replay.numbers.count { report.report("rows: \(rowCount) rows for \(replay.numbers.count) clients in the log") }
            return report
        }
    }

    /// Upgrades a database written in an older on-disk format whose log this build
    /// reads: recomputes its projections from the log (``rebuild()``) and marks it
    /// current, in one transaction. Returns the number of events replayed, or nil when
    /// the database is already current (then nothing is written).
    public static func upgrade(path: String, options: Options = Options()) throws -> Int? {
        let store = try Store(path: path, readOnly: false,
                              options: .init(timeZone: options.timeZone, initialMapSize: options.initialMapSize,
                                             durable: options.durable, upgrade: true))
        guard store.openedFormat != Schema.formatVersion else { return nil }
        return try Database(store: store).rebuild()
    }

    /// Recomputes every index and projection from the event log, in one transaction,
    /// and marks the file with this build's format version.
    /// Returns the number of events replayed.
    @discardableResult
    public func rebuild() throws -> Int {
        if store.readOnly { throw PatronError.readOnly("rebuild") }
        // The shared caches may hold mappings of the old indexes, or of this
        // transaction if it fails: drop them whatever happens.
        defer { store.dropCaches() }
        var erased: Set<UInt32> = []
        let replayed = try store.env.write { txn in
            let s = store.schema
            // An unfinished import is undone first (its events are not part of the log
            // to replay), unless its process is still at it.
            if let j = try ImportJournal.read(s.meta, txn: txn) {
                if store.isLive(j) { throw PatronError.busy(j.busyMessage) }
                erased.formUnion(try store.rollBack(j, txn: txn))
            }
            for t in s.derived { try txn.empty(t) }
            try txn.drop(named: Schema.formerStreams)
            var replay = LogReplay()
            var folding = ProjectionFolding(load: { _ in nil })
            var count = 0
            var nextString = try s.nextNumber(in: s.stringValues, txn: txn)
            var newStrings: [String: UInt32] = [:]
            var corrupt: String?
            // Stream links of consecutive positions from `linksFrom`, written out every
            // 65,536 events and before a gap in the log (a damage verify reports; the links
            // after it still go to their own positions). The log's cursor is unaffected:
            // the chain is another table.
            var links: [UInt64] = [], linksFrom: UInt64 = 1
            try txn.withCursor(s.log) { c in
                var entry = try c.first()
                while let (k, v) = entry {
                    let p: UInt64 = k.load(at: 0)
                    let d = try EventCodec.decode(v, position: p, verifyChecksum: true)
                    let (owner, into) = replay.assign(d) { corrupt = corrupt ?? "position \(p): \($0)" }
                    let id = d.event.id ?? ""
                    if !Schema.locatesItself(id, at: p) { try s.putID(id, position: p, txn: txn) }
                    if links.count == 1 << 16 || (!links.isEmpty && p != linksFrom + UInt64(links.count)) {
                        try StreamChain.write(first: linksFrom, links: links, table: s.chain, txn: txn)
                        links.removeAll(keepingCapacity: true)
                    }
                    if links.isEmpty { linksFrom = p }
                    links.append(try folding.streamHead(owner))
                    erased.formUnion(try folding.apply(d.event, position: p, day: store.zone.day(of: d.event.at), owner: owner, into: into,
                                      personal: store.personal(d, position: p), intern: { str in
                                          if let id = try newStrings[str] ?? store.stringID(str, txn: txn) { return id }
                                          let id = nextString
                                          nextString += 1
                                          newStrings[str] = id
                                          try s.putString(str, id: id, txn: txn)
                                          return id
                                      }))
                    count += 1
                    entry = try c.next()
                }
            }
            if let corrupt { throw CorruptData("rebuild stopped: \(corrupt)") }
            try StreamChain.write(first: linksFrom, links: links, table: s.chain, txn: txn)
            var rows: [(UInt32, [UInt8])] = []
            for (n, key) in replay.keys.sorted(by: { $0.key < $1.key }) {
                try s.putClient(key: key, number: n, txn: txn)
                let state = folding[n] ?? ClientState()
                rows.append((n, state.encodeRow()))
                try txn.put(s.details, key: n, value: state.encodeDetail())
            }
            try RowChunks.write(rows, table: s.rows, txn: txn)
            try store.bumpProjectionEpoch(txn: txn)
            try s.putFormatVersion(txn: txn)
            return count
        }
        // Every forgotten client's key goes, whatever became of it: a key left behind by
        // a crash between a forget's commit and its key's destruction is destroyed now.
        for n in erased.sorted() { try store.keys.destroy(n) }
        try store.keys.sync()
        return replayed
    }

    /// Writes a consistent, compacted copy to `destination` (and its key file to
    /// `destination-keys`) while the database stays in use.
    public func backup(to destination: String) throws {
        let fm = FileManager.default
        for p in [destination, destination + "-keys"] where fm.fileExists(atPath: p) {
            throw PatronError.io("\(p) already exists; choose a new backup path")
        }
        try store.env.copyCompacted(to: destination)
        try store.keys.copy(to: destination + "-keys")
        chmod(destination, 0o600)
    }
}

extension ClientState {
    /// Names of the fields that differ between two states (for verify's report).
    static func differences(_ a: ClientState, _ b: ClientState) -> [String] {
        let ma = Mirror(reflecting: a).children, mb = Array(Mirror(reflecting: b).children)
        var out: [String] = []
        for (i, child) in ma.enumerated() where String(describing: child.value) != String(describing: mb[i].value) {
            out.append("\(child.label ?? "?") (stored \(child.value), replay \(mb[i].value))")
        }
        return out
    }
}
