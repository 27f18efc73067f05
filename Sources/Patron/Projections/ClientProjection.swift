/// A client's fields as SPEC 3.5 defines them (all but the model-based ones), as of
/// a `today`: computed from the events whose day is on or before it.
///
/// Durations are in days (``cadence`` and ``overdue`` keep half days); dates are
/// ``Day`` numbers (see ``Calendar/format(_:)``); lists are sorted sets.
public struct ClientProjection: Sendable, Equatable {
    /// The client key.
    public var id: String
    /// The day the fields are computed for.
    public var today: Day
    public var name: String?
    public var email: String?
    public var phone: String?
    public var source: String?
    public var location: String?
    public var registered: Day?
    public var acquisitionCost: Money?
    public var firstSeen: Day?
    public var lastSeen: Day?
    public var firstVisit: Day?
    public var lastVisit: Day?
    public var activeDays: Int
    public var visits: Int
    public var purchases: Int
    public var refunds: Int
    public var spend: Money
    public var refunded: Money
    public var points: Int64
    public var tier: String?
    public var member: Bool
    public var plan: String?
    public var satisfaction: Int?
    public var avgSatisfaction: Double?
    public var services: [String]
    public var providers: [String]
    public var locations: [String]
    public var items: [String]
    public var categories: [String]
    public var provider: String?
    /// Median gap between activity days in days (half days kept); nil with fewer than 2.
    public var cadence: Double?
    /// Whether the client's personal data was erased.
    public var forgotten: Bool
    /// Events counted in this projection (the client's own and any merged in).
    public var eventCount: Int

    /// `today − last_seen`, in days.
    public var lapsed: Int? { lastSeen.map { Int(today) - Int($0) } }
    /// `today − first_seen`, in days.
    public var tenure: Int? { firstSeen.map { Int(today) - Int($0) } }
    /// `last_seen − first_seen`, in days.
    public var lifespan: Int? {
        guard let f = firstSeen, let l = lastSeen else { return nil }
        return Int(l) - Int(f)
    }
    /// Activity days per year: `active_days × 365 / max(tenure, 30)`.
    public var frequency: Double? { tenure.map { Double(activeDays) * 365 / Double(max($0, 30)) } }
    /// `lapsed − cadence`, in days (negative: not yet due).
    public var overdue: Double? {
        guard let l = lapsed, let c = cadence else { return nil }
        return Double(l) - c
    }
    /// `last_seen + cadence` (cadence rounded down to whole days).
    public var nextDue: Day? {
        guard let l = lastSeen, let c = cadence else { return nil }
        return l + Day(c.rounded(.down))
    }
    /// `spend / purchases`, rounded to the cent (halves away from zero); nil without purchases.
    public var aov: Money? {
        guard purchases > 0 else { return nil }
        return Money(cents: Self.divideRounded(spend.cents, Int64(purchases)))
    }
    /// Historical value to date (= `spend`).
    public var clv: Money { spend }

    /// a / b rounded to the nearest integer, halves away from zero.
    static func divideRounded(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b, r = a % b
        if 2 * abs(r) >= abs(b) { return q + ((a < 0) != (b < 0) ? -1 : 1) }
        return q
    }

    init(id: String, today: Day, state s: ClientState, string: (UInt32) throws -> String?,
         personal: (Stamped<UInt32>?, PersonalData.Tag) -> String?) rethrows {
        self.id = id
        self.today = today
        let erased = s.forgotten
        name = erased ? nil : personal(s.name, .name)
        email = erased ? nil : personal(s.email, .email)
        phone = erased ? nil : personal(s.phone, .phone)
        source = try s.source.flatMap { try string($0.value) }
        location = try s.location.flatMap(string)
        registered = s.registered
        acquisitionCost = s.acquisitionCost.map { Money(cents: $0.value) }
        firstSeen = s.activityDays.first
        lastSeen = s.activityDays.last
        firstVisit = s.firstVisit
        lastVisit = s.lastVisit
        activeDays = s.activityDays.count
        visits = Int(s.visits)
        purchases = Int(s.purchases)
        refunds = Int(s.refunds)
        spend = Money(cents: s.purchasedCents - s.refundedCents)
        refunded = Money(cents: s.refundedCents)
        points = s.points
        tier = try s.tier.flatMap { try string($0.value) }
        member = s.isMember
        plan = try s.plan.flatMap(string)
        satisfaction = s.satisfaction.map { Int($0.value) }
        avgSatisfaction = s.feedbackCount > 0 ? Double(s.feedbackSum) / Double(s.feedbackCount) : nil
        func list(_ ids: some Sequence<UInt32>) throws -> [String] { Self.listOrder(try ids.compactMap(string)) }
        services = try list(s.services)
        providers = try list(s.providers.ids)
        locations = try list(s.visitLocations.ids)
        items = try list(s.items)
        categories = try list(s.categories)
        provider = try s.provider.flatMap(string)
        cadence = s.cadenceHalfDays.map { Double($0) / 2 }
        forgotten = s.forgotten
        eventCount = Int(s.eventCount)
    }

    /// A list field's strings in their order: ascending ignoring case, then by code points.
    static func listOrder(_ strings: [String]) -> [String] {
        strings.sorted { a, b in
            let la = a.lowercased(), lb = b.lowercased()
            return la != lb ? la < lb : a < b
        }
    }
}
