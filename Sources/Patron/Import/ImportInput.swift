import CZlib
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The system calls under their own names, so they do not clash with the methods below.
private func systemOpen(_ path: String) -> Int32 {
    #if canImport(Glibc)
    Glibc.open(path, O_RDONLY | O_CLOEXEC)
    #else
    Darwin.open(path, O_RDONLY | O_CLOEXEC)
    #endif
}

private func systemRead(_ fd: Int32, _ into: UnsafeMutableRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.read(fd, into, count)
    #else
    Darwin.read(fd, into, count)
    #endif
}

private func systemClose(_ fd: Int32) {
    #if canImport(Glibc)
    _ = Glibc.close(fd)
    #else
    _ = Darwin.close(fd)
    #endif
}

/// The OS's reason for `code`, lower-cased at the start to read as part of a message.
private func reason(_ code: Int32) -> String {
    let text = String(cString: strerror(code))
    guard let first = text.first else { return "error \(code)" }
    return first.lowercased() + text.dropFirst()
}

/// Raw bytes of one import input, read in bounded chunks: a file, `-` for stdin,
/// gzip detected by its magic bytes (1f 8b) whatever the extension.
///
/// Memory stays bounded whatever the size of the input: one read-ahead buffer for
/// the raw bytes (256 KiB) and, for gzip, zlib's own 32 KiB window. Concatenated
/// gzip members (`cat a.gz b.gz`) read as one stream. Not `Sendable`: an input is
/// read on one thread.
public final class ImportInput {
    /// The path as given, or `stdin` for `-`.
    public let name: String
    /// Whether the bytes are gzip-compressed (they are decompressed as they are read).
    public let isCompressed: Bool
    /// The size on disk when the input is a regular file (the compressed size for
    /// gzip), else nil (a pipe, a terminal).
    public let totalBytes: Int?
    /// Raw bytes (on disk, so compressed for gzip) consumed so far, for progress:
    /// compare with `totalBytes`.
    public private(set) var bytesRead: Int = 0

    /// Raw read-ahead buffer size.
    static let defaultRawCapacity = 256 * 1024

    private let fd: Int32
    private let ownsDescriptor: Bool
    /// Raw bytes read from `fd` and not yet used: `raw[rawStart..<rawEnd]`.
    private let raw: UnsafeMutableRawBufferPointer
    private var rawStart = 0
    private var rawEnd = 0
    private var rawEOF = false
    /// The zlib state, for gzip (allocated, because zlib keeps a pointer back to it).
    private let stream: UnsafeMutablePointer<z_stream>?
    /// The last gzip member ended and no byte of a next one has been read yet.
    private var memberEnded = false
    /// Bytes already decoded by `peek` and not yet returned by `read`.
    private var peeked: [UInt8] = []
    private var peekedStart = 0

    /// Opens `path` for reading; `-` is the standard input.
    ///
    /// Throws an ImportError naming the file when it cannot be opened (with the OS's
    /// reason), is a directory, or starts a gzip stream zlib cannot begin to read.
    public static func open(_ path: String) throws(ImportError) -> ImportInput {
        try open(path, rawCapacity: defaultRawCapacity)
    }

    /// `open(_:)` with a chosen read-ahead size (tests use tiny ones).
    static func open(_ path: String, rawCapacity: Int) throws(ImportError) -> ImportInput {
        if path == "-" {
            return try ImportInput(fileDescriptor: 0, name: "stdin", ownsDescriptor: false, rawCapacity: rawCapacity)
        }
        let fd = systemOpen(path)
        if fd < 0 {
            throw ImportError(file: path, line: nil, column: nil, message: "cannot open the file: \(reason(errno))")
        }
        return try ImportInput(fileDescriptor: fd, name: path, ownsDescriptor: true, rawCapacity: rawCapacity)
    }

