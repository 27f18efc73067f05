/// `paths from X [within D]` (SPEC 3.7, 3.11): where clients go after a service.
///
/// Services of visits only (purchase items do not count). X matches a service name
/// ignoring case (`botox` finds `Botox`), by equality, not containment. For each
/// client in the world of the query with a visit having X:
///
/// * d0 = the first day with a visit having X;
/// * the next day = the first visit day after d0, at most D days after it (no limit
///   without `within`) and not after `today`, with a service other than X — days
///   whose visits have only X are passed over;
/// * the next services = the services other than X on that day (all its visits);
///   the client counts once under each (`(none)` when there is no next day).
///
/// Columns: `next`, `clients`, `share` (clients ÷ clients who had X), and
/// `avg_spend_after` (the mean over the row's clients of purchases minus refunds on
/// days after d0 up to `today`), sorted by `clients` descending, then `next`
/// ascending ignoring case. Services group ignoring case; the spelling first met
/// in the log shows.
struct PathsReport {
    let statement: PathsStatement
    let run: AnalyticRun

    static let columns: [Column] = [
        Column(name: "next", kind: .string), Column(name: "clients", kind: .number), Column(name: "share", kind: .number),
        Column(name: "avg_spend_after", kind: .money),
    ]

    func execute(columns: ([Column]) throws -> Void, row emit: ([Value]) throws -> Void) throws {
        let env = run.env
        let t = env.events
        let n = env.eventCount
        let strings = t.pool.strings
        let folded = t.pool.folded
        // Which string ids are X, and which name a service at all.
        var isX = [Bool](repeating: false, count: strings.count)
        for id in 1..<strings.count where Text.equal(strings[id], statement.from) { isX[id] = true }
        var isService = [Bool](repeating: false, count: strings.count)
        let visit = EventType.visit.code, purchase = EventType.purchase.code, refund = EventType.refund.code
        let type = t.type.base, day = t.day.base, num = t.num.base, sub = t.sub.base, subCount = t.subCount.base
        let services = t.services.base
        for k in 0..<n where type[k] == visit {
            let s = Int(sub[k])
            for j in s..<(s + Int(subCount[k])) { isService[Int(services[j])] = true }
        }
        guard isService.indices.contains(where: { isService[$0] && isX[$0] }) else {
            let names = isService.indices.filter { isService[$0] }.map { strings[$0] }
            throw QueryError("no visit has the service \"\(statement.from)\"", at: statement.fromRange,
                             hint: Suggest.nearest(statement.from, in: names).map { "did you mean \"\($0)\"?" }, source: run.source)
        }
        try columns(Self.columns)

        let ce = env.clientEvents
        let events = ce.events.base
        let today = env.today
        let window = statement.within
        // Per next service (a folded string id; 0 is `(none)`): clients and spend after.
        var counts: [UInt32: (clients: Int, spendCents: Int64)] = [:]
        var had = 0
        var next: [UInt32] = []
        for i in 0..<env.table.count {
            if i & 0x3FFF == 0 { try QueryCancellation.checkpoint() }
            let range = ce.range(i)
            // d0: the first day with X.
            var d0 = Day.max
            for j in range {
                let k = Int(events[j])
                guard type[k] == visit, day[k] <= today, day[k] < d0 else { continue }
                let s = Int(sub[k])
                if (s..<(s + Int(subCount[k]))).contains(where: { isX[Int(services[$0])] }) { d0 = day[k] }
            }
            guard d0 != Day.max else { continue }
            had += 1
            // The next day: the first later visit day in the window with another service.
            var d1 = Day.max
            for j in range {
                let k = Int(events[j])
                let d = day[k]
                guard type[k] == visit, d > d0, d <= today, d < d1 else { continue }
                if let window, Double(Int(d) - Int(d0)) > window { continue }
                let s = Int(sub[k])
                if (s..<(s + Int(subCount[k]))).contains(where: { !isX[Int(services[$0])] }) { d1 = d }
            }
            next.removeAll(keepingCapacity: true)
            var spend: Int64 = 0
            for j in range {
                let k = Int(events[j])
                let d = day[k]
                guard d <= today else { continue }
                let code = type[k]
                if code == visit && d == d1 {
                    let s = Int(sub[k])
                    for q in s..<(s + Int(subCount[k])) {
                        let id = services[q]
                        if !isX[Int(id)] {
                            let f = folded[Int(id)]
                            if !next.contains(f) { next.append(f) }
                        }
                    }
                } else if d > d0 && (code == purchase || code == refund) && num[k] != EventTable.null {
                    spend &+= code == purchase ? num[k] : -num[k]
                }
            }
            if next.isEmpty { next.append(0) }
            for f in next {
                var c = counts[f] ?? (0, 0)
                c.clients += 1
                c.spendCents &+= spend
                counts[f] = c
            }
        }
        let name: (UInt32) -> String = { $0 == 0 ? "(none)" : strings[Int($0)] }
        let rows = counts.map { (name: name($0.key), clients: $0.value.clients, spend: $0.value.spendCents) }
            .sorted { a, b in
                if a.clients != b.clients { return a.clients > b.clients }
                let c = Text.compare(a.name, b.name)
                return c != 0 ? c < 0 : a.name < b.name
            }
        for r in rows {
            try emit([.string(r.name), .number(Double(r.clients)), .number(Double(r.clients) / Double(had)),
                      V.money(Double(r.spend) / Double(r.clients)).output])
        }
    }
}
