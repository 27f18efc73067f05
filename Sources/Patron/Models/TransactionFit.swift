import Foundation

extension TransactionModel {
    /// Fits a BG/NBD or MBG/NBD model to clients by maximum likelihood.
    ///
    /// Identical (x, t_x, T) triples are merged first (`seconds` includes that). See `fit(_:to:options:start:)` on
    /// `ModelFitData` to fit several models from one aggregation.
    public static func fit(_ kind: TransactionModelKind, to clients: [ClientSummary], options: FitOptions = FitOptions(),
                           start: TransactionModel? = nil) -> FitOutcome<TransactionModel> {
        let began = Date()
        var outcome = fit(kind, to: ModelFitData(clients, triples: true, pairs: false), options: options, start: start)
        outcome.seconds = Date().timeIntervalSince(began)
        return outcome
    }

    /// Fits a BG/NBD or MBG/NBD model by maximum likelihood over the merged triples.
    ///
    /// The optimiser is a projected BFGS on ln r, ln α, ln a, ln b within [1e-6, 1e6], with
    /// the analytic gradient of the log-likelihood. A parameter that ends on the bound means
    /// the data do not identify the model (e.g. no repeat activity at all); that fit is
    /// reported as not converged, with a reason and finite values; so is a fit to data
    /// without any repeat activity (x = 0 for every client), which no parameters explain
    /// better than a degenerate limit.
    ///
    /// - Parameter start: a starting point (e.g. the previous fit); by default r = 1,
    ///   α = mean T / (mean x + 1), a = 1, b = 3.
    public static func fit(_ kind: TransactionModelKind, to data: ModelFitData, options: FitOptions = FitOptions(),
                           start: TransactionModel? = nil) -> FitOutcome<TransactionModel> {
        let table = data.triples
        let initial: [Double]
        if let s = start, s.isValid {
            initial = s.parameters.map { min(max(log($0), logParameterBox.lower), logParameterBox.upper) }
        } else {
            let alpha = min(max(table.meanT / (table.meanX + 1), 1e-3), 1e3)
            initial = [0, log(alpha), 0, log(3)]
        }
        let repeaters = table.xValues.last.map { $0 > 0 } ?? false
        return fitLogParameters(
            start: initial, names: parameterNames, clients: table.totalWeight, options: options,
            unidentified: repeaters ? nil : "no client has repeat activity (x > 0): r, α, a, b are not identified",
            ll: { phi in transactionLogLikelihood(kind, table, phi, parallel: options.parallel) },
            make: { p in TransactionModel(kind: kind, r: p[0], alpha: p[1], a: p[2], b: p[3]) })
    }
}

