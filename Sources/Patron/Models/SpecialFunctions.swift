import Foundation

/// Special functions for the lifetime-value models, written for this project.
///
/// `lgamma` comes from the C library; everything else is here.
enum SpecialFunctions {
    /// The digamma function ψ(x) = d/dx ln Γ(x), for x > 0 (and non-integer x < 0 by reflection).
    ///
    /// Shifts x to at least 10 with ψ(x) = ψ(x + 1) − 1/x, then uses the asymptotic series
    /// ψ(x) ~ ln x − 1/(2x) − 1/(12x²) + 1/(120x⁴) − 1/(252x⁶) + 1/(240x⁸) − 1/(132x¹⁰)
    /// + 691/(32760x¹²), whose next term is below 1e-15 there.
    static func digamma(_ value: Double) -> Double {
        guard value.isFinite else { return value == .infinity ? .infinity : .nan }
        var x = value
        var result = 0.0
        if x <= 0 {
            if x == x.rounded(.down) { return .nan }
            result = -Double.pi / tan(Double.pi * x)
            x = 1 - x
        }
        while x < 10 {
            result -= 1 / x
            x += 1
        }
        let f = 1 / (x * x)
        let tail = f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132 - f * 691 / 32760)))))
        return result + log(x) - 0.5 / x - tail
    }

    /// ln Γ(x) for x > 0 (the C library's `lgamma`).
    static func logGamma(_ x: Double) -> Double {
        Foundation.lgamma(x)
    }

    /// ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b).
    static func logBeta(_ a: Double, _ b: Double) -> Double {
        logGamma(a) + logGamma(b) - logGamma(a + b)
    }

    /// ln(1 + eˣ) without overflow or loss of precision.
    static func softplus(_ x: Double) -> Double {
        max(x, 0) + log1p(exp(-abs(x)))
    }

    /// 1 / (1 + e⁻ˣ) without overflow.
    static func sigmoid(_ x: Double) -> Double {
        let e = exp(-abs(x))
        return x >= 0 ? 1 / (1 + e) : e / (1 + e)
    }

    /// The bracket of the BG/NBD-family conditional expectation divided by B:
    ///
    ///     [1 − (1 − z)^B · ₂F₁(A, B; C; z)] / B
    ///
    /// for 0 ≤ z < 1, B > −1, C > 0. Writing ₂F₁ = 1 + B·G with
    /// G = Σ_{k≥1} (A)_k (B+1)_{k−1} / ((C)_k k!) zᵏ removes the 0/0 at B = 0 (a = 1 in the
    /// models): the value is −expm1(B·L)/B − e^{B·L}·G with L = ln(1 − z).
    /// Returns nil when the series has not converged within `maxTerms` terms (z very
    /// close to 1) or overflows; callers then integrate instead.
    static func hypergeometricBracket(A: Double, B: Double, C: Double, z: Double, maxTerms: Int = 20_000) -> Double? {
        guard z > 0 else { return 0 }
        guard z < 1 else { return nil }
        let L = log1p(-z)
        let head = B == 0 ? -L : -expm1(B * L) / B
        // Σ of G; terms are monotone once k exceeds |A| and |B|, and their ratio tends to z.
        var term = A * z / C
        var sum = term
        var k = 1.0
        var converged = term == 0
        var n = 1
        while !converged && n < maxTerms {
            term *= (A + k) * (B + k) / ((C + k) * (k + 1)) * z
            sum += term
            k += 1
            n += 1
            if !sum.isFinite { return nil }
            if term == 0 || (k > abs(A) + 1 && k > abs(B) + 1 && abs(term) <= 1e-17 * abs(sum) * (1 - z)) {
                converged = true
            }
        }
        guard converged else { return nil }
        let value = head - exp(B * L) * sum
        return value.isFinite ? value : nil
    }

    /// E over p ~ Beta(a, b′) of (1 − (1 + p·u)^(−n)) / p, by tanh-sinh (double exponential)
    /// quadrature on (0, 1), which tolerates the p^(a−1) endpoint singularity.
    ///
    /// This is the same quantity as `C · hypergeometricBracket` in the conditional
    /// expectation (the expected future count of a customer known to be alive), used when
    /// the series converges too slowly. Everything is in log space.
    static func betaExpectationOfCount(a: Double, bPrime: Double, n: Double, u: Double) -> Double {
        let logNorm = -logBeta(a, bPrime)
        func integrand(_ tau: Double) -> Double {
            let s = Double.pi * sinh(tau)
            let logP = -softplus(-s)
            let log1mP = -softplus(s)
            let p = exp(logP)
            let g: Double
            if p * u < 1e-12 {
                g = n * u  // limit of (1 − (1 + p u)^−n) / p as p → 0
            } else {
                g = -expm1(-n * log1p(p * u)) / p
            }
            let logWeight = a * logP + bPrime * log1mP + logNorm + log(Double.pi * cosh(tau))
            let v = exp(logWeight) * g
            return v.isFinite ? v : 0
        }
        let tauMax = 6.5
        var h = 0.5
        var sum = integrand(0)
        var tau = h
        while tau <= tauMax {
            sum += integrand(tau) + integrand(-tau)
            tau += h
        }
        var estimate = sum * h
        for _ in 0..<9 {
            // Halve the step: add the midpoints.
            var mid = 0.0
            tau = h / 2
            while tau <= tauMax {
                mid += integrand(tau) + integrand(-tau)
                tau += h
            }
            sum += mid
            h /= 2
            let next = sum * h
            let done = abs(next - estimate) <= 1e-13 * abs(next)
            estimate = next
            if done { break }
        }
        return estimate
    }
}
