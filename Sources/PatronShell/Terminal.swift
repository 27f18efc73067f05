import Foundation

/// What the shell knows about where its output goes.
public struct TerminalInfo: Sendable {
    /// Standard input is a terminal (an interactive session).
    public var interactive: Bool
    /// Standard output is a terminal.
    public var outputIsTerminal: Bool
    /// Colour allowed: a terminal, and `NO_COLOR` unset.
    public var color: Bool
    /// Box-drawing characters allowed (a UTF-8 locale).
    public var unicode: Bool
    /// Columns and rows of the terminal (80 × 24 when unknown).
    public var width: Int
    public var height: Int

    public init(interactive: Bool, outputIsTerminal: Bool, color: Bool, unicode: Bool, width: Int = 80, height: Int = 24) {
        self.interactive = interactive
        self.outputIsTerminal = outputIsTerminal
        self.color = color
        self.unicode = unicode
        self.width = width
        self.height = height
    }

    /// The process's own terminal, from `isatty`, `NO_COLOR`, the locale and `TIOCGWINSZ`.
    public static func current() -> TerminalInfo {
        let env = ProcessInfo.processInfo.environment
        let out = isatty(1) == 1
        let locale = env["LC_ALL"] ?? env["LC_CTYPE"] ?? env["LANG"] ?? ""
        var size = winsize()
        let known = ioctl(1, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0
        return TerminalInfo(interactive: isatty(0) == 1, outputIsTerminal: out,
                            color: out && env["NO_COLOR"] == nil && env["TERM"] != "dumb",
                            unicode: locale.uppercased().contains("UTF-8") || locale.uppercased().contains("UTF8"),
                            width: known ? Int(size.ws_col) : 80, height: known ? Int(size.ws_row) : 24)
    }
}

/// Where the shell writes: results to one stream, diagnostics to the other.
public protocol ShellOutput: AnyObject {
    func result(_ text: String)
    func diagnostic(_ text: String)
}

/// Standard output and standard error.
public final class StandardOutput: ShellOutput {
    public init() {}
    public func result(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }
    public func diagnostic(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
}

/// ANSI styling, only when colour is allowed.
struct Style {
    let on: Bool
    func red(_ s: String) -> String { on ? "\u{1B}[31m\(s)\u{1B}[0m" : s }
    func bold(_ s: String) -> String { on ? "\u{1B}[1m\(s)\u{1B}[0m" : s }
    func dim(_ s: String) -> String { on ? "\u{1B}[2m\(s)\u{1B}[0m" : s }
}
