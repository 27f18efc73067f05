import ArgumentParser
import Foundation
import Patron

extension OutputFormat: ExpressibleByArgument {}

/// Options of commands that print a result.
struct ResultOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Output format: table, csv, json, ndjson or markdown.", valueName: "FORMAT"))
    var format: OutputFormat = .table

    @Option(help: ArgumentHelp("Answer as of this day instead of the current date (YYYY-MM-DD).", valueName: "DATE"))
    var today: String?

    func day() throws -> Day? {
        guard let today else { return nil }
        guard let d = Calendar.day(parsing: today) else { throw ValidationError("--today \"\(today)\" is not a date; write YYYY-MM-DD") }
        return d
    }

    /// Runs `text` on `db`, streaming rows to stdout; a query error is rendered to
    /// stderr with its caret and the command exits 1.
    func run(_ text: String, on db: Database, origin: String = "query") throws {
        let today = try day()
        try print(origin: origin) { columns, row in try db.query(text, today: today, columns: columns, row: row) }
    }

    /// Prints the result that `produce` streams, in the chosen format.
    func print(origin: String, _ produce: (([Column]) throws -> Void, ([Value]) throws -> Void) throws -> Void) throws {
        let out = BufferedOutput()
        let style: TableStyle = isatty(STDOUT_FILENO) == 1 ? .box : .plain
        var writer: ResultWriter?
        do {
            try produce({ columns in
                guard !columns.isEmpty else { return }
                var w = ResultWriter(format: format, columns: columns, style: style)
                out.write(w.begin())
                writer = w
            }, { values in
                if let w = writer {
                    var copy = w
                    out.write(copy.row(values))
                    writer = copy
                }
            })
            if var w = writer { out.write(w.end()) }
            out.flush()
        } catch let e as QueryError {
            out.flush()
            FileHandle.standardError.write(Data(e.render(origin: origin).utf8))
            throw ExitCode(1)
        }
    }
}

extension PatronCommand {
    struct Query: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one query and print its result.",
            discussion: """
                Examples:
                  patron query "clients where lapsed > 90d and tier = gold"
                  patron query "visits where at in last 1y group by provider show count()" --format csv
                  patron query "clients top 10% by spend" --format json --today 2025-06-30
                A malformed query prints the query with a caret under the problem and exits 1.
                """)
        @OptionGroup var options: DatabaseOptions
        @OptionGroup var result: ResultOptions
        @Argument(help: "The query (or save/run/queries/drop statement).") var text: String

        func run() throws {
            // Open for writing only an existing database (a query never creates one); save and drop write.
            let db = try options.open(readOnly: !FileManager.default.fileExists(atPath: options.path))
            try result.run(text, on: db)
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a saved query, binding parameters as values.",
            discussion: """
                Examples:
                  patron run lapsed_tier tier=gold days=120d --format csv
                Values are literals (120d, $500, 2025-06-30, gold, "Dr. Kim"), never spliced into the query text.
                """)
        @OptionGroup var options: DatabaseOptions
        @OptionGroup var result: ResultOptions
        @Argument(help: "The saved query's name.") var name: String
        @Argument(help: ArgumentHelp("Parameters as name=value.", valueName: "name=value")) var parameters: [String] = []

        func run() throws {
            for p in parameters where !p.contains("=") {
                throw ValidationError("parameter \"\(p)\" must be written name=value")
            }
            // Writable when the file exists: a saved query using p_alive may store a first fit.
            let db = try options.open(readOnly: !FileManager.default.fileExists(atPath: options.path))
            let today = try result.day()
            var values: [String: Value] = [:]
            for p in parameters {
                let key = String(p.prefix { $0 != "=" })
                let text = String(p.drop { $0 != "=" }.dropFirst())
                values[key.hasPrefix("$") ? String(key.dropFirst()) : key] = try db.parameterValue(text, today: today)
            }
            try result.print(origin: "run") { columns, row in
                try db.run(name, parameters: values, today: today, columns: columns, row: row)
            }
        }
    }

    struct Queries: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List saved queries.",
            discussion: """
                Example:
                  patron queries --format markdown
                """)
        @OptionGroup var options: DatabaseOptions
        @Option(help: ArgumentHelp("Output format: table, csv, json, ndjson or markdown.", valueName: "FORMAT"))
        var format: OutputFormat = .table

        func run() throws {
            let db = try options.open(readOnly: true)
            try ResultOptions.parse(["--format", format.rawValue]).run("queries", on: db)
        }
    }

    struct Save: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Save a query under a name.",
            discussion: """
                Example:
                  patron save lapsed_tier 'clients where lapsed > $days = 90d and tier = $tier'
                $name placeholders are parameters; $name = default gives a default.
                """)
        @OptionGroup var options: DatabaseOptions
        @Argument(help: "The name (letters, digits and _).") var name: String
        @Argument(help: "The query.") var text: String

        func run() throws {
            let db = try options.open()
            do {
                try db.saveQuery(name, text)
            } catch let e as QueryError {
                FileHandle.standardError.write(Data(e.render(origin: "query").utf8))
                throw ExitCode(1)
            }
            printError("saved \(name)")
        }
    }

    struct Drop: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drop a saved query (its history stays).",
            discussion: """
                Example:
                  patron drop lapsed_tier
                """)
        @OptionGroup var options: DatabaseOptions
        @Argument(help: "The saved query's name.") var name: String

        func run() throws {
            try options.open().dropQuery(name)
            printError("dropped \(name)")
        }
    }
}
