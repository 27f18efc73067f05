import Foundation
import Testing
@testable import Patron

/// What a CSV reader gave for one record: the record, or the problem it reported.
enum CSVItem {
    case record(CSVRecord)
    case problem(CSVProblem)

    var fields: [String]? {
        if case .record(let r) = self { return r.fields }
        return nil
    }
    var problem: CSVProblem? {
        if case .problem(let p) = self { return p }
        return nil
    }
}

/// Chunk sizes that put buffer boundaries everywhere, and the real one.
let csvChunkSizes = [1, 2, 3, 5, 7, 16, 64, ImportInput.defaultRawCapacity]

@Suite struct CSVTests {
    func write(_ dir: TempDir, _ name: String, _ bytes: [UInt8]) throws -> String {
        let path = dir.path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Every record and problem of a file, reading `chunk` bytes at a time.
    func readAll(_ path: String, maxRecordBytes: Int = 1 << 20, chunk: Int = ImportInput.defaultRawCapacity,
                 rawCapacity: Int = ImportInput.defaultRawCapacity) throws -> [CSVItem] {
        let input = try ImportInput.open(path, rawCapacity: rawCapacity)
        var reader = CSVReader(input, maxRecordBytes: maxRecordBytes, chunk: chunk)
        var items: [CSVItem] = []
        while true {
            do {
                guard let record = try reader.next() else { break }
                items.append(.record(record))
            } catch let problem as CSVProblem {
                items.append(.problem(problem))
            }
            if items.count > 10_000 { Issue.record("the reader does not stop"); break }
        }
        return items
    }

    /// Reads `text` with every chunk size; checks they all agree and returns the items.
    func readEvery(_ bytes: [UInt8], maxRecordBytes: Int = 1 << 20) throws -> [CSVItem] {
        let dir = TempDir()
        let path = try write(dir, "t.csv", bytes)
        let reference = try readAll(path, maxRecordBytes: maxRecordBytes)
        for chunk in csvChunkSizes {
            let items = try readAll(path, maxRecordBytes: maxRecordBytes, chunk: chunk, rawCapacity: max(chunk, 2))
            #expect(items.count == reference.count, "chunk \(chunk)")
            for (a, b) in zip(items, reference) {
                switch (a, b) {
                case (.record(let x), .record(let y)):
                    #expect(x.fields == y.fields && x.columns == y.columns && x.lines == y.lines && x.line == y.line
                                && x.raw == y.raw, "chunk \(chunk)")
                case (.problem(let x), .problem(let y)):
                    #expect(x.line == y.line && x.column == y.column && x.message == y.message && x.raw == y.raw,
                            "chunk \(chunk)")
                default:
                    Issue.record("chunk \(chunk): \(a) vs \(b)")
                }
            }
        }
        return reference
    }

    func readEvery(_ text: String, maxRecordBytes: Int = 1 << 20) throws -> [CSVItem] {
        try readEvery(Array(text.utf8), maxRecordBytes: maxRecordBytes)
    }

    func records(_ items: [CSVItem]) -> [CSVRecord] {
        items.compactMap { if case .record(let r) = $0 { return r } else { return nil } }
    }

    // MARK: Records

    @Test func quotedFieldsWithEmbeddedCommaQuoteAndNewline() throws {
        let items = try readEvery("name,note\n\"Smith, J\",\"said \"\"hi\"\"\"\n\"multi\nline\",x\n")
        let r = records(items)
        #expect(r.count == 3)
        #expect(r.map(\.fields) == [["name", "note"], ["Smith, J", "said \"hi\""], ["multi\nline", "x"]])
        #expect(r.map(\.line) == [1, 2, 3])
        #expect(r[1].columns == [1, 12])
        #expect(r[1].lines == [2, 2])
        // `x` follows the quoted newline: line 4, after `line",`.
        #expect(r[2].lines == [3, 4])
        #expect(r[2].columns == [1, 7])
        #expect(r[2].raw == Array("\"multi\nline\",x".utf8))
    }

    @Test func recordsAfterAQuotedNewlineAreNumberedByLine() throws {
        let r = records(try readEvery("a,b\n\"1\n2\n3\",4\nnext,5\n"))
        #expect(r.map(\.line) == [1, 2, 5])
        #expect(r[2].fields == ["next", "5"])
    }

    @Test func lineEndsLFAndCRLFAndMixed() throws {
        let expected = [["a", "b"], ["1", "2"], ["3", "4"]]
        for text in ["a,b\n1,2\n3,4\n", "a,b\r\n1,2\r\n3,4\r\n", "a,b\r\n1,2\n3,4\r\n", "a,\"b\"\r\n\"1\",2\n3,\"4\"\r\n"] {
            let r = records(try readEvery(text))
            #expect(r.map(\.fields) == expected, "\(text.debugDescription)")
            #expect(r.map(\.line) == [1, 2, 3])
            #expect(r.allSatisfy { !$0.raw.contains(0x0d) })
        }
    }

    @Test func lineEndsInsideQuotesAreKept() throws {
        let r = records(try readEvery("\"a\r\nb\",c\r\n"))
        #expect(r.map(\.fields) == [["a\r\nb", "c"]])
        #expect(r[0].lines == [1, 2])
        #expect(r[0].columns == [1, 4])
    }

    @Test func aByteOrderMarkIsSkipped() throws {
        let r = records(try readEvery([0xef, 0xbb, 0xbf] + Array("client,at\nc1,2025-01-01\n".utf8)))
        #expect(r.map(\.fields) == [["client", "at"], ["c1", "2025-01-01"]])
        #expect(r[0].columns == [1, 8])
        #expect(r[0].raw == Array("client,at".utf8))
        // Only at the start.
        let later = records(try readEvery(Array("a\n".utf8) + [0xef, 0xbb, 0xbf] + Array("b\n".utf8)))
        #expect(later.map(\.fields) == [["a"], ["\u{feff}b"]])
    }

    @Test func blankLinesAreSkippedAndCounted() throws {
        let r = records(try readEvery("\n\na,b\n\n  \n\t\r\n1,2\r\n\r\n\n3,4\n\n"))
        #expect(r.map(\.fields) == [["a", "b"], ["1", "2"], ["3", "4"]])
        #expect(r.map(\.line) == [3, 7, 10])
    }

    @Test func emptyAndBlankFilesHaveNoRecords() throws {
        #expect(try readEvery("").isEmpty)
        #expect(try readEvery("\n\r\n  \n").isEmpty)
        #expect(try readEvery([0xef, 0xbb, 0xbf]).isEmpty)
    }

    @Test func theLastRecordNeedsNoLineEnd() throws {
        #expect(records(try readEvery("a,b\n1,2")).map(\.fields) == [["a", "b"], ["1", "2"]])
        #expect(records(try readEvery("a,b\n1,2\r")).map(\.fields) == [["a", "b"], ["1", "2"]])
        #expect(records(try readEvery("a,b\n1,\"2\"")).map(\.fields) == [["a", "b"], ["1", "2"]])
        #expect(records(try readEvery("a,b\n1,\"2\"\r")).map(\.fields) == [["a", "b"], ["1", "2"]])
        #expect(records(try readEvery("a,b\n1,")).map(\.fields) == [["a", "b"], ["1", ""]])
    }

    @Test func emptyFieldsAndMissingFields() throws {
        let r = records(try readEvery("a,,c\na,b,\na\n\"\"\n,\n\"\",\"\"\n"))
        #expect(r.map(\.fields) == [["a", "", "c"], ["a", "b", ""], ["a"], [""], ["", ""], ["", ""]])
        #expect(r[0].columns == [1, 3, 4])
        #expect(r[1].columns == [1, 3, 5])
        #expect(r[4].columns == [1, 2])
    }

    /// Python's csv module keeps these literally; so do we.
    @Test func aQuoteInsideAnUnquotedFieldIsKept() throws {
        let r = records(try readEvery("ab\"c,d\n5\" tall,x\n \"sp\",y\n\"ab\"c,d\n\"a\"\"b\"c\"d\",e\n"))
        #expect(r.map(\.fields) == [["ab\"c", "d"], ["5\" tall", "x"], [" \"sp\"", "y"], ["abc", "d"], ["a\"bc\"d\"", "e"]])
    }

    @Test func unicodeFields() throws {
        let r = records(try readEvery("name,city\nZoë,Zürich\n\"山田, 太郎\",東京\n"))
        #expect(r.map(\.fields) == [["name", "city"], ["Zoë", "Zürich"], ["山田, 太郎", "東京"]])
        #expect(r[1].columns == [1, 6])  // `Zoë` is 4 bytes
    }

    // MARK: Problems

    static let unterminated = "unterminated quoted field (the quote opened here is never closed; reading goes on at the next line)"

    /// A quote never closed is found only at the end of the input; the record is then taken
    /// to end with the line the quote opened on, and the lines after it are read again as records.
    @Test func anUnterminatedQuoteCostsItsLineAndReadingGoesOn() throws {
        let items = try readEvery("a,b\n1,\"open\n2,3\n4,5\n")
        #expect(items.count == 4)
        #expect(items[0].fields == ["a", "b"])
        let p = try #require(items[1].problem)
        #expect(p.line == 2)
        #expect(p.column == 3)
        #expect(p.message == Self.unterminated)
        #expect(p.raw == Array("1,\"open".utf8))
        #expect(p.description == "2:3: " + Self.unterminated)
        #expect(records(items).map(\.fields) == [["a", "b"], ["2", "3"], ["4", "5"]])
        #expect(records(items).map(\.line) == [1, 3, 4])
        // On the last line, after a quoted field with a line end, with CRLF.
        let more = try readEvery("h1,h2\r\n\"x\ny\",\"z\r\nlast,1\r\n")
        #expect(more.count == 3)
        let q = try #require(more[1].problem)
        #expect(q.line == 3 && q.column == 4 && q.raw == Array("\"x\ny\",\"z".utf8))
        #expect(more[2].fields == ["last", "1"])
        let end = try readEvery("a\n\"never closed")
        #expect(end.count == 2 && end[1].problem?.raw == Array("\"never closed".utf8))
    }

    /// Past the record limit the record's bytes are gone: the input is read again from
    /// where the quote's line ends (gzip included), in bounded memory.
    @Test func anUnterminatedQuoteOverTheLimitCostsOnlyItsLine() throws {
        let text = "a\n\"" + String(repeating: "x,\n", count: 20)
        let items = try readEvery(text, maxRecordBytes: 16)
        #expect(items.count == 21)
        let p = try #require(items[1].problem)
        #expect(p.line == 2 && p.column == 1)
        #expect(p.message == Self.unterminated)
        #expect(p.raw == Array("\"x,".utf8))
        #expect(records(items).dropFirst().allSatisfy { $0.fields == ["x", ""] })
        #expect(records(items).last?.line == 21)
        // The same from gzip.
        let dir = TempDir()
        let gz = try write(dir, "t.csv.gz", try gzip(dir, "t.csv", Array(text.utf8)))
        for chunk in [3, ImportInput.defaultRawCapacity] {
            let again = try readAll(gz, maxRecordBytes: 16, chunk: chunk, rawCapacity: max(chunk, 2))
            #expect(again.count == 21 && again[1].problem?.raw == Array("\"x,".utf8), "chunk \(chunk)")
        }
        // A quote line itself over the limit: reported without its bytes, the next lines read.
        let long = try readEvery("a\n\"" + String(repeating: "y", count: 40) + "\nok\n", maxRecordBytes: 16)
        #expect(long.count == 3 && long[1].problem?.message == Self.unterminated && long[1].problem?.raw == [])
        #expect(long[2].fields == ["ok"])
    }

    /// An input that cannot be read again (a pipe) ends with an error naming the quote.
    @Test func anUnterminatedQuoteInAPipeOverTheLimitEndsTheInput() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let text = Array(("a\n\"" + String(repeating: "x,\n", count: 20)).utf8)
        #expect(text.withUnsafeBytes { Foundation.write(fds[1], $0.baseAddress, $0.count) } == text.count)
        close(fds[1])
        let input = try ImportInput(fileDescriptor: fds[0], name: "pipe", ownsDescriptor: true)
        var reader = CSVReader(input, maxRecordBytes: 16, chunk: 8)
        #expect(try reader.next()?.fields == ["a"])
        do {
            _ = try reader.next()
            Issue.record("read on")
        } catch let e as ImportError {
            #expect(e.description == "pipe:2:1: unterminated quoted field (the quote opened here is never closed); its record passed "
                + "the limit of 16 bytes, and the input cannot be read again to go on at the next line")
        }
    }

    @Test func invalidUTF8NamesTheByteAndItsPositionAndReadingGoesOn() throws {
        let items = try readEvery(Array("a,b\nx,y".utf8) + [0xff] + Array("z\nok,1\n\"q\nr".utf8) + [0xe2, 0x82]
                                      + Array("\",s\nlast,2\n".utf8))
        #expect(items.count == 5)
        let p = try #require(items[1].problem)
        #expect(p.line == 2 && p.column == 4)
        #expect(p.message == "invalid UTF-8 (byte 0xff)")
        #expect(p.raw == Array("x,y".utf8) + [0xff] + Array("z".utf8))
        #expect(items[2].fields == ["ok", "1"])
        // A cut-short sequence on the second line of a quoted field: the lead byte's position.
        let q = try #require(items[3].problem)
        #expect(q.line == 5 && q.column == 2)
        #expect(q.message == "invalid UTF-8 (byte 0xe2)")
        #expect(items[4].fields == ["last", "2"])
    }

    @Test func utf8Validation() {
        func bad(_ bytes: [UInt8]) -> Int? { bytes.withUnsafeBufferPointer { firstInvalidUTF8($0) } }
        #expect(bad(Array("plain ascii text that is long enough".utf8)) == nil)
        #expect(bad(Array("é 山 😀 ü".utf8)) == nil)
        #expect(bad([0x41, 0x80]) == 1)             // stray continuation byte
        #expect(bad([0xc0, 0x80]) == 0)             // overlong
        #expect(bad([0xed, 0xa0, 0x80]) == 0)       // surrogate
        #expect(bad([0xf4, 0x90, 0x80, 0x80]) == 0) // over U+10FFFF
        #expect(bad(Array("abcdefgh".utf8) + [0xe2, 0x82]) == 8)  // cut short at the end
        #expect(bad(Array("abcdefghijklmnop".utf8) + [0xfe]) == 16)
    }

    @Test func aRecordOverTheLimitIsReportedAndSkipped() throws {
        let long = String(repeating: "x", count: 30)
        let items = try readEvery("short,1\n\(long)\nnext,2\n\"q\n\(long)\",3\n0123456789\r\nabc\n", maxRecordBytes: 10)
        #expect(items.count == 6)
        #expect(items[0].fields == ["short", "1"])
        let p = try #require(items[1].problem)
        #expect(p.line == 2 && p.column == 1)
        #expect(p.message == "the record is 30 bytes, over the limit of 10")
        #expect(p.raw.isEmpty)
        #expect(items[2].fields == ["next", "2"])
        let q = try #require(items[3].problem)
        #expect(q.line == 4)
        #expect(q.message == "the record is 36 bytes, over the limit of 10")
        #expect(items[4].fields == ["0123456789"])  // exactly the limit, with CRLF
        #expect(items[5].fields == ["abc"])
    }

    /// A huge record or line over the limit is read through, not kept: the buffer stays small.
    @Test func memoryStaysBoundedByTheLimit() throws {
        let dir = TempDir()
        let huge = String(repeating: "abcdefgh,", count: 400_000)  // 3.6 MB
        let path = try write(dir, "huge.csv", Array("a,b\n\(huge)\n\"\(huge)\"\nlast,1\n".utf8))
        var reader = CSVReader(try ImportInput.open(path), maxRecordBytes: 1000, chunk: 4096)
        #expect(try reader.next()?.fields == ["a", "b"])
        for _ in 0..<2 {
            #expect(throws: CSVProblem.self) { try reader.next() }
        }
        #expect(try reader.next()?.fields == ["last", "1"])
        #expect(reader.buffer.capacity <= 16 * 1024)
        var lines = LineReader(try ImportInput.open(path), maxLineBytes: 1000, chunk: 4096)
        var long: [Int] = []
        try lines.forEach({ _, _ in }, tooLong: { n, _ in long.append(n) })
        #expect(long == [2, 3])
        #expect(lines.buffer.capacity <= 16 * 1024)
    }

    @Test func theLimitMessageSaysMiB() throws {
        let items = try readEvery(String(repeating: "y", count: (1 << 20) + 1) + "\nok\n")
        #expect(items[0].problem?.message == "the record is 1048577 bytes, over the limit of 1048576 (1 MiB)")
        #expect(items[1].fields == ["ok"])
    }

    // MARK: Chunks

    /// Random records with every kind of field, encoded here and read back with
    /// buffer boundaries everywhere.
    @Test func randomRecordsStraddlingBufferBoundaries() throws {
        var rng = SeededRandom(seed: 42)
        let pieces = ["a", "bc", "", " ", ",", "\"", "\n", "\r\n", "é", "山", "x y", "\"\"", "1.5"]
        var text = "", expected: [[String]] = [], lines: [Int] = [], line = 1
        for _ in 0..<300 {
            var fields: [String] = []
            for _ in 0..<(1 + rng.next() % 5) {
                var f = ""
                for _ in 0..<(rng.next() % 4) { f += pieces[Int(rng.next() % UInt64(pieces.count))] }
                fields.append(f)
            }
            if fields == [""] || fields.allSatisfy({ $0.allSatisfy { $0 == " " } }) && fields.count == 1 { fields = ["z"] }
            let encoded = fields.map { f in
                f.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) || f.hasPrefix(" ")
                    ? "\"" + f.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : f
            }.joined(separator: ",")
            expected.append(fields)
            lines.append(line)
            text += encoded + (rng.next() % 2 == 0 ? "\n" : "\r\n")
            line += 1 + encoded.utf8.filter { $0 == 0x0a }.count
        }
        let r = records(try readEvery(text))
        #expect(r.count == expected.count)
        #expect(r.map(\.fields) == expected)
        #expect(r.map(\.line) == lines)
    }

    // MARK: Inputs

    func gzip(_ dir: TempDir, _ name: String, _ bytes: [UInt8]) throws -> [UInt8] {
        let plain = try write(dir, name, bytes)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-c", plain]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        return [UInt8](data)
    }

    @Test func gzipIsDetectedByItsMagicBytes() throws {
        let dir = TempDir()
        var text = "client,at,amount\n"
        for i in 0..<5000 { text += "c\(i),2025-01-\(10 + i % 20),\"\(i).50\"\n" }
        let gz = try gzip(dir, "plain.csv", Array(text.utf8))
        let path = try write(dir, "clients.txt", gz)  // no .gz extension
        for chunk in [7, ImportInput.defaultRawCapacity] {
            let input = try ImportInput.open(path, rawCapacity: chunk)
            #expect(input.isCompressed)
            #expect(input.totalBytes == gz.count)
            #expect(input.name == path)
            var reader = CSVReader(input, maxRecordBytes: 1 << 20, chunk: chunk)
            var n = 0
            while let r = try reader.next() {
                if n == 4999 { #expect(r.fields == ["c4998", "2025-01-28", "4998.50"]) }
                n += 1
            }
            #expect(n == 5001)
            #expect(input.bytesRead == gz.count)
        }
        let plain = try ImportInput.open(dir.path("plain.csv"))
        #expect(!plain.isCompressed)
        #expect(plain.totalBytes == text.utf8.count)
    }

    @Test func concatenatedGzipMembersReadAsOne() throws {
        let dir = TempDir()
        let a = try gzip(dir, "a.csv", Array("h1,h2\n1,2\n".utf8))
        let b = try gzip(dir, "b.csv", Array("3,4\n".utf8))
        let c = try gzip(dir, "c.csv", Array("5,\"6\n7\"\n".utf8))
        let path = try write(dir, "all.csv.gz", a + b + c)
        for chunk in [1, 3, ImportInput.defaultRawCapacity] {
            let r = records(try readAll(path, chunk: chunk, rawCapacity: chunk))
            #expect(r.map(\.fields) == [["h1", "h2"], ["1", "2"], ["3", "4"], ["5", "6\n7"]])
            #expect(r.map(\.line) == [1, 2, 3, 4])
        }
    }

    @Test func corruptOrTruncatedGzipIsAnImportError() throws {
        let dir = TempDir()
        var text = ""
        for i in 0..<2000 { text += "row \(i),\(i * 7919 % 1000)\n" }
        let gz = try gzip(dir, "x.csv", Array(text.utf8))
        var corrupt = gz
        for i in 20..<40 { corrupt[i] ^= 0x5a }
        let truncated = Array(gz[0..<(gz.count / 2)])
        for (name, bytes, expected) in [("corrupt.csv.gz", corrupt, "corrupt gzip data ("),
                                         ("truncated.csv.gz", truncated, "the gzip data is truncated (the file ends inside the compressed stream)"),
                                         ("magic.csv.gz", Array(gz[0..<2]), "the gzip data is truncated")] {
            let path = try write(dir, name, bytes)
            do {
                _ = try readAll(path)
                Issue.record("\(name) read without an error")
            } catch let error as ImportError {
                #expect(error.file == path)
                #expect(error.line == nil)
                #expect(error.message.hasPrefix(expected), "\(error)")
            }
        }
    }

    @Test func openErrorsNameTheFileAndTheReason() throws {
        let dir = TempDir()
        do {
            _ = try ImportInput.open(dir.path("missing.csv"))
            Issue.record("opened a missing file")
        } catch {
            #expect(error.file == dir.path("missing.csv"))
            #expect(error.message == "cannot open the file: no such file or directory")
        }
        do {
            _ = try ImportInput.open(dir.url.path)
            Issue.record("opened a directory")
        } catch {
            #expect(error.message == "is a directory, not a file")
            #expect(error.description == "\(dir.url.path): is a directory, not a file")
        }
    }

    /// stdin is a file descriptor like any other: read one from a pipe, in pieces.
    @Test func aPipeReadsLikeStdin() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        var text = "a,b\n"
        for i in 0..<20_000 { text += "\(i),\"v\(i)\"\n" }  // more than a pipe holds: written by a thread
        let bytes = Array(text.utf8)
        let writeEnd = fds[1]
        let writer = Thread {
            bytes.withUnsafeBytes { all in
                var off = 0
                while off < all.count {
                    let n = Foundation.write(writeEnd, all.baseAddress! + off, min(1000, all.count - off))
                    if n <= 0 { break }
                    off += n
                }
            }
            close(writeEnd)
        }
        writer.start()
        let input = try ImportInput(fileDescriptor: fds[0], name: "stdin", ownsDescriptor: true)
        #expect(input.name == "stdin")
        #expect(input.totalBytes == nil)
        #expect(!input.isCompressed)
        var reader = CSVReader(input)
        var n = 0
        while let r = try reader.next() {
            if n == 20_000 { #expect(r.fields == ["19999", "v19999"]) }
            n += 1
        }
        #expect(n == 20_001)
        #expect(input.bytesRead == bytes.count)
    }

    @Test func peekedBytesAreReadAgain() throws {
        let dir = TempDir()
        let path = try write(dir, "p.csv", Array("a,b\n1,2\n".utf8))
        let input = try ImportInput.open(path)
        let head = try input.peek(4096)
        #expect(head == Array("a,b\n1,2\n".utf8))
        #expect(try input.peek(2) == Array("a,".utf8))
        #expect(!ImportInput.looksBinary(head))
        var reader = CSVReader(input)
        #expect(try reader.next()?.fields == ["a", "b"])
        #expect(try reader.next()?.fields == ["1", "2"])
        #expect(try reader.next() == nil)
        #expect(try reader.next() == nil)
    }

    @Test func looksBinary() {
        #expect(!ImportInput.looksBinary(Array("client,at\nc1,2025-01-01\r\n\tx\u{1b}[0m\u{0c}".utf8)))
        #expect(!ImportInput.looksBinary(Array("Zoë,Zürich,山田\n".utf8)))
        #expect(!ImportInput.looksBinary([UInt8]()))
        #expect(ImportInput.looksBinary(Array("abc".utf8) + [0] + Array("def".utf8)))
        // A PNG header has control bytes galore.
        #expect(ImportInput.looksBinary([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x01, 0x02, 0x03, 0x04, 0x49, 0x48]))
        #expect(!ImportInput.looksBinary(Array(String(repeating: "text line\n", count: 50).utf8) + [0x01]))
    }

    // MARK: Lines

    func lines(_ bytes: [UInt8], max: Int, chunk: Int) throws -> [String] {
        let dir = TempDir()
        let path = try write(dir, "l.ndjson", bytes)
        var reader = LineReader(try ImportInput.open(path, rawCapacity: Swift.max(chunk, 2)), maxLineBytes: max, chunk: chunk)
        var out: [String] = []
        try reader.forEach({ line, n in
            out.append("\(n):" + String(decoding: line, as: UTF8.self))
        }, tooLong: { n, count in
            out.append("\(n):too long \(count)")
        })
        return out
    }

    @Test func lineReaderSplitsLFAndCRLFAndReportsLongLines() throws {
        let text = Array("{\"a\":1}\r\n\n0123456789\r\n01234567890\nshort\r\n\(String(repeating: "z", count: 40))\r\nend".utf8)
        let expected = ["1:{\"a\":1}", "2:", "3:0123456789", "4:too long 11", "5:short", "6:too long 40", "7:end"]
        for chunk in csvChunkSizes {
            #expect(try lines(text, max: 10, chunk: chunk) == expected, "chunk \(chunk)")
        }
        for chunk in [1, 4, 64] {
            #expect(try lines([0xef, 0xbb, 0xbf] + Array("a\r\nb\n".utf8), max: 10, chunk: chunk) == ["1:a", "2:b"])
            #expect(try lines(Array("x\n".utf8) + Array(repeating: 0x71, count: 25), max: 10, chunk: chunk)
                        == ["1:x", "2:too long 25"])
            #expect(try lines([], max: 10, chunk: chunk) == [])
        }
    }

    @Test func lineReaderReadsGzip() throws {
        let dir = TempDir()
        var text = ""
        for i in 1...1000 { text += "{\"n\":\(i)}\n" }
        let path = try write(dir, "e.ndjson.gz", try gzip(dir, "e.ndjson", Array(text.utf8)))
        var reader = LineReader(try ImportInput.open(path))
        var count = 0, last = ""
        try reader.forEach({ line, n in
            count += 1
            #expect(n == count)
            last = String(decoding: line, as: UTF8.self)
        }, tooLong: { _, _ in Issue.record("too long") })
        #expect(count == 1000 && last == "{\"n\":1000}")
    }
}
