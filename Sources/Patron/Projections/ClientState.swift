import CSupport

/// Orders "latest" values: by business time, then by log position.
struct Stamp: Comparable, Hashable {
    var at: Int64
    var position: UInt64
    static func < (a: Stamp, b: Stamp) -> Bool { (a.at, a.position) < (b.at, b.position) }
}

/// A value that the latest event (by ``Stamp``) decides.
struct Stamped<V: Equatable>: Equatable {
    var stamp: Stamp
    var value: V
}

/// How often a value was seen and when last (for "most frequent, ties: most recent").
struct Tally: Equatable {
    var count: UInt32
    var last: Stamp
}

/// A small set of string ids kept as a sorted array: cheap to copy, encode and decode.
struct IDSet: Equatable, Sequence {
    private(set) var ids: [UInt32] = []
    /// Hints the list into the cache (``prefetchStorage(of:)``).
    @inline(__always) mutating func prefetch() { prefetchStorage(of: &ids) }

    init() {}
    init(sorted ids: [UInt32]) { self.ids = ids }

    private func index(of id: UInt32) -> (Int, Bool) {
        var lo = 0, hi = ids.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ids[mid] < id { lo = mid + 1 } else { hi = mid }
        }
        return (lo, lo < ids.count && ids[lo] == id)
    }

    mutating func insert(_ id: UInt32) {
        if let last = ids.last, last < id { ids.append(id); return }
        let (i, found) = index(of: id)
        if !found { ids.insert(id, at: i) }
    }

    mutating func formUnion(_ other: IDSet) { for id in other.ids { insert(id) } }
    var count: Int { ids.count }
    func makeIterator() -> IndexingIterator<[UInt32]> { ids.makeIterator() }
}

/// Per-value tallies (count and last stamp), sorted by string id.
struct Tallies: Equatable {
    struct Entry: Equatable {
        var id: UInt32
        var tally: Tally
    }
    private(set) var entries: [Entry] = []
    /// Hints the list into the cache (``prefetchStorage(of:)``).
    @inline(__always) mutating func prefetch() { prefetchStorage(of: &entries) }

    init() {}
    init(sorted entries: [Entry]) { self.entries = entries }

    mutating func count(_ id: UInt32, _ stamp: Stamp) { add(id, Tally(count: 1, last: stamp)) }

    mutating func add(_ id: UInt32, _ t: Tally) {
        var lo = 0, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].id < id { lo = mid + 1 } else { hi = mid }
        }
        if lo < entries.count && entries[lo].id == id {
            entries[lo].tally.count += t.count
            if t.last > entries[lo].tally.last { entries[lo].tally.last = t.last }
        } else {
            entries.insert(Entry(id: id, tally: t), at: lo)
        }
    }

    mutating func combine(_ other: Tallies) { for e in other.entries { add(e.id, e.tally) } }
    var ids: [UInt32] { entries.map(\.id) }

    /// The value seen most often; ties go to the most recently seen.
    var mostFrequent: UInt32? {
        var best: Entry?
        for e in entries {
            if let b = best, (b.tally.count, b.tally.last) >= (e.tally.count, e.tally.last) { continue }
            best = e
        }
        return best?.id
    }
}

/// Everything the client projection keeps about one client, folded from its events.
///
/// Folding is order-independent: counts and sums add up, sets unite, and every
/// "latest" value carries the stamp (at, position) of the event that set it, so
/// events arriving out of business order give the same state as a replay in order.
/// Strings are dictionary ids (see ``StringDictionary``); 0 is "none".
struct ClientState: Equatable {
    var streamVersion: UInt32 = 0
    /// The position of the last event of this key's own stream, 0 before its first
    /// (where ``StreamChain`` starts reading the stream back).
    var streamHead: UInt64 = 0
    var eventCount: UInt32 = 0
    var forgotten = false
    var mergedInto: UInt32 = 0
    var members: [UInt32] = []

    var registered: Day?
    var firstVisit: Day?
    var lastVisit: Day?
    var maxDay: Day?
    var visits: UInt32 = 0
    var purchases: UInt32 = 0
    var refunds: UInt32 = 0
    var purchasedCents: Int64 = 0
    var refundedCents: Int64 = 0
    var points: Int64 = 0
    var feedbackCount: UInt32 = 0
    var feedbackSum: Int64 = 0

    /// Personal values are references to the sealed event that holds them: the
    /// stamp's position, and the client number whose key sealed it.
    var name: Stamped<UInt32>?
    var email: Stamped<UInt32>?
    var phone: Stamped<UInt32>?
    var clientLocation: Stamped<UInt32>?
    var source: Stamped<UInt32>?
    var acquisitionCost: Stamped<Int64>?
    var tier: Stamped<UInt32>?
    /// Membership: value is the plan id, with the high bit set for `start`.
    var membership: Stamped<UInt32>?
    var satisfaction: Stamped<Int64>?

