import Foundation
import Patron

/// A meta-command of the shell (SPEC 4.2): its name, what it does, an example, and
/// how it runs. `.help` prints this table, so it stays true to the code.
struct MetaCommand: Sendable {
    let name: String
    let usage: String
    let summary: String
    let example: String
    let run: @Sendable (Shell, [String], String) throws -> Void

    static func named(_ name: String) -> MetaCommand? {
        let n = name == ".exit" ? ".quit" : name == ".mode" ? ".format" : name
        return all.first { $0.name == n }
    }

    static let all: [MetaCommand] = [
        MetaCommand(name: ".help", usage: ".help [COMMAND]", summary: "list the commands, or explain one",
                    example: ".help .format") { shell, args, _ in
            shell.output.result(help(args.first))
        },
        MetaCommand(name: ".fields", usage: ".fields [ENTITY]", summary: "the fields of clients (or of an entity) and their kinds",
                    example: ".fields visits") { shell, args, _ in
            let entity = args.first ?? "clients"
            guard let fields = QueryVocabulary.fields(of: entity) else {
                throw ShellError("unknown entity \"\(entity)\"; entities: \(QueryVocabulary.entities.joined(separator: ", "))")
            }
            let rows = fields.map { [Value.string($0.name), .string($0.kind.rawValue)] }
            shell.show(QueryResult(columns: [Column(name: "field", kind: .string), Column(name: "kind", kind: .string)], rows: rows),
                       mode: shell.mode == .vertical ? .table : shell.mode, grouped: false)
        },
        MetaCommand(name: ".format", usage: ".format MODE  (also .mode)",
                    summary: "show results as table, box, vertical (one line per field), csv, json, ndjson or markdown",
                    example: ".mode vertical") { shell, args, _ in
            guard let a = args.first else { shell.output.result("\(shell.mode.rawValue)\n"); return }
            guard let m = Shell.Mode(rawValue: a.lowercased()) else {
                throw ShellError("unknown mode \"\(a)\"; modes: \(Shell.Mode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            shell.setMode(m)
        },
        MetaCommand(name: ".last", usage: ".last [MODE]", summary: "show the last result again, in another mode if given",
                    example: ".last csv") { shell, args, _ in
            var m = shell.mode
            if let a = args.first {
                guard let parsed = Shell.Mode(rawValue: a.lowercased()) else { throw ShellError("unknown mode \"\(a)\"") }
                m = parsed
            }
            try shell.showLast(mode: m)
        },
        MetaCommand(name: ".timer", usage: ".timer on|off", summary: "print how long each statement took",
                    example: ".timer on") { shell, args, _ in
            shell.timer = try onOff(args, ".timer")
        },
        MetaCommand(name: ".chart", usage: ".chart on|off", summary: "a bar beside the first number of each group in grouped results, and cohort heatmaps",
                    example: ".chart off") { shell, args, _ in
            shell.chart = try onOff(args, ".chart")
        },
        MetaCommand(name: ".maxrows", usage: ".maxrows N|off", summary: "rows shown before the rest are counted, not printed",
                    example: ".maxrows 50") { shell, args, _ in
            guard let a = args.first else { throw ShellError(".maxrows needs a number or off") }
            if a.lowercased() == "off" { shell.maxRows = nil; return }
            guard let n = Int(a), n > 0 else { throw ShellError(".maxrows needs a positive number or off, not \"\(a)\"") }
            shell.maxRows = n
        },
        MetaCommand(name: ".today", usage: ".today DATE|off", summary: "answer as if today were DATE (YYYY-MM-DD); off for the real date",
                    example: ".today 2025-06-30") { shell, args, _ in
            guard let a = args.first else {
                shell.output.result((shell.today.map { Patron.Calendar.format($0) } ?? "off (the real date)") + "\n")
                return
            }
            if a.lowercased() == "off" { shell.today = nil; return }
            guard let d = Patron.Calendar.day(parsing: a) else { throw ShellError(".today needs a date like 2025-06-30, not \"\(a)\"") }
            shell.today = d
        },
        MetaCommand(name: ".read", usage: ".read FILE", summary: "run the statements of a file (a .pql script)",
                    example: ".read examples/lapsed_vips.pql") { shell, args, line in
            let path = try argument(line, ".read", "a file")
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ShellError("cannot read \(path)") }
            shell.runScript(text, origin: path)
        },
        MetaCommand(name: ".import", usage: ".import FILE [TYPE]",
                    summary: "append the events of a CSV or NDJSON file (TYPE for rows without a type column)",
                    example: ".import visits.csv visit") { shell, args, line in
            var options = ImportOptions()
            var path = try argument(line, ".import", "a file")
            if args.count >= 2, let type = EventType(rawValue: args[args.count - 1].lowercased()) {
                options.type = type
                path = (args.dropLast().joined(separator: " ") as NSString).expandingTildeInPath
            }
            let report = try shell.openDatabase().importFile(path, options: options)
            shell.output.diagnostic("imported \(report.appended.formatted()) events from \(path) (\(report.read.formatted()) rows read, \(report.duplicates.formatted()) already stored)\n")
        },
        MetaCommand(name: ".open", usage: ".open PATH", summary: "switch to another database file (created if new)",
                    example: ".open clinic.db") { shell, _, line in
            try shell.reopen(try argument(line, ".open", "a path"))
        },
        MetaCommand(name: ".queries", usage: ".queries", summary: "the saved queries and their parameters",
                    example: ".queries") { shell, _, _ in
            shell.execute("queries")
        },
        MetaCommand(name: ".quit", usage: ".quit  (also .exit, Ctrl-D)", summary: "leave the shell",
                    example: ".quit") { shell, _, _ in
            shell.requestQuit()
        },
    ]

    static func onOff(_ args: [String], _ name: String) throws -> Bool {
        switch args.first?.lowercased() {
        case "on": return true
        case "off": return false
        default: throw ShellError("\(name) needs on or off")
        }
    }

    /// The rest of the line after the command (a path may hold spaces; quotes are removed).
    static func argument(_ line: String, _ name: String, _ what: String) throws -> String {
        var rest = line.dropFirst(line.prefix { $0 != " " && $0 != "\t" }.count).trimmingCharacters(in: .whitespaces)
        if rest.count >= 2, let f = rest.first, f == "\"" || f == "'", rest.last == f { rest = String(rest.dropFirst().dropLast()) }
        guard !rest.isEmpty else { throw ShellError("\(name) needs \(what)") }
        return (rest as NSString).expandingTildeInPath
    }

    /// `.help` text: every command, or one with its example.
    static func help(_ topic: String?) -> String {
        if let topic {
            let t = topic.hasPrefix(".") ? topic : "." + topic
            guard let c = named(t.lowercased()) else { return "no command \(topic); .help lists them\n" }
            return "\(c.usage)\n  \(c.summary)\n  example: \(c.example)\n"
        }
        let width = all.map(\.usage.count).max() ?? 0
        var out = "Statements end with ; or a blank line (a complete one-line statement runs at Enter).\n"
        out += "Queries: clients where lapsed > 90d and tier = gold   (see README, grammar/)\n"
        out += "Analytics: clv by source; cohorts by quarter show revenue; paths from botox within 90d\n"
        out += "Models:  fit; set model = bgnbd|mbgnbd; clients where p_alive < 0.3 and spend > $2000\n\n"
        for c in all {
            out += c.usage.padding(toLength: width + 2, withPad: " ", startingAt: 0) + c.summary + "\n"
        }
        out += "\n.help COMMAND shows an example. Tab completes; Ctrl-C cancels the line or stops a running query; Ctrl-D quits.\n"
        return out
    }
}
