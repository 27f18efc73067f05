/// A range of UTF-8 offsets `[start, end)` in a query's text.
public struct SourceRange: Sendable, Equatable, Hashable {
    public var start: Int
    public var end: Int

    public init(_ start: Int, _ end: Int) {
        self.start = start
        self.end = end
    }

    /// The smallest range covering both.
    func union(_ o: SourceRange) -> SourceRange { SourceRange(min(start, o.start), max(end, o.end)) }
}

/// What a token is. Keywords are words: the parser matches them case-insensitively
/// where the grammar allows them, so a bare word can still be a string (`tier = gold`).
enum TokenKind: Equatable {
    case word
    case number
    /// `90d`, `12w`, `6m`, `1y`, `45.5d`.
    case duration
    /// `2025-06-30`.
    case date
    /// `$500`, `$1,250.00`.
    case money
    /// `"Dr. Kim"`, `'botox'`.
    case string
    /// `$name`.
    case parameter
    case lparen, rparen, comma, dot, semicolon
    case eq, ne, lt, le, gt, ge
    case plus, minus, star, slash, percent
    case end
    /// A character the language does not use, or a string that is not closed.
    case invalid
}

/// A token: its kind and where it is in the text.
struct Token: Equatable {
    var kind: TokenKind
    var range: SourceRange
}

/// Splits query text into tokens. Never fails: characters it cannot read become
/// `.invalid` tokens that the parser reports with their position.
struct Lexer {
    let bytes: [UInt8]

    init(_ text: String) { bytes = Array(text.utf8) }

    /// All tokens, ending with `.end`. `--` comments and white space are skipped.
    func tokens() -> [Token] {
        var out: [Token] = []
        var i = 0
        let n = bytes.count
        func at(_ k: Int) -> UInt8 { k < n ? bytes[k] : 0 }
        while true {
            while i < n {
                let c = bytes[i]
                if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0C { i += 1; continue }
                if c == UInt8(ascii: "-") && at(i + 1) == UInt8(ascii: "-") {
                    while i < n && bytes[i] != 0x0A { i += 1 }
                    continue
                }
                break
            }
            guard i < n else { break }
            let start = i
            let c = bytes[i]
            func single(_ kind: TokenKind, _ len: Int = 1) { i += len; out.append(Token(kind: kind, range: SourceRange(start, i))) }
            switch c {
            case UInt8(ascii: "("): single(.lparen)
            case UInt8(ascii: ")"): single(.rparen)
            case UInt8(ascii: ","): single(.comma)
            case UInt8(ascii: "."):
                if isDigit(at(i + 1)) { i = number(from: i); out.append(Token(kind: suffix(&i), range: SourceRange(start, i))) }
                else { single(.dot) }
            case UInt8(ascii: ";"): single(.semicolon)
            case UInt8(ascii: "+"): single(.plus)
            case UInt8(ascii: "-"): single(.minus)
            case UInt8(ascii: "*"): single(.star)
            case UInt8(ascii: "/"): single(.slash)
            case UInt8(ascii: "%"): single(.percent)
            case UInt8(ascii: "="): single(.eq, at(i + 1) == UInt8(ascii: "=") ? 2 : 1)
            case UInt8(ascii: "!"): at(i + 1) == UInt8(ascii: "=") ? single(.ne, 2) : single(.invalid)
            case UInt8(ascii: "<"):
                if at(i + 1) == UInt8(ascii: "=") { single(.le, 2) }
                else if at(i + 1) == UInt8(ascii: ">") { single(.ne, 2) }
                else { single(.lt) }
            case UInt8(ascii: ">"): at(i + 1) == UInt8(ascii: "=") ? single(.ge, 2) : single(.gt)
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                i += 1
                var closed = false
                while i < n {
                    if bytes[i] == c {
                        if at(i + 1) == c { i += 2; continue }  // doubled quote
                        i += 1; closed = true; break
                    }
                    if bytes[i] == UInt8(ascii: "\\") && i + 1 < n { i += 2; continue }
                    i += 1
                }
                out.append(Token(kind: closed ? .string : .invalid, range: SourceRange(start, i)))
            case UInt8(ascii: "$"):
                if isDigit(at(i + 1)) || (at(i + 1) == UInt8(ascii: ".") && isDigit(at(i + 2))) {
                    i = money(from: i + 1)
                    out.append(Token(kind: .money, range: SourceRange(start, i)))
                } else if isWordStart(at(i + 1)) {
                    i += 1
                    while i < n && isWordPart(bytes[i]) { i += 1 }
                    out.append(Token(kind: .parameter, range: SourceRange(start, i)))
                } else {
                    single(.invalid)
                }
            default:
                if isDigit(c) {
                    if let end = dateEnd(from: i) {
                        i = end
                        out.append(Token(kind: .date, range: SourceRange(start, i)))
                    } else {
                        i = number(from: i)
                        out.append(Token(kind: suffix(&i), range: SourceRange(start, i)))
                    }
                } else if isWordStart(c) {
                    while i < n && isWordPart(bytes[i]) { i += 1 }
                    out.append(Token(kind: .word, range: SourceRange(start, i)))
                } else {
                    // One whole UTF-8 character, so the caret lands on it.
                    i += 1
                    while i < n && bytes[i] & 0xC0 == 0x80 { i += 1 }
                    out.append(Token(kind: .invalid, range: SourceRange(start, i)))
                }
            }
        }
        out.append(Token(kind: .end, range: SourceRange(n, n)))
        return out
    }

