import Foundation
import Testing
@testable import Patron

// MARK: - Helpers

/// Samplers for the simulations, on the suite's seeded generator.
extension SeededRandom {
    /// Uniform in (0, 1).
    mutating func uniform() -> Double { (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992 }
    mutating func normal() -> Double {
        let u = uniform(), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }
    /// Gamma(shape, rate 1): Marsaglia & Tsang (2000); shape < 1 by Gamma(shape + 1)·U^(1/shape).
    mutating func gamma(_ shape: Double) -> Double {
        if shape < 1 { return gamma(shape + 1) * pow(uniform(), 1 / shape) }
        let d = shape - 1.0 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            var x: Double, v: Double
            repeat {
                x = normal()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = uniform()
            if log(u) < 0.5 * x * x + d - d * v + d * log(v) { return d * v }
        }
    }
    mutating func beta(_ a: Double, _ b: Double) -> Double {
        let g1 = gamma(a), g2 = gamma(b)
        return g1 / (g1 + g2)
    }
    mutating func exponential(rate: Double) -> Double { -log(uniform()) / rate }
}

/// Simulates clients of a BG/NBD or MBG/NBD population with T uniform in [minT, maxT] weeks.
private func simulateTransactions(_ truth: TransactionModel, clients: Int, seed: UInt64, minT: Double = 10,
                                  maxT: Double = 70) -> [ClientSummary] {
    var rng = SeededRandom(seed: seed)
    var out: [ClientSummary] = []
    out.reserveCapacity(clients)
    for _ in 0..<clients {
        let lambda = rng.gamma(truth.r) / truth.alpha
        let p = rng.beta(truth.a, truth.b)
        let T = minT + (maxT - minT) * rng.uniform()
        var x = 0, tx = 0.0, t = 0.0
        var alive = truth.kind == .bgnbd || rng.uniform() >= p  // MBG/NBD: may drop out at once
        while alive {
            t += rng.exponential(rate: lambda)
            if t > T { break }
            x += 1
            tx = t
            if rng.uniform() < p { alive = false }
        }
        out.append(ClientSummary(x: x, tx: tx, T: T))
    }
    return out
}

/// CDNOW (Fader, Hardie & Lee 2005): same-day purchases merged, today = 1997-09-30.
private func cdnowSummaries() throws -> [ClientSummary] {
    let url = try #require(Bundle.module.url(forResource: "cdnow_sample_purchases", withExtension: "csv",
                                             subdirectory: "Fixtures"))
    let text = try String(contentsOf: url, encoding: .utf8)
    let today = Int(day("1997-09-30"))
    var perClient: [String: [Int: Int64]] = [:]
    for line in text.split(separator: "\n").dropFirst() {
        let f = line.split(separator: ",", omittingEmptySubsequences: false)
        guard f.count == 3 else { continue }
        let d = Int(day(String(f[1])))
        guard d <= today else { continue }
        let cents = try #require(Money(parsing: String(f[2]))).cents
        perClient[String(f[0]), default: [:]][d, default: 0] += cents
    }
    #expect(perClient.count == 2357)
    return try perClient.values.map { days in
        let sorted = days.keys.sorted()
        return try #require(ClientSummary(activityDays: sorted, valuesInCents: sorted.map { days[$0] ?? 0 }, today: today))
    }
}

private func within(_ value: Double, _ target: Double, relative: Double) -> Bool {
    abs(value - target) <= relative * abs(target)
}

private let publishedBGNBD = TransactionModel(kind: .bgnbd, r: 0.243, alpha: 4.414, a: 0.793, b: 2.426)

// MARK: - Tests

@Suite("ModelFit")
struct ModelFitTests {
    @Test("ClientSummary from activity days: x, t_x, T in weeks, mean of repeat-day values")
    func summaryFromDays() throws {
        let s = try #require(ClientSummary(activityDays: [10, 17, 24, 40], valuesInCents: [1000, 500, 0, 9900], today: 31))
        #expect(s.x == 2)
        #expect(s.tx == 2)
        #expect(s.T == 3)
        #expect(s.monetary == 2.5)  // (5.00 + 0.00) / 2; the first day and the day after today are out
        let one = try #require(ClientSummary(activityDays: [31], valuesInCents: [1234], today: 31))
        #expect(one == ClientSummary(x: 0, tx: 0, T: 0, monetary: 0))
        // Unsorted days with a duplicate are sorted and merged.
        let messy = try #require(ClientSummary(activityDays: [24, 10, 24], valuesInCents: [100, 700, -300], today: 24))
        #expect(messy == ClientSummary(x: 1, tx: 2, T: 2, monetary: -2))
        #expect(ClientSummary(activityDays: [50], valuesInCents: [1], today: 49) == nil)
        #expect(ClientSummary(activityDays: [], valuesInCents: [], today: 49) == nil)
    }

