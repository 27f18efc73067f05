/// An error in a query: where it is, what is wrong, and a hint when there is one
/// (`did you mean "lapsed"?`, `write 90d for 90 days`).
///
/// ``render(source:origin:)`` is the one renderer of query errors, used by the
/// library, the command line and the REPL.
public struct QueryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, naming the offending token and what was expected.
    public var message: String
    /// The UTF-8 range of the offending token in the query text.
    public var range: SourceRange
    /// A suggestion (a field, keyword or entity within a small edit distance, or the
    /// literal to write instead).
    public var hint: String?
    /// The query text the range points into (empty when unknown).
    public var source: String

    public init(_ message: String, at range: SourceRange, hint: String? = nil, source: String = "") {
        // Messages quote query text; keep each on one line.
        func oneLine(_ s: String) -> String {
            s.contains(where: { $0.isNewline || $0 == "\t" }) ? s.split(whereSeparator: { $0.isNewline || $0 == "\t" }).joined(separator: " ") : s
        }
        self.message = oneLine(message)
        self.range = range
        self.hint = hint.map(oneLine)
        self.source = source
    }

    /// 1-based line and column (in characters) of the error's start.
    public var location: (line: Int, column: Int) { Self.location(of: range.start, in: source) }

    /// `line:column: message` without the source excerpt.
    public var description: String {
        let (l, c) = location
        return "\(l):\(c): \(message)" + (hint.map { " (\($0))" } ?? "")
    }

    /// The full diagnostic:
    ///
    /// ```
    /// query:1:15: error: unknown field "lapsd" for clients
    ///   clients where lapsd > 90d
    ///                 ^~~~~
    ///   hint: did you mean "lapsed"?
    /// ```
    ///
    /// `firstLine` is the line of a file the statement starts on (a script's statement
    /// on line 12 reports `script.pql:12:…`).
    public func render(origin: String = "query", firstLine: Int = 1) -> String {
        let (line, column) = location
        var out = "\(origin):\(line + firstLine - 1):\(column): error: \(message)\n"
        let bytes = Array(source.utf8)
        let start = min(max(range.start, 0), bytes.count)
        var lineStart = start
        while lineStart > 0 && bytes[lineStart - 1] != 0x0A { lineStart -= 1 }
        var lineEnd = start
        while lineEnd < bytes.count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
        let text = String(decoding: bytes[lineStart..<lineEnd], as: UTF8.self).replacingTabs()
        let prefix = String(decoding: bytes[lineStart..<start], as: UTF8.self).replacingTabs()
        let end = min(max(range.end, start), lineEnd)
        let width = max(1, String(decoding: bytes[start..<end], as: UTF8.self).count)
        out += "  " + text + "\n"
        out += "  " + String(repeating: " ", count: prefix.count) + "^" + String(repeating: "~", count: width - 1) + "\n"
        if let hint { out += "  hint: \(hint)\n" }
        return out
    }

    static func location(of offset: Int, in source: String) -> (line: Int, column: Int) {
        let bytes = Array(source.utf8)
        let o = min(max(offset, 0), bytes.count)
        var line = 1
        var lineStart = 0
        for i in 0..<o where bytes[i] == 0x0A {
            line += 1
            lineStart = i + 1
        }
        return (line, String(decoding: bytes[lineStart..<o], as: UTF8.self).count + 1)
    }
}

extension String {
    fileprivate func replacingTabs() -> String { replacingOccurrences(of: "\t", with: " ") }
}

/// "Did you mean" suggestions by edit distance.
enum Suggest {
    /// The candidate nearest to `word` (case-insensitive optimal string alignment
    /// distance), if it is close enough to be a likely misspelling.
    static func nearest(_ word: String, in candidates: some Sequence<String>) -> String? {
        let w = Array(word.lowercased())
        guard !w.isEmpty else { return nil }
        var best: (String, Int)?
        for c in candidates {
            let d = distance(w, Array(c.lowercased()))
            if d < (best?.1 ?? Int.max) { best = (c, d) }
        }
        guard let (name, d) = best else { return nil }
        let limit = w.count <= 3 ? 1 : (w.count <= 6 ? 2 : 3)
        return d <= limit && d < max(w.count, name.count) ? name : nil
    }

    /// Optimal string alignment distance (insertions, deletions, substitutions, and
    /// transpositions of neighbours).
    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev2 = [Int](repeating: 0, count: b.count + 1)
        var prev = Array(0...b.count)
        var cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { v = min(v, prev2[j - 2] + 1) }
                cur[j] = v
            }
            (prev2, prev, cur) = (prev, cur, prev2)
        }
        return prev[b.count]
    }

    /// `"a"`, `"a" or "b"`, `"a", "b" or "c"`.
    static func list(_ items: [String]) -> String {
        let q = items.map { "\"\($0)\"" }
        guard q.count > 1 else { return q.first ?? "" }
        return q.dropLast().joined(separator: ", ") + " or " + (q.last ?? "")
    }
}

import Foundation
