import Foundation
import LMDB
import Synchronization

/// A file that was not imported because some of its rows are invalid: the first
/// ``ImportOptions/reportLimit`` problems, each as `file:line:column: message`, and
/// how many there were in all.
public struct ImportFailure: Error, Sendable, CustomStringConvertible {
    /// The file as named on the command line.
    public var file: String
    /// The first problems, in file order.
    public var errors: [ImportError]
    /// Every invalid row, counted.
    public var total: Int

    public var description: String {
        var lines = errors.map(\.description)
        if total > errors.count { lines.append("… and \(total - errors.count) more invalid rows") }
        lines.append("\(file): \(total) invalid row\(total == 1 ? "" : "s"); nothing of this file was imported (--skip-invalid imports the valid rows)")
        return lines.joined(separator: "\n")
    }
}

/// An import with ``ImportOptions/skipInvalid`` stopped by an error (a truncated `.gz`,
/// an unreadable file, a full disk) after some of its batches were committed: those stay
/// stored, the rest of the file is not imported.
///
/// ```
/// sales.csv.gz: the gzip data is truncated (the file ends inside the compressed stream)
/// sales.csv.gz: stopped by the error above after storing the valid rows up to line 20001 (the last whole batch): 20000 events stored, 0 duplicates skipped; the rows after line 20001 were not imported (import the file again once it is whole: what is stored is skipped as duplicates)
/// ```
public struct ImportInterrupted: Error, Sendable, CustomStringConvertible {
    /// The file as named on the command line.
    public var file: String
    /// The error that stopped the import.
    public var cause: any Error
    /// What the committed batches stored (``ImportReport/appended``,
    /// ``ImportReport/duplicates``) and the rows read and rejected before the stop.
    public var report: ImportReport
    /// The line of the last row of the last committed batch: every valid row up to it
    /// is stored, none after it.
    public var lastStoredLine: Int
    /// Whether rows get content ids (a second import skips what is stored).
    public var dedupe: Bool

    public var description: String {
        let cause = String(describing: self.cause)
        var s = "\(file): stopped by the error above after storing the valid rows up to line \(lastStoredLine) (the last whole batch): "
            + "\(report.appended) event\(report.appended == 1 ? "" : "s") stored, \(report.duplicates) duplicate\(report.duplicates == 1 ? "" : "s") skipped"
        if report.rejected > 0, let rejectedFile = report.rejectedFile {
            s += ", \(report.rejected) invalid row\(report.rejected == 1 ? "" : "s") written to \(rejectedFile)"
        }
        s += "; the rows after line \(lastStoredLine) were not imported"
        s += dedupe ? " (import the file again once it is whole: what is stored is skipped as duplicates)"
            : " (with --no-dedupe, importing the file again stores these rows a second time)"
        return cause + "\n" + s
    }
}

/// Where an import stands, for a progress bar.
public struct ImportProgress: Sendable {
    /// Bytes of the file consumed (compressed bytes for `.gz`).
    public var bytes = 0
    /// The file's size, when known (not for stdin).
    public var totalBytes: Int?
    /// Rows read so far (in the storing pass).
    public var rows = 0
    /// Events stored so far.
    public var stored = 0
    /// Seconds since the file was opened.
    public var seconds = 0.0
}