    /// An input reading an open file descriptor (closed with the input when
    /// `ownsDescriptor`, and on a throw). Used for stdin and, in tests, for pipes.
    convenience init(fileDescriptor fd: Int32, name: String, ownsDescriptor: Bool,
                     rawCapacity: Int = ImportInput.defaultRawCapacity) throws(ImportError) {
        func fail(_ message: String) -> ImportError {
            if ownsDescriptor { systemClose(fd) }
            return ImportError(file: name, line: nil, column: nil, message: message)
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw fail("cannot read the file: \(reason(errno))") }
        let kind = info.st_mode & S_IFMT
        if kind == S_IFDIR { throw fail("is a directory, not a file") }
        let total: Int? = kind == S_IFREG ? Int(info.st_size) : nil

        // Read ahead until the two magic bytes are known (or the input ends).
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: max(rawCapacity, 2), alignment: 8)
        var have = 0, eof = false
        while have < 2 {
            guard let base = raw.baseAddress else { break }
            let n = systemRead(fd, base + have, raw.count - have)
            if n < 0 {
                if errno == EINTR { continue }
                let message = "cannot read the file: \(reason(errno))"
                raw.deallocate()
                throw fail(message)
            }
            if n == 0 { eof = true; break }
            have += n
        }
        let gzip = have >= 2 && raw[0] == 0x1f && raw[1] == 0x8b
        var stream: UnsafeMutablePointer<z_stream>? = nil
        if gzip {
            let s = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            s.initialize(to: z_stream())
            s.pointee.next_in = raw.baseAddress?.assumingMemoryBound(to: UInt8.self)
            s.pointee.avail_in = UInt32(have)
            // 15 + 32: the largest window, and a gzip (or zlib) header detected automatically.
            let status = inflateInit2_(s, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
            if status != Z_OK {
                s.deinitialize(count: 1)
                s.deallocate()
                raw.deallocate()
                throw fail("cannot start reading the gzip data (zlib error \(status))")
            }
            stream = s
        }
        self.init(fd: fd, name: name, ownsDescriptor: ownsDescriptor, totalBytes: total, raw: raw,
                  rawEnd: have, rawEOF: eof, stream: stream)
    }

    private init(fd: Int32, name: String, ownsDescriptor: Bool, totalBytes: Int?, raw: UnsafeMutableRawBufferPointer,
                 rawEnd: Int, rawEOF: Bool, stream: UnsafeMutablePointer<z_stream>?) {
        self.fd = fd
        self.name = name
        self.ownsDescriptor = ownsDescriptor
        self.totalBytes = totalBytes
        self.raw = raw
        self.rawEnd = rawEnd
        self.rawEOF = rawEOF
        self.stream = stream
        self.isCompressed = stream != nil
    }

    deinit {
        if let stream {
            inflateEnd(stream)
            stream.deinitialize(count: 1)
            stream.deallocate()
        }
        raw.deallocate()
        if ownsDescriptor { systemClose(fd) }
    }

    /// A new input reading the same file from its start, or nil when it cannot be read
    /// again (stdin, a pipe).
    func reopened() throws(ImportError) -> ImportInput? {
        guard ownsDescriptor, totalBytes != nil, name != "stdin" else { return nil }
        return try ImportInput.open(name, rawCapacity: raw.count)
    }

