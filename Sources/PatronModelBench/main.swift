// patron-modelbench: the model benchmark of issue 6, one database in one process
// (driven by scripts/bench-models).
//
//   patron-modelbench --db PATH --today YYYY-MM-DD [--fit-runs N] [--summaries CSV]
//                     [--query TEXT] [--query-runs N] [--json OUT]
//
// 1. `db.fit(today:)` end to end (client summaries from the database, their
//    aggregation, BG/NBD, MBG/NBD and Gamma-Gamma, storing the models), --fit-runs
//    times: each model's seconds as its FitOutcome reports them (the fit from the
//    aggregated data) and the whole call's seconds. The first run also builds the
//    client table in this process; it is reported apart from the best of the others.
// 2. With --summaries (a CSV `client,x,tx,T,monetary`, the very file the lifetimes side
//    fits): the public fits from `[ClientSummary]` on those rows, which include the
//    aggregation of identical triples (TransactionModel.fit(_:to:), GammaGammaModel.fit(to:)).
// 3. With --query (repeatable): each query once (the first right after the fit, in this
//    process), then --query-runs more times; min and median milliseconds and the row count.
//    --fit-runs 0 skips the fit (the stored models are used).
//
// Prints a human-readable report; --json writes the figures for the script.
import Foundation
import Patron

struct Config {
    var db = ""
    var today = ""
    var fitRuns = 3
    var summaries: String?
    var queries: [String] = []
    var queryRuns = 20
    var json: String?
}

var config = Config()
var args = CommandLine.arguments.dropFirst().makeIterator()
func usage() -> Never {
    FileHandle.standardError.write(Data("""
        usage: patron-modelbench --db PATH --today YYYY-MM-DD [--fit-runs N] [--summaries CSV] \
        [--query TEXT] [--query-runs N] [--json OUT]\n
        """.utf8))
    exit(2)
}
while let a = args.next() {
    switch a {
    case "--db": config.db = args.next() ?? ""
    case "--today": config.today = args.next() ?? ""
    case "--fit-runs": config.fitRuns = max(0, Int(args.next() ?? "") ?? config.fitRuns)
    case "--summaries": config.summaries = args.next()
    case "--query": if let q = args.next() { config.queries.append(q) }
    case "--query-runs": config.queryRuns = max(1, Int(args.next() ?? "") ?? config.queryRuns)
    case "--json": config.json = args.next()
    default: usage()
    }
}
guard !config.db.isEmpty, let today = Calendar.day(parsing: config.today) else { usage() }

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? .nan : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
}

func transactionJSON(_ f: FitOutcome<TransactionModel>) -> [String: Any] {
    ["seconds": f.seconds, "iterations": f.iterations, "converged": f.converged, "clients": f.clients,
     "log_likelihood": f.logLikelihood, "reason": f.reason ?? "",
     "params": ["r": f.model.r, "alpha": f.model.alpha, "a": f.model.a, "b": f.model.b]]
}
func gammaGammaJSON(_ f: FitOutcome<GammaGammaModel>) -> [String: Any] {
    ["seconds": f.seconds, "iterations": f.iterations, "converged": f.converged, "clients": f.clients,
     "log_likelihood": f.logLikelihood, "reason": f.reason ?? "",
     "params": ["p": f.model.p, "q": f.model.q, "gamma": f.model.gamma]]
}
func padded(_ s: String) -> String { s.count >= 10 ? s : s + String(repeating: " ", count: 10 - s.count) }
func describe(_ name: String, _ f: FitOutcome<TransactionModel>) -> String {
    String(format: "  %@ %8.3f s  %3d it  %@  r=%.6g alpha=%.6g a=%.6g b=%.6g  LL=%.3f  (%@ clients)",
           padded(name), f.seconds, f.iterations, f.converged ? "ok " : "NOT", f.model.r, f.model.alpha, f.model.a, f.model.b,
           f.logLikelihood, f.clients.formatted())
}
func describe(_ name: String, _ f: FitOutcome<GammaGammaModel>) -> String {
    String(format: "  %@ %8.3f s  %3d it  %@  p=%.6g q=%.6g gamma=%.6g  LL=%.3f  (%@ clients)",
           padded(name), f.seconds, f.iterations, f.converged ? "ok " : "NOT", f.model.p, f.model.q, f.model.gamma,
           f.logLikelihood, f.clients.formatted())
}

