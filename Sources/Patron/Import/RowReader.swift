/// What one input row became.
enum RowOutcome {
    /// A valid event; `fixed` when the row comes from a `FILE.rejected` (it has a
    /// `rejected_reason` column or key), so it was rejected once and fixed since.
    case event(Event, fixed: Bool)
    /// A row that cannot be imported, with the reason (file:line:column) and its
    /// original bytes (for `FILE.rejected`).
    case invalid(ImportError, raw: [UInt8])
}

/// Reads the rows of one input in either format and converts each into an event or
/// a reason it is invalid. Whole-file problems (unreadable, a CSV header without a
/// client column, …) are thrown as ``ImportError``.
struct RowReader: Sendable {
    /// The file name used in messages.
    let file: String
    let format: ImportFormat
    let converter: RowConverter

    /// Calls `body` with each non-blank row and its line number, in file order.
    /// `header` receives a CSV file's header row as written.
    func forEach(_ input: ImportInput, header: ([UInt8]) throws -> Void = { _ in },
                 _ body: (RowOutcome, Int) throws -> Void) throws {
        switch format {
        case .ndjson: try ndjson(input, body)
        case .csv: try csv(input, header, body)
        }
    }

    private func ndjson(_ input: ImportInput, _ body: (RowOutcome, Int) throws -> Void) throws {
        var lines = LineReader(input)
        var direct = converter.options.map.isEmpty && !converter.rewritesValues ? DirectEventReader() : nil
        try lines.forEach({ line, n in
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
            if let event = direct?.event(line, zone: converter.zone) {
                try body(.event(event, fixed: false), n)
                return
            }
            let parsed: Result<JSONValue, JSONSyntaxError> = Result { () throws(JSONSyntaxError) in try JSONReader.parse(line) }
            let json: JSONValue
            switch parsed {
            case .success(let v): json = v
            case .failure(let error):
                try body(.invalid(ImportError(file: file, line: n, column: error.offset + 1, message: "malformed JSON: \(error.message)"),
                                  raw: Array(line)), n)
                return
            }
            var pairs: [(String, JSONValue)]
            if case .object(let object) = json {
                let fields = converter.fields(forColumns: object.map(\.0))
                pairs = zip(fields, object).map { ($0, $1.1) }
                // A key renamed by --map onto a key the object also has: one would be lost.
                if !converter.options.map.isEmpty, Set(fields).count < fields.count,
                   let twice = fields.enumerated().first(where: { e in fields[..<e.offset].contains(e.element) })?.element {
                    try body(.invalid(ImportError(file: file, line: n, column: nil,
                                                  message: "two keys are both \"\(twice)\" after --map"), raw: Array(line)), n)
                    return
                }
            } else {
                try body(.invalid(ImportError(file: file, line: n, column: 1, message: "the line is not a JSON object"), raw: Array(line)), n)
                return
            }
            switch convert(pairs) {
            case .success(let event):
                try body(.event(event, fixed: pairs.contains { $0.0 == RowConverter.reasonColumn }), n)
            case .failure(let error):
                let column = ContentID.column(of: converter.column(ofField: error.field), in: line)
                try body(.invalid(ImportError(file: file, line: n, column: column, message: describe(error)), raw: Array(line)), n)
            }
        }, tooLong: { n, count in
            try body(.invalid(ImportError(file: file, line: n, column: nil,
                                          message: "the line is \(count) bytes, over the limit of \(Limits.line) (1 MiB)"), raw: []), n)
        })
    }

