import ArgumentParser
import DSR
import Logging

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the database migrations this dsrd carries (safe to run repeatedly and concurrently).",
        discussion: """
            Each numbered migration from Deploy/migrations runs in its own transaction and is \
            recorded in dsr.schema_migrations with its SHA-256. An advisory lock serialises \
            concurrent runs. Re-running applies nothing. A migration edited after it was \
            applied is reported as an error.
            """)

    @OptionGroup var options: CommonOptions

    @Flag(name: .long, help: "List applied and pending migrations; change nothing.")
    var status = false

    mutating func run() async throws {
        let options = self.options
        let status = self.status
        try await reportingFailures {
            let configuration = try options.loadConfiguration()
            LoggingSetup.bootstrap(level: configuration.log.level)
            let migrator = Migrator(logger: Logger(label: "dsrd.migrate"))
            let connection = try await options.connect(configuration)
            if status {
                let report = try await migrator.status(connection)
                for migration in migrator.migrations {
                    let state = report.applied.contains(migration.version) ? "applied" : "pending"
                    print("\(state)  \(migration.version)_\(migration.name)")
                }
                for version in report.unknown { print("unknown  \(version) (applied by a newer dsrd)") }
                return
            }
            let applied = try await migrator.migrate(connection)
            if applied.isEmpty {
                print("schema is up to date (\(migrator.migrations.count) migrations)")
            } else {
                print("applied \(applied.count) migration(s): \(applied.map(String.init).joined(separator: ", "))")
            }
        }
    }
}
