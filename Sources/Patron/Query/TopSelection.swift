/// `top N by` over numeric keys: the indexes of the N greatest keys, greatest first,
/// NaN (null) last, ties in index order — the prefix a full stable sort would give,
/// found without sorting everything (small inputs are simply sorted).
///
/// Each key becomes a 64-bit word that orders as the wanted order does (greater
/// keys smaller words, NaN the largest). A histogram of the words' top 16 bits finds
/// the bucket holding the N-th word; only the words of the buckets up to it are kept,
/// and those are put in order by a stable least-significant-digit radix sort (so
/// equal keys keep their index order).
enum TopSelection {
    /// The indexes of the `keep` greatest of `keys` in order (see the type's note).
    static func greatest(_ keys: [Double], _ keep: Int) -> [Int] {
        greatest(words: keys.map(word), keep)
    }

    /// ``greatest(_:_:)`` of keys already made words (``word(_:)``).
    static func greatest(words: [UInt64], _ keep: Int) -> [Int] {
        let n = words.count
        guard keep > 0, n > 0 else { return [] }
        if n <= 4096 {
            // Small: a comparison sort is cheaper than the 64k-bucket histogram.
            var all = words.indices.map { Entry(word: words[$0], index: Int32(truncatingIfNeeded: $0)) }
            all.sort { $0.word != $1.word ? $0.word < $1.word : $0.index < $1.index }
            return all.prefix(keep).map { Int($0.index) }
        }
        var histogram = [Int](repeating: 0, count: 1 << 16)
        for w in words { histogram[Int(w >> 48)] += 1 }
        // The bucket where the keep-th word falls: every bucket before it is kept whole.
        var bucket = 0, before = 0
        while bucket < histogram.count - 1, before + histogram[bucket] < keep {
            before += histogram[bucket]
            bucket += 1
        }
        var kept: [Entry] = []
        kept.reserveCapacity(min(n, before + histogram[bucket]))
        let limit = UInt64(bucket)
        for i in 0..<n where words[i] >> 48 <= limit {
            kept.append(Entry(word: words[i], index: Int32(truncatingIfNeeded: i)))
        }
        radixSort(&kept)
        return kept.prefix(keep).map { Int($0.index) }
    }

    struct Entry {
        var word: UInt64
        var index: Int32
    }

    /// The word of a key: the order of doubles reversed (greatest first), both zeros
    /// equal, NaN after everything.
    @inline(__always) static func word(_ x: Double) -> UInt64 {
        if x.isNaN { return .max }
        let bits = (x == 0 ? 0.0 : x).bitPattern
        // Ascending order of doubles as unsigned words: flip all bits of negatives,
        // only the sign bit of the others.
        let ascending = bits & (1 << 63) != 0 ? ~bits : bits | (1 << 63)
        // Descending; never .max (the NaN word), since `ascending` is never 0 for a number.
        return ~ascending
    }

    /// Sorts by word, stably, 11 bits per pass, skipping passes in which every word
    /// has the same digit.
    static func radixSort(_ a: inout [Entry]) {
        guard a.count > 1 else { return }
        let bits = 11, radix = 1 << bits
        var other = a
        var counts = [Int](repeating: 0, count: radix)
        var shift = 0
        while shift < 64 {
            for k in counts.indices { counts[k] = 0 }
            for e in a { counts[Int((e.word >> UInt64(shift)) & UInt64(radix - 1))] += 1 }
            if counts.contains(a.count) {
                shift += bits
                continue
            }
            var sum = 0
            for k in counts.indices {
                let c = counts[k]
                counts[k] = sum
                sum += c
            }
            for e in a {
                let d = Int((e.word >> UInt64(shift)) & UInt64(radix - 1))
                other[counts[d]] = e
                counts[d] += 1
            }
            swap(&a, &other)
            shift += bits
        }
    }
}
