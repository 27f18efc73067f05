import Foundation
import Testing
@testable import Patron

@Suite struct ImportTests {
    func write(_ dir: TempDir, _ name: String, _ text: String) throws -> String {
        let path = dir.path(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The failure of importing `path`, or nil (and a recorded issue) when it imported.
    func failure(_ db: Database, _ path: String, _ options: ImportOptions = ImportOptions(),
                 sourceLocation: SourceLocation = #_sourceLocation) -> ImportFailure? {
        do {
            try db.importFile(path, options: options)
            Issue.record("imported a bad file", sourceLocation: sourceLocation)
        } catch let f as ImportFailure {
            return f
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    @Test func aMalformedLineNamesFileAndLineAndImportsNothing() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let file = try write(dir, "bad.ndjson", """
            {"type":"visit","client":"a","at":"2025-01-01"}
            {"type":"visit","client":"b","at":"2025-01-02"}
            {"type":"feedback","client":"a","at":"2025-01-03","score":9}
            """)
        let f = try #require(failure(db, file))
        #expect(f.errors.map(\.description) == ["\(file):3:51: score \"9\": must be an integer from 1 to 5"])
        #expect(f.total == 1)
        #expect(try db.lastPosition == 0)
    }

    @Test func brokenJSONGivesTheColumn() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let file = try write(dir, "bad.ndjson", "{\"type\":\"visit\",\"client\":\"a\" \"at\":\"2025-01-01\"}\n")
        let e = try #require(failure(db, file)?.errors.first)
        #expect(e.line == 1 && e.column == 30)
        #expect(e.message.contains("expected ',' or '}'"))
    }

    @Test func emptyFilesAndHugeLinesAndInvalidUTF8AreRejected() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let empty = try write(dir, "empty.ndjson", "\n  \n")
        #expect(throws: ImportError.self) { try db.importFile(empty) }
        let huge = try write(dir, "huge.ndjson", "{\"type\":\"visit\",\"client\":\"a\",\"at\":\"2025-01-01\",\"x\":\"" + String(repeating: "y", count: Limits.line) + "\"}\n")
        let e = try #require(failure(db, huge)?.errors.first)
        #expect(e.line == 1 && e.message.contains("over the limit"))
        var bytes = Array("{\"type\":\"visit\",\"client\":\"a\",\"at\":\"2025-01-01\",\"provider\":\"Dr \"}\n".utf8)
        bytes.insert(0xFF, at: bytes.count - 4)
        let path = dir.path("utf8.ndjson")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let u = try #require(failure(db, path)?.errors.first)
        #expect(u.line == 1 && u.message.contains("invalid UTF-8"))
        #expect(try db.lastPosition == 0)
    }

    @Test func reImportIsIdempotentAndIdenticalRowsStayTwoFacts() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let file = try write(dir, "p.ndjson", """
            {"type":"purchase","client":"a","at":"2025-01-01","amount":10}
            {"type":"purchase","client":"a","at":"2025-01-01","amount":10}
            {"type":"purchase","client":"a","at":"2025-01-02","amount":5}
            """)
        let first = try db.importFile(file)
        #expect(first.appended == 3)
        let again = try db.importFile(file)
        #expect(again.appended == 0 && again.duplicates == 3)
        // Overlapping export: the same facts written differently are stored once.
        let overlap = try write(dir, "o.ndjson", """
            {"client":"a","type":"purchase","amount":"$5.00","at":"2025-01-02T00:00:00Z"}
            {"type":"purchase","client":"a","at":"2025-01-03","amount":7}
            """)
        #expect(try db.importFile(overlap).appended == 1)
        #expect(try db.client("a", today: day("2025-02-01"))?.spend == Money(dollars: 32))
        let separate = try Database(path: dir.path("db2"))
        var noDedupe = ImportOptions()
        noDedupe.dedupe = false
        #expect(try separate.importFile(file, options: noDedupe).appended == 3)
        #expect(try separate.importFile(file, options: noDedupe).appended == 3)
    }

    @Test func exportReImportsToTheSameEvents() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        try db.appendAndWait(everyType)
        var text = ""
        try db.exportNDJSON(to: { text += $0 + "\n" })
        let file = try write(dir, "export.ndjson", text)
        #expect(try db.importFile(file).appended == 0)
        let copy = try Database(path: dir.path("copy"))
        #expect(try copy.importFile(file).appended == everyType.count)
        #expect(try copy.events().map(\.event) == db.events().map(\.event))
    }

    /// Every sample import file in examples/ imports cleanly and verifies.
    @Test func examplesImport() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let examples = packageRoot.appendingPathComponent("examples")
        let files = try FileManager.default.contentsOfDirectory(atPath: examples.path).filter { $0.hasSuffix(".ndjson") }.sorted()
        #expect(!files.isEmpty)
        for f in files {
            let r = try db.importFile(examples.appendingPathComponent(f).path)
            #expect(r.appended > 0, "\(f)")
        }
        #expect(try db.verify().isOK)
        let ava = try #require(try db.client("C-1001", today: day("2024-12-31")))
        #expect(ava.tier == "gold" && ava.member && ava.plan == "glow")
        #expect(ava.spend == Money(dollars: 450 + 480 + 132 - 32))
    }
}
