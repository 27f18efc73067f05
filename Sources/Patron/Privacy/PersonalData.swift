/// The personal fields of an event (name, email, phone, feedback comment, unknown
/// extra fields), packed and encrypted together under the client's key.
///
/// The nonce is the event's position, so no two plaintexts share (key, nonce).
struct PersonalData: Equatable {
    var name: String?
    var email: String?
    var phone: String?
    var comment: String?
    var extra: String?

    enum Tag: UInt8 { case name = 1, email, phone, comment, extra }

    var isEmpty: Bool { name == nil && email == nil && phone == nil && comment == nil && extra == nil }

    /// Whether events of `type` have personal fields besides `extra`.
    static func mayHold(_ type: EventType) -> Bool { type == .client || type == .feedback }

    /// The personal fields of `event`.
    init(of event: Event) {
        extra = event.extra
        switch event.payload {
        case .client(let c): name = c.name; email = c.email; phone = c.phone
        case .feedback(let f): comment = f.comment
        default: break
        }
    }

    init() {}

    /// Puts the fields back into `event`.
    func restore(into event: inout Event) {
        event.extra = extra
        switch event.payload {
        case .client(var c):
            c.name = name; c.email = email; c.phone = phone
            event.payload = .client(c)
        case .feedback(var f):
            f.comment = comment
            event.payload = .feedback(f)
        default: break
        }
    }

    /// Removes the personal fields from `event`.
    static func strip(_ event: inout Event) { PersonalData().restore(into: &event) }

    func value(_ tag: Tag) -> String? {
        switch tag {
        case .name: name
        case .email: email
        case .phone: phone
        case .comment: comment
        case .extra: extra
        }
    }

    private static func nonce(position: UInt64) -> [UInt8] {
        var n = [UInt8](repeating: 0, count: 12)
        for i in 0..<8 { n[i] = UInt8(truncatingIfNeeded: position >> (8 * UInt64(i))) }
        n[8] = 0x50 // 'P': a domain byte, so these nonces never meet another use of the key.
        return n
    }

    /// The encrypted form stored in the log.
    func sealed(key: [UInt8], position: UInt64) -> [UInt8] {
        var w = ByteWriter()
        for tag in [Tag.name, .email, .phone, .comment, .extra] {
            if let v = value(tag) { w.u8(tag.rawValue); w.string(v) }
        }
        return ChaCha20.apply(key: key, nonce: Self.nonce(position: position), to: w.bytes)
    }

    /// Decrypts what ``sealed(key:position:)`` made; nil when the bytes do not decode.
    static func open(_ sealed: [UInt8], key: [UInt8], position: UInt64) -> PersonalData? {
        let plain = ChaCha20.apply(key: key, nonce: nonce(position: position), to: sealed)
        return plain.withUnsafeBytes { buf -> PersonalData? in
            var r = ByteReader(buf)
            var p = PersonalData()
            while !r.atEnd {
                guard let t = try? r.u8(), let tag = Tag(rawValue: t), let s = try? r.string() else { return nil }
                switch tag {
                case .name: p.name = s
                case .email: p.email = s
                case .phone: p.phone = s
                case .comment: p.comment = s
                case .extra: p.extra = s
                }
            }
            return p
        }
    }
}