extension Database {
    /// Imports one file of events, CSV or NDJSON, plain or gzipped, or stdin (`-`),
    /// in bounded memory.
    ///
    /// By default the file is all or nothing, read once (twice if a transaction runs
    /// out of map after all): a file with any invalid row
    /// imports nothing (``ImportFailure`` lists the problems), and neither does a
    /// process killed half-way. The file commits in write transactions of up to
    /// ``ImportOptions/segmentSize`` events, some ended earlier
    /// (``ImportOptions/minimumSegment``); more than one run under an import journal,
    /// undone as a whole if the import fails (or, if the process dies, by the next
    /// writer), so memory stays bounded; other writers get
    /// ``PatronError/busy(_:)`` meanwhile. With ``ImportOptions/skipInvalid`` the valid
    /// rows are stored and each invalid one is written, with its reason in a
    /// `rejected_reason` column, to `FILE.rejected` (re-importable once fixed). Events
    /// are appended in batches of ``ImportOptions/batchSize`` (one transaction each with
    /// `skipInvalid`) while the next batch is being read on another thread.
    ///
    /// `progress` is called between batches on the thread that appends them (the
    /// writer's, inside one of the file's transactions, by default), at most ten times a second:
    /// it should return at once (the command line's writes one line to the terminal,
    /// some 30 µs).
    @discardableResult
    public func importFile(_ path: String, options: ImportOptions = ImportOptions(),
                           progress: (@Sendable (ImportProgress) -> Void)? = nil) throws -> ImportReport {
        let started = Date()
        var source = path
        var spool: String?
        defer { if let spool { unlink(spool) } }
        let file = path == "-" ? "stdin" : path
        if path == "-" || !Self.isRegularFile(path) {
            // A pipe (stdin, `<(…)`, a FIFO) can be read only once; the import reads
            // its input more than once (format, map size, rows), so it reads a copy.
            let copy = try Self.spool(path, named: file)
            spool = copy
            source = copy
        }
        let (format, mapEstimate) = try Self.inspect(source, named: file, options: options)
        let reader = RowReader(file: file, format: format, converter: RowConverter(options: options, zone: timeZone))

        let rejectedPath = (path == "-" ? "stdin" : path) + ".rejected"
        let zone = timeZone
        let scheme = store.contentIDs
        let input = source
        let store = self.store
        // A large file's occurrence table goes next to the database (on its disk).
        let spillDirectory = (store.env.path as NSString).deletingLastPathComponent
        /// Whether an event with this id is committed (read on the reading thread, in a
        /// short transaction of its own).
        let isStored: @Sendable (String) throws -> Bool = { id in
            try store.env.read { txn in try txn.get(store.schema.ids, key: id) != nil }
        }
        func startFeed() -> ImportFeed {
            ImportFeed(file: file, rejectedPath: rejectedPath, started: started, progress: progress) { pipe in
                Self.produce(source: input, reader: reader, options: options, zone: zone, scheme: scheme, rejectedPath: rejectedPath,
                             spillDirectory: spillDirectory, isStored: isStored, pipe: pipe)
            }
        }
        var feed = startFeed()
        var report: ImportReport
        do {
            if options.skipInvalid {
                // Each batch commits on its own: a kill leaves whole batches. (In a session,
                // at most Writer.sessionHoldLimit client states are carried from one to the
                // next.)
                let current = feed
                try writer.session { session in
                    session.defersErasure = false
                    while var batch = try current.next() {
                        let r = try session.transaction { context in try Self.append(batch, in: context) }
                        current.giveBack(&batch.events)
                        current.stored(appended: r.appended, duplicates: r.duplicates, throughLine: batch.lastLine)
                    }
                }
            } else {
                if store.readOnly { throw PatronError.readOnly("import") }
                var keepBatches = false
                while true {
                    let current = feed, keep = keepBatches
                    do {
                        try writer.session { session in
                            try Self.appendJournaled(current, session: session, file: file, options: options, fileRoom: mapEstimate,
                                                     keepBatches: keep)
                        }
                        break
                    } catch is SegmentRunAgain where !keepBatches {
                        // A transaction ran out of map after all, and its batches were not kept
                        // to run it again: the import is undone; read the file once more,
                        // keeping each transaction's batches this time.
                        current.cancel()
                        keepBatches = true
                        #if DEBUG
                        store.importReadAgain.withLock { $0 += 1 }
                        #endif
                        feed = startFeed()
                    }
                }
            }
            report = try feed.finish()
        } catch {
            feed.cancel()
            if let interrupted = feed.interrupted(by: error, dedupe: options.dedupe) { throw interrupted }
            throw error
        }
        report.seconds = -started.timeIntervalSinceNow
        return report
    }

