import Foundation
import Patron

/// One shell session: the open database, the settings meta-commands change, the last
/// result, and a count of the statements that failed. It knows nothing of line editing
/// (``REPL`` feeds it lines); it writes through a ``ShellOutput``.
public final class Shell {
    /// How results are shown.
    public enum Mode: String, CaseIterable, Sendable {
        case table, box, vertical, csv, json, ndjson, markdown
    }

    public private(set) var databasePath: String
    private var database: Database?
    private let readOnly: Bool
    let terminal: TerminalInfo
    let output: ShellOutput
    let style: Style

    public var mode: Mode
    public var timer = false
    public var chart: Bool
    /// `today` for every statement (nil: the real date).
    public var today: Day?
    /// Rows shown before "… N more rows" (nil: all).
    public var maxRows: Int?
    /// The last successful result, for `.last`.
    public private(set) var last: QueryResult?
    private var lastWasGrouped = false
    /// Stops a running statement (the REPL sets it to watch for Ctrl-C).
    public var cancellation: QueryCancellation?
    /// Statements and meta-commands that failed.
    public private(set) var failures = 0
    /// Set by `.quit`.
    public private(set) var quitRequested = false
    /// The saved queries' names, read afresh for each completion (they change as queries are saved).
    var savedQueryNames: [String] { (try? openDatabase().savedQueries().map(\.name)) ?? [] }

    public init(databasePath: String, readOnly: Bool = false, terminal: TerminalInfo, output: ShellOutput, today: Day? = nil) {
        self.databasePath = databasePath
        self.readOnly = readOnly
        self.terminal = terminal
        self.output = output
        self.style = Style(on: terminal.color)
        self.today = today
        mode = terminal.outputIsTerminal && terminal.unicode ? .box : .table
        chart = terminal.outputIsTerminal
        maxRows = terminal.outputIsTerminal ? 200 : nil
    }

    /// The database, opened on first use (so `.open` and `.help` work without one).
    func openDatabase() throws -> Database {
        if let database { return database }
        let db = try Database(path: databasePath, readOnly: readOnly)
        database = db
        return db
    }

    // MARK: Running input

    /// Runs one statement or meta-command; `origin` and `line` name where it came from
    /// in diagnostics (`stdin:12:15`, `script.pql:3:1`).
    public func execute(_ input: String, origin: String = "query", line: Int = 1) {
        let text = input.trimmingWhitespace
        guard !text.isEmpty else { return }
        if text.hasPrefix(".") {
            meta(text, origin: "\(origin):\(line)")
        } else {
            statement(text, origin: origin, line: line)
        }
    }