    @Test("Digamma and the hypergeometric bracket agree with independent computations")
    func specialFunctions() {
        // ψ(1) = −γ_E, ψ(1/2) = −γ_E − 2 ln 2, ψ(x+1) = ψ(x) + 1/x.
        let euler = 0.577_215_664_901_532_9
        #expect(abs(SpecialFunctions.digamma(1) + euler) < 1e-14)
        #expect(abs(SpecialFunctions.digamma(0.5) + euler + 2 * log(2.0)) < 1e-14)
        #expect(abs(SpecialFunctions.digamma(1e-6) - SpecialFunctions.digamma(1 + 1e-6) + 1e6) < 1e-6)
        #expect(abs(SpecialFunctions.digamma(1e6) - (log(1e6) - 0.5e-6)) < 1e-12)
        // The series (after Euler's transformation) and the integral over the posterior of
        // p give the same conditional expectation, for both models.
        for kind in TransactionModelKind.allCases {
            for (a, b, x, z) in [(0.793, 2.426, 0, 0.5), (0.793, 2.426, 2, 0.8), (2.5, 1.2, 7, 0.95), (1.0, 3.0, 1, 0.6),
                                 (0.793, 2.426, 0, 0.99), (0.6, 2.5, 10_000, 0.9), (1.0 + 1e-9, 3.0, 4, 0.7)] {
                let model = TransactionModel(kind: kind, r: 0.243, alpha: 4.414, a: a, b: b)
                let T = 30.0, tx = x > 0 ? 20.0 : 0
                let t = z / (1 - z) * (model.alpha + T)  // z = t/(α+T+t)
                let series = model.expected(t: t, x: x, tx: tx, T: T)
                let shift = kind == .bgnbd ? 0.0 : 1.0
                let integral = model.pAlive(x: x, tx: tx, T: T) * SpecialFunctions.betaExpectationOfCount(
                    a: a, bPrime: b + Double(x) + shift, n: model.r + Double(x), u: t / (model.alpha + T))
                #expect(abs(series - integral) <= 1e-9 * abs(integral), "\(kind) a=\(a) b=\(b) x=\(x) z=\(z): \(series) vs \(integral)")
            }
        }
        // At a = 1 exactly the 1/(a − 1) factor's 0/0 is removed analytically: continuous there.
        let below = TransactionModel(kind: .bgnbd, r: 0.5, alpha: 4, a: 1 - 1e-7, b: 2).expected(t: 39, x: 2, tx: 20, T: 30)
        let at = TransactionModel(kind: .bgnbd, r: 0.5, alpha: 4, a: 1, b: 2).expected(t: 39, x: 2, tx: 20, T: 30)
        #expect(abs(below - at) < 1e-6 && at > 0)
    }

