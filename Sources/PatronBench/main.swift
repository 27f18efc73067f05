// patron-bench: the event store's throughput on generated data (`make bench`).
//
//   patron-bench [--clients N] [--events-per-client M] [--batch B] [--in-flight K] [--dir DIR]
//
// Prints batched append throughput (all projections and indexes) at 10,000, 100,000
// and 1,000,000 events per transaction, one transaction at a time, and in batches of
// 10,000 handed over 100 at a time, which group commit joins into larger transactions;
// then durable single appends from 1 and 16 tasks, full-log scan with decoding,
// projection scan and bytes per event, next to raw LMDB figures measured in the same
// run. `--batch B` runs size B alone; `--in-flight K` hands the first size over K at
// a time, and drops the run of batches in flight.
import Foundation
import LMDB
import Synchronization
import Patron

struct Config {
    var clients = 100_000
    var eventsPerClient = 30
    /// Events per transaction of the batched appends; the first one's database is the
    /// one the scans read.
    var batches = [10_000, 100_000, 1_000_000]
    var durable = true
    /// Stop after the batched append (and skip the raw LMDB baseline): for comparing builds.
    var appendOnly = false
    /// Batches handed to the library at once (each by its own thread, waiting for its
    /// commit before it hands over the next): from 2 on, the writer's group commit joins
    /// those that arrive while it commits into one transaction.
    var inFlight = 1
    /// Runs of small batches with many in flight (batch size, batches in flight) after
    /// the sizes above, each in a process of its own; none when `--batch` or
    /// `--in-flight` is given.
    var pipelined = [(batch: 10_000, inFlight: 100)]
    var dir = FileManager.default.temporaryDirectory.appendingPathComponent("patron-bench").path
}

func usage(_ problem: String? = nil) -> Never {
    if let problem { FileHandle.standardError.write(Data("patron-bench: \(problem)\n".utf8)) }
    FileHandle.standardError.write(Data("usage: patron-bench [--clients N] [--events-per-client M] [--batch B] [--in-flight K] [--dir DIR] [--no-sync] [--append-only]\n".utf8))
    exit(2)
}

func parseConfig() -> Config {
var config = Config()
var args = CommandLine.arguments.dropFirst().makeIterator()
/// The whole number of at least 1 after `option`, or the usage and exit 2.
func count(after option: String) -> Int {
    let text = args.next()
    guard let text, let n = Int(text), n >= 1 else { usage("\(option) needs a whole number of at least 1, not \(text.map { "'\($0)'" } ?? "nothing")") }
    return n
}
while let a = args.next() {
    switch a {
    case "--clients": config.clients = count(after: a)
    case "--events-per-client": config.eventsPerClient = count(after: a)
    case "--batch":
        config.batches = [count(after: a)]
        config.pipelined = []
    case "--dir":
        guard let dir = args.next() else { usage("--dir needs a directory") }
        config.dir = dir
    case "--no-sync": config.durable = false
    case "--append-only": config.appendOnly = true
    case "--in-flight":
        config.inFlight = count(after: a)
        config.pipelined = []
    default: usage("unknown option \(a)")
    }
}
return config
}
let config = parseConfig()

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
/// CPU seconds used by the whole process so far (every thread).
func cpuNow() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}
func rate(_ n: Int, _ seconds: Double) -> String {
    let r = Double(n) / seconds
    return r >= 1e6 ? String(format: "%.2f M/s", r / 1e6) : String(format: "%.0f /s", r)
}
func row(_ name: String, _ value: String, _ detail: String = "") {
    print(name.padding(toLength: 46, withPad: " ", startingAt: 0) + value.padding(toLength: 14, withPad: " ", startingAt: 0) + detail)
}
func fresh(_ name: String) -> String {
    let p = config.dir + "/" + name
    for s in ["", "-lock", "-keys"] { try? FileManager.default.removeItem(atPath: p + s) }
    return p
}

