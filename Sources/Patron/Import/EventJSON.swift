/// Reading an event from a JSON object (one NDJSON line) and writing it back.
extension Event {
    /// The fields each type reads; anything else is kept in ``extra``.
    static let knownFields: [EventType: Set<String>] = {
        let common: Set<String> = ["type", "id", "client", "at"]
        return [
            .client: common.union(["name", "email", "phone", "location", "source", "acquisition_cost"]),
            .visit: common.union(["location", "provider", "services"]),
            .purchase: common.union(["amount", "items", "location", "provider", "channel"]),
            .refund: common.union(["amount", "purchase"]),
            .reward: common.union(["points", "kind", "reason"]),
            .tier: common.union(["tier"]),
            .membership: common.union(["plan", "action", "fee"]),
            .feedback: common.union(["score", "comment", "visit"]),
            .forget: common,
            .merge: common.union(["into"]),
        ]
    }()

    /// Builds and validates an event from a parsed JSON object.
    init(json: JSONValue, zone: Zone) throws(EventValidationError) {
        guard case .object(let pairs) = json else {
            throw EventValidationError(field: "line", value: nil, problem: "must be a JSON object")
        }
        let f = JSONFields(pairs: pairs)
        try self.init(reading: f, zone: zone)
        do {
            try validate()
        } catch {
            // `validate` sees parsed values (`-$5.00` for `-5`): quote the input's own text.
            throw f.asWritten(error)
        }
    }

    /// The event as one JSON object line (no newline), re-importable by `patron import`.
    /// Personal fields are left out when `personal` is false.
    public func jsonLine(zone: Zone, personal: Bool = true) -> String {
        jsonLine(zone: zone, personal: personal, canonicalExtras: false)
    }

    /// The text an imported row's content id is made from: the event as a JSON line in
    /// UTC, its known fields in a fixed order and form, and its extra fields canonical
    /// (`JSONValue.canonical`), so the same facts written
    /// with their extra fields in another order, or as numbers rather than strings,
    /// give the same id. A row without extra fields, or whose extra fields are strings
    /// in sorted order, gives the text it always gave.
    func contentText() -> String {
        jsonLine(zone: .utc, personal: true, canonicalExtras: true)
    }

    private func jsonLine(zone: Zone, personal: Bool, canonicalExtras: Bool) -> String {
        // Written straight into bytes, field by field: the text `JSONValue.object(…).text`
        // gives for the same fields, without building the object.
        var o = JSONLineWriter()
        o.add("type", type.rawValue)
        if let id { o.add("id", id) }
        o.add("client", client)
        o.add("at", TimestampParser.format(at, zone: zone))
        switch payload {
        case .client(let c):
            if personal { o.add("name", c.name); o.add("email", c.email); o.add("phone", c.phone) }
            o.add("location", c.location); o.add("source", c.source); o.add("acquisition_cost", c.acquisitionCost)
        case .visit(let v):
            o.add("location", v.location); o.add("provider", v.provider)
            if !v.services.isEmpty {
                o.key("services")
                o.list(v.services) { o, s in o.string(s) }
            }
        case .purchase(let p):
            o.add("amount", p.amount)
            if !p.items.isEmpty {
                o.key("items")
                o.list(p.items) { o, item in
                    o.object { o in
                        o.add("name", item.name)
                        o.add("category", item.category)
                        o.add("quantity", number: String(item.quantity))
                        o.add("amount", item.amount)
                    }
                }
            }
            o.add("location", p.location); o.add("provider", p.provider); o.add("channel", p.channel)
        case .refund(let r):
            o.add("amount", r.amount); o.add("purchase", r.purchase)
        case .reward(let r):
            o.add("points", number: String(r.points)); o.add("kind", r.kind); o.add("reason", r.reason)
        case .tier(let t):
            o.add("tier", t.tier)
        case .membership(let m):
            o.add("plan", m.plan); o.add("action", m.action.rawValue); o.add("fee", m.fee)
        case .feedback(let f):
            o.add("score", number: String(f.score))
            if personal { o.add("comment", f.comment) }
            o.add("visit", f.visit)
        case .forget:
            break
        case .merge(let m):
            o.add("into", m.into)
        }
        if personal, let extra, case .object(let more)? = JSONValue.parse(extra) {
            for (k, v) in canonicalExtras ? JSONValue.canonical(more) : more { o.add(k, value: v) }
        }
        return String(decoding: o.close(), as: UTF8.self)
    }
}

/// One JSON object written as compact text into bytes, a field at a time, exactly as
/// ``JSONValue/text`` writes the same object (strings escaped by ``JSONText/quote(_:into:)``).
private struct JSONLineWriter {
    var bytes: [UInt8]
    private var fields = 0

