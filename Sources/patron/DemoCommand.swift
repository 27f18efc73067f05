import ArgumentParser
import Foundation
import Patron

extension PatronCommand {
    struct Demo: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a realistic demo med spa to explore.",
            discussion: """
                Writes four years of history up to --end into a new (or empty) database:
                clients acquired through instagram, google, referrals, walk-ins and deals,
                with costs; injectables, fillers, laser series, facials, peels,
                microneedling and PRP at real-looking prices, retail skincare in the
                clinic and online; three locations and their providers; one-time
                clients, lapsing clients and loyal regulars; points, tiers, memberships,
                feedback and refunds. The same --seed, --clients and --end give the same
                events, ids included. Names, emails (example.com) and phones (555-01xx)
                are made up.

                A database that already holds events is refused (exit status 1).

                Examples:
                  patron demo --db demo.db
                  patron demo --db demo.db --clients 100000 --seed 7 --end 2025-12-31
                  patron query "clients group by tier show count(), avg(spend)" --db demo.db
                  patron query "clients where lapsed > 90d and tier = gold" --db demo.db
                """)

        @OptionGroup var options: DatabaseOptions

        @Option(help: "How many clients to create.")
        var clients = 2_000

        @Option(help: "The seed of the generated history.")
        var seed: UInt64 = 1

        @Option(help: ArgumentHelp("The last day of the history (default: today in the database's time zone).",
                                   valueName: "YYYY-MM-DD"))
        var end: String?

        func validate() throws {
            guard clients >= 1 else { throw ValidationError("--clients must be at least 1") }
            guard clients <= 10_000_000 else { throw ValidationError("--clients must be at most 10,000,000") }
            if options.readOnly { throw ValidationError("--read-only cannot be used with demo: it writes a new database") }
            if let end { _ = try Self.day(end) }
        }

        /// The day of a `YYYY-MM-DD` text (1975 or later).
        static func day(_ text: String) throws -> Day {
            guard let d = Calendar.day(parsing: text) else { throw ValidationError("--end \"\(text)\" is not a date; write YYYY-MM-DD") }
            guard d >= Day(Calendar.day(year: 1975, month: 1, day: 1)) else {
                throw ValidationError("--end \"\(text)\" is too early; the demo's end date must be 1975-01-01 or later")
            }
            return d
        }

        func run() throws {
            let path = options.path
            let terminal = isatty(STDERR_FILENO) == 1
            let report: DemoReport
            do {
                // Written without a sync per commit (fast); the file is synced once below.
                let db = try Database(path: path, options: .init(timeZone: options.timeZone,
                                                                 initialMapSize: Self.mapSize(clients: clients), durable: false))
                let existing = try db.lastPosition
                guard existing == 0 else {
                    printError("patron demo: \(path) already holds \(Int(existing).grouped) events; the demo writes only to a new or empty database (choose another --db)")
                    throw ExitCode(1)
                }
                let endDay = try end.map(Self.day) ?? db.today
                report = try DemoClinic.build(into: db, clients: clients, seed: seed, end: endDay) { done, total in
                    guard terminal else { return }
                    let pct = total > 0 ? done * 100 / total : 100
                    let bar = String(repeating: "█", count: pct / 4) + String(repeating: "·", count: 25 - pct / 4)
                    FileHandle.standardError.write(Data("\rdemo \(bar) \(pct)% \(done.grouped) events".utf8))
                }
            }
            if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            try Self.sync(path)
            printError(String(format: "demo: %@ clients, %@ events, %@ … %@, in %.1f s → %@", report.clients.grouped,
                              report.events.grouped, Calendar.format(report.first), Calendar.format(report.end),
                              report.seconds, path))
        }

        /// A map large enough for the whole demo (about 25 events of about 280 bytes per
        /// client, with room to spare), so it never has to grow during the build; the
        /// file itself only takes what is used.
        static func mapSize(clients: Int) -> Int {
            var size = 64 << 20
            while size < clients * 30 * 400 && size < 1 << 40 { size <<= 1 }
            return size
        }

        /// Makes the database file durable (the build commits without syncing).
        static func sync(_ path: String) throws {
            guard let handle = FileHandle(forUpdatingAtPath: path) else {
                throw PatronError.io("cannot open \(path) to sync it")
            }
            defer { try? handle.close() }
            try handle.synchronize()
        }
    }
}