/// A realistic history: clients acquired over 3 years, each returning at their own
/// rate, events interleaved in time order as a practice-management feed delivers them.
func generate() -> [Event] {
    var rng = SystemRandomNumberGenerator()
    let services = ["botox", "filler", "hydrafacial", "peel", "laser", "microneedling", "consultation", "massage"]
    let providers = ["Dr. Kim", "Maya Ruiz", "Lee Chen", "Jo Park", "Sam Ito"]
    let locations = ["Midtown", "Harbor", "Uptown"]
    let start: Int64 = 1_672_531_200_000 // 2023-01-01
    let span: Int64 = 3 * 365 * 86_400_000
    var events: [Event] = []
    events.reserveCapacity(config.clients * config.eventsPerClient)
    for c in 0..<config.clients {
        let key = "C\(100_000 + c)"
        let first = start + Int64.random(in: 0..<(span / 2), using: &rng)
        let n = Int.random(in: 1...(2 * config.eventsPerClient - 1), using: &rng)
        events.append(Event(client: key, at: first, payload: .client(ClientDetails(
            name: "Client \(c)", email: "client\(c)@example.com", location: locations[c % 3], source: ["instagram", "referral", "google"][c % 3],
            acquisitionCost: Money(cents: Int64(2000 + c % 5000))))))
        var at = first
        for i in 1..<n {
            at += Int64.random(in: 0..<(span / Int64(n * 2)), using: &rng)
            let payload: Payload
            switch i % 10 {
            case 0, 3, 6: payload = .visit(Visit(location: locations[(c + i) % 3], provider: providers[(c + i) % 5], services: [services[(c * 7 + i) % 8]]))
            case 1, 4, 7: payload = .purchase(Purchase(amount: Money(cents: Int64(5000 + (c * 31 + i * 17) % 60000)), channel: "clinic"))
            case 2: payload = .reward(Reward(points: Int64(10 + i), kind: "earned"))
            case 5: payload = .feedback(Feedback(score: Int64(1 + (c + i) % 5)))
            case 8: payload = .tier(TierChange(tier: ["bronze", "silver", "gold", "platinum"][(c + i) % 4]))
            default: payload = .membership(Membership(plan: "glow", action: i % 20 == 9 ? .cancel : .start, fee: Money(cents: 7900)))
            }
            events.append(Event(client: key, at: at, payload: payload))
        }
    }
    events.sort { $0.at < $1.at }
    return events
}

try? FileManager.default.createDirectory(atPath: config.dir, withIntermediateDirectories: true)
print("patron-bench: \(config.clients.formatted()) clients, batches of \(config.batches.map { $0.formatted() }.joined(separator: ", "))"
      + (config.inFlight > 1 ? " × \(config.inFlight) in flight" : "") + ", in \(config.dir)")

/// The name of a batched append's row.
func appendName(_ size: Int, inFlight: Int) -> String {
    inFlight == 1 ? "batched append, \(size.formatted())/txn" : "batched append, \(size.formatted()) × \(inFlight) in flight"
}

// The batched appends after the first, each in a process of its own (with events
// generated alike), run before this one holds anything: on this VM a run is slower by
// a fifth to a third while another process holds a gigabyte or two (measured with an
// idle process holding 1.5 GB: 1,000,000/txn 648,411 and 710,378 events/s against
// 950,479 and 946,005 alone).
var otherSizes: [String] = []
/// Whether a run in a process of its own failed: this one then exits 1 at its end.
var childFailed = false
for (size, inFlight) in config.batches.dropFirst().map({ ($0, 1) }) + config.pipelined.map({ ($0.batch, $0.inFlight) }) {
    let child = Process()
    child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
    child.arguments = ["--clients", "\(config.clients)", "--events-per-client", "\(config.eventsPerClient)",
                       "--batch", "\(size)", "--in-flight", "\(inFlight)", "--dir", config.dir + "/batch-\(size)",
                       "--append-only"]
        + (config.durable ? [] : ["--no-sync"])
    let pipe = Pipe()
    child.standardOutput = pipe
    try child.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    child.waitUntilExit()
    otherSizes += output.split(separator: "\n").filter { $0.hasPrefix("batched append") }.map(String.init)
    if child.terminationStatus != 0 {
        childFailed = true
        let how = child.terminationReason == .uncaughtSignal ? "signal" : "exit"
        otherSizes.append("\(appendName(size, inFlight: inFlight)): failed (\(how) \(child.terminationStatus))")
    }
    try? FileManager.default.removeItem(atPath: config.dir + "/batch-\(size)")
}