    /// Activity days (a visit or a purchase), ascending, distinct.
    var activityDays: [Day] = []
    /// The value of every activity day together (SPEC 5.2: a day's value is its
    /// purchase amounts minus its refunds), and of the first one alone, so the
    /// Gamma-Gamma input, the mean value of the repeat days, needs no event scan.
    var activityValueCents: Int64 = 0
    var firstDayValueCents: Int64 = 0
    /// Refunds on days that are not activity days (yet: a visit or purchase that
    /// arrives later for the same day makes them count), ascending by day.
    var strayRefunds: [DayAmount] = []
    var visitLocations = Tallies()
    var providers = Tallies()
    var services = IDSet()
    var items = IDSet()
    var categories = IDSet()

    static let memberBit: UInt32 = 1 << 31

    /// Cache hints (``ProjectionFolding/prefetch(_:)``) for the lists a fold reads and
    /// changes: the header of each and, for the activity days, the end it appends to.
    ///
    /// `mutating` (it changes nothing) so that a call on a state held in a class works
    /// in place: to call a non-mutating method on a class's stored struct, Swift copies
    /// the struct first, retaining each of its lists.
    mutating func prefetchLists() {
        // Each list passed in place (`inout`): a call taking the list as an argument
        // would retain it first (the state could change during the call).
        prefetchStorage(of: &activityDays)
        visitLocations.prefetch()
        providers.prefetch()
        services.prefetch()
    }

    /// Folds one event into the state. `owner` is the client number of the event's
    /// own key (whose key sealed its personal data); `intern` maps strings to ids.
    mutating func apply(_ event: Event, position: UInt64, day: Day, owner: UInt32, hasPersonal: PersonalData?,
                        intern: (String) throws -> UInt32) rethrows {
        try withUnsafePointer(to: event) { e in
            try apply(at: e, position: position, day: day, owner: owner, hasPersonal: hasPersonal, intern: intern)
        }
    }

    /// ``apply(_:position:day:owner:hasPersonal:intern:)`` for the event `event` points
    /// to, read in place (passed by value, it would be copied).
    mutating func apply(at event: UnsafePointer<Event>, position: UInt64, day: Day, owner: UInt32,
                        hasPersonal: PersonalData?, intern: (String) throws -> UInt32) rethrows {
        let stamp = Stamp(at: event.pointee.at, position: position)
        eventCount += 1
        maxDay = max(maxDay ?? day, day)
        func later<V>(_ current: Stamped<V>?, _ value: V) -> Stamped<V>? {
            if let current, current.stamp > stamp { return current }
            return Stamped(stamp: stamp, value: value)
        }
        switch event.pointee.payload {
        case .client(let c):
            registered = min(registered ?? day, day)
            if let p = hasPersonal {
                if p.name != nil { name = later(name, owner) }
                if p.email != nil { email = later(email, owner) }
                if p.phone != nil { phone = later(phone, owner) }
            }
            if let l = c.location { clientLocation = later(clientLocation, try intern(l)) }
            if let s = c.source { source = later(source, try intern(s)) }
            if let a = c.acquisitionCost { acquisitionCost = later(acquisitionCost, a.cents) }
        case .visit(let v):
            visits += 1
            addActivityDay(day, value: 0)
            firstVisit = min(firstVisit ?? day, day)
            lastVisit = max(lastVisit ?? day, day)
            for s in v.services { services.insert(try intern(s)) }
            if let l = v.location { visitLocations.count(try intern(l), stamp) }
            if let p = v.provider { providers.count(try intern(p), stamp) }
        case .purchase(let p):
            purchases += 1
            purchasedCents = Self.saturating(purchasedCents, p.amount.cents)
            addActivityDay(day, value: p.amount.cents)
            for item in p.items {
                if let n = item.name { items.insert(try intern(n)) }
                if let c = item.category { categories.insert(try intern(c)) }
            }
        case .refund(let r):
            refunds += 1
            refundedCents = Self.saturating(refundedCents, r.amount.cents)
            refund(day, r.amount.cents)
        case .reward(let r):
            points += r.points
        case .tier(let t):
            tier = later(tier, try intern(t.tier))
        case .membership(let m):
            let plan = try m.plan.map(intern) ?? 0
            membership = later(membership, plan | (m.action == .start ? Self.memberBit : 0))
        case .feedback(let f):
            feedbackCount += 1
            feedbackSum += f.score
            satisfaction = later(satisfaction, f.score)
        case .forget:
            forgotten = true
        case .merge:
            break
        }
    }

