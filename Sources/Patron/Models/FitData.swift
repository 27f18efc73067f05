import Foundation

/// Client summaries prepared for fitting: identical (x, t_x, T) triples merged with
/// weights (real data at day granularity repeat them a lot), and the Gamma-Gamma input.
///
/// Build it once and fit several models from it. Clients with non-finite times or
/// negative x are left out (`skipped`).
public struct ModelFitData: Sendable {
    let triples: TripleTable
    let pairs: PairTable
    /// Clients entering the BG/NBD and MBG/NBD fits.
    public var clients: Int { Int(triples.totalWeight) }
    /// Distinct (x, t_x, T) triples among them.
    public var uniqueTriples: Int { triples.weight.count }
    /// Clients entering the Gamma-Gamma fit (x > 0 and a positive, finite mean value).
    public var gammaGammaClients: Int { Int(pairs.totalWeight) }
    /// Clients left out of everything for invalid values.
    public let skipped: Int

    /// Aggregates `summaries`.
    public init(_ summaries: [ClientSummary]) {
        self.init(summaries, triples: true, pairs: true)
    }

    /// Aggregates `summaries` for the transaction models (`triples`), Gamma-Gamma
    /// (`pairs`) or both: the keys are sorted and equal neighbours merged.
    init(_ summaries: [ClientSummary], triples needTriples: Bool, pairs needPairs: Bool) {
        var tripleKeys: [TripleKey] = []
        var pairKeys: [PairKey] = []
        if needTriples { tripleKeys.reserveCapacity(summaries.count) }
        var skipped = 0
        for s in summaries {
            guard s.x >= 0, s.T.isFinite, s.tx.isFinite else {
                skipped += 1
                continue
            }
            if needTriples {
                let c = TransactionModel.clean(x: s.x, tx: s.tx, T: s.T)
                tripleKeys.append(TripleKey(x: s.x, tx: c.tx, T: c.T))
            }
            if needPairs, s.x > 0, s.monetary.isFinite, s.monetary > 0 {
                pairKeys.append(PairKey(x: s.x, m: s.monetary))
            }
        }
        self.skipped = skipped
        tripleKeys.sort { ($0.x, $0.T, $0.tx) < ($1.x, $1.T, $1.tx) }
        triples = TripleTable(sorted: Self.runs(tripleKeys))
        pairs = PairTable(sorted: Self.runs(Self.sortedPairs(pairKeys)))
    }

    /// `keys` sorted by (x, m̄): bucketed by x (a small count), then each bucket's
    /// values sorted as plain numbers, which is several times faster than sorting
    /// the pairs with a comparison of both fields.
    static func sortedPairs(_ keys: [PairKey]) -> [PairKey] {
        guard let maxX = keys.lazy.map(\.x).max(), maxX < 1 << 16 else {
            return keys.sorted { ($0.x, $0.m) < ($1.x, $1.m) }
        }
        var buckets = [[Double]](repeating: [], count: maxX + 1)
        for k in keys { buckets[k.x].append(k.m) }
        var out: [PairKey] = []
        out.reserveCapacity(keys.count)
        for (x, bucket) in buckets.enumerated() where !bucket.isEmpty {
            for m in bucket.sorted() { out.append(PairKey(x: x, m: m)) }
        }
        return out
    }

    /// Each distinct key of the sorted `keys` with the number of times it occurs.
    static func runs<K: Equatable>(_ keys: [K]) -> [(key: K, count: Int)] {
        var out: [(key: K, count: Int)] = []
        out.reserveCapacity(keys.count)
        for k in keys {
            if let last = out.last, last.key == k { out[out.count - 1].count += 1 } else { out.append((k, 1)) }
        }
        return out
    }
}

struct TripleKey: Hashable {
    var x: Int
    var tx: Double
    var T: Double
}

struct PairKey: Hashable {
    var x: Int
    var m: Double
}

