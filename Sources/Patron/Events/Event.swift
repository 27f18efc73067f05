/// The kinds of event of SPEC 1.2.
public enum EventType: String, CaseIterable, Sendable, Codable {
    case client, visit, purchase, refund, reward, tier, membership, feedback, forget, merge

    /// The byte stored for the type in the binary encoding (stable across versions).
    var code: UInt8 {
        switch self {
        case .client: 1
        case .visit: 2
        case .purchase: 3
        case .refund: 4
        case .reward: 5
        case .tier: 6
        case .membership: 7
        case .feedback: 8
        case .forget: 9
        case .merge: 10
        }
    }

    /// The type named `text` in any letter case (`Visit`, `VISIT`): compared byte by
    /// byte, without a lower-cased copy of the text for every row read.
    init?(named text: String) {
        var t = text
        let ascii: EventType?? = t.withUTF8 { b in
            guard b.allSatisfy({ $0 < 0x80 }) else { return .none }
            // A letter's byte with 0x20 set is its lower case; the names are letters only.
            return .some(EventType.allCases.first { $0.rawValue.utf8.elementsEqual(b, by: { $0 == $1 | 0x20 }) })
        }
        guard let found = ascii ?? EventType(rawValue: text.lowercased()) else { return nil }
        self = found
    }

    init?(code: UInt8) {
        switch code {
        case 1: self = .client
        case 2: self = .visit
        case 3: self = .purchase
        case 4: self = .refund
        case 5: self = .reward
        case 6: self = .tier
        case 7: self = .membership
        case 8: self = .feedback
        case 9: self = .forget
        case 10: self = .merge
        default: return nil
        }
    }
}

/// One fact about a client: a visit, a purchase, a tier change… (SPEC 1).
///
/// Build events in Swift and append them with ``Database/append(_:expectedVersions:)``,
/// or import them from NDJSON. `at` is business time in milliseconds since the
/// epoch; it may arrive out of order.
///
/// ```swift
/// let e = Event(client: "c-17", at: try Event.instant("2025-03-14T10:30:00Z"),
///               payload: .visit(Visit(location: "Midtown", provider: "Dr. Kim", services: ["botox"])))
/// ```
public struct Event: Sendable, Equatable {
    /// Caller-supplied id (at most 128 bytes); appending an id already stored is a no-op.
    /// When nil, the library assigns a unique, time-ordered one.
    public var id: String?
    /// The client's external key (at most 128 bytes).
    public var client: String
    /// When it happened, in milliseconds since 1970-01-01T00:00:00Z.
    public var at: Int64
    /// The type-specific fields.
    public var payload: Payload
    /// Unknown fields from the input, kept as a JSON object text (forward compatibility).
    /// Treated as personal data: stored encrypted and erased by `forget`.
    public var extra: String?

    /// An event; see each property.
    public init(id: String? = nil, client: String, at: Int64, payload: Payload, extra: String? = nil) {
        self.id = id
        self.client = client
        self.at = at
        self.payload = payload
        self.extra = extra
    }

    /// The event's type.
    public var type: EventType { payload.type }

    /// Parses an ISO-8601 `at` in UTC (or `zone`), throwing a validation error naming `at`.
    public static func instant(_ text: String, zone: Zone = .utc) throws(EventValidationError) -> Int64 {
        guard let ms = TimestampParser.parse(text, zone: zone) else {
            throw EventValidationError(field: "at", value: text, problem: "is not an ISO-8601 date or date-time")
        }
        return ms
    }
}

/// The type-specific fields of an event.
public enum Payload: Sendable, Equatable {
    case client(ClientDetails)
    case visit(Visit)
    case purchase(Purchase)
    case refund(Refund)
    case reward(Reward)
    case tier(TierChange)
    case membership(Membership)
    case feedback(Feedback)
    case forget
    case merge(Merge)

    /// The event type of this payload.
    public var type: EventType {
        switch self {
        case .client: .client
        case .visit: .visit
        case .purchase: .purchase
        case .refund: .refund
        case .reward: .reward
        case .tier: .tier
        case .membership: .membership
        case .feedback: .feedback
        case .forget: .forget
        case .merge: .merge
        }
    }
}

