/// What every simulated client shares: the seed, the calendar and the time zone.
struct DemoWorld {
    let seed: UInt64
    /// Mixed into every event id, so two seeds never share ids.
    let salt: UInt64
    let zone: Zone
    /// First and last day of the history (local days, inclusive).
    let start: Int
    let end: Int
    /// The day Uptown opened; no visit there before it.
    let uptownOpened: Int

    static let dayMs: Int64 = 86_400_000

    /// Local wall-clock milliseconds of `minute` (0–1439) on `day`.
    static func local(_ day: Int, _ minute: Int) -> Int64 { Int64(day) * dayMs + Int64(minute) * 60_000 }
    /// The local day of local milliseconds.
    static func day(_ local: Int64) -> Int { Int(floorDiv(local, dayMs)) }

    func isOpen(_ location: Int, on day: Int) -> Bool { location != 2 || day >= uptownOpened }
}

/// One simulated client: a profile drawn once (channel, home location, preferred
/// provider, visit rate, dropout, disposition, tastes) and the state of their history,
/// advanced one occasion (a visit or an online order) at a time in business-time
/// order. The events an occasion produces wait in `pending` until the driver's
/// time sweep reaches them.
struct DemoClient {
    typealias Treatment = DemoCatalog.Treatment

    /// A line of treatment a client follows, each with its own due date.
    enum Track: Int, CaseIterable {
        case injectables, filler, laser, skin
    }

    /// An event waiting for its time, with its local wall-clock milliseconds.
    struct Pending {
        let local: Int64
        let event: Event
    }

    let number: Int
    let key: String
    private var rng: DemoRandom

    // Profile.
    private let home: Int
    private var provider: Int
    private let primary: Track
    private let rate: Double
    private let churn: Double
    private let mood: Int
    private let retail: Double
    private let online: Double
    private var toxin: Treatment
    private let filler: Int
    private let laser: Treatment
    private let hairArea: Int
    private let seriesLength: Int
    private let deluxe: Double
    private let regimen: [Int]

    // History.
    private var due: [Int] = Array(repeating: Int.max, count: Track.allCases.count)
    private var consultFirst = false
    private var skinStage = 0
    private var toxinVisits = 0
    private var laserSessions = 0
    private var visits = 0
    private var nextVisit = Int64.max
    private var nextOrder = Int64.max
    private var points: Int64 = 0
    /// Purchases (positive) and refunds (negative) in cents by day, for the rolling 12-month spend.
    private var window: [(day: Int, cents: Int64)] = []
    private var tier = -1
    /// Local time of the scheduled cancel of the current membership (0: never a member).
    private var memberUntil: Int64 = 0
    private var plan = 0
    private var everMember = false
    private var counter: UInt32 = 0
    private(set) var pending: [Pending] = []

    /// When this client's next event happens (local milliseconds), nil when the client is done.
    var nextTime: Int64? {
        let t = min(pending.first?.local ?? .max, nextVisit, nextOrder)
        return t == .max ? nil : t
    }