    @Test("Analytic gradients match finite differences; parallel and serial sums are identical")
    func gradients() {
        let clients = simulateTransactions(TransactionModel(kind: .bgnbd, r: 0.5, alpha: 8, a: 0.6, b: 2.5),
                                           clients: 40_000, seed: 7)
        let data = ModelFitData(clients)
        let phi = [log(0.7), log(5.0), log(0.9), log(3.1)]
        for kind in TransactionModelKind.allCases {
            let (v, g) = transactionLogLikelihood(kind, data.triples, phi, parallel: true)
            let serial = transactionLogLikelihood(kind, data.triples, phi, parallel: false)
            #expect(v == serial.value && g == serial.gradient)
            let direct = TransactionModel(kind: kind, r: 0.7, alpha: 5, a: 0.9, b: 3.1).logLikelihood(of: clients)
            #expect(abs(v - direct) <= 1e-9 * abs(direct))
            for i in 0..<4 {
                var up = phi, down = phi
                up[i] += 1e-6
                down[i] -= 1e-6
                let numeric = (transactionLogLikelihood(kind, data.triples, up, parallel: false).value
                    - transactionLogLikelihood(kind, data.triples, down, parallel: false).value) / 2e-6
                #expect(abs(numeric - g[i]) <= 1e-5 * max(1, abs(g[i])), "\(kind) ∂\(i): \(g[i]) vs \(numeric)")
            }
        }
        let gg = ModelFitData((0..<500).map { ClientSummary(x: 1 + $0 % 9, tx: 1, T: 2, monetary: 3 + Double($0 % 37)) })
        let psi = [log(4.0), log(3.0), log(12.0)]
        let (v, g) = gammaGammaLogLikelihood(gg.pairs, psi, parallel: false)
        for i in 0..<3 {
            var up = psi, down = psi
            up[i] += 1e-6
            down[i] -= 1e-6
            let numeric = (gammaGammaLogLikelihood(gg.pairs, up, parallel: false).value
                - gammaGammaLogLikelihood(gg.pairs, down, parallel: false).value) / 2e-6
            #expect(abs(numeric - g[i]) <= 1e-5 * max(1, abs(g[i])), "GG ∂\(i): \(g[i]) vs \(numeric)")
        }
        #expect(v.isFinite)
    }

    @Test("CDNOW: BG/NBD, MBG/NBD and Gamma-Gamma reproduce the published fits")
    func cdnow() throws {
        let summaries = try cdnowSummaries()
        let data = ModelFitData(summaries)
        #expect(data.clients == 2357)

        let bg = TransactionModel.fit(.bgnbd, to: data)
        #expect(bg.converged, "\(bg.reason ?? "")")
        let m = bg.model
        #expect(within(m.r, 0.243, relative: 0.005), "r = \(m.r)")
        #expect(within(m.alpha, 4.414, relative: 0.005), "α = \(m.alpha)")
        #expect(within(m.a, 0.793, relative: 0.005), "a = \(m.a)")
        #expect(within(m.b, 2.426, relative: 0.005), "b = \(m.b)")
        #expect(abs(bg.logLikelihood - -9582.4) < 0.1, "LL = \(bg.logLikelihood)")
        #expect(bg.standardErrors?.count == 4)
        // The fitted LL equals the per-client formula summed directly.
        #expect(abs(m.logLikelihood(of: summaries) - bg.logLikelihood) < 1e-6)

        // Published per-customer check: x = 2, t_x = 30.43, T = 38.86 → 1.226 in 39 weeks.
        for model in [publishedBGNBD, m] {
            let e = model.expected(t: 39, x: 2, tx: 30.43, T: 38.86)
            #expect(abs(e - 1.226) < 0.0005, "E = \(e)")
        }

        let mbg = TransactionModel.fit(.mbgnbd, to: data)
        #expect(mbg.converged, "\(mbg.reason ?? "")")
        #expect(mbg.logLikelihood.isFinite && mbg.logLikelihood < 0)
        #expect(mbg.model.isValid)
        #expect(mbg.model.pAlive(x: 0, tx: 0, T: 38) < 1)

        let gg = GammaGammaModel.fit(to: data)
        #expect(gg.converged, "\(gg.reason ?? "")")
        #expect(within(gg.model.p, 6.25, relative: 0.01), "p = \(gg.model.p)")
        #expect(within(gg.model.q, 3.74, relative: 0.01), "q = \(gg.model.q)")
        #expect(within(gg.model.gamma, 15.44, relative: 0.01), "γ = \(gg.model.gamma)")
    }