    private func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    private func isWordStart(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == UInt8(ascii: "_") || c >= 0x80
    }
    private func isWordPart(_ c: UInt8) -> Bool { isWordStart(c) || isDigit(c) }

    /// Digits with an optional fraction.
    private func number(from start: Int) -> Int {
        var i = start
        while i < bytes.count && isDigit(bytes[i]) { i += 1 }
        if i + 1 < bytes.count && bytes[i] == UInt8(ascii: ".") && isDigit(bytes[i + 1]) {
            i += 1
            while i < bytes.count && isDigit(bytes[i]) { i += 1 }
        }
        return i
    }

    /// A duration unit right after a number makes a duration token; a number running
    /// into other letters (`90days`) is one invalid token.
    private func suffix(_ i: inout Int) -> TokenKind {
        guard i < bytes.count, isWordStart(bytes[i]) else { return .number }
        let unit = bytes[i] | 0x20
        let isUnit = unit == UInt8(ascii: "d") || unit == UInt8(ascii: "w") || unit == UInt8(ascii: "m") || unit == UInt8(ascii: "y")
        if isUnit && (i + 1 >= bytes.count || !isWordPart(bytes[i + 1])) { i += 1; return .duration }
        while i < bytes.count && isWordPart(bytes[i]) { i += 1 }
        return .invalid
    }

    /// `$` amounts: digits with optional groups of exactly three after commas, and cents.
    private func money(from start: Int) -> Int {
        var i = start
        while i < bytes.count && isDigit(bytes[i]) { i += 1 }
        while i + 3 < bytes.count, bytes[i] == UInt8(ascii: ","),
              isDigit(bytes[i + 1]), isDigit(bytes[i + 2]), isDigit(bytes[i + 3]),
              i + 4 >= bytes.count || !isDigit(bytes[i + 4]) {
            i += 4
        }
        if i + 1 < bytes.count && bytes[i] == UInt8(ascii: ".") && isDigit(bytes[i + 1]) {
            i += 1
            while i < bytes.count && isDigit(bytes[i]) { i += 1 }
        }
        return i
    }

    /// `YYYY-MM-DD` (exactly), not followed by a word character.
    private func dateEnd(from i: Int) -> Int? {
        let shape: [Bool] = [true, true, true, true, false, true, true, false, true, true]
        guard i + 10 <= bytes.count else { return nil }
        for (k, digit) in shape.enumerated() {
            let c = bytes[i + k]
            if digit ? !isDigit(c) : c != UInt8(ascii: "-") { return nil }
        }
        if i + 10 < bytes.count && isWordPart(bytes[i + 10]) { return nil }
        return i + 10
    }
}
