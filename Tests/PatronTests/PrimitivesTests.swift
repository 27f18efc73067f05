import Foundation
import Testing
@testable import Patron

@Suite struct PrimitivesTests {
    /// Varints at every length (1 to 10 bytes, each side of each boundary), after other
    /// bytes: LEB128 as a byte-by-byte reference writes it, and read back.
    @Test func varintsAreLEB128AtEveryLength() throws {
        func reference(_ value: UInt64) -> [UInt8] {
            var v = value, out: [UInt8] = []
            while v >= 0x80 { out.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
            return out + [UInt8(v)]
        }
        var values: [UInt64] = [0, 1, UInt64.max, UInt64.max - 1]
        for bits in stride(from: 7, through: 63, by: 7) { values += [(1 << bits) - 1, 1 << bits, (1 << bits) + 1] }
        var rng = SystemRandomNumberGenerator()
        values += (0..<500).map { _ in rng.next() >> UInt64.random(in: 0...63, using: &rng) }
        var w = ByteWriter()
        var expected: [UInt8] = []
        for v in values {
            w.u8(0xAB); expected.append(0xAB)
            w.varint(v); expected += reference(v)
            let signed = Int64(bitPattern: v)
            w.svarint(signed); expected += reference(UInt64(bitPattern: (signed << 1) ^ (signed >> 63)))
        }
        #expect(w.bytes == expected)
        try w.bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> Void in
            var r = ByteReader(raw)
            for v in values {
                #expect(try r.u8() == 0xAB)
                #expect(try r.varint() == v)
                #expect(try r.svarint() == Int64(bitPattern: v))
            }
            #expect(r.atEnd)
        }
    }

    /// A commit's changed clients come in ascending order, each once, whether dense
    /// (marked in a bitmap) or sparse (sorted), with repeats dropped either way.
    @Test func ascendingDistinctNumbersMatchASortedSet() {
        var rng = SeededRandom(seed: 11)
        for round in 0..<60 {
            let count = [0, 1, 5, 63, 64, 65, 1_000, 20_000][round % 8]
            let range = round % 3 == 0 ? UInt32(count * 2 + 1) : round % 3 == 1 ? UInt32(count + 1) : UInt32.max
            var numbers = (0..<count).map { _ in UInt32(truncatingIfNeeded: rng.next()) % range }
            if round % 4 == 0, !numbers.isEmpty { numbers += numbers.prefix(10) }
            #expect(numbers.ascendingDistinct() == Array(Set(numbers)).sorted(), "round \(round)")
        }
        #expect([UInt32.max, 0, 7].ascendingDistinct() == [0, 7, UInt32.max])
    }

