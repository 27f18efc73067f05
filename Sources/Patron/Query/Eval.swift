import Foundation

/// A value during evaluation. Money keeps fractions of a cent (`spend / 3`) until a
/// value leaves the query (``V/output(_:)``), where it is rounded to the cent, halves
/// away from zero (SPEC 3.11: rounding happens at the end).
enum V: Hashable {
    case null
    case bool(Bool)
    case num(Double)
    /// Cents, possibly fractional.
    case money(Double)
    /// Days.
    case dur(Double)
    case date(Day)
    case str(String)
    case list([String])

    var isNull: Bool { if case .null = self { true } else { false } }

    /// True only for `.bool(true)` (null and false are not true: two-valued logic).
    var isTrue: Bool { if case .bool(true) = self { true } else { false } }

    init(_ value: Value) {
        switch value {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .number(let x): self = .num(x)
        case .money(let m): self = .money(Double(m.cents))
        case .duration(let d): self = .dur(d)
        case .date(let d): self = .date(d)
        case .string(let s): self = .str(s)
        case .list(let l): self = .list(l)
        }
    }

    /// The public value, with money rounded to the cent.
    var output: Value {
        switch self {
        case .null: .null
        case .bool(let b): .bool(b)
        case .num(let x): x.isFinite ? .number(x) : .null
        case .money(let c):
            // Beyond ±2^62 cents no Money exists: such a result is null, not a crash.
            abs(c) < 4.6e18 ? .money(Money(cents: Int64(c.rounded(.toNearestOrAwayFromZero)))) : .null
        case .dur(let d): d.isFinite ? .duration(d) : .null
        case .date(let d): .date(d)
        case .str(let s): .string(s)
        case .list(let l): .list(l)
        }
    }

    /// A number for arithmetic and ordering of numeric kinds (money in cents).
    var numeric: Double? {
        switch self {
        case .num(let x), .money(let x), .dur(let x): x
        case .date(let d): Double(d)
        default: nil
        }
    }
}

/// Case-insensitive string helpers (SPEC 3.3: equality and `contains` on strings ignore case).
enum Text {
    static func equal(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        var ascii = true
        let same = a.utf8.count == b.utf8.count && a.utf8.elementsEqual(b.utf8) { x, y in
            if x >= 0x80 || y >= 0x80 { ascii = false; return true }
            return x == y || (x | 0x20 == y | 0x20 && (x | 0x20) >= 0x61 && (x | 0x20) <= 0x7A)
        }
        if ascii { return same }
        return a.caseInsensitiveCompare(b) == .orderedSame
    }

    static func compare(_ a: String, _ b: String) -> Int {
        switch a.caseInsensitiveCompare(b) {
        case .orderedAscending: -1
        case .orderedDescending: 1
        case .orderedSame: 0
        }
    }

    static func contains(_ haystack: String, _ needle: String) -> Bool {
        needle.isEmpty || haystack.range(of: needle, options: .caseInsensitive) != nil
    }

    /// The key under which case variants of a string group together.
    static func fold(_ s: String) -> String {
        if s.utf8.allSatisfy({ $0 < 0x80 && !($0 >= 0x41 && $0 <= 0x5A) }) { return s }
        return s.lowercased()
    }
}

/// Orders values of one kind; nulls sort after every other value.
enum Order {
    /// -1, 0 or 1, with null greater than anything (so it sorts last ascending).
    static func compare(_ a: V, _ b: V) -> Int {
        switch (a, b) {
        case (.null, .null): return 0
        case (.null, _): return 1
        case (_, .null): return -1
        case (.str(let x), .str(let y)): return Text.compare(x, y)
        case (.bool(let x), .bool(let y)): return x == y ? 0 : (x ? 1 : -1)
        case (.list(let x), .list(let y)):
            for (p, q) in zip(x, y) {
                let c = Text.compare(p, q)
                if c != 0 { return c }
            }
            return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
        default:
            guard let x = a.numeric, let y = b.numeric else { return 0 }
            return x < y ? -1 : (x > y ? 1 : 0)
        }
    }
}

