import Foundation
import Testing
@testable import Patron

/// The `patron` executable: exit codes, stdout/stderr discipline, the maintenance commands.
@Suite struct CLITests {
    @Test func importStatsVerifyExportForget() throws {
        let dir = TempDir()
        let db = dir.path("clinic.patron")
        let example = packageRoot.appendingPathComponent("examples/clinic.ndjson").path
        let imported = try runProduct("patron", ["import", example, "--db", db])
        #expect(imported.status == 0)
        #expect(imported.out.isEmpty, "results only on stdout")
        #expect(imported.err.contains("22 rows read, 22 events stored"))
        let stats = try runProduct("patron", ["stats", "--db", db])
        #expect(stats.status == 0 && stats.out.contains("events") && stats.out.contains("22"))
        let verify = try runProduct("patron", ["verify"], environment: ["PATRON_DB": db])
        #expect(verify.status == 0 && verify.out.hasPrefix("ok: 22 events"))
        let export = try runProduct("patron", ["export", "--db", db, "--client", "C-1002"])
        #expect(export.out.split(separator: "\n").count == 4)
        #expect(export.out.contains("Ben Okafor"))
        #expect(try runProduct("patron", ["forget", "C-1002", "--db", db]).status == 0)
        #expect(!(try runProduct("patron", ["export", "--db", db]).out.contains("Ben Okafor")))
        #expect(try runProduct("patron", ["backup", dir.path("copy"), "--db", db]).status == 0)
        #expect(try runProduct("patron", ["rebuild", "--db", db]).out.contains("rebuilt from 23 events"))
    }

    @Test func dataErrorsExitOneAndUsageErrorsExitTwo() throws {
        let dir = TempDir()
        let bad = dir.path("bad.ndjson")
        try Data("{\"type\":\"visit\"}\n".utf8).write(to: URL(fileURLWithPath: bad))
        let r = try runProduct("patron", ["import", bad, "--db", dir.path("db")])
        #expect(r.status == 1)
        #expect(r.err.contains("bad.ndjson:1"))
        #expect(r.err.contains("client: is missing"))
        #expect(try runProduct("patron", ["import", "--db", dir.path("db")]).status == 2)
        #expect(try runProduct("patron", ["frobnicate"]).status == 2)
        #expect(try runProduct("patron", ["stats", "--db", dir.path("missing")]).status == 1)
        #expect(try runProduct("patron", ["--help"]).status == 0)
        let forget = try runProduct("patron", ["forget", "nobody", "--db", dir.path("db")])
        #expect(forget.status == 1 && forget.err.contains("no client with key \"nobody\""))
    }
}

/// A database holding `examples/clinic.ndjson`, imported through the binary.
func clinic() throws -> (TempDir, String) {
    let dir = TempDir()
    let db = dir.path("clinic.patron")
    let example = packageRoot.appendingPathComponent("examples/clinic.ndjson").path
    #expect(try runProduct("patron", ["import", example, "--db", db]).status == 0)
    return (dir, db)
}

/// `patron query`, `save`, `run`, `queries`, `drop`: formats, diagnostics, exit codes.
@Suite struct QueryCLITests {
    @Test func queryPrintsEachFormat() throws {
        let (dir, db) = try clinic()
        defer { withExtendedLifetime(dir) {} }
        let q = "clients where tier = gold show id, spend, lapsed, services"
        let csv = try runProduct("patron", ["query", q, "--db", db, "--today", "2025-01-01", "--format", "csv"])
        #expect(csv.status == 0 && csv.err.isEmpty)
        #expect(csv.out == "id,spend,lapsed,services\nC-1001,1030,213,botox;consultation\n")
        let json = try runProduct("patron", ["query", q, "--db", db, "--today", "2025-01-01", "--format", "json"])
        #expect(json.out == "[\n{\"id\":\"C-1001\",\"spend\":1030,\"lapsed\":213,\"services\":[\"botox\",\"consultation\"]}\n]\n")
        let nd = try runProduct("patron", ["query", q, "--db", db, "--today", "2025-01-01", "--format", "ndjson"])
        #expect(nd.out == "{\"id\":\"C-1001\",\"spend\":1030,\"lapsed\":213,\"services\":[\"botox\",\"consultation\"]}\n")
        let md = try runProduct("patron", ["query", q, "--db", db, "--today", "2025-01-01", "--format", "markdown"])
        #expect(md.out.hasPrefix("| id "))
        #expect(md.out.contains("$1,030.00"))
        let table = try runProduct("patron", ["query", q, "--db", db, "--today", "2025-01-01"])
        #expect(table.out.contains("213d") && table.out.hasSuffix("(1 row)\n"))
    }