let t0 = now()
let events = generate()
let eventCount = events.count
print("generated \(eventCount.formatted()) events in \(String(format: "%.1f", now() - t0)) s\n")

/// Appends `batches` from ``Config/inFlight`` threads (no more than there are
/// batches), each taking the next batch once its last one has committed; rethrows the
/// first failure, and fails unless every batch was appended exactly once.
func appendInFlight(_ batches: [[Event]], into db: Database) throws {
    let next = Mutex(0)
    let appended = Mutex([Int](repeating: 0, count: batches.count))
    let failure = Mutex<(any Error)?>(nil)
    let group = DispatchGroup()
    for _ in 0..<min(config.inFlight, batches.count) {
        group.enter()
        Thread.detachNewThread {
            defer { group.leave() }
            while true {
                let k: Int = next.withLock { n in
                    defer { n += 1 }
                    return n
                }
                guard k < batches.count, failure.withLock({ $0 == nil }) else { return }
                do {
                    _ = try db.appendAndWait(batches[k])
                    appended.withLock { $0[k] += 1 }
                } catch {
                    failure.withLock { $0 = $0 ?? error }
                    return
                }
            }
        }
    }
    group.wait()
    if let error = failure.withLock({ $0 }) { throw error }
    if let k = appended.withLock({ $0.firstIndex { $0 != 1 } }) {
        FileHandle.standardError.write(Data("patron-bench: batch \(k) appended \(appended.withLock { $0[k] }) times\n".utf8))
        exit(1)
    }
}

/// Appends every event into `db` in transactions of `size`, and prints the rate and
/// the CPU time per event. The batches a program hands to the library are built (like
/// the events themselves) before the clock starts and let go of after it stops: the
/// figures measure the library's work, not this program's copying of slices or
/// freeing of events.
func batchedAppend(_ size: Int, into db: Database) throws {
    var batches: [[Event]] = []
    batches.reserveCapacity(events.count / size + 1)
    for start in stride(from: 0, to: events.count, by: size) {
        batches.append(Array(events[start..<min(start + size, events.count)]))
    }
    // The pages earlier runs left dirty are written out first, so that this run does
    // not pay for their writeback, and the machine gets a few seconds to settle: on
    // this VM a run started right after another one's end was slower (1,000,000/txn:
    // 896,877 events/s right after a 100,000/txn run, 1.03-1.05 M after 5-20 s idle).
    sync()
    Thread.sleep(forTimeInterval: 5)
    let s = now()
    let cpuStart = cpuNow()
    if config.inFlight == 1 {
        for batch in batches { try db.appendAndWait(batch) }
    } else {
        try appendInFlight(batches, into: db)
    }
    let seconds = now() - s
    let cpu = cpuNow() - cpuStart
    // As many events stored as generated (batches handed over in flight are also
    // checked to have gone in once each).
    let stored = try db.lastPosition
    guard stored == UInt64(eventCount) else {
        FileHandle.standardError.write(Data("patron-bench: \(stored) events stored of \(eventCount)\n".utf8))
        exit(1)
    }
    row(appendName(size, inFlight: config.inFlight), rate(eventCount, seconds),
        "\(eventCount.formatted()) events in \(String(format: "%.1f", seconds)) s, \(config.durable ? "fsync" : "no fsync"), "
        + String(format: "%.2f µs CPU/event (all threads)", cpu / Double(eventCount) * 1e6))
}

