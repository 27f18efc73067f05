/// The binary form of an event in the log.
///
/// ```
/// [0]    format version (1)
/// [1]    type code
/// [2..6] CRC-32C of bytes 6… (little-endian)
/// [6…]   at (zigzag varint ms), recorded (zigzag varint ms), client number (varint),
///        client key, id, type fields, sealed personal data (blob)
/// ```
///
/// Money is integer cents; optional strings are length + 1 with 0 for absent. The id is
/// such a string, or an id the database assigned (``GeneratedID``) as its bits: the
/// value ``assignedAtRecorded`` then its 40 random bits (5 bytes, little-endian; its
/// milliseconds are `recorded`, its position the record's), or ``assignedWithTime``,
/// 6 bytes of milliseconds and the 5 random bytes. 7 or 13 bytes instead of 27.
/// Personal fields are never in plain text: they are sealed under the client's key.
enum EventCodec {
    static let formatVersion: UInt8 = 1
    static let headerSize = 6
    /// Id slot values past any string's length + 1 (ids are at most 128 bytes).
    static let assignedAtRecorded: UInt64 = 200
    static let assignedWithTime: UInt64 = 201

    /// The stored bytes of `event` at `position`. `sealed` is the already-encrypted
    /// personal data (empty when none or when the client is forgotten).
    static func encode(_ event: Event, clientNumber: UInt32, recorded: Int64, sealed: [UInt8]) -> [UInt8] {
        var w = ByteWriter(capacity: 96)
        encode(event, clientNumber: clientNumber, recorded: recorded, sealed: sealed, into: &w)
        return w.bytes
    }

    /// Encodes into `w`, replacing what it held (its storage is kept: no allocation per
    /// event once it is large enough); `assigned`, when given, is stored in place of
    /// `event.id`.
    static func encode(_ event: Event, assigned: GeneratedID? = nil, clientNumber: UInt32, recorded: Int64,
                       sealed: [UInt8], into w: inout ByteWriter) {
        w.bytes.removeAll(keepingCapacity: true)
        encode(event, assigned: assigned, clientNumber: clientNumber, recorded: recorded, sealed: sealed, appendingTo: &w)
    }

    /// Encodes after what `w` holds (many records one after another in one buffer).
    static func encode(_ event: Event, assigned: GeneratedID? = nil, clientNumber: UInt32, recorded: Int64,
                       sealed: [UInt8], appendingTo w: inout ByteWriter) {
        withUnsafePointer(to: event) { e in
            encode(at: e, assigned: assigned, clientNumber: clientNumber, recorded: recorded, sealed: sealed, appendingTo: &w)
        }
    }