    @Test func badQueryShowsCaretAndExitsOne() throws {
        let (dir, db) = try clinic()
        defer { withExtendedLifetime(dir) {} }
        let r = try runProduct("patron", ["query", "clients where lapsd > 90d", "--db", db])
        #expect(r.status == 1)
        #expect(r.out.isEmpty)
        #expect(r.err == """
            query:1:15: error: unknown field "lapsd" for clients
              clients where lapsd > 90d
                            ^~~~~
              hint: did you mean "lapsed"?

            """)
        #expect(try runProduct("patron", ["query", "clients", "--db", db, "--today", "2025-13-01"]).status == 2)
        #expect(try runProduct("patron", ["query", "clients", "--db", db, "--format", "xml"]).status == 2)
    }

    @Test func savedQueriesRoundTrip() throws {
        let (dir, db) = try clinic()
        defer { withExtendedLifetime(dir) {} }
        let save = try runProduct("patron", ["save", "lapsed_tier", "clients where lapsed > $days = 90d and tier = $tier show id", "--db", db])
        #expect(save.status == 0, "\(save.err)")
        let run = try runProduct("patron", ["run", "lapsed_tier", "tier=gold", "--db", db, "--today", "2025-01-01", "--format", "csv"])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out == "id\nC-1001\n")
        let longer = try runProduct("patron", ["run", "lapsed_tier", "tier=gold", "days=300d", "--db", db, "--today", "2025-01-01", "--format", "csv"])
        #expect(longer.out == "id\n")
        // A value with a space is one string value, not query text.
        #expect(try runProduct("patron", ["save", "by_provider", "visits where provider = $who show client", "--db", db]).status == 0)
        let spaced = try runProduct("patron", ["run", "by_provider", "who=Dr. Kim", "--db", db, "--format", "csv"])
        #expect(spaced.status == 0, "\(spaced.err)")
        #expect(spaced.out == "client\nC-1001\nC-1001\nC-1003\n")
        let injected = try runProduct("patron", ["run", "by_provider", "who=x or true", "--db", db, "--format", "csv"])
        #expect(injected.out == "client\n")
        #expect(try runProduct("patron", ["drop", "by_provider", "--db", db]).status == 0)
        let missing = try runProduct("patron", ["run", "lapsed_tier", "--db", db])
        #expect(missing.status == 1 && missing.err.contains("needs a value for $tier") && missing.err.contains("$days (default 90d)"))
        let list = try runProduct("patron", ["queries", "--db", db, "--format", "csv"])
        #expect(list.out.contains("lapsed_tier,$days = 90d;$tier,"))
        #expect(try runProduct("patron", ["drop", "lapsed_tier", "--db", db]).status == 0)
        #expect(try runProduct("patron", ["queries", "--db", db, "--format", "csv"]).out == "name,parameters,query\n")
        #expect(try runProduct("patron", ["run", "lapsed_tier", "--db", db]).status == 1)
    }
}

/// The Swift program in examples/LibraryDemo runs and prints what it should.
@Suite struct ExampleProgramTests {
    @Test func libraryDemoRuns() throws {
        let dir = TempDir()
        let r = try runProduct("patron-example", [dir.path("demo.patron")])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("re-append of reg-1: 1 duplicate"))
        #expect(r.out.contains("C-1 Ava Lind: 2 visits, spend $450.00, tier gold, lapsed 30d, cadence 51.0d"))
        #expect(r.out.contains("stream of C-1: 1:client 2:visit 3:purchase 4:visit 5:tier"))
        #expect(r.out.contains("subscription from 4: [4, 5]"))
    }
}

/// The shell through the built binary when stdin is not a terminal, and with -c / -f.
@Suite struct ShellCLITests {
    @Test func pipedScriptWithOneBadStatementExitsOne() throws {
        let (dir, db) = try clinic()
        defer { withExtendedLifetime(dir) {} }
        let script = """
            -- two good statements around a bad one
            clients show id sort by id limit 1;
            clients show idd;
            visits group by provider show count()
            """
        let r = try runProduct("patron", ["--db", db, "--today", "2025-01-01", "--format", "csv"], stdin: script)
        #expect(r.status == 1)
        #expect(r.out == "id\nC-1001\nprovider,count()\nDr. Kim,3\nMaya Ruiz,2\n")
        #expect(r.err == """
            stdin:3:14: error: unknown field "idd" for clients
              clients show idd
                           ^~~
              hint: did you mean "id"?

            """)
        let good = try runProduct("patron", ["--db", db, "--format", "csv"], stdin: "clients show count()\n")
        #expect(good.status == 0 && good.out == "count()\n3\n" && good.err.isEmpty)
    }

    @Test func commandAndFileOptions() throws {
        let (dir, db) = try clinic()
        defer { withExtendedLifetime(dir) {} }
        let c = try runProduct("patron", ["-c", "clients show count(); tiers show count()", "--db", db, "--format", "csv"])
        #expect(c.status == 0)
        #expect(c.out == "count()\n3\ncount()\n2\n")
        let bad = try runProduct("patron", ["-c", "clients wher spend > 0", "--db", db])
        #expect(bad.status == 1 && bad.err.contains("-c:1:9: error:"))
        let script = dir.path("q.pql")
        try "-- a script\n.mode csv\nclients show id\n  sort by id\n  limit 1;\n".write(toFile: script, atomically: true, encoding: .utf8)
        let f = try runProduct("patron", ["-f", script, "--db", db])
        #expect(f.status == 0 && f.out == "id\nC-1001\n")
        #expect(try runProduct("patron", ["-f", dir.path("missing.pql"), "--db", db]).status == 1)
        #expect(try runProduct("patron", ["--db", db, "--format", "xml"], stdin: "").status == 2)
        #expect(try runProduct("patron", ["--db", db, "--today", "2025-02-30"], stdin: "").status == 2)
        let help = try runProduct("patron", ["shell", "--help"])
        #expect(help.status == 0 && help.out.contains("patron -f examples/lapsed_vips.pql"))
    }

    @Test func everyExampleScriptRunsAgainstTheDemoClinic() throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let db = dir.path("demo.patron")
        let demo = try runProduct("patron", ["demo", "--db", db, "--clients", "400", "--seed", "3", "--end", "2026-01-01"])
        #expect(demo.status == 0, "\(demo.err)")
        let examples = packageRoot.appendingPathComponent("examples")
        let files = try FileManager.default.contentsOfDirectory(atPath: examples.path).filter { $0.hasSuffix(".pql") }.sorted()
        var rows = 0
        for f in files {
            let r = try runProduct("patron", ["-f", examples.appendingPathComponent(f).path, "--db", db, "--today", "2026-01-01", "--format", "csv"])
            #expect(r.status == 0, "\(f): \(r.err)")
            rows += r.out.split(separator: "\n").count
        }
        #expect(rows > 200, "the examples should find something in the demo clinic")
    }

    @Test func everyExampleScriptRunsThroughTheShell() throws {
        let (dir, db) = try clinic()
        defer { withExtendedLifetime(dir) {} }
        let examples = packageRoot.appendingPathComponent("examples")
        let files = try FileManager.default.contentsOfDirectory(atPath: examples.path).filter { $0.hasSuffix(".pql") }.sorted()
        #expect(files.count >= 6)
        for f in files {
            let r = try runProduct("patron", ["-f", examples.appendingPathComponent(f).path, "--db", db, "--today", "2025-01-01"])
            #expect(r.status == 0, "\(f): \(r.err)")
        }
    }
}

/// Every subcommand's --help shows at least one example.
@Test func everySubcommandHelpHasAnExample() throws {
    for sub in ["shell", "query", "run", "queries", "save", "drop", "import", "export", "stats", "verify", "rebuild", "backup", "forget"] {
        let r = try runProduct("patron", [sub, "--help"])
        #expect(r.status == 0, "\(sub) --help")
        #expect(r.out.contains("Example"), "patron \(sub) --help has no example")
        #expect(r.out.contains("patron "), "patron \(sub) --help example does not show a command")
    }
}
