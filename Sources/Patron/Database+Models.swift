import Foundation
import LMDB
import Synchronization

/// A model's parameters as a fit stored them (SPEC 5.1, 5.2), with what the fit saw.
public struct StoredModel<Model: Sendable & Codable & Equatable>: Sendable, Codable, Equatable {
    /// The fitted parameters.
    public var model: Model
    /// The day the fit was computed for (its `today`).
    public var today: Day
    /// The log position the fit saw last (``Database/lastPosition`` at the time).
    public var position: UInt64
    /// The maximised log-likelihood.
    public var logLikelihood: Double
    /// Standard errors of the parameters in the model's `parameterNames` order, when known.
    public var standardErrors: [Double]?
    /// Optimiser iterations.
    public var iterations: Int
    /// Clients that entered the likelihood.
    public var clients: Int
    /// Seconds the fit took.
    public var seconds: Double
    /// When the fit ran (milliseconds since 1970, UTC).
    public var fittedAt: Int64

    /// A stored model from its parts.
    public init(model: Model, today: Day, position: UInt64, logLikelihood: Double, standardErrors: [Double]?,
                iterations: Int, clients: Int, seconds: Double, fittedAt: Int64) {
        self.model = model
        self.today = today
        self.position = position
        self.logLikelihood = logLikelihood
        self.standardErrors = standardErrors
        self.iterations = iterations
        self.clients = clients
        self.seconds = seconds
        self.fittedAt = fittedAt
    }
}

/// The models stored in a database: each nil until a fit of it converged.
public struct StoredModels: Sendable, Equatable {
    /// The BG/NBD model.
    public var bgnbd: StoredModel<TransactionModel>?
    /// The MBG/NBD model.
    public var mbgnbd: StoredModel<TransactionModel>?
    /// The Gamma-Gamma model of the value of activity days.
    public var gammaGamma: StoredModel<GammaGammaModel>?

    /// Models from their parts.
    public init(bgnbd: StoredModel<TransactionModel>? = nil, mbgnbd: StoredModel<TransactionModel>? = nil,
                gammaGamma: StoredModel<GammaGammaModel>? = nil) {
        self.bgnbd = bgnbd
        self.mbgnbd = mbgnbd
        self.gammaGamma = gammaGamma
    }

    /// The stored BG/NBD or MBG/NBD model.
    public func transaction(_ kind: TransactionModelKind) -> StoredModel<TransactionModel>? {
        kind == .bgnbd ? bgnbd : mbgnbd
    }

    /// Fills the models missing here from `other`.
    func filling(from other: StoredModels?) -> StoredModels {
        StoredModels(bgnbd: bgnbd ?? other?.bgnbd, mbgnbd: mbgnbd ?? other?.mbgnbd, gammaGamma: gammaGamma ?? other?.gammaGamma)
    }
}

/// What ``Database/fit(today:)`` did: the three fits, and the models stored afterwards.
public struct ModelFits: Sendable {
    /// The day the models were fitted for.
    public var today: Day
    /// The log position the fit saw last.
    public var position: UInt64
    /// Clients with at least one activity day on or before `today` (those fitted).
    public var clients: Int
    /// The BG/NBD fit.
    public var bgnbd: FitOutcome<TransactionModel>
    /// The MBG/NBD fit.
    public var mbgnbd: FitOutcome<TransactionModel>
    /// The Gamma-Gamma fit (clients with repeat activity days of positive mean value).
    public var gammaGamma: FitOutcome<GammaGammaModel>
    /// The models in effect after the fit: the converged fits, and the previously stored
    /// parameters of any model whose fit did not converge.
    public var stored: StoredModels
    /// Whether the converged models were written to the database (false when it is
    /// open read-only: they are then kept in memory for this process).
    public var written: Bool
    /// Seconds for the whole fit: summaries from the database and the three fits.
    public var seconds: Double

    /// Whether all three fits converged.
    public var allConverged: Bool { bgnbd.converged && mbgnbd.converged && gammaGamma.converged }

