/// Turns one input row (named values from a CSV record or an NDJSON object) into a
/// validated event, applying `--map`, `--type`, `--date-format` and `--system`.
struct RowConverter: Sendable {
    let options: ImportOptions
    let zone: Zone
    /// Field name → the input column it came from (the inverse of `--map`).
    let sourceName: [String: String]
    /// Input column name → field name (see ``fields(forColumns:)`` for how it matches).
    private let map: [String: String]

    /// Fields whose values are client keys or event ids (namespaced by `--system`).
    static let keyFields: Set<String> = ["client", "into", "id", "purchase", "visit"]
    /// A column `FILE.rejected` adds; dropped on import so a fixed rejected file imports as it is.
    static let reasonColumn = "rejected_reason"

    init(options: ImportOptions, zone: Zone) {
        self.options = options
        self.zone = zone
        self.map = options.map
        var source: [String: String] = [:]
        for (column, field) in options.map { source[field] = column }
        self.sourceName = source
    }

    /// The event field of each input column of a header (or of an object's keys): a
    /// `--map` column matches exactly, and only when no column matches it exactly,
    /// the first that matches ignoring case. Columns with no name are dropped ("").
    func fields(forColumns names: [String]) -> [String] {
        var out = names
        var taken = Set<Int>()
        for (column, field) in map {
            if let i = names.firstIndex(of: column) {
                out[i] = field
                taken.insert(i)
            }
        }
        for (column, field) in map where !names.contains(column) {
            let folded = column.lowercased()
            if let i = names.indices.first(where: { !taken.contains($0) && names[$0].lowercased() == folded }) {
                out[i] = field
                taken.insert(i)
            }
        }
        return out
    }

    /// True when `--system` or `--date-format` rewrite values, so that every row goes
    /// through ``event(_:)``; otherwise plain rows may be read straight into events
    /// (``DirectEventReader``, ``DirectCSVEvents``; NDJSON also needs no `--map`).
    var rewritesValues: Bool { options.system != nil || options.dateFormat != nil }

    /// The input column an error about `field` (`amount`, `items[2].amount`) points at.
    func column(ofField field: String) -> String {
        let top = field.split(separator: "[").first.map(String.init) ?? field
        return sourceName[top] ?? top
    }

    /// The event of a row whose values are given in input order, fields already
    /// renamed by ``fields(forColumns:)``. Empty and null values count as absent.
    func event(_ pairs: [(String, JSONValue)]) throws(EventValidationError) -> Event {
        var out: [(String, JSONValue)] = []
        out.reserveCapacity(pairs.count + 1)
        var hasType = false
        for (name, value) in pairs {
            if name == Self.reasonColumn { continue }
            var v = value
            switch v {
            case .null: continue
            case .string(let s) where s.isEmpty: continue
            default: break
            }
            if name == "type" { hasType = true }
            if name == "at", let format = options.dateFormat, case .string(let s) = v {
                let text = s.trimmingWhitespace()
                if let iso = format.iso(text) {
                    v = .string(iso)
                } else if TimestampParser.parse(text, zone: zone) == nil {
                    throw EventValidationError(field: "at", value: s, problem: "does not match --date-format \(format) (nor ISO-8601)")
                } else {
                    v = .string(text)
                }
            }
            if let system = options.system, Self.keyFields.contains(name) {
                switch v {
                case .string(let s): v = .string(system + ":" + s)
                case .number(let n): v = .string(system + ":" + n)
                default: break
                }
            }
            out.append((name, v))
        }
        if !hasType, let type = options.type { out.insert(("type", .string(type.rawValue)), at: 0) }
        return try Event(json: .object(out), zone: zone)
    }
}
