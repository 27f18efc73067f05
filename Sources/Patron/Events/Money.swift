/// An exact amount of money in cents (one currency per database).
///
/// ```swift
/// let price = try Money(parsing: "$1,250.50")   // 125050 cents
/// print(price)                                   // $1,250.50
/// ```
public struct Money: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The amount in cents.
    public var cents: Int64

    /// An amount of `cents`.
    public init(cents: Int64) { self.cents = cents }

    /// An amount of whole `dollars`.
    public init(dollars: Int64) { self.cents = dollars * 100 }

    /// Parses `450`, `450.5`, `450.50`, `-3`, `$450.50`, `$1,250.00`; more than two
    /// fraction digits, stray characters or an overflowing amount are errors (nil).
    public init?(parsing text: String) {
        var s = Substring(text.trimmingWhitespace())
        var negative = false
        if s.first == "-" { negative = true; s = s.dropFirst() }
        if s.first == "$" { s = s.dropFirst() }
        if !negative, s.first == "-" { negative = true; s = s.dropFirst() }
        self.init(unsigned: s.utf8, negative: negative)
    }

    /// Parses an amount's digits after its sign and `$` (`450.50`, `1,250`), made
    /// negative when `negative`; nil as for ``init(parsing:)``.
    init?(unsigned digits: some Sequence<UInt8>, negative: Bool) {
        var whole: Int64 = 0, fraction: Int64 = 0, fractionDigits = 0
        var seenPoint = false, seenDigit = false
        var lastComma = -1, index = 0
        for c in digits {
            defer { index += 1 }
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                seenDigit = true
                let d = Int64(c - 48)
                if seenPoint {
                    fractionDigits += 1
                    guard fractionDigits <= 2 else { return nil }
                    fraction = fraction * 10 + d
                } else {
                    let (m, o1) = whole.multipliedReportingOverflow(by: 10)
                    let (a, o2) = m.addingReportingOverflow(d)
                    guard !o1, !o2, a < Int64.max / 100 else { return nil }
                    whole = a
                }
            case UInt8(ascii: "."):
                guard !seenPoint, seenDigit || index == 0 else { return nil }
                if lastComma >= 0 && index - lastComma != 4 { return nil }
                seenPoint = true
            case UInt8(ascii: ","):
                guard !seenPoint, seenDigit else { return nil }
                if lastComma >= 0 && index - lastComma != 4 { return nil }
                lastComma = index
            default:
                return nil
            }
        }
        guard seenDigit else { return nil }
        if lastComma >= 0 && !seenPoint && index - lastComma != 4 { return nil }
        if fractionDigits == 1 { fraction *= 10 }
        let cents = whole * 100 + fraction
        self.cents = negative ? -cents : cents
    }

    public static func < (a: Money, b: Money) -> Bool { a.cents < b.cents }
    public static func + (a: Money, b: Money) -> Money { Money(cents: a.cents + b.cents) }
    public static func - (a: Money, b: Money) -> Money { Money(cents: a.cents - b.cents) }

    /// `$1,250.50`, `-$3.00`.
    public var description: String {
        let a = cents.magnitude
        var whole = String(a / 100)
        var grouped = ""
        while whole.count > 3 {
            grouped = "," + whole.suffix(3) + grouped
            whole.removeLast(3)
        }
        let frac = a % 100
        return (cents < 0 ? "-$" : "$") + whole + grouped + "." + (frac < 10 ? "0" : "") + String(frac)
    }

    /// Plain decimal dollars without grouping, as JSON and CSV print money: `1250.5`, `3`.
    public var decimalString: String {
        let a = cents.magnitude
        let frac = a % 100
        var s = (cents < 0 ? "-" : "") + String(a / 100)
        if frac != 0 { s += "." + (frac < 10 ? "0" : "") + (frac % 10 == 0 ? String(frac / 10) : String(frac)) }
        return s
    }
}

extension String {
    func trimmingWhitespace() -> String {
        // Most values have no surrounding space at all: answer them from the bytes.
        let u = utf8
        if let f = u.first, let l = u.last, !Self.mayBeSpace(f), !Self.mayBeSpace(l) { return self }
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }

    /// False for a byte that can be neither an ASCII space nor part of a non-ASCII
    /// whitespace character.
    private static func mayBeSpace(_ b: UInt8) -> Bool { b <= 0x20 || b >= 0x80 }
}