    /// Draws client `number`'s profile and registers them on `acquired`.
    init(number: Int, rng: DemoRandom, acquired: Int, world w: DemoWorld) {
        self.number = number
        var r = rng
        let digits = String(number + 1)
        key = "C" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits

        let channel = DemoCatalog.channels[r.pick(weights: DemoCatalog.channelWeights)]
        let homeWeights = acquired < w.uptownOpened ? [0.55, 0.45, 0] : [0.40, 0.30, 0.30]
        let home = r.pick(weights: homeWeights)
        self.home = home
        let primary = Track(rawValue: r.pick(weights: channel.name == "groupon" ? [0.15, 0, 0.35, 0.50] : [0.38, 0, 0.17, 0.45])) ?? .skin
        self.primary = primary
        let mainCategory: DemoCatalog.Category = switch primary {
        case .injectables, .filler: .neurotoxin
        case .laser: .laser
        case .skin: .facial
        }
        let candidates = DemoCatalog.providers.indices.filter {
            DemoCatalog.providers[$0].location == home && DemoCatalog.providers[$0].can(mainCategory)
        }
        provider = candidates.isEmpty ? 0 : r.element(candidates)

        // Who they are: a one-off trial, an occasional client, or a loyal regular.
        let persona = r.pick(weights: [0.22, 0.36, 0.42])
        let baseChurn: Double
        let pace: Double
        switch persona {
        case 0: baseChurn = r.double(0.5, 0.9); pace = 1.15
        case 1: baseChurn = r.double(0.05, 0.2); pace = 1.0
        default: baseChurn = r.double(0.01, 0.05); pace = 0.85
        }
        rate = min(max(r.spread(0.3) * pace, 0.5), 2.5)
        mood = r.pick(weights: [0.72, 0.20, 0.08])
        churn = baseChurn * channel.churn
        retail = primary == .skin ? r.double(0.15, 0.5) : r.double(0.03, 0.25)
        online = r.chance(0.45) ? r.double(0.15, 0.5) : 0
        toxin = [Treatment.botox, .dysport, .xeomin][r.pick(weights: [0.65, 0.22, 0.13])]
        filler = r.pick(weights: [0.40, 0.20, 0.25, 0.15])
        let laser: Treatment = r.chance(0.6) ? .laserHair : .ipl
        self.laser = laser
        hairArea = r.pick(weights: [0.35, 0.25, 0.15, 0.25])
        seriesLength = laser == .ipl ? 3 : r.int(in: 6...8)
        deluxe = r.double(0, 0.5)
        var products = Array(DemoCatalog.skincare.indices)
        var chosen: [Int] = []
        for _ in 0..<r.int(in: 2...3) { chosen.append(products.remove(at: r.int(products.count))) }
        regimen = chosen

        // The registration, and the first visit unless they never come (a lead).
        let first = r.chance(DemoCatalog.femaleShare)
            ? DemoCatalog.firstNames[r.int(DemoCatalog.femaleNames)]
            : DemoCatalog.firstNames[DemoCatalog.femaleNames + r.int(DemoCatalog.firstNames.count - DemoCatalog.femaleNames)]
        let last = r.element(DemoCatalog.lastNames)
        let plainLast = String(last.lowercased().filter(\.isLetter))
        let email: String = switch r.int(3) {
        case 0: "\(first.lowercased()).\(plainLast)@\(r.element(DemoCatalog.emailDomains))"
        case 1: "\(first.lowercased())\(plainLast)\(r.int(in: 10...99))@\(r.element(DemoCatalog.emailDomains))"
        default: "\(first.lowercased().prefix(1))\(plainLast)\(r.int(in: 100...999))@\(r.element(DemoCatalog.emailDomains))"
        }
        let line = r.int(100)
        let phone = "(\(r.element(DemoCatalog.areaCodes))) 555-01\(line < 10 ? "0" : "")\(line)"
        let cost = channel.cost == 0 ? 0 : Int64(Double(channel.cost) * r.double(0.7, 1.3))

        // A walk-in acquired on the last day of a history ending on a Sunday (closed)
        // would first come after the end: it signs up online that day instead, so every
        // client asked for exists.
        let walkIn = channel.name == "walk-in" && Self.openDay(acquired) <= w.end
        let lead = !walkIn && r.chance(channel.name == "facebook" || channel.name == "groupon" ? 0.12 : 0.06)
        let firstDay = Self.openDay(walkIn ? acquired : acquired + (channel.name == "referral" ? r.int(in: 2...14) : r.int(in: 1...21)))
        let firstSlot = Self.slot(&r)
        let registered = walkIn ? DemoWorld.local(firstDay, firstSlot - 10) : DemoWorld.local(acquired, r.int(in: 7 * 60...22 * 60))
        consultFirst = primary != .skin && r.chance(0.35)
        self.rng = r
        add(registered, .client(ClientDetails(
            name: "\(first) \(last)", email: email, phone: phone, location: DemoCatalog.locations[home],
            source: channel.name, acquisitionCost: Money(cents: cost))), w)
        if !lead {
            due[primary.rawValue] = firstDay
            if firstDay <= w.end { nextVisit = DemoWorld.local(firstDay, firstSlot) }
        }
    }

    // MARK: Stepping

