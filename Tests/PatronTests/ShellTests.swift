import Foundation
import Synchronization
import Testing
@testable import Patron
@testable import PatronShell

/// Captures what the shell writes.
final class CapturedOutput: ShellOutput {
    var out = ""
    var err = ""
    func result(_ text: String) { out += text }
    func diagnostic(_ text: String) { err += text }
}

/// The shell's statement reading, meta-commands and output, without a terminal.
@Suite struct ShellTests {
    static let pipe = TerminalInfo(interactive: false, outputIsTerminal: false, color: false, unicode: false)
    static let tty = TerminalInfo(interactive: true, outputIsTerminal: true, color: true, unicode: true)

    static func shell(_ dir: TempDir, terminal: TerminalInfo = pipe) throws -> (Shell, CapturedOutput) {
        _ = try GrammarTests.sampleDatabase(dir)
        let out = CapturedOutput()
        return (Shell(databasePath: dir.path("db"), terminal: terminal, output: out, today: GrammarTests.sampleToday), out)
    }

    // MARK: Statement reading

    @Test func statementsEndAtSemicolonsBlankLinesAndNewStatements() {
        var b = StatementBuffer(interactive: false)
        #expect(b.add("-- a comment").isEmpty)
        #expect(b.add("clients where").isEmpty)
        #expect(b.add("  lapsed > 90d").isEmpty)
        let first = b.add("visits group by provider;")
        #expect(first.map(\.text) == ["clients where\n  lapsed > 90d", "visits group by provider"])
        #expect(first.map(\.line) == [2, 4])
        #expect(b.add("clients show id").isEmpty)
        #expect(b.add("").map(\.text) == ["clients show id"])
        #expect(b.add("clients; visits; ").map(\.text) == ["clients", "visits"])
        #expect(b.add(".mode csv").map(\.text) == [".mode csv"])
        #expect(b.add("clients show \"a;b\" as x").isEmpty, "a ; inside a string does not end the statement")
        #expect(b.flush().map(\.text) == ["clients show \"a;b\" as x"])
    }

    @Test func interactiveOneLineStatementsRunAtEnter() {
        var b = StatementBuffer(interactive: true)
        #expect(b.add("clients where lapsed > 90d").map(\.text) == ["clients where lapsed > 90d"])
        #expect(b.add("clients where").isEmpty)
        #expect(b.isPending)
        #expect(b.add("lapsed > 90d").isEmpty, "a statement begun on an earlier line waits for ; or a blank line")
        #expect(b.add("").map(\.text) == ["clients where\nlapsed > 90d"])
        #expect(b.add("clients show \"unclosed").isEmpty, "an open string is incomplete")
    }

    @Test func statementStatus() {
        #expect(StatementStatus(of: "clients where lapsed > 90d") == .complete)
        #expect(StatementStatus(of: "clients where") == .incomplete)
        #expect(StatementStatus(of: "clients where (lapsed > 90d") == .incomplete)
        #expect(StatementStatus(of: "clients where tier = \"go") == .incomplete)
        if case .invalid(let e) = StatementStatus(of: "clients wher lapsed > 90d") {
            #expect(e.message.contains("wher"))
        } else {
            Issue.record("a misspelt keyword is an error, not an unfinished statement")
        }
    }

    // MARK: Running

