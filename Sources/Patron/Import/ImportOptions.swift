/// The two import formats (SPEC 1.4).
public enum ImportFormat: String, Sendable, CaseIterable {
    case ndjson, csv

    /// The format a file name says (`.csv`, `.ndjson`, `.jsonl`, `.json`, each
    /// optionally followed by `.gz`), or nil when the name does not say.
    public static func from(fileName: String) -> ImportFormat? {
        var name = fileName.lowercased()
        if name.hasSuffix(".gz") { name.removeLast(3) }
        if name.hasSuffix(".csv") { return .csv }
        if name.hasSuffix(".ndjson") || name.hasSuffix(".jsonl") || name.hasSuffix(".json") { return .ndjson }
        return nil
    }
}

/// How `patron import` reads a file; every field has the command-line option of the
/// same name.
public struct ImportOptions: Sendable {
    /// `--format`: nil reads it from the file name, else from the first byte (`{` is NDJSON).
    public var format: ImportFormat?
    /// `--type`: the event type of rows that have no `type` column or value.
    public var type: EventType?
    /// `--map`: input column name → event field name.
    public var map: [String: String] = [:]
    /// `--date-format`: the layout of `at` values that are not ISO-8601.
    public var dateFormat: DateFormat?
    /// `--system`: namespaces the file's client keys and event ids as `SYSTEM:key`.
    public var system: String?
    /// Derive an id from each event's content when it has none (`--no-dedupe` turns it off).
    public var dedupe = true
    /// `--skip-invalid`: import the valid rows and write the others to `FILE.rejected`.
    public var skipInvalid = false
    /// Events per batch handed from the reading thread to the writer; with
    /// ``skipInvalid``, events per write transaction.
    public var batchSize = 10_000
    /// How many bad rows are reported one by one before only counting them.
    public var reportLimit = 20
    /// Without ``skipInvalid``: at most about how many events one write transaction of
    /// the import holds (whole batches: it ends with the batch that reaches this, or
    /// earlier: see ``minimumSegment``). A longer file commits several, under a journal
    /// that undoes them all if the import fails (or, if the process dies, the next
    /// writer does), so memory stays bounded. Values below 1 count as 1.
    public var segmentSize = 100_000
    /// Without ``skipInvalid``: the resident memory of the process, in bytes, at which
    /// a transaction of the import ends early (after the batch that reached it), once it
    /// holds ``minimumSegment`` events or ``segmentSize``, whichever is fewer. A larger
    /// transaction rewrites each client's state and LMDB's pages less often, so it is
    /// faster; how much memory it takes depends on the file (how many clients it
    /// touches, whether its ids arrive in order), hence a target in bytes rather than
    /// only a count of events. Nil, or a system that does not report resident memory
    /// (only Linux's is read): no memory check (ids in no order still end a
    /// transaction early, see ``minimumSegment``).
    public var memoryTarget: Int? = 224 << 20
    /// The fewest events a transaction of the import holds (unless ``segmentSize`` is
    /// smaller) before it may end early: once resident memory reaches ``memoryTarget``,
    /// or when more than a tenth of its ids are lower than ids a few hundred rows
    /// earlier in the file (ids in no order, such as content-derived ones: each lands
    /// in the middle of the id index and rewrites a page of it, held in memory until
    /// the commit). So an import whose memory stays high between its transactions
    /// still moves in large steps.
    public var minimumSegment = 50_000

    /// Options with every default.
    public init() {}

    /// The column a field of an import row may be renamed to.
    public static let fieldNames: Set<String> = {
        var all: Set<String> = []
        for names in Event.knownFields.values { all.formUnion(names) }
        return all
    }()

    /// Reads `--map "Client ID=client,Date=at,Total=amount"`: pairs separated by
    /// commas, each `input column=event field`. A column name may itself contain a
    /// comma or `=` when written in double quotes (`"Total, USD"=amount`).
    public static func parseMap(_ text: String) throws(ImportOptionError) -> [String: String] {
        var pairs: [String: String] = [:]
        for part in try splitOutsideQuotes(text, on: ",") where !part.allSatisfy(\.isWhitespace) {
            let sides = try splitOutsideQuotes(part, on: "=")
            guard sides.count == 2 else {
                throw ImportOptionError("--map: \"\(part)\" is not COLUMN=FIELD (e.g. --map \"Client ID=client,Date=at\")")
            }
            let column = unquote(sides[0].trimmingWhitespace())
            let field = unquote(sides[1].trimmingWhitespace())
            guard !column.isEmpty else { throw ImportOptionError("--map: \"\(part)\" names no input column") }
            guard fieldNames.contains(field) else {
                let hint = Suggest.nearest(field, in: fieldNames.sorted()).map { " (did you mean \"\($0)\"?)" } ?? ""
                throw ImportOptionError("--map: \"\(field)\" is not an event field\(hint)")
            }
            guard pairs[column] == nil else { throw ImportOptionError("--map: column \"\(column)\" is mapped twice") }
            if let other = pairs.keys.first(where: { $0.lowercased() == column.lowercased() }) {
                throw ImportOptionError("--map: columns \"\(other)\" and \"\(column)\" differ only in case; name each as the file writes it")
            }
            pairs[column] = field
        }
        let targets = Array(pairs.values)
        if let twice = targets.first(where: { t in targets.filter { $0 == t }.count > 1 }) {
            throw ImportOptionError("--map: two columns are mapped to \"\(twice)\"")
        }
        return pairs
    }

    /// Reads `--system NAME`: letters, digits, `-`, `_` and `.`, at most 32 bytes.
    public static func parseSystem(_ text: String) throws(ImportOptionError) -> String {
        let ok = !text.isEmpty && text.utf8.count <= 32 && text.unicodeScalars.allSatisfy {
            ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) && $0.isASCII
        }
        guard ok else {
            throw ImportOptionError("--system \"\(text)\": use 1 to 32 letters, digits, '-', '_' or '.' (e.g. --system mindbody)")
        }
        return text
    }

    private static func splitOutsideQuotes(_ text: String, on separator: Character) throws(ImportOptionError) -> [String] {
        var parts: [String] = [], current = "", quoted = false
        for c in text {
            if c == "\"" { quoted.toggle(); current.append(c) } else if c == separator && !quoted {
                parts.append(current)
                current = ""
            } else { current.append(c) }
        }
        guard !quoted else { throw ImportOptionError("--map \"\(text)\": a quote is never closed") }
        parts.append(current)
        return parts
    }

    private static func unquote(_ s: String) -> String {
        s.count >= 2 && s.hasPrefix("\"") && s.hasSuffix("\"") ? String(s.dropFirst().dropLast()) : s
    }
}