    /// Moves this client one step: hands over the next pending event, or plays the next
    /// occasion (whose events join `pending`).
    mutating func step(_ w: DemoWorld, emit: (Event) -> Void) {
        let head = pending.first?.local ?? .max
        if head != .max && head <= nextVisit && head <= nextOrder {
            emit(pending.removeFirst().event)
        } else if nextVisit <= nextOrder {
            visit(w)
        } else if nextOrder != .max {
            order(w)
        }
    }

    /// Opening hours: appointments from 9:00 to 18:45 every 15 minutes (minute of day).
    private static func slot(_ r: inout DemoRandom) -> Int { 9 * 60 + 15 * r.int(40) }

    /// The clinics are closed on Sundays: a Sunday moves to Monday.
    private static func openDay(_ day: Int) -> Int {
        // 1970-01-01 (day 0) was a Thursday; weekday 0 is Sunday.
        ((day % 7) + 7 + 4) % 7 == 0 ? day + 1 : day
    }

    private func isMember(at local: Int64) -> Bool { memberUntil > local }

    // MARK: Occasions

    private mutating func visit(_ w: DemoWorld) {
        let t = nextVisit
        let day = DemoWorld.day(t)
        nextVisit = .max
        visits += 1

        // What is done today: a consultation, or every track that is due (within ten days).
        var treatments: [Treatment] = []
        var served: [Track] = []
        let consultation = consultFirst
        if consultation {
            consultFirst = false
            treatments = [.consultation]
        } else {
            for track in Track.allCases where due[track.rawValue] <= day + 10 {
                served.append(track)
                treatments += treatmentsToday(track)
            }
            if treatments.isEmpty {
                served = [primary]
                treatments = treatmentsToday(primary)
            }
        }

        var location = home
        if rng.chance(0.12) {
            let other = (home + 1 + rng.int(2)) % 3
            if w.isOpen(other, on: day) { location = other }
        }
        let by = chooseProvider(at: location, for: treatments[0].category)
        let visitID = add(t, .visit(Visit(location: DemoCatalog.locations[location], provider: DemoCatalog.providers[by].name,
                                          services: treatments.map(\.service))), w)

        // Checkout: perhaps a reward redeemed; the treatments and some skincare; points; the tier.
        var items: [PurchaseItem] = []
        for tr in treatments { if let item = price(tr) { items.append(item) } }
        let serviceCents = items.reduce(Int64(0)) { $0 + ($1.amount?.cents ?? 0) }
        if rng.chance(consultation ? retail * 0.5 : retail) { items += skincare() }
        let checkout = t + Int64(rng.int(in: 30...90)) * 60_000
        var purchaseID: String?
        if !items.isEmpty {
            if points >= 500 && rng.chance(0.3) {
                let r = DemoCatalog.redemptions[points >= 1000 && rng.chance(0.4) ? 1 : 0]
                points -= r.points
                add(checkout, .reward(Reward(points: -r.points, kind: "redeemed", reason: r.reason)), w)
            }
            purchaseID = purchase(items, at: checkout, location: location, provider: by, channel: "clinic", w)
        }

        // How it went: a score, sometimes given as feedback the next day.
        let score = 1 + rng.pick(weights: DemoCatalog.scoreWeights[mood])
        if rng.chance(score <= 2 ? 0.6 : 0.35) {
            let comment: String? = rng.chance(0.35) ? rng.element(DemoCatalog.comments[score - 1]) : nil
            add(DemoWorld.local(day + 1, rng.int(in: 10 * 60...21 * 60)),
                .feedback(Feedback(score: Int64(score), comment: comment, visit: visitID)), w)
        }
        if let purchaseID {
            if score <= 2 && serviceCents > 0 && rng.chance(0.35) {
                let share = [25, 50, 100][rng.int(3)]
                let cents = max(100, serviceCents * Int64(share) / 100 / 100 * 100)
                refund(cents, of: purchaseID, at: DemoWorld.local(day + rng.int(in: 2...10), rng.int(in: 10 * 60...17 * 60)), w)
            } else if let product = items.last(where: { $0.category == DemoCatalog.Category.skincare.name }),
                      let amount = product.amount, rng.chance(0.05) {
                refund(amount.cents, of: purchaseID, at: DemoWorld.local(day + rng.int(in: 3...25), rng.int(in: 10 * 60...17 * 60)), w)
            }
        }

        // Regulars may join a membership.
        if !consultation && visits >= 3 && !isMember(at: t)
            && rng.chance((churn < 0.1 ? 0.08 : 0.02) * (everMember ? 0.3 : 1)) {
            startMembership(at: checkout + 120_000, day: day, w)
        }

        // Plan the next visits.
        if consultation {
            due[primary.rawValue] = day + rng.int(in: 3...14)
        }
        for track in served { advance(track, day: day, member: isMember(at: t)) }
        if visits >= 2 && rng.chance(0.05) { crossSell(day: day) }
        if rng.chance(0.04) {
            let pause = rng.int(in: 90...300)
            for i in due.indices where due[i] != .max { due[i] += pause }
        }

        // Dropout: more likely for unhappy clients, after a bad visit, or after a consultation.
        let moodFactor = [0.85, 1.3, 2.2][mood]
        var p = churn * moodFactor * (isMember(at: t) ? 0.5 : 1)
        if score <= 2 { p += 0.3 }
        if consultation { p += 0.15 }
        if rng.chance(min(p, 0.97)) {
            leave(day: day, w)
            return
        }
        scheduleVisit(after: day, w)
        if due.allSatisfy({ $0 == .max }) {
            // Nothing left to come back for (a finished laser series).
            leave(day: day, w)
            return
        }
        if nextOrder == .max && online > 0 && rng.chance(online) {
            let orderDay = day + rng.int(in: 20...80)
            if orderDay <= w.end && (nextVisit == .max || DemoWorld.local(orderDay, 0) < nextVisit) {
                nextOrder = DemoWorld.local(orderDay, rng.int(in: 7 * 60...23 * 60 - 1))
            }
        }
    }

