import ArgumentParser
import Foundation
import Patron

extension PatronCommand {
    struct Fit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fit BG/NBD, MBG/NBD and Gamma-Gamma and store their parameters.",
            discussion: """
                Fits the lifetime-value models over every client with an activity day on or
                before today (or --today) and stores each model whose fit converged, with the
                day and log position it saw; p_alive, expected(D) and predicted_clv use them
                afterwards. A fit that does not converge says so and keeps the parameters
                stored before. Prints one row per parameter (value, standard error) and a
                log_likelihood row per model noting iterations, time and clients.

                Examples:
                  patron fit --db clinic.db
                  patron fit --today 1997-09-30 --format csv
                  patron query "set model = bgnbd"    # p_alive, expected(D): BG/NBD, not MBG/NBD
                """)
        @OptionGroup var options: DatabaseOptions
        @OptionGroup var result: ResultOptions

        func run() throws {
            guard FileManager.default.fileExists(atPath: options.path) else {
                throw ValidationError("no database at \(options.path)")
            }
            let db = try options.open()
            let today = try result.day()
            try result.print(origin: "fit") { columns, row in try db.query("fit", today: today, columns: columns, row: row) }
        }
    }
}
