import Foundation
@testable import Patron

/// A deliberately plain in-memory model of SPEC 3.5: each client field computed
/// straight from the definition, over a list of (position, event), with nothing
/// shared with the production fold. Used to check projections.
struct SpecModel {
    var events: [(position: UInt64, event: Event)] = []

    func fields(of key: String, today: Day, zone: Zone = .utc) -> [String: String] {
        let mine = events.filter { $0.event.client == key && zone.day(of: $0.event.at) <= today }
        func d(_ e: Event) -> Day { zone.day(of: e.at) }
        func latest<T>(_ pick: (Event) -> T?) -> T? {
            mine.filter { pick($0.event) != nil }
                .max { ($0.event.at, $0.position) < ($1.event.at, $1.position) }
                .flatMap { pick($0.event) }
        }
        var f: [String: String] = [:]
        func set(_ k: String, _ v: Any?) { f[k] = v.map { "\($0)" } ?? "null" }
        let clientEvents = mine.compactMap { e -> ClientDetails? in if case .client(let c) = e.event.payload { return c }; return nil }
        let visits = mine.compactMap { e -> (Day, Stamp, Visit)? in
            if case .visit(let v) = e.event.payload { return (d(e.event), Stamp(at: e.event.at, position: e.position), v) }
            return nil
        }
        let purchases = mine.compactMap { e -> (Day, Purchase)? in if case .purchase(let p) = e.event.payload { return (d(e.event), p) }; return nil }
        let refunds = mine.compactMap { e -> Refund? in if case .refund(let r) = e.event.payload { return r }; return nil }
        let activity = Set(visits.map(\.0) + purchases.map(\.0)).sorted()
        set("name", latest { if case .client(let c) = $0.payload { return c.name }; return nil })
        set("email", latest { if case .client(let c) = $0.payload { return c.email }; return nil })
        set("source", latest { if case .client(let c) = $0.payload { return c.source }; return nil })
        func mostFrequent(_ values: [(String, Stamp)]) -> String? {
            var counts: [String: (Int, Stamp)] = [:]
            for (v, s) in values { counts[v] = ((counts[v]?.0 ?? 0) + 1, max(counts[v]?.1 ?? s, s)) }
            return counts.max { ($0.value.0, $0.value.1) < ($1.value.0, $1.value.1) }?.key
        }
        let clientLocation: String? = latest { if case .client(let c) = $0.payload { return c.location }; return nil }
        set("location", clientLocation ?? mostFrequent(visits.compactMap { v in v.2.location.map { ($0, v.1) } }))
        set("registered", mine.filter { if case .client = $0.event.payload { return true }; return false }.map { d($0.event) }.min())
        set("acquisition_cost", (latest { if case .client(let c) = $0.payload { return c.acquisitionCost }; return nil } as Money?)?.cents)
        _ = clientEvents
        set("first_seen", activity.first)
        set("last_seen", activity.last)
        set("first_visit", visits.map(\.0).min())
        set("last_visit", visits.map(\.0).max())
        set("active_days", activity.count)
        set("visits", visits.count)
        set("purchases", purchases.count)
        set("refunds", refunds.count)
        let spend = purchases.reduce(Int64(0)) { $0 + $1.1.amount.cents } - refunds.reduce(Int64(0)) { $0 + $1.amount.cents }
        set("spend", spend)
        set("refunded", refunds.reduce(Int64(0)) { $0 + $1.amount.cents })
        if purchases.isEmpty { set("aov", nil) } else {
            let exact = Double(spend) / Double(purchases.count)
            set("aov", Int64((abs(exact) + 0.5).rounded(.down)) * (exact < 0 ? -1 : 1))
        }
        let lapsed = activity.last.map { Int(today) - Int($0) }
        let tenure = activity.first.map { Int(today) - Int($0) }
        set("lapsed", lapsed)
        set("tenure", tenure)
        set("lifespan", activity.count > 0 ? Int(activity.last!) - Int(activity.first!) : nil)
        set("frequency", tenure.map { Double(activity.count) * 365 / Double(max($0, 30)) })
        var cadence: Double?
        if activity.count >= 2 {
            let gaps = zip(activity.dropFirst(), activity).map { Double($0 - $1) }.sorted()
            cadence = gaps.count % 2 == 1 ? gaps[gaps.count / 2] : (gaps[gaps.count / 2 - 1] + gaps[gaps.count / 2]) / 2
        }
        set("cadence", cadence)
        set("overdue", lapsed.flatMap { l in cadence.map { Double(l) - $0 } })
        set("next_due", activity.last.flatMap { l in cadence.map { l + Day($0.rounded(.down)) } })
        set("points", mine.reduce(Int64(0)) { if case .reward(let r) = $1.event.payload { return $0 + r.points }; return $0 })
        set("tier", latest { if case .tier(let t) = $0.payload { return t.tier }; return nil })
        let membership: Membership? = latest { if case .membership(let m) = $0.payload { return m }; return nil }
        set("member", membership?.action == .start)
        set("plan", membership?.action == .start ? membership?.plan : nil)
        let scores = mine.compactMap { e -> Int64? in if case .feedback(let fb) = e.event.payload { return fb.score }; return nil }
        set("satisfaction", latest { if case .feedback(let fb) = $0.payload { return fb.score }; return nil })
        set("avg_satisfaction", scores.isEmpty ? nil : Double(scores.reduce(0, +)) / Double(scores.count))
        func sortedSet(_ values: [String]) -> String { Set(values).sorted { ($0.lowercased(), $0) < ($1.lowercased(), $1) }.description }
        set("services", sortedSet(visits.flatMap(\.2.services)))
        set("providers", sortedSet(visits.compactMap(\.2.provider)))
        set("locations", sortedSet(visits.compactMap(\.2.location)))
        set("items", sortedSet(purchases.flatMap { $0.1.items.compactMap(\.name) }))
        set("categories", sortedSet(purchases.flatMap { $0.1.items.compactMap(\.category) }))
        set("provider", mostFrequent(visits.compactMap { v in v.2.provider.map { ($0, v.1) } }))
        return f
    }
}

