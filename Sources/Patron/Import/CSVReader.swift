import Foundation

/// One CSV record (RFC 4180).
public struct CSVRecord: Sendable {
    /// The unescaped values, in order.
    public var fields: [String]
    /// The 1-based column (byte offset in its line + 1) where each field starts
    /// (at its opening quote for a quoted field). A byte-order mark is not counted.
    public var columns: [Int]
    /// The line on which each field starts (fields may follow a quoted newline).
    public var lines: [Int]
    /// The line where the record starts.
    public var line: Int
    /// The record's original bytes without the final line end (for `FILE.rejected`).
    public var raw: [UInt8]

    /// A record; see each property.
    public init(fields: [String], columns: [Int], lines: [Int], line: Int, raw: [UInt8]) {
        self.fields = fields
        self.columns = columns
        self.lines = lines
        self.line = line
        self.raw = raw
    }
}

/// A problem that spoils one record but not the rest of the file.
///
/// ```
/// clients.csv:12:7: invalid UTF-8 (byte 0xff)
/// ```
public struct CSVProblem: Error, Sendable, CustomStringConvertible {
    /// The line of the problem (for an over-long record, the line where it starts).
    public var line: Int
    /// The 1-based column (byte offset in the line + 1).
    public var column: Int
    /// What is wrong, lower-case, without the position.
    public var message: String
    /// The record's original bytes without its line end (for `FILE.rejected`); empty
    /// for a record over the size limit, which is not kept.
    public var raw: [UInt8]

    /// A problem; see each property.
    public init(line: Int, column: Int, message: String, raw: [UInt8]) {
        self.line = line
        self.column = column
        self.message = message
        self.raw = raw
    }

    /// `line:column: message`.
    public var description: String { "\(line):\(column): \(message)" }
}

/// Streaming RFC 4180 reader: quoted fields, "" inside quotes, embedded commas, quotes and
/// newlines, CRLF or LF, a UTF-8 BOM at the start (skipped), blank lines skipped.
///
/// Memory is bounded by `maxRecordBytes` whatever the size of the input.
///
/// Rules beyond RFC 4180, as Python's `csv` module reads them:
/// * a quote inside an unquoted field is kept literally (`ab"c` is `ab"c`);
/// * text after a quoted field's closing quote is kept literally (`"ab"c` is `abc`);
/// * a line with nothing but spaces and tabs is blank (skipped), like an empty one;
/// * a lone CR (not before LF) outside quotes is an ordinary byte;
/// * line ends inside quotes are kept as they are (CRLF stays CRLF);
/// * a quote never closed (found only at the end of the input) spoils just its record up
///   to the end of the line the quote opened on: that is reported, and reading goes on
///   at the next line (Python's `csv` reads the rest of the input into the quoted
///   field; DuckDB's `ignore_errors` drops it). Everything after the quote was scanned
///   inside quotes, so its quotes all come in `""` pairs and cannot leave another field
///   open: at most one such re-reading per input.
///
/// Every field gets its line and column, so a later check can point at the value.
public struct CSVReader {
    /// Replaced by a fresh reading of the same file when an unterminated quote sends the
    /// reader back to a line whose bytes are gone (see ``next()``).
    private var input: ImportInput
    /// Records longer than this (in bytes, without the line end) are reported and skipped.
    public let maxRecordBytes: Int
    let buffer: ChunkBuffer
    /// The line at `buffer.start` (a record's start).
    private var line = 1
    /// Where that line starts, as an offset in the input.
    private var lineStart = 0
    private var started = false
    private var finished = false
    /// Where the fields of the record being read are (reused, to save allocations).
    private var spans: [Span] = []
    /// The lists of the record returned last, kept to be filled again for the next
    /// one: a reader whose caller let go of that record reuses their storage instead of
    /// allocating four lists per record (a caller that kept it keeps them whole: the
    /// lists are copied on write).
    private var reused = CSVRecord(fields: [], columns: [], lines: [], line: 0, raw: [])
    private var scratch: [UInt8] = []

