/// The kind of a value in the query language (SPEC 3.3).
public enum ValueKind: String, Sendable, Equatable, CaseIterable, CustomStringConvertible {
    case number, money, duration, date, string, boolean, list
    /// The kind of `null` before context gives it one.
    case null

    public var description: String { rawValue }
}

/// A typed value in a query result.
///
/// Money is exact cents (rounded to the cent, halves away from zero, when a
/// computation such as `/` or `avg` produced a fraction); durations are days and may
/// keep a half day (`cadence`); dates are ``Day`` numbers in the database time zone;
/// lists are sets of strings in ascending order.
public enum Value: Sendable, Equatable, Hashable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case money(Money)
    /// A duration in days.
    case duration(Double)
    case date(Day)
    case string(String)
    case list([String])

    /// The value's kind (`.null` for null).
    public var kind: ValueKind {
        switch self {
        case .null: .null
        case .bool: .boolean
        case .number: .number
        case .money: .money
        case .duration: .duration
        case .date: .date
        case .string: .string
        case .list: .list
        }
    }

    /// Whether the value is null.
    public var isNull: Bool { if case .null = self { true } else { false } }

    /// A plain rendering for people: `$1,234.50`, `93d`, `2025-03-14`, lists joined with `, `.
    public var description: String { ValueFormat.human(self) }
}

/// One column of a query result: its name and the kind of its values.
public struct Column: Sendable, Equatable {
    /// The column name (the `as` alias, the field name, or the expression's text).
    public var name: String
    /// The kind of every non-null value in the column.
    public var kind: ValueKind

    public init(name: String, kind: ValueKind) {
        self.name = name
        self.kind = kind
    }
}

/// Text forms of values shared by every renderer.
public enum ValueFormat {
    /// Money with a dollar sign and thousands separators: `$1,234.50`, `-$3.00`.
    public static func money(_ m: Money) -> String {
        let negative = m.cents < 0
        let magnitude = m.cents.magnitude
        let dollars = String(magnitude / 100)
        var grouped = ""
        for (i, ch) in dollars.enumerated() {
            if i > 0 && (dollars.count - i) % 3 == 0 { grouped.append(",") }
            grouped.append(ch)
        }
        let cents = magnitude % 100
        return (negative ? "-$" : "$") + grouped + "." + (cents < 10 ? "0" : "") + String(cents)
    }

    /// A number without a trailing `.0` when it is whole: `3`, `2.5`, `0.333333`.
    public static func number(_ x: Double) -> String {
        if x.isNaN { return "NaN" }
        if x.isInfinite { return x > 0 ? "inf" : "-inf" }
        if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
        var s = String(format: "%.6f", x)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }

    /// A duration in days: `93d`, `45.5d`.
    public static func duration(_ days: Double) -> String { number(days) + "d" }

    /// Money as a plain decimal number of dollars for machine formats: `1234.5`, `-3`, `0.05`.
    public static func moneyNumber(_ m: Money) -> String {
        let negative = m.cents < 0
        let magnitude = m.cents.magnitude
        var s = (negative ? "-" : "") + String(magnitude / 100)
        let cents = magnitude % 100
        if cents != 0 {
            s += "." + (cents < 10 ? "0" : "") + String(cents)
            if s.hasSuffix("0") { s.removeLast() }
        }
        return s
    }

    /// The rendering for people (tables, the REPL).
    public static func human(_ v: Value) -> String {
        switch v {
        case .null: ""
        case .bool(let b): b ? "true" : "false"
        case .number(let x): number(x)
        case .money(let m): money(m)
        case .duration(let d): duration(d)
        case .date(let d): Calendar.format(d)
        case .string(let s): s
        case .list(let l): l.joined(separator: ", ")
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation
