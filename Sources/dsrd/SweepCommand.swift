import ArgumentParser
import DSR
import Foundation

struct Sweep: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the retention sweep once (or a dry run): rows past their retention, and what erasures kept for ended holds.",
        discussion: """
            Each SQL store in one transaction. A dry run does everything and rolls it back, so \
            its counts are exactly what a real sweep would change; --as-of shows what a sweep \
            on a later day will take (dry runs only). A real sweep that changes rows signs a \
            proof, chains it into the audit log (dsr.sweeps) and writes \
            exports.directory/proofs/sweep-<id>.json; `dsrd verify-proof` checks it. \
            retention.enabled runs it every retention.interval.
            """)

    @OptionGroup var options: CommonOptions
    @Flag(help: "Change nothing: print what a sweep would do.") var dryRun = false
    @Option(help: "Count retention as of this time (ISO 8601; dry runs only).") var asOf: String?

    mutating func run() async throws {
        let (options, dryRun, asOfText) = (self.options, self.dryRun, self.asOf)
        try await reportingFailures {
            var asOf = Date()
            if let asOfText {
                guard dryRun else { throw Failure(message: "--as-of is for dry runs: a real sweep counts from now", exitCode: .usage) }
                guard let date = DateTexts.parseISO(asOfText) else {
                    throw Failure(message: "--as-of: not an ISO 8601 time (2031-01-01T00:00:00+07:00)", exitCode: .usage)
                }
                asOf = date
            }
            let configuration = try options.loadConfiguration()
            let pool = ConnectionPool(
                conninfo: try configuration.databaseConninfo(), maximum: 2, settings: configuration.database.sessionSettings)
            let fanOut = try FanOut.make(configuration: configuration, pool: pool)
            let sweeper = RetentionSweeper(fanOut: fanOut)
            let swept = try await sweeper.sweep(asOf: asOf, dryRun: dryRun)
            var table = TextTable(headers: [
                "store", "table", dryRun ? "would expire" : "expired", dryRun ? "would release" : "released", "rules",
            ])
            for store in swept {
                for row in store.sweep.tables {
                    table.rows.append([
                        store.sweep.store, row.name, String(row.expired), String(row.released), row.rules.joined(separator: "; "),
                    ])
                }
            }
            print(table.rows.isEmpty ? "nothing is past its retention" : table.render())
            for store in swept { if let path = store.proofPath { print("store \(store.sweep.store): proof \(path)") } }
            if !dryRun, let keys = fanOut.proofKeys {
                let connection = try await options.connect(configuration)
                let done = try await OwnDataPseudonymiser(keys: keys, after: configuration.retention.ownDataAfter).run(on: connection)
                let age = DurationText.format(configuration.retention.ownDataAfter)
                print("\(done.requests) requests that ended before \(age) ago pseudonymised")
                print("\(done.breaches) breaches closed before \(age) ago: their people pseudonymised")
            }
        }
    }
}
