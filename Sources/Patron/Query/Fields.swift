/// How each client field (SPEC 3.5) is read: from the in-memory columns when the
/// stored projection is current for `today`, else from the replayed state.
enum ClientFields {
    static func accessor(_ name: String, env: QueryEnv) -> ((Int) -> V)? {
        let t = env.table
        let today = env.today
        func day(_ c: ClientTable.Col32) -> (Int) -> V { { i in env.day(c, i).map(V.date) ?? .null } }
        func count(_ c: ClientTable.Col32) -> (Int) -> V { { i in .num(Double(env.u32(c, i))) } }
        func string(_ c: ClientTable.Col32) -> (Int) -> V { { i in env.string(env.u32(c, i)) } }
        // A list field from the client's state and the query's string cache (not a
        // whole projection, which would decrypt the personal fields too).
        func list(_ pick: @escaping (ClientState) -> [UInt32]) -> (Int) -> V {
            { i in
                guard let s = env.state(i) else { return .null }
                var strings: [String] = []
                for id in pick(s) { if case .str(let x) = env.string(id) { strings.append(x) } }
                return .list(ClientProjection.listOrder(strings))
            }
        }
        func personal(_ tag: PersonalData.Tag) -> (Int) -> V { { i in env.personal(i, tag).map(V.str) ?? .null } }
        func cadence(_ i: Int) -> Double? {
            let h = env.i32(.cadenceHalfDays, i)
            return h < 0 ? nil : Double(h) / 2
        }
        func spend(_ i: Int) -> Int64 { env.i64(.purchasedCents, i) - env.i64(.refundedCents, i) }
        switch name {
        case "id": return { i in .str(t.keys[i]) }
        case "name": return personal(.name)
        case "email": return personal(.email)
        case "phone": return personal(.phone)
        case "source": return string(.source)
        case "location": return string(.location)
        case "provider": return string(.provider)
        case "tier": return string(.tier)
        case "plan": return string(.plan)
        case "registered": return day(.registered)
        case "first_seen": return day(.firstSeen)
        case "last_seen": return day(.lastSeen)
        case "first_visit": return day(.firstVisit)
        case "last_visit": return day(.lastVisit)
        case "acquisition_cost":
            return { i in env.u32(.flags, i) & ProjectionRow.Flag.hasAcquisitionCost != 0 ? .money(Double(env.i64(.acquisitionCost, i))) : .null }
        case "active_days": return count(.activeDays)
        case "visits": return count(.visits)
        case "purchases": return count(.purchases)
        case "refunds": return count(.refunds)
        case "points": return { i in .num(Double(env.i64(.points, i))) }
        case "spend", "clv": return { i in .money(Double(spend(i))) }
        case "refunded": return { i in .money(Double(env.i64(.refundedCents, i))) }
        case "aov":
            return { i in
                let n = Int64(env.u32(.purchases, i))
                return n == 0 ? .null : .money(Double(ClientProjection.divideRounded(spend(i), n)))
            }
        case "lapsed": return { i in env.day(.lastSeen, i).map { .dur(Double(Int(today) - Int($0))) } ?? .null }
        case "tenure": return { i in env.day(.firstSeen, i).map { .dur(Double(Int(today) - Int($0))) } ?? .null }
        case "lifespan":
            return { i in
                guard let f = env.day(.firstSeen, i), let l = env.day(.lastSeen, i) else { return .null }
                return .dur(Double(Int(l) - Int(f)))
            }
        case "frequency":
            return { i in
                guard let f = env.day(.firstSeen, i) else { return .null }
                return .num(Double(env.u32(.activeDays, i)) * 365 / Double(max(Int(today) - Int(f), 30)))
            }
        case "cadence": return { i in cadence(i).map(V.dur) ?? .null }
        case "overdue":
            return { i in
                guard let l = env.day(.lastSeen, i), let c = cadence(i) else { return .null }
                return .dur(Double(Int(today) - Int(l)) - c)
            }
        case "next_due":
            return { i in
                guard let l = env.day(.lastSeen, i), let c = cadence(i) else { return .null }
                return .date(l + Day(c.rounded(.down)))
            }
        case "member": return { i in .bool(env.u32(.flags, i) & ProjectionRow.Flag.member != 0) }
        case "satisfaction":
            return { i in env.u32(.flags, i) & ProjectionRow.Flag.hasSatisfaction != 0 ? .num(Double(Int32(bitPattern: env.u32(.satisfaction, i)))) : .null }
        case "avg_satisfaction":
            return { i in
                let n = env.u32(.feedbackCount, i)
                return n == 0 ? .null : .num(Double(env.u32(.feedbackSum, i)) / Double(n))
            }
        case "services": return list { Array($0.services) }
        case "providers": return list(\.providers.ids)
        case "locations": return list(\.visitLocations.ids)
        case "items": return list { Array($0.items) }
        case "categories": return list { Array($0.categories) }
        default: return nil
        }
    }
}