extension ClientProjection {
    /// The same field map as ``SpecModel/fields(of:today:zone:)``.
    var fieldMap: [String: String] {
        var f: [String: String] = [:]
        func set(_ k: String, _ v: Any?) { f[k] = v.map { "\($0)" } ?? "null" }
        set("name", name); set("email", email); set("source", source); set("location", location)
        set("registered", registered); set("acquisition_cost", acquisitionCost?.cents)
        set("first_seen", firstSeen); set("last_seen", lastSeen); set("first_visit", firstVisit); set("last_visit", lastVisit)
        set("active_days", activeDays); set("visits", visits); set("purchases", purchases); set("refunds", refunds)
        set("spend", spend.cents); set("refunded", refunded.cents); set("aov", aov?.cents)
        set("lapsed", lapsed); set("tenure", tenure); set("lifespan", lifespan); set("frequency", frequency)
        set("cadence", cadence); set("overdue", overdue); set("next_due", nextDue); set("points", points)
        set("tier", tier); set("member", member); set("plan", plan); set("satisfaction", satisfaction)
        set("avg_satisfaction", avgSatisfaction)
        set("services", services.description); set("providers", providers.description); set("locations", locations.description)
        set("items", items.description); set("categories", categories.description); set("provider", provider)
        return f
    }
}

/// Random histories: random types, clients and out-of-order `at`.
enum RandomHistory {
    static func events(count: Int, clients: Int, rng: inout SeededRandom) -> [Event] {
        let services = ["botox", "filler", "Facial", "facial", "peel", "laser", "consult"]
        let providers = ["Dr. Kim", "Maya", "Lee", "Jo"]
        let locations = ["Midtown", "Harbor", "Uptown"]
        let base = ms("2023-01-01")
        var out: [Event] = []
        for i in 0..<count {
            let client = "c\(Int.random(in: 0..<clients, using: &rng))"
            // Out of order: any time over ~2 years, with several events sharing a day.
            let at = base + Int64.random(in: 0..<730, using: &rng) * 86_400_000 + Int64.random(in: 0..<4, using: &rng) * 3_600_000
            let payload: Payload
            switch Int.random(in: 0..<20, using: &rng) {
            case 0..<2:
                payload = .client(ClientDetails(name: Bool.random(using: &rng) ? "Name \(i)" : nil, email: Bool.random(using: &rng) ? "e\(i)@x.io" : nil,
                                                location: Bool.random(using: &rng) ? locations.randomElement(using: &rng) : nil,
                                                source: Bool.random(using: &rng) ? "src\(i % 3)" : nil,
                                                acquisitionCost: Bool.random(using: &rng) ? Money(cents: Int64.random(in: 0..<9000, using: &rng)) : nil))
            case 2..<8:
                payload = .visit(Visit(location: Bool.random(using: &rng) ? locations.randomElement(using: &rng) : nil,
                                       provider: providers.randomElement(using: &rng),
                                       services: (0..<Int.random(in: 0..<3, using: &rng)).compactMap { _ in services.randomElement(using: &rng) }))
            case 8..<13:
                let items = (0..<Int.random(in: 0..<3, using: &rng)).map { j in
                    PurchaseItem(name: "item\(j + Int.random(in: 0..<4, using: &rng))", category: ["skincare", "injectable"].randomElement(using: &rng),
                                 amount: Money(cents: Int64.random(in: 100..<20_000, using: &rng)))
                }
                payload = .purchase(Purchase(amount: Bool.random(using: &rng) ? Money(cents: Int64.random(in: 0..<50_000, using: &rng)) : nil, items: items))
            case 13:
                payload = .refund(Refund(amount: Money(cents: Int64.random(in: 1..<5_000, using: &rng))))
            case 14..<16:
                payload = .reward(Reward(points: Int64.random(in: -300..<600, using: &rng)))
            case 16:
                payload = .tier(TierChange(tier: ["bronze", "silver", "gold", "platinum"].randomElement(using: &rng) ?? "gold"))
            case 17:
                payload = .membership(Membership(plan: ["glow", "radiance"].randomElement(using: &rng),
                                                 action: Bool.random(using: &rng) ? .start : .cancel))
            default:
                payload = .feedback(Feedback(score: Int64.random(in: 1...5, using: &rng)))
            }
            out.append(Event(client: client, at: at, payload: payload))
        }
        return out
    }
}
