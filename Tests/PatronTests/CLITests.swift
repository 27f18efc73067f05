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
        #expect(imported.err.contains("22 appended"))
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
