/// `cohorts [by month|quarter|year] [show retention|revenue] [where <client expr>]`
/// (SPEC 3.7, 3.11).
///
/// A client's cohort is the period of its `first_seen`; clients in scope without an
/// activity day belong to none. Columns: `cohort` (`2024-03`, `2024-Q1`, or for years
/// the number 2024, as `year(d)` gives it), `clients` (the cohort's size), then
/// `p0, p1, …` up to the period containing `today` for the oldest cohort. A cell of
/// cohort c in column pk is about period c + k; it is null when that period lies
/// after `today`'s.
///
/// * retention: the share (0 to 1) of the cohort's clients with an activity day in
///   that period;
/// * revenue: the cohort's purchases minus refunds, each in its own day's period,
///   from the start up to and including that period, divided by the cohort's size
///   (money, rounded to the cent at the end). A refund dated before its client's
///   first period counts in p0.
///
/// Only events on or before `today` count. Rows are the cohorts with at least one
/// client, oldest first.
struct CohortsReport {
    let statement: CohortsStatement
    let run: AnalyticRun

    /// The period number of a day: months, quarters or years since year 0.
    static func period(_ p: CohortsStatement.Period, _ d: Day) -> Int {
        let c = Calendar.civil(Int(d))
        switch p {
        case .month: return c.year * 12 + c.month - 1
        case .quarter: return c.year * 4 + (c.month - 1) / 3
        case .year: return c.year
        }
    }

    /// The `cohort` value of a period number.
    static func label(_ p: CohortsStatement.Period, _ n: Int) -> Value {
        func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
        switch p {
        case .month:
            let y = floorDiv(n, 12)
            return .string(Calendar.pad(y, 4) + "-" + Calendar.pad(n - y * 12 + 1, 2))
        case .quarter:
            let y = floorDiv(n, 4)
            return .string(Calendar.pad(y, 4) + "-Q" + String(n - y * 4 + 1))
        case .year:
            return .number(Double(n))
        }
    }

    func execute(columns: ([Column]) throws -> Void, row emit: ([Value]) throws -> Void) throws {
        let filter = try run.filter(statement.filter)
        let env = run.env
        let period = statement.period
        let today = env.today
        let last = Self.period(period, today)

        // Clients in scope by cohort.
        var members: [(row: Int, cohort: Int)] = []
        try run.forEachClient(filter) { i in
            guard let first = env.day(.firstSeen, i) else { return }
            members.append((i, Self.period(period, first)))
        }
        let cohortKind: ValueKind = period == .year ? .number : .string
        var head = [Column(name: "cohort", kind: cohortKind), Column(name: "clients", kind: .number)]
        guard let oldest = members.map(\.cohort).min() else {
            try columns(head)
            return
        }
        let width = max(last - oldest + 1, 1)
        let cellKind: ValueKind = statement.measure == .retention ? .number : .money
        head += (0..<width).map { Column(name: "p\($0)", kind: cellKind) }
        try columns(head)

        // Cohort slots, oldest first.
        let cohorts = Array(Set(members.map(\.cohort))).sorted()
        var slot: [Int: Int] = [:]
        for (s, c) in cohorts.enumerated() { slot[c] = s }
        var size = [Int](repeating: 0, count: cohorts.count)
        var cells = [Double](repeating: 0, count: cohorts.count * width)

        let ce = env.clientEvents
        let t = env.events
        let days = ce.days.base, events = ce.events.base
        let type = t.type.base, day = t.day.base, num = t.num.base
        let purchase = EventType.purchase.code, refund = EventType.refund.code
        // Period of a day, remembered for the last day asked (days come in runs).
        var memoDay = Day.min, memoPeriod = 0
        func periodOf(_ d: Day) -> Int {
            if d != memoDay { memoDay = d; memoPeriod = Self.period(period, d) }
            return memoPeriod
        }
        for (n, m) in members.enumerated() {
            if n & 0x3FFF == 0 { try QueryCancellation.checkpoint() }
            let s = slot[m.cohort] ?? 0
            size[s] += 1
            let base = s * width
            switch statement.measure {
            case .retention:
                // Activity days ascending: count each period once.
                var seen = Int.min
                for j in ce.dayRange(m.row) {
                    let d = days[j]
                    if d > today { break }
                    let p = periodOf(d)
                    if p == seen { continue }
                    seen = p
                    let k = p - m.cohort
                    if k >= 0 && k < width { cells[base + k] += 1 }
                }
            case .revenue:
                for j in ce.range(m.row) {
                    let k = Int(events[j])
                    let code = type[k]
                    guard code == purchase || code == refund, day[k] <= today else { continue }
                    let x = num[k]
                    guard x != EventTable.null else { continue }
                    let offset = min(max(periodOf(day[k]) - m.cohort, 0), width - 1)
                    cells[base + offset] += code == purchase ? Double(x) : -Double(x)
                }
            }
        }
        for (s, c) in cohorts.enumerated() {
            var out: [Value] = [Self.label(period, c), .number(Double(size[s]))]
            let n = Double(size[s])
            var cumulative = 0.0
            for k in 0..<width {
                if c + k > last {
                    out.append(.null)
                    continue
                }
                let x = cells[s * width + k]
                switch statement.measure {
                case .retention: out.append(.number(x / n))
                case .revenue:
                    cumulative += x
                    out.append(V.money(cumulative / n).output)
                }
            }
            try emit(out)
        }
    }
}
