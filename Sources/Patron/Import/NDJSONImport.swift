import Foundation

/// A bad input file: names the file, the line and (where known) the column.
///
/// ```
/// visits.ndjson:12:31: score "7": must be an integer from 1 to 5
/// ```
public struct ImportError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var column: Int?
    public var message: String

    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        if let column { s += ":\(column)" }
        return s + ": " + message
    }
}

/// What an import did.
public struct ImportReport: Sendable, Equatable {
    /// Events read from the input.
    public var read = 0
    /// Events stored.
    public var appended = 0
    /// Events skipped because their id was already stored.
    public var duplicates = 0
}

/// Reads NDJSON event files: one JSON object per line (SPEC 1.4).
///
/// A file is checked whole before anything of it is stored: one bad line and none
/// of the file is imported. Blank lines are skipped.
public struct NDJSONReader: Sendable {
    /// The database time zone (for times without an offset).
    public var zone: Zone
    /// Derive an id from each event's content when it has none, so re-importing an
    /// overlapping export stores each fact once.
    public var dedupe: Bool

    /// A reader; see each property.
    public init(zone: Zone, dedupe: Bool = true) {
        self.zone = zone
        self.dedupe = dedupe
    }

    /// Calls `body` with each event of the file, in order, and its line number.
    public func forEach(file: String, _ body: (Event, Int) throws -> Void) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: file), options: .alwaysMapped) } catch {
            throw ImportError(file: file, line: nil, column: nil, message: "cannot read the file: \(error.localizedDescription)")
        }
        try data.withUnsafeBytes { (all: UnsafeRawBufferPointer) in
            if all.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }) {
                throw ImportError(file: file, line: nil, column: nil, message: "the input file is empty")
            }
            var occurrences: [String: Int] = [:]
            var start = 0, lineNumber = 0
            while start < all.count {
                lineNumber += 1
                var end = start
                while end < all.count, all[end] != 0x0a { end += 1 }
                var lineEnd = end
                if lineEnd > start, all[lineEnd - 1] == 0x0d { lineEnd -= 1 }
                let line = UnsafeRawBufferPointer(rebasing: all[start..<lineEnd])
                start = end + 1
                if line.count > Limits.line {
                    throw ImportError(file: file, line: lineNumber, column: nil,
                                      message: "the line is \(line.count) bytes, over the limit of \(Limits.line) (1 MiB)")
                }
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                var event = try parse(line, file: file, line: lineNumber)
                if event.id == nil && dedupe {
                    let content = event.jsonLine(zone: .utc)
                    let n = occurrences[content, default: 0] + 1
                    occurrences[content] = n
                    event.id = Self.contentID(content, occurrence: n)
                }
                try body(event, lineNumber)
            }
        }
    }

    private func parse(_ line: UnsafeRawBufferPointer, file: String, line number: Int) throws -> Event {
        let json: JSONValue
        do { json = try JSONReader.parse(line) } catch {
            throw ImportError(file: file, line: number, column: error.offset + 1, message: "malformed JSON: \(error.message)")
        }
        do { return try Event(json: json, zone: zone) } catch {
            throw ImportError(file: file, line: number, column: Self.column(of: error.field, in: line), message: error.description)
        }
    }

    /// The 1-based column of `"field"` (the field's name) in the line, if it is there.
    static func column(of field: String, in line: UnsafeRawBufferPointer) -> Int? {
        let name = field.split(separator: "[").first.map(String.init) ?? field
        let needle = Array("\"\(name)\"".utf8)
        guard needle.count <= line.count else { return nil }
        for i in 0...(line.count - needle.count) where line[i] == needle[0] {
            if (0..<needle.count).allSatisfy({ line[i + $0] == needle[$0] }) { return i + 1 }
        }
        return nil
    }

    /// A stable id from an event's normalised content and its occurrence number in
    /// the file (so two identical rows stay two facts): `h-` and 26 base32 digits.
    static func contentID(_ content: String, occurrence: Int) -> String {
        var bytes = Array(content.utf8)
        bytes.append(0)
        bytes.append(contentsOf: Array(String(occurrence).utf8))
        let (a, b) = bytes.withUnsafeBytes {
            (SipHash.hash($0, k0: 0x5041_5452_4f4e_0001, k1: 0x6576_656e_7469_6431),
             SipHash.hash($0, k0: 0x5041_5452_4f4e_0002, k1: 0x6576_656e_7469_6432))
        }
        let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)
        var out = Array("h-".utf8)
        var hi = a, lo = b
        for _ in 0..<26 {
            out.append(alphabet[Int(lo & 31)])
            lo = (lo >> 5) | ((hi & 31) << 59)
            hi >>= 5
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Database {
    /// Imports NDJSON files: each file is checked whole first (a bad line imports
    /// nothing of that file, and the error names file, line and column), then
    /// appended in batches of `batchSize`. Re-importing is idempotent.
    ///
    /// - Parameter progress: called after each batch with (events done, events in the file).
    @discardableResult
    public func importNDJSON(file: String, dedupe: Bool = true, batchSize: Int = 10_000,
                             progress: ((Int, Int) -> Void)? = nil) throws -> ImportReport {
        let reader = NDJSONReader(zone: timeZone, dedupe: dedupe)
        var total = 0
        try reader.forEach(file: file) { _, _ in total += 1 }
        var report = ImportReport()
        var batch: [Event] = []
        batch.reserveCapacity(batchSize)
        func flush() throws {
            guard !batch.isEmpty else { return }
            let r = try appendAndWait(batch)
            report.appended += r.appended
            report.duplicates += r.duplicates
            batch.removeAll(keepingCapacity: true)
            progress?(report.read, total)
        }
        try reader.forEach(file: file) { event, _ in
            batch.append(event)
            report.read += 1
            if batch.count >= batchSize { try flush() }
        }
        try flush()
        return report
    }

    /// Writes events as NDJSON lines (re-importable), in log order, to `output`.
    /// Forgotten clients' events carry no personal data. Returns the number written.
    @discardableResult
    public func exportNDJSON(to output: (String) throws -> Void, client: String? = nil,
                             types: Set<EventType>? = nil) throws -> Int {
        var count = 0
        let zone = timeZone
        func write(_ e: RecordedEvent) throws {
            guard types?.contains(e.event.type) ?? true else { return }
            try output(e.event.jsonLine(zone: zone))
            count += 1
        }
        if let client {
            for e in try stream(client) { try write(e) }
        } else {
            try forEachEvent { e in
                try write(e)
                return true
            }
        }
        return count
    }
}