    /// Where `day` is or would go in the activity days, and whether it is there.
    private func activityIndex(_ day: Day) -> (Int, Bool) {
        if let last = activityDays.last, last < day { return (activityDays.count, false) }
        return Self.search(activityDays, day)
    }

    /// Where `day` is or would go in the ascending `days`, and whether it is there.
    private static func search(_ days: [Day], _ day: Day) -> (Int, Bool) {
        var lo = 0, hi = days.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if days[mid] < day { lo = mid + 1 } else { hi = mid }
        }
        return (lo, lo < days.count && days[lo] == day)
    }

    /// Adds `value` (a purchase's amount, 0 for a visit) on the activity day `day`.
    private mutating func addActivityDay(_ day: Day, value: Int64) {
        let (i, found) = activityIndex(day)
        var v = value
        if !found {
            activityDays.insert(day, at: i)
            v = Self.saturating(v, -DayAmount.take(day, from: &strayRefunds))
            if i == 0 { firstDayValueCents = 0 }
        }
        activityValueCents = Self.saturating(activityValueCents, v)
        if i == 0 { firstDayValueCents = Self.saturating(firstDayValueCents, v) }
    }

    /// Subtracts a refund from its day's value, or keeps it aside until the day is an activity day.
    private mutating func refund(_ day: Day, _ cents: Int64) {
        let (i, found) = activityIndex(day)
        guard found else { return DayAmount.add(day, cents, to: &strayRefunds) }
        activityValueCents = Self.saturating(activityValueCents, -cents)
        if i == 0 { firstDayValueCents = Self.saturating(firstDayValueCents, -cents) }
    }

    /// Folds another person's state into this one (a merge): the result equals a
    /// fold of both event sets.
    mutating func absorb(_ o: ClientState) {
        eventCount += o.eventCount
        forgotten = forgotten || o.forgotten
        if let d = o.maxDay { maxDay = max(maxDay ?? d, d) }
        if let d = o.registered { registered = min(registered ?? d, d) }
        if let d = o.firstVisit { firstVisit = min(firstVisit ?? d, d) }
        if let d = o.lastVisit { lastVisit = max(lastVisit ?? d, d) }
        visits += o.visits
        purchases += o.purchases
        refunds += o.refunds
        purchasedCents = Self.saturating(purchasedCents, o.purchasedCents)
        refundedCents = Self.saturating(refundedCents, o.refundedCents)
        points += o.points
        feedbackCount += o.feedbackCount
        feedbackSum += o.feedbackSum
        func pick<V>(_ a: Stamped<V>?, _ b: Stamped<V>?) -> Stamped<V>? {
            guard let a else { return b }
            guard let b else { return a }
            return b.stamp > a.stamp ? b : a
        }
        name = pick(name, o.name)
        email = pick(email, o.email)
        phone = pick(phone, o.phone)
        clientLocation = pick(clientLocation, o.clientLocation)
        source = pick(source, o.source)
        acquisitionCost = pick(acquisitionCost, o.acquisitionCost)
        tier = pick(tier, o.tier)
        membership = pick(membership, o.membership)
        satisfaction = pick(satisfaction, o.satisfaction)
        absorbValues(o)
        visitLocations.combine(o.visitLocations)
        providers.combine(o.providers)
        services.formUnion(o.services)
        items.formUnion(o.items)
        categories.formUnion(o.categories)
    }

    /// Joins the activity days and their values of `o` into this state: each side's
    /// refunds on a day that is an activity day of the other now count.
    private mutating func absorbValues(_ o: ClientState) {
        let mine = activityDays, theirs = o.activityDays
        // The value of the joined first day: each side's own first-day value if the day
        // is its first, else minus its refunds kept aside for that day.
        var first: Int64 = 0
        if let day = [mine.first, theirs.first].compactMap({ $0 }).min() {
            for side in [self, o] {
                first = Self.saturating(first, side.activityDays.first == day
                                        ? side.firstDayValueCents : -DayAmount.amount(day, in: side.strayRefunds))
            }
        }
        var total = Self.saturating(activityValueCents, o.activityValueCents)
        var strays: [DayAmount] = []
        for (side, otherDays) in [(strayRefunds, theirs), (o.strayRefunds, mine)] {
            for r in side {
                if Self.search(otherDays, r.day).1 { total = Self.saturating(total, -r.cents) } else { DayAmount.add(r.day, r.cents, to: &strays) }
            }
        }
        for d in theirs {
            let (i, found) = activityIndex(d)
            if !found { activityDays.insert(d, at: i) }
        }
        activityValueCents = total
        firstDayValueCents = first
        strayRefunds = strays
    }

    // MARK: Derived values

    /// Number of activity days.
    var activeDays: UInt32 { UInt32(activityDays.count) }

    /// The value of every activity day but the first, in cents (0 with fewer than
    /// two): `x` times the mean that Gamma-Gamma fits (SPEC 5.2).
    var repeatValueCents: Int64 {
        activityDays.count < 2 ? 0 : Self.saturating(activityValueCents, -firstDayValueCents)
    }

    /// Median gap between consecutive activity days, in half days (nil with fewer than 2 days).
    var cadenceHalfDays: Int32? {
        let n = activityDays.count
        guard n >= 2 else { return nil }
        // In scratch memory (on the stack while small): this runs for every changed
        // client at every commit.
        return withUnsafeTemporaryAllocation(of: Int32.self, capacity: n - 1) { scratch in
            var gaps = scratch
            for i in 1..<n { gaps[i - 1] = activityDays[i] - activityDays[i - 1] }
            // Most clients have a few dozen days at most: sorted by insertion, without
            // the general sort's setup.
            if n <= 33 {
                for i in 1..<(n - 1) {
                    let g = gaps[i]
                    var j = i
                    while j > 0 && gaps[j - 1] > g {
                        gaps[j] = gaps[j - 1]
                        j -= 1
                    }
                    gaps[j] = g
                }
            } else {
                gaps.sort()
            }
            let m = n - 1
            return m % 2 == 1 ? gaps[m / 2] * 2 : gaps[m / 2 - 1] + gaps[m / 2]
        }
    }

    /// `location`: the latest client-event location, else the most frequent visit location.
    var location: UInt32? { clientLocation?.value ?? visitLocations.mostFrequent }
    /// `provider`: the provider of most visits.
    var provider: UInt32? { providers.mostFrequent }
    /// `member`: the latest membership event is a start.
    var isMember: Bool { (membership?.value ?? 0) & Self.memberBit != 0 }
    /// `plan` while a member.
    var plan: UInt32? {
        guard let m = membership, m.value & Self.memberBit != 0 else { return nil }
        let p = m.value & ~Self.memberBit
        return p == 0 ? nil : p
    }
}

