import Foundation
import Testing
@testable import Patron

/// Bad input of every kind: the exact message, and a database left byte for byte as it was.
@Suite struct ImportBadInputTests {
    /// A database holding a few events, in its own directory (so its files can be compared).
    static func seeded() throws -> (TempDir, Database) {
        let dir = TempDir()
        let db = try Database(path: dir.path("clinic.patron"))
        try db.appendAndWait([
            Event(client: "a", at: ms("2025-01-01"), payload: .visit(Visit(services: ["facial"]))),
            Event(client: "a", at: ms("2025-01-02"), payload: .purchase(Purchase(amount: Money(dollars: 80)))),
        ])
        return (dir, db)
    }

    /// Imports `bytes` as `name`; returns every message (the first 20), checking that
    /// nothing of the database changed.
    static func rejected(_ name: String, _ bytes: [UInt8], _ options: ImportOptions = ImportOptions(),
                         sourceLocation: SourceLocation = #_sourceLocation) throws -> [String] {
        let (dir, db) = try seeded()
        let inputs = TempDir()
        let path = inputs.path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let before = try dir.allFiles().map(\.1)
        var messages: [String] = []
        do {
            try db.importFile(path, options: options)
            Issue.record("\(name) was imported", sourceLocation: sourceLocation)
        } catch let f as ImportFailure {
            messages = f.errors.map { $0.description.replacingOccurrences(of: inputs.url.path + "/", with: "") }
        } catch let e as ImportError {
            messages = [e.description.replacingOccurrences(of: inputs.url.path + "/", with: "")]
        }
        #expect(try dir.allFiles().map(\.1) == before, "the database files changed", sourceLocation: sourceLocation)
        #expect(try db.lastPosition == 2, sourceLocation: sourceLocation)
        #expect(try db.verify().isOK, sourceLocation: sourceLocation)
        return messages
    }

    static func rejected(_ name: String, _ text: String, _ options: ImportOptions = ImportOptions(),
                         sourceLocation: SourceLocation = #_sourceLocation) throws -> [String] {
        try rejected(name, Array(text.utf8), options, sourceLocation: sourceLocation)
    }

    static let head = "type,client,at,amount,score\n"