    @Test func crc32cCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum(Array(repeating: 0, count: 32)) == 0x8A91_36AA)
        // The CPU's instruction (when used) and the software give the same value at
        // every length and alignment.
        #if arch(x86_64)
        #expect(CRC32C.inHardware, "every x86-64 CPU this runs on has SSE 4.2")
        #endif
        let bytes = (0..<300).map { (i: Int) in UInt8(truncatingIfNeeded: (i &* 2_654_435_761) >> 11) }
        bytes.withUnsafeBytes { all in
            for start in 0..<9 {
                for end in stride(from: start, through: all.count, by: 7) {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<end])
                    #expect(CRC32C.checksum(slice) == CRC32C.software(slice), "bytes \(start)..<\(end)")
                }
            }
        }
    }

    @Test("StringIDMap answers as a Dictionary does over many keys: short and long, non-ASCII, empty, replaced, absent")
    func stringIDMapMatchesDictionary() {
        var rng = SeededRandom(seed: 7)
        var map = StringIDMap()
        var reference: [String: UInt32] = [:]
        #expect(map["x"] == nil && map.isEmpty)
        func key(_ i: Int) -> String {
            switch i % 5 {
            case 0: return "C\(i)"                                  // short (inline)
            case 1: return "client-with-a-long-key-\(i)-of-the-clinic"  // on the heap
            case 2: return "café \(i) ☕︎"                           // not ASCII
            case 3: return String(repeating: "a", count: i % 40)     // every length, "" too
            default: return "01HZX\(i)ABCDEFGHJKMNPQRSTV"            // an id's length
            }
        }
        for round in 0..<3 {
            for _ in 0..<4_000 {
                let i = Int.random(in: 0..<3_000, using: &rng)
                let v = UInt32.random(in: 0...UInt32.max, using: &rng)
                map[key(i)] = v
                reference[key(i)] = v
            }
            #expect(map.count == reference.count, "round \(round)")
            for i in 0..<3_500 { #expect(map[key(i)] == reference[key(i)], "\(key(i))") }
        }
        var seen: [String: UInt32] = [:]
        map.forEach { k, v in seen[k] = v }
        #expect(seen == reference)
        map.removeAll()
        #expect(map.isEmpty && map[key(1)] == nil)
        // Keys are bytes, as in LMDB: two spellings of "é" are two keys (`==` would say one).
        let composed = "caf\u{E9}", decomposed = "cafe\u{301}"
        #expect(composed == decomposed)
        map[composed] = 1
        map[decomposed] = 2
        #expect(map[composed] == 1 && map[decomposed] == 2 && map.count == 2)
    }

    @Test func sipHashReferenceVector() {
        // SipHash-2-4 paper, appendix A: key 00..0f, message 00..0e.
        let message = (0..<15).map { UInt8($0) }
        let k0: UInt64 = 0x0706_0504_0302_0100, k1: UInt64 = 0x0F0E_0D0C_0B0A_0908
        #expect(message.withUnsafeBytes { SipHash.hash($0, k0: k0, k1: k1) } == 0xA129_CA61_49BE_45E5)
    }

    @Test func chaCha20Rfc8439Vector() {
        // RFC 8439 section 2.4.2.
        let key = (0..<32).map { UInt8($0) }
        let nonce: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0x4a, 0, 0, 0, 0]
        let plain = Array("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".utf8)
        let cipher = ChaCha20.apply(key: key, nonce: nonce, counter: 1, to: plain)
        let expectedPrefix: [UInt8] = [0x6e, 0x2e, 0x35, 0x9a, 0x25, 0x68, 0xf9, 0x80, 0x41, 0xba, 0x07, 0x28, 0xdd, 0x0d, 0x69, 0x81]
        #expect(Array(cipher.prefix(16)) == expectedPrefix)
        #expect(Array(cipher.suffix(2)) == [0x87, 0x4d])
        #expect(ChaCha20.apply(key: key, nonce: nonce, counter: 1, to: cipher) == plain)
    }

    @Test(arguments: [
        ("450", 45000), ("450.5", 45050), ("450.50", 45050), ("$450.50", 45050), ("$1,250.00", 125_000),
        ("0", 0), ("-3", -300), ("-$3.10", -310), (".5", 50),
    ])
    func moneyParses(_ text: String, _ cents: Int64) {
        #expect(Money(parsing: text)?.cents == cents)
    }

    @Test(arguments: ["450.505", "abc", "", "$", "1,25", "12..5", "4 50", "1e3", "$1,2345.00"])
    func moneyRejects(_ text: String) {
        #expect(Money(parsing: text) == nil)
    }

    @Test func moneyFormats() {
        #expect(Money(cents: 125_050).description == "$1,250.50")
        #expect(Money(cents: -300).description == "-$3.00")
        #expect(Money(cents: 125_050).decimalString == "1250.5")
        #expect(Money(cents: 5).decimalString == "0.05")
    }

    @Test func timestampsParseEveryForm() throws {
        #expect(ms("2025-03-14") == Int64(1_741_910_400_000))
        #expect(TimestampParser.parse("19970101", zone: .utc) == ms("1997-01-01"))
        #expect(TimestampParser.parse("2025-03-14T10:30", zone: .utc) == Int64(1_741_910_400_000 + 37_800_000))
        #expect(TimestampParser.parse("2025-03-14T10:30:00Z", zone: .utc) == Int64(1_741_910_400_000 + 37_800_000))
        #expect(TimestampParser.parse("2025-03-14T10:30:00-05:00", zone: .utc) == Int64(1_741_910_400_000 + 37_800_000 + 18_000_000))
        #expect(TimestampParser.parse("2025-03-14T10:30:00.250Z", zone: .utc) == Int64(1_741_910_400_000 + 37_800_250))
        for bad in ["2025-02-30", "2025-13-01", "14/03/2025", "2025-03-14T25:00", "2025-03-14T10:30:00+5", "", "2025-03-14Tx"] {
            #expect(TimestampParser.parse(bad, zone: .utc) == nil, "\(bad) should not parse")
        }
    }

    @Test func localTimesUseTheDatabaseZone() throws {
        let ny = try #require(Zone(identifier: "America/New_York"))
        // 2025-03-14 is EDT (UTC-4).
        #expect(TimestampParser.parse("2025-03-14T10:30", zone: ny) == ms("2025-03-14T14:30:00Z"))
        #expect(ny.day(of: ms("2025-03-15T03:30:00Z")) == day("2025-03-14"))
        // SPEC 3.11: 2025-03-14T23:30:00-05:00 is 2025-03-15 in UTC.
        #expect(Zone.utc.day(of: try Event.instant("2025-03-14T23:30:00-05:00")) == day("2025-03-15"))
        #expect(TimestampParser.format(ms("2025-03-14T14:30:00Z"), zone: ny) == "2025-03-14T10:30:00-04:00")
        #expect(TimestampParser.format(ms("2025-03-14"), zone: .utc) == "2025-03-14")
    }

    @Test func calendarRoundTrips() {
        for d in stride(from: -800_000, through: 800_000, by: 997) {
            let c = Calendar.civil(d)
            #expect(Calendar.day(year: c.year, month: c.month, day: c.day) == d)
        }
        #expect(Calendar.format(0) == "1970-01-01")
    }
}