/// Registers or updates a client; each present field overrides that field's earlier
/// value (by `at`, then position). `name`, `email` and `phone` are personal data.
public struct ClientDetails: Sendable, Equatable {
    public var name: String?
    public var email: String?
    public var phone: String?
    public var location: String?
    /// Acquisition channel.
    public var source: String?
    public var acquisitionCost: Money?
    /// Client details; absent fields leave earlier values alone.
    public init(name: String? = nil, email: String? = nil, phone: String? = nil, location: String? = nil,
                source: String? = nil, acquisitionCost: Money? = nil) {
        self.name = name
        self.email = email
        self.phone = phone
        self.location = location
        self.source = source
        self.acquisitionCost = acquisitionCost
    }
}

/// A visit to the business.
public struct Visit: Sendable, Equatable {
    public var location: String?
    public var provider: String?
    public var services: [String]
    /// A visit; see each property.
    public init(location: String? = nil, provider: String? = nil, services: [String] = []) {
        self.location = location
        self.provider = provider
        self.services = services
    }
}

/// One line of a purchase; `amount` is the line total.
public struct PurchaseItem: Sendable, Equatable {
    public var name: String?
    public var category: String?
    public var quantity: Int64
    public var amount: Money?
    /// An item; quantity defaults to 1.
    public init(name: String? = nil, category: String? = nil, quantity: Int64 = 1, amount: Money? = nil) {
        self.name = name
        self.category = category
        self.quantity = quantity
        self.amount = amount
    }
}

/// A purchase; `amount` is the total (the items' sum when not given).
public struct Purchase: Sendable, Equatable {
    public var amount: Money
    public var items: [PurchaseItem]
    public var location: String?
    public var provider: String?
    /// Sales channel, e.g. `clinic`, `online`.
    public var channel: String?
    /// A purchase of `amount`, or of the items' summed amounts when `amount` is nil.
    public init(amount: Money? = nil, items: [PurchaseItem] = [], location: String? = nil,
                provider: String? = nil, channel: String? = nil) {
        // Saturating: a sum past the money limit is then rejected by validation, never a trap.
        self.amount = amount ?? Money(cents: items.reduce(Int64(0)) { sum, item in
            let (v, overflow) = sum.addingReportingOverflow(item.amount?.cents ?? 0)
            return overflow ? (sum < 0 ? Int64.min : Int64.max) : v
        })
        self.items = items
        self.location = location
        self.provider = provider
        self.channel = channel
    }
}

/// Money given back; `amount` is positive.
public struct Refund: Sendable, Equatable {
    public var amount: Money
    /// The refunded purchase's event id.
    public var purchase: String?
    /// A refund; see each property.
    public init(amount: Money, purchase: String? = nil) {
        self.amount = amount
        self.purchase = purchase
    }
}

/// Loyalty points: positive earns, negative redeems.
public struct Reward: Sendable, Equatable {
    public var points: Int64
    /// `earned`, `redeemed`, `expired` or `adjusted`.
    public var kind: String?
    public var reason: String?
    /// A reward; see each property.
    public init(points: Int64, kind: String? = nil, reason: String? = nil) {
        self.points = points
        self.kind = kind
        self.reason = reason
    }
}

/// A loyalty tier change.
public struct TierChange: Sendable, Equatable {
    public var tier: String
    /// A tier change to `tier`.
    public init(tier: String) { self.tier = tier }
}

/// Start or cancel of a membership.
public enum MembershipAction: String, Sendable, Equatable, CaseIterable {
    case start, cancel
}

/// A membership change.
public struct Membership: Sendable, Equatable {
    public var plan: String?
    public var action: MembershipAction
    /// Fee per month.
    public var fee: Money?
    /// A membership change; see each property.
    public init(plan: String? = nil, action: MembershipAction, fee: Money? = nil) {
        self.plan = plan
        self.action = action
        self.fee = fee
    }
}

/// A satisfaction score; `comment` is personal data.
public struct Feedback: Sendable, Equatable {
    /// 1 to 5.
    public var score: Int64
    public var comment: String?
    /// The visit's event id.
    public var visit: String?
    /// Feedback; see each property.
    public init(score: Int64, comment: String? = nil, visit: String? = nil) {
        self.score = score
        self.comment = comment
        self.visit = visit
    }
}

/// Two client keys are the same person; from then on everything counts under `into`.
public struct Merge: Sendable, Equatable {
    public var into: String
    /// A merge into the client key `into`.
    public init(into: String) { self.into = into }
}

/// An event as stored: its position in the global log, when it was recorded, the event.
public struct RecordedEvent: Sendable, Equatable {
    /// Gap-free, strictly increasing, starting at 1.
    public let position: UInt64
    /// When the event was appended, in milliseconds since the epoch.
    public let recorded: Int64
    /// The event; personal fields are nil once its client is forgotten.
    public let event: Event
}