    @Test func resultsAndDiagnosticsGoToTheirStreams() throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let (shell, out) = try Self.shell(dir)
        shell.runScript("clients show id\nclients show idd;\nvisits group by provider show count()\n", origin: "script.pql")
        #expect(out.out.contains("C-1001") && out.out.contains("Dr. Kim"))
        #expect(out.err.contains("script.pql:2:14: error: unknown field \"idd\" for clients"))
        #expect(out.err.contains("hint: did you mean \"id\"?"))
        #expect(shell.failures == 1)
    }

    @Test func metaCommands() throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let (shell, out) = try Self.shell(dir)
        shell.execute(".help")
        for c in MetaCommand.all { #expect(out.out.contains(c.name), "\(c.name) missing from .help") }
        out.out = ""
        shell.execute(".help .mode")
        #expect(out.out.contains("example: .mode vertical"))
        out.out = ""
        shell.execute(".mode csv")
        shell.execute("clients show id, spend sort by id limit 1")
        #expect(out.out == "id,spend\nC-1001,1030\n")
        out.out = ""
        shell.execute(".last vertical")
        #expect(out.out.contains("-[ row 1 ]") && out.out.contains("spend | $1,030.00"))
        out.out = ""
        shell.execute(".last json")
        #expect(out.out.contains("\"spend\": 1030") || out.out.contains("\"spend\":1030"))
        shell.execute(".fields visits")
        #expect(out.out.contains("provider,string"))
        shell.execute(".today 2024-01-06")
        out.out = ""
        shell.execute("clients show id, lapsed sort by id limit 1")
        #expect(out.out == "id,lapsed\nC-1001,1\n")
        shell.execute(".today nonsense")
        #expect(out.err.contains(".today needs a date like 2025-06-30"))
        shell.execute(".frobnicate")
        #expect(out.err.contains("unknown command \".frobnicate\""))
        shell.execute(".timer on")
        shell.execute("clients show count()")
        #expect(out.err.contains("Run Time:"))
        shell.execute(".quit")
        #expect(shell.quitRequested)
        #expect(shell.failures == 2)
    }

    @Test func peopleSeeBoxesBarsAndATruncationNote() throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let (shell, out) = try Self.shell(dir, terminal: Self.tty)
        shell.execute("visits group by provider show count()")
        #expect(out.out.contains("┌") && out.out.contains("│ Dr. Kim"))
        #expect(out.out.contains("████"), "a bar beside each group's count")
        out.out = ""
        shell.execute(".chart off")
        shell.execute("visits group by provider show count()")
        #expect(!out.out.contains("█"))
        shell.execute(".maxrows 1")
        shell.execute("clients show id")
        #expect(out.err.contains("3 rows in all, 1 shown"))
    }

    @Test func cohortsAreAHeatmapOnAColourTerminalOnly() throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let shade = "\u{1B}[48;5;"
        // A colour terminal: shaded cells, retention as percentages; 2024-01 ran 1 of 1 in p3.
        let (tty, out) = try Self.shell(dir, terminal: Self.tty)
        tty.execute("cohorts")
        #expect(out.out.contains(shade) && out.out.contains("100.0%") && out.out.contains("┌"))
        #expect(out.out.contains("(3 rows)"))
        out.out = ""
        tty.execute("cohorts by quarter show revenue")
        #expect(out.out.contains(shade) && out.out.contains("$"))
        // Plain in the machine formats, with the raw numbers.
        out.out = ""
        tty.execute(".mode csv")
        tty.execute("cohorts by year")
        #expect(!out.out.contains("\u{1B}") && out.out.hasPrefix("cohort,clients,p0,p1,p2\n2023,1,1,1,0\n"))
        // .chart off turns the shading off too.
        out.out = ""
        tty.execute(".mode table")
        tty.execute(".chart off")
        tty.execute("cohorts by year")
        #expect(!out.out.contains("\u{1B}") && !out.out.contains("%"))
        // No colour (a pipe, or NO_COLOR): the ordinary table.
        let plainDir = TempDir()
        defer { withExtendedLifetime(plainDir) {} }
        let noColour = TerminalInfo(interactive: true, outputIsTerminal: true, color: false, unicode: false)
        let (plain, plainOut) = try Self.shell(plainDir, terminal: noColour)
        plain.execute("cohorts by year")
        #expect(!plainOut.out.contains("\u{1B}"))
        #expect(plainOut.out.contains("2023        1   1   1   0"), "\(plainOut.out)")
    }

    @Test func completion() {
        func complete(_ before: String, _ word: String) -> [String] {
            Completion.candidates(before: before, word: word, savedQueries: { ["lapsed_vips", "top_spenders"] },
                                  values: { $0 == "provider" ? ["Dr. Kim", "Maya"] : [] })
        }
        #expect(complete("", "cli") == ["clients"])
        #expect(complete("", ".mo") == [".mode"])
        #expect(complete("clients where ", "laps") == ["lapsed"])
        #expect(complete("visits where ", "prov") == ["provider"])
        #expect(complete("clients where has visit where ", "serv").contains("services"))
        #expect(complete("run ", "lap") == ["lapsed_vips"])
        #expect(complete("visits where provider = ", "") == ["\"Dr. Kim\"", "Maya"])
        #expect(complete("visits where ", "client.ti") == ["client.tier"])
        #expect(complete(".mode ", "ve") == ["vertical"])
        // Analytic statements and their clauses.
        #expect(complete("", "co") == ["cohorts"])
        #expect(complete("", "pa") == ["paths"])
        #expect(complete("clv ", "") == ["by", "where"])
        #expect(complete("clv by ", "sou") == ["source"])
        #expect(complete("clv by source ", "wh") == ["where"])
        #expect(complete("cohorts ", "") == ["by", "show", "where"])
        #expect(complete("cohorts by ", "q") == ["quarter"])
        #expect(complete("cohorts by month ", "") == ["show", "where"])
        #expect(complete("cohorts show ", "re") == ["retention", "revenue"])
        #expect(complete("cohorts where ", "laps") == ["lapsed"])
        #expect(complete("paths ", "") == ["from"])
        #expect(complete("paths from botox ", "") == ["within"])
    }
}