/// How each event-row field is read: from the event table's columns, or (ids,
/// references, comments) from the log for the rows that need them.
enum EventFields {
    /// The accessor of field `name` on an event row, given the event index.
    static func accessor(_ name: String, entity: Entity, env: QueryEnv) -> (Int) -> V {
        let t = env.events
        let typeNames = EventType.allCases.reduce(into: [V](repeating: .null, count: 256)) { $0[Int($1.code)] = .str($1.rawValue) }
        func str(_ c: RawColumn<UInt32>, _ type: EventType) -> (Int) -> V {
            { k in t.type[k] == type.code ? env.poolValue(c[k]) : .null }
        }
        func number(_ type: EventType, money: Bool) -> (Int) -> V {
            { k in
                guard t.type[k] == type.code else { return .null }
                let x = t.num[k]
                if x == EventTable.null { return .null }
                return money ? .money(Double(x)) : .num(Double(x))
            }
        }
        func list(_ ids: @escaping (Int) -> [UInt32]) -> (Int) -> V {
            { k in .list(sortedSet(ids(k).compactMap { t.string($0) })) }
        }
        func decoded(_ pick: @escaping (Event) -> String?) -> (Int) -> V {
            { k in env.decoded(k).flatMap { pick($0.event) }.map(V.str) ?? .null }
        }
        switch name {
        case "id": return decoded(\.id)
        case "client": return { .str(env.clientKey(ofEvent: $0)) }
        case "at": return { .date(t.day[$0]) }
        case "position": return { .num(Double($0 + 1)) }
        case "type": return { typeNames[Int(t.type[$0])] }
        default: break
        }
        switch (entity, name) {
        case (.visits, "location"): return str(t.s0, .visit)
        case (.visits, "provider"): return str(t.s1, .visit)
        case (.visits, "services"): return list { k in t.serviceRange(k).map { t.services[$0] } }
        case (.purchases, "amount"), (.items, "amount"): return number(.purchase, money: true)
        case (.purchases, "location"), (.items, "location"): return str(t.s0, .purchase)
        case (.purchases, "provider"), (.items, "provider"): return str(t.s1, .purchase)
        case (.purchases, "channel"), (.items, "channel"): return str(t.s2, .purchase)
        case (.purchases, "items"): return list { k in t.items(k).map { t.itemName[$0] } }
        case (.purchases, "categories"): return list { k in t.items(k).map { t.itemCategory[$0] } }
        case (.items, "purchase"): return decoded(\.id)
        case (.refunds, "amount"): return number(.refund, money: true)
        case (.refunds, "purchase"):
            return decoded { e in if case .refund(let r) = e.payload { return r.purchase } else { return nil } }
        case (.rewards, "points"): return number(.reward, money: false)
        case (.rewards, "kind"): return str(t.s0, .reward)
        case (.rewards, "reason"): return str(t.s1, .reward)
        case (.tiers, "tier"): return str(t.s0, .tier)
        case (.memberships, "plan"): return str(t.s0, .membership)
        case (.memberships, "action"): return str(t.s1, .membership)
        case (.memberships, "fee"): return number(.membership, money: true)
        case (.feedback, "score"): return number(.feedback, money: false)
        case (.feedback, "comment"): return { k in t.type[k] == EventType.feedback.code ? env.comment(ofEvent: k).map(V.str) ?? .null : .null }
        case (.feedback, "visit"):
            return decoded { e in if case .feedback(let f) = e.payload { return f.visit } else { return nil } }
        default: return { _ in .null }
        }
    }

