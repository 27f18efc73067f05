// patron-querybench: the query suite of issue 3 at N clients (`make bench-queries`).
//
//   patron-querybench [--clients N] [--dir DIR] [--runs R] [--cold-runs C] [--no-duckdb] [--reuse]
//
// Builds (or reuses) a deterministic clinic history of N clients (~30 events each),
// then times each query of the suite first (its first run in this process, which
// makes the caches it uses), warm (repeated in this process after that) and cold (a
// fresh process per run: open, build caches, answer), and the same questions in
// DuckDB over the raw events (scripts/duckdb-venv), printing Patron's time ÷ DuckDB's
// (warm and first).
import Foundation
import Patron

struct Config {
    var clients = 100_000
    var dir = FileManager.default.temporaryDirectory.appendingPathComponent("patron-querybench").path
    var runs = 10
    var coldRuns = 3
    var duckdb = true
    var reuse = false
    var coldQuery: Int?
    var only: Set<String> = []
    var extra: String?
}

var config = Config()
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--clients": config.clients = Int(args.next() ?? "") ?? config.clients
    case "--dir": config.dir = args.next() ?? config.dir
    case "--runs": config.runs = max(1, Int(args.next() ?? "") ?? config.runs)
    case "--cold-runs": config.coldRuns = max(0, Int(args.next() ?? "") ?? config.coldRuns)
    case "--no-duckdb": config.duckdb = false
    case "--reuse": config.reuse = true
    case "--cold-query": config.coldQuery = Int(args.next() ?? "")
    case "--only": config.only = Set((args.next() ?? "").split(separator: ",").map(String.init))
    case "--query": config.extra = args.next()
    default:
        FileHandle.standardError.write(Data("usage: patron-querybench [--clients N] [--dir DIR] [--runs R] [--cold-runs C] [--no-duckdb] [--reuse] [--only Q1,Q2] [--query TEXT]\n".utf8))
        exit(2)
    }
}

/// The benchmark's fixed today: the generated history runs up to it.
let todayText = "2026-01-01"
let today = Day(Calendar.day(year: 2026, month: 1, day: 1))
let asOfText = "2025-01-01"
var suite: [(String, String)] = [
    ("Q1", "clients where lapsed > 90d and tier = gold"),
    ("Q2", "clients top 10% by spend"),
    ("Q3", "clients where has visit where services contains \"botox\" and has no purchase where items.category = \"filler\""),
    ("Q4", "clients group by tier show count(), avg(spend), median(cadence)"),
    ("Q5", "visits where at in last 1y group by provider show count()"),
    ("Q6", "items group by category, month(at) show sum(amount)"),
    ("Q7", "clients where lapsed > 90d as of \(asOfText)"),
]

if let extra = config.extra { suite = [("QX", extra)] }
if !config.only.isEmpty { suite = suite.filter { config.only.contains($0.0) } }

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
let dbPath = config.dir + "/clinic-\(config.clients).patron"

// A fresh process answering one query: prints its seconds and row count.
if let q = config.coldQuery {
    let s = now()
    let db = try Database(path: dbPath, readOnly: true)
    let r = try db.query(suite[q].1, today: today)
    print(String(format: "%.6f %d", now() - s, r.rowCount))
    exit(0)
}