    /// Fills `buffer` with up to `buffer.count` uncompressed bytes; returns 0 at the end.
    ///
    /// May return fewer bytes than asked for before the end (a pipe, a gzip block).
    /// Throws an ImportError for a read error or corrupt or truncated gzip data.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImportError) -> Int {
        guard let out = buffer.baseAddress, buffer.count > 0 else { return 0 }
        if peekedStart < peeked.count {
            let n = min(buffer.count, peeked.count - peekedStart)
            peeked.withUnsafeBytes { all in
                if let from = all.baseAddress { out.copyMemory(from: from + peekedStart, byteCount: n) }
            }
            peekedStart += n
            if peekedStart == peeked.count {
                peeked.removeAll()
                peekedStart = 0
            }
            return n
        }
        return try decode(into: out, count: buffer.count)
    }

    /// The next `n` bytes (fewer at the end of the input) without consuming them:
    /// later reads return them first. For sniffing the format (see `looksBinary`).
    public func peek(_ n: Int) throws(ImportError) -> [UInt8] {
        while peeked.count - peekedStart < n {
            let want = n - (peeked.count - peekedStart)
            let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: want, alignment: 8)
            defer { chunk.deallocate() }
            guard let base = chunk.baseAddress else { break }
            let got = try decode(into: base, count: want)
            if got == 0 { break }
            peeked.append(contentsOf: UnsafeRawBufferPointer(start: base, count: got))
        }
        return Array(peeked[peekedStart..<min(peeked.count, peekedStart + n)])
    }

    /// Whether a file's first bytes (say 4 KiB) look binary rather than text: a NUL
    /// byte, or more than 10% control bytes other than tab, line feed, carriage
    /// return, form feed and escape. UTF-8 text of any language is not binary.
    public static func looksBinary(_ prefix: UnsafeRawBufferPointer) -> Bool {
        var control = 0
        for byte in prefix {
            if byte == 0 { return true }
            if (byte < 0x20 && byte != 0x09 && byte != 0x0a && byte != 0x0d && byte != 0x0c && byte != 0x1b) || byte == 0x7f {
                control += 1
            }
        }
        return control * 10 > prefix.count
    }

    /// `looksBinary` of an array of bytes (such as `peek(4096)`).
    public static func looksBinary(_ prefix: [UInt8]) -> Bool {
        prefix.withUnsafeBytes { looksBinary($0) }
    }

    // MARK: Decoding

    private func error(_ message: String) -> ImportError {
        ImportError(file: name, line: nil, column: nil, message: message)
    }

    /// Reads from the descriptor, retrying when interrupted.
    private func readRaw(into p: UnsafeMutableRawPointer, count: Int) throws(ImportError) -> Int {
        while true {
            let n = systemRead(fd, p, count)
            if n >= 0 { return n }
            if errno != EINTR { throw error("cannot read the file: \(reason(errno))") }
        }
    }

    /// Up to `count` decoded bytes (0 only at the end), bypassing the peek buffer.
    private func decode(into out: UnsafeMutableRawPointer, count: Int) throws(ImportError) -> Int {
        guard let stream else {
            if rawStart < rawEnd, let base = raw.baseAddress {
                let n = min(count, rawEnd - rawStart)
                out.copyMemory(from: base + rawStart, byteCount: n)
                rawStart += n
                bytesRead += n
                return n
            }
            if rawEOF { return 0 }
            let n = try readRaw(into: out, count: count)
            if n == 0 { rawEOF = true }
            bytesRead += n
            return n
        }
        let room = UInt32(min(count, Int(UInt32.max)))
        stream.pointee.next_out = out.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_out = room
        while true {
            if stream.pointee.avail_in == 0 && !rawEOF, let base = raw.baseAddress {
                let n = try readRaw(into: base, count: raw.count)
                if n == 0 { rawEOF = true }
                stream.pointee.next_in = base.assumingMemoryBound(to: UInt8.self)
                stream.pointee.avail_in = UInt32(n)
            }
            if memberEnded {
                // Between members: the end of the input, or another member (reset and go on).
                if stream.pointee.avail_in == 0 { return 0 }
                inflateReset(stream)
                memberEnded = false
            }
            if stream.pointee.avail_in == 0 {
                throw error("the gzip data is truncated (the file ends inside the compressed stream)")
            }
            let before = stream.pointee.avail_in
            let status = inflate(stream, Z_NO_FLUSH)
            bytesRead += Int(before - stream.pointee.avail_in)
            switch status {
            case Z_STREAM_END: memberEnded = true
            case Z_OK, Z_BUF_ERROR: break
            default:
                let detail = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                throw error("corrupt gzip data (\(detail))")
            }
            let produced = Int(room - stream.pointee.avail_out)
            if produced > 0 { return produced }
        }
    }
}

@available(*, unavailable, message: "an ImportInput is read on one thread")
extension ImportInput: Sendable {}

/// A growable window of bytes read from an input: `bytes[start..<end]` are unread;
/// `base` is the offset in the (uncompressed) input of `bytes[0]`.
final class ChunkBuffer {
    private(set) var bytes: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    var start = 0
    private(set) var end = 0
    private(set) var base = 0
    private(set) var eof = false
    /// How much is read at a time.
    let chunk: Int

    init(chunk: Int) {
        self.chunk = max(chunk, 1)
        capacity = self.chunk
        bytes = .allocate(capacity: capacity)
    }

    deinit { bytes.deallocate() }

    /// Moves the unread bytes to the front (growing the buffer when they leave
    /// little room) and returns how far indices moved down.
    func compact() -> Int {
        let shift = start
        if shift > 0 {
            if end > start { (bytes).update(from: bytes + start, count: end - start) }
            end -= shift
            base += shift
            start = 0
        }
        if capacity - end < chunk / 2 + 1 {
            let grown = max(capacity * 2, end + chunk)
            let fresh = UnsafeMutablePointer<UInt8>.allocate(capacity: grown)
            fresh.update(from: bytes, count: end)
            bytes.deallocate()
            bytes = fresh
            capacity = grown
        }
        return shift
    }

    /// Reads once into the free space after `end` (call `compact` first); sets `eof` at the end.
    func fill(from input: ImportInput) throws(ImportError) {
        guard !eof, capacity > end else { return }
        let n = try input.read(into: UnsafeMutableRawBufferPointer(start: bytes + end, count: capacity - end))
        if n == 0 { eof = true }
        end += n
    }

