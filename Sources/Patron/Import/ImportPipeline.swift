import Foundation
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
    /// By default the whole file is one write transaction, read once: a file with any
    /// invalid row imports nothing (the transaction is dropped; ``ImportFailure`` lists
    /// the problems), and neither does a process killed half-way. With
    /// ``ImportOptions/skipInvalid`` the valid rows are stored and each invalid one is
    /// written, with its reason in a `rejected_reason` column, to `FILE.rejected`
    /// (re-importable once fixed). Events are appended in batches of
    /// ``ImportOptions/batchSize``, one transaction each, while the next batch is
    /// being read on another thread.
    ///
    /// `progress` is called between batches on the thread that appends them (the
    /// writer's, inside the file's transaction, by default), at most ten times a second:
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
        let input = source
        let store = self.store
        /// Whether an event with this id is committed (read on the reading thread, in a
        /// short transaction of its own).
        let isStored: @Sendable (String) throws -> Bool = { id in
            try store.env.read { txn in try txn.get(store.schema.ids, key: id) != nil }
        }
        /// One reading of the file, appending each batch through `append`; `commits`
        /// when each batch is a transaction of its own (then an error after the first
        /// says what is stored: ``ImportInterrupted``).
        @Sendable func consume(commits: Bool, _ append: ([Event]) throws -> (appended: Int, duplicates: Int)) throws -> ImportReport {
            var report = ImportReport()
            var lastStoredLine: Int?
            let pipe = ImportPipe()
            let producer = Thread {
                Self.produce(source: input, reader: reader, options: options, zone: zone, rejectedPath: rejectedPath,
                             isStored: isStored, pipe: pipe)
            }
            producer.stackSize = 8 << 20
            producer.start()
            var lastTick = Date()
            do {
                while let item = pipe.receive() {
                    switch item {
                    case .batch(let events, let rows, let lastLine, let bytes, let total):
                        if !events.isEmpty {
                            let r = try append(events)
                            report.appended += r.appended
                            report.duplicates += r.duplicates
                            if commits { lastStoredLine = lastLine }
                        }
                        report.read = rows
                        if let progress, -lastTick.timeIntervalSinceNow > 0.1 {
                            lastTick = Date()
                            progress(ImportProgress(bytes: bytes, totalBytes: total, rows: rows, stored: report.appended,
                                                    seconds: -started.timeIntervalSinceNow))
                        }
                    case .done(let rows, let rejected, let wroteRejected, let fixedDuplicates, let fixedDuplicateCount):
                        report.read = rows
                        report.rejected = rejected
                        report.rejectedFile = wroteRejected ? rejectedPath : nil
                        report.fixedDuplicates = fixedDuplicates
                        report.fixedDuplicateCount = fixedDuplicateCount
                        if rows == 0 { throw ImportError(file: file, line: nil, column: nil, message: "the input has no rows") }
                    case .failed(let error):
                        throw error
                    }
                }
            } catch {
                pipe.cancel()
                while pipe.receive() != nil {}
                // Batches were committed: they stay, and the message must say so.
                if let lastStoredLine {
                    let tally = pipe.tally
                    report.read = tally.rows
                    report.rejected = tally.rejected
                    report.rejectedFile = tally.wroteRejected ? rejectedPath : nil
                    report.seconds = -started.timeIntervalSinceNow
                    throw ImportInterrupted(file: file, cause: error, report: report, lastStoredLine: lastStoredLine,
                                            dedupe: options.dedupe)
                }
                throw error
            }
            return report
        }

        var report: ImportReport
        if options.skipInvalid {
            // Each batch commits on its own: a kill leaves whole batches.
            report = try consume(commits: true) { events in
                let r = try appendAndWait(events)
                return (r.appended, r.duplicates)
            }
        } else {
            // The whole file in one transaction: all of it commits or none, even if the
            // process is killed half-way. Client states are written out every
            // `flushEvery` events so memory stays bounded.
            if store.readOnly { throw PatronError.readOnly("import") }
            // Grown ahead, so the map need not grow (and the file be read again) half-way.
            if let mapEstimate { try store.env.reserve(mapEstimate) }
            report = try writer.exclusive { context in
                var pending = 0
                return try consume(commits: false) { events in
                    let r = try context.apply(AppendRequest(events: events, expectedVersions: [:]))
                    pending += events.count
                    if pending >= options.flushEvery {
                        try context.flush()
                        pending = 0
                    }
                    return (r.appended, r.duplicates)
                }
            }
        }
        report.seconds = -started.timeIntervalSinceNow
        return report
    }

    /// The producer side: reads rows, gives content ids, sends batches; writes rejected rows.
    private static func produce(source: String, reader: RowReader, options: ImportOptions, zone: Zone,
                                rejectedPath: String, isStored: (String) throws -> Bool, pipe: ImportPipe) {
        var rows = 0, rejected = 0
        var rejects: RejectedWriter?
        do {
            let input = try ImportInput.open(source)
            var occurrences = OccurrenceCounter()
            var batch: [Event] = []
            batch.reserveCapacity(min(options.batchSize, 1_000_000))
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
                        let id = ContentID.make(content, occurrence: occurrences.next(content))
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
                    batch.append(event)
                    lastLine = line
                    if batch.count >= options.batchSize {
                        guard pipe.send(.batch(batch, rows: rows, lastLine: lastLine, bytes: input.bytesRead, total: input.totalBytes)) else {
                            throw CancellationError()
                        }
                        batch.removeAll(keepingCapacity: true)
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
                    }
                }
            }
            let wrote = rejects != nil
            try rejects?.close()
            rejects = nil
            if !errors.isEmpty {
                _ = pipe.send(.failed(ImportFailure(file: reader.file, errors: errors, total: rejected)))
            } else {
                _ = pipe.send(.batch(batch, rows: rows, lastLine: lastLine, bytes: input.bytesRead, total: input.totalBytes))
                _ = pipe.send(.done(rows: rows, rejected: rejected, wroteRejected: wrote,
                                    fixedDuplicates: fixedDuplicates, fixedDuplicateCount: fixedDuplicateCount))
            }
        } catch is CancellationError {
        } catch {
            _ = pipe.send(.failed(error))
        }
        // Stopped early: the rejected rows read so far are kept (the message counts them).
        if var open = rejects { try? open.close() }
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

/// Batches travelling from the reading thread to the appending one; at most two wait.
final class ImportPipe: Sendable {
    enum Item: Sendable {
        /// Events to append; the rows read so far and the line of the last event's row.
        case batch([Event], rows: Int, lastLine: Int, bytes: Int, total: Int?)
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
    private let space = DispatchSemaphore(value: 2)

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