var report: [String: Any] = ["db": config.db, "today": config.today]
let db = try Database(path: config.db)
db.notices = { _ in }

// 1. db.fit(today:) end to end.
print("patron-modelbench: \(config.db), today \(config.today)")
var fitRuns: [[String: Any]] = []
for run in 0..<config.fitRuns {
    let s = now()
    let fits = try db.fit(today: today)
    let wall = now() - s
    let modelSeconds = fits.bgnbd.seconds + fits.mbgnbd.seconds + fits.gammaGamma.seconds
    print(String(format: "db.fit run %d: %.3f s end to end (%.3f s outside the three fits: summaries, aggregation, storing); %@ clients",
                 run + 1, wall, wall - modelSeconds, fits.clients.formatted()))
    print(describe("bgnbd", fits.bgnbd))
    print(describe("mbgnbd", fits.mbgnbd))
    print(describe("gammagamma", fits.gammaGamma))
    fitRuns.append(["wall": wall, "seconds": fits.seconds, "clients": fits.clients,
                    "bgnbd": transactionJSON(fits.bgnbd), "mbgnbd": transactionJSON(fits.mbgnbd),
                    "gammagamma": gammaGammaJSON(fits.gammaGamma)])
}
report["fit_runs"] = fitRuns

// 2. The public fits on the summaries the lifetimes side fits.
if let path = config.summaries {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    var summaries: [ClientSummary] = []
    var lines = text.split(separator: "\n").makeIterator()
    let header = (lines.next() ?? "").split(separator: ",").map(String.init)
    guard let ix = header.firstIndex(of: "x"), let itx = header.firstIndex(of: "tx"), let iT = header.firstIndex(of: "T"),
          let im = header.firstIndex(of: "monetary") else {
        fatalError("\(path): needs columns x, tx, T, monetary")
    }
    while let line = lines.next() {
        let f = line.split(separator: ",", omittingEmptySubsequences: false)
        guard let x = Int(f[ix]), let tx = Double(f[itx]), let T = Double(f[iT]), let m = Double(f[im]) else {
            fatalError("\(path): bad row \(line)")
        }
        summaries.append(ClientSummary(x: x, tx: tx, T: T, monetary: m))
    }
    print("fits from \(path) (\(summaries.count.formatted()) rows; each time includes merging identical rows):")
    var runs: [[String: Any]] = []
    for _ in 0..<config.fitRuns {
        let bg = TransactionModel.fit(.bgnbd, to: summaries)
        let mbg = TransactionModel.fit(.mbgnbd, to: summaries)
        let gg = GammaGammaModel.fit(to: summaries)
        print(describe("bgnbd", bg))
        print(describe("mbgnbd", mbg))
        print(describe("gammagamma", gg))
        runs.append(["bgnbd": transactionJSON(bg), "mbgnbd": transactionJSON(mbg), "gammagamma": gammaGammaJSON(gg)])
    }
    report["summary_fit_runs"] = runs
    report["summary_rows"] = summaries.count
}

// 3. The queries, warm (the models are stored by the fit above).
var queryReports: [[String: Any]] = []
for text in config.queries {
    let s = now()
    let first = try db.query(text, today: today)
    let firstSeconds = now() - s
    var times: [Double] = []
    for _ in 0..<config.queryRuns {
        let t = now()
        _ = try db.query(text, today: today)
        times.append(now() - t)
    }
    let model = try db.transactionModelKind.rawValue
    print(String(format: "query (%@): first %.1f ms, then %d runs: min %.1f ms, median %.1f ms, max %.1f ms; %@ rows: %@",
                 model, firstSeconds * 1000, times.count, (times.min() ?? .nan) * 1000, median(times) * 1000,
                 (times.max() ?? .nan) * 1000, first.rows.count.formatted(), text))
    queryReports.append(["text": text, "model": model, "first_ms": firstSeconds * 1000, "runs": times.count,
                       "min_ms": (times.min() ?? .nan) * 1000, "median_ms": median(times) * 1000,
                       "max_ms": (times.max() ?? .nan) * 1000, "rows": first.rows.count])
}
if let first = queryReports.first { report["query"] = first }
report["queries"] = queryReports

if let out = config.json {
    let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
    try data.write(to: URL(fileURLWithPath: out))
}