    /// Appends a whole file all-or-nothing, in transactions of up to about
    /// ``ImportOptions/segmentSize`` events, ended earlier (``endsEarly(events:unordered:target:)``)
    /// when their ids come in no order or the process's resident memory reaches
    /// ``ImportOptions/memoryTarget``, so that memory stays bounded: a
    /// file that fits in one is one transaction; a longer one runs under an
    /// ``ImportJournal`` begun in its first transaction and ended in its last, and is
    /// undone (``WriterSession/rollBack()``) if anything fails half-way — or, if the
    /// process dies, by the next writer.
    ///
    /// Before each transaction the map is grown to hold it (``Store/reserve(_:)``), so
    /// that it does not run out half-way: a transaction that did would have to run
    /// again, from batches that are kept only with `keepBatches` (they would be much of
    /// a large transaction's memory). Without them such a transaction throws
    /// ``SegmentRunAgain`` after the import is undone.
    ///
    /// `fileRoom` is the room the whole file's events may take, when known.
    private static func appendJournaled(_ feed: ImportFeed, session: WriterSession, file: String, options: ImportOptions,
                                        fileRoom: Int?, keepBatches: Bool) throws {
        let segment = max(1, options.segmentSize)
        let floor = min(segment, max(1, options.minimumSegment))
        // Room for what one transaction adds: more than its events take, at most the file's.
        // (At most 1 TiB: a segment size meant as "one transaction" must not overflow.)
        let added = min(min(segment, Self.maxRoom / Self.roomPerEvent) * Self.roomPerEvent, fileRoom ?? Self.maxRoom)
        var segmentNumber = 0
        var first = true, ended = false
        do {
            while !ended {
                // Room to rewrite every page in use once, and for the events it adds.
                let store = session.store
                if Self.reservesMap(store) { try store.reserve(store.usedSize + added) }
                segmentNumber += 1
                // This transaction's batches, when kept, so that a run again (the map grew) replays them.
                var batches: [ImportFeed.Batch] = []
                var appended = 0, duplicates = 0, runs = 0, unordered = 0
                try session.transaction { context in
                    runs += 1
                    if runs > 1 && !keepBatches { throw SegmentRunAgain() }
                    appended = 0
                    duplicates = 0
                    unordered = 0
                    var events = 0
                    func apply(_ b: ImportFeed.Batch) throws {
                        let r = try Self.append(b, in: context)
                        appended += r.appended
                        duplicates += r.duplicates
                        events += b.events.count
                        unordered += b.unordered
                    }
                    for b in batches { try apply(b) }
                    while events < segment {
                        guard var b = try feed.next() else {
                            ended = true
                            break
                        }
                        if keepBatches { batches.append(b) }
                        try apply(b)
                        if !keepBatches { feed.giveBack(&b.events) }
                        if events >= floor && Self.endsEarly(events: events, unordered: unordered, target: options.memoryTarget) { break }
                    }
                    #if DEBUG
                    if runs == 1, store.importMapFullInSegment.withLock({ $0 == segmentNumber }) {
                        throw LMDBError(code: LMDBError.mapFull, operation: "a map made full by a test")
                    }
                    #endif
                    if first && !ended {
                        try context.beginJournal(file: file)
                    } else if ended && !first {
                        try context.endJournal()
                    }
                }
                feed.stored(appended: appended, duplicates: duplicates, throughLine: nil)
                first = false
            }
        } catch {
            do { try session.rollBack() } catch let failure {
                throw ImportUndoFailed(file: file, cause: error, undo: failure)
            }
            throw error
        }
    }

    /// Whether a transaction of an import that holds its minimum of events ends now:
    /// when more than a tenth of its ids are lower than ids a few hundred rows earlier
    /// in the file (ids in no order, content-derived ones say: each such event lands
    /// in the middle of the id index and rewrites a page of it, held in memory until
    /// the commit), or once the process's resident memory reached `target`.
    static func endsEarly(events: Int, unordered: Int, target: Int?) -> Bool {
        if unordered * 10 > events { return true }
        guard let target, let resident = ResidentMemory.bytes() else { return false }
        return resident >= target
    }

    /// Map room set aside per event of an import's transaction, on top of room to
    /// rewrite every page in use: far more than an event takes (about 170 bytes, with
    /// its index entries), since the room is only address space until used.
    static let roomPerEvent = 2_048
    /// The most map room set aside for one transaction's additions (1 TiB).
    static let maxRoom = 1 << 40

    /// Whether imports grow the map ahead of their transactions (always, but in tests
    /// that make a transaction run out of map).
    private static func reservesMap(_ store: Store) -> Bool {
        #if DEBUG
        !store.importSkipsMapReserve.withLock { $0 }
        #else
        true
        #endif
    }

    /// Appends one batch of an import, letting go of the pages it read through the map
    /// (ids, states), which need not stay in this process's resident memory, every
    /// 2,000 events (duplicates too) or state writes, and at the end.
    private static func append(_ batch: ImportFeed.Batch, in context: AppendContext) throws -> AppendResult {
        context.releaseMapEvery = 2_000
        let r = try context.apply(AppendRequest(events: batch.events, expectedVersions: [:]))
        context.txn.releaseMappedPages()
        return r
    }