    private struct Span {
        /// Content bytes `bytes[from..<to]` (inside the quotes for a quoted field).
        var from: Int
        var to: Int
        var line: Int
        var column: Int
        /// The content needs unescaping: `""` inside, or text after the closing quote.
        var escaped: Bool
    }

    private enum State { case fieldStart, unquoted, quoted, afterQuote }

    /// A reader of `input`'s records; see `maxRecordBytes`.
    public init(_ input: ImportInput, maxRecordBytes: Int = 1 << 20) {
        self.init(input, maxRecordBytes: maxRecordBytes, chunk: ImportInput.defaultRawCapacity)
    }

    /// A reader reading `chunk` bytes at a time (tests use tiny ones).
    init(_ input: ImportInput, maxRecordBytes: Int, chunk: Int) {
        self.input = input
        self.maxRecordBytes = maxRecordBytes
        buffer = ChunkBuffer(chunk: chunk)
    }

    /// The next record, or nil at the end. Throws CSVProblem for a record that cannot be read
    /// (invalid UTF-8 — column of the first bad byte; a record over maxRecordBytes; an
    /// unterminated quote — line/column of the opening quote, found at the end of the input,
    /// the record taken to end with that line); after a CSVProblem the reader is positioned
    /// at the next record (for an unterminated quote, the line after the quote's), so the
    /// caller can go on. Throws ImportError for I/O or gzip errors (those end the file),
    /// and for an unterminated quote past maxRecordBytes in an input that cannot be read
    /// twice (a pipe; the import reads a copy of those).
    public mutating func next() throws -> CSVRecord? {
        if finished { return nil }
        if !started {
            started = true
            if try buffer.skipByteOrderMark(from: input) { lineStart = 3 }
        }
        guard try skipBlankLines() else {
            finished = true
            return nil
        }
        return try readRecord()
    }

    private static let lf: UInt8 = 0x0a, cr: UInt8 = 0x0d, quote: UInt8 = 0x22, comma: UInt8 = 0x2c

    /// Moves to the next line.
    private mutating func startLine(at index: Int) {
        buffer.start = index
        line += 1
        lineStart = buffer.base + index
    }

    /// Skips empty and whitespace-only lines; false at the end of the input.
    private mutating func skipBlankLines() throws -> Bool {
        let b = buffer
        while true {
            var p = b.start
            while p < b.end && (b.bytes[p] == 0x20 || b.bytes[p] == 0x09) { p += 1 }
            if p - b.start > maxRecordBytes { return true }  // let the record reader report it
            if p < b.end {
                let c = b.bytes[p]
                if c == Self.lf {
                    startLine(at: p + 1)
                    continue
                }
                if c == Self.cr {
                    if p + 1 < b.end {
                        if b.bytes[p + 1] != Self.lf { return true }
                        startLine(at: p + 2)
                        continue
                    }
                    if b.eof {
                        startLine(at: p + 1)
                        continue
                    }
                } else {
                    return true
                }
            } else if b.eof {
                b.discard()
                return false
            }
            _ = b.compact()
            try b.fill(from: input)
        }
    }

    private static func limitText(_ n: Int) -> String {
        if n >= 1 << 20 && n % (1 << 20) == 0 { return "\(n) (\(n >> 20) MiB)" }
        if n >= 1 << 10 && n % (1 << 10) == 0 { return "\(n) (\(n >> 10) KiB)" }
        return "\(n)"
    }