    /// A skincare reorder on the web shop.
    private mutating func order(_ w: DemoWorld) {
        let t = nextOrder
        let day = DemoWorld.day(t)
        nextOrder = .max
        let items = skincare()
        let id = purchase(items, at: t, location: nil, provider: nil, channel: "online", w)
        if rng.chance(0.03), let amount = items.first?.amount {
            refund(amount.cents, of: id, at: DemoWorld.local(day + rng.int(in: 5...30), rng.int(in: 9 * 60...20 * 60)), w)
        }
        if nextVisit != .max && rng.chance(online * 0.5) {
            let next = day + rng.int(in: 30...90)
            if next <= w.end { nextOrder = DemoWorld.local(next, rng.int(in: 7 * 60...23 * 60 - 1)) }
        }
    }

    // MARK: Pieces

    private mutating func treatmentsToday(_ track: Track) -> [Treatment] {
        switch track {
        case .injectables:
            if rng.chance(0.03) { toxin = [Treatment.botox, .dysport, .xeomin][rng.int(3)] }
            return [toxin]
        case .filler:
            return [.filler]
        case .laser:
            return [laser]
        case .skin:
            let path: [Treatment] = [.hydrafacial, .peel, .microneedling, .prp]
            let t = skinStage == 0 || rng.chance(0.5) ? path[skinStage] : path[rng.int(skinStage)]
            return t == .hydrafacial && rng.chance(0.2) ? [t, .dermaplaning] : [t]
        }
    }

    /// The preferred provider when they work here and can do it (nine times in ten),
    /// else a colleague at this location who can.
    private mutating func chooseProvider(at location: Int, for category: DemoCatalog.Category) -> Int {
        let preferred = DemoCatalog.providers[provider]
        if preferred.location == location && preferred.can(category) && rng.chance(0.9) { return provider }
        let able = DemoCatalog.providers.indices.filter {
            DemoCatalog.providers[$0].location == location && DemoCatalog.providers[$0].can(category)
        }
        return able.isEmpty ? provider : rng.element(able)
    }

