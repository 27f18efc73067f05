import LMDB

/// A stored event read in place from the memory map: the header fields are decoded
/// (type, times, client), the rest on demand. No allocation unless you ask for strings.
///
/// Valid only inside the ``Database/scanLog(from:_:)`` callback: copy what you keep.
/// The checksum is not checked here; ``Database/verify()`` checks every one.
public struct EventView {
    /// The event's position in the log.
    public let position: UInt64
    /// The event's type.
    public let type: EventType
    /// Business time, milliseconds since the epoch.
    public let at: Int64
    /// When it was appended, milliseconds since the epoch.
    public let recorded: Int64
    /// The internal number of the event's client key.
    public let clientNumber: UInt32
    /// The UTF-8 bytes of the client key.
    public let clientKeyBytes: UnsafeRawBufferPointer
    let bytes: UnsafeRawBufferPointer
    let fieldsOffset: Int

    init(position: UInt64, bytes: UnsafeRawBufferPointer) throws(CorruptData) {
        guard bytes.count >= EventCodec.headerSize, bytes[0] == EventCodec.formatVersion,
              let type = EventType(code: bytes[1]) else { throw CorruptData("position \(position): not an event record") }
        var r = ByteReader(bytes, offset: EventCodec.headerSize)
        self.position = position
        self.type = type
        at = try r.svarint()
        recorded = try r.svarint()
        clientNumber = UInt32(truncatingIfNeeded: try r.varint())
        clientKeyBytes = try r.bytes(try r.count())
        try EventCodec.skipID(&r)
        self.bytes = bytes
        fieldsOffset = r.offset
    }

    /// The client key.
    public var client: String { String(decoding: clientKeyBytes, as: UTF8.self) }

    /// The amount of a purchase or refund (nil for other types).
    public var amount: Money? {
        guard type == .purchase || type == .refund else { return nil }
        var r = ByteReader(bytes, offset: fieldsOffset)
        return (try? r.svarint()).map(Money.init(cents:))
    }

    /// The whole event (personal fields absent; see ``Database/event(at:)`` for those).
    public func event() throws -> Event { try EventCodec.decode(bytes, position: position, verifyChecksum: false).event }
}

extension Database {
    /// Calls `body` with each stored event from `position` on, read in place, in one
    /// snapshot, until it returns false: the fast path for scans over the whole log.
    ///
    /// The body runs inside a read transaction: do not append from it (growing the
    /// map waits for this process's readers to finish, so the append would wait forever).
    public func scanLog(from position: UInt64 = 1, _ body: (EventView) throws -> Bool) throws {
        try store.env.read { txn in
            try txn.withCursor(store.schema.log) { c in
                var entry = try c.seek(max(position, 1))
                while let (k, v) = entry {
                    guard try body(try EventView(position: k.load(at: 0), bytes: v)) else { return }
                    entry = try c.next()
                }
            }
        }
    }
}

/// Receives the type fields of a stored event, read in place (see
/// ``EventView/visitFields(_:)``): strings and lists arrive as raw UTF-8 bytes, valid
/// only during the call. Slots name the event's string fields in stored order:
///
/// | type | number | slot 0 | slot 1 | slot 2 | list |
/// |---|---|---|---|---|---|
/// | client | acquisition cost | location | source | | |
/// | visit | | location | provider | | services |
/// | purchase | amount | location | provider | channel | items |
/// | refund | amount | | | | |
/// | reward | points | kind | reason | | |
/// | tier | | tier | | | |
/// | membership | fee | plan | action (`start`/`cancel`) | | |
/// | feedback | score | | | | |
///
/// Event references (a refund's purchase, a feedback's visit) and merge targets are
/// not reported.
protocol EventFieldVisitor {
    mutating func number(_ value: Int64?)
    mutating func string(_ slot: Int, _ utf8: UnsafeRawBufferPointer?)
    mutating func service(_ utf8: UnsafeRawBufferPointer)
    mutating func item(name: UnsafeRawBufferPointer?, category: UnsafeRawBufferPointer?, quantity: Int64, amount: Int64?)
}

extension EventView {
    /// Hands the event's type fields to `visitor`, in stored order, without allocating.
    func visitFields(_ visitor: inout some EventFieldVisitor) throws(CorruptData) {
        var r = ByteReader(bytes, offset: fieldsOffset)
        func optional(_ r: inout ByteReader) throws(CorruptData) -> UnsafeRawBufferPointer? {
            let n = try r.varint()
            if n == 0 { return nil }
            guard n - 1 <= UInt64(r.base.count - r.offset) else { throw CorruptData("length runs past the end at byte \(r.offset)") }
            return try r.bytes(Int(n - 1))
        }
        switch type {
        case .client:
            visitor.string(0, try optional(&r))
            visitor.string(1, try optional(&r))
            visitor.number(try r.optionalSigned())
        case .visit:
            visitor.string(0, try optional(&r))
            visitor.string(1, try optional(&r))
            let n = try r.count()
            for _ in 0..<n { visitor.service(try r.bytes(try r.count())) }
        case .purchase:
            visitor.number(try r.svarint())
            visitor.string(0, try optional(&r))
            visitor.string(1, try optional(&r))
            visitor.string(2, try optional(&r))
            let n = try r.count()
            for _ in 0..<n {
                let name = try optional(&r)
                let category = try optional(&r)
                let quantity = try r.svarint()
                visitor.item(name: name, category: category, quantity: quantity, amount: try r.optionalSigned())
            }
        case .refund:
            visitor.number(try r.svarint())
        case .reward:
            visitor.number(try r.svarint())
            visitor.string(0, try optional(&r))
            visitor.string(1, try optional(&r))
        case .tier:
            visitor.string(0, try r.bytes(try r.count()))
        case .membership:
            let code = try r.u8()
            guard code == 1 || code == 2 else { throw CorruptData("position \(position): unknown membership action code \(code)") }
            visitor.string(0, try optional(&r))
            let action: StaticString = code == 1 ? "start" : "cancel"
            visitor.string(1, UnsafeRawBufferPointer(start: action.utf8Start, count: action.utf8CodeUnitCount))
            visitor.number(try r.optionalSigned())
        case .feedback:
            visitor.number(try r.svarint())
        case .forget, .merge:
            break
        }
    }
}
