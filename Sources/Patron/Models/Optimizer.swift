import Foundation

/// A box-constrained quasi-Newton minimiser (projected BFGS with a backtracking Armijo
/// line search) and a finite-difference Hessian, for the model fits.
///
/// The models are fitted in log-parameters, where the box is [ln 1e-6, ln 1e6].
struct BoxedBFGS {
    /// The objective: value and gradient at a point. Non-finite values are treated as
    /// "outside the domain" by the line search.
    typealias Objective = ([Double]) -> (value: Double, gradient: [Double])

    /// How a minimisation ended.
    struct Result {
        var point: [Double]
        var value: Double
        var gradient: [Double]
        var iterations: Int
        var converged: Bool
        /// Why it did not converge (nil when it did).
        var reason: String?
        /// Indices of coordinates that ended on a bound with the gradient pushing outward.
        var atBound: [Int]
    }

    var lower: [Double]
    var upper: [Double]
    var maxIterations: Int
    /// Converged when every free component of the projected gradient is at most this.
    var gradientTolerance: Double
    /// Largest step in any coordinate per iteration (log units).
    var maxStep: Double = 3

    func minimize(_ f: Objective, from start: [Double]) -> Result {
        let n = start.count
        var x = clamp(start)
        var (fx, g) = f(x)
        guard fx.isFinite, g.allSatisfy(\.isFinite) else {
            return Result(point: x, value: fx, gradient: g, iterations: 0, converged: false,
                          reason: "the likelihood is not finite at the starting point", atBound: [])
        }
        var H = SmallMatrix.identity(n)
        var scaled = false
        var iteration = 0
        while true {
            let active = activeSet(x, g)
            var pg = g
            for i in active { pg[i] = 0 }
            let pgMax = pg.map(abs).max() ?? 0
            if pgMax <= gradientTolerance {
                return Result(point: x, value: fx, gradient: g, iterations: iteration, converged: true,
                              reason: nil, atBound: active)
            }
            if iteration >= maxIterations {
                return Result(point: x, value: fx, gradient: g, iterations: iteration, converged: false,
                              reason: "no convergence within \(maxIterations) iterations (largest gradient component \(pgMax))",
                              atBound: active)
            }
            iteration += 1
            var d = SmallMatrix.multiply(H, pg).map { -$0 }
            for i in active { d[i] = 0 }
            if SmallMatrix.dot(d, pg) >= 0 {
                H = SmallMatrix.identity(n)
                scaled = false
                d = pg.map { -$0 }
            }
            let longest = d.map(abs).max() ?? 0
            if longest > maxStep { d = d.map { $0 * maxStep / longest } }
            // Backtracking line search along the projected path.
            var t = 1.0
            var accepted: (x: [Double], f: Double, g: [Double])?
            for _ in 0..<60 {
                let xn = clamp(zip(x, d).map { $0 + t * $1 })
                let step = zip(xn, x).map { $0 - $1 }
                if step.allSatisfy({ $0 == 0 }) { break }
                let (fn, gn) = f(xn)
                if fn.isFinite, gn.allSatisfy(\.isFinite) {
                    // Armijo's sufficient decrease; or, near the optimum where changes of f
                    // drown in rounding, no increase beyond rounding and a smaller gradient
                    // (the analytic gradient stays accurate there).
                    let armijo = fn <= fx + 1e-4 * SmallMatrix.dot(g, step)
                    let noise = 1e-13 * max(1, abs(fx))
                    let flatButBetter = fn <= fx + noise && projectedMax(xn, gn) < 0.5 * pgMax
                    if armijo || flatButBetter {
                        accepted = (xn, fn, gn)
                        break
                    }
                }
                t *= fn.isFinite ? 0.5 : 0.1
            }
            guard let next = accepted else {
                // No decrease possible at machine precision: accept when close enough.
                let ok = pgMax <= 1000 * gradientTolerance
                return Result(point: x, value: fx, gradient: g, iterations: iteration, converged: ok,
                              reason: ok ? nil : "the line search found no decrease (largest gradient component \(pgMax))",
                              atBound: active)
            }
            let s = zip(next.x, x).map { $0 - $1 }
            let y = zip(next.g, g).map { $0 - $1 }
            let sy = SmallMatrix.dot(s, y)
            if sy > 1e-12 * (SmallMatrix.dot(s, s).squareRoot() * SmallMatrix.dot(y, y).squareRoot()) {
                if !scaled {
                    let gamma = sy / SmallMatrix.dot(y, y)
                    H = SmallMatrix.identity(n).map { $0.map { $0 * gamma } }
                    scaled = true
                }
                H = bfgsUpdate(H, s: s, y: y, sy: sy)
            }
            x = next.x
            fx = next.f
            g = next.g
        }
    }