extension Stamp {
    static func >= (a: Stamp, b: Stamp) -> Bool { !(a < b) }
}

/// An amount of money on a day; lists of them are kept ascending by day, one entry per day.
struct DayAmount: Equatable {
    var day: Day
    var cents: Int64

    /// Adds `cents` to the entry of `day` in `list`, inserting it in day order.
    static func add(_ day: Day, _ cents: Int64, to list: inout [DayAmount]) {
        if let i = list.firstIndex(where: { $0.day >= day }) {
            if list[i].day == day {
                list[i].cents = ClientState.saturating(list[i].cents, cents)
            } else {
                list.insert(DayAmount(day: day, cents: cents), at: i)
            }
        } else {
            list.append(DayAmount(day: day, cents: cents))
        }
    }

    /// Removes the entry of `day` from `list` and returns its amount (0 without one).
    static func take(_ day: Day, from list: inout [DayAmount]) -> Int64 {
        guard !list.isEmpty, let i = list.firstIndex(where: { $0.day == day }) else { return 0 }
        return list.remove(at: i).cents
    }

    /// The amount of `day` in `list` (0 without one).
    static func amount(_ day: Day, in list: [DayAmount]) -> Int64 {
        list.first(where: { $0.day == day })?.cents ?? 0
    }
}

private func >= (a: (UInt32, Stamp), b: (UInt32, Stamp)) -> Bool {
    a.0 != b.0 ? a.0 > b.0 : a.1 >= b.1
}

extension ClientState {
    /// `a + b`, held at the Int64 bounds instead of trapping: a client's totals can
    /// only get there through thousands of purchases each near the money limit.
    static func saturating(_ a: Int64, _ b: Int64) -> Int64 {
        let (v, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b < 0 ? Int64.min : Int64.max) : v
    }
}

/// Hints the storage of `list` into the cache (its header and first elements) from the
/// array's reference alone: asking the array for its elements would read its count
/// there first, and so wait for the very memory the hint is for. An array here is one
/// reference to that storage; were it laid out otherwise, the hint would only be
/// wasted (a prefetch of any address is harmless).
@inline(__always) func prefetchStorage<T>(of list: inout [T]) {
    withUnsafeBytes(of: &list) { raw in
        guard let p = UnsafeRawPointer(bitPattern: raw.load(as: UInt.self)) else { return }
        patron_prefetch(p)
        patron_prefetch(p + 64)
    }
}
