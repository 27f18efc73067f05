/// Output formats of query results (SPEC 4.6).
///
/// `table` and `markdown` are for people: money reads `$1,234.50`, durations `93d`.
/// `csv`, `json` and `ndjson` are for programs: money is a plain number of dollars
/// (`1234.5`), durations a plain number of days (`93`, `45.5`), dates `YYYY-MM-DD`.
///
/// ```swift
/// let format = OutputFormat(rawValue: "ndjson")   // from `--format ndjson`
/// ```
public enum OutputFormat: String, Sendable, CaseIterable {
    /// Aligned columns for a terminal, followed by a `(N rows)` line.
    case table
    /// RFC 4180 CSV: a header row of column names, then one line per row.
    case csv
    /// One JSON array of objects keyed by column name.
    case json
    /// One JSON object per line (nothing at all for zero rows).
    case ndjson
    /// A GitHub-flavoured Markdown pipe table.
    case markdown
}

/// How ``OutputFormat/table`` draws its lines.
public enum TableStyle: Sendable {
    /// ASCII only: a `-` rule under the header, columns two spaces apart.
    case plain
    /// Unicode box drawing (`┌─┬┐ │ ├┼┤ └┴┘`), for a UTF-8 terminal.
    case box
}

/// Renders a whole materialised result in one call.
///
/// The same text as feeding the rows one by one through a ``ResultWriter``.
///
/// ```swift
/// let text = renderResult(columns: [Column(name: "spent", kind: .money)],
///                         rows: [[.money(Money(cents: 123450))]], format: .csv)
/// // "spent\n1234.5\n"
/// ```
public func renderResult(columns: [Column], rows: [[Value]], format: OutputFormat, style: TableStyle = .plain) -> String {
    var writer = ResultWriter(format: format, columns: columns, style: style)
    var out = writer.begin()
    for row in rows { out += writer.row(row) }
    out += writer.end()
    return out
}

/// Writes a query result incrementally, for results too large to hold in memory.
///
/// Call ``begin()`` once, ``row(_:)`` once per row and ``end()`` once, writing out
/// the text each returns (it may be empty). `csv`, `json`, `ndjson` and `markdown`
/// produce each row's text as it arrives, so memory stays bounded; `table` needs
/// every row to know its column widths, so it keeps the formatted cells and returns
/// the whole table from ``end()``.
///
/// A row with fewer values than there are columns is padded with nulls; values
/// beyond the last column are ignored.
///
/// ```swift
/// var writer = ResultWriter(format: .ndjson, columns: result.columns)
/// print(writer.begin(), terminator: "")
/// for row in result.rows { print(writer.row(row), terminator: "") }
/// print(writer.end(), terminator: "")
/// ```
public struct ResultWriter: Sendable {
    /// The format being written.
    public let format: OutputFormat
    /// The result's columns.
    public let columns: [Column]
    /// The line style of `.table` output (ignored by the other formats).
    public let style: TableStyle

    private var rowCount = 0
    /// `.table` only: display widths and the formatted cells of every row so far.
    private var widths: [Int]
    private var tableRows: [[String]] = []
    private let rightAligned: [Bool]

    /// A writer of `columns` in `format`; `style` applies to `.table` only.
    public init(format: OutputFormat, columns: [Column], style: TableStyle = .plain) {
        self.format = format
        self.columns = columns
        self.style = style
        self.rightAligned = columns.map { Self.isNumeric($0.kind) }
        self.widths = columns.map { max(1, TextCell.table($0.name).count) }
    }

    /// The text before the first row: the CSV header, the Markdown header, or `[` for JSON.
    public mutating func begin() -> String {
        switch format {
        case .table, .ndjson:
            return ""
        case .csv:
            return CSV.line(columns.map { CSV.quoted($0.name) })
        case .json:
            return "["
        case .markdown:
            return Markdown.line(columns.map { Markdown.escaped($0.name) })
                + "|" + rightAligned.map { $0 ? "---:|" : "---|" }.joined() + "\n"
        }
    }

    /// The text of one row (empty for `.table`, which writes everything at ``end()``).
    public mutating func row(_ values: [Value]) -> String {
        defer { rowCount += 1 }
        switch format {
        case .table:
            let cells = columns.indices.map { TextCell.table(ValueFormat.human(value(values, $0))) }
            for (i, cell) in cells.enumerated() { widths[i] = max(widths[i], cell.count) }
            tableRows.append(cells)
            return ""
        case .csv:
            return CSV.line(columns.indices.map { CSV.field(value(values, $0)) })
        case .json:
            return (rowCount == 0 ? "\n" : ",\n") + JSON.object(columns, values)
        case .ndjson:
            return JSON.object(columns, values) + "\n"
        case .markdown:
            return Markdown.line(columns.indices.map { Markdown.escaped(ValueFormat.human(value(values, $0))) })
        }
    }

    /// The text after the last row: the closing `]` for JSON, the whole table for `.table`.
    public mutating func end() -> String {
        switch format {
        case .csv, .ndjson, .markdown:
            return ""
        case .json:
            return rowCount == 0 ? "]\n" : "\n]\n"
        case .table:
            return renderTable()
        }
    }

    // MARK: - Table

