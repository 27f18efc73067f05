import CSupport

/// CRC-32C (Castagnoli): the checksum stored with every event. Computed with the
/// CPU's CRC-32C instruction where there is one (x86-64 with SSE 4.2, checked at run
/// time; arm64 only in builds for CPUs with the CRC extension, such as Apple's), else
/// slicing-by-8 in software; both give the same value.
enum CRC32C {
    /// Whether the CPU's instruction is used.
    static let inHardware = patron_has_crc32c() != 0

    private static let tables: [[UInt32]] = {
        var t = Array(repeating: Array(repeating: UInt32(0), count: 256), count: 8)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[0][i] = c
        }
        for i in 0..<256 {
            for k in 1..<8 { t[k][i] = (t[k - 1][i] >> 8) ^ t[0][Int(t[k - 1][i] & 0xff)] }
        }
        return t
    }()
    private static let flat: [UInt32] = tables.flatMap { $0 }

    static func checksum(_ data: UnsafeRawBufferPointer) -> UInt32 {
        guard inHardware, let base = data.baseAddress else { return software(data) }
        return patron_crc32c_update(0xFFFF_FFFF, base, data.count) ^ 0xFFFF_FFFF
    }

    /// The checksum computed in software (slicing-by-8), whatever the CPU.
    static func software(_ data: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        flat.withUnsafeBufferPointer { t in
            var i = 0
            let n = data.count
            while i + 8 <= n {
                let lo = data.loadUnaligned(fromByteOffset: i, as: UInt32.self).littleEndian ^ crc
                let hi = data.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self).littleEndian
                crc = t[7 * 256 + Int(lo & 0xff)] ^ t[6 * 256 + Int((lo >> 8) & 0xff)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xff)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xff)] ^ t[2 * 256 + Int((hi >> 8) & 0xff)]
                    ^ t[1 * 256 + Int((hi >> 16) & 0xff)] ^ t[Int(hi >> 24)]
                i += 8
            }
            while i < n {
                crc = t[Int((crc ^ UInt32(data[i])) & 0xff)] ^ (crc >> 8)
                i += 1
            }
        }
        return crc ^ 0xFFFF_FFFF
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}

/// SipHash-2-4 (Aumasson & Bernstein), used for content-derived event ids.
struct SipHash {
    private var v0: UInt64, v1: UInt64, v2: UInt64, v3: UInt64

    init(k0: UInt64, k1: UInt64) {
        v0 = k0 ^ 0x736f_6d65_7073_6575
        v1 = k1 ^ 0x646f_7261_6e64_6f6d
        v2 = k0 ^ 0x6c79_6765_6e65_7261
        v3 = k1 ^ 0x7465_6462_7974_6573
    }

    @inline(__always) private mutating func round() {
        v0 &+= v1; v1 = (v1 << 13) | (v1 >> 51); v1 ^= v0; v0 = (v0 << 32) | (v0 >> 32)
        v2 &+= v3; v3 = (v3 << 16) | (v3 >> 48); v3 ^= v2
        v0 &+= v3; v3 = (v3 << 21) | (v3 >> 43); v3 ^= v0
        v2 &+= v1; v1 = (v1 << 17) | (v1 >> 47); v1 ^= v2; v2 = (v2 << 32) | (v2 >> 32)
    }

    /// The 64-bit SipHash-2-4 of `data` under key (k0, k1).
    static func hash(_ data: UnsafeRawBufferPointer, k0: UInt64, k1: UInt64) -> UInt64 {
        var s = SipHash(k0: k0, k1: k1)
        let n = data.count
        var i = 0
        while i + 8 <= n {
            let m = data.loadUnaligned(fromByteOffset: i, as: UInt64.self).littleEndian
            s.v3 ^= m; s.round(); s.round(); s.v0 ^= m
            i += 8
        }
        var last = UInt64(truncatingIfNeeded: n) << 56
        var shift: UInt64 = 0
        while i < n { last |= UInt64(data[i]) << shift; shift += 8; i += 1 }
        s.v3 ^= last; s.round(); s.round(); s.v0 ^= last
        s.v2 ^= 0xff
        s.round(); s.round(); s.round(); s.round()
        return s.v0 ^ s.v1 ^ s.v2 ^ s.v3
    }
}