    @Test("Parameter recovery: simulated BG/NBD and MBG/NBD populations are fitted back within sampling error")
    func transactionRecovery() throws {
        // 30,000 clients per model; each estimate must lie within 4 of its own standard
        // errors of the truth (|z| < 4 for 8 estimates fails by chance with p ≈ 5e-4; the
        // data are fixed by the seed, so the check is deterministic). The standard errors
        // themselves must be small enough (< 25% of the value) for the check to mean something.
        let truths = [
            TransactionModel(kind: .bgnbd, r: 0.5, alpha: 8, a: 0.6, b: 2.5),
            TransactionModel(kind: .mbgnbd, r: 0.8, alpha: 6, a: 0.8, b: 4),
        ]
        for (i, truth) in truths.enumerated() {
            let clients = simulateTransactions(truth, clients: 30_000, seed: 1000 + UInt64(i))
            let fit = TransactionModel.fit(truth.kind, to: clients)
            #expect(fit.converged, "\(fit.reason ?? "")")
            let se = try #require(fit.standardErrors)
            for (j, name) in TransactionModel.parameterNames.enumerated() {
                let estimate = fit.model.parameters[j], target = truth.parameters[j]
                #expect(se[j] > 0 && se[j] < 0.25 * target, "\(truth.kind) \(name) SE \(se[j])")
                #expect(abs(estimate - target) < 4 * se[j], "\(truth.kind) \(name) = \(estimate) ± \(se[j]), truth \(target)")
            }
        }
    }

    @Test("Parameter recovery: simulated Gamma-Gamma values are fitted back within sampling error")
    func gammaGammaRecovery() throws {
        let truth = GammaGammaModel(p: 6, q: 4, gamma: 15)
        var rng = SeededRandom(seed: 99)
        var clients: [ClientSummary] = []
        for _ in 0..<10_000 {
            let x = 1 + Int(rng.uniform() * 8)
            let nu = rng.gamma(truth.q) / truth.gamma
            var total = 0.0
            for _ in 0..<x { total += rng.gamma(truth.p) / nu }
            clients.append(ClientSummary(x: x, tx: 1, T: 2, monetary: total / Double(x)))
        }
        let fit = GammaGammaModel.fit(to: clients)
        #expect(fit.converged, "\(fit.reason ?? "")")
        let se = try #require(fit.standardErrors)
        let est = [fit.model.p, fit.model.q, fit.model.gamma], target = [truth.p, truth.q, truth.gamma]
        for j in 0..<3 {
            #expect(abs(est[j] - target[j]) < 4 * se[j], "\(GammaGammaModel.parameterNames[j]) = \(est[j]) ± \(se[j])")
        }
        // The conditional expectation is a weighted average of the population and client means.
        let pop = try #require(fit.model.populationMean)
        let e = try #require(fit.model.expectedValue(x: 3, monetary: 40))
        #expect(min(pop, 40) < e && e < max(pop, 40))
        #expect(fit.model.expectedValue(x: 0, monetary: 0) == pop)
    }