    /// Reads the record at `buffer.start` (not a blank line, not the end).
    private mutating func readRecord() throws -> CSVRecord {
        let b = buffer
        let recordLine = line
        var curLine = line, curLineStart = lineStart
        var state = State.fieldStart
        var p = b.start
        var fieldFrom = 0, fieldLine = 0, fieldColumn = 0, escaped = false
        var skipping = false, skipped = 0, skippedEndsWithCR = false
        var rawEnd = 0, next = 0
        var spans = self.spans
        self.spans = []
        spans.removeAll(keepingCapacity: true)
        defer { self.spans = spans }

        read: while true {
            let bytes = b.bytes, end = b.end
            var done = false
            machine: while p < end {
                switch state {
                case .fieldStart:
                    fieldLine = curLine
                    fieldColumn = b.base + p - curLineStart + 1
                    escaped = false
                    if bytes[p] == Self.quote {
                        state = .quoted
                        p += 1
                    } else {
                        state = .unquoted
                    }
                    fieldFrom = p
                case .unquoted:
                    var q = p
                    while q < end {
                        let c = bytes[q]
                        if c == Self.comma || c == Self.lf { break }
                        q += 1
                    }
                    if q == end {
                        p = end
                        break machine
                    }
                    if bytes[q] == Self.comma {
                        if !skipping { spans.append(Span(from: fieldFrom, to: q, line: fieldLine, column: fieldColumn, escaped: escaped)) }
                        state = .fieldStart
                        p = q + 1
                    } else {
                        let crBefore = q > b.start ? bytes[q - 1] == Self.cr : (skipping && skippedEndsWithCR)
                        rawEnd = crBefore ? q - 1 : q
                        if !skipping {
                            spans.append(Span(from: fieldFrom, to: max(fieldFrom, rawEnd), line: fieldLine, column: fieldColumn, escaped: escaped))
                        }
                        next = q + 1
                        done = true
                        break machine
                    }
                case .quoted:
                    var q = p
                    while q < end {
                        let c = bytes[q]
                        if c == Self.quote { break }
                        if c == Self.lf {
                            curLine += 1
                            curLineStart = b.base + q + 1
                        }
                        q += 1
                    }
                    if q == end {
                        p = end
                        break machine
                    }
                    state = .afterQuote
                    p = q + 1
                case .afterQuote:
                    let c = bytes[p]
                    if c == Self.quote {
                        escaped = true
                        state = .quoted
                        p += 1
                    } else if c == Self.comma {
                        if !skipping { spans.append(Span(from: fieldFrom, to: p - 1, line: fieldLine, column: fieldColumn, escaped: escaped)) }
                        state = .fieldStart
                        p += 1
                    } else if c == Self.lf || c == Self.cr {
                        var lineEnd = c == Self.lf
                        if c == Self.cr {
                            if p + 1 < end {
                                lineEnd = bytes[p + 1] == Self.lf
                            } else if !b.eof {
                                break machine  // is it CRLF? read on to see
                            } else {
                                lineEnd = true
                            }
                        }
                        if lineEnd {
                            if !skipping { spans.append(Span(from: fieldFrom, to: p - 1, line: fieldLine, column: fieldColumn, escaped: escaped)) }
                            rawEnd = p
                            next = c == Self.lf ? p + 1 : min(p + 2, end)
                            done = true
                            break machine
                        }
                        escaped = true  // a lone CR after the closing quote: kept, like other text
                        state = .unquoted
                    } else {
                        escaped = true  // text after the closing quote: kept literally
                        state = .unquoted
                    }
                }
            }
            if done { break read }
            if b.eof {
                // The input ends inside the record: it ends here.
                switch state {
                case .fieldStart:
                    if !skipping { spans.append(Span(from: p, to: p, line: curLine, column: b.base + p - curLineStart + 1, escaped: false)) }
                    rawEnd = p
                case .unquoted:
                    let crAtEnd = end > b.start ? bytes[end - 1] == Self.cr : (skipping && skippedEndsWithCR)
                    rawEnd = crAtEnd ? end - 1 : end
                    if !skipping { spans.append(Span(from: fieldFrom, to: max(fieldFrom, rawEnd), line: fieldLine, column: fieldColumn, escaped: escaped)) }
                case .afterQuote:
                    if !skipping { spans.append(Span(from: fieldFrom, to: p - 1, line: fieldLine, column: fieldColumn, escaped: escaped)) }
                    rawEnd = end
                case .quoted:
                    // `lineStart` is still where the record starts; `b.base + fieldFrom` stays
                    // the offset after the quote however the buffer moved.
                    throw try unterminated(recordOffset: lineStart, quoteOffset: b.base + fieldFrom - 1,
                                           quoteLine: fieldLine, column: fieldColumn)
                }
                next = end
                break read
            }
            // Read on: the record goes on past the bytes at hand.
            if !skipping && end - b.start > maxRecordBytes + 1 { skipping = true }
            if skipping {
                skipped += p - b.start
                if p > b.start { skippedEndsWithCR = bytes[p - 1] == Self.cr }
                b.start = p
                spans.removeAll(keepingCapacity: true)
            }
            let shift = b.compact()
            p -= shift
            fieldFrom -= shift
            if shift != 0 {
                for i in spans.indices {
                    spans[i].from -= shift
                    spans[i].to -= shift
                }
            }
            try b.fill(from: input)
        }

        let bytes = b.bytes
        let recordStart = b.start
        let length = skipped + rawEnd - recordStart
        // The next record starts on the next line.
        b.start = next
        line = curLine + 1
        lineStart = b.base + next

        if skipping || length > maxRecordBytes {
            throw CSVProblem(line: recordLine, column: 1,
                             message: "the record is \(length) bytes, over the limit of \(Self.limitText(maxRecordBytes))", raw: [])
        }
        let raw = UnsafeBufferPointer(start: bytes + recordStart, count: length)
        if let bad = firstInvalidUTF8(raw) {
            var badLine = recordLine, badLineStart = 0
            for i in 0..<bad where raw[i] == Self.lf {
                badLine += 1
                badLineStart = i + 1
            }
            let hex = String(raw[bad], radix: 16)
            throw CSVProblem(line: badLine, column: bad - badLineStart + 1,
                             message: "invalid UTF-8 (byte 0x\(hex.count == 1 ? "0" : "")\(hex))", raw: Array(raw))
        }

        // Taken out of `reused` first, so that each list is referenced once if the
        // caller let go of the last record, and emptied in place.
        var record = CSVRecord(fields: [], columns: [], lines: [], line: recordLine, raw: [])
        swap(&record, &reused)
        record.line = recordLine
        record.fields.removeAll(keepingCapacity: true)
        record.columns.removeAll(keepingCapacity: true)
        record.lines.removeAll(keepingCapacity: true)
        record.raw.removeAll(keepingCapacity: true)
        record.fields.reserveCapacity(spans.count)
        record.columns.reserveCapacity(spans.count)
        record.lines.reserveCapacity(spans.count)
        for s in spans {
            let content = UnsafeBufferPointer(start: bytes + s.from, count: s.to - s.from)
            record.fields.append(s.escaped ? unescape(content) : String(decoding: content, as: UTF8.self))
            record.columns.append(s.column)
            record.lines.append(s.line)
        }
        record.raw.append(contentsOf: raw)
        reused = record
        return record
    }