    @Test func wrongColumnCount() throws {
        #expect(try Self.rejected("x.csv", Self.head + "purchase,b,2025-02-01,10,,extra\npurchase,b,2025-02-01\n") == [
            "x.csv:2:27: 6 fields where the header has 5",
            "x.csv:3:12: 3 fields where the header has 5",
        ])
    }

    @Test func unterminatedQuote() throws {
        #expect(try Self.rejected("x.csv", Self.head + "purchase,b,2025-02-01,10,\npurchase,\"b,2025-02-01,10,\n") == [
            "x.csv:3:10: unterminated quoted field (the quote opened here is never closed; reading goes on at the next line)",
        ])
        // The rows after it are read (and checked) as rows.
        #expect(try Self.rejected("x.csv", Self.head + "purchase,\"b,2025-02-01,10,\nfeedback,c,2025-02-01,,9\n") == [
            "x.csv:2:10: unterminated quoted field (the quote opened here is never closed; reading goes on at the next line)",
            "x.csv:3:24: score \"9\": must be an integer from 1 to 5",
        ])
    }

    @Test func invalidUTF8() throws {
        var bytes = Array((Self.head + "purchase,b,2025-02-01,10,\nvisit,b").utf8)
        bytes.append(0xFF)
        bytes += Array(",2025-02-02,,\n".utf8)
        #expect(try Self.rejected("x.csv", bytes) == ["x.csv:3:8: invalid UTF-8 (byte 0xff)"])
    }

    @Test func unknownTypeAndMissingClientOrDate() throws {
        #expect(try Self.rejected("x.csv", Self.head + "massage,b,2025-02-01,,\nvisit,,2025-02-01,,\nvisit,b,,,\n") == [
            "x.csv:2:1: type \"massage\": is not a known type (client, visit, purchase, refund, reward, tier, membership, feedback, forget, merge)",
            "x.csv:3:7: client: is missing",
            "x.csv:4:9: at: is missing",
        ])
    }

    @Test func unparseableDateAndMoneyAndNegativeAmounts() throws {
        #expect(try Self.rejected("x.csv", Self.head + "purchase,b,2025-02-30,10,\npurchase,b,2025-02-01,ten,\nrefund,b,2025-02-01,-5,\n") == [
            "x.csv:2:12: at \"2025-02-30\": is not an ISO-8601 date or date-time",
            "x.csv:3:23: amount \"ten\": is not an amount of money (write 450, 450.50 or \"$450.50\"; at most 2 decimals)",
            "x.csv:4:21: amount \"-5\": must not be negative",
        ])
    }

    @Test func scoresOutsideOneToFive() throws {
        #expect(try Self.rejected("x.csv", Self.head + "feedback,b,2025-02-01,,0\nfeedback,b,2025-02-01,,6\n") == [
            "x.csv:2:24: score \"0\": must be an integer from 1 to 5",
            "x.csv:3:24: score \"6\": must be an integer from 1 to 5",
        ])
    }

    @Test func fieldsOverTheSizeLimits() throws {
        let key = String(repeating: "k", count: Limits.key + 1)
        let messages = try Self.rejected("x.ndjson", "{\"type\":\"visit\",\"client\":\"\(key)\",\"at\":\"2025-02-01\"}\n")
        #expect(messages == ["x.ndjson:1:17: client \"\(String(key.prefix(57)))…\": is \(Limits.key + 1) bytes, over the limit of \(Limits.key)"])
    }

    @Test func aLineOverOneMebibyte() throws {
        let long = String(repeating: "y", count: Limits.line)
        let line = "{\"type\":\"visit\",\"client\":\"b\",\"at\":\"2025-02-01\",\"note\":\"\(long)\"}"
        #expect(try Self.rejected("x.ndjson", line + "\n") == [
            "x.ndjson:1: the line is \(line.utf8.count) bytes, over the limit of \(Limits.line) (1 MiB)",
        ])
        let csv = try Self.rejected("x.csv", Self.head + "purchase,b,2025-02-01,\"\(long)\",\n")
        let record = "purchase,b,2025-02-01,\"\(long)\","
        #expect(csv == ["x.csv:2:1: the record is \(record.utf8.count) bytes, over the limit of \(Limits.line) (1 MiB)"])
    }

    @Test func emptyAndBinaryFiles() throws {
        #expect(try Self.rejected("x.csv", "") == ["x.csv: the input file is empty"])
        #expect(try Self.rejected("x.ndjson", " \n\n") == ["x.ndjson: the input file is empty"])
        #expect(try Self.rejected("x.csv", Self.head) == ["x.csv: the input has no rows"])
        var rng = SeededRandom(seed: 7)
        let noise = (0..<5000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        #expect(try Self.rejected("x.csv", noise) == ["x.csv: this is not a CSV or NDJSON file (it holds binary data)"])
        #expect(try Self.rejected("x.csv", [0x1f, 0x8b, 0x08, 0x00, 0x00]) .first?.hasPrefix("x.csv") == true)
    }

    @Test func aRejectedFileWithAForgetErasesNothing() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        try db.appendAndWait([Event(client: "ava", at: ms("2025-01-01"), payload: .client(ClientDetails(name: "Ava Stone", email: "ava@x.com")))])
        let path = dir.path("f.ndjson")
        try Data(("{\"type\":\"forget\",\"client\":\"ava\",\"at\":\"2025-02-01\"}\n"
            + "{\"type\":\"visit\",\"client\":\"ava\",\"at\":\"nope\"}\n").utf8).write(to: URL(fileURLWithPath: path))
        var options = ImportOptions()
        options.batchSize = 1
        #expect(throws: ImportFailure.self) { try db.importFile(path, options: options) }
        // The forget was never committed, so its key was not destroyed.
        #expect(try db.client("ava", today: day("2025-03-01"))?.name == "Ava Stone")
        #expect(try db.verify().isOK)
        // A committed forget still erases.
        try db.forget("ava")
        #expect(try db.client("ava", today: day("2025-03-01"))?.name == nil)
    }

    @Test func itemAmountsThatOverflowAreAnErrorNotACrash() throws {
        let big = "{\"type\":\"purchase\",\"client\":\"b\",\"at\":\"2025-02-01\",\"items\":[{\"amount\":90000000000000000},{\"amount\":90000000000000000}]}\n"
        // No amount is written: the message says what is too large rather than quote a number not in the file.
        #expect(try Self.rejected("x.ndjson", big) == ["x.ndjson:1:61: amount: the sum of the items' amounts is too large"])
    }

    @Test func aPipeIsReadWhole() throws {
        let dir = TempDir()
        let file = dir.path("many.ndjson")
        let lines = (0..<20_000).map { "{\"type\":\"visit\",\"client\":\"c\($0 % 300)\",\"at\":\"2025-01-\(String(format: "%02d", $0 % 28 + 1))\",\"services\":[\"s\($0)\"]}" }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: file))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        let patron = productsDirectory.appendingPathComponent("patron").path
        p.arguments = ["-c", "'\(patron)' import <(cat '\(file)') --format ndjson --db '\(dir.path("db"))'"]
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(try Database(path: dir.path("db"), readOnly: true).lastPosition == 20_000)
    }

    @Test func theFirstTwentyProblemsThenACount() throws {
        let rows = (1...25).map { "feedback,b,2025-02-01,,\($0 + 5)" }.joined(separator: "\n")
        let (_, db) = try Self.seeded()
        let dir = TempDir()
        let path = dir.path("many.csv")
        try Data((Self.head + rows + "\n").utf8).write(to: URL(fileURLWithPath: path))
        do { try db.importFile(path); Issue.record("accepted") } catch let f as ImportFailure {
            #expect(f.errors.count == 20 && f.total == 25)
            #expect(f.description.contains("… and 5 more invalid rows"))
            #expect(f.description.hasSuffix("\(path): 25 invalid rows; nothing of this file was imported (--skip-invalid imports the valid rows)"))
        }
    }

    @Test func skipInvalidWritesTheRejectedRowsAndTheFixedFileCompletesTheData() throws {
        let dir = TempDir()
        let text = Self.head + """
            purchase,b,2025-02-01,10,
            purchase,"c,2025-02-01,20,
            feedback,b,2025-02-02,,9
            purchase,d,2025-02-03,30,
            """ + "\n"
        let path = dir.path("in.csv")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        let db = try Database(path: dir.path("db"))
        var options = ImportOptions()
        options.skipInvalid = true
        options.batchSize = 1
        let report = try db.importFile(path, options: options)
        // The unterminated quote costs its own line only: reading goes on at the next.
        #expect(report.appended == 2 && report.rejected == 2)
        let rejected = try String(contentsOfFile: path + ".rejected", encoding: .utf8)
        #expect(rejected == "type,client,at,amount,score,rejected_reason\n"
            + "purchase,\"c,2025-02-01,20,,\"\(path):3:10: unterminated quoted field (the quote opened here is never closed; reading goes on at the next line)\"\n"
            + "feedback,b,2025-02-02,,9,\"\(path):4:24: score \"\"9\"\": must be an integer from 1 to 5\"\n")

        // A file whose bad rows are fixed in FILE.rejected imports as it is.
        let bad = Self.head + "purchase,b,2025-02-01,10,\nfeedback,b,2025-02-02,,9\npurchase,d,2025-02-03,30,\n"
        let second = dir.path("second.csv")
        try Data(bad.utf8).write(to: URL(fileURLWithPath: second))
        let db2 = try Database(path: dir.path("db2"))
        #expect(try db2.importFile(second, options: options).rejected == 1)
        let r = try String(contentsOfFile: second + ".rejected", encoding: .utf8)
        #expect(r == "type,client,at,amount,score,rejected_reason\nfeedback,b,2025-02-02,,9,\"\(second):3:24: score \"\"9\"\": must be an integer from 1 to 5\"\n")
        try Data(r.replacingOccurrences(of: ",,9,", with: ",,4,").utf8).write(to: URL(fileURLWithPath: second + ".rejected"))
        let fixedReport = try db2.importFile(second + ".rejected", options: ImportOptions())
        #expect(fixedReport.appended == 1)
        #expect(try db2.client("b", today: day("2025-03-01"))?.satisfaction == 4)
        #expect(try db2.lastPosition == 3)
        // Importing the original file again adds nothing: the fixed row is a new fact, the others are stored.
        #expect(try db2.importFile(second, options: options).appended == 0)
    }

    @Test func aRejectedFileRejectedAgainKeepsOneReasonColumn() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("db"))
        let first = dir.path("a.csv")
        try Data((Self.head + "feedback,b,2025-02-02,,9\npurchase,b,2025-02-01,10,\n").utf8).write(to: URL(fileURLWithPath: first))
        var options = ImportOptions()
        options.skipInvalid = true
        #expect(try db.importFile(first, options: options).rejected == 1)
        // Still wrong after a first fix: rejected again, with its new reason in place of the old one.
        let second = dir.path("b.csv")
        let once = try String(contentsOfFile: first + ".rejected", encoding: .utf8)
        try Data(once.replacingOccurrences(of: ",,9,", with: ",,8,").utf8).write(to: URL(fileURLWithPath: second))
        #expect(try db.importFile(second, options: options).rejected == 1)
        let twice = try String(contentsOfFile: second + ".rejected", encoding: .utf8)
        #expect(twice == "type,client,at,amount,score,rejected_reason\nfeedback,b,2025-02-02,,8,\"\(second):2:24: score \"\"8\"\": must be an integer from 1 to 5\"\n")
        try Data(twice.replacingOccurrences(of: ",,8,", with: ",,5,").utf8).write(to: URL(fileURLWithPath: second + ".rejected"))
        #expect(try db.importFile(second + ".rejected").appended == 1)
        #expect(try db.client("b", today: day("2025-03-01"))?.satisfaction == 5)
    }

    @Test func ndjsonRejectedRowsCarryTheReason() throws {
        let dir = TempDir()
        let path = dir.path("in.ndjson")
        try Data("{\"type\":\"visit\",\"client\":\"a\",\"at\":\"2025-01-01\"}\n{\"type\":\"visit\",\"client\":\"a\"}\nnot json\n".utf8)
            .write(to: URL(fileURLWithPath: path))
        let db = try Database(path: dir.path("db"))
        var options = ImportOptions()
        options.skipInvalid = true
        #expect(try db.importFile(path, options: options).rejected == 2)
        let lines = try String(contentsOfFile: path + ".rejected", encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines == [
            "{\"rejected_reason\":\"\(path):2: at: is missing\",\"type\":\"visit\",\"client\":\"a\"}",
            "{\"rejected_reason\":\"\(path):3:1: malformed JSON: expected null\",\"rejected_line\":\"not json\"}",
        ])
    }

    /// --skip-invalid commits batch by batch: an input error half-way (a truncated .gz)
    /// leaves the batches before it stored, and the message says which, not "nothing".
    @Test func anErrorAfterCommittedBatchesSaysWhatWasStored() throws {
        let dir = TempDir()
        var text = Self.head
        for i in 0..<6000 { text += "purchase,c\(i),2025-02-01,\(i % 90 + 1),\n" }
        text += "feedback,c1,2025-02-01,,9\n"
        for i in 0..<6000 { text += "purchase,d\(i),2025-02-01,\(i % 90 + 1),\n" }
        let plain = dir.path("cut.csv")
        try Data(text.utf8).write(to: URL(fileURLWithPath: plain))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-k", plain]
        try p.run()
        p.waitUntilExit()
        let gz = try Data(contentsOf: URL(fileURLWithPath: plain + ".gz"))
        let path = dir.path("cut.csv.gz")
        try gz.prefix(gz.count * 3 / 4).write(to: URL(fileURLWithPath: path))
        let db = dir.path("db")
        let r = try runProduct("patron", ["import", path, "--skip-invalid", "--batch-size", "1000", "--db", db])
        #expect(r.status == 1)
        let stored = try Database(path: db, readOnly: true).lastPosition
        #expect(stored > 0 && stored % 1000 == 0)
        #expect(!r.err.contains("nothing of this file was imported"), "\(r.err)")
        #expect(r.err.contains("\(path): the gzip data is truncated"), "\(r.err)")
        #expect(r.err.contains("\(stored) events stored"), "\(r.err)")
        #expect(r.err.contains("up to line \(stored + 2)"), "\(r.err)")
        // The library says the same, with the counts.
        let db2 = try Database(path: dir.path("db2"))
        var options = ImportOptions()
        options.skipInvalid = true
        options.batchSize = 1000
        do {
            try db2.importFile(path, options: options)
            Issue.record("imported a truncated file")
        } catch let e as ImportInterrupted {
            let n = e.report.appended
            #expect(n > 0 && n % 1000 == 0 && e.report.duplicates == 0 && e.report.rejected == 1)
            #expect(try db2.lastPosition == UInt64(n))
            // Header on line 1, the invalid row after the 6,000th: line n + 2 ends batch n / 1000.
            #expect(e.lastStoredLine == n + 2)
            #expect(e.description == """
                \(path): the gzip data is truncated (the file ends inside the compressed stream)
                \(path): stopped by the error above after storing the valid rows up to line \(n + 2) (the last whole batch): \
                \(n) events stored, 0 duplicates skipped, 1 invalid row written to \(path).rejected; the rows after line \(n + 2) \
                were not imported (import the file again once it is whole: what is stored is skipped as duplicates)
                """)
            #expect(try String(contentsOfFile: path + ".rejected", encoding: .utf8).contains("feedback,c1,2025-02-01,,9,"))
        }
        // Nothing committed yet (the first batch is bigger than what can be read): nothing stored, and it says so.
        options.batchSize = 100_000
        let db3 = try Database(path: dir.path("db3"))
        #expect(throws: ImportError.self) { try db3.importFile(path, options: options) }
        #expect(try db3.lastPosition == 0)
    }

    /// A stray quote followed by more than the 1 MiB record limit: with --skip-invalid only
    /// its line is rejected (named file:line:column) and every row after it is imported.
    @Test func anUnterminatedQuotePastTheLimitLosesOnlyItsLine() throws {
        for gz in [false, true] {
            let dir = TempDir()
            var text = Self.head + "purchase,a,2025-02-01,10,\npurchase,\"b,2025-02-01,20,\n"
            for i in 0..<80_000 { text += "purchase,c\(i),2025-02-02,5,\n" }
            #expect(text.utf8.count > 2 * Limits.line)
            let plain = dir.path("stray.csv")
            try Data(text.utf8).write(to: URL(fileURLWithPath: plain))
            var path = plain
            if gz {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/bin/gzip")
                p.arguments = ["-k", plain]
                try p.run()
                p.waitUntilExit()
                path = plain + ".gz"
            }
            let db = try Database(path: dir.path("db"))
            var options = ImportOptions()
            options.skipInvalid = true
            let report = try db.importFile(path, options: options)
            #expect(report.appended == 80_001 && report.rejected == 1, "gzip \(gz)")
            let rejected = try String(contentsOfFile: path + ".rejected", encoding: .utf8)
            #expect(rejected == "type,client,at,amount,score,rejected_reason\npurchase,\"b,2025-02-01,20,,\"\(path):3:10: "
                + "unterminated quoted field (the quote opened here is never closed; reading goes on at the next line)\"\n")
        }
    }

    /// A value is quoted as the file writes it, not as Patron would write it back.
    @Test func messagesQuoteTheValueAsWritten() throws {
        #expect(try Self.rejected("x.csv", Self.head + "refund,b,2025-02-01,-$1,\nrefund,b,2025-02-01, -1.5 ,\nfeedback,b,2025-02-01,,+9\nfeedback,b,2025-02-01,,09\n") == [
            "x.csv:2:21: amount \"-$1\": must not be negative",
            "x.csv:3:21: amount \" -1.5 \": must not be negative",
            "x.csv:4:24: score \"+9\": must be an integer from 1 to 5",
            "x.csv:5:24: score \"09\": must be an integer from 1 to 5",
        ])
        let lines = [
            "{\"type\":\"refund\",\"client\":\"b\",\"at\":\"2025-02-01\",\"amount\":-1.50}",
            "{\"type\":\"purchase\",\"client\":\"b\",\"at\":\"2025-02-01\",\"amount\":\"$20,000,000,000,000\"}",
            "{\"type\":\"membership\",\"client\":\"b\",\"at\":\"2025-02-01\",\"action\":\"start\",\"fee\":\"-$9\"}",
            "{\"type\":\"reward\",\"client\":\"b\",\"at\":\"2025-02-01\",\"points\":\"+2000000000000\"}",
            "{\"type\":\"purchase\",\"client\":\"b\",\"at\":\"2025-02-01\",\"items\":[{\"amount\":\"1\",\"quantity\":\"-02\"}]}",
        ]
        #expect(try Self.rejected("x.ndjson", lines.joined(separator: "\n") + "\n") == [
            "x.ndjson:1:49: amount \"-1.50\": must not be negative",
            "x.ndjson:2:51: amount \"$20,000,000,000,000\": is too large",
            "x.ndjson:3:70: fee \"-$9\": must not be negative",
            "x.ndjson:4:49: points \"+2000000000000\": is too large",
            "x.ndjson:5:51: items[0].quantity \"-02\": must be a whole number from 0 to 1000000",
        ])
    }

    /// A fixed row of FILE.rejected with the content of an event already stored is a
    /// duplicate; it is not skipped silently: the message names the row and what to do.
    @Test func aFixedRowEqualToAStoredEventIsNamed() throws {
        let dir = TempDir()
        let db = dir.path("db")
        let path = dir.path("twins.csv")
        // Two identical purchases rung up separately; the second has a typo.
        try Data((Self.head + "purchase,b,2025-02-01,10,\npurchase,b,2025-02-01,10.001,\n").utf8).write(to: URL(fileURLWithPath: path))
        let first = try runProduct("patron", ["import", path, "--skip-invalid", "--db", db])
        #expect(first.status == 0, "\(first.err)")
        let once = try String(contentsOfFile: path + ".rejected", encoding: .utf8)
        try Data(once.replacingOccurrences(of: ",10.001,", with: ",10,").utf8).write(to: URL(fileURLWithPath: path + ".rejected"))
        let fixed = try runProduct("patron", ["import", path + ".rejected", "--db", db])
        #expect(fixed.status == 0, "\(fixed.err)")
        #expect(fixed.err.contains("\(path).rejected:2: the same event is already stored"), "\(fixed.err)")

        // The library reports the row; the duplicate count has it too.
        let database = try Database(path: db)
        let report = try database.importFile(path + ".rejected")
        #expect(report.duplicates == 1 && report.fixedDuplicateCount == 1)
        let id = try #require(try database.stream("b").first?.event.id)
        #expect(report.fixedDuplicates.map(\.description) == [
            "\(path).rejected:2: the same event is already stored (id \(id)), so this row is skipped as a duplicate; "
                + "if it is another event (say a second identical purchase), give the row an id of its own and import it again",
        ])
        // Following the advice stores the second purchase, once however often it is imported.
        let withID = try String(contentsOfFile: path + ".rejected", encoding: .utf8)
            .replacingOccurrences(of: "type,client,", with: "id,type,client,").replacingOccurrences(of: "purchase,b,", with: "twin-2,purchase,b,")
        try Data(withID.utf8).write(to: URL(fileURLWithPath: path + ".rejected"))
        #expect(try database.importFile(path + ".rejected").appended == 1)
        #expect(try database.importFile(path + ".rejected").duplicates == 1)
        #expect(try database.client("b", today: day("2025-03-01"))?.spend == Money(dollars: 20))
        // Rows of an ordinary file that are already stored are duplicates without a word.
        let again = try database.importFile(path, options: { var o = ImportOptions(); o.skipInvalid = true; return o }())
        #expect(again.duplicates == 1 && again.fixedDuplicates.isEmpty)
        // In NDJSON a fixed row carries its rejected_reason key.
        let nd = dir.path("twins.ndjson")
        try Data("{\"type\":\"visit\",\"client\":\"n\",\"at\":\"2025-02-01\"}\n".utf8).write(to: URL(fileURLWithPath: nd))
        #expect(try database.importFile(nd).appended == 1)
        try Data(("{\"type\":\"visit\",\"client\":\"m\",\"at\":\"2025-02-01\"}\n"
            + "{\"rejected_reason\":\"twins.ndjson:2: at: is missing\",\"type\":\"visit\",\"client\":\"n\",\"at\":\"2025-02-01\"}\n").utf8)
            .write(to: URL(fileURLWithPath: nd + ".rejected"))
        #expect(try database.importFile(nd + ".rejected").fixedDuplicates.map(\.line) == [2])
    }
}