// Raw LMDB baseline, same machine, same run: 64-byte records, 10,000 per transaction.
if !config.appendOnly {
    let path = fresh("raw-lmdb")
    let env = try Environment(path: path, options: .init(initialMapSize: 1 << 30))
    let t = try env.openTables([("t", [.integerKey])])[0]
    let value = [UInt8](repeating: 7, count: 64)
    let n = 2_000_000
    var key: UInt64 = 0
    var s = now()
    for _ in 0..<(n / 10_000) {
        try env.write { txn in
            try value.withUnsafeBytes { v in
                for _ in 0..<10_000 { key += 1; try txn.put(t, key: key, value: v, flags: .append) }
            }
        }
    }
    row("raw LMDB append (64 B, 10k/txn, fsync)", rate(n, now() - s))
    s = now()
    var sum = 0
    try env.read { txn in
        try txn.withCursor(t) { c in
            var e = try c.first()
            while let (_, v) = e { sum &+= v.count; e = try c.next() }
        }
    }
    row("raw LMDB cursor scan", rate(n, now() - s))
}

// Batched appends through the library, every projection and index kept in the same
// transaction; the first size's database is the one the scans below read.
let path = fresh("bench.patron")
let db = try Database(path: path, options: .init(initialMapSize: 1 << 30, durable: config.durable))
try batchedAppend(config.batches[0], into: db)
for line in otherSizes { print(line) }
if config.appendOnly { exit(childFailed ? 1 : 0) }
var s = now()

// Log scans: in place (header decoded: type, at, recorded, client; plus purchase
// amounts), and materialising every event as a full `RecordedEvent`.
var best = Double.infinity
var scanned = 0
var cents: Int64 = 0
for _ in 0..<3 {
    s = now()
    scanned = 0
    cents = 0
    var visits = 0
    var checksum = 0
    try db.scanLog { e in
        scanned += 1
        if e.type == .visit { visits += 1 }
        checksum &+= Int(truncatingIfNeeded: e.at) &+ Int(e.clientNumber)
        if let a = e.amount, e.type == .purchase { cents &+= a.cents }
        return true
    }
    best = min(best, now() - s)
}
row("log scan, in place (type/at/client/amount)", rate(scanned, best), "\(scanned.formatted()) events, best of 3")
s = now()
scanned = 0
try db.forEachEvent { e in
    scanned += 1
    if case .purchase(let p) = e.event.payload { cents &+= p.amount.cents }
    return true
}
row("log scan, full decode to RecordedEvent", rate(scanned, now() - s), "\(scanned.formatted()) events")

// Projection scan: a typical filter (lapsed > 90 days) and a sum, over every client.
best = Double.infinity
var matched = 0
for _ in 0..<5 {
    s = now()
    var clients = 0
    matched = 0
    var spend: Int64 = 0
    let today = db.today
    try db.scanClientRows { _, r in
        clients += 1
        if let l = r.lastSeen, today - l > 90 { matched += 1; spend &+= r.spendCents }
    }
    best = min(best, (now() - s) / Double(clients))
}
row("projection scan (lapsed > 90d, sum spend)", rate(1, best), "\(config.clients.formatted()) clients, best of 5")

let stats = try db.stats()
row("database size per event", String(format: "%.0f B", stats.bytesPerEvent ?? 0),
    "\(String(format: "%.0f", Double(stats.usedSize) / 1_048_576)) MiB used for \(stats.events.formatted()) events")

// Durable single-event appends: each awaits its own commit.
func singles(tasks: Int, perTask: Int) async throws -> Double {
    let start = now()
    try await withThrowingTaskGroup(of: Void.self) { group in
        for t in 0..<tasks {
            group.addTask {
                for k in 0..<perTask {
                    try await db.append(Event(client: "single-\(t)", at: 1_700_000_000_000 + Int64(k),
                                              payload: .visit(Visit(services: ["facial"]))))
                }
            }
        }
        try await group.waitForAll()
    }
    return now() - start
}
let one = try await singles(tasks: 1, perTask: 2000)
row("durable single appends, 1 task", rate(2000, one))
let sixteen = try await singles(tasks: 16, perTask: 1000)
row("durable single appends, 16 tasks", rate(16_000, sixteen), "group commit")
if childFailed { exit(1) }