    private func renderTable() -> String {
        let header = columns.map { TextCell.table($0.name) }
        var out = ""
        switch style {
        case .plain:
            out += plainLine(header)
            out += trimmedLine(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
            for cells in tableRows { out += plainLine(cells) }
        case .box:
            out += boxRule("┌", "┬", "┐")
            out += boxLine(header)
            out += boxRule("├", "┼", "┤")
            for cells in tableRows { out += boxLine(cells) }
            out += boxRule("└", "┴", "┘")
        }
        out += rowCount == 1 ? "(1 row)\n" : "(\(rowCount) rows)\n"
        return out
    }

    private func padded(_ cell: String, _ column: Int) -> String {
        let fill = String(repeating: " ", count: max(0, widths[column] - cell.count))
        return rightAligned[column] ? fill + cell : cell + fill
    }

    private func plainLine(_ cells: [String]) -> String {
        trimmedLine(cells.enumerated().map { padded($1, $0) }.joined(separator: "  "))
    }

    /// A plain line without trailing blanks (left-aligned padding at the end of a line is invisible).
    private func trimmedLine(_ line: String) -> String {
        var line = Substring(line)
        while line.last == " " { line.removeLast() }
        return line + "\n"
    }

    private func boxLine(_ cells: [String]) -> String {
        "│" + cells.enumerated().map { " " + padded($1, $0) + " " }.joined(separator: "│") + "│\n"
    }

    private func boxRule(_ left: String, _ middle: String, _ right: String) -> String {
        left + widths.map { String(repeating: "─", count: $0 + 2) }.joined(separator: middle) + right + "\n"
    }

    // MARK: - Helpers

    private func value(_ values: [Value], _ column: Int) -> Value {
        column < values.count ? values[column] : .null
    }

    private static func isNumeric(_ kind: ValueKind) -> Bool {
        kind == .number || kind == .money || kind == .duration
    }
}

// The encodings live inside `ResultWriter` so their short names cannot clash with the rest of the module.
extension ResultWriter {
    /// Numbers for machine formats: whole numbers without `.0`, others in Swift's
    /// shortest round-tripping form (`0.1`, `1e-07`), so no precision is lost.
    enum MachineNumber {
        /// The JSON/CSV text of `x`, or nil when it is not finite (JSON has no NaN or infinity).
        static func text(_ x: Double) -> String? {
            guard x.isFinite else { return nil }
            if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
            return x.description
        }
    }

    /// Cell text for the human formats.
    enum TextCell {
        /// A cell for an aligned table: line breaks, tabs and other control characters
        /// become spaces so one value stays on one line and widths stay true.
        static func table(_ text: String) -> String {
            guard text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return text }
            var out = ""
            for ch in text {
                if ch.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                    out.append(" ")
                } else {
                    out.append(ch)
                }
            }
            return out
        }
    }

    /// RFC 4180 CSV fields and lines.
    enum CSV {
        /// A value as a field: null is an empty field; money in dollars, durations in days,
        /// dates ISO, booleans `true`/`false`, lists joined with `;`.
        static func field(_ value: Value) -> String {
            switch value {
            case .null: ""
            case .bool(let b): b ? "true" : "false"
            case .number(let x), .duration(let x): MachineNumber.text(x) ?? ""
            case .money(let m): ValueFormat.moneyNumber(m)
            case .date(let d): Calendar.format(d)
            case .string(let s): quoted(s)
            case .list(let l): quoted(l.joined(separator: ";"))
            }
        }

        /// Text as a field, quoted (quotes doubled) when it holds a comma, quote, CR or LF.
        /// The empty string is written `""` so that it stays distinct from null.
        static func quoted(_ text: String) -> String {
            if text.isEmpty { return "\"\"" }
            let special = text.utf8.contains { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 13 || $0 == 10 }
            guard special else { return text }
            var out = "\""
            for scalar in text.unicodeScalars {
                if scalar == "\"" { out += "\"\"" } else { out.unicodeScalars.append(scalar) }
            }
            return out + "\""
        }

        static func line(_ fields: [String]) -> String {
            fields.joined(separator: ",") + "\n"
        }
    }

    /// JSON objects and values.
    enum JSON {
        /// One row as `{"a":1,"b":"x"}`: keys are the column names in order, duplicates kept.
        static func object(_ columns: [Column], _ values: [Value]) -> String {
            var out = "{"
            for (i, column) in columns.enumerated() {
                if i > 0 { out += "," }
                out += string(column.name) + ":" + value(i < values.count ? values[i] : .null)
            }
            return out + "}"
        }

        static func value(_ value: Value) -> String {
            switch value {
            case .null: "null"
            case .bool(let b): b ? "true" : "false"
            case .number(let x), .duration(let x): MachineNumber.text(x) ?? "null"
            case .money(let m): ValueFormat.moneyNumber(m)
            case .date(let d): "\"" + Calendar.format(d) + "\""
            case .string(let s): string(s)
            case .list(let l): "[" + l.map(string).joined(separator: ",") + "]"
            }
        }

        /// A JSON string literal (see ``JSONText/quote(_:into:)``).
        static func string(_ text: String) -> String {
            var out = ""
            JSONText.quote(text, into: &out)
            return out
        }
    }

    /// GitHub-flavoured Markdown pipe tables.
    enum Markdown {
        /// A cell: `|` escaped as `\|`, each line break (LF, CR or CRLF) as `<br>`.
        static func escaped(_ text: String) -> String {
            var out = ""
            for ch in text {
                if ch == "|" {
                    out += "\\|"
                } else if ch == "\n" || ch == "\r" || ch == "\r\n" {
                    out += "<br>"
                } else {
                    out.append(ch)
                }
            }
            return out
        }

        static func line(_ cells: [String]) -> String {
            "|" + cells.map { " " + $0 + " |" }.joined() + "\n"
        }
    }
}