    /// The fit as a result table (SPEC 3.7 `fit`, 4.6): columns `model, parameter,
    /// value, std_error, note`; a row per parameter and a `log_likelihood` row per model
    /// whose note says how the fit went.
    public var result: QueryResult {
        let columns = [Column(name: "model", kind: .string), Column(name: "parameter", kind: .string),
                       Column(name: "value", kind: .number), Column(name: "std_error", kind: .number),
                       Column(name: "note", kind: .string)]
        var rows: [[Value]] = []
        func add(_ name: String, _ names: [String], _ values: [Double], _ se: [Double]?, _ ll: Double, converged: Bool,
                 iterations: Int, seconds: Double, clients: Int, reason: String?, previous: Bool) {
            for (i, p) in names.enumerated() {
                let s = se.flatMap { i < $0.count && $0[i].isFinite ? Value.number($0[i]) : nil } ?? .null
                rows.append([.string(name), .string(p), values[i].isFinite ? .number(values[i]) : .null, s,
                             .string(converged ? "" : "not stored")])
            }
            let note: String
            if converged {
                note = "converged in \(iterations) iterations, \(ModelNotes.seconds(seconds)), \(ModelNotes.grouped(clients)) clients"
                    + (written ? "" : " (read-only database: kept for this session, not stored)")
            } else {
                note = "did not converge: \(reason ?? "unknown reason"); "
                    + (previous ? "the stored parameters are kept" : "no parameters are stored for this model")
            }
            rows.append([.string(name), .string("log_likelihood"), ll.isFinite ? .number(ll) : .null, .null, .string(note)])
        }
        for (kind, f) in [(TransactionModelKind.bgnbd, bgnbd), (.mbgnbd, mbgnbd)] {
            let m = f.model
            add(kind.rawValue, TransactionModel.parameterNames, [m.r, m.alpha, m.a, m.b], f.standardErrors, f.logLikelihood,
                converged: f.converged, iterations: f.iterations, seconds: f.seconds, clients: f.clients, reason: f.reason,
                previous: stored.transaction(kind) != nil)
        }
        let g = gammaGamma.model
        add("gammagamma", GammaGammaModel.parameterNames, [g.p, g.q, g.gamma], gammaGamma.standardErrors,
            gammaGamma.logLikelihood, converged: gammaGamma.converged, iterations: gammaGamma.iterations,
            seconds: gammaGamma.seconds, clients: gammaGamma.clients, reason: gammaGamma.reason, previous: stored.gammaGamma != nil)
        return QueryResult(columns: columns, rows: rows)
    }
}

/// Number formatting for model notes.
enum ModelNotes {
    /// `1,234,567`.
    static func grouped(_ n: Int) -> String {
        let s = String(n.magnitude)
        var out = ""
        for (i, c) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }

    /// `0.05 s`, `12.3 s`.
    static func seconds(_ s: Double) -> String {
        s < 10 ? String(format: "%.2f s", s) : String(format: "%.1f s", s)
    }
}

/// Per-database state of the models that is not stored in the file: the notice hook,
/// models fitted on a read-only database, and automatic fits already tried.
final class ModelState: Sendable {
    let notices = Mutex<@Sendable (String) -> Void>({ message in
        FileHandle.standardError.write(Data((message + "\n").utf8))
    })
    /// Models fitted in this process on a read-only database.
    let memory = Mutex<StoredModels?>(nil)
    /// Automatic fits tried (by log position and day), so a fit that cannot converge
    /// is not retried by every query.
    let tried = Mutex<Set<String>>([])
}

extension Database {
    /// Where the database writes notices meant for a person — today only "no fitted
    /// model: fitting … done in 0.4 s", when a query needs a model none is stored for.
    /// By default a line on stderr; set it to capture or silence them.
    public var notices: @Sendable (String) -> Void {
        get { modelState.notices.withLock { $0 } }
        set { modelState.notices.withLock { $0 = newValue } }
    }

