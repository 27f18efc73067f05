import Dispatch
import Synchronization

/// What ``DemoClinic/build(into:clients:seed:end:progress:)`` made.
public struct DemoReport: Sendable, Equatable {
    /// Clients registered (every one has a `client` event).
    public var clients: Int
    /// Events appended.
    public var events: Int
    /// The first and last day of the history (local days of the database's time zone).
    public var first: Day
    /// The last day of the history: no event happens after it.
    public var end: Day
    /// How long the build took (generating and appending).
    public var time: Duration

    /// A report; see each property.
    public init(clients: Int, events: Int, first: Day, end: Day, time: Duration) {
        self.clients = clients
        self.events = events
        self.first = first
        self.end = end
        self.time = time
    }

    /// ``time`` in seconds.
    public var seconds: Double {
        let c = time.components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
}

/// A realistic demo med spa (`patron demo`, SPEC 4.1): four years of history for a
/// chosen number of clients, generated from a seed.
///
/// The history is a pure function of `(seed, clients, end)` and the database's time
/// zone: the same inputs give the same events, byte for byte, ids included, on every
/// platform (a private xoshiro256** generator, no clock, no hashing order).
///
/// What is in it:
/// - **Clients** acquired over the four years before `end`, three times as many per
///   month at the end as at the start, through channels with acquisition costs on the
///   `client` event (instagram ≈ $45, google ≈ $60, referral ≈ $15, facebook ≈ $35,
///   walk-in $0, groupon ≈ $25, each ±30%), with a name, an `example.com` email, a
///   555-01xx phone and a home location. About 7% are leads who never come.
/// - **Locations** Midtown, Harbor and Uptown (opened two years before `end`), with
///   eight providers (injectors and estheticians); a client sees their preferred
///   provider for most visits and visits another location now and then.
/// - **Return and dropout** vary by client: a quarter are trial clients who rarely
///   return, the rest occasional or loyal (some loyal regulars pass 20 visits). After
///   each visit a client may leave for good; unhappy clients, bad visits and groupon
///   deals make that likelier, referrals and memberships less likely. Some take long
///   breaks and come back.
/// - **Service paths**: injectables (a neurotoxin every ~3–4 months, often filler
///   later), laser series (laser hair removal 6–8 sessions, IPL 3, then touch-ups), and
///   the skin path (HydraFacial → chemical peel → microneedling → PRP), sometimes
///   starting with a free consultation; clients cross over to other lines.
/// - **Prices** (visit `services` → purchase items, amount = sum of the lines):
///   Botox $13/unit (20–54 units), Dysport $4.50/unit (50–140), Xeomin $12/unit
///   (20–56); fillers $650–$850 per syringe (Juvederm Ultra XC, Voluma XC, Restylane
///   Kysse, RHA Redensity); IPL photofacial $350; laser hair removal $125–$450 by
///   area; HydraFacial $199/$279; dermaplaning $85; glycolic peel $175, VI Peel $325;
///   microneedling $375; microneedling with PRP $750, PRP hair restoration $850;
///   consultations free. Retail skincare at checkout and online ($36–$98: vitamin C
///   serum, SPF 50, retinol, cleanser, hyaluronic serum, eye cream). Item categories:
///   neurotoxin, filler, laser, facial, microneedling, prp, skincare.
/// - **Points**: 1 point per whole dollar and 100 with the first purchase (`earned`),
///   500 or 1,000 redeemed for a $25/$50 reward (`redeemed`), taken back when a
///   purchase is refunded (`adjusted`), lost a year after a client's last visit (`expired`).
/// - **Tiers** from the rolling 12-month spend (purchases minus refunds), re-evaluated
///   at every purchase and written only when it changes: bronze from the first
///   purchase, silver from $1,000, gold from $2,500, platinum from $5,000.
/// - **Memberships** Glow $99, Radiance $179, VIP $299 a month, joined by regulars,
///   cancelled after months (or soon after the client stops coming).
/// - **Feedback** scores 1–5 the day after some visits (mostly 4–5; unhappy clients
///   score lower and answer more often), sometimes with a comment.
/// - **Refunds** after some bad visits and some skincare returns, naming the purchase.
///
/// ```swift
/// let db = try Database(path: "demo.patron")
/// let report = try DemoClinic.build(into: db, clients: 2_000, seed: 1, end: db.today)
/// print(report.events)
/// ```
public enum DemoClinic {
    /// Days of history before `end` in which clients are acquired.
    public static let historyDays = 4 * 365

