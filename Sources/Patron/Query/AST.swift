/// The syntax tree of a statement. Every node carries its source range so that
/// checking and execution errors point at the right place.

/// Entities a query can range over (SPEC 3.2).
public enum Entity: String, Sendable, CaseIterable {
    case clients, visits, purchases, items, refunds, rewards, tiers, memberships, feedback, events

    /// The event type whose events make this entity's rows (nil for clients and events).
    var eventType: EventType? {
        switch self {
        case .clients, .events: nil
        case .visits: .visit
        case .purchases, .items: .purchase
        case .refunds: .refund
        case .rewards: .reward
        case .tiers: .tier
        case .memberships: .membership
        case .feedback: .feedback
        }
    }

    /// Reads an entity name, plural or singular (`visit`, `visits`), ignoring case.
    static func named(_ word: String) -> Entity? {
        let w = word.lowercased()
        if let e = Entity(rawValue: w) { return e }
        switch w {
        case "client": return .clients
        case "visit": return .visits
        case "purchase": return .purchases
        case "item": return .items
        case "refund": return .refunds
        case "reward": return .rewards
        case "tier": return .tiers
        case "membership": return .memberships
        case "event": return .events
        default: return nil
        }
    }
}

/// Binary operators, by precedence group.
enum BinaryOp: String, Equatable {
    case or, and
    case eq = "=", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">="
    case add = "+", sub = "-", mul = "*", div = "/"

    var isComparison: Bool { [.eq, .ne, .lt, .le, .gt, .ge].contains(self) }
    var isArithmetic: Bool { [.add, .sub, .mul, .div].contains(self) }
}

/// A literal as written.
enum Literal: Equatable {
    case number(Double)
    /// Exact cents.
    case money(Int64)
    /// Days.
    case duration(Double)
    case date(Day)
    case string(String)
    case bool(Bool)
    case null
}

/// An expression node.
indirect enum ExprKind: Equatable {
    case literal(Literal)
    case today
    /// A bare word: a field name where one exists, else a string (`tier = gold`).
    case name(String)
    /// `client.tier`, `items.category`, `purchases.amount`.
    case path([String])
    /// `$name`, with an optional default (`$days = 90d`).
    case parameter(String, default: Expr?)
    case not(Expr)
    case negate(Expr)
    case binary(BinaryOp, Expr, Expr)
    case inList(Expr, [Expr], negated: Bool)
    case between(Expr, Expr, Expr, negated: Bool)
    case isNull(Expr, negated: Bool)
    case contains(Expr, Expr, negated: Bool)
    /// `date in last 90d`.
    case inLast(Expr, Expr, negated: Bool)
    /// A function or row aggregate: `month(at)`, `count()`, `avg(spend)`, `expected(90d)`.
    case call(String, [Expr])
    /// A client-scoped aggregate: `count(visits where …)`, `sum(purchases.amount where …)`.
    case scoped(function: String, entity: Entity, field: String?, condition: Expr?)
    /// `has [no] <entity> [where <condition>]`.
    case has(negated: Bool, entity: Entity, condition: Expr?)
}

/// An expression with its source range.
struct Expr: Equatable {
    var kind: ExprKind
    var range: SourceRange

    init(_ kind: ExprKind, _ range: SourceRange) {
        self.kind = kind
        self.range = range
    }
}

/// One `show` item.
struct ShowItem: Equatable {
    var expr: Expr
    var alias: String?
}

/// One `sort by` key.
struct SortKey: Equatable {
    var expr: Expr
    var descending: Bool
}

/// `top N[%] by expr`.
struct TopClause: Equatable {
    var count: Double
    var percent: Bool
    var by: Expr
    var range: SourceRange
}

/// A query (SPEC 3.1).
struct Query: Equatable {
    var entity: Entity
    var entityRange: SourceRange
    var filter: Expr?
    var groupBy: [Expr] = []
    var show: [ShowItem] = []
    var sortBy: [SortKey] = []
    var top: TopClause?
    var limit: (Int, SourceRange)?
    var asOf: Expr?
    var range: SourceRange

    static func == (a: Query, b: Query) -> Bool {
        a.entity == b.entity && a.filter == b.filter && a.groupBy == b.groupBy && a.show == b.show
            && a.sortBy == b.sortBy && a.top == b.top && a.limit?.0 == b.limit?.0 && a.asOf == b.asOf
    }
}

/// `clv [by <expr>] [where <client expr>]` (SPEC 3.7, 3.11).
struct CLVStatement: Equatable {
    /// The grouping expression over clients, if any.
    var by: Expr?
    /// The client condition, if any.
    var filter: Expr?
    /// The whole statement.
    var range: SourceRange
}

/// `cohorts [by month|quarter|year] [show retention|revenue] [where <client expr>]`.
struct CohortsStatement: Equatable {
    /// The calendar period of a cohort and of its columns.
    enum Period: String, Equatable, CaseIterable { case month, quarter, year }
    /// What a cell holds.
    enum Measure: String, Equatable, CaseIterable { case retention, revenue }

    var period: Period = .month
    var measure: Measure = .retention
    var filter: Expr?
    var range: SourceRange
}

/// `paths from "<service>" [within <duration>]`.
struct PathsStatement: Equatable {
    /// The service the paths start from, as written.
    var from: String
    var fromRange: SourceRange
    /// The window in days (nil: unlimited).
    var within: Double?
    var range: SourceRange
}

/// A statement: a query, a saved-query command, or an analytic statement.
enum Statement: Equatable {
    case query(Query)
    /// `save NAME as QUERY`; the range is the query's text.
    case save(name: String, query: Query, text: SourceRange)
    /// `run NAME [param=value ...]`.
    case run(name: String, arguments: [(String, Expr)], range: SourceRange)
    case queries
    case drop(name: String, range: SourceRange)
    case clv(CLVStatement)
    case cohorts(CohortsStatement)
    case paths(PathsStatement)
    /// `fit`: fits and stores the lifetime-value models (SPEC 3.7, 5).
    case fit(SourceRange)
    /// `set NAME = VALUE` (the `model` setting, SPEC 5.1); the ranges of the name and value.
    case set(name: String, value: String, nameRange: SourceRange, valueRange: SourceRange)

    static func == (a: Statement, b: Statement) -> Bool {
        switch (a, b) {
        case (.query(let x), .query(let y)): x == y
        case (.save(let n1, let q1, _), .save(let n2, let q2, _)): n1 == n2 && q1 == q2
        case (.run(let n1, let a1, _), .run(let n2, let a2, _)):
            n1 == n2 && a1.count == a2.count && zip(a1, a2).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.queries, .queries): true
        case (.drop(let x, _), .drop(let y, _)): x == y
        case (.clv(let x), .clv(let y)): x.by == y.by && x.filter == y.filter
        case (.cohorts(let x), .cohorts(let y)): x.period == y.period && x.measure == y.measure && x.filter == y.filter
        case (.paths(let x), .paths(let y)): x.from == y.from && x.within == y.within
        case (.fit, .fit): true
        case (.set(let n1, let v1, _, _), .set(let n2, let v2, _, _)): n1 == n2 && v1 == v2
        default: false
        }
    }
}
