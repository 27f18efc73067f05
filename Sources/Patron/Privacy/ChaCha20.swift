/// The ChaCha20 stream cipher of RFC 8439, section 2.4, used to keep personal data
/// encrypted under a per-client key (see ``KeyStore``).
///
/// Encryption and decryption are the same operation. Each (key, nonce) pair must
/// encrypt one plaintext only; Patron derives the nonce from the event position
/// and the field, which never repeat.
enum ChaCha20 {
    /// The 64-byte keystream block for `counter` (RFC 8439 2.3).
    static func block(key: [UInt32], nonce: (UInt32, UInt32, UInt32), counter: UInt32) -> [UInt8] {
        let initial: [UInt32] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574,
                                 key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
                                 counter, nonce.0, nonce.1, nonce.2]
        var w = [UInt32](initial)
        for _ in 0..<10 {
            qr(&w, 0, 4, 8, 12); qr(&w, 1, 5, 9, 13); qr(&w, 2, 6, 10, 14); qr(&w, 3, 7, 11, 15)
            qr(&w, 0, 5, 10, 15); qr(&w, 1, 6, 11, 12); qr(&w, 2, 7, 8, 13); qr(&w, 3, 4, 9, 14)
        }
        var out = [UInt8]()
        out.reserveCapacity(64)
        for i in 0..<16 {
            let v = (w[i] &+ initial[i]).littleEndian
            withUnsafeBytes(of: v) { out.append(contentsOf: $0) }
        }
        return out
    }

    @inline(__always)
    private static func qr(_ w: inout [UInt32], _ a: Int, _ b: Int, _ c: Int, _ d: Int) {
        w[a] &+= w[b]; w[d] ^= w[a]; w[d] = (w[d] << 16) | (w[d] >> 16)
        w[c] &+= w[d]; w[b] ^= w[c]; w[b] = (w[b] << 12) | (w[b] >> 20)
        w[a] &+= w[b]; w[d] ^= w[a]; w[d] = (w[d] << 8) | (w[d] >> 24)
        w[c] &+= w[d]; w[b] ^= w[c]; w[b] = (w[b] << 7) | (w[b] >> 25)
    }

    /// XORs `data` with the keystream of (key, nonce) starting at block `counter`.
    static func apply(key: [UInt8], nonce: [UInt8], counter: UInt32 = 1, to data: [UInt8]) -> [UInt8] {
        precondition(key.count == 32 && nonce.count == 12, "ChaCha20 needs a 32-byte key and a 12-byte nonce")
        let k = (0..<8).map { i in word(key, 4 * i) }
        let n = (word(nonce, 0), word(nonce, 4), word(nonce, 8))
        var out = data
        var blockCounter = counter
        var i = 0
        while i < out.count {
            let stream = block(key: k, nonce: n, counter: blockCounter)
            for j in 0..<min(64, out.count - i) { out[i + j] ^= stream[j] }
            i += 64
            blockCounter &+= 1
        }
        return out
    }

    private static func word(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }
}
