import Foundation

/// Settings of a maximum-likelihood fit.
public struct FitOptions: Sendable {
    /// Most quasi-Newton iterations before giving up (converged = false).
    public var maxIterations: Int
    /// Converged when every component of the gradient of the mean log-likelihood per
    /// client, with respect to the log-parameters, is at most this in absolute value.
    public var gradientTolerance: Double
    /// Whether to compute standard errors (a few extra likelihood evaluations).
    public var standardErrors: Bool
    /// Whether the likelihood sum may use several cores. The result is identical either way:
    /// the data are split into fixed chunks summed in a fixed order.
    public var parallel: Bool

    /// Options with defaults suitable for the models here.
    public init(maxIterations: Int = 200, gradientTolerance: Double = 1e-9, standardErrors: Bool = true, parallel: Bool = true) {
        self.maxIterations = maxIterations
        self.gradientTolerance = gradientTolerance
        self.standardErrors = standardErrors
        self.parallel = parallel
    }
}

/// The result of fitting a model by maximum likelihood. It never carries NaN: a fit that
/// fails reports `converged == false` with a `reason` and the best finite point it reached.
public struct FitOutcome<Model: Sendable & Equatable>: Sendable, Equatable {
    /// The fitted model (the best point reached when not converged).
    public var model: Model
    /// Standard errors of the parameters, in the order of the model's `parameterNames`,
    /// from the inverse of the Hessian of the negative log-likelihood at the optimum
    /// (central differences of the analytic gradient); nil when that Hessian is singular
    /// or not positive definite, when the fit did not converge, or when not asked for.
    public var standardErrors: [Double]?
    /// The maximised log-likelihood (sum over the clients fitted).
    public var logLikelihood: Double
    /// Quasi-Newton iterations used.
    public var iterations: Int
    /// Whether the optimiser met its convergence test at an interior point.
    public var converged: Bool
    /// Why the fit did not converge (nil when it did).
    public var reason: String?
    /// Clients that entered the likelihood.
    public var clients: Int
    /// Wall-clock seconds the fit took (including the aggregation when fitted from
    /// `[ClientSummary]`, excluding it when fitted from `ModelFitData`).
    public var seconds: Double
}

/// Deterministic chunked sums over `count` items: fixed chunks of `chunkSize`, each
/// reduced by `body` into `width` partial sums, then added in chunk order. Chunks run on
/// several threads when `parallel`; the result does not depend on it.
func chunkedSums(count: Int, width: Int, parallel: Bool, chunkSize: Int = 16_384,
                 _ body: @escaping @Sendable (Range<Int>) -> [Double]) -> [Double] {
    let chunks = max(1, (count + chunkSize - 1) / chunkSize)
    let partial = PartialSums(count: chunks * width)
    defer { partial.free() }
    let run: @Sendable (Int) -> Void = { c in
        let sums = body((c * chunkSize)..<min(count, (c + 1) * chunkSize))
        for j in 0..<width { partial.pointer[c * width + j] = j < sums.count ? sums[j] : 0 }
    }
    if parallel && chunks > 1 {
        DispatchQueue.concurrentPerform(iterations: chunks, execute: run)
    } else {
        for c in 0..<chunks { run(c) }
    }
    var total = [Double](repeating: 0, count: width)
    for c in 0..<chunks {
        for j in 0..<width { total[j] += partial.pointer[c * width + j] }
    }
    return total
}

/// Scratch space for per-chunk sums; each chunk writes only its own slots, and the
/// reader waits for all chunks (concurrentPerform returns when they are done).
private struct PartialSums: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Double>
    init(count: Int) {
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }
    func free() { pointer.deallocate() }
}

/// The box of the log-parameters: every parameter in [1e-6, 1e6].
let logParameterBox = (lower: log(1e-6), upper: log(1e6))

/// Runs the optimiser on a total log-likelihood `ll(φ) -> (LL, ∂LL/∂φ)` in
/// log-parameters φ and packages the outcome. `unidentified`, when given, is a reason the
/// data cannot identify the model: the fit still runs (to report a finite best point) but
/// is reported as not converged with that reason.
func fitLogParameters<Model: Sendable & Equatable>(
    start: [Double], names: [String], clients: Double, options: FitOptions, unidentified: String? = nil,
    ll: ([Double]) -> (value: Double, gradient: [Double]),
    make: ([Double]) -> Model
) -> FitOutcome<Model> {
    let began = Date()
    let n = start.count
    guard clients > 0 else {
        return FitOutcome(model: make(start.map(exp)), standardErrors: nil, logLikelihood: 0, iterations: 0,
                          converged: false, reason: "no clients to fit", clients: 0,
                          seconds: Date().timeIntervalSince(began))
    }
    // Minimise the mean negative log-likelihood per client (scale-free tolerances).
    let objective: BoxedBFGS.Objective = { phi in
        let (v, g) = ll(phi)
        return (-v / clients, g.map { -$0 / clients })
    }
    let optimizer = BoxedBFGS(
        lower: [Double](repeating: logParameterBox.lower, count: n),
        upper: [Double](repeating: logParameterBox.upper, count: n),
        maxIterations: options.maxIterations,
        gradientTolerance: options.gradientTolerance)
    let result = optimizer.minimize(objective, from: start)
    var converged = result.converged
    var reason = result.reason
    if converged, !result.atBound.isEmpty {
        converged = false
        let which = result.atBound.map { names[$0] }.joined(separator: ", ")
        reason = "\(which) reached the bound of [1e-06, 1e+06]: the data do not identify the model "
            + "(for example, no or almost no repeat activity)"
    }
    if let why = unidentified {
        converged = false
        reason = why
    }
    var se: [Double]?
    if converged, options.standardErrors {
        se = SmallMatrix.standardErrors(logPoint: result.point) { phi in ll(phi).gradient.map { -$0 } }
    }
    let value = -result.value * clients
    return FitOutcome(
        model: make(result.point.map(exp)), standardErrors: se,
        logLikelihood: value.isFinite ? value : -Double.greatestFiniteMagnitude,
        iterations: result.iterations, converged: converged, reason: reason,
        clients: Int(clients), seconds: Date().timeIntervalSince(began))
}