    private func csv(_ input: ImportInput, _ onHeader: ([UInt8]) throws -> Void,
                     _ body: (RowOutcome, Int) throws -> Void) throws {
        var reader = CSVReader(input, maxRecordBytes: Limits.line)
        var headerRecord: CSVRecord?
        while headerRecord == nil {
            do {
                guard let record = try reader.next() else { return }
                headerRecord = record
            } catch let p as CSVProblem {
                throw ImportError(file: file, line: p.line, column: p.column, message: "the header row: \(p.message)")
            }
        }
        guard let header = headerRecord else { return }
        let originals = header.fields.map { $0.trimmingWhitespace() }
        let names = converter.fields(forColumns: originals)
        try checkHeader(names: names, originals: originals, header: header)
        // Re-importing a FILE.rejected: its reason column is replaced, not added again.
        let reimport = names.last == RowConverter.reasonColumn
        try onHeader(reimport ? Self.csvLine(header.fields.dropLast()) : header.raw)
        let direct = converter.rewritesValues ? nil : DirectCSVEvents(fields: names, type: converter.options.type)
        func rejectedBytes(_ record: CSVRecord) -> [UInt8] {
            guard reimport, record.fields.count == names.count else { return record.raw }
            return Self.csvLine(record.fields.dropLast())
        }
        while true {
            let record: CSVRecord
            do {
                guard let r = try reader.next() else { break }
                record = r
            } catch let p as CSVProblem {
                try body(.invalid(ImportError(file: file, line: p.line, column: p.column, message: p.message), raw: p.raw), p.line)
                continue
            }
            let count = record.fields.count
            if count != names.count && !(reimport && count == names.count - 1) {
                let column = count > names.count ? record.columns[names.count] : record.columns.last
                let line = count > names.count ? record.lines[names.count] : (record.lines.last ?? record.line)
                try body(.invalid(ImportError(file: file, line: line, column: column,
                                              message: "\(count) field\(count == 1 ? "" : "s") where the header has \(names.count)"),
                                  raw: rejectedBytes(record)), record.line)
                continue
            }
            if let event = direct?.event(record.fields, zone: converter.zone) {
                try body(.event(event, fixed: reimport), record.line)
                continue
            }
            var pairs: [(String, JSONValue)] = []
            pairs.reserveCapacity(count)
            for i in 0..<count where !names[i].isEmpty { pairs.append((names[i], .string(record.fields[i]))) }
            switch convert(pairs) {
            case .success(let event): try body(.event(event, fixed: reimport), record.line)
            case .failure(let error):
                let top = error.field.split(separator: "[").first.map(String.init) ?? error.field
                let i = names.firstIndex(of: top)
                let line = i.map { record.lines[$0] } ?? record.line
                try body(.invalid(ImportError(file: file, line: line, column: i.map { record.columns[$0] }, message: describe(error)),
                                  raw: rejectedBytes(record)), record.line)
            }
        }
    }

    private func checkHeader(names: [String], originals: [String], header: CSVRecord) throws {
        func fail(_ message: String) -> ImportError {
            ImportError(file: file, line: header.line, column: nil, message: "the header row: " + message)
        }
        for (i, n) in names.enumerated() where !n.isEmpty {
            if let j = names[..<i].firstIndex(of: n) {
                throw ImportError(file: file, line: header.lines[i], column: header.columns[i],
                                  message: "the header row: columns \(j + 1) and \(i + 1) are both \"\(n)\"")
            }
        }
        let shown = originals.map { "\"\($0)\"" }.joined(separator: ", ")
        for required in ["client", "at"] where !names.contains(required) {
            throw fail("no \(required) column (the columns are \(shown)); name it with --map \"Your Column=\(required)\"")
        }
        if !names.contains("type") && converter.options.type == nil {
            throw fail("no type column; give every row's type with --type (e.g. --type purchase)")
        }
    }

    private func convert(_ pairs: [(String, JSONValue)]) -> Result<Event, EventValidationError> {
        Result { () throws(EventValidationError) in try converter.event(pairs) }
    }

    /// Fields written as one CSV line (quoted where they hold a comma, quote or line end).
    static func csvLine(_ fields: some Sequence<String>) -> [UInt8] {
        let cells = fields.map { f -> String in
            guard f.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return f }
            return "\"" + f.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return Array(cells.joined(separator: ",").utf8)
    }

    /// The validation message, naming the input column when `--map` renamed it.
    private func describe(_ error: EventValidationError) -> String {
        let column = converter.column(ofField: error.field)
        let top = error.field.split(separator: "[").first.map(String.init) ?? error.field
        return column == top ? error.description : "\(error.description) (column \"\(column)\")"
    }
}
