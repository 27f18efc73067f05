/// Reads a CSV record's values straight into an event, by the column each field
/// was found in once, from the header (after `--map`).
///
/// The general path turns each record into named values, then into an event
/// (``RowConverter``); this gives the same event without the named values: a
/// field's value is the record's value in its column, an empty value is absent, a
/// missing type is `--type`'s, and the columns a type does not read make its extra
/// fields, in column order. A record whose event cannot be read or does not validate
/// gives nil, and the general path reads it again to word the error. Not used when
/// `--system` or `--date-format` rewrite values (``RowConverter/rewritesValues``).
struct DirectCSVEvents {
    /// The column of each ``EventField`` (by raw value), or -1.
    private var columns = [Int](repeating: -1, count: EventField.allCases.count)
    /// Each column's field name ("" for a column dropped) and ``EventField/bit`` (0 for other names).
    private let names: [String]
    private let bits: [UInt32]
    private let type: EventType?

    /// The reader for a header whose columns hold `fields` (as ``RowConverter/fields(forColumns:)``
    /// names them); `type` is `--type`.
    init(fields: [String], type: EventType?) {
        names = fields
        bits = fields.map { EventField(text: $0)?.bit ?? 0 }
        self.type = type
        for (i, name) in fields.enumerated() {
            if let f = EventField(text: name), columns[Int(f.rawValue)] < 0 { columns[Int(f.rawValue)] = i }
        }
    }

    /// The event of a record's `values`, or nil when the general path must read it.
    func event(_ values: [String], zone: Zone) -> Event? {
        let record = Record(values: values, layout: self)
        guard let event = try? Event(reading: record, zone: zone), (try? event.validate()) != nil else { return nil }
        return event
    }

    private struct Record: EventFieldReading {
        let values: [String]
        let layout: DirectCSVEvents

        func value(_ f: EventField) -> String? {
            let i = layout.columns[Int(f.rawValue)]
            guard i >= 0, i < values.count, !values[i].isEmpty else { return nil }
            return values[i]
        }

        func string(_ f: EventField) throws(EventValidationError) -> String? {
            f == .type ? value(.type) ?? layout.type?.rawValue : value(f)
        }

        func key(_ f: EventField) throws(EventValidationError) -> String? { value(f) }

        func money(_ f: EventField) throws(EventValidationError) -> Money? {
            guard let text = value(f) else { return nil }
            guard let m = Money(parsing: text) else { throw .readGenerally }
            return m
        }

        func integer(_ f: EventField) throws(EventValidationError) -> Int64? {
            guard let text = value(f) else { return nil }
            guard let v = Int64(text.trimmingWhitespace()) else { throw .readGenerally }
            return v
        }

        func stringList(_ f: EventField) throws(EventValidationError) -> [String] {
            value(f).map(Event.listItems) ?? []
        }

        func items() throws(EventValidationError) -> [PurchaseItem] {
            // Items are a JSON list; a CSV value never is one.
            guard value(.items) == nil else { throw .readGenerally }
            return []
        }

        func extra(for type: EventType) throws(EventValidationError) -> String? {
            let known = Event.knownFieldBits[Int(type.code)]
            var extra: [(String, JSONValue)] = []
            for i in 0..<min(values.count, layout.names.count) where layout.bits[i] & known == 0 {
                let name = layout.names[i]
                guard !name.isEmpty, name != RowConverter.reasonColumn, !values[i].isEmpty else { continue }
                extra.append((name, .string(values[i])))
            }
            return extra.isEmpty ? nil : JSONValue.object(extra).text
        }
    }
}