    /// Encodes the event `event` points to after what `w` holds, reading its fields in
    /// place: an event passed by value to a call that writes memory is copied first,
    /// retaining each of its strings and lists (the compiler cannot tell the write
    /// leaves the event alone).
    static func encode(at event: UnsafePointer<Event>, assigned: GeneratedID? = nil, clientNumber: UInt32, recorded: Int64,
                       sealed: [UInt8], appendingTo w: inout ByteWriter) {
        let start = w.bytes.count
        w.u8(formatVersion)
        w.u8(event.pointee.type.code)
        w.fixed(UInt32(0))
        w.svarint(event.pointee.at)
        w.svarint(recorded)
        w.varint(UInt64(clientNumber))
        w.string(event.pointee.client)
        if let assigned {
            if assigned.ms == recorded {
                w.varint(assignedAtRecorded)
            } else {
                w.varint(assignedWithTime)
                for i in 0..<6 { w.u8(UInt8(truncatingIfNeeded: assigned.ms >> (8 * i))) }
            }
            for i in 0..<5 { w.u8(UInt8(truncatingIfNeeded: assigned.random >> (8 * i))) }
        } else {
            w.optionalString(event.pointee.id)
        }
        switch event.pointee.payload {
        case .client(let c):
            w.optionalString(c.location)
            w.optionalString(c.source)
            w.optionalSigned(c.acquisitionCost?.cents)
        case .visit(let v):
            w.optionalString(v.location)
            w.optionalString(v.provider)
            w.varint(UInt64(v.services.count))
            for s in v.services { w.string(s) }
        case .purchase(let p):
            w.svarint(p.amount.cents)
            w.optionalString(p.location)
            w.optionalString(p.provider)
            w.optionalString(p.channel)
            w.varint(UInt64(p.items.count))
            for item in p.items {
                w.optionalString(item.name)
                w.optionalString(item.category)
                w.svarint(item.quantity)
                w.optionalSigned(item.amount?.cents)
            }
        case .refund(let r):
            w.svarint(r.amount.cents)
            w.optionalString(r.purchase)
        case .reward(let r):
            w.svarint(r.points)
            w.optionalString(r.kind)
            w.optionalString(r.reason)
        case .tier(let t):
            w.string(t.tier)
        case .membership(let m):
            w.u8(m.action == .start ? 1 : 2)
            w.optionalString(m.plan)
            w.optionalSigned(m.fee?.cents)
        case .feedback(let f):
            w.svarint(f.score)
            w.optionalString(f.visit)
        case .forget:
            break
        case .merge(let m):
            w.string(m.into)
        }
        w.blob(sealed)
        let crc = w.bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[(start + headerSize)...])) }
        withUnsafeBytes(of: crc.littleEndian) { raw in
            for i in 0..<4 { w.bytes[start + 2 + i] = raw[i] }
        }
    }

    /// Whether the stored checksum matches the bytes.
    static func checksumMatches(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= headerSize else { return false }
        let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        return stored == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[headerSize...]))
    }

    /// A decoded log record: the event (personal fields absent), its client number,
    /// when it was recorded, and the sealed personal data.
    struct Decoded {
        var event: Event
        var clientNumber: UInt32
        var recorded: Int64
        var sealed: [UInt8]
    }

    /// An id as a record holds it.
    enum StoredID {
        case none
        /// A given id (or an assigned one of format 3, or of the first format-4 builds).
        case text(UnsafeRawBufferPointer)
        /// An assigned id: its bits, the position being the record's.
        case assigned(ms: Int64, random: UInt64)

        /// The id, for the record at `position`.
        func string(position: UInt64) -> String? {
            switch self {
            case .none: return nil
            case .text(let b): return String(decoding: b, as: UTF8.self)
            case .assigned(let ms, let random): return GeneratedID(ms: ms, position: position, random: random).text
            }
        }

        /// Whether it is the id spelled `text`, for the record at `position`.
        func matches(_ text: UnsafeRawBufferPointer, position: UInt64) -> Bool {
            switch self {
            case .none: return false
            case .text(let b): return keyOrder(b, text) == 0
            case .assigned(let ms, let random):
                return GeneratedID(text: text) == GeneratedID(ms: ms, position: position, random: random)
            }
        }
    }

    /// Reads the id slot (after the client key), `recorded` being the record's.
    static func readID(_ r: inout ByteReader, recorded: Int64) throws(CorruptData) -> StoredID {
        let offset = r.offset
        let n = try r.varint()
        func little(_ count: Int) throws(CorruptData) -> UInt64 {
            let b = try r.bytes(count)
            var v: UInt64 = 0
            for i in 0..<count { v |= UInt64(b[i]) << (8 * i) }
            return v
        }
        switch n {
        case 0: return .none
        case assignedAtRecorded: return .assigned(ms: recorded, random: try little(5))
        case assignedWithTime:
            let ms = Int64(try little(6))
            return .assigned(ms: ms, random: try little(5))
        default:
            r.offset = offset
            return .text(try r.optionalBytes() ?? UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }

    /// Moves past the id slot (after the client key) without reading the id.
    static func skipID(_ r: inout ByteReader) throws(CorruptData) {
        switch try r.varint() {
        case 0: return
        case assignedAtRecorded: _ = try r.bytes(5)
        case assignedWithTime: _ = try r.bytes(11)
        case let n:
            guard n - 1 <= UInt64(r.base.count - r.offset) else { throw CorruptData("length runs past the end at byte \(r.offset)") }
            _ = try r.bytes(Int(n - 1))
        }
    }

    /// The id a stored record holds, read from its header alone; nil when the record
    /// is not one this build reads.
    static func storedID(_ bytes: UnsafeRawBufferPointer) -> StoredID? {
        guard bytes.count >= headerSize, bytes[0] == formatVersion else { return nil }
        var r = ByteReader(bytes, offset: headerSize)
        do {
            _ = try r.svarint()
            let recorded = try r.svarint()
            _ = try r.varint()
            _ = try r.bytes(try r.count())
            return try readID(&r, recorded: recorded)
        } catch {
            return nil
        }
    }

    /// Decodes stored bytes; a wrong version or malformed record throws ``CorruptData``.
    /// The checksum is checked only when `verifyChecksum` is true.
    static func decode(_ bytes: UnsafeRawBufferPointer, position: UInt64, verifyChecksum: Bool) throws(CorruptData) -> Decoded {
        guard bytes.count >= headerSize else { throw CorruptData("record of \(bytes.count) bytes is shorter than a header") }
        guard bytes[0] == formatVersion else { throw CorruptData("unknown event format version \(bytes[0])") }
        guard let type = EventType(code: bytes[1]) else { throw CorruptData("unknown event type code \(bytes[1])") }
        if verifyChecksum && !checksumMatches(bytes) { throw CorruptData("checksum mismatch") }
        var r = ByteReader(bytes, offset: headerSize)
        let at = try r.svarint()
        let recorded = try r.svarint()
        let clientNumber = UInt32(truncatingIfNeeded: try r.varint())
        let client = try r.string()
        let id = try readID(&r, recorded: recorded).string(position: position)
        let payload: Payload
        switch type {
        case .client:
            let location = try r.optionalString()
            let source = try r.optionalString()
            let cost = try r.optionalSigned().map { Money(cents: $0) }
            payload = .client(ClientDetails(location: location, source: source, acquisitionCost: cost))
        case .visit:
            let location = try r.optionalString()
            let provider = try r.optionalString()
            let n = try r.count()
            var services: [String] = []
            services.reserveCapacity(n)
            for _ in 0..<n { services.append(try r.string()) }
            payload = .visit(Visit(location: location, provider: provider, services: services))
        case .purchase:
            let amount = Money(cents: try r.svarint())
            let location = try r.optionalString()
            let provider = try r.optionalString()
            let channel = try r.optionalString()
            let n = try r.count()
            var items: [PurchaseItem] = []
            items.reserveCapacity(n)
            for _ in 0..<n {
                let name = try r.optionalString()
                let category = try r.optionalString()
                let quantity = try r.svarint()
                let itemAmount = try r.optionalSigned().map { Money(cents: $0) }
                items.append(PurchaseItem(name: name, category: category, quantity: quantity, amount: itemAmount))
            }
            payload = .purchase(Purchase(amount: amount, items: items, location: location, provider: provider, channel: channel))
        case .refund:
            let amount = Money(cents: try r.svarint())
            payload = .refund(Refund(amount: amount, purchase: try r.optionalString()))
        case .reward:
            let points = try r.svarint()
            let kind = try r.optionalString()
            payload = .reward(Reward(points: points, kind: kind, reason: try r.optionalString()))
        case .tier:
            payload = .tier(TierChange(tier: try r.string()))
        case .membership:
            let code = try r.u8()
            guard code == 1 || code == 2 else { throw CorruptData("unknown membership action code \(code)") }
            let plan = try r.optionalString()
            let fee = try r.optionalSigned().map { Money(cents: $0) }
            payload = .membership(Membership(plan: plan, action: code == 1 ? .start : .cancel, fee: fee))
        case .feedback:
            let score = try r.svarint()
            payload = .feedback(Feedback(score: score, visit: try r.optionalString()))
        case .forget:
            payload = .forget
        case .merge:
            payload = .merge(Merge(into: try r.string()))
        }
        let sealed = try r.blob()
        guard r.atEnd else { throw CorruptData("\(bytes.count - r.offset) stray bytes after the event") }
        return Decoded(event: Event(id: id, client: client, at: at, payload: payload),
                       clientNumber: clientNumber, recorded: recorded, sealed: sealed)
    }
}