/// A deterministic xorshift generator.
struct Rand {
    var s: UInt64
    mutating func next() -> UInt64 { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s }
    mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// Clients acquired over four years, each with their own return rate and dropout;
/// services, products with categories, tiers, memberships, rewards, feedback, refunds.
func generate(into db: Database, clients: Int) throws -> Int {
    var rng = Rand(s: 0x9E37_79B9_7F4A_7C15)
    let services = ["botox", "filler", "hydrafacial", "peel", "laser", "microneedling", "consultation", "prp"]
    let products: [(String, String, Int64)] = [
        ("Botox 20u", "injectable", 28000), ("Juvederm 1ml", "filler", 65000), ("HydraFacial", "facial", 19900),
        ("Retinol serum", "skincare", 8900), ("SPF 50", "skincare", 4200), ("Laser session", "laser", 35000),
        ("PRP session", "prp", 75000),
    ]
    let providers = ["Dr. Kim", "Maya Ruiz", "Lee Chen", "Jo Park", "Sam Ito", "Dr. Alvarez"]
    let locations = ["Midtown", "Harbor", "Uptown"]
    let tiers = ["bronze", "silver", "gold", "platinum"]
    let start = Calendar.day(year: 2022, month: 1, day: 1)
    let end = Int(today)
    var batch: [Event] = []
    var total = 0
    func flush() throws {
        try db.appendAndWait(batch)
        total += batch.count
        batch.removeAll(keepingCapacity: true)
    }
    func at(_ day: Int, _ minute: Int) -> Int64 { Int64(day) * 86_400_000 + Int64(9 * 60 + minute) * 60_000 }
    for c in 0..<clients {
        let key = "C\(1_000_000 + c)"
        let first = start + rng.int(end - start - 30)
        let events = 1 + rng.int(129)
        let gap = 3 + rng.int(45)
        batch.append(Event(id: "\(key)-r", client: key, at: at(first, 0), payload: .client(ClientDetails(
            name: "Client \(c)", email: "c\(c)@example.com", location: locations[c % 3], source: ["instagram", "referral", "google", "walk-in"][c % 4],
            acquisitionCost: Money(cents: Int64(2000 + rng.int(8000)))))))
        var day = first
        var spend: Int64 = 0
        var k = 1
        while k < events && day <= end {
            let r = rng.int(100)
            let provider = providers[(c + rng.int(2)) % providers.count]
            let location = locations[(c + (rng.int(10) == 0 ? 1 : 0)) % 3]
            if r < 35 {
                let s1 = services[(c + k) % services.count]
                let svc = rng.int(3) == 0 ? [s1, services[rng.int(services.count)]] : [s1]
                batch.append(Event(id: "\(key)-\(k)", client: key, at: at(day, k), payload: .visit(Visit(location: location, provider: provider, services: svc))))
            } else if r < 70 {
                let p = products[(c * 3 + k + rng.int(2)) % products.count]
                var items = [PurchaseItem(name: p.0, category: p.1, quantity: 1, amount: Money(cents: p.2))]
                if rng.int(4) == 0 {
                    let q = products[rng.int(products.count)]
                    items.append(PurchaseItem(name: q.0, category: q.1, quantity: 1, amount: Money(cents: q.2)))
                }
                let amount = items.reduce(Int64(0)) { $0 + ($1.amount?.cents ?? 0) }
                spend += amount
                batch.append(Event(id: "\(key)-\(k)", client: key, at: at(day, k), payload: .purchase(Purchase(
                    amount: Money(cents: amount), items: items, location: location, provider: provider, channel: rng.int(5) == 0 ? "online" : "clinic"))))
            } else if r < 80 {
                batch.append(Event(id: "\(key)-\(k)", client: key, at: at(day, k), payload: .reward(Reward(points: Int64(10 + rng.int(200)), kind: "earned", reason: "visit"))))
            } else if r < 88 {
                let tier = tiers[min(3, Int(spend / 150_000))]
                batch.append(Event(id: "\(key)-\(k)", client: key, at: at(day, k), payload: .tier(TierChange(tier: tier))))
            } else if r < 94 {
                batch.append(Event(id: "\(key)-\(k)", client: key, at: at(day, k), payload: .feedback(Feedback(score: Int64(1 + rng.int(5))))))
            } else if r < 98 {
                batch.append(Event(id: "\(key)-\(k)", client: key, at: at(day, k), payload: .membership(Membership(
                    plan: ["glow", "radiance"][rng.int(2)], action: rng.int(3) == 0 ? .cancel : .start, fee: Money(cents: 7900)))))
            } else {
                batch.append(Event(id: "\(key)-\(k)", client: key, at: at(day, k), payload: .refund(Refund(amount: Money(cents: Int64(1000 + rng.int(5000)))))))
            }
            k += 1
            day += Int(Double(gap) * (0.2 + 1.6 * rng.unit()))
            // Dropout: some clients stop coming.
            if rng.int(1000) < 3 { break }
        }
        if batch.count >= 100_000 { try flush() }
    }
    if !batch.isEmpty { try flush() }
    return total
}

try FileManager.default.createDirectory(atPath: config.dir, withIntermediateDirectories: true)
print("patron-querybench: \(config.clients.formatted()) clients in \(dbPath), today \(todayText)")
if !(config.reuse && FileManager.default.fileExists(atPath: dbPath)) {
    for s in ["", "-lock", "-keys"] { try? FileManager.default.removeItem(atPath: dbPath + s) }
    let db = try Database(path: dbPath, options: .init(initialMapSize: 1 << 30, durable: false))
    let s = now()
    let n = try generate(into: db, clients: config.clients)
    print(String(format: "generated and appended %@ events in %.1f s", n.formatted(), now() - s))
}
let db = try Database(path: dbPath, readOnly: true)
let events = try db.stats().events
print("\(events.formatted()) events\n")

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? .nan : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
}