    private func clamp(_ x: [Double]) -> [Double] {
        x.indices.map { min(max(x[$0], lower[$0]), upper[$0]) }
    }

    private func projectedMax(_ x: [Double], _ g: [Double]) -> Double {
        var pg = g
        for i in activeSet(x, g) { pg[i] = 0 }
        return pg.map(abs).max() ?? 0
    }

    private func activeSet(_ x: [Double], _ g: [Double]) -> [Int] {
        x.indices.filter { (x[$0] <= lower[$0] && g[$0] > 0) || (x[$0] >= upper[$0] && g[$0] < 0) }
    }

    /// H⁺ = (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ with ρ = 1 / (yᵀ s).
    private func bfgsUpdate(_ H: [[Double]], s: [Double], y: [Double], sy: Double) -> [[Double]] {
        let n = s.count
        let rho = 1 / sy
        let Hy = SmallMatrix.multiply(H, y)
        let yHy = SmallMatrix.dot(y, Hy)
        var out = H
        for i in 0..<n {
            for j in 0..<n {
                out[i][j] += -rho * (Hy[i] * s[j] + s[i] * Hy[j]) + (rho * rho * yHy + rho) * s[i] * s[j]
            }
        }
        return out
    }
}

/// Small dense linear algebra for the fits (n ≤ 4).
enum SmallMatrix {
    static func identity(_ n: Int) -> [[Double]] {
        (0..<n).map { i in (0..<n).map { $0 == i ? 1 : 0 } }
    }

    static func dot(_ a: [Double], _ b: [Double]) -> Double {
        var s = 0.0
        for i in a.indices { s += a[i] * b[i] }
        return s
    }

    static func multiply(_ m: [[Double]], _ v: [Double]) -> [Double] {
        m.map { dot($0, v) }
    }

    /// The inverse of a symmetric positive-definite matrix by Cholesky; nil when it is not
    /// positive definite (or not finite).
    static func inverseSPD(_ m: [[Double]]) -> [[Double]]? {
        let n = m.count
        var L = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for i in 0..<n {
            for j in 0...i {
                var s = m[i][j]
                for k in 0..<j { s -= L[i][k] * L[j][k] }
                if i == j {
                    guard s > 0, s.isFinite else { return nil }
                    L[i][i] = s.squareRoot()
                } else {
                    L[i][j] = s / L[j][j]
                }
            }
        }
        // Invert L (lower triangular), then M⁻¹ = L⁻ᵀ L⁻¹.
        var Li = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for i in 0..<n {
            Li[i][i] = 1 / L[i][i]
            for j in 0..<i {
                var s = 0.0
                for k in j..<i { s -= L[i][k] * Li[k][j] }
                Li[i][j] = s / L[i][i]
            }
        }
        var inv = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for i in 0..<n {
            for j in 0..<n {
                var s = 0.0
                for k in max(i, j)..<n { s += Li[k][i] * Li[k][j] }
                inv[i][j] = s
            }
        }
        return inv.allSatisfy({ $0.allSatisfy(\.isFinite) }) ? inv : nil
    }

    /// Standard errors of the natural parameters θ = exp(φ) from the gradient of the total
    /// negative log-likelihood in log-parameters φ: the Hessian in φ by central differences of
    /// that gradient, inverted, then the delta method SE(θᵢ) = θᵢ · √[(H⁻¹)ᵢᵢ] (exact at an
    /// optimum, where the gradient vanishes). Nil when the Hessian is singular or not positive
    /// definite.
    static func standardErrors(logPoint phi: [Double], totalGradient: ([Double]) -> [Double]) -> [Double]? {
        let n = phi.count
        let h = 1e-4
        var H = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for j in 0..<n {
            var up = phi, down = phi
            up[j] += h
            down[j] -= h
            let gu = totalGradient(up), gd = totalGradient(down)
            for i in 0..<n { H[i][j] = (gu[i] - gd[i]) / (2 * h) }
        }
        for i in 0..<n {
            for j in 0..<i {
                let m = (H[i][j] + H[j][i]) / 2
                H[i][j] = m
                H[j][i] = m
            }
        }
        guard let cov = inverseSPD(H) else { return nil }
        let se = (0..<n).map { exp(phi[$0]) * cov[$0][$0].squareRoot() }
        return se.allSatisfy(\.isFinite) ? se : nil
    }
}
