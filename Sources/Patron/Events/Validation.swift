/// A rejected event: names the field and the offending value (SPEC 1.3).
///
/// ```
/// score "7": must be an integer from 1 to 5
/// ```
public struct EventValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The field at fault (`type`, `client`, `at`, `amount`, `items[2].amount`, …).
    public let field: String
    /// The offending value as written, or nil when the field is missing.
    public let value: String?
    /// What is wrong with it.
    public let problem: String

    /// An error about `field`; see each property.
    public init(field: String, value: String?, problem: String) {
        self.field = field
        self.value = value
        self.problem = problem
    }

    public var description: String {
        guard let value else { return "\(field): \(problem)" }
        let shown = value.count > 60 ? String(value.prefix(57)) + "…" : value
        return "\(field) \"\(shown)\": \(problem)"
    }
}

/// Size limits on stored strings, in UTF-8 bytes.
public enum Limits {
    /// Client keys and event ids (`client`, `id`, `into`, `purchase`, `visit`).
    public static let key = 128
    /// Short text fields (names, locations, services, tiers, …).
    public static let text = 1024
    /// Long text fields (`comment`, `reason`, the unknown-fields object).
    public static let longText = 65_536
    /// Elements of a list field (`services`, `items`).
    public static let listLength = 1000
    /// Largest money magnitude accepted, in cents (ten trillion dollars).
    public static let money: Int64 = 1_000_000_000_000_000
    /// Largest points magnitude accepted.
    public static let points: Int64 = 1_000_000_000_000
    /// Longest input line accepted by import.
    public static let line = 1 << 20
}

extension Event {
    /// Checks every rule of SPEC 1.3 that applies to a typed event.
    public func validate() throws(EventValidationError) {
        try withUnsafePointer(to: self) { (e) throws(EventValidationError) in try Self.validate(at: e) }
    }

    /// ``validate()`` for the event `event` points to, read in place: an event passed
    /// by value to a call that may throw (or write memory) is copied first, retaining
    /// each of its strings and lists.
    static func validate(at event: UnsafePointer<Event>) throws(EventValidationError) {
        if let id = event.pointee.id { try Self.checkKey(id, field: "id") }
        let client = event.pointee.client
        guard !client.isEmpty else { throw EventValidationError(field: "client", value: nil, problem: "is missing") }
        try Self.checkKey(client, field: "client")
        if let extra = event.pointee.extra { try Self.checkText(extra, field: "extra fields", limit: Limits.longText) }
        switch event.pointee.payload {
        case .client(let c):
            // One check per field, not a loop over a list: no array built per event.
            if let v = c.name { try Self.checkText(v, field: "name") }
            if let v = c.email { try Self.checkText(v, field: "email") }
            if let v = c.phone { try Self.checkText(v, field: "phone") }
            if let v = c.location { try Self.checkText(v, field: "location") }
            if let v = c.source { try Self.checkText(v, field: "source") }
            if let cost = c.acquisitionCost { try Self.checkMoney(cost, field: "acquisition_cost", allowNegative: false) }
        case .visit(let v):
            if let l = v.location { try Self.checkText(l, field: "location") }
            if let p = v.provider { try Self.checkText(p, field: "provider") }
            try Self.checkList(v.services, field: "services")
        case .purchase(let p):
            try Self.checkMoney(p.amount, field: "amount", allowNegative: false)
            guard p.items.count <= Limits.listLength else {
                throw EventValidationError(field: "items", value: "\(p.items.count) items", problem: "has more than \(Limits.listLength) items")
            }
            for (i, item) in p.items.enumerated() {
                if let n = item.name { try Self.checkText(n, field: "items[\(i)].name") }
                if let c = item.category { try Self.checkText(c, field: "items[\(i)].category") }
                if item.quantity < 0 || item.quantity > 1_000_000 {
                    throw EventValidationError(field: "items[\(i)].quantity", value: String(item.quantity),
                                               problem: "must be a whole number from 0 to 1000000")
                }
                if let a = item.amount { try Self.checkMoney(a, field: "items[\(i)].amount", allowNegative: true) }
            }
            if let v = p.location { try Self.checkText(v, field: "location") }
            if let v = p.provider { try Self.checkText(v, field: "provider") }
            if let v = p.channel { try Self.checkText(v, field: "channel") }
        case .refund(let r):
            try Self.checkMoney(r.amount, field: "amount", allowNegative: false)
            if let p = r.purchase { try Self.checkKey(p, field: "purchase") }
        case .reward(let r):
            guard r.points.magnitude <= UInt64(Limits.points) else {
                throw EventValidationError(field: "points", value: String(r.points), problem: "is too large")
            }
            if let k = r.kind, k != "earned", k != "redeemed", k != "expired", k != "adjusted" {
                throw EventValidationError(field: "kind", value: k, problem: "must be earned, redeemed, expired or adjusted")
            }
            if let reason = r.reason { try Self.checkText(reason, field: "reason", limit: Limits.longText) }
        case .tier(let t):
            guard !t.tier.isEmpty else { throw EventValidationError(field: "tier", value: nil, problem: "is missing") }
            try Self.checkText(t.tier, field: "tier")
        case .membership(let m):
            if let plan = m.plan { try Self.checkText(plan, field: "plan") }
            if let fee = m.fee { try Self.checkMoney(fee, field: "fee", allowNegative: false) }
        case .feedback(let f):
            guard (1...5).contains(f.score) else {
                throw EventValidationError(field: "score", value: String(f.score), problem: "must be an integer from 1 to 5")
            }
            if let c = f.comment { try Self.checkText(c, field: "comment", limit: Limits.longText) }
            if let v = f.visit { try Self.checkKey(v, field: "visit") }
        case .forget:
            break
        case .merge(let m):
            guard !m.into.isEmpty else { throw EventValidationError(field: "into", value: nil, problem: "is missing") }
            try Self.checkKey(m.into, field: "into")
            guard m.into != client else {
                throw EventValidationError(field: "into", value: m.into, problem: "must name another client than the event's own")
            }
        }
    }

    static func checkKey(_ s: String, field: String) throws(EventValidationError) {
        guard !s.isEmpty else { throw EventValidationError(field: field, value: s, problem: "must not be empty") }
        guard s.utf8.count <= Limits.key else {
            throw EventValidationError(field: field, value: s, problem: "is \(s.utf8.count) bytes, over the limit of \(Limits.key)")
        }
    }

    static func checkText(_ s: String, field: String, limit: Int = Limits.text) throws(EventValidationError) {
        guard s.utf8.count <= limit else {
            throw EventValidationError(field: field, value: s, problem: "is \(s.utf8.count) bytes, over the limit of \(limit)")
        }
    }

    static func checkList(_ list: [String], field: String) throws(EventValidationError) {
        guard list.count <= Limits.listLength else {
            throw EventValidationError(field: field, value: "\(list.count) values", problem: "has more than \(Limits.listLength) values")
        }
        for s in list { try checkText(s, field: field) }
    }

    static func checkMoney(_ m: Money, field: String, allowNegative: Bool) throws(EventValidationError) {
        if !allowNegative && m.cents < 0 {
            throw EventValidationError(field: field, value: m.description, problem: "must not be negative")
        }
        guard m.cents.magnitude <= UInt64(Limits.money) else {
            throw EventValidationError(field: field, value: m.description, problem: "is too large")
        }
    }
}