    /// The input ended inside the quoted field whose quote is at `quoteOffset` (in the
    /// input; `quoteLine`:`column`). The record, from `recordOffset`, is taken to end with
    /// that line: its bytes (without the line end; none when over the limit) go with the
    /// problem, and reading goes on at the next line. Found here rather than tracked in
    /// the record loop, which stays as fast as without it; when the record ran past the
    /// limit (its bytes dropped) the input is read again from the record's start.
    @inline(never)  // rare: kept out of the record loop
    private mutating func unterminated(recordOffset: Int, quoteOffset: Int, quoteLine: Int, column: Int) throws -> CSVProblem {
        let b = buffer
        if recordOffset < b.base {
            guard let again = try input.reopened() else {
                throw ImportError(file: input.name, line: quoteLine, column: column,
                                  message: "unterminated quoted field (the quote opened here is never closed); its record passed the limit "
                                      + "of \(maxRecordBytes) bytes, and the input cannot be read again to go on at the next line")
            }
            input = again
            b.reset()
            try b.advance(to: recordOffset, from: input)
        } else {
            b.start = recordOffset - b.base
        }
        // The line end after the quote, keeping the bytes from the record's start while
        // they are within the limit.
        var scan = quoteOffset + 1
        var lineFeed: Int?
        var kept = true
        while true {
            if scan - b.base < b.end, let found = memchr(b.bytes + (scan - b.base), Int32(Self.lf), b.end - (scan - b.base)) {
                lineFeed = b.base + (UnsafeRawPointer(found) - UnsafeRawPointer(b.bytes))
                break
            }
            scan = b.base + b.end
            if b.eof { break }
            if kept && scan - recordOffset > maxRecordBytes + 1 { kept = false }
            if !kept { b.discard() }
            _ = b.compact()
            try b.fill(from: input)
        }
        var raw: [UInt8] = []
        let lineEnd = lineFeed ?? (b.base + b.end)
        if kept {
            let from = recordOffset - b.base
            var to = lineEnd - b.base
            if lineFeed != nil && to > from && b.bytes[to - 1] == Self.cr { to -= 1 }
            if to - from <= maxRecordBytes { raw = Array(UnsafeBufferPointer(start: b.bytes + from, count: to - from)) }
        }
        if let lineFeed {
            b.start = lineFeed + 1 - b.base
            line = quoteLine + 1
            lineStart = lineFeed + 1
        } else {
            b.discard()
            finished = true
        }
        return CSVProblem(line: quoteLine, column: column,
                          message: "unterminated quoted field (the quote opened here is never closed; reading goes on at the next line)",
                          raw: raw)
    }

