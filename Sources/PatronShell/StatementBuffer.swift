import Patron

/// Gathers input lines into statements the way the shell reads them.
///
/// - A line starting with `.` (when nothing is pending) is a meta-command.
/// - A statement ends at `;`, at a blank line, at the end of the input, or — when it
///   is complete — where the next line starts a statement (`clients`, `visits`, `run`…)
///   or a meta-command.
/// - Interactively, a statement typed whole on one line also ends at Enter, so
///   `clients where lapsed > 90d` runs at once; one that is still incomplete at the end
///   of its first line (`clients where`) goes on until `;` or a blank line.
public struct StatementBuffer: Sendable {
    /// Text of the statement being typed.
    public private(set) var pending = ""
    private var lines = 0
    /// Lines added so far, and the line the pending statement starts on.
    private var lineNumber = 0
    private var startLine = 1
    /// Whether single complete lines end at Enter.
    public let interactive: Bool

    public init(interactive: Bool) { self.interactive = interactive }

    /// Whether a statement is half typed (the shell shows its continuation prompt).
    public var isPending: Bool { !StatementSplitter.isBlank(pending) }

    /// Words that begin a statement: a line starting with one, or with a meta-command,
    /// ends a complete pending statement first.
    static let starters = Set(QueryVocabulary.entities + ["client", "visit", "purchase", "item", "refund", "reward", "tier",
                                                           "membership", "event", "save", "run", "queries", "drop", "fit", "set"])

    /// Adds one line; returns what is ready to run, in order, with the line each
    /// starts on (counting the lines added, from 1).
    public mutating func add(_ line: String) -> [(text: String, line: Int)] {
        lineNumber += 1
        return take(line)
    }

    private mutating func take(_ line: String) -> [(text: String, line: Int)] {
        let trimmed = line.trimmingWhitespace
        let first = trimmed.prefix { !$0.isWhitespace }.lowercased()
        if isPending && (trimmed.hasPrefix(".") || Self.starters.contains(first)), case .complete = StatementStatus(of: pending) {
            return flush() + take(line)
        }
        if !isPending && trimmed.hasPrefix(".") {
            pending = ""
            lines = 0
            return [(trimmed, lineNumber)]
        }
        if trimmed.isEmpty {
            guard isPending else { pending = ""; lines = 0; return [] }
            return flush()
        }
        if !isPending { pending = ""; lines = 0; startLine = lineNumber }  // only comments so far: start afresh here
        pending += pending.isEmpty ? line : "\n" + line
        lines += 1
        let (statements, rest) = StatementSplitter.split(pending)
        if !statements.isEmpty {
            let ready = statements.map { ($0, startLine) }
            pending = StatementSplitter.isBlank(rest) ? "" : rest
            lines = pending.isEmpty ? 0 : 1
            startLine = lineNumber
            return ready
        }
        if interactive && lines == 1, case .complete = StatementStatus(of: pending) {
            return flush()
        }
        return []
    }

    /// Everything pending, as one statement (at a blank line or the end of input).
    public mutating func flush() -> [(text: String, line: Int)] {
        defer { pending = ""; lines = 0 }
        return isPending ? [(pending.trimmingWhitespace, startLine)] : []
    }
}

extension String {
    var trimmingWhitespace: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[first...last])
    }
}
