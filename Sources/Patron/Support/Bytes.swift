/// Appends little-endian integers, varints and length-prefixed strings to a byte
/// array: the one writer behind every binary format Patron stores.
struct ByteWriter {
    var bytes: [UInt8]

    init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always) mutating func u8(_ v: UInt8) { bytes.append(v) }

    @inline(__always) mutating func fixed<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// LEB128 unsigned varint.
    @inline(__always) mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Zigzag-encoded signed varint.
    @inline(__always) mutating func svarint(_ v: Int64) {
        varint(UInt64(bitPattern: (v << 1) ^ (v >> 63)))
    }

    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { buf in
            varint(UInt64(buf.count))
            bytes.append(contentsOf: buf)
        }
    }

    /// Optional string: length + 1, with 0 meaning absent.
    mutating func optionalString(_ s: String?) {
        guard let s else { return varint(0) }
        var copy = s
        copy.withUTF8 { buf in
            varint(UInt64(buf.count) + 1)
            bytes.append(contentsOf: buf)
        }
    }

    mutating func blob(_ b: [UInt8]) {
        varint(UInt64(b.count))
        bytes.append(contentsOf: b)
    }

    /// Optional signed varint: a presence byte, then the value.
    mutating func optionalSigned(_ v: Int64?) {
        if let v { u8(1); svarint(v) } else { u8(0) }
    }
}

/// Reads what ``ByteWriter`` wrote, straight from (mapped) memory; every read is
/// bounds-checked and a short or malformed buffer throws ``CorruptData``.
struct ByteReader {
    let base: UnsafeRawBufferPointer
    var offset: Int

    init(_ base: UnsafeRawBufferPointer, offset: Int = 0) {
        self.base = base
        self.offset = offset
    }

    var atEnd: Bool { offset >= base.count }

    @inline(__always) mutating func u8() throws(CorruptData) -> UInt8 {
        guard offset < base.count else { throw CorruptData("truncated at byte \(offset)") }
        defer { offset += 1 }
        return base[offset]
    }

    @inline(__always) mutating func fixed<T: FixedWidthInteger>(_: T.Type = T.self) throws(CorruptData) -> T {
        let size = MemoryLayout<T>.size
        guard offset + size <= base.count else { throw CorruptData("truncated at byte \(offset)") }
        defer { offset += size }
        return T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    @inline(__always) mutating func varint() throws(CorruptData) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < base.count else { throw CorruptData("truncated varint at byte \(offset)") }
            let b = base[offset]
            offset += 1
            result |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return result }
            shift += 7
            if shift > 63 { throw CorruptData("overlong varint at byte \(offset)") }
        }
    }

    @inline(__always) mutating func svarint() throws(CorruptData) -> Int64 {
        let u = try varint()
        return Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1)
    }

    @inline(__always) mutating func count() throws(CorruptData) -> Int {
        let n = try varint()
        guard n <= UInt64(base.count - offset) else { throw CorruptData("length \(n) runs past the end at byte \(offset)") }
        return Int(n)
    }

    mutating func bytes(_ n: Int) throws(CorruptData) -> UnsafeRawBufferPointer {
        guard n >= 0, offset + n <= base.count else { throw CorruptData("truncated at byte \(offset)") }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: base[offset ..< offset + n])
    }

    mutating func string() throws(CorruptData) -> String {
        let n = try count()
        let raw = try bytes(n)
        return String(decoding: raw, as: UTF8.self)
    }

    mutating func optionalString() throws(CorruptData) -> String? {
        try optionalBytes().map { String(decoding: $0, as: UTF8.self) }
    }

    /// The bytes of an optional string (length + 1, 0 for absent) in place.
    mutating func optionalBytes() throws(CorruptData) -> UnsafeRawBufferPointer? {
        let n = try varint()
        if n == 0 { return nil }
        guard n - 1 <= UInt64(base.count - offset) else { throw CorruptData("length runs past the end at byte \(offset)") }
        return try bytes(Int(n - 1))
    }

    mutating func blob() throws(CorruptData) -> [UInt8] {
        let n = try count()
        return Array(try bytes(n))
    }

    mutating func optionalSigned() throws(CorruptData) -> Int64? {
        try u8() == 0 ? nil : try svarint()
    }
}

/// Stored bytes that do not decode: a damaged or foreign record.
public struct CorruptData: Error, CustomStringConvertible, Sendable {
    /// What was wrong and where.
    public let detail: String
    init(_ detail: String) { self.detail = detail }
    public var description: String { "corrupt data: \(detail)" }
}