    /// Drops the unread bytes (for a line or record that is being skipped).
    func discard() {
        start = end
    }

    /// Empties the buffer for a new reading of the input from its start.
    func reset() {
        start = 0
        end = 0
        base = 0
        eof = false
    }

    /// Reads on, dropping bytes, until `offset` (in the input) is the next unread byte
    /// (or the input ends).
    func advance(to offset: Int, from input: ImportInput) throws(ImportError) {
        while base + end < offset && !eof {
            start = end
            _ = compact()
            try fill(from: input)
        }
        start = min(offset - base, end)
    }

    /// Skips a UTF-8 byte-order mark at the very start of the input; true when there was one.
    func skipByteOrderMark(from input: ImportInput) throws(ImportError) -> Bool {
        while end - start < 3 && !eof {
            _ = compact()
            try fill(from: input)
        }
        if end - start >= 3 && bytes[start] == 0xef && bytes[start + 1] == 0xbb && bytes[start + 2] == 0xbf {
            start += 3
            return true
        }
        return false
    }
}

/// Splits an input into lines (LF or CRLF), in bounded memory, numbered from 1.
///
/// A UTF-8 byte-order mark at the start of the input is skipped. The last line
/// needs no line end. Blank lines are passed on (the caller decides).
public struct LineReader {
    private let input: ImportInput
    /// Lines longer than this (in bytes, without the line end) are reported, not read.
    public let maxLineBytes: Int
    let buffer: ChunkBuffer

    /// A reader of `input`'s lines; see `maxLineBytes`.
    public init(_ input: ImportInput, maxLineBytes: Int = 1 << 20) {
        self.init(input, maxLineBytes: maxLineBytes, chunk: ImportInput.defaultRawCapacity)
    }

    /// A reader reading `chunk` bytes at a time (tests use tiny ones).
    init(_ input: ImportInput, maxLineBytes: Int, chunk: Int) {
        self.input = input
        self.maxLineBytes = maxLineBytes
        buffer = ChunkBuffer(chunk: chunk)
    }

    /// Calls body with each line's bytes (without the line end; valid only during the call)
    /// and its 1-based line number. A line over maxLineBytes is reported by calling
    /// `tooLong(lineNumber, byteCount)` and skipped (reading on to its end without keeping it).
    ///
    /// Errors thrown by `body` or `tooLong` stop the reading and are rethrown;
    /// ImportError is thrown for I/O or gzip errors.
    public mutating func forEach(_ body: (UnsafeRawBufferPointer, Int) throws -> Void,
                                 tooLong: (Int, Int) throws -> Void) throws {
        let b = buffer
        if b.base == 0 && b.start == 0 && b.end == 0 { _ = try b.skipByteOrderMark(from: input) }
        var lineNumber = 0
        var scan = b.start               // where the search for the next LF resumes
        var skipping = false             // inside a line over the limit
        var skipped = 0                  // its bytes dropped so far
        var skippedEndsWithCR = false    // the last dropped byte was CR

        /// Hands over the line `b.bytes[b.start..<end]` (end excludes the LF).
        func finish(_ end: Int) throws {
            lineNumber += 1
            let start = b.start
            let endsWithCR = end > start ? b.bytes[end - 1] == 0x0d : (skipping && skippedEndsWithCR)
            let length = (skipping ? skipped : 0) + (end - start) - (endsWithCR ? 1 : 0)
            if skipping || length > maxLineBytes {
                try tooLong(lineNumber, length)
            } else {
                try body(UnsafeRawBufferPointer(start: b.bytes + start, count: length), lineNumber)
            }
            skipping = false
            skipped = 0
        }

        while true {
            let found = scan < b.end ? memchr(b.bytes + scan, 0x0a, b.end - scan) : nil
            if let found {
                let lf = UnsafeRawPointer(found) - UnsafeRawPointer(b.bytes)
                try finish(lf)
                b.start = lf + 1
                scan = b.start
                continue
            }
            if b.eof {
                if b.start < b.end || skipping { try finish(b.end) }
                return
            }
            if !skipping && b.end - b.start > maxLineBytes + 1 { skipping = true }
            if skipping {
                skipped += b.end - b.start
                if b.end > b.start { skippedEndsWithCR = b.bytes[b.end - 1] == 0x0d }
                b.discard()
            }
            let searched = b.end - b.start
            _ = b.compact()
            try b.fill(from: input)
            scan = b.start + searched
        }
    }
}
