/// The named fields an input row may give an event (SPEC 1.2), as written in NDJSON
/// keys and CSV headers.
enum EventField: UInt8, CaseIterable {
    case type, id, client, at, name, email, phone, location, source, acquisitionCost
    case provider, services, amount, items, channel, purchase, points, kind, reason
    case tier, plan, action, fee, score, comment, visit, into

    /// The field's name as written (`acquisition_cost`).
    var text: String { Self.texts[Int(rawValue)] }

    /// The field's bit in a set of fields (there are fewer than 32).
    var bit: UInt32 { 1 << UInt32(rawValue) }

    /// The field named `text`, if it is one.
    init?(text: String) {
        guard let i = Self.texts.firstIndex(of: text), let f = EventField(rawValue: UInt8(i)) else { return nil }
        self = f
    }

    private static let texts: [String] = allCases.map { $0 == .acquisitionCost ? "acquisition_cost" : "\($0)" }
}

/// Typed access to the fields of one input row, however it was read. Each failure
/// names the field and the value; a field that is absent reads as nil (or empty).
protocol EventFieldReading {
    /// A text field: a string, or a number or boolean taken as its text.
    func string(_ field: EventField) throws(EventValidationError) -> String?
    /// A client key or event id: a string, or a number taken as its text.
    func key(_ field: EventField) throws(EventValidationError) -> String?
    func money(_ field: EventField) throws(EventValidationError) -> Money?
    func integer(_ field: EventField) throws(EventValidationError) -> Int64?
    /// A list of strings: an array, or one string split on `;`.
    func stringList(_ field: EventField) throws(EventValidationError) -> [String]
    /// The purchase items.
    func items() throws(EventValidationError) -> [PurchaseItem]
    /// The instant of the `at` field in `zone`.
    func instant(zone: Zone) throws(EventValidationError) -> Int64?
    /// The fields an event of `type` does not read, as one JSON object text (nil when none).
    func extra(for type: EventType) throws(EventValidationError) -> String?
}

extension EventValidationError {
    /// Thrown by a direct reader (``DirectEventReader``, ``DirectCSVEvents``) for a
    /// row the general path must read, which words the real error; never shown.
    static let readGenerally = EventValidationError(field: "", value: nil, problem: "")
}

extension EventFieldReading {
    func instant(zone: Zone) throws(EventValidationError) -> Int64? {
        guard let text = try key(.at) else { return nil }
        return try Event.instant(text, zone: zone)
    }
}

extension Event {
    /// The fields each type reads, as a set of ``EventField/bit``s, by type code.
    static let knownFieldBits: [UInt32] = {
        var bits = [UInt32](repeating: 0, count: 256)
        for (type, names) in knownFields {
            bits[Int(type.code)] = names.reduce(0) { $0 | (EventField(text: $1)?.bit ?? 0) }
        }
        return bits
    }()

    /// Builds an event from the fields of one row, without validating it (callers
    /// run ``validate()`` and word its error from the input as written).
    init(reading f: some EventFieldReading, zone: Zone) throws(EventValidationError) {
        guard let typeName = try f.string(.type) else {
            throw EventValidationError(field: "type", value: nil, problem: "is missing")
        }
        guard let type = EventType(named: typeName) else {
            throw EventValidationError(field: "type", value: typeName,
                                       problem: "is not a known type (\(EventType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard let client = try f.key(.client) else { throw EventValidationError(field: "client", value: nil, problem: "is missing") }
        guard let at = try f.instant(zone: zone) else { throw EventValidationError(field: "at", value: nil, problem: "is missing") }

        let payload: Payload
        switch type {
        case .client:
            payload = .client(ClientDetails(name: try f.string(.name), email: try f.string(.email), phone: try f.string(.phone),
                                            location: try f.string(.location), source: try f.string(.source),
                                            acquisitionCost: try f.money(.acquisitionCost)))
        case .visit:
            payload = .visit(Visit(location: try f.string(.location), provider: try f.string(.provider),
                                   services: try f.stringList(.services)))
        case .purchase:
            let items = try f.items()
            let amount = try f.money(.amount)
            if amount == nil && !items.contains(where: { $0.amount != nil }) {
                throw EventValidationError(field: "amount", value: nil, problem: "is missing (give amount, or items with amounts)")
            }
            payload = .purchase(Purchase(amount: amount, items: items, location: try f.string(.location),
                                         provider: try f.string(.provider), channel: try f.string(.channel)))
        case .refund:
            guard let amount = try f.money(.amount) else { throw EventValidationError(field: "amount", value: nil, problem: "is missing") }
            payload = .refund(Refund(amount: amount, purchase: try f.key(.purchase)))
        case .reward:
            guard let points = try f.integer(.points) else { throw EventValidationError(field: "points", value: nil, problem: "is missing") }
            payload = .reward(Reward(points: points, kind: try f.string(.kind), reason: try f.string(.reason)))
        case .tier:
            guard let tier = try f.string(.tier) else { throw EventValidationError(field: "tier", value: nil, problem: "is missing") }
            payload = .tier(TierChange(tier: tier))
        case .membership:
            guard let actionText = try f.string(.action) else {
                throw EventValidationError(field: "action", value: nil, problem: "is missing (start or cancel)")
            }
            guard let action = MembershipAction(rawValue: actionText.lowercased()) else {
                throw EventValidationError(field: "action", value: actionText, problem: "is not a membership action (start or cancel)")
            }
            payload = .membership(Membership(plan: try f.string(.plan), action: action, fee: try f.money(.fee)))
        case .feedback:
            guard let score = try f.integer(.score) else { throw EventValidationError(field: "score", value: nil, problem: "is missing") }
            payload = .feedback(Feedback(score: score, comment: try f.string(.comment), visit: try f.key(.visit)))
        case .forget:
            payload = .forget
        case .merge:
            guard let into = try f.key(.into) else { throw EventValidationError(field: "into", value: nil, problem: "is missing") }
            payload = .merge(Merge(into: into))
        }
        self.init(id: try f.key(.id), client: client, at: at, payload: payload, extra: try f.extra(for: type))
    }

    /// The items of a list written as one string: split on `;`, each trimmed, empty ones dropped.
    static func listItems(_ text: String) -> [String] {
        text.split(separator: ";").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
    }
}
