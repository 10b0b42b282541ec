import DSR
import Foundation
import Logging
import Postgres
import TestSupport

/// Settings that make the daemon react in test time: short polls, leases and backoff.
let fastQueue =
    [
        "--set", "queue.poll_interval=200ms",
        "--set", "queue.lease_duration=3s",
        "--set", "queue.heartbeat_interval=500ms",
        "--set", "queue.rescue_interval=300ms",
        "--set", "queue.retry_base_delay=100ms",
        "--set", "queue.retry_max_delay=1s",
        "--set", "log.level=notice",
        // Tests that want the minor scan turn it on; elsewhere it would erase generated minors.
        "--set", "minors.enabled=false",
    ] + SeedCompany.arguments

extension TestDatabase {
    /// A fresh database with the dsr schema applied.
    static func migrated<T: Sendable>(_ body: (TestDatabase, PostgresConnection) async throws -> T) async throws -> T {
        try await TestDatabase.with { database in
            let connection = try await database.connect()
            try await Migrator(logger: Logger(label: "test")).migrate(connection)
            return try await body(database, connection)
        }
    }

    /// Arguments for `dsrd run` against this database, with the repository's
    /// Config/dsrd.toml (defaults, and the notice templates next to it).
    func runArguments(_ extra: [String] = []) -> [String] {
        ["run", "--config", ConfigurationTests.exampleFile, "--database-url", conninfo] + fastQueue + extra
    }
}

/// A `dsrd run` that answered one request and was stopped.
struct FinishedRun {
    /// Whether the request reached `completed` in time.
    let completed: Bool
    /// Exit status after SIGTERM; nil if it did not exit within 30 s.
    let status: Int32?
    let output: String
}

/// Runs `dsrd` with `arguments` until request `id` is completed in `connection`'s database
/// (or `timeout` passes), then stops it with SIGTERM and waits for it to exit.
func runUntilCompleted(
    _ id: UUID, _ arguments: [String], environment: [String: String] = [:], on connection: PostgresConnection,
    timeout: Duration = .seconds(60)
) async throws -> FinishedRun {
    let daemon = try DaemonProcess(arguments, environment: environment)
    let completed = try await eventually(timeout: timeout) {
        try await connection.count("SELECT count(*) FROM dsr.requests WHERE id = $1 AND status = 'completed'", [id]) == 1
    }
    daemon.signal(SIGTERM)
    let status = try await daemon.waitForExit(timeout: .seconds(30))
    return FinishedRun(completed: completed, status: status, output: daemon.output)
}

extension PostgresConnection {
    func count(_ sql: String, _ parameters: [any PostgresEncodable] = []) throws -> Int {
        try query(sql, parameters)[0].decode(at: 0, as: Int.self)
    }
}