    /// The producer side: reads rows, gives content ids, sends batches; writes rejected rows.
    private static func produce(source: String, reader: RowReader, options: ImportOptions, zone: Zone, scheme: ContentIDScheme,
                                rejectedPath: String, spillDirectory: String, isStored: (String) throws -> Bool, pipe: ImportPipe) {
        var rows = 0, rejected = 0
        var rejects: RejectedWriter?
        do {
            let input = try ImportInput.open(source)
            let occurrences = OccurrenceCounter(spillDirectory: spillDirectory.isEmpty ? "." : spillDirectory)
            var batch: [Event] = []
            batch.reserveCapacity(min(options.batchSize, 1_000_000))
            // Ids in no order: lower than the highest id of all before the last 256 or so
            // (ids in order but jittered, such as time-ordered ones of events at the
            // same moment, do not count).
            var maxID: String?, edge: String?
            var sinceEdge = 0, unordered = 0
            var lastLine = 0
            var errors: [ImportError] = []
            var fixedDuplicates: [ImportError] = [], fixedDuplicateCount = 0
            if options.skipInvalid { unlink(rejectedPath) }
            var header: [UInt8] = []
            try reader.forEach(input, header: { header = $0 }) { outcome, line in
                rows += 1
                switch outcome {
                case .event(var event, let fixed):
                    if event.id == nil && options.dedupe {
                        let content = event.contentText()
                        let id = ContentID.make(content, occurrence: occurrences.next(content), at: event.at, scheme: scheme)
                        event.id = id
                        // A fixed rejected row can only count its occurrences in this file, not
                        // in the one it was rejected from: equal to a stored event it may be that
                        // event (an overlapping export) or a twin of it in its own file (two
                        // identical purchases). Skipped as the first, but never silently.
                        if fixed, try isStored(id) {
                            fixedDuplicateCount += 1
                            if fixedDuplicates.count < options.reportLimit {
                                fixedDuplicates.append(ImportError(
                                    file: reader.file, line: line, column: nil,
                                    message: "the same event is already stored (id \(id)), so this row is skipped as a duplicate; "
                                        + "if it is another event (say a second identical purchase), give the row an id of its own "
                                        + "and import it again"))
                            }
                        }
                    }
                    // After a problem (default mode) nothing more is sent: the transaction will be dropped.
                    guard errors.isEmpty else { break }
                    if let id = event.id {
                        // (An id above the highest so far is above the edge too.)
                        if maxID.map({ id > $0 }) ?? true {
                            maxID = id
                        } else if let edge, id < edge {
                            unordered += 1
                        }
                        sinceEdge += 1
                        if sinceEdge == 256 {
                            edge = maxID
                            sinceEdge = 0
                        }
                    }
                    batch.append(event)
                    lastLine = line
                    if batch.count >= options.batchSize {
                        pipe.dropSpent()
                        guard pipe.send(.batch(batch, unordered: unordered, rows: rows, lastLine: lastLine,
                                               bytes: input.bytesRead, total: input.totalBytes)) else {
                            throw CancellationError()
                        }
                        batch.removeAll(keepingCapacity: true)
                        unordered = 0
                    }
                case .invalid(let error, let raw):
                    rejected += 1
                    if options.skipInvalid {
                        if rejects == nil {
                            rejects = try RejectedWriter(path: rejectedPath, format: reader.format, header: header)
                        }
                        try rejects?.write(raw: raw, reason: error.description)
                    } else {
                        // The file will not be stored: only read on, to report every problem.
                        if errors.count < options.reportLimit { errors.append(error) }
                        batch.removeAll()
                        unordered = 0
                    }
                }
            }
            let wrote = rejects != nil
            try rejects?.close()
            rejects = nil
            if !errors.isEmpty {
                _ = pipe.send(.failed(ImportFailure(file: reader.file, errors: errors, total: rejected)))
            } else {
                _ = pipe.send(.batch(batch, unordered: unordered, rows: rows, lastLine: lastLine, bytes: input.bytesRead,
                                     total: input.totalBytes))
                _ = pipe.send(.done(rows: rows, rejected: rejected, wroteRejected: wrote,
                                    fixedDuplicates: fixedDuplicates, fixedDuplicateCount: fixedDuplicateCount))
            }
        } catch is CancellationError {
        } catch {
            _ = pipe.send(.failed(error))
        }
        // Stopped early: the rejected rows read so far are kept (the message counts them).
        if var open = rejects { try? open.close() }
        pipe.dropSpent()
        pipe.finish(ImportPipe.Tally(rows: rows, rejected: rejected, wroteRejected: options.skipInvalid && rejected > 0))
    }