    /// Runs every statement of a script (statements end at `;`, a blank line, or the
    /// end), stopping after `.quit` or when ``cancellation`` holds (Ctrl-C in `.read`).
    public func runScript(_ text: String, origin: String) {
        var buffer = StatementBuffer(interactive: false)
        var stopped: Bool { quitRequested || cancellation?.isCancelled == true }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            for s in buffer.add(String(line)) {
                execute(s.text, origin: origin, line: s.line)
                if stopped { return }
            }
        }
        for s in buffer.flush() {
            execute(s.text, origin: origin, line: s.line)
            if stopped { return }
        }
    }

    private func statement(_ text: String, origin: String, line: Int) {
        let started = DispatchTime.now().uptimeNanoseconds
        do {
            let db = try openDatabase()
            let result = try QueryCancellation.$current.withValue(cancellation) { try db.query(text, today: today) }
            let grouped = text.range(of: "group by", options: .caseInsensitive) != nil
            if !result.columns.isEmpty {
                last = result
                lastWasGrouped = grouped
                show(result, mode: mode, grouped: grouped)
            } else {
                output.diagnostic("ok\n")
            }
        } catch let e as QueryError {
            fail(e.render(origin: origin, firstLine: line))
        } catch is QueryInterrupted {
            fail("\(origin):\(line): error: interrupted (Ctrl-C)")
        } catch {
            fail("\(origin):\(line): error: \(error)")
        }
        if timer {
            let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            output.diagnostic(style.dim(String(format: "Run Time: %.1f ms", ms)) + "\n")
        }
    }

    func fail(_ message: String) {
        failures += 1
        var text = message
        if let r = text.range(of: "error:") {
            text.replaceSubrange(r, with: style.red("error:"))
        }
        output.diagnostic(text.hasSuffix("\n") ? text : text + "\n")
    }

    // MARK: Output

    /// Writes a result for people (or machines, in csv/json modes).
    func show(_ result: QueryResult, mode: Mode, grouped: Bool) {
        var rows: [[Value]]
        var note: String?
        if let limit = maxRows, [.table, .box, .vertical].contains(mode), result.rowCount > limit {
            note = "… \(result.rowCount.formatted()) rows in all, \(limit) shown (.maxrows N or .maxrows off to change)"
            rows = (0..<limit).map(result.row)
        } else {
            rows = result.rows
        }
        var columns = result.columns
        if chart && grouped && (mode == .table || mode == .box), let bars = Chart.bars(columns: columns, rows: rows, unicode: terminal.unicode) {
            columns.insert(Column(name: "", kind: .string), at: bars.after + 1)
            for i in rows.indices { rows[i].insert(.string(bars.bars[i]), at: bars.after + 1) }
        }
        let heatmap = chart && terminal.color && (mode == .table || mode == .box) && Heatmap.applies(columns)
        let text: String
        switch mode {
        case .table where heatmap, .box where heatmap: text = Heatmap.render(columns: columns, rows: rows, box: mode == .box)
        case .table: text = renderResult(columns: columns, rows: rows, format: .table, style: .plain)
        case .box: text = renderResult(columns: columns, rows: rows, format: .table, style: .box)
        case .vertical: text = Self.vertical(columns: columns, rows: rows)
        case .csv: text = renderResult(columns: columns, rows: rows, format: .csv)
        case .json: text = renderResult(columns: columns, rows: rows, format: .json)
        case .ndjson: text = renderResult(columns: columns, rows: rows, format: .ndjson)
        case .markdown: text = renderResult(columns: columns, rows: rows, format: .markdown)
        }
        output.result(text.hasSuffix("\n") || text.isEmpty ? text : text + "\n")
        if let note { output.diagnostic(style.dim(note) + "\n") }
    }

    /// One `name: value` line per column, a header line per row (wide rows read better).
    static func vertical(columns: [Column], rows: [[Value]]) -> String {
        let width = columns.map(\.name.count).max() ?? 0
        var out = ""
        for (n, row) in rows.enumerated() {
            out += "-[ row \(n + 1) ]" + String(repeating: "-", count: max(4, width + 6)) + "\n"
            for (c, v) in zip(columns, row) {
                out += String(repeating: " ", count: width - c.name.count) + c.name + " | " + ValueFormat.human(v) + "\n"
            }
        }
        if rows.isEmpty { out = "(no rows)\n" }
        return out
    }

    // MARK: Meta-commands

    private func meta(_ line: String, origin: String) {
        let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        let name = parts[0].lowercased()
        let args = Array(parts.dropFirst())
        guard let command = MetaCommand.named(name) else {
            let hint = MetaCommand.all.map(\.name).filter { Self.distance($0, name) <= 2 }
                .min { a, b in Self.distance(a, name) < Self.distance(b, name) }
            fail("\(origin): error: unknown command \"\(parts[0])\"" + (hint.map { "\n  hint: did you mean \"\($0)\"? (.help lists them)" } ?? ""))
            return
        }
        do {
            try command.run(self, args, line)
        } catch let e as QueryError {
            fail(e.render(origin: origin))
        } catch let e as ShellError {
            fail("\(origin): error: \(e.message)")
        } catch {
            fail("\(origin): error: \(error)")
        }
    }

    /// Edit distance, for "did you mean" on meta-command names.
    static func distance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        var d = Array(0...y.count)
        for i in 1...max(x.count, 1) where !x.isEmpty {
            var prev = d[0]
            d[0] = i
            for j in 1...max(y.count, 1) where !y.isEmpty {
                let tmp = d[j]
                d[j] = min(d[j] + 1, d[j - 1] + 1, prev + (x[i - 1] == y[j - 1] ? 0 : 1))
                prev = tmp
            }
        }
        return d[y.count]
    }

    // Used by meta-commands.

    func setMode(_ m: Mode) { mode = m }
    func requestQuit() { quitRequested = true }

    func reopen(_ path: String) throws {
        let db = try Database(path: path, readOnly: readOnly)
        database = db
        databasePath = path
        last = nil
    }

    func showLast(mode m: Mode) throws {
        guard let last else { throw ShellError("no result yet: run a query first") }
        show(last, mode: m, grouped: lastWasGrouped)
    }
}

/// A meta-command's error (bad arguments, missing file).
struct ShellError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
