import Foundation

/// Which model of repeat activity (SPEC 5.1).
public enum TransactionModelKind: String, Sendable, Codable, CaseIterable {
    /// BG/NBD (Fader, Hardie & Lee 2005): a client can drop out only right after a repeat
    /// activity day, so a client who never came back is certainly alive.
    case bgnbd
    /// MBG/NBD (Batislam, Denizel & Filiztekin 2007): a client can also drop out right
    /// after the first activity day, so one-time clients may be gone.
    case mbgnbd
}

/// A fitted (or given) BG/NBD or MBG/NBD model of repeat activity days.
///
/// Each client, while alive, has activity days as a Poisson process of rate λ, with
/// λ ~ Gamma(shape r, rate α) across clients; after each activity day (BG/NBD: each repeat
/// one; MBG/NBD: also the first) the client drops out with probability p,
/// p ~ Beta(a, b). Times are in weeks.
///
/// References (formulas implemented here from the papers):
/// - Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005), "'Counting Your Customers' the
///   Easy Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275–284,
///   equations (6) (likelihood) and (10) (conditional expectation); and Fader, Hardie &
///   Lee (2008), "Computing P(alive) Using the BG/NBD Model".
/// - Batislam, E. P., Denizel, M. & Filiztekin, A. (2007), "Empirical validation and
///   comparison of models for customer base analysis", International Journal of Research
///   in Marketing 24(3), 201–209 (MBG/NBD), with Wagner & Hoppe (2008), "Erratum on the
///   MBG/NBD Model", IJRM 25(3), 225–226.
///
/// All predictions require valid parameters (`isValid`; fitted models always are) and
/// return NaN otherwise. Client inputs are sanitised: x < 0 counts as 0, T < 0 as 0, tx is
/// clamped to [0, T], and tx is taken as 0 when x = 0.
public struct TransactionModel: Sendable, Codable, Equatable {
    /// Which model the parameters belong to.
    public var kind: TransactionModelKind
    /// Shape of the Gamma distribution of activity rates.
    public var r: Double
    /// Rate (scale parameter α, in weeks) of the Gamma distribution of activity rates.
    public var alpha: Double
    /// First shape parameter of the Beta distribution of drop-out probabilities.
    public var a: Double
    /// Second shape parameter of the Beta distribution of drop-out probabilities.
    public var b: Double

    /// A model from its parameters.
    public init(kind: TransactionModelKind, r: Double, alpha: Double, a: Double, b: Double) {
        self.kind = kind
        self.r = r
        self.alpha = alpha
        self.a = a
        self.b = b
    }

    /// True when every parameter is finite and positive.
    public var isValid: Bool {
        [r, alpha, a, b].allSatisfy { $0.isFinite && $0 > 0 }
    }

    /// The parameters in the order r, α, a, b.
    var parameters: [Double] { [r, alpha, a, b] }

    /// The parameter names in the order of `parameters` ("r", "alpha", "a", "b").
    public static let parameterNames = ["r", "alpha", "a", "b"]

    /// Sanitised (x, tx, T).
    static func clean(x: Int, tx: Double, T: Double) -> (x: Double, tx: Double, T: Double) {
        let xx = max(x, 0)
        let TT = T.isFinite ? max(T, 0) : 0
        let t = xx == 0 || !tx.isFinite ? 0 : min(max(tx, 0), TT)
        return (Double(xx), t, TT)
    }

    /// ln A₁A₂ of one client's likelihood (the part that does not depend on t_x or T).
    private func logBase(x: Double) -> Double {
        let a1 = SpecialFunctions.logGamma(r + x) - SpecialFunctions.logGamma(r) + r * log(alpha)
        let shift = kind == .bgnbd ? 0.0 : 1.0
        let a2 = SpecialFunctions.logGamma(a + b) + SpecialFunctions.logGamma(b + x + shift) - SpecialFunctions.logGamma(b)
            - SpecialFunctions.logGamma(a + b + x + shift)
        return a1 + a2
    }

    /// ln A₃ and ln A₄ of one client's likelihood (ln A₄ = −∞ when the "dropped out at t_x"
    /// branch is impossible: BG/NBD with x = 0).
    private func logBranches(x: Double, tx: Double, T: Double) -> (alive: Double, dead: Double) {
        let alive = -(r + x) * log(alpha + T)
        let dead: Double
        switch kind {
        case .bgnbd: dead = x > 0 ? log(a) - log(b + x - 1) - (r + x) * log(alpha + tx) : -.infinity
        case .mbgnbd: dead = log(a) - log(b + x) - (r + x) * log(alpha + tx)
        }
        return (alive, dead)
    }

