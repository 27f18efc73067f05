import ArgumentParser
import Foundation
import Patron

extension PatronCommand {
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Append events from CSV or NDJSON files (plain or .gz, or - for stdin).",
            discussion: """
                The format comes from --format, else the file name (.csv, .ndjson, .jsonl,
                .json, each maybe .gz), else the first byte ({ is NDJSON). A CSV file has a
                header row naming the fields; list fields (services) are split on ';'.

                Each file is all or nothing: a file with an invalid row imports nothing,
                and each problem is reported as file:line:column (the first 20, then a
                count); a killed import leaves none of the file. A long file commits in
                several transactions (each ends at --segment-size events, or from 50,000
                on once the process's memory reaches --memory-target or when the ids
                come in no order), so memory stays bounded, under a journal: if the
                import fails half-way they are undone at
                once, and if the process dies, by the next command that opens the
                database to write; writers in other processes are refused meanwhile.
                --skip-invalid stores the
                valid rows in batches and writes the others, each with its reason, to
                FILE.rejected; an error that stops it half-way (a truncated .gz) leaves the
                batches stored before it, and the message says up to which line. Rows
                without an id get one derived from their content, so re-importing an
                overlapping export stores each fact once (--no-dedupe turns this off).

                Examples:
                  patron import examples/clinic.ndjson --db clinic.db
                  patron import visits.csv --type visit --map "Client ID=client,Visit Date=at"
                  patron import sales.csv.gz --type purchase --date-format %m/%d/%Y --system shopify
                  zcat export.ndjson.gz | patron import - --format ndjson
                  patron import big.csv --skip-invalid
                """)
        @OptionGroup var options: DatabaseOptions
        @Argument(help: "Files to import; - reads stdin.") var files: [String]
        @Option(help: "Input format: csv or ndjson (default: from the file name or content).") var format: String?
        @Option(help: ArgumentHelp("The event type of rows without a type column.", valueName: "TYPE")) var type: String?
        @Option(help: ArgumentHelp("Rename input columns: \"Client ID=client,Date=at,Total=amount\".", valueName: "PAIRS")) var map: String?
        @Option(help: ArgumentHelp("The layout of non-ISO dates, strftime style: %m/%d/%Y, %d.%m.%Y %H:%M.", valueName: "LAYOUT"))
        var dateFormat: String?
        @Option(help: ArgumentHelp("Namespace this source's client keys and ids as NAME:key.", valueName: "NAME")) var system: String?
        @Flag(name: .long, help: "Do not derive ids from content for rows without one.") var noDedupe = false
        @Flag(name: .long, help: "Import the valid rows; write the invalid ones to FILE.rejected.") var skipInvalid = false
        @Option(help: "Events per batch (per transaction with --skip-invalid).") var batchSize = 10_000
        @Option(help: "Most events per transaction of an all-or-nothing import (without --skip-invalid).") var segmentSize = 100_000
        @Option(help: ArgumentHelp("Resident memory (MB) at which a transaction of an all-or-nothing import ends early, once it holds 50,000 events (Linux); 0: no memory check.", valueName: "MB"))
        var memoryTarget = 224

        func validate() throws {
            guard (1...1_000_000).contains(batchSize) else { throw ValidationError("--batch-size must be from 1 to 1,000,000") }
            guard (1...10_000_000).contains(segmentSize) else { throw ValidationError("--segment-size must be from 1 to 10,000,000") }
            guard (0...1_000_000).contains(memoryTarget) else { throw ValidationError("--memory-target must be from 0 to 1,000,000 (MB)") }
            _ = try importOptions()
            if options.readOnly { throw ValidationError("--read-only cannot be used with import: it writes") }
            if files.filter({ $0 == "-" }).count > 1 { throw ValidationError("stdin (-) can be read only once") }
        }

        func importOptions() throws -> ImportOptions {
            var o = ImportOptions()
            do {
                if let format {
                    guard let f = ImportFormat(rawValue: format.lowercased()) else {
                        throw ValidationError("--format \(format): use csv or ndjson")
                    }
                    o.format = f
                }
                if let type {
                    guard let t = EventType(rawValue: type.lowercased()) else {
                        throw ValidationError("--type \(type) is not an event type (\(EventType.allCases.map(\.rawValue).joined(separator: ", ")))")
                    }
                    o.type = t
                }
                if let map { o.map = try ImportOptions.parseMap(map) }
                if let dateFormat { o.dateFormat = try DateFormat(dateFormat) }
                if let system { o.system = try ImportOptions.parseSystem(system) }
            } catch let e as ImportOptionError {
                throw ValidationError(e.description)
            }
            o.dedupe = !noDedupe
            o.skipInvalid = skipInvalid
            o.batchSize = batchSize
            o.segmentSize = segmentSize
            o.memoryTarget = memoryTarget == 0 ? nil : memoryTarget << 20
            return o
        }

        func run() throws {
            let db = try options.open()
            let settings = try importOptions()
            let terminal = isatty(STDERR_FILENO) == 1
            var failed = false
            for file in files {
                let name = file == "-" ? "stdin" : file
                do {
                    var progress: (@Sendable (ImportProgress) -> Void)?
                    if terminal {
                        progress = { p in FileHandle.standardError.write(Data(("\r\u{1B}[K" + Self.progressLine(name, p)).utf8)) }
                    }
                    let report = try db.importFile(file, options: settings, progress: progress)
                    if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                    for notice in report.fixedDuplicates { printError(notice.description) }
                    if report.fixedDuplicateCount > report.fixedDuplicates.count {
                        printError("… and \(report.fixedDuplicateCount - report.fixedDuplicates.count) more fixed rows already stored")
                    }
                    printError(Self.summary(name, report))
                } catch let error as ImportInterrupted {
                    // Batches were committed before the error: say what is stored, not "nothing".
                    if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                    printError("error: \(error)")
                    failed = true
                } catch let error as ImportFailure {
                    if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                    printError(error.description)
                    failed = true
                } catch let error as ImportError {
                    if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                    printError("error: \(error)")
                    printError("\(name): nothing of this file was imported")
                    failed = true
                }
            }
            if failed { throw ExitCode(1) }
        }

        /// One progress line: a bar when the size is known, bytes and rows per second, ETA.
        static func progressLine(_ name: String, _ p: ImportProgress) -> String {
            let s = max(p.seconds, 0.001)
            var line = name + " "
            if let total = p.totalBytes, total > 0 {
                let fraction = min(1, Double(p.bytes) / Double(total))
                let filled = Int(fraction * 25)
                line += String(repeating: "█", count: filled) + String(repeating: "·", count: 25 - filled)
                line += String(format: " %3d%%", Int(fraction * 100))
            }
            line += String(format: "  %@  %.1f MB/s  %@ rows/s", megabytes(p.bytes), Double(p.bytes) / s / 1e6,
                           Int(Double(p.rows) / s).grouped)
            if let total = p.totalBytes, p.bytes > 0, p.bytes < total {
                let eta = Int((Double(total - p.bytes) / (Double(p.bytes) / s)).rounded())
                line += String(format: "  ETA %d:%02d", eta / 60, eta % 60)
            }
            return line
        }

        static func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }

        /// The final summary line of one file.
        static func summary(_ name: String, _ r: ImportReport) -> String {
            var s = "\(name): \(r.read.grouped) rows read, \(r.appended.grouped) events stored, "
                + "\(r.duplicates.grouped) duplicates skipped, \(r.rejected.grouped) rejected"
            if let file = r.rejectedFile { s += " (written to \(file))" }
            s += String(format: ", %.2f s, %@ events/s", r.seconds, Int(Double(r.appended) / max(r.seconds, 0.001)).grouped)
            return s
        }
    }
}