    /// The purchase line of a treatment (nil for a free consultation).
    private mutating func price(_ t: Treatment) -> PurchaseItem? {
        func line(_ p: DemoCatalog.Price, _ quantity: Int) -> PurchaseItem {
            PurchaseItem(name: p.name, category: t.category.name, quantity: Int64(quantity),
                         amount: Money(cents: p.cents * Int64(quantity)))
        }
        switch t {
        case .consultation: return nil
        case .botox: return line(DemoCatalog.botox, 20 + 2 * rng.int(18))
        case .dysport: return line(DemoCatalog.dysport, 50 + 10 * rng.int(10))
        case .xeomin: return line(DemoCatalog.xeomin, 20 + 4 * rng.int(10))
        case .filler: return line(DemoCatalog.fillers[filler], 1 + rng.pick(weights: [0.65, 0.28, 0.07]))
        case .ipl: return line(DemoCatalog.ipl, 1)
        case .laserHair: return line(DemoCatalog.laserHair[hairArea], 1)
        case .hydrafacial: return line(DemoCatalog.hydrafacial[rng.chance(deluxe) ? 1 : 0], 1)
        case .dermaplaning: return line(DemoCatalog.dermaplaning, 1)
        case .peel: return line(DemoCatalog.peels[rng.pick(weights: [0.6, 0.4])], 1)
        case .microneedling: return line(DemoCatalog.microneedling, 1)
        case .prp: return line(DemoCatalog.prp[rng.pick(weights: [0.7, 0.3])], 1)
        }
    }

    /// One or two products of the client's regimen.
    private mutating func skincare() -> [PurchaseItem] {
        var picks = regimen
        var items: [PurchaseItem] = []
        for _ in 0..<(rng.chance(0.3) ? 2 : 1) {
            let p = DemoCatalog.skincare[picks.remove(at: rng.int(picks.count))]
            let quantity: Int64 = rng.chance(0.15) ? 2 : 1
            items.append(PurchaseItem(name: p.name, category: DemoCatalog.Category.skincare.name, quantity: quantity,
                                      amount: Money(cents: p.cents * quantity)))
        }
        return items
    }

    /// A purchase with its points and any tier change; returns its id.
    private mutating func purchase(_ items: [PurchaseItem], at local: Int64, location: Int?, provider by: Int?,
                                   channel: String, _ w: DemoWorld) -> String {
        let cents = items.reduce(Int64(0)) { $0 + ($1.amount?.cents ?? 0) }
        let id = add(local, .purchase(Purchase(amount: Money(cents: cents), items: items,
                                               location: location.map { DemoCatalog.locations[$0] },
                                               provider: by.map { DemoCatalog.providers[$0].name }, channel: channel)), w)
        let day = DemoWorld.day(local)
        window.append((day, cents))
        let earned = cents / 100 * DemoCatalog.pointsPerDollar
        if earned > 0 {
            points += earned
            add(local, .reward(Reward(points: earned, kind: "earned", reason: "purchase")), w)
        }
        if tier < 0 {
            points += DemoCatalog.welcomeBonus
            add(local, .reward(Reward(points: DemoCatalog.welcomeBonus, kind: "earned", reason: "welcome bonus")), w)
        }
        // The tier follows the rolling 12-month spend, re-evaluated at every purchase.
        window.removeAll { $0.day <= day - 365 }
        let spend = window.reduce(Int64(0)) { $1.day <= day ? $0 + $1.cents : $0 }
        let now = DemoCatalog.tierThresholds.lastIndex { spend >= $0 } ?? 0
        if now != tier {
            tier = now
            add(local, .tier(TierChange(tier: DemoCatalog.tiers[now])), w)
        }
        return id
    }

    /// Money back for (part of) a purchase, and the points it had earned.
    private mutating func refund(_ cents: Int64, of purchase: String, at local: Int64, _ w: DemoWorld) {
        guard DemoWorld.day(local) <= w.end else { return }
        add(local, .refund(Refund(amount: Money(cents: cents), purchase: purchase)), w)
        window.append((DemoWorld.day(local), -cents))
        let back = min(points, cents / 100 * DemoCatalog.pointsPerDollar)
        if back > 0 {
            points -= back
            add(local, .reward(Reward(points: -back, kind: "adjusted", reason: "refund")), w)
        }
    }