struct Timing { var first = 0.0, warmMedian = 0.0, warmWorst = 0.0, coldMedian = Double.nan, coldWorst = Double.nan, rows = 0 }
var timings: [String: Timing] = [:]
for (n, (name, text)) in suite.enumerated() {
    var t = Timing()
    // One run before the warm ones: fills the caches they use (the client and event
    // tables, day cubes, first-match days, the table as of a day), timed apart as
    // "first"; a query that does not parse or check is reported (not crashed on).
    do {
        let s = now()
        t.rows = try db.query(text, today: today).rowCount
        t.first = now() - s
    } catch let e as QueryError {
        FileHandle.standardError.write(Data("patron-querybench: \(name):\n\(e.render())\n".utf8))
        exit(2)
    }
    // Cold: a fresh process per run.
    var cold: [Double] = []
    for _ in 0..<config.coldRuns {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        p.arguments = ["--dir", config.dir, "--clients", String(config.clients), "--cold-query", String(n)]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        if let secs = out.split(separator: " ").first.flatMap({ Double($0) }) { cold.append(secs) }
    }
    if !cold.isEmpty { t.coldMedian = median(cold); t.coldWorst = cold.max() ?? .nan }
    // Warm: repeated runs (after the untimed one above).
    var warm: [Double] = []
    for _ in 0..<config.runs {
        let s = now()
        _ = try db.query(text, today: today)
        warm.append(now() - s)
    }
    t.warmMedian = median(warm)
    t.warmWorst = warm.max() ?? 0
    timings[name] = t
    print(String(format: "%@  first %8.1f ms  warm median %8.1f ms  worst %8.1f ms   cold median %8.1f ms  worst %8.1f ms   %@ rows   %@",
                 name, t.first * 1000, t.warmMedian * 1000, t.warmWorst * 1000, t.coldMedian * 1000, t.coldWorst * 1000,
                 t.rows.formatted(), text))
}

// `as of` another day, once the caches every day shares (the event table, each
// client's events) are made: the first query of a new day recomputes the table as of
// that day, the next one reads the kept table.
if let q7 = suite.first(where: { $0.0 == "Q7" }) {
    let other = q7.1.replacingOccurrences(of: asOfText, with: "2024-12-31")
    var times: [Double] = []
    for _ in 0..<2 {
        let s = now()
        _ = try db.query(other, today: today)
        times.append(now() - s)
    }
    print(String(format: "Q7 as of a new day (%@): first %8.1f ms, then %8.1f ms", "2024-12-31", times[0] * 1000, times[1] * 1000))
}

guard config.duckdb else { exit(0) }
// DuckDB over the same events, exported as NDJSON.
let ndjson = config.dir + "/clinic-\(config.clients).ndjson"
if !(config.reuse && FileManager.default.fileExists(atPath: ndjson)) {
    _ = FileManager.default.createFile(atPath: ndjson, contents: nil)
    guard let out = FileHandle(forWritingAtPath: ndjson) else { fatalError("cannot write \(ndjson)") }
    var buffer = [UInt8]()
    try db.exportNDJSON(to: { line in
        buffer.append(contentsOf: line.utf8)
        buffer.append(0x0A)
        if buffer.count > 1 << 20 { out.write(Data(buffer)); buffer.removeAll(keepingCapacity: true) }
    })
    out.write(Data(buffer))
    try out.close()
}
let jsonPath = config.dir + "/duckdb-\(config.clients).json"
let p = Process()
p.executableURL = URL(fileURLWithPath: "/bin/bash")
// An on-disk DuckDB database keeps its memory bounded (and compresses, which makes it faster).
let duckFile = config.dir + "/duck-\(config.clients).duckdb"
try? FileManager.default.removeItem(atPath: duckFile)
// The checkout's scripts/duckdb-venv (found from this source file), so the benchmark
// runs from any directory; relative to the working directory when that is missing.
let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let duckScript = checkout.appendingPathComponent("scripts/duckdb-venv").path
p.arguments = [FileManager.default.fileExists(atPath: duckScript) ? duckScript : "scripts/duckdb-venv", ndjson, "--today", todayText, "--runs", String(config.runs), "--json", jsonPath, "--db-file", duckFile]
try p.run()
p.waitUntilExit()
guard p.terminationStatus == 0, let data = FileManager.default.contents(atPath: jsonPath),
      let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
      let queries = json["queries"] as? [String: [String: Any]] else {
    print("DuckDB run failed (status \(p.terminationStatus); it runs \(p.arguments?.first ?? "scripts/duckdb-venv"))")
    exit(1)
}
print("\nquery  Patron warm median   DuckDB median   ratio   first-run ratio   rows (Patron / DuckDB)")
for (name, _) in suite {
    guard let t = timings[name], let d = queries[name], let dm = d["median_ms"] as? Double else { continue }
    let rows = d["rows"] as? Int ?? -1
    print(String(format: "%@     %10.1f ms      %10.1f ms   %6.3f   %15.3f   %@ / %@", name, t.warmMedian * 1000, dm,
                 t.warmMedian * 1000 / dm, t.first * 1000 / dm, t.rows.formatted(), rows.formatted()))
}
