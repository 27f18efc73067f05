import Foundation

/// The Gamma-Gamma model of the value of activity days (SPEC 5.2).
///
/// A client's activity-day values are Gamma(p, ν) with ν ~ Gamma(q, γ) across clients, so
/// the mean value m̄ of a client's x repeat days has likelihood (Fader, Hardie & Lee 2005,
/// "The Gamma-Gamma Model of Monetary Value", note, eq. 3, written for m̄):
///
///     f(m̄ | p, q, γ, x) = Γ(px+q) / (Γ(px) Γ(q)) · γ^q · m̄^(px−1) · x^(px) / (γ + m̄x)^(px+q)
///
/// It is fitted on clients with x > 0 and m̄ > 0: clients whose repeat-day mean value is
/// ≤ 0 (e.g. refunds) are left out of the fit, and zero-value days count as zero inside
/// the mean. Values are in dollars.
public struct GammaGammaModel: Sendable, Codable, Equatable {
    /// Shape of the per-day value distribution.
    public var p: Double
    /// Shape of the Gamma distribution of the per-client rate ν.
    public var q: Double
    /// Rate of the Gamma distribution of the per-client rate ν.
    public var gamma: Double

    /// A model from its parameters.
    public init(p: Double, q: Double, gamma: Double) {
        self.p = p
        self.q = q
        self.gamma = gamma
    }

    /// The parameter names in the order of the fit's standard errors ("p", "q", "gamma").
    public static let parameterNames = ["p", "q", "gamma"]

    /// True when every parameter is finite and positive.
    public var isValid: Bool {
        [p, q, gamma].allSatisfy { $0.isFinite && $0 > 0 }
    }

    /// The population mean value per activity day, p·γ/(q − 1); nil when q ≤ 1 (infinite).
    public var populationMean: Double? {
        guard isValid, q > 1 else { return nil }
        return p * gamma / (q - 1)
    }

    /// One client's log-likelihood (eq. above, no constant terms dropped); nil when the
    /// client is outside the model (x ≤ 0 or monetary ≤ 0) or the parameters are invalid.
    public func logLikelihood(x: Int, monetary: Double) -> Double? {
        guard isValid, x > 0, monetary.isFinite, monetary > 0 else { return nil }
        let xd = Double(x)
        let px = p * xd
        return SpecialFunctions.logGamma(px + q) - SpecialFunctions.logGamma(px) - SpecialFunctions.logGamma(q) + q * log(gamma) + (px - 1) * log(monetary)
            + px * log(xd) - (px + q) * log(gamma + monetary * xd)
    }

    /// The log-likelihood of the clients the model applies to (x > 0, monetary > 0); the
    /// others are skipped, as in the fit.
    public func logLikelihood(of clients: [ClientSummary]) -> Double {
        var total = 0.0
        for c in clients {
            if let v = logLikelihood(x: c.x, monetary: c.monetary) { total += v }
        }
        return total
    }

    /// The expected mean value per activity day of a client with x repeat days of mean
    /// value `monetary` (dollars), E[M | p, q, γ, m̄, x] = p(γ + x m̄)/(px + q − 1):
    /// a weighted average of the population mean p·γ/(q − 1) and the client's mean.
    ///
    /// For x = 0 (nothing observed) it is the population mean. A client mean ≤ 0 is used as
    /// it is (it pulls the estimate down and can make it ≤ 0). Nil when the expectation is
    /// infinite (px + q ≤ 1, e.g. x = 0 with q ≤ 1) or the parameters are invalid.
    public func expectedValue(x: Int, monetary: Double) -> Double? {
        guard isValid else { return nil }
        guard x > 0, monetary.isFinite else { return populationMean }
        let xd = Double(x)
        let denom = p * xd + q - 1
        guard denom > 0 else { return nil }
        let v = p * (gamma + xd * monetary) / denom
        return v.isFinite ? v : nil
    }

    /// Fits the model by maximum likelihood on the clients with x > 0 and monetary > 0
    /// (`seconds` includes preparing the data).
    public static func fit(to clients: [ClientSummary], options: FitOptions = FitOptions(),
                           start: GammaGammaModel? = nil) -> FitOutcome<GammaGammaModel> {
        let began = Date()
        var outcome = fit(to: ModelFitData(clients, triples: false, pairs: true), options: options, start: start)
        outcome.seconds = Date().timeIntervalSince(began)
        return outcome
    }