/// The operators on evaluated values, after kinds were checked.
enum Ops {
    /// Comparison (`=`, `!=`, `<`, …) with a null operand false.
    @inline(__always)
    static func compare(_ op: BinaryOp, _ a: V, _ b: V) -> Bool {
        if a.isNull || b.isNull { return false }
        let c: Int
        switch (a, b) {
        case (.str(let x), .str(let y)):
            if op == .eq { return Text.equal(x, y) }
            if op == .ne { return !Text.equal(x, y) }
            c = Text.compare(x, y)
        case (.num(let x), .money(let y)): c = cmp(cents(x), y)
        case (.money(let x), .num(let y)): c = cmp(x, cents(y))
        default:
            guard let x = a.numeric, let y = b.numeric else {
                if case .bool(let x) = a, case .bool(let y) = b { c = x == y ? 0 : (x ? 1 : -1) } else { return false }
                break
            }
            c = cmp(x, y)
        }
        switch op {
        case .eq: return c == 0
        case .ne: return c != 0
        case .lt: return c < 0
        case .le: return c <= 0
        case .gt: return c > 0
        case .ge: return c >= 0
        default: return false
        }
    }

    @inline(__always)
    static func cmp(_ x: Double, _ y: Double) -> Int { x < y ? -1 : (x > y ? 1 : 0) }

    /// Dollars as cents, exact for amounts written with at most two decimals
    /// (0.29 × 100 is 28.999…; it means 29 cents).
    @inline(__always)
    static func cents(_ dollars: Double) -> Double {
        let c = dollars * 100
        let r = c.rounded()
        return abs(c - r) < 1e-6 * max(1, abs(c)) ? r : c
    }

    /// `list contains value` (membership, ignoring case) or `string contains string` (substring).
    static func contains(_ a: V, _ b: V) -> Bool {
        switch (a, b) {
        case (.list(let l), .str(let s)): return l.contains { Text.equal($0, s) }
        case (.str(let h), .str(let n)): return Text.contains(h, n)
        default: return false
        }
    }

    /// Arithmetic; kinds were checked, so a mismatch here can only involve null.
    static func arithmetic(_ op: BinaryOp, _ a: V, _ b: V) -> V {
        switch (op, a, b) {
        case (_, .null, _), (_, _, .null): return .null
        case (.add, .num(let x), .num(let y)): return .num(x + y)
        case (.sub, .num(let x), .num(let y)): return .num(x - y)
        case (.mul, .num(let x), .num(let y)): return .num(x * y)
        case (.div, .num(let x), .num(let y)): return y == 0 ? .null : .num(x / y)
        case (.add, .money(let x), .money(let y)): return .money(x + y)
        case (.sub, .money(let x), .money(let y)): return .money(x - y)
        case (.add, .money(let x), .num(let y)): return .money(x + cents(y))
        case (.add, .num(let x), .money(let y)): return .money(cents(x) + y)
        case (.sub, .money(let x), .num(let y)): return .money(x - cents(y))
        case (.sub, .num(let x), .money(let y)): return .money(cents(x) - y)
        case (.mul, .money(let x), .num(let y)), (.mul, .num(let y), .money(let x)): return .money(x * y)
        case (.div, .money(let x), .num(let y)): return y == 0 ? .null : .money(x / y)
        case (.div, .money(let x), .money(let y)): return y == 0 ? .null : .num(x / y)
        case (.add, .dur(let x), .dur(let y)): return .dur(x + y)
        case (.sub, .dur(let x), .dur(let y)): return .dur(x - y)
        case (.mul, .dur(let x), .num(let y)), (.mul, .num(let y), .dur(let x)): return .dur(x * y)
        case (.div, .dur(let x), .num(let y)): return y == 0 ? .null : .dur(x / y)
        case (.div, .dur(let x), .dur(let y)): return y == 0 ? .null : .num(x / y)
        case (.add, .date(let d), .dur(let x)), (.add, .dur(let x), .date(let d)): return shift(d, x)
        case (.sub, .date(let d), .dur(let x)): return shift(d, -x)
        case (.sub, .date(let x), .date(let y)): return .dur(Double(Int(x) - Int(y)))
        default: return .null
        }
    }

