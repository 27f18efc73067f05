/// Reads the plain NDJSON line straight from its bytes into an event.
///
/// Nearly every line of an export is a flat object of known fields with unescaped
/// strings and plain numbers. Such a line is read here without building a JSON tree:
/// each field is kept as a place in the line and turned into the event's values by
/// the same ``Event/init(reading:zone:)`` that reads every other row. Anything else —
/// an escape, a `null`, a boolean, a nested value other than `services` and `items`,
/// a key this type does not read, a repeated key, a number that is not plain, text
/// after the object, a value that does not validate — gives nil, and the line is read
/// by the general path (``JSONReader``, ``RowConverter``), which then gives the same
/// event or words the error. Options that rewrite fields (`--map`, `--system`,
/// `--date-format`) always take the general path (``RowConverter/rewritesValues``).
struct DirectEventReader {
    private var slots = [Slot](repeating: Slot(), count: EventField.allCases.count)
    /// The keys the line has, and those with a value that is not an empty string.
    private var seen: UInt32 = 0, present: UInt32 = 0
    private var services: [String] = []
    private var items: [PurchaseItem] = []

    /// The event `line` holds, or nil when the general path must read it.
    mutating func event(_ line: UnsafeRawBufferPointer, zone: Zone) -> Event? {
        guard read(line) else { return nil }
        let fields = Fields(line: line, slots: slots, present: present, services: services, itemList: items)
        guard let event = try? Event(reading: fields, zone: zone), (try? event.validate()) != nil else { return nil }
        return event
    }

    /// Where a field's value lies in the line, and what it is.
    private struct Slot {
        enum Kind: UInt8 { case string, number, list }
        var start: Int32 = 0, end: Int32 = 0
        var kind = Kind.string
        var range: Range<Int> { Int(start)..<Int(end) }
    }

    private static let keys: [[UInt8]] = EventField.allCases.map { Array($0.text.utf8) }

    private static func field(_ key: UnsafeRawBufferPointer) -> EventField? {
        for (i, k) in keys.enumerated() where k.count == key.count && k.elementsEqual(key) {
            return EventField(rawValue: UInt8(i))
        }
        return nil
    }

    /// Reads the object's fields into the slots; false when the line is not in the plain form.
    private mutating func read(_ line: UnsafeRawBufferPointer) -> Bool {
        seen = 0
        present = 0
        services = []
        items = []
        var c = Cursor(b: line)
        c.space()
        guard c.take(0x7b) else { return false }
        c.space()
        while true {
            guard c.at(0x22), let key = c.string(), let field = Self.field(c.bytes(key)) else { return false }
            let bit = field.bit
            guard seen & bit == 0 else { return false }
            seen |= bit
            c.space()
            guard c.take(0x3a) else { return false }
            c.space()
            guard c.i < line.count else { return false }
            var slot = Slot()
            switch line[c.i] {
            case 0x22:
                guard let r = c.string() else { return false }
                // An empty string counts as absent, as in every row (RowConverter).
                if r.isEmpty { break }
                slot = Slot(start: Int32(r.lowerBound), end: Int32(r.upperBound), kind: .string)
                present |= bit
            case 0x2d, 0x30...0x39:
                guard let r = c.number() else { return false }
                slot = Slot(start: Int32(r.lowerBound), end: Int32(r.upperBound), kind: .number)
                present |= bit
            case 0x5b:
                switch field {
                case .services: guard let list = c.strings() else { return false }; services = list
                case .items: guard let list = c.items() else { return false }; items = list
                default: return false
                }
                slot.kind = .list
                present |= bit
            default:
                return false
            }
            slots[Int(field.rawValue)] = slot
            c.space()
            if c.take(0x2c) { c.space(); continue }
            guard c.take(0x7d) else { return false }
            break
        }
        c.space()
        return c.i == line.count
    }

    /// A place in the line, reading strict JSON (RFC 8259) in the plain form only.
    private struct Cursor {
        let b: UnsafeRawBufferPointer
        var i = 0

