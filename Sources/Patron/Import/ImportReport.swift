import Foundation

/// A bad input file: names the file, the line and (where known) the column.
///
/// ```
/// visits.ndjson:12:31: score "7": must be an integer from 1 to 5
/// ```
public struct ImportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file as named on the command line (`stdin` for `-`).
    public var file: String
    /// The 1-based line, when the problem is in one row.
    public var line: Int?
    /// The 1-based column (byte offset in the line + 1), when known.
    public var column: Int?
    /// What is wrong, lower-case, without the position.
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
    /// Invalid rows left out (only with `--skip-invalid`).
    public var rejected = 0
    /// Where the rejected rows were written, if any were.
    public var rejectedFile: String?
    /// Rows of a fixed `FILE.rejected` (rows with a `rejected_reason`) skipped because
    /// an event with the same content, so the same content id, is already stored: the
    /// first ``ImportOptions/reportLimit``, each naming its row. They are counted in
    /// ``duplicates`` too.
    public var fixedDuplicates: [ImportError] = []
    /// How many such rows there were in all.
    public var fixedDuplicateCount = 0
    /// Seconds the import took, checking included.
    public var seconds = 0.0

    /// A report with every count zero.
    public init() {}
}

/// Ids derived from an imported row's content, and where a field sits in an NDJSON line.
enum ContentID {
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
    /// the file (so two identical rows stay two facts), in the database's scheme.
    static func make(_ content: String, occurrence: Int, at: Int64, scheme: ContentIDScheme) -> String {
        var bytes = Array(content.utf8)
        bytes.append(0)
        bytes.append(contentsOf: Array(String(occurrence).utf8))
        let (a, b) = bytes.withUnsafeBytes {
            (SipHash.hash($0, k0: 0x5041_5452_4f4e_0001, k1: 0x6576_656e_7469_6431),
             SipHash.hash($0, k0: 0x5041_5452_4f4e_0002, k1: 0x6576_656e_7469_6432))
        }
        let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)
        var out: [UInt8]
        var digits = 26
        switch scheme {
        case .hashed:
            out = Array("h-".utf8)
        case .timed:
            // The time first (13 digits of at + 2^62, so earlier events sort first), then
            // 100 bits of the hash.
            out = Array("t-".utf8)
            var t = UInt64(bitPattern: at &+ (1 << 62))
            var stamp = [UInt8](repeating: 0, count: 13)
            for i in stride(from: 12, through: 0, by: -1) {
                stamp[i] = alphabet[Int(t & 31)]
                t >>= 5
            }
            out += stamp
            digits = 20
        }
        var hi = a, lo = b
        for _ in 0..<digits {
            out.append(alphabet[Int(lo & 31)])
            lo = (lo >> 5) | ((hi & 31) << 59)
            hi >>= 5
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// How `patron import` makes ids for rows without one, fixed per database (`meta` key
/// `content-ids`) so that re-importing a file always gives the same ids.
enum ContentIDScheme: String, Sendable {
    static let key = "content-ids"
    /// `h-` and 26 base32 digits of the content's hash: databases made before
    /// 2026-11-23 (no `content-ids` setting).
    case hashed
    /// `t-`, 13 base32 digits of the event's time, 20 of the hash: databases made since.
    /// An import's ids then arrive in about the order of its events' times, so the id
    /// index grows in a few places instead of everywhere (random keys make a write
    /// transaction touch a page of the index per event).
    case timed
}

extension Database {
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