    /// Events per append transaction.
    static let batchSize = 50_000
    /// Events per client on average (measured), for progress reports.
    static let eventsPerClient = 24.8

    /// Generates the demo clinic and appends it to `db`, which must hold no events.
    ///
    /// Events are appended in business-time order (ties by client) in large
    /// transactions; generation of the next batch overlaps the commit of the previous
    /// one. Open `db` with `durable: false` for speed and make the file durable
    /// afterwards if that matters.
    ///
    /// - Parameters:
    ///   - clients: how many clients (at least 1).
    ///   - seed: the history's seed.
    ///   - end: the last day of the history, in the database's time zone (1975 or later).
    ///   - progress: called after each batch with (events so far, events expected);
    ///     the expected count is an estimate (about 25 per client) until the last call,
    ///     where both are the number of events appended.
    /// - Throws: ``PatronError/invalidArgument(_:)`` for a bad argument or a database
    ///   that already holds events; any error of ``Database/appendAndWait(_:expectedVersions:)``.
    public static func build(into db: Database, clients: Int, seed: UInt64, end: Day,
                             progress: ((Int, Int) -> Void)? = nil) throws -> DemoReport {
        guard clients > 0 else { throw PatronError.invalidArgument("the demo needs at least one client") }
        let earliest = Calendar.day(year: 1975, month: 1, day: 1)
        let latest = Calendar.day(year: 9999, month: 12, day: 31)
        guard (earliest...latest).contains(Int(end)) else {
            throw PatronError.invalidArgument("the demo's end date must be from 1975-01-01 to 9999-12-31")
        }
        if db.isReadOnly { throw PatronError.readOnly("demo") }
        let existing = try db.lastPosition
        guard existing == 0 else {
            throw PatronError.invalidArgument("\(db.path) already holds \(existing) events; the demo needs an empty database")
        }

        let clock = ContinuousClock()
        let started = clock.now
        let endDay = Int(end)
        let world = DemoWorld(seed: seed, salt: DemoRandom.mix(seed ^ 0xD3E0_C11E), zone: db.timeZone,
                              start: endDay - historyDays, end: endDay,
                              uptownOpened: endDay - DemoCatalog.uptownOpenedDaysBeforeEnd)

        /// Client `i`'s generator and acquisition day. The days rise with `i` (stratified
        /// quantiles) with a density growing linearly to three times its start.
        func acquisition(_ i: Int) -> (rng: DemoRandom, day: Int) {
            var r = DemoRandom(seed: seed, stream: UInt64(i))
            let u = (Double(i) + r.unit()) / Double(clients)
            let t = ((1 + 8 * u).squareRoot() - 1) / 2
            return (r, world.start + min(historyDays, Int(t * Double(historyDays + 1))))
        }

        var sims: [DemoClient] = []
        sims.reserveCapacity(clients)
        var heap = DemoHeap()
        let appender = DemoAppender(db: db)
        var batch: [Event] = []
        batch.reserveCapacity(batchSize)
        var events = 0
        let expected = max(2, Int(Double(clients) * eventsPerClient))
        var candidate = acquisition(0)

        while true {
            // Admit every client whose first day starts before the earliest waiting event.
            if sims.count < clients && DemoWorld.local(candidate.day, 0) <= (heap.minKey ?? .max) {
                let c = DemoClient(number: sims.count, rng: candidate.rng, acquired: candidate.day, world: world)
                if let t = c.nextTime { heap.push(t, sims.count) }
                sims.append(c)
                if sims.count < clients { candidate = acquisition(sims.count) }
                continue
            }
            guard let c = heap.pop() else { break }
            sims[c].step(world) { batch.append($0) }
            if let t = sims[c].nextTime { heap.push(t, c) }
            if batch.count >= batchSize {
                try appender.submit(batch)
                events += batch.count
                batch.removeAll(keepingCapacity: true)
                progress?(min(events, expected - 1), expected)
            }
        }
        if !batch.isEmpty {
            try appender.submit(batch)
            events += batch.count
        }
        try appender.finish()
        progress?(events, events)
        return DemoReport(clients: clients, events: events, first: Day(world.start), end: end, time: clock.now - started)
    }