    /// Fits BG/NBD, MBG/NBD and Gamma-Gamma (SPEC 5.1, 5.2) over every client with at
    /// least one activity day on or before `today`, and stores each model whose fit
    /// converged, with `today` and the log position it saw. A fit that does not converge
    /// is reported (``ModelFits``, ``FitOutcome/reason``) and the previously stored
    /// parameters of that model are kept.
    ///
    /// Per client: x = activity days − 1, t_x = last_seen − first_seen and
    /// T = today − first_seen in weeks; Gamma-Gamma uses the mean value of the repeat
    /// activity days (a day's value is its purchases minus its refunds).
    ///
    /// ```swift
    /// let fits = try db.fit(today: Calendar.day(parsing: "1997-09-30"))
    /// print(fits.result.rendered(as: .table))
    /// ```
    ///
    /// On a read-only database the models are kept in memory for this process instead.
    /// Under a ``QueryCancellation`` that holds, it throws ``QueryInterrupted`` before
    /// the next of the three fits, storing nothing.
    /// - Parameter today: the day to fit for (default: the current date).
    public func fit(today: Day? = nil) throws -> ModelFits {
        let day = today ?? self.today
        let began = Date()
        let (summaries, position, before) = try store.env.read { txn -> ([ClientSummary], UInt64, StoredModels) in
            let table = try clientTables.table(store: store, txn: txn)
            var env = QueryEnv(database: self, txn: txn, table: table, today: day)
            if let recomputed = env.recomputedForToday(tallies: false) { env = recomputed }
            let summaries = ModelInputs.summaries(env)
            if let failure = env.failure { throw failure }
            return (summaries, try store.lastPosition(txn: txn), try storedModels(txn: txn))
        }
        let data = ModelFitData(summaries)
        try QueryCancellation.checkpoint()
        let bg = TransactionModel.fit(.bgnbd, to: data)
        try QueryCancellation.checkpoint()
        let mbg = TransactionModel.fit(.mbgnbd, to: data)
        try QueryCancellation.checkpoint()
        let gg = GammaGammaModel.fit(to: data)
        try QueryCancellation.checkpoint()
        let now = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        func stored<M>(_ f: FitOutcome<M>) -> StoredModel<M>? {
            guard f.converged else { return nil }
            return StoredModel(model: f.model, today: day, position: position, logLikelihood: f.logLikelihood,
                               standardErrors: f.standardErrors, iterations: f.iterations, clients: f.clients,
                               seconds: f.seconds, fittedAt: now)
        }
        let fresh = StoredModels(bgnbd: stored(bg), mbgnbd: stored(mbg), gammaGamma: stored(gg))
        let after = fresh.filling(from: before)
        if store.readOnly {
            modelState.memory.withLock { $0 = after }
        } else {
            try ModelStore.write(store, bgnbd: fresh.bgnbd, mbgnbd: fresh.mbgnbd, gammaGamma: fresh.gammaGamma)
        }
        return ModelFits(today: day, position: position, clients: summaries.count, bgnbd: bg, mbgnbd: mbg, gammaGamma: gg,
                         stored: after, written: !store.readOnly, seconds: Date().timeIntervalSince(began))
    }

    /// The models stored by earlier fits (on a read-only database, also those fitted
    /// in this process).
    public func storedModels() throws -> StoredModels {
        try store.env.read { txn in try storedModels(txn: txn) }
    }

    func storedModels(txn: Transaction) throws -> StoredModels {
        let stored = try ModelStore.read(store, txn: txn)
        guard store.readOnly, let memory = modelState.memory.withLock({ $0 }) else { return stored }
        return memory.filling(from: stored)
    }

    /// The transaction model that `p_alive`, `expected(D)` and `predicted_clv` use
    /// (SPEC 5.1 `model` setting): MBG/NBD unless `set model = bgnbd` chose BG/NBD.
    public var transactionModelKind: TransactionModelKind {
        get throws { try store.env.read { txn in try ModelStore.readSetting(store, txn: txn) ?? .mbgnbd } }
    }

    /// Stores the `model` setting (the statement `set model = bgnbd|mbgnbd`).
    public func setTransactionModelKind(_ kind: TransactionModelKind) throws {
        if store.readOnly { throw PatronError.readOnly("set model") }
        try ModelStore.writeSetting(store, kind)
    }

    /// Runs `body` (a query) with automatic fitting: when it reports that it needs a
    /// model none is stored for (``NeedsModelFit``, thrown before any row), fits the
    /// models as of `today`, says so through ``notices``, and runs it again without
    /// asking (fields of a model that still is not there are null). A fit that fails is
    /// not retried at the same log position and day.
    func withModels(today: Day, _ body: (_ autoFit: Bool) throws -> Void) throws {
        do {
            try body(true)
            return
        } catch is NeedsModelFit {}
        let position = try lastPosition
        let attempt = "\(position)@\(today)"
        if modelState.tried.withLock({ $0.insert(attempt).inserted }) {
            let fits: ModelFits
            do {
                fits = try fit(today: today)
            } catch let stopped as QueryInterrupted {
                // Not a failed fit: the next query fits again.
                modelState.tried.withLock { _ = $0.remove(attempt) }
                throw stopped
            }
            var message = "no fitted model: fitting BG/NBD, MBG/NBD and Gamma-Gamma as of \(Calendar.format(today)) … done in "
                + ModelNotes.seconds(fits.seconds)
            let failed = [("BG/NBD", fits.bgnbd.converged ? nil : fits.bgnbd.reason ?? ""),
                          ("MBG/NBD", fits.mbgnbd.converged ? nil : fits.mbgnbd.reason ?? ""),
                          ("Gamma-Gamma", fits.gammaGamma.converged ? nil : fits.gammaGamma.reason ?? "")]
            for (name, reason) in failed { if let reason { message += "; \(name) did not converge: \(reason)" } }
            if !fits.written { message += " (read-only database: the models are kept for this session only)" }
            notices(message)
        }
        try body(false)
    }
}

/// Thrown by a query that uses a model none is stored for, before its first row, so
/// that ``Database/withModels(today:_:)`` fits the models and runs it again.
struct NeedsModelFit: Error {}