    /// The value of a quoted field with `""` or text after its closing quote; `content`
    /// starts after the opening quote.
    private mutating func unescape(_ content: UnsafeBufferPointer<UInt8>) -> String {
        scratch.removeAll(keepingCapacity: true)
        var inQuotes = true
        var i = 0
        while i < content.count {
            let c = content[i]
            if inQuotes && c == Self.quote {
                if i + 1 < content.count && content[i + 1] == Self.quote {
                    scratch.append(Self.quote)
                    i += 2
                } else {
                    inQuotes = false
                    i += 1
                }
                continue
            }
            scratch.append(c)
            i += 1
        }
        return String(decoding: scratch, as: UTF8.self)
    }
}

/// The offset of the first byte that does not belong to valid UTF-8 (the first byte
/// of a bad or cut-short sequence), or nil when all of `bytes` is valid.
func firstInvalidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
    guard let p = bytes.baseAddress else { return nil }
    let n = bytes.count
    var i = 0
    while i < n {
        if i + 8 <= n && UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
            i += 8
            continue
        }
        let c = p[i]
        if c < 0x80 {
            i += 1
            continue
        }
        var need = 0
        var low: UInt8 = 0x80, high: UInt8 = 0xbf
        switch c {
        case 0xc2...0xdf: need = 1
        case 0xe0: need = 2; low = 0xa0
        case 0xe1...0xec, 0xee, 0xef: need = 2
        case 0xed: need = 2; high = 0x9f
        case 0xf0: need = 3; low = 0x90
        case 0xf1...0xf3: need = 3
        case 0xf4: need = 3; high = 0x8f
        default: return i
        }
        guard i + need < n, p[i + 1] >= low, p[i + 1] <= high else { return i }
        if need >= 2 {
            for k in 2...need where p[i + k] & 0xc0 != 0x80 { return i }
        }
        i += need + 1
    }
    return nil
}