    @Test("Predictions stay finite and in range for extreme inputs")
    func extremePredictions() {
        for kind in TransactionModelKind.allCases {
            for model in [TransactionModel(kind: kind, r: 0.243, alpha: 4.414, a: 0.793, b: 2.426),
                          TransactionModel(kind: kind, r: 1e-6, alpha: 1e-6, a: 1e6, b: 1e-6),
                          TransactionModel(kind: kind, r: 1e6, alpha: 1e6, a: 1e-6, b: 1e6),
                          TransactionModel(kind: kind, r: 2, alpha: 3, a: 1, b: 2)] {
                let cases: [(Int, Double, Double)] = [(0, 0, 0), (0, 0, 52), (10_000, 50, 52), (10_000, 0, 52),
                                                      (1, 0, 0), (3, 5, 5), (-2, 4, 3), (5, 10, 3)]
                for (x, tx, T) in cases {
                    let p = model.pAlive(x: x, tx: tx, T: T)
                    #expect(p.isFinite && p >= 0 && p <= 1, "\(model) pAlive(\(x), \(tx), \(T)) = \(p)")
                    if kind == .bgnbd && max(x, 0) == 0 { #expect(p == 1) }
                    for t in [0.0, 1, 39, 520, 1e6] {
                        let e = model.expected(t: t, x: x, tx: tx, T: T)
                        #expect(e.isFinite && e >= 0, "\(model) E(\(t) | \(x), \(tx), \(T)) = \(e)")
                    }
                    #expect(model.logLikelihood(x: x, tx: tx, T: T).isFinite)
                }
            }
        }
        // MBG/NBD: a one-time client may already be gone; BG/NBD says never.
        let mbg = TransactionModel(kind: .mbgnbd, r: 0.243, alpha: 4.414, a: 0.793, b: 2.426)
        #expect(mbg.pAlive(x: 0, tx: 0, T: 0) < 1)
        #expect(publishedBGNBD.pAlive(x: 0, tx: 0, T: 30) == 1)
        // Expectations grow with the horizon.
        let e1 = publishedBGNBD.expected(t: 10, x: 3, tx: 20, T: 30)
        let e2 = publishedBGNBD.expected(t: 20, x: 3, tx: 20, T: 30)
        #expect(0 < e1 && e1 < e2)
        #expect(TransactionModel(kind: .bgnbd, r: -1, alpha: 1, a: 1, b: 1).expected(t: 1, x: 1, tx: 1, T: 1).isNaN)
    }

    @Test("Robust fits: huge x, T = 0, only one-time clients, one client, zero and negative values, forced non-convergence")
    func robustFits() {
        func finite(_ o: FitOutcome<TransactionModel>) -> Bool {
            o.logLikelihood.isFinite && o.model.parameters.allSatisfy { $0.isFinite && $0 > 0 }
                && (o.standardErrors ?? []).allSatisfy(\.isFinite)
        }
        let base = simulateTransactions(TransactionModel(kind: .bgnbd, r: 0.5, alpha: 8, a: 0.6, b: 2.5), clients: 2_000, seed: 3)
        let extra = [ClientSummary(x: 10_000, tx: 51, T: 52), ClientSummary(x: 0, tx: 0, T: 0), ClientSummary(x: 0, tx: 0, T: 0)]
        let oneTime = (0..<300).map { ClientSummary(x: 0, tx: 0, T: Double($0 % 50)) }
        for kind in TransactionModelKind.allCases {
            let withExtremes = TransactionModel.fit(kind, to: base + extra)
            #expect(finite(withExtremes))
            #expect(withExtremes.converged, "\(withExtremes.reason ?? "")")

            let none = TransactionModel.fit(kind, to: oneTime)
            #expect(finite(none))
            if !none.converged { #expect(none.reason != nil) }
            #expect(!none.converged, "one-time clients only should not identify \(kind): \(none.model)")

            let single = TransactionModel.fit(kind, to: [ClientSummary(x: 3, tx: 10, T: 20)])
            #expect(finite(single))
            if !single.converged { #expect(single.reason != nil) }

            let empty = TransactionModel.fit(kind, to: [])
            #expect(!empty.converged && empty.reason != nil && empty.logLikelihood == 0)

            let forced = TransactionModel.fit(kind, to: base, options: FitOptions(maxIterations: 2))
            #expect(!forced.converged)
            #expect(forced.reason?.contains("2 iterations") == true)
            #expect(finite(forced) && forced.standardErrors == nil)
        }
        // Gamma-Gamma: zero-value and refund-dominated clients are left out of the fit.
        var rng = SeededRandom(seed: 5)
        var money: [ClientSummary] = (0..<400).map { _ in
            ClientSummary(x: 2, tx: 1, T: 2, monetary: 5 + 30 * rng.uniform())
        }
        money.append(ClientSummary(x: 3, tx: 1, T: 2, monetary: 0))
        money.append(ClientSummary(x: 1, tx: 1, T: 2, monetary: -12))
        money.append(ClientSummary(x: 0, tx: 0, T: 2, monetary: 0))
        let data = ModelFitData(money)
        #expect(data.gammaGammaClients == 400)
        let gg = GammaGammaModel.fit(to: data)
        #expect(gg.logLikelihood.isFinite && gg.model.isValid)
        #expect(gg.model.expectedValue(x: 1, monetary: -12)?.isFinite == true)
        #expect(GammaGammaModel(p: 1, q: 0.5, gamma: 1).expectedValue(x: 0, monetary: 0) == nil)
        let nothing = GammaGammaModel.fit(to: [ClientSummary(x: 0, tx: 0, T: 1)])
        #expect(!nothing.converged && nothing.reason != nil)
        let oneGG = GammaGammaModel.fit(to: [ClientSummary(x: 2, tx: 1, T: 2, monetary: 10)])
        #expect(oneGG.logLikelihood.isFinite && oneGG.model.isValid)
        let forced = GammaGammaModel.fit(to: data, options: FitOptions(maxIterations: 2))
        #expect(!forced.converged && forced.reason != nil)
    }
}