        func bytes(_ r: Range<Int>) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: b[r]) }
        func at(_ byte: UInt8) -> Bool { i < b.count && b[i] == byte }

        mutating func take(_ byte: UInt8) -> Bool {
            guard at(byte) else { return false }
            i += 1
            return true
        }

        mutating func space() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0a || b[i] == 0x0d { i += 1 }
        }

        /// A string without escapes (the cursor at its quote): the range of its
        /// text; nil for an escape, a control character, invalid UTF-8 or no end.
        mutating func string() -> Range<Int>? {
            i += 1
            let start = i
            var high: UInt8 = 0
            // Eight bytes at a time while none is a quote, a backslash or a control
            // character (each test flags a byte only when one of the eight is one; the
            // byte loop below then finds which).
            let ones: UInt64 = 0x0101_0101_0101_0101, tops: UInt64 = 0x8080_8080_8080_8080
            var words: UInt64 = 0
            while i + 8 <= b.count {
                let w = b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                let quote = w ^ 0x2222_2222_2222_2222, slash = w ^ 0x5c5c_5c5c_5c5c_5c5c
                let flagged = ((quote &- ones) & ~quote) | ((slash &- ones) & ~slash) | ((w &- 0x2020_2020_2020_2020) & ~w)
                if flagged & tops != 0 { break }
                words |= w
                i += 8
            }
            if words & tops != 0 { high = 0x80 }
            while i < b.count {
                let c = b[i]
                if c == 0x22 { break }
                if c == 0x5c || c < 0x20 { return nil }
                high |= c
                i += 1
            }
            guard i < b.count else { return nil }
            let r = start..<i
            i += 1
            if high >= 0x80, String(validating: bytes(r), as: UTF8.self) == nil { return nil }
            return r
        }

        func text(_ r: Range<Int>) -> String { String(decoding: bytes(r), as: UTF8.self) }

        /// A JSON number's text.
        mutating func number() -> Range<Int>? {
            let start = i
            func digit() -> Bool { i < b.count && b[i] >= 0x30 && b[i] <= 0x39 }
            _ = take(0x2d)
            guard digit() else { return nil }
            if b[i] == 0x30 { i += 1 } else { while digit() { i += 1 } }
            if take(0x2e) {
                guard digit() else { return nil }
                while digit() { i += 1 }
            }
            if take(0x65) || take(0x45) {
                if !take(0x2b) { _ = take(0x2d) }
                guard digit() else { return nil }
                while digit() { i += 1 }
            }
            return start..<i
        }

        /// Steps over `,` (true) or the closing byte (false), or fails (nil).
        mutating func next(closing: UInt8) -> Bool? {
            space()
            if take(0x2c) { space(); return true }
            return take(closing) ? false : nil
        }

        /// An array (the cursor at its bracket) whose elements `element` reads.
        mutating func array<T>(_ element: (inout Cursor) -> T?) -> [T]? {
            i += 1
            space()
            var out: [T] = []
            if take(0x5d) { return out }
            while true {
                guard let e = element(&self) else { return nil }
                out.append(e)
                guard let more = next(closing: 0x5d) else { return nil }
                if !more { return out }
            }
        }

        /// An array of strings.
        mutating func strings() -> [String]? {
            array { c in
                guard c.at(0x22), let r = c.string() else { return nil }
                return c.text(r)
            }
        }

        /// An array of purchase items, each an object of name, category (strings),
        /// quantity (a whole number) and amount (money), each at most once.
        mutating func items() -> [PurchaseItem]? {
            array { c in c.item() }
        }

        private mutating func item() -> PurchaseItem? {
            guard take(0x7b) else { return nil }
            space()
            var item = PurchaseItem()
            if take(0x7d) { return item }
            var seen: UInt8 = 0
            while true {
                guard at(0x22), let k = string() else { return nil }
                let key = bytes(k)
                let bit: UInt8
                if key.elementsEqual("name".utf8) { bit = 1 } else if key.elementsEqual("category".utf8) { bit = 2 }
                else if key.elementsEqual("quantity".utf8) { bit = 4 } else if key.elementsEqual("amount".utf8) { bit = 8 }
                else { return nil }
                guard seen & bit == 0 else { return nil }
                seen |= bit
                space()
                guard take(0x3a) else { return nil }
                space()
                switch bit {
                case 1, 2:
                    guard at(0x22), let r = string() else { return nil }
                    if bit == 1 { item.name = text(r) } else { item.category = text(r) }
                case 4:
                    guard let r = number(), let q = DirectEventReader.integer(bytes(r)) else { return nil }
                    item.quantity = q
                default:
                    guard let r = number(), let m = DirectEventReader.money(bytes(r)) else { return nil }
                    item.amount = m
                }
                guard let more = next(closing: 0x7d) else { return nil }
                if !more { return item }
            }
        }
    }

    /// A JSON number written as a whole number (`-?digits`) that fits; else nil.
    static func integer(_ t: UnsafeRawBufferPointer) -> Int64? {
        var k = 0, negative = false
        if k < t.count, t[k] == 0x2d { negative = true; k += 1 }
        guard k < t.count else { return nil }
        var v: Int64 = 0
        while k < t.count {
            let c = t[k]
            guard c >= 0x30 && c <= 0x39 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = negative ? m.subtractingReportingOverflow(Int64(c - 0x30)) : m.addingReportingOverflow(Int64(c - 0x30))
            guard !o1, !o2 else { return nil }
            v = a
            k += 1
        }
        return v
    }

    /// A JSON number read as ``Money/init(parsing:)`` reads it (`-?digits(.d{1,2})?`);
    /// nil for an exponent, more than two decimals or an amount past the limit.
    static func money(_ t: UnsafeRawBufferPointer) -> Money? {
        let negative = t.first == 0x2d
        return Money(unsigned: negative ? t.dropFirst() : t[...], negative: negative)
    }

    /// The fields of one line, read in place.
    private struct Fields: EventFieldReading {
        let line: UnsafeRawBufferPointer
        let slots: [Slot]
        let present: UInt32
        let services: [String]
        let itemList: [PurchaseItem]

        func slot(_ f: EventField) -> Slot? { present & f.bit != 0 ? slots[Int(f.rawValue)] : nil }
        func bytes(_ s: Slot) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: line[s.range]) }
        func text(_ s: Slot) -> String { String(decoding: bytes(s), as: UTF8.self) }

        func string(_ f: EventField) throws(EventValidationError) -> String? {
            guard let s = slot(f) else { return nil }
            guard s.kind != .list else { throw .readGenerally }
            return text(s)
        }

        func key(_ f: EventField) throws(EventValidationError) -> String? { try string(f) }

        func money(_ f: EventField) throws(EventValidationError) -> Money? {
            guard let s = slot(f) else { return nil }
            let m: Money?
            switch s.kind {
            case .number: m = DirectEventReader.money(bytes(s))
            case .string: m = Money(parsing: text(s))
            case .list: m = nil
            }
            guard let m else { throw .readGenerally }
            return m
        }

        func integer(_ f: EventField) throws(EventValidationError) -> Int64? {
            guard let s = slot(f) else { return nil }
            let v: Int64?
            switch s.kind {
            case .number: v = DirectEventReader.integer(bytes(s))
            case .string: v = Int64(text(s).trimmingWhitespace())
            case .list: v = nil
            }
            guard let v else { throw .readGenerally }
            return v
        }

        func stringList(_ f: EventField) throws(EventValidationError) -> [String] {
            guard let s = slot(f) else { return [] }
            switch s.kind {
            case .string: return Event.listItems(text(s))
            case .list where f == .services: return services
            default: throw .readGenerally
            }
        }

        func items() throws(EventValidationError) -> [PurchaseItem] {
            guard let s = slot(.items) else { return [] }
            guard s.kind == .list else { throw .readGenerally }
            return itemList
        }

        func instant(zone: Zone) throws(EventValidationError) -> Int64? {
            guard let s = slot(.at) else { return nil }
            guard s.kind == .string,
                  let ms = TimestampParser.parse(bytes: bytes(s).assumingMemoryBound(to: UInt8.self), zone: zone)
            else { throw .readGenerally }
            return ms
        }

        func extra(for type: EventType) throws(EventValidationError) -> String? {
            guard present & ~Event.knownFieldBits[Int(type.code)] == 0 else { throw .readGenerally }
            return nil
        }
    }
}