/// A cancelled query stops with QueryInterrupted, and the shell reports it and goes on.
@Test func cancelledQueriesStop() throws {
    let dir = TempDir()
    defer { withExtendedLifetime(dir) {} }
    let db = try GrammarTests.sampleDatabase(dir)
    let stop = QueryCancellation { true }
    #expect(throws: QueryInterrupted.self) {
        try QueryCancellation.$current.withValue(stop) { try db.query("visits group by provider show count()") }
    }
    #expect(throws: QueryInterrupted.self) {
        try QueryCancellation.$current.withValue(stop) { try db.query("clients show id") }
    }
    let out = CapturedOutput()
    let shell = Shell(databasePath: dir.path("db"), terminal: ShellTests.pipe, output: out)
    shell.cancellation = stop
    shell.execute("clients show id")
    #expect(out.err.contains("error: interrupted (Ctrl-C)"))
    shell.cancellation = nil
    shell.execute("clients show count()")
    #expect(out.out.contains("3"))
    #expect(shell.failures == 1)
    // A script (`.read`) stops at the interrupted statement instead of failing each one.
    shell.cancellation = stop
    shell.runScript("clients show id;\nclients show count();\nvisits show count();", origin: "script.pql")
    #expect(shell.failures == 2)
}

/// Sorting watches for cancellation as well: sorting every event by a string takes
/// seconds on a large clinic, and Ctrl-C must not wait for it.
@Test func sortsWatchForCancellation() throws {
    let dir = TempDir()
    defer { withExtendedLifetime(dir) {} }
    let db = try Database(path: dir.path("db"))
    _ = try DemoClinic.build(into: db, clients: 200, seed: 3, end: day("2025-06-30"))
    guard case .number(let events) = try db.query("events show count()").rows.first?.first else {
        Issue.record("no event count")
        return
    }
    #expect(events > 4000)
    /// How many times a query consults its cancellation.
    func checks(_ query: String) throws -> Int {
        let calls = Atomic<Int>(0)
        let counting = QueryCancellation { calls.add(1, ordering: .relaxed); return false }
        _ = try QueryCancellation.$current.withValue(counting) { try db.query(query) }
        return calls.load(ordering: .relaxed)
    }
    let scan = try checks("events show client limit 1000000")
    let sorted = try checks("events show client sort by client limit 1000000")
    // n log2 n comparisons, one check per 4,096 of them.
    let comparisons = events * log2(events)
    #expect(Double(sorted - scan) >= comparisons / 4096 / 2, "scan \(scan) checks, sorted \(sorted), \(events) events")
    // And a cancellation seen only by the sort stops the query.
    let after = Atomic<Int>(0)
    let late = QueryCancellation { after.add(1, ordering: .relaxed).newValue > scan }
    #expect(throws: QueryInterrupted.self) {
        _ = try QueryCancellation.$current.withValue(late) { try db.query("events show client sort by client limit 1000000") }
    }
}
