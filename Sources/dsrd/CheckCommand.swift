import ArgumentParser
import DSR
import Foundation

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every store mapping against its live store; exits 1 on an error or a full scan of a large table.",
        discussion: """
            The first step of connecting a new store. For each SQL store: every table and column \
            the mapping names exists and has a type its use needs (boolean flags, date columns for \
            holds and objections, text for hashed and masked columns, nullable columns for null); \
            erasure strategies can work (no changed value a foreign key points at); export order is \
            stable (a key or primary key). Then each lookup's index, and the plan of every \
            statement dsrd generates (resolution, export, erasure, its check, corrections, \
            restriction, objection): a sequential scan over a table larger than --threshold rows \
            is reported with the index that fixes it (`dsrd indexes` prints them all). Warnings \
            do not change the exit status unless --strict.
            """)

    @OptionGroup var options: CommonOptions
    @Option(help: "Only this store.") var store: String?
    @Option(help: "Tables with more rows than this (planner estimate) must not be scanned sequentially.") var threshold: Int64 = 10_000
    @Flag(help: "Exit 1 on warnings too.") var strict = false

    mutating func run() async throws {
        let options = self.options
        let only = store
        let threshold = self.threshold
        let strict = self.strict
        try await reportingFailures {
            let configuration = try options.loadConfiguration()
            let (stores, kinds) = try options.storeMappings(configuration, only: only)
            var failed = false
            for mapping in stores {
                guard mapping.kind == .postgres else {
                    let what =
                        mapping.kind == .manual
                        ? "manual store: its mapping loads; tasks go to \(mapping.manual?.owner ?? "its owner")"
                        : "http store: its mapping loads; its tables are the service's"
                    print("store \(mapping.name)\n  ok    \(what)\n")
                    continue
                }
                let report: StoreCheckReport
                do {
                    report = try await SQLConnector(mapping: mapping, maxConnections: 1).check(threshold: threshold, extraKinds: kinds)
                } catch {
                    print("store \(mapping.name)\n  ERROR cannot check it: \(error)\n")
                    failed = true
                    continue
                }
                print(report.render() + "\n")
                failed = failed || report.failed || (strict && report.warnings > 0)
            }
            if failed { throw ExitCode(1) }
        }
    }
}
