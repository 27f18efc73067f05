/// The demo's random numbers: xoshiro256** seeded through SplitMix64.
///
/// Every draw uses integer arithmetic or the four IEEE-754 basic operations (exactly
/// rounded on every platform), never `log`, `exp` or `sin` from the C library, so a
/// demo history is the same bytes on Linux and macOS.
struct DemoRandom {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    /// SplitMix64's output function: a bijection of 64-bit words that mixes every bit.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// An independent generator for `stream` (e.g. a client's number) under `seed`.
    init(seed: UInt64, stream: UInt64) {
        var x = Self.mix(seed ^ 0x5DEE_CE66_D1CE_4E5B) ^ Self.mix(stream &+ 0x9E37_79B9_7F4A_7C15)
        func next() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            return Self.mix(x)
        }
        s0 = next()
        s1 = next()
        s2 = next()
        s3 = next()
    }

    /// The next 64 random bits.
    mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in `0..<n` (n > 0).
    mutating func int(_ n: Int) -> Int {
        Int(truncatingIfNeeded: next().multipliedFullWidth(by: UInt64(n)).high)
    }

    /// Uniform in `range`.
    mutating func int(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + int(range.upperBound - range.lowerBound + 1)
    }

    /// Uniform in [a, b).
    mutating func double(_ a: Double, _ b: Double) -> Double { a + (b - a) * unit() }

    /// True with probability `p`.
    mutating func chance(_ p: Double) -> Bool { unit() < p }

    /// An index drawn with the given relative weights.
    mutating func pick(weights: [Double]) -> Int {
        var total = 0.0
        for w in weights { total += w }
        var x = unit() * total
        for (i, w) in weights.enumerated() {
            if x < w { return i }
            x -= w
        }
        return weights.count - 1
    }

    /// An element of a non-empty array, uniformly.
    mutating func element<T>(_ array: [T]) -> T { array[int(array.count)] }

    /// Approximately standard normal: the Irwin–Hall sum of four uniforms, rescaled
    /// (bounded to ±3.46, which suits durations and rates).
    mutating func normal() -> Double {
        (unit() + unit() + unit() + unit() - 2) * 1.732_050_807_568_877
    }

    /// A log-normal multiplier with median 1 and log-spread `sigma`.
    mutating func spread(_ sigma: Double) -> Double { DemoMath.exp(sigma * normal()) }

    /// A geometric count of trials ≥ 1 with the given mean (≥ 1).
    mutating func geometric(mean: Double) -> Int {
        let p = 1 / max(mean, 1)
        var n = 1
        while n < 10_000 && !chance(p) { n += 1 }
        return n
    }
}

/// Elementary functions from basic operations only (bit-identical everywhere).
enum DemoMath {
    /// e^x for |x| ≤ 20, to about 15 significant digits.
    static func exp(_ x: Double) -> Double {
        let clamped = min(max(x, -20), 20)
        // e^x = (e^(x/2^k))^(2^k), with |x/2^k| < 1/16 summed by Taylor's series.
        var k = 0
        var r = clamped
        while abs(r) > 0.0625 {
            r /= 2
            k += 1
        }
        var term = 1.0
        var sum = 1.0
        for n in 1...12 {
            term = term * r / Double(n)
            sum += term
        }
        for _ in 0..<k { sum *= sum }
        return sum
    }
}
