/// Counts how often each row content has been seen so far in one file, so that the
/// n-th of several genuinely identical rows gets its own content id (a hash of the
/// content and n) and re-importing the same file maps each row to the same id.
///
/// Memory: an open-addressing table of 64-bit fingerprints (a 6-bit count in the low
/// bits; counts above 62 go to a small side table), doubled when 70% full — 8 bytes
/// per slot, so 11–23 bytes per distinct row.
struct OccurrenceCounter {
    private var slots: [UInt64]
    private var used = 0
    private var overflow: [UInt64: Int] = [:]
    private static let countBits: UInt64 = 6
    private static let countMask: UInt64 = (1 << countBits) - 1

    init(capacity: Int = 1 << 16) {
        var size = 1 << 10
        while size < capacity { size <<= 1 }
        slots = Array(repeating: 0, count: size)
    }

    /// Records one more row with this content; returns its occurrence number (1, 2, …).
    mutating func next(_ content: String) -> Int {
        var text = content
        let hash = text.withUTF8 { SipHash.hash(UnsafeRawBufferPointer($0), k0: 0x6f63_6375_7272_656e, k1: 0x6365_7331) }
        // The fingerprint keeps the high bits; 0 marks an empty slot, so count ≥ 1 always.
        let key = hash & ~Self.countMask
        if used * 10 >= slots.count * 7 { grow() }
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: hash >> 20) & mask
        while true {
            let s = slots[i]
            if s == 0 {
                slots[i] = key | 1
                used += 1
                return 1
            }
            if s & ~Self.countMask == key {
                let count = s & Self.countMask
                if count < Self.countMask - 1 {
                    slots[i] = key | (count + 1)
                    return Int(count + 1)
                }
                let n = overflow[key, default: Int(Self.countMask - 1)] + 1
                overflow[key] = n
                return n
            }
            i = (i + 1) & mask
        }
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: 0, count: old.count * 2)
        let mask = slots.count - 1
        for s in old where s != 0 {
            // Re-probe by the fingerprint's own bits (the original hash's low bits are gone).
            var i = Int(truncatingIfNeeded: s >> 20) & mask
            while slots[i] != 0 { i = (i + 1) & mask }
            slots[i] = s
        }
    }
}