    /// Looks at the input once: refuses an empty or binary one, and gives its format
    /// (`--format`, else the file name, else the first non-blank byte) and the database
    /// room its events will take (about four bytes per input byte), when its size is known.
    private static func inspect(_ source: String, named file: String, options: ImportOptions) throws
        -> (format: ImportFormat, mapEstimate: Int?) {
        let input = try ImportInput.open(source)
        let estimate = input.totalBytes.map { $0 * (input.isCompressed ? 24 : 4) }
        let head = try input.peek(4096)
        // Empty only if the whole input (not just its first 4 KiB) is blank.
        if head.count < 4096, head.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }) {
            throw ImportError(file: file, line: nil, column: nil, message: "the input file is empty")
        }
        if head.withUnsafeBytes({ ImportInput.looksBinary($0) }) {
            throw ImportError(file: file, line: nil, column: nil,
                              message: "this is not a CSV or NDJSON file (it holds binary data)")
        }
        if let f = options.format ?? ImportFormat.from(fileName: file) { return (f, estimate) }
        let first = head.first { !($0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 || $0 == 0xef || $0 == 0xbb || $0 == 0xbf) }
        return (first == UInt8(ascii: "{") ? .ndjson : .csv, estimate)
    }

    /// True for a path naming a regular file (not a pipe, FIFO or device).
    private static func isRegularFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    /// Copies an input that can be read only once (decompressing gzip) to a private
    /// temporary file, removed again on any error.
    private static func spool(_ path: String, named file: String) throws -> String {
        let copy = NSTemporaryDirectory() + "patron-input-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(copy, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            throw ImportError(file: file, line: nil, column: nil, message: "cannot make a temporary copy at \(copy): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        do {
            let input = try ImportInput.open(path)
            var buffer = [UInt8](repeating: 0, count: 1 << 18)
            while true {
                let n = try buffer.withUnsafeMutableBytes { try input.read(into: $0) }
                if n == 0 { break }
                var off = 0
                while off < n {
                    let w = buffer.withUnsafeBytes { write(fd, $0.baseAddress?.advanced(by: off), n - off) }
                    guard w > 0 else {
                        throw ImportError(file: file, line: nil, column: nil, message: "cannot write the temporary copy: \(String(cString: strerror(errno)))")
                    }
                    off += w
                }
            }
        } catch {
            unlink(copy)
            throw error
        }
        return copy
    }
}

/// The appending side of an import: starts the reading thread and hands out its
/// batches one by one (``next()``), keeping the report — rows read, events stored
/// once their transaction committed — and calling the progress hook.
///
/// Used by one thread at a time (the importing caller, or the writer's thread during
/// an import's session, which the caller waits for); its state sits behind a lock
/// all the same.
final class ImportFeed: Sendable {
    /// One batch of events, how many of their ids are lower than ids a few hundred rows
    /// earlier in the file, and the line of its last row.
    struct Batch: Sendable {
        var events: [Event]
        var unordered: Int
        var lastLine: Int
    }

    private struct State {
        var report = ImportReport()
        var lastStoredLine: Int?
        var lastTick = Date()
        var finished = false
    }

    private let pipe = ImportPipe()
    private let state = Mutex(State())
    private let file: String
    private let rejectedPath: String
    private let started: Date
    private let progress: (@Sendable (ImportProgress) -> Void)?

    /// Starts `produce` on a reading thread of its own.
    init(file: String, rejectedPath: String, started: Date, progress: (@Sendable (ImportProgress) -> Void)?,
         produce: @escaping @Sendable (ImportPipe) -> Void) {
        self.file = file
        self.rejectedPath = rejectedPath
        self.started = started
        self.progress = progress
        let pipe = self.pipe
        let producer = Thread { produce(pipe) }
        producer.stackSize = 8 << 20
        producer.start()
    }

    /// Hands a batch's events back to the producer's thread to be freed there
    /// (``ImportPipe/giveBack(_:)``), leaving `events` empty: moved, so that the
    /// caller's copy is not the last one, freed on its thread after all.
    func giveBack(_ events: inout [Event]) {
        var moved: [Event] = []
        swap(&moved, &events)
        pipe.giveBack(moved)
    }

