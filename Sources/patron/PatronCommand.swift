import ArgumentParser
import Foundation
import Patron

/// `patron`: the command-line interface. Thin: parses arguments and calls the library.
@main
struct PatronCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patron",
        abstract: "An embedded, event-sourced database of client lifetime value.",
        discussion: """
            Without a command, opens the shell: interactive on a terminal (line editing,
            history in ~/.patron_history, Tab completion, .help), else it runs the
            statements read from stdin. The database is --db PATH, else $PATRON_DB, else
            ./patron.db. Results go to stdout; messages and progress to stderr. Exit
            status: 0 success, 1 query or data error, 2 usage error.

            Examples:
              patron --db clinic.db
              patron -c "clients where lapsed > 90d and tier = gold; visits group by provider"
              patron -f examples/lapsed_vips.pql --format csv
              echo "clients top 10 by spend" | patron --db clinic.db
            """,
        subcommands: [ShellCommand.self, Query.self, Run.self, Queries.self, Save.self, Drop.self, Import.self, Export.self, Stats.self, Verify.self, Rebuild.self, Backup.self, Forget.self, Merge.self, Demo.self, Fit.self],
        defaultSubcommand: ShellCommand.self
    )

    /// Runs the command, mapping errors to SPEC 4.1's exit codes (1 data, 2 usage).
    static func main() {
        let command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            let message = fullMessage(for: error)
            if error is CleanExit || exitCode(for: error).isSuccess {
                print(message)
                Foundation.exit(0)
            }
            FileHandle.standardError.write(Data((message + "\n").utf8))
            Foundation.exit(2)
        }
        do {
            var command = command
            try command.run()
        } catch let error as ExitCode {
            Foundation.exit(error.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code.isSuccess {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            if code == .validationFailure || error is ValidationError {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            FileHandle.standardError.write(Data(("patron: \(error)\n").utf8))
            Foundation.exit(1)
        }
    }
}

/// Options every database command shares.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The database file.", valueName: "PATH"))
    var db: String?

    @Flag(name: .long, help: "Open the database read-only: nothing is written.")
    var readOnly = false

    @Option(name: .long, help: ArgumentHelp("Time zone of a new database (IANA name, e.g. America/New_York).", valueName: "ZONE"))
    var timeZone = "UTC"

    var path: String { db ?? ProcessInfo.processInfo.environment["PATRON_DB"] ?? "patron.db" }

    func open(readOnly forced: Bool = false) throws -> Database {
        try Database(path: path, readOnly: readOnly || forced, options: .init(timeZone: timeZone))
    }
}

func printError(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}

extension Int {
    /// `1,234,567`.
    var grouped: String {
        let s = String(self.magnitude)
        var out = ""
        for (i, c) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return (self < 0 ? "-" : "") + out
    }
}