    /// Fits the model by maximum likelihood on the prepared data's Gamma-Gamma clients
    /// (x > 0, monetary > 0), with a projected BFGS on ln p, ln q, ln γ within [1e-6, 1e6]
    /// and the analytic gradient.
    ///
    /// - Parameter start: a starting point; by default p = 2, q = 3, γ = the mean of m̄
    ///   (so the population mean pγ/(q − 1) starts at the observed mean).
    public static func fit(to data: ModelFitData, options: FitOptions = FitOptions(),
                           start: GammaGammaModel? = nil) -> FitOutcome<GammaGammaModel> {
        let table = data.pairs
        let initial: [Double]
        if let s = start, s.isValid {
            initial = [s.p, s.q, s.gamma].map { min(max(log($0), logParameterBox.lower), logParameterBox.upper) }
        } else {
            initial = [log(2), log(3), log(min(max(table.meanM, 1e-3), 1e5))]
        }
        return fitLogParameters(
            start: initial, names: parameterNames, clients: table.totalWeight, options: options,
            ll: { phi in gammaGammaLogLikelihood(table, phi, parallel: options.parallel) },
            make: { v in GammaGammaModel(p: v[0], q: v[1], gamma: v[2]) })
    }
}

/// The total Gamma-Gamma log-likelihood at φ = (ln p, ln q, ln γ) and its gradient in φ:
///
///     ∂/∂ln p = p·x[ψ(px+q) − ψ(px) + ln m̄ + ln x − ln(γ + m̄x)]
///     ∂/∂ln q = q[ψ(px+q) − ψ(q) + ln γ − ln(γ + m̄x)]
///     ∂/∂ln γ = q − (px+q)·γ/(γ + m̄x)
func gammaGammaLogLikelihood(_ table: PairTable, _ phi: [Double], parallel: Bool) -> (value: Double, gradient: [Double]) {
    let p = exp(phi[0]), q = exp(phi[1]), gamma = exp(phi[2])
    let logGamma = log(gamma)
    let lgQ = SpecialFunctions.logGamma(q), psiQ = SpecialFunctions.digamma(q)
    var value = 0.0
    var g = [0.0, 0.0, 0.0]
    let nx = table.xValues.count
    var pxs = [Double](repeating: 0, count: nx)
    for i in 0..<nx {
        let x = table.xValues[i]
        let w = table.xWeights[i]
        let px = p * x
        pxs[i] = px
        let psiPXQ = SpecialFunctions.digamma(px + q)
        value += w * (SpecialFunctions.logGamma(px + q) - SpecialFunctions.logGamma(px) - lgQ + q * logGamma + px * log(x))
        g[0] += w * p * x * (psiPXQ - SpecialFunctions.digamma(px) + log(x))
        g[1] += w * q * (psiPXQ - psiQ + logGamma)
        g[2] += w * q
    }
    // Per pair: [ll, Σ w x (ln m̄ − L) (× p), Σ w L (× −q), Σ w (px+q) γ/(γ+m̄x) (× −1)].
    let pxAll = pxs
    let sums = chunkedSums(count: table.weight.count, width: 4, parallel: parallel) { range in
        var ll = 0.0, gp = 0.0, gq = 0.0, gg = 0.0
        for k in range {
            let xi = Int(table.xIndex[k])
            let x = table.xValues[xi]
            let px = pxAll[xi]
            let w = table.weight[k]
            let mx = table.m[k] * x
            let L = log(gamma + mx)
            let lm = table.logM[k]
            ll += w * ((px - 1) * lm - (px + q) * L)
            gp += w * x * (lm - L)
            gq += w * L
            gg += w * (px + q) * gamma / (gamma + mx)
        }
        return [ll, gp, gq, gg]
    }
    value += sums[0]
    g[0] += p * sums[1]
    g[1] -= q * sums[2]
    g[2] -= sums[3]
    return (value, g)
}