    /// The next batch, or nil once the file is read to its end; throws the reading
    /// side's error (``ImportFailure`` for invalid rows in the default mode).
    func next() throws -> Batch? {
        while let item = pipe.receive() {
            switch item {
            case .batch(let events, let unordered, let rows, let lastLine, let bytes, let total):
                let tick = state.withLock { s -> ImportProgress? in
                    s.report.read = rows
                    guard progress != nil, -s.lastTick.timeIntervalSinceNow > 0.1 else { return nil }
                    s.lastTick = Date()
                    return ImportProgress(bytes: bytes, totalBytes: total, rows: rows, stored: s.report.appended,
                                          seconds: -started.timeIntervalSinceNow)
                }
                if let tick { progress?(tick) }
                if !events.isEmpty { return Batch(events: events, unordered: unordered, lastLine: lastLine) }
            case .done(let rows, let rejected, let wroteRejected, let fixedDuplicates, let fixedDuplicateCount):
                state.withLock { s in
                    s.report.read = rows
                    s.report.rejected = rejected
                    s.report.rejectedFile = wroteRejected ? rejectedPath : nil
                    s.report.fixedDuplicates = fixedDuplicates
                    s.report.fixedDuplicateCount = fixedDuplicateCount
                    s.finished = true
                }
                if rows == 0 { throw ImportError(file: file, line: nil, column: nil, message: "the input has no rows") }
            case .failed(let error):
                throw error
            }
        }
        return nil
    }

    /// Counts what a committed transaction stored; `throughLine` is the line of its
    /// last row when each batch commits on its own (then a later error says so).
    func stored(appended: Int, duplicates: Int, throughLine: Int?) {
        state.withLock { s in
            s.report.appended += appended
            s.report.duplicates += duplicates
            if let throughLine { s.lastStoredLine = throughLine }
        }
    }

    /// The report of a file read to its end.
    func finish() throws -> ImportReport {
        try state.withLock { s in
            guard s.finished else { throw PatronError.io("\(file): the import ended before the whole file was read") }
            return s.report
        }
    }

    /// Stops the reading side and waits for it to let go.
    func cancel() {
        pipe.cancel()
        while pipe.receive() != nil {}
    }

    /// For an import that stopped after some batches committed on their own: the
    /// error that says what is stored. Nil when nothing was (the error stands alone).
    func interrupted(by error: any Error, dedupe: Bool) -> ImportInterrupted? {
        state.withLock { s in
            guard let line = s.lastStoredLine else { return nil }
            let tally = pipe.tally
            var report = s.report
            report.read = tally.rows
            report.rejected = tally.rejected
            report.rejectedFile = tally.wroteRejected ? rejectedPath : nil
            report.seconds = -started.timeIntervalSinceNow
            return ImportInterrupted(file: file, cause: error, report: report, lastStoredLine: line, dedupe: dedupe)
        }
    }
}

/// An import that failed half-way and could not be undone at once (say the disk is
/// full): its journal stays, and the next write to the database (from this process or
/// another) or its next read-write opening undoes it.
public struct ImportUndoFailed: Error, Sendable, CustomStringConvertible {
    /// The file as named on the command line.
    public var file: String
    /// What stopped the import.
    public var cause: any Error
    /// What stopped the undoing.
    public var undo: any Error

    public var description: String {
        "\(cause)\n\(file): the import stopped, and undoing what it had stored failed too (\(undo)); "
            + "the database will be put back as it was before this file by its next write (from this process or another) or read-write opening"
    }
}

/// A transaction of an all-or-nothing import ran out of map and would have to run
/// again from batches that were not kept (see ``Database/importFile(_:options:progress:)``).
struct SegmentRunAgain: Error, CustomStringConvertible {
    var description: String {
        "a transaction of the import ran out of map space and could not be run again from its rows"
    }
}

/// Batches travelling from the reading thread to the appending one; at most two wait.
final class ImportPipe: Sendable {
    enum Item: Sendable {
        /// Events to append, how many of their ids are lower than ids a few hundred rows
        /// earlier (``Database/endsEarly(events:unordered:target:)``); the rows read so
        /// far and the line of the last event's row.
        case batch([Event], unordered: Int, rows: Int, lastLine: Int, bytes: Int, total: Int?)
        case done(rows: Int, rejected: Int, wroteRejected: Bool, fixedDuplicates: [ImportError], fixedDuplicateCount: Int)
        case failed(any Error)
    }