/// The total log-likelihood over the triples at log-parameters φ = (ln r, ln α, ln a, ln b)
/// and its analytic gradient with respect to φ.
///
/// Per client ln L = ln A₁A₂ + ln A₃ + softplus(ln A₄ − ln A₃) (see
/// `TransactionModel.logLikelihood(x:tx:T:)`); with σ = sigmoid(ln A₄ − ln A₃), the share
/// of the "dropped out at t_x" branch:
///
///     ∂/∂ln r = r[ψ(r+x) − ψ(r) + ln α − (1−σ) ln(α+T) − σ ln(α+t_x)]
///     ∂/∂ln α = r − (r+x)[(1−σ) α/(α+T) + σ α/(α+t_x)]
///     ∂/∂ln a = a[ψ(a+b) − ψ(a+b+x′)] + σ
///     ∂/∂ln b = b[ψ(a+b) + ψ(b+x′) − ψ(b) − ψ(a+b+x′)] − σ·b/(b+x″)
///
/// with x′ = x, x″ = x − 1 (BG/NBD) or x′ = x + 1, x″ = x (MBG/NBD). Terms that depend on
/// x only are computed once per distinct x; the rest once per triple, in fixed chunks.
func transactionLogLikelihood(_ kind: TransactionModelKind, _ table: TripleTable, _ phi: [Double],
                              parallel: Bool) -> (value: Double, gradient: [Double]) {
    let r = exp(phi[0]), alpha = exp(phi[1]), a = exp(phi[2]), b = exp(phi[3])
    let logA = log(a), logAlpha = log(alpha)
    let bg = kind == .bgnbd
    let shift = bg ? 0.0 : 1.0
    // Per distinct x.
    let nx = table.xValues.count
    var rx = [Double](repeating: 0, count: nx)
    var c4 = [Double](repeating: 0, count: nx)  // ln a − ln(b + x″); −∞ when there is no A₄ term
    var bShare = [Double](repeating: 0, count: nx)  // b / (b + x″)
    var value = 0.0
    var g = [0.0, 0.0, 0.0, 0.0]
    let lgR = SpecialFunctions.logGamma(r), psiR = SpecialFunctions.digamma(r)
    let lgAB = SpecialFunctions.logGamma(a + b), lgB = SpecialFunctions.logGamma(b)
    let psiAB = SpecialFunctions.digamma(a + b), psiB = SpecialFunctions.digamma(b)
    for i in 0..<nx {
        let x = table.xValues[i]
        let w = table.xWeights[i]
        rx[i] = r + x
        let xs = x + shift
        value += w * (SpecialFunctions.logGamma(r + x) - lgR + r * logAlpha + lgAB + SpecialFunctions.logGamma(b + xs) - lgB - SpecialFunctions.logGamma(a + b + xs))
        let psiABX = SpecialFunctions.digamma(a + b + xs)
        g[0] += w * r * (SpecialFunctions.digamma(r + x) - psiR + logAlpha)
        g[1] += w * r
        g[2] += w * a * (psiAB - psiABX)
        g[3] += w * b * (psiAB + SpecialFunctions.digamma(b + xs) - psiB - psiABX)
        let denom = b + x - 1 + shift
        if bg && x == 0 {
            c4[i] = -.infinity
            bShare[i] = 0
        } else {
            c4[i] = logA - log(denom)
            bShare[i] = b / denom
        }
    }
    // Per distinct T and t_x.
    let LT = table.TValues.map { log(alpha + $0) }
    let sT = table.TValues.map { alpha / (alpha + $0) }
    let Ltx = table.txValues.map { log(alpha + $0) }
    let stx = table.txValues.map { alpha / (alpha + $0) }
    // Per triple, in chunks: [ll, ∂ln r (÷ r), ∂ln α, ∂ln a, ∂ln b].
    let rxs = rx, c4s = c4, bShares = bShare
    let sums = chunkedSums(count: table.weight.count, width: 5, parallel: parallel) { range in
        var ll = 0.0, gr = 0.0, ga = 0.0, gsig = 0.0, gb = 0.0
        table.xIndex.withUnsafeBufferPointer { xIndex in
            table.TIndex.withUnsafeBufferPointer { TIndex in
                table.txIndex.withUnsafeBufferPointer { txIndex in
                    table.weight.withUnsafeBufferPointer { weight in
                        for k in range {
                            let xi = Int(xIndex[k]), ti = Int(TIndex[k]), si = Int(txIndex[k])
                            let w = weight[k]
                            let n = rxs[xi]
                            let a3 = -n * LT[ti]
                            let d = c4s[xi] - n * Ltx[si] + n * LT[ti]
                            let e = exp(-abs(d))
                            let sp = max(d, 0) + log1p(e)
                            let sigma = d >= 0 ? 1 / (1 + e) : e / (1 + e)
                            ll += w * (a3 + sp)
                            gr -= w * ((1 - sigma) * LT[ti] + sigma * Ltx[si])
                            ga -= w * n * ((1 - sigma) * sT[ti] + sigma * stx[si])
                            gsig += w * sigma
                            gb -= w * sigma * bShares[xi]
                        }
                    }
                }
            }
        }
        return [ll, gr, ga, gsig, gb]
    }
    value += sums[0]
    g[0] += r * sums[1]
    g[1] += sums[2]
    g[2] += sums[3]
    g[3] += sums[4]
    return (value, g)
}