    /// A date moved by a duration, rounded down to whole days.
    static func shift(_ d: Day, _ days: Double) -> V {
        let r = Double(d) + days.rounded(.down)
        guard r.isFinite, r > Double(Int32.min + 1), r < Double(Int32.max) else { return .null }
        return .date(Day(r))
    }
}

/// The result type of arithmetic on two kinds, or nil when it is not meaningful.
func arithmeticKind(_ op: BinaryOp, _ a: ValueKind, _ b: ValueKind) -> ValueKind? {
    switch (op, a, b) {
    case (_, .null, let k), (_, let k, .null): return k == .null ? .null : (k == .date && op == .sub ? nil : k)
    case (_, .number, .number): return .number
    case (.add, .money, .money), (.sub, .money, .money): return .money
    case (.add, .money, .number), (.add, .number, .money), (.sub, .money, .number), (.sub, .number, .money): return .money
    case (.mul, .money, .number), (.mul, .number, .money), (.div, .money, .number): return .money
    case (.div, .money, .money): return .number
    case (.add, .duration, .duration), (.sub, .duration, .duration): return .duration
    case (.mul, .duration, .number), (.mul, .number, .duration), (.div, .duration, .number): return .duration
    case (.div, .duration, .duration): return .number
    case (.add, .date, .duration), (.add, .duration, .date), (.sub, .date, .duration): return .date
    case (.sub, .date, .date): return .duration
    default: return nil
    }
}

/// Whether two kinds can be compared (a plain number compares with money as dollars).
func comparable(_ a: ValueKind, _ b: ValueKind) -> Bool {
    a == b || a == .null || b == .null || (a == .number && b == .money) || (a == .money && b == .number)
}

/// Date buckets (SPEC 3.4, 3.11): `day` and `week` (the Monday) are dates, `month`
/// is `"2025-03"`, `quarter` `"2025-Q1"`, `year` the number.
enum Bucket {
    static func apply(_ name: String, _ d: Day) -> V {
        guard d > Int32.min + 7 else { return .null }
        let c = Calendar.civil(Int(d))
        switch name {
        case "day": return .date(d)
        case "week":
            // 1970-01-01 was a Thursday: Monday-based weekday = (days + 3) mod 7.
            let wd = ((Int(d) + 3) % 7 + 7) % 7
            return .date(d - Day(wd))
        case "month": return .str(Calendar.pad(c.year, 4) + "-" + Calendar.pad(c.month, 2))
        case "quarter": return .str(Calendar.pad(c.year, 4) + "-Q" + String((c.month - 1) / 3 + 1))
        default: return .num(Double(c.year))
        }
    }

    /// An integer naming the bucket of day `d` (equal codes, equal buckets).
    static func code(_ name: String, _ d: Day) -> Int32 {
        switch name {
        case "day": return d
        case "week": return d - Day(((Int(d) + 3) % 7 + 7) % 7)
        default:
            guard d > Int32.min + 7 else { return Int32.min }
            let c = Calendar.civil(Int(d))
            switch name {
            case "month": return Int32(truncatingIfNeeded: c.year * 12 + c.month - 1)
            case "quarter": return Int32(truncatingIfNeeded: c.year * 4 + (c.month - 1) / 3)
            default: return Int32(truncatingIfNeeded: c.year)
            }
        }
    }

    static func kind(_ name: String) -> ValueKind {
        switch name {
        case "day", "week": .date
        case "year": .number
        default: .string
        }
    }
}