    /// Distinct strings (ignoring case), in ascending order.
    static func sortedSet(_ xs: [String]) -> [String] {
        var seen = Set<String>()
        var out: [String] = []
        for x in xs where seen.insert(Text.fold(x)).inserted { out.append(x) }
        return out.sorted { Text.compare($0, $1) < 0 }
    }
}

/// Accumulates one aggregate over a group's rows.
struct Accumulator {
    /// The aggregate function, decided once (not per row).
    enum Op { case count, min, max, sum, avg, quantile }

    let op: Op
    let percentile: Double
    var count = 0
    var sum = 0.0
    var kind: V = .null
    var best: V = .null
    var values: [Double] = []

    init(function: String, percentile: Double) {
        switch function {
        case "count": op = .count
        case "min": op = .min
        case "max": op = .max
        case "sum": op = .sum
        case "avg": op = .avg
        default: op = .quantile
        }
        self.percentile = percentile
    }

    /// Adds a value (nulls are skipped, as in SQL).
    mutating func add(_ v: V) {
        if v.isNull { return }
        count += 1
        switch op {
        case .count: return
        case .min:
            if best.isNull || Order.compare(v, best) < 0 { best = v }
        case .max:
            if best.isNull || Order.compare(v, best) > 0 { best = v }
        default:
            let x: Double
            switch v {
            case .bool(let b): x = b ? 1 : 0
            default: x = v.numeric ?? 0
            }
            if kind.isNull { kind = v }
            sum += x
            if op == .quantile { values.append(x) }
        }
    }

    /// Adds a number read through a typed column (NaN is null), `make` giving its
    /// value for `min` and `max`: the same as `add(make(x))`, without the value.
    @inline(__always) mutating func add(number x: Double, make: (Double) -> V) {
        if x.isNaN { return }
        switch op {
        case .min, .max: add(make(x))
        default:
            count += 1
            if kind.isNull { kind = make(x) }
            sum += x
            if op == .quantile { values.append(x) }
        }
    }

    /// Adds `n` non-null numbers whose sum is `sum` (`count`, `sum` and `avg` only):
    /// the same as adding them one by one when their partial sums are exact.
    mutating func add(count n: Int, sum x: Double, make: (Double) -> V) {
        guard n > 0 else { return }
        count += n
        if kind.isNull { kind = make(x) }
        sum += x
    }

    /// The aggregate's value.
    mutating func result() -> V {
        switch op {
        case .count: return .num(Double(count))
        case .min, .max: return best
        default: break
        }
        guard count > 0 else { return .null }
        let x: Double
        switch op {
        case .sum: x = sum
        case .avg: x = sum / Double(count)
        default:
            // Linear interpolation between the two ranks around p (quickselect, not a full sort).
            let rank = percentile / 100 * Double(values.count - 1)
            let lo = Int(rank.rounded(.down)), hi = Int(rank.rounded(.up))
            let a = Self.select(&values, lo)
            let b = hi == lo ? a : values[(lo + 1)...].min() ?? a
            x = a + (b - a) * (rank - Double(lo))
        }
        switch kind {
        case .money: return .money(x)
        case .dur: return .dur(x)
        default: return .num(x)
        }
    }

    /// The k-th smallest value (0-based), leaving smaller values before it and larger
    /// ones after (Hoare's selection with a median-of-three pivot).
    static func select(_ v: inout [Double], _ k: Int) -> Double {
        var lo = 0, hi = v.count - 1
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if v[mid] < v[lo] { v.swapAt(mid, lo) }
            if v[hi] < v[lo] { v.swapAt(hi, lo) }
            if v[hi] < v[mid] { v.swapAt(hi, mid) }
            let pivot = v[mid]
            var i = lo, j = hi
            while i <= j {
                while v[i] < pivot { i += 1 }
                while v[j] > pivot { j -= 1 }
                if i <= j {
                    v.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if k <= j { hi = j } else if k >= i { lo = i } else { return v[k] }
        }
        return v[k]
    }
}
