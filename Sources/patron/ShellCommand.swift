import ArgumentParser
import Foundation
import Patron
import PatronShell

/// `patron [shell]`: the analyst's shell, the default command.
struct ShellCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shell",
        abstract: "The analyst's shell (the default command): interactive on a terminal, else statements from -c, -f or stdin.",
        discussion: """
            On a terminal: line editing, history (~/.patron_history, or $PATRON_HISTORY),
            Tab completion, multi-line statements ended by ; or a blank line, and
            meta-commands (.help lists them). Otherwise it reads statements, prints only
            results on stdout, diagnostics on stderr, and exits 1 if any statement failed.

            Examples:
              patron --db clinic.db
              patron -c "clients where lapsed > 90d and tier = gold; visits group by provider"
              patron -f examples/lapsed_vips.pql --format csv
              echo "clients show id, spend top 10 by spend" | patron --db clinic.db
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(name: .customShort("c"), help: ArgumentHelp("Run these statements (separated by ;) and exit.", valueName: "STATEMENTS"))
    var command: String?

    @Option(name: .customShort("f"), help: ArgumentHelp("Run the statements of a script file and exit.", valueName: "FILE"))
    var file: String?

    @Option(name: .long, help: ArgumentHelp("Answer as if today were this date.", valueName: "YYYY-MM-DD"))
    var today: String?

    @Option(name: .long, help: ArgumentHelp("How results are shown: table, box, vertical, csv, json, ndjson or markdown.", valueName: "MODE"))
    var format: String?

    /// The shell: interactive on a terminal, else statements from -c, -f or stdin.
    func run() throws {
        let terminal = TerminalInfo.current()
        var day: Day?
        if let today {
            guard let d = Calendar.day(parsing: today) else { throw ValidationError("--today \"\(today)\" is not a date; write YYYY-MM-DD") }
            day = d
        }
        let shell = Shell(databasePath: database.path, readOnly: database.readOnly, terminal: terminal, output: StandardOutput(), today: day)
        if let format {
            guard let mode = Shell.Mode(rawValue: format.lowercased()) else {
                throw ValidationError("--format \"\(format)\" is not one of \(Shell.Mode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            shell.mode = mode
        }
        var status: Int32 = 0
        if let command {
            shell.runScript(command, origin: "-c")
            status = shell.failures > 0 ? 1 : 0
        } else if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                printError("patron: cannot read \(file)")
                throw ExitCode(1)
            }
            shell.runScript(text, origin: file)
            status = shell.failures > 0 ? 1 : 0
        } else if terminal.interactive {
            let env = ProcessInfo.processInfo.environment
            let history = env["PATRON_HISTORY"] ?? env["HOME"].map { $0 + "/.patron_history" }
            status = REPL.runInteractive(shell, historyPath: history)
        } else {
            status = REPL.runPiped(shell)
        }
        if status != 0 { throw ExitCode(status) }
    }
}
