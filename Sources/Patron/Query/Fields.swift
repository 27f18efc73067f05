/// How each client field (SPEC 3.5) is read: from the in-memory columns when the
/// stored projection is current for `today`, else from the replayed state.
enum ClientFields {
    static func accessor(_ name: String, env: QueryEnv) -> ((Int) -> V)? {
        let t = env.table
        let today = env.today
        func day(_ c: ClientTable.Col32) -> (Int) -> V { { i in env.day(c, i).map(V.date) ?? .null } }
        func count(_ c: ClientTable.Col32) -> (Int) -> V { { i in .num(Double(env.u32(c, i))) } }
        func string(_ c: ClientTable.Col32) -> (Int) -> V { { i in env.string(env.u32(c, i)) } }
        func list(_ pick: @escaping (ClientProjection) -> [String]) -> (Int) -> V { { i in env.projection(i).map { .list(pick($0)) } ?? .null } }
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
        case "services": return list(\.services)
        case "providers": return list(\.providers)
        case "locations": return list(\.locations)
        case "items": return list(\.items)
        case "categories": return list(\.categories)
        default: return nil
        }
    }
}

/// How each event-row field is read from a decoded event.
enum EventFields {
    static func accessor(_ name: String, entity: Entity, env: QueryEnv) -> (EventRow) -> V {
        func s(_ x: String?) -> V { x.map(V.str) ?? .null }
        func m(_ x: Money?) -> V { x.map { .money(Double($0.cents)) } ?? .null }
        switch name {
        case "id": return { s($0.event.id) }
        case "client": return { .str(env.clientKey(of: $0)) }
        case "at": return { .date($0.day) }
        case "position": return { .num(Double($0.position)) }
        case "type": return { .str($0.event.type.rawValue) }
        default: break
        }
        return { e in
            switch (e.event.payload, name) {
            case (.visit(let v), "location"): return s(v.location)
            case (.visit(let v), "provider"): return s(v.provider)
            case (.visit(let v), "services"): return .list(sortedSet(v.services))
            case (.purchase(let p), "amount"): return .money(Double(p.amount.cents))
            case (.purchase(let p), "location"): return s(p.location)
            case (.purchase(let p), "provider"): return s(p.provider)
            case (.purchase(let p), "channel"): return s(p.channel)
            case (.purchase(let p), "items"): return .list(sortedSet(p.items.compactMap(\.name)))
            case (.purchase(let p), "categories"): return .list(sortedSet(p.items.compactMap(\.category)))
            case (.purchase, "purchase"): return s(e.event.id)
            case (.refund(let r), "amount"): return .money(Double(r.amount.cents))
            case (.refund(let r), "purchase"): return s(r.purchase)
            case (.reward(let r), "points"): return .num(Double(r.points))
            case (.reward(let r), "kind"): return s(r.kind)
            case (.reward(let r), "reason"): return s(r.reason)
            case (.tier(let t), "tier"): return .str(t.tier)
            case (.membership(let x), "plan"): return s(x.plan)
            case (.membership(let x), "action"): return .str(x.action.rawValue)
            case (.membership(let x), "fee"): return m(x.fee)
            case (.feedback(let f), "score"): return .num(Double(f.score))
            case (.feedback, "comment"): return s(env.comment(of: e))
            case (.feedback(let f), "visit"): return s(f.visit)
            default: return .null
            }
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
    let function: String
    let percentile: Double
    var count = 0
    var sum = 0.0
    var kind: V = .null
    var best: V = .null
    var values: [Double] = []

    init(function: String, percentile: Double) {
        self.function = function
        self.percentile = percentile
    }

    /// Adds a value (nulls are skipped, as in SQL).
    mutating func add(_ v: V) {
        if v.isNull { return }
        count += 1
        switch function {
        case "count": return
        case "min":
            if best.isNull || Order.compare(v, best) < 0 { best = v }
        case "max":
            if best.isNull || Order.compare(v, best) > 0 { best = v }
        default:
            let x: Double
            switch v {
            case .bool(let b): x = b ? 1 : 0
            default: x = v.numeric ?? 0
            }
            if kind.isNull { kind = v }
            sum += x
            if function == "median" || function == "percentile" { values.append(x) }
        }
    }

    /// The aggregate's value.
    mutating func result() -> V {
        switch function {
        case "count": return .num(Double(count))
        case "min", "max": return best
        default: break
        }
        guard count > 0 else { return .null }
        let x: Double
        switch function {
        case "sum": x = sum
        case "avg": x = sum / Double(count)
        default:
            values.sort()
            let rank = percentile / 100 * Double(values.count - 1)
            let lo = Int(rank.rounded(.down)), hi = Int(rank.rounded(.up))
            x = values[lo] + (values[hi] - values[lo]) * (rank - Double(lo))
        }
        switch kind {
        case .money: return .money(x)
        case .dur: return .dur(x)
        default: return .num(x)
        }
    }
}