    /// What the producer had read when it finished, however it finished.
    struct Tally: Sendable {
        var rows = 0
        var rejected = 0
        var wroteRejected = false
    }

    private struct State {
        var items: [Item] = []
        var finished = false
        var cancelled = false
        var tally = Tally()
    }

    private let state = Mutex(State())
    private let filled = DispatchSemaphore(value: 0)
    /// Room for two items; freed with permits taken when the receiver cancels while
    /// the pipe is full (hence ``DispatchSemaphore/permits(_:)``).
    private let space = DispatchSemaphore.permits(2)

    /// Sends an item, waiting while two are queued; false once the receiver gave up.
    func send(_ item: Item) -> Bool {
        space.wait()
        let accepted = state.withLock { s -> Bool in
            guard !s.cancelled else { return false }
            s.items.append(item)
            return true
        }
        filled.signal()
        return accepted
    }

    /// Events the receiver is done with, handed back so that the producer's thread,
    /// which made them, frees them (``dropSpent()``): freed on the writer's thread they
    /// took its time, and each string and list went back to another thread's arena.
    private let spent = Mutex<[[Event]]>([])

    /// Hands back a batch's events once they are appended (receiver).
    func giveBack(_ events: [Event]) {
        spent.withLock { $0.append(events) }
    }

    /// Lets go of the events handed back (producer): freed here when nothing else
    /// holds them any more (else by whichever thread lets go of them last).
    func dropSpent() {
        let done = spent.withLock { s -> [[Event]] in
            defer { s = [] }
            return s
        }
        _ = done
    }

    /// No more items will come; `tally` says what the producer read.
    func finish(_ tally: Tally) {
        state.withLock {
            $0.finished = true
            $0.tally = tally
        }
        filled.signal()
    }

    /// The producer's tally, once ``receive()`` has returned nil.
    var tally: Tally { state.withLock { $0.tally } }

    /// The next item, or nil when the producer finished.
    func receive() -> Item? {
        while true {
            filled.wait()
            let next = state.withLock { s -> (Item?, Bool) in
                if !s.items.isEmpty { return (s.items.removeFirst(), false) }
                return (nil, s.finished)
            }
            if let item = next.0 {
                space.signal()
                return item
            }
            if next.1 { filled.signal(); return nil }
        }
    }

    /// The receiver stops: pending and later sends are dropped.
    func cancel() {
        state.withLock {
            $0.cancelled = true
            $0.items.removeAll()
        }
        space.signal()
        space.signal()
    }
}

/// Writes `FILE.rejected`: the rejected rows as they were, each with its reason in a
/// `rejected_reason` column (CSV) or key (NDJSON), so the fixed file imports as it is.
struct RejectedWriter {
    private let handle: FileHandle
    private let format: ImportFormat
    private var buffer: [UInt8] = []

    init(path: String, format: ImportFormat, header: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else {
            throw ImportError(file: path, line: nil, column: nil, message: "cannot write the rejected rows: \(String(cString: strerror(errno)))")
        }
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        self.format = format
        if format == .csv {
            buffer += header
            if !header.isEmpty { buffer += Array(",\(RowConverter.reasonColumn)\n".utf8) }
        }
    }

    mutating func write(raw: [UInt8], reason: String) throws {
        switch format {
        case .csv:
            buffer += raw
            buffer += Array(",\"".utf8)
            buffer += Array(reason.replacingOccurrences(of: "\"", with: "\"\"").utf8)
            buffer += Array("\"\n".utf8)
        case .ndjson:
            let key = Array("{\"\(RowConverter.reasonColumn)\":".utf8) + Array(JSONValue.string(reason).text.utf8)
            let trimmed = raw.drop { $0 == 0x20 || $0 == 0x09 }
            if trimmed.first == UInt8(ascii: "{") {
                let rest = trimmed.dropFirst()
                let empty = rest.first { $0 != 0x20 && $0 != 0x09 } == UInt8(ascii: "}")
                buffer += key + (empty ? [] : Array(",".utf8)) + rest
            } else {
                buffer += key + Array(",\"rejected_line\":".utf8) + Array(JSONValue.string(String(decoding: raw, as: UTF8.self)).text.utf8) + [UInt8(ascii: "}")]
            }
            buffer.append(0x0a)
        }
        if buffer.count > 1 << 16 { try flush() }
    }

    mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    mutating func close() throws {
        try flush()
        try handle.close()
    }
}
