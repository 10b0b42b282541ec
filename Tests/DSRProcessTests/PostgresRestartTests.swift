import DSR
import DSRTestSupport
import Foundation
import Logging
import Postgres
import TestSupport
import Testing

/// A `dsrd run` process whose PostgreSQL server is restarted under it (a private cluster).
@Suite("PostgreSQL restarted under a running daemon")
struct PostgresRestartTests {
    @Test func workersSurviveAPostgreSQLRestartWithoutLosingOrDoublingWork() async throws {
        let cluster = try await PrivateCluster.start()
        let connection = try await PostgresConnection.connect(cluster.conninfo)
        try await Migrator(logger: Logger(label: "test")).migrate(connection)
        try await connection.execute(
            "INSERT INTO dsr.jobs (kind, payload) SELECT 'probe', '{\"record\": true, \"sleep_ms\": 5}' FROM generate_series(1, 3000)")
        let daemon = try DaemonProcess(
            ["run", "--config", exampleConfigFile, "--database-url", cluster.conninfo]
                + fastQueue + ["--set", "queue.workers=8"])
        #expect(try await eventually { try await connection.count("SELECT count(*) FROM dsr.probe_results") >= 300 }, "\(daemon.output)")
        try await cluster.restart()
        let survivor = try await PostgresConnection.connect(cluster.conninfo)
        #expect(
            try await eventually(timeout: .seconds(120)) {
                try await survivor.count("SELECT count(*) FROM dsr.jobs WHERE state <> 'completed'") == 0
            }, "\(daemon.output)")
        #expect(daemon.isRunning)
        // The restart really cut the daemon's connections, and it reconnected.
        #expect(daemon.output.contains("database operation failed"))
        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit(timeout: .seconds(30)) == 0)
        #expect(try await survivor.count("SELECT count(*) FROM dsr.probe_results") == 3000)
        #expect(try await survivor.count("SELECT count(DISTINCT job_id) FROM dsr.probe_results") == 3000)
        #expect(try await survivor.count("SELECT count(*) FROM dsr.jobs WHERE state = 'dead'") == 0)
    }
}
