import ArgumentParser
import Foundation
import Patron

extension PatronCommand {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write events as NDJSON (re-importable) to stdout, in log order.",
            discussion: """
                Examples:
                  patron export > backup.ndjson
                  patron export --client C-1001 --type visit,purchase
                """)
        @OptionGroup var options: DatabaseOptions
        @Option(help: "Output format (ndjson).") var format = "ndjson"
        @Option(help: ArgumentHelp("Only this client's stream.", valueName: "KEY")) var client: String?
        @Option(help: ArgumentHelp("Only these event types (comma-separated).", valueName: "TYPES")) var type: String?

        func validate() throws {
            guard format == "ndjson" else { throw ValidationError("--format \(format) is not supported; use ndjson") }
            if let type {
                for t in type.split(separator: ",") where EventType(rawValue: String(t)) == nil {
                    throw ValidationError("unknown event type \"\(t)\" in --type")
                }
            }
        }

        func run() throws {
            let db = try options.open(readOnly: true)
            let types = type.map { Set($0.split(separator: ",").compactMap { EventType(rawValue: String($0)) }) }
            let out = BufferedOutput()
            defer { out.flush() }
            try db.exportNDJSON(to: { out.write($0 + "\n") }, client: client, types: types)
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show counts and sizes of the database.",
            discussion: """
                Example:
                  patron stats --db clinic.db
                """)
        @OptionGroup var options: DatabaseOptions

        func run() throws {
            let db = try options.open(readOnly: true)
            let s = try db.stats()
            let zone = db.timeZone
            func mb(_ b: Int) -> String { String(format: "%.1f MiB", Double(b) / 1_048_576) }
            var lines: [(String, String)] = [
                ("database", "\(s.path) (format \(s.formatVersion), time zone \(s.timeZone))"),
                ("events", s.events.grouped),
            ]
            for t in EventType.allCases { if let n = s.eventsByType[t] { lines.append(("  \(t.rawValue)", n.grouped)) } }
            lines.append(("clients", "\(s.clients.grouped) (\(s.clientKeys.grouped) keys, \(s.forgotten.grouped) forgotten)"))
            if let f = s.firstAt, let l = s.lastAt {
                lines.append(("business time", "\(Calendar.format(zone.day(of: f))) … \(Calendar.format(zone.day(of: l)))"))
            }
            lines.append(("file size", mb(s.fileSize)))
            lines.append(("used", "\(mb(s.usedSize)) of a \(mb(s.mapSize)) map"))
            if let b = s.bytesPerEvent { lines.append(("bytes per event", String(format: "%.1f", b))) }
            if let note = s.unfinishedImport { lines.append(("note", note)) }
            let width = lines.map(\.0.count).max() ?? 0
            for (k, v) in lines { print(k.padding(toLength: width + 2, withPad: " ", startingAt: 0) + v) }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every event checksum, every index and every projection against a fresh replay.",
            discussion: """
                Exits 1 and lists what differs when anything does.
                Example:
                  patron verify --db clinic.db
                """)
        @OptionGroup var options: DatabaseOptions

        func run() throws {
            let db = try options.open(readOnly: true)
            let r = try db.verify()
            if let note = r.unfinishedImport { print("note: \(note)") }
            if r.isOK {
                print("ok: \(r.events.grouped) events and \(r.clients.grouped) clients verified")
                return
            }
            for p in r.problems { print(p) }
            if r.problemCount > r.problems.count { print("… and \((r.problemCount - r.problems.count).grouped) more") }
            printError("verify: \(r.problemCount.grouped) problems in \(r.events.grouped) events; `patron rebuild` recomputes indexes and projections from the log")
            throw ExitCode(1)
        }
    }

    struct Rebuild: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute all projections and indexes from the event log.",
            discussion: """
                The log itself is never rewritten. A database written by an older
                Patron whose log this build reads is upgraded this way (the open of
                such a file says so).
                Example:
                  patron rebuild --db clinic.db && patron verify --db clinic.db
                """)
        @OptionGroup var options: DatabaseOptions

        func run() throws {
            if !options.readOnly, let n = try Database.upgrade(path: options.path, options: .init(timeZone: options.timeZone)) {
                print("upgraded to the current format: rebuilt from \(n.grouped) events")
                return
            }
            let n = try options.open().rebuild()
            print("rebuilt from \(n.grouped) events")
        }
    }

    struct Backup: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a consistent, compacted copy (DEST and DEST-keys) while the database is in use.",
            discussion: """
                Keep DEST and DEST-keys together: the keys file unseals personal data.
                Example:
                  patron backup /backups/clinic-2025-06-30.db --db clinic.db
                """)
        @OptionGroup var options: DatabaseOptions
        @Argument(help: "The new backup file.") var destination: String

        func run() throws {
            try options.open(readOnly: true).backup(to: destination)
            print("backed up to \(destination) and \(destination)-keys")
        }
    }

    struct Forget: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Erase a client's personal data for good; their anonymous facts keep counting.",
            discussion: """
                Example:
                  patron forget C-1001 --db clinic.db
                """)
        @OptionGroup var options: DatabaseOptions
        @Argument(help: "The client key.") var client: String

        func run() throws {
            try options.open().forget(client)
            print("forgot the personal data of \(client)")
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record that two client keys are the same person.",
            discussion: """
                Appends a merge event: from then on every projection, query and export
                counts CLIENT's events under INTO, `clients` shows only INTO, and a query
                naming CLIENT finds INTO. The log is never rewritten.

                Examples:
                  patron merge mindbody:1042 boulevard:C-88 --db clinic.db
                  patron merge C-1001 C-2001
                """)
        @OptionGroup var options: DatabaseOptions
        @Argument(help: "The key whose events move.") var client: String
        @Argument(help: "The key they count under from now on.") var into: String

        func run() throws {
            try options.open().merge(client, into: into)
            print("merged \(client) into \(into)")
        }
    }
}

/// Buffers stdout writes into large chunks.
final class BufferedOutput {
    private var buffer: [UInt8] = []
    func write(_ s: String) {
        buffer.append(contentsOf: s.utf8)
        if buffer.count > 1 << 16 { flush() }
    }
    func flush() {
        FileHandle.standardOutput.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }
}