    /// One client's log-likelihood ln L(r, α, a, b | x, t_x, T).
    ///
    /// BG/NBD (FHL 2005, eq. 6): L = A₁·A₂·(A₃ + δ_{x>0}·A₄) with
    /// A₁ = Γ(r+x)αʳ/Γ(r), A₂ = Γ(a+b)Γ(b+x)/(Γ(b)Γ(a+b+x)), A₃ = (α+T)^−(r+x),
    /// A₄ = a/(b+x−1)·(α+t_x)^−(r+x).
    /// MBG/NBD: A₂ = Γ(a+b)Γ(b+x+1)/(Γ(b)Γ(a+b+x+1)), A₄ = a/(b+x)·(α+t_x)^−(r+x), and no
    /// δ_{x>0}: the client may have dropped out right after the first activity day.
    /// No constant terms are added (this is the likelihood the papers report).
    public func logLikelihood(x: Int, tx: Double, T: Double) -> Double {
        guard isValid else { return .nan }
        let c = Self.clean(x: x, tx: tx, T: T)
        let t = logBranches(x: c.x, tx: c.tx, T: c.T)
        let d = t.dead - t.alive
        return logBase(x: c.x) + t.alive + (d == -.infinity ? 0 : SpecialFunctions.softplus(d))
    }

    /// The log-likelihood of a set of clients (the sum over clients).
    public func logLikelihood(of clients: [ClientSummary]) -> Double {
        var total = 0.0
        for c in clients { total += logLikelihood(x: c.x, tx: c.tx, T: c.T) }
        return total
    }

    /// The probability that a client with history (x, t_x, T) is still alive at T.
    ///
    /// BG/NBD: 1 / (1 + δ_{x>0}·a/(b+x−1)·((α+T)/(α+t_x))^(r+x)) — 1 for x = 0.
    /// MBG/NBD: 1 / (1 + a/(b+x)·((α+T)/(α+t_x))^(r+x)) — below 1 even for x = 0.
    public func pAlive(x: Int, tx: Double, T: Double) -> Double {
        guard isValid else { return .nan }
        let c = Self.clean(x: x, tx: tx, T: T)
        let t = logBranches(x: c.x, tx: c.tx, T: c.T)
        if t.dead == -.infinity { return 1 }
        return SpecialFunctions.sigmoid(t.alive - t.dead)
    }

    /// The expected number of repeat activity days in the next `t` weeks for a client with
    /// history (x, t_x, T) (the conditional expectation).
    ///
    /// BG/NBD (FHL 2005, eq. 10):
    ///
    ///     E = (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z)] · P(alive)
    ///
    /// with z = t/(α+T+t). MBG/NBD: (a+b+x)/(a−1) · [1 − (…)^(r+x) ₂F₁(r+x, b+x+1; a+b+x; z)]
    /// · P(alive). ₂F₁ is evaluated after Euler's transformation
    /// ₂F₁(α₁, β₁; γ₁; z) = (1−z)^(γ₁−α₁−β₁) ₂F₁(γ₁−α₁, γ₁−β₁; γ₁; z), which cancels the
    /// (1−z)^(r+x) factor exactly and leaves a series whose terms shrink fast even for
    /// huge x, and the removable singularity at a = 1 is taken out analytically (see
    /// `SpecialFunctions.hypergeometricBracket`). When z is so close to 1 that the series
    /// converges too slowly, the same quantity is integrated over the posterior of p
    /// instead (tanh-sinh quadrature).
    public func expected(t: Double, x: Int, tx: Double, T: Double) -> Double {
        guard isValid else { return .nan }
        guard t.isFinite, t > 0 else { return 0 }
        let c = Self.clean(x: x, tx: tx, T: T)
        let alive = pAlive(x: x, tx: tx, T: T)
        let shift = kind == .bgnbd ? 0.0 : 1.0
        let C = a + b + c.x - 1 + shift
        let A = a + b - 1 - r + shift
        let z = t / (alpha + c.T + t)
        let count: Double
        if let bracket = SpecialFunctions.hypergeometricBracket(A: A, B: a - 1, C: C, z: z) {
            count = C * bracket
        } else {
            count = SpecialFunctions.betaExpectationOfCount(
                a: a, bPrime: b + c.x + shift, n: r + c.x, u: t / (alpha + c.T))
        }
        let value = max(count, 0) * alive
        return value.isFinite ? value : 0
    }

    /// The expected number of repeat activity days in the next `t` weeks for a client.
    public func expected(t: Double, for client: ClientSummary) -> Double {
        expected(t: t, x: client.x, tx: client.tx, T: client.T)
    }
}