    /// A deterministic event id in the library's format (26 Crockford base32 digits of
    /// 48 bits of `at` and 80 bits unique to the seed, client and event), so ids sort by
    /// time and the id index grows at its right edge.
    static func eventID(at: Int64, client: Int, counter: UInt32, salt: UInt64) -> String {
        // The low 64 bits are a bijection of (client, counter), so ids never collide.
        var low = DemoRandom.mix(UInt64(client) << 24 ^ UInt64(counter)) ^ salt
        let high = (UInt64(bitPattern: at) & 0xFFFF_FFFF_FFFF) << 16 | DemoRandom.mix(low) >> 48
        var top = high
        let alphabet: StaticString = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
        return String(unsafeUninitializedCapacity: 26) { out in
            alphabet.withUTF8Buffer { digits in
                for i in stride(from: 25, through: 0, by: -1) {
                    out[i] = digits[Int(low & 31)]
                    low = (low >> 5) | ((top & 31) << 59)
                    top >>= 5
                }
            }
            return 26
        }
    }
}

/// A binary min-heap of (time, client), ties by client number.
struct DemoHeap {
    private struct Entry {
        let key: Int64
        let client: Int32
        func precedes(_ o: Entry) -> Bool { key < o.key || (key == o.key && client < o.client) }
    }

    private var entries: [Entry] = []

    var minKey: Int64? { entries.first?.key }

    mutating func push(_ key: Int64, _ client: Int) {
        entries.append(Entry(key: key, client: Int32(truncatingIfNeeded: client)))
        var i = entries.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard entries[i].precedes(entries[parent]) else { break }
            entries.swapAt(i, parent)
            i = parent
        }
    }

    /// Removes the first entry and returns its client.
    mutating func pop() -> Int? {
        guard let first = entries.first else { return nil }
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            var i = 0
            let n = entries.count
            while true {
                let l = 2 * i + 1
                if l >= n { break }
                var m = l
                if l + 1 < n && entries[l + 1].precedes(entries[l]) { m = l + 1 }
                guard entries[m].precedes(entries[i]) else { break }
                entries.swapAt(i, m)
                i = m
            }
        }
        return Int(first.client)
    }
}

/// Appends batches in order on a background queue, at most two in flight, so the
/// next batch is generated while the last one commits.
final class DemoAppender: Sendable {
    private let db: Database
    private let queue = DispatchQueue(label: "patron.demo.append")
    private let slots = DispatchSemaphore.permits(2)
    private let failure = Mutex<(any Error)?>(nil)

    init(db: Database) { self.db = db }

    func submit(_ events: [Event]) throws {
        if let error = failure.withLock({ $0 }) { throw error }
        slots.wait()
        queue.async { [self] in
            defer { slots.signal() }
            guard failure.withLock({ $0 == nil }) else { return }
            do {
                try db.appendAndWait(events)
            } catch {
                failure.withLock { $0 = $0 ?? error }
            }
        }
    }

    /// Waits for every batch; throws the first failure.
    func finish() throws {
        queue.sync {}
        if let error = failure.withLock({ $0 }) { throw error }
    }
}