    private mutating func startMembership(at local: Int64, day: Int, _ w: DemoWorld) {
        let spend = window.reduce(Int64(0)) { $1.day > day - 365 && $1.day <= day ? $0 + $1.cents : $0 }
        plan = spend >= 250_000 ? 2 : primary == .injectables ? 1 : 0
        everMember = true
        let p = DemoCatalog.plans[plan]
        add(local, .membership(Membership(plan: p.name, action: .start, fee: Money(cents: p.cents))), w)
        let months = 2 + rng.geometric(mean: 12)
        memberUntil = DemoWorld.local(day + months * 30 + rng.int(7), rng.int(in: 8 * 60...21 * 60))
        add(memberUntil, .membership(Membership(plan: p.name, action: .cancel, fee: Money(cents: p.cents))), w)
    }

    /// Moves the due date of a track just served; opens filler to toxin regulars and
    /// the next step of the skin path.
    private mutating func advance(_ track: Track, day: Int, member: Bool) {
        let i = track.rawValue
        switch track {
        case .injectables:
            toxinVisits += 1
            due[i] = day + Int(100 * rate * rng.spread(0.15))
            if due[Track.filler.rawValue] == .max && toxinVisits >= 2 && rng.chance(0.22) {
                due[Track.filler.rawValue] = day + rng.int(in: 30...150)
            }
        case .filler:
            due[i] = rng.chance(0.25) ? .max : day + Int(270 * rate * rng.spread(0.2))
        case .laser:
            laserSessions += 1
            if laserSessions < seriesLength {
                due[i] = day + Int(Double(laser == .ipl ? 28 : 42) * rng.spread(0.1))
            } else {
                due[i] = rng.chance(0.5) ? .max : day + Int(Double(rng.int(in: 180...365)) * rate)
            }
        case .skin:
            due[i] = day + Int(35 * rate * rng.spread(0.2) * (member ? 0.85 : 1))
            let advanceChance = [0.3, 0.25, 0.15, 0][skinStage]
            if rng.chance(advanceChance) { skinStage += 1 }
        }
    }

    /// A client tries another line of treatment.
    private mutating func crossSell(day: Int) {
        let options: [Track] = [.injectables, .laser, .skin].filter { due[$0.rawValue] == .max }
        guard !options.isEmpty else { return }
        let weights = options.map { t -> Double in
            switch (primary, t) {
            case (.skin, .injectables), (.laser, .skin): 0.7
            case (.injectables, .skin): 0.75
            default: 0.3
            }
        }
        let t = options[rng.pick(weights: weights)]
        due[t.rawValue] = day + rng.int(in: 14...60)
        if t == .laser { laserSessions = 0 }
    }

    private mutating func scheduleVisit(after day: Int, _ w: DemoWorld) {
        guard let next = due.min(), next != .max else { return }
        let d = Self.openDay(max(next, day + 1))
        if d <= w.end { nextVisit = DemoWorld.local(d, Self.slot(&rng)) }
    }

    /// The client stops coming: their points expire after a year without a visit, and
    /// a membership is cancelled within a few weeks.
    private mutating func leave(day: Int, _ w: DemoWorld) {
        nextVisit = .max
        nextOrder = .max
        for i in due.indices { due[i] = .max }
        if points > 0 {
            add(DemoWorld.local(day + 365, 6 * 60), .reward(Reward(points: -points, kind: "expired", reason: "12 months without a visit")), w)
            points = 0
        }
        let soon = DemoWorld.local(day + rng.int(in: 20...75), rng.int(in: 8 * 60...21 * 60))
        guard memberUntil > soon else { return }
        if let i = pending.firstIndex(where: { $0.local == memberUntil && $0.event.type == .membership }) {
            pending.remove(at: i)
        }
        memberUntil = soon
        let p = DemoCatalog.plans[plan]
        add(soon, .membership(Membership(plan: p.name, action: .cancel, fee: Money(cents: p.cents))), w)
    }

    /// Queues an event at local time `local` (dropped after the last day); returns its id.
    @discardableResult
    private mutating func add(_ local: Int64, _ payload: Payload, _ w: DemoWorld) -> String {
        counter += 1
        let at = w.zone.instant(ofLocal: local)
        let id = DemoClinic.eventID(at: at, client: number, counter: counter, salt: w.salt)
        guard DemoWorld.day(local) <= w.end else { return id }
        var i = pending.count
        while i > 0 && pending[i - 1].local > local { i -= 1 }
        pending.insert(Pending(local: local, event: Event(id: id, client: key, at: at, payload: payload)), at: i)
        return id
    }
}