    init() {
        bytes = []
        bytes.reserveCapacity(256)
        bytes.append(UInt8(ascii: "{"))
    }

    /// Closes the object and gives its text (the writer is done with).
    mutating func close() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    /// A nested object, its fields written by `body`.
    mutating func object(_ body: (inout JSONLineWriter) -> Void) {
        let outer = fields
        fields = 0
        bytes.append(UInt8(ascii: "{"))
        body(&self)
        bytes.append(UInt8(ascii: "}"))
        fields = outer
    }

    mutating func key(_ k: String) {
        if fields > 0 { bytes.append(UInt8(ascii: ",")) }
        fields += 1
        string(k)
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func string(_ s: String) {
        var s = s
        let plain = s.withUTF8 { u in !u.contains { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") } }
        if plain {
            bytes.append(UInt8(ascii: "\""))
            s.withUTF8 { bytes.append(contentsOf: $0) }
            bytes.append(UInt8(ascii: "\""))
        } else {
            var quoted = ""
            JSONText.quote(s, into: &quoted)
            bytes.append(contentsOf: quoted.utf8)
        }
    }

    mutating func list<T>(_ items: [T], _ write: (inout JSONLineWriter, T) -> Void) {
        bytes.append(UInt8(ascii: "["))
        for (i, item) in items.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            write(&self, item)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    mutating func add(_ k: String, _ v: String?) {
        guard let v else { return }
        key(k)
        string(v)
    }

    mutating func add(_ k: String, _ m: Money?) {
        guard let m else { return }
        add(k, number: m.decimalString)
    }

    mutating func add(_ k: String, number: String) {
        key(k)
        bytes.append(contentsOf: number.utf8)
    }

    mutating func add(_ k: String, value: JSONValue) {
        key(k)
        var text = ""
        value.write(to: &text)
        bytes.append(contentsOf: text.utf8)
    }
}

extension JSONValue {
    /// Parses JSON text; nil when it is not valid JSON.
    static func parse(_ text: String) -> JSONValue? {
        Array(text.utf8).withUnsafeBytes { try? JSONReader.parse($0) }
    }

    /// An object's fields in a form that does not depend on how a file writes the same
    /// facts: sorted by name (a repeated name keeps its order), every value canonical.
    static func canonical(_ pairs: [(String, JSONValue)]) -> [(String, JSONValue)] {
        var out = pairs.map { ($0.0, canonical($0.1)) }
        // Insertion sort: stable, in place, and a row has few extra fields.
        for i in out.indices.dropFirst() {
            var j = i
            while j > 0 && out[j].0 < out[j - 1].0 {
                out.swapAt(j, j - 1)
                j -= 1
            }
        }
        return out
    }

    /// A value as CSV would give it: numbers and booleans as their text (`3` and `"3"`
    /// are one fact; `3.0` stays `3.0`), arrays in order and objects sorted, each
    /// element canonical; strings and null as they are.
    static func canonical(_ value: JSONValue) -> JSONValue {
        switch value {
        case .number(let n): .string(n)
        case .bool(let b): .string(b ? "true" : "false")
        case .array(let a): .array(a.map { canonical($0) })
        case .object(let o): .object(canonical(o))
        case .null, .string: value
        }
    }
}

/// Typed access to an event's JSON fields, each failure naming the field and value.
/// An event has a handful of fields, so a linear scan beats hashing every name; the
/// last non-null occurrence of a name wins, as in a dictionary built in order.
private struct JSONFields: EventFieldReading {
    let pairs: [(String, JSONValue)]

    func extra(for type: EventType) -> String? {
        let known = Event.knownFields[type] ?? []
        let unknown = pairs.filter { !known.contains($0.0) }
        return unknown.isEmpty ? nil : JSONValue.object(unknown).text
    }

    subscript(name: String) -> JSONValue? {
        var i = pairs.count
        while i > 0 {
            i -= 1
            guard pairs[i].0 == name else { continue }
            if case .null = pairs[i].1 { continue }
            return pairs[i].1
        }
        return nil
    }

    func string(_ field: EventField) throws(EventValidationError) -> String? {
        let name = field.text
        switch self[name] {
        case nil: return nil
        case .string(let s): return s
        case .number(let n): return n
        case .bool(let b): return b ? "true" : "false"
        case let v?: throw EventValidationError(field: name, value: v.text, problem: "must be a string")
        }
    }

    /// Keys and ids: strings, or numbers taken as their text.
    func key(_ field: EventField) throws(EventValidationError) -> String? {
        let name = field.text
        switch self[name] {
        case nil: return nil
        case .string(let s): return s
        case .number(let n): return n
        case let v?: throw EventValidationError(field: name, value: v.text, problem: "must be a string")
        }
    }

    func money(_ field: EventField) throws(EventValidationError) -> Money? {
        try Self.money(self[field.text], field: field.text)
    }

    static func money(_ value: JSONValue?, field: String) throws(EventValidationError) -> Money? {
        let text: String
        switch value {
        case nil: return nil
        case .number(let n): text = n
        case .string(let s): text = s
        case let v?: throw EventValidationError(field: field, value: v.text, problem: "is not an amount of money")
        }
        guard let m = Money(parsing: text) else {
            throw EventValidationError(field: field, value: text,
                                       problem: "is not an amount of money (write 450, 450.50 or \"$450.50\"; at most 2 decimals)")
        }
        return m
    }

    func integer(_ field: EventField) throws(EventValidationError) -> Int64? {
        try Self.integer(self[field.text], field: field.text)
    }

    static func integer(_ value: JSONValue?, field: String) throws(EventValidationError) -> Int64? {
        let text: String
        switch value {
        case nil: return nil
        case .number(let n): text = n
        case .string(let s): text = s.trimmingWhitespace()
        case let v?: throw EventValidationError(field: field, value: v.text, problem: "must be a whole number")
        }
        guard let i = Int64(text) else {
            throw EventValidationError(field: field, value: value.flatMap(Self.written) ?? text, problem: "must be a whole number")
        }
        return i
    }

    /// The text of a number or string value as the input writes it.
    static func written(_ value: JSONValue) -> String? {
        switch value {
        case .string(let s): s
        case .number(let n): n
        default: nil
        }
    }

    /// A validation error about a money or whole-number field, with the value as the
    /// input writes it (`"-5"`, `"+9"`, `"09"`) instead of as it was parsed; a purchase
    /// amount that is the items' sum (not in the input) is named as that sum.
    func asWritten(_ error: EventValidationError) -> EventValidationError {
        let field = error.field
        let raw: JSONValue?
        if let open = field.firstIndex(of: "["), let close = field.firstIndex(of: "]"), open < close,
           field[field.index(after: close)...].hasPrefix("."), let i = Int(field[field.index(after: open)..<close]) {
            let key = String(field[field.index(close, offsetBy: 2)...])
            guard ["amount", "quantity"].contains(key), case .array(let list)? = self["items"], i < list.count,
                  case .object(let pairs) = list[i] else { return error }
            raw = pairs.last { $0.0 == key && $0.1 != .null }?.1
        } else {
            guard ["amount", "acquisition_cost", "fee", "score", "points"].contains(field) else { return error }
            raw = self[field]
            if raw == nil && field == "amount" {
                return EventValidationError(field: field, value: nil, problem: "the sum of the items' amounts " + error.problem)
            }
        }
        guard let text = raw.flatMap(Self.written) else { return error }
        return EventValidationError(field: field, value: text, problem: error.problem)
    }

    func stringList(_ field: EventField) throws(EventValidationError) -> [String] {
        let name = field.text
        switch self[name] {
        case nil: return []
        case .string(let s):
            return Event.listItems(s)
        case .array(let a):
            var out: [String] = []
            for v in a {
                guard case .string(let s) = v else {
                    throw EventValidationError(field: name, value: v.text, problem: "must be a list of strings")
                }
                out.append(s)
            }
            return out
        case let v?: throw EventValidationError(field: name, value: v.text, problem: "must be a list of strings")
        }
    }

    func items() throws(EventValidationError) -> [PurchaseItem] {
        guard let value = self["items"] else { return [] }
        guard case .array(let list) = value else {
            throw EventValidationError(field: "items", value: value.text, problem: "must be a list of {name, category, quantity, amount}")
        }
        var out: [PurchaseItem] = []
        for (i, v) in list.enumerated() {
            guard case .object(let pairs) = v else {
                throw EventValidationError(field: "items[\(i)]", value: v.text, problem: "must be an object {name, category, quantity, amount}")
            }
            var item = PurchaseItem()
            for (k, fv) in pairs where fv != .null {
                let field = "items[\(i)].\(k)"
                switch k {
                case "name", "category":
                    guard case .string(let s) = fv else { throw EventValidationError(field: field, value: fv.text, problem: "must be a string") }
                    if k == "name" { item.name = s } else { item.category = s }
                case "quantity":
                    item.quantity = try Self.integer(fv, field: field) ?? 1
                case "amount":
                    item.amount = try Self.money(fv, field: field)
                default:
                    throw EventValidationError(field: field, value: fv.text, problem: "is not an item field (name, category, quantity, amount)")
                }
            }
            out.append(item)
        }
        return out
    }
}