/// Distinct (x, t_x, T) triples with weights, as indices into tables of distinct x, T and
/// t_x values (so logs of α + T and α + t_x are taken once per distinct value per
/// evaluation), sorted by (x, T, t_x).
struct TripleTable: Sendable {
    var xValues: [Double] = []
    var xWeights: [Double] = []
    var TValues: [Double] = []
    var txValues: [Double] = []
    var xIndex: [Int32] = []
    var TIndex: [Int32] = []
    var txIndex: [Int32] = []
    var weight: [Double] = []
    var totalWeight: Double = 0
    var meanX: Double = 0
    var meanT: Double = 0

    /// - Parameter entries: distinct triples sorted by (x, T, t_x), with their counts.
    init(sorted entries: [(key: TripleKey, count: Int)]) {
        let keys = entries.map(\.key)
        let xs = Self.distinctOfSorted(keys.map(\.x))  // the entries are sorted by x first
        let Ts = Self.distinct(keys.map(\.T))
        let txs = Self.distinct(keys.map(\.tx))
        xValues = xs.map(Double.init)
        TValues = Ts
        txValues = txs
        xWeights = [Double](repeating: 0, count: xs.count)
        var sx = 0.0, sT = 0.0
        xIndex.reserveCapacity(keys.count)
        TIndex.reserveCapacity(keys.count)
        txIndex.reserveCapacity(keys.count)
        weight.reserveCapacity(keys.count)
        for (k, count) in entries {
            let w = Double(count)
            let xi = Self.position(of: k.x, in: xs)
            xIndex.append(xi)
            TIndex.append(Self.position(of: k.T, in: Ts))
            txIndex.append(Self.position(of: k.tx, in: txs))
            weight.append(w)
            xWeights[Int(xi)] += w
            totalWeight += w
            sx += w * Double(k.x)
            sT += w * k.T
        }
        if totalWeight > 0 {
            meanX = sx / totalWeight
            meanT = sT / totalWeight
        }
    }

    /// The index of `value` in the ascending `sorted` (which holds it).
    static func position<T: Comparable>(of value: T, in sorted: [T]) -> Int32 {
        var lo = 0, hi = sorted.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sorted[mid] < value { lo = mid + 1 } else { hi = mid }
        }
        return Int32(lo)
    }

    /// The distinct values of `values`, ascending.
    static func distinct<T: Comparable>(_ values: [T]) -> [T] { distinctOfSorted(values.sorted()) }

    /// The distinct values of the ascending `values`.
    static func distinctOfSorted<T: Comparable>(_ values: [T]) -> [T] {
        var out: [T] = []
        for v in values where out.last != v { out.append(v) }
        return out
    }
}

/// Distinct (x, m̄) pairs of the Gamma-Gamma fit with weights, sorted by (x, m̄).
struct PairTable: Sendable {
    var xValues: [Double] = []
    var xWeights: [Double] = []
    var xIndex: [Int32] = []
    var m: [Double] = []
    var logM: [Double] = []
    var weight: [Double] = []
    var totalWeight: Double = 0
    var meanM: Double = 0

    /// - Parameter entries: distinct pairs sorted by (x, m̄), with their counts.
    init(sorted entries: [(key: PairKey, count: Int)]) {
        let keys = entries.map(\.key)
        let xs = TripleTable.distinctOfSorted(keys.map(\.x))  // the entries are sorted by x first
        xValues = xs.map(Double.init)
        xWeights = [Double](repeating: 0, count: xs.count)
        var sm = 0.0
        for (k, count) in entries {
            let w = Double(count)
            let xi = TripleTable.position(of: k.x, in: xs)
            xIndex.append(xi)
            m.append(k.m)
            logM.append(log(k.m))
            weight.append(w)
            xWeights[Int(xi)] += w
            totalWeight += w
            sm += w * k.m
        }
        if totalWeight > 0 { meanM = sm / totalWeight }
    }
}
