import DSR
import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

/// The queue as production runs it: real `dsrd run` processes, woken by NOTIFY, sharing the
/// queue, killed with SIGKILL and stopped with SIGTERM.
@Suite("Queue with real worker processes")
struct QueueProcessTests {
    @Test func submittedRequestIsClaimedPlannedAndRecorded() async throws {
        try await TestDatabase.migrated { database, connection in
            // No stores configured: the request is planned with zero tasks and completes.
            let noStores = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: noStores) }
            // A poll interval far beyond the test's patience: only NOTIFY can wake the worker.
            let daemon = try DaemonProcess(
                database.runArguments([
                    "--set", "queue.poll_interval=10m", "--set", "connectors.directory=\(noStores.path)",
                ]))
            #expect(try await eventually { try await connection.count("SELECT count(*) FROM dsr.workers") == 1 })
            // Its LISTEN is in place (the listening connection's last statement), so the submit below wakes it.
            #expect(
                try await eventually {
                    try await connection.count(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'") == 1
                })
            let id = try await connection.query("SELECT dsr.submit('restriction', '{\"email\": \"a@example.com\"}') AS id")[0]
                .decode("id", as: UUID.self)
            #expect(
                try await eventually(timeout: .seconds(30)) {
                    try await connection.isCompleted(id)
                }, "\(daemon.output)")
            let steps = try await connection.query("SELECT step FROM dsr.request_events WHERE request_id = $1 ORDER BY id", [id])
                .map { try $0.decode("step", as: String.self) }
            #expect(steps == ["received", "nobody_found", "planned", "completed"])  // no store knows a@example.com
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.jobs WHERE request_id = $1 AND kind IN ('request', 'finalize') AND state = 'completed' AND attempt = 1",
                    [id]) == 2)
            daemon.signal(SIGTERM)
            #expect(try await daemon.waitForExit(timeout: .seconds(30)) == 0)
            #expect(!daemon.output.contains("a@example.com"))
        }
    }

    @Test(arguments: [2, 4])
    func severalProcessesDrainTwoThousandJobsExactlyOnce(processes: Int) async throws {
        try await TestDatabase.migrated { database, connection in
            // Probe jobs record one row each in the transaction that completes them.
            try await connection.execute(
                "INSERT INTO dsr.jobs (kind, payload) SELECT 'probe', '{\"record\": true}' FROM generate_series(1, 2000)")
            // Leases long enough that a process starved of CPU by the rest of the suite does not
            // lose its jobs to a rescue (which would run them twice, correctly fenced, as the
            // rescue tests show): here nothing crashes, and every job must run once.
            let daemons = try (0..<processes).map { _ in
                try DaemonProcess(
                    database.runArguments([
                        "--set", "queue.workers=4", "--set", "queue.batch_size=8", "--set", "queue.lease_duration=30s",
                        "--set", "queue.heartbeat_interval=2s",
                    ]))
            }
            let drained = try await eventually(timeout: .seconds(120)) {
                try await connection.count("SELECT count(*) FROM dsr.jobs WHERE state <> 'completed'") == 0
            }
            #expect(drained)
            for daemon in daemons { daemon.signal(SIGTERM) }
            for daemon in daemons { #expect(try await daemon.waitForExit(timeout: .seconds(30)) == 0, "\(daemon.output)") }
            // Each job ran once: one recorded effect per job, one attempt per job.
            #expect(try await connection.count("SELECT count(*) FROM dsr.probe_results") == 2000)
            #expect(try await connection.count("SELECT count(DISTINCT job_id) FROM dsr.probe_results") == 2000)
            #expect(try await connection.count("SELECT count(*) FROM dsr.jobs WHERE attempt <> 1") == 0)
            // The work was shared.
            #expect(try await connection.count("SELECT count(DISTINCT worker) FROM dsr.probe_results") == processes)
        }
    }

    @Test func jobOfAKilledWorkerIsRescuedAndCompletedOnce() async throws {
        try await TestDatabase.migrated { database, connection in
            try await connection.execute(
                """
                INSERT INTO dsr.jobs (kind, payload)
                SELECT 'probe', '{"sleep_ms": 60000, "record": true}' FROM generate_series(1, 3)
                """)
            let victim = try DaemonProcess(database.runArguments())
            #expect(try await eventually { try await connection.count("SELECT count(*) FROM dsr.jobs WHERE state = 'running'") == 3 })
            victim.signal(SIGKILL)
            _ = try await victim.waitForExit(timeout: .seconds(10))
            // Make the rescued attempt quick, as if the work were nearly done.
            try await connection.execute("UPDATE dsr.jobs SET payload = '{\"record\": true}'")
            let rescuer = try DaemonProcess(database.runArguments())
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    try await connection.count("SELECT count(*) FROM dsr.jobs WHERE state = 'completed'") == 3
                }, "\(rescuer.output)")
            rescuer.signal(SIGTERM)
            #expect(try await rescuer.waitForExit(timeout: .seconds(30)) == 0)
            #expect(try await connection.count("SELECT count(*) FROM dsr.probe_results") == 3)
            #expect(try await connection.count("SELECT count(DISTINCT job_id) FROM dsr.probe_results") == 3)
            #expect(try await connection.count("SELECT count(*) FROM dsr.jobs WHERE attempt = 2 AND last_error LIKE 'lease expired%'") == 3)
        }
    }

    @Test func sigtermFinishesShortJobsAndReleasesLongOnesWithinTheGracePeriod() async throws {
        try await TestDatabase.migrated { database, connection in
            try await connection.execute(
                """
                INSERT INTO dsr.jobs (kind, payload, priority)
                VALUES ('probe', '{"sleep_ms": 3000, "record": true}', 0), ('probe', '{"sleep_ms": 3000, "record": true}', 0),
                       ('probe', '{"sleep_ms": 600000, "record": true}', 1)
                """)
            let daemon = try DaemonProcess(database.runArguments(["--set", "daemon.shutdown_grace=8s"]))
            // All three claimed (on a loaded machine a short one may already have finished:
            // it still counts as claimed, and the long one must be running).
            #expect(
                try await eventually {
                    try await connection.count(
                        "SELECT count(*) FROM dsr.jobs WHERE state IN ('running', 'completed') AND (priority = 0 OR state = 'running')")
                        == 3
                })
            daemon.signal(SIGTERM)
            // Exits 0 well within grace + systemd's stop timeout.
            #expect(try await daemon.waitForExit(timeout: .seconds(25)) == 0, "\(daemon.output)")
            #expect(try await connection.count("SELECT count(*) FROM dsr.jobs WHERE state = 'completed'") == 2)
            #expect(try await connection.count("SELECT count(*) FROM dsr.probe_results") == 2)
            // The long job went back to the queue at once, its attempt not counted.
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.jobs WHERE priority = 1 AND state = 'available' AND attempt = 0 AND locked_by IS NULL") == 1)
            #expect(try await connection.count("SELECT count(*) FROM dsr.workers WHERE stopped_at IS NOT NULL") == 1)
        }
    }

}
