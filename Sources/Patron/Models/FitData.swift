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
        var tripleWeights: [TripleKey: Int] = [:]
        var pairWeights: [PairKey: Int] = [:]
        tripleWeights.reserveCapacity(min(summaries.count, 1 << 20))
        pairWeights.reserveCapacity(min(summaries.count, 1 << 20))
        var skipped = 0
        for s in summaries {
            guard s.x >= 0, s.T.isFinite, s.tx.isFinite else {
                skipped += 1
                continue
            }
            let c = TransactionModel.clean(x: s.x, tx: s.tx, T: s.T)
            tripleWeights[TripleKey(x: s.x, tx: c.tx, T: c.T), default: 0] += 1
            if s.x > 0, s.monetary.isFinite, s.monetary > 0 {
                pairWeights[PairKey(x: s.x, m: s.monetary), default: 0] += 1
            }
        }
        self.skipped = skipped
        triples = TripleTable(tripleWeights)
        pairs = PairTable(pairWeights)
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

    init(_ counts: [TripleKey: Int]) {
        let entries = counts.sorted { ($0.key.x, $0.key.T, $0.key.tx) < ($1.key.x, $1.key.T, $1.key.tx) }
        let keys = entries.map(\.key)
        let xs = Array(Set(keys.map(\.x))).sorted()
        let Ts = Array(Set(keys.map(\.T))).sorted()
        let txs = Array(Set(keys.map(\.tx))).sorted()
        let xPos = Dictionary(uniqueKeysWithValues: xs.enumerated().map { ($1, Int32($0)) })
        let TPos = Dictionary(uniqueKeysWithValues: Ts.enumerated().map { ($1, Int32($0)) })
        let txPos = Dictionary(uniqueKeysWithValues: txs.enumerated().map { ($1, Int32($0)) })
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
            let xi = xPos[k.x] ?? 0
            xIndex.append(xi)
            TIndex.append(TPos[k.T] ?? 0)
            txIndex.append(txPos[k.tx] ?? 0)
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

    init(_ counts: [PairKey: Int]) {
        let entries = counts.sorted { ($0.key.x, $0.key.m) < ($1.key.x, $1.key.m) }
        let keys = entries.map(\.key)
        let xs = Array(Set(keys.map(\.x))).sorted()
        let xPos = Dictionary(uniqueKeysWithValues: xs.enumerated().map { ($1, Int32($0)) })
        xValues = xs.map(Double.init)
        xWeights = [Double](repeating: 0, count: xs.count)
        var sm = 0.0
        for (k, count) in entries {
            let w = Double(count)
            let xi = xPos[k.x] ?? 0
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
