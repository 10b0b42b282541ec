import DSR
import Foundation
import Postgres
import TestSupport
import Testing

/// The queue as production runs it: real `dsrd run` processes against a real server.
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
                    try await connection.count("SELECT count(*) FROM dsr.requests WHERE id = $1 AND status = 'completed'", [id]) == 1
                }, "\(daemon.output)")
            let steps = try await connection.query("SELECT step FROM dsr.request_events WHERE request_id = $1 ORDER BY id", [id])
                .map { try $0.decode("step", as: String.self) }
            #expect(steps == ["received", "planned", "completed"])
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
            let daemons = try (0..<processes).map { _ in
                try DaemonProcess(database.runArguments(["--set", "queue.workers=4", "--set", "queue.batch_size=8"]))
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

    @Test func expiredLeaseIsRescuedByTheNextRoundAndRunAgain() async throws {
        try await TestDatabase.migrated { database, connection in
            // A job a vanished worker held: running, its lease over.
            let jobID = try await connection.query(
                """
                INSERT INTO dsr.jobs (kind, payload, state, attempt, locked_by, locked_until, attempted_at)
                VALUES ('probe', '{"record": true}', 'running', 1, 'gone:1:abcdef', now() - interval '1 minute', now() - interval '5 minutes')
                RETURNING id
                """)[0].decode("id", as: Int64.self)
            try await InProcessDaemon.run(database: database) { daemon in
                // No rescue round before its interval has passed on the pool's clock.
                #expect(try await connection.count("SELECT count(*) FROM dsr.jobs WHERE id = $1 AND state = 'running'", [jobID]) == 1)
                daemon.clock.advance(by: .milliseconds(300))  // queue.rescue_interval in the test settings
                try await daemon.next("a rescue round") { $0 == .rescued(1) }
                try await daemon.recorded(jobID)
            }
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.jobs WHERE id = $1 AND state = 'completed' AND attempt = 2 AND last_error LIKE 'lease expired%'",
                    [jobID]) == 1)
            #expect(try await connection.count("SELECT count(*) FROM dsr.probe_results WHERE job_id = $1", [jobID]) == 1)
        }
    }

    @Test func runningJobsLeaseIsRenewedByEachHeartbeat() async throws {
        try await TestDatabase.migrated { database, connection in
            let jobID = try await connection.query(
                "INSERT INTO dsr.jobs (kind, payload) VALUES ('probe', '{\"sleep_ms\": 600000}') RETURNING id")[0].decode(
                    "id", as: Int64.self)
            try await InProcessDaemon.run(database: database, overrides: ["daemon.shutdown_grace=1s"]) { daemon in
                try await daemon.next("the job claimed") { $0 == .claimed([jobID]) }
                // Pull the lease close to its end; a heartbeat (500 ms on the pool's clock) pushes it out again.
                try await connection.execute("UPDATE dsr.jobs SET locked_until = now() + interval '100 ms' WHERE id = $1", [jobID])
                daemon.clock.advance(by: .milliseconds(500))
                try await daemon.next("a heartbeat") { $0 == .leasesRenewed(1) }
                #expect(
                    try await connection.count(
                        "SELECT count(*) FROM dsr.jobs WHERE id = $1 AND locked_until > now() + interval '2 seconds'", [jobID]) == 1)
            }
            // Shut down with the job still running: after the grace period it went back to the queue.
            #expect(try await connection.count("SELECT count(*) FROM dsr.jobs WHERE id = $1 AND state = 'available'", [jobID]) == 1)
        }
    }

    @Test func failingJobIsRetriedWithBackoffThenDeadAndVisible() async throws {
        try await TestDatabase.migrated { database, connection in
            let jobID = try await connection.query(
                "INSERT INTO dsr.jobs (kind, payload, max_attempts) VALUES ('probe', '{\"fail\": \"store said no\"}', 3) RETURNING id"
            )[0].decode("id", as: Int64.self)
            // In-process on a test clock: the backoff is an hour, and time passes when the test
            // moves the job's run_at (the database's clock) and the pool's clock.
            try await InProcessDaemon.run(database: database, overrides: ["queue.retry_base_delay=1h", "queue.retry_max_delay=4h"]) {
                daemon in
                try await daemon.recorded(jobID)
                // After the first failure the job waits in the future (at least half the base
                // delay, with jitter), with the error recorded; a poll does not take it.
                #expect(
                    try await connection.count(
                        "SELECT count(*) FROM dsr.jobs WHERE id = $1 AND attempt = 1 AND state = 'available' AND run_at > attempted_at + interval '30 minutes' AND last_error = 'store said no'",
                        [jobID]) == 1)
                #expect(try await daemon.poll().isEmpty)
                for _ in 2...3 {
                    try await connection.execute("UPDATE dsr.jobs SET run_at = now() WHERE id = $1", [jobID])
                    try await daemon.pollUntilClaimed(jobID)
                    try await daemon.recorded(jobID)
                }
                #expect(try await connection.count("SELECT count(*) FROM dsr.jobs WHERE id = $1 AND state = 'dead'", [jobID]) == 1)
                let job = try await connection.query("SELECT attempt, last_error, finished_at FROM dsr.jobs WHERE id = $1", [jobID])[0]
                #expect(try job.decode("attempt", as: Int.self) == 3)
                #expect(try job.decode("last_error", as: String.self) == "store said no")
                #expect(try job.decode("finished_at", as: Date?.self) != nil)
                #expect(try await connection.count("SELECT dead FROM dsr.queue_health") == 1)

                // An operator retries it from psql; it now succeeds.
                try await connection.execute("UPDATE dsr.jobs SET payload = '{\"record\": true}' WHERE id = $1", [jobID])
                try await connection.execute("SELECT dsr.retry_job($1)", [jobID])
                try await daemon.pollUntilClaimed(jobID)
                try await daemon.recorded(jobID)
                #expect(try await connection.count("SELECT count(*) FROM dsr.jobs WHERE id = $1 AND state = 'completed'", [jobID]) == 1)
                #expect(try await connection.count("SELECT max_attempts FROM dsr.jobs WHERE id = $1", [jobID]) == 4)
                await #expect(throws: PostgresError.self) { try await connection.execute("SELECT dsr.retry_job($1)", [jobID]) }
            }
        }
    }

    @Test func permanentFailureIsDeadAtOnceAndCancelledJobsAreNotRun() async throws {
        try await TestDatabase.migrated { database, connection in
            let permanent = try await connection.query(
                "INSERT INTO dsr.jobs (kind, payload) VALUES ('probe', '{\"fail\": \"bad payload\", \"permanent\": true}') RETURNING id"
            )[0].decode("id", as: Int64.self)
            let cancelled = try await connection.query(
                "INSERT INTO dsr.jobs (kind, payload, run_at) VALUES ('probe', '{\"record\": true}', now() + interval '1 hour') RETURNING id"
            )[0].decode("id", as: Int64.self)
            let unknown = try await connection.query("INSERT INTO dsr.jobs (kind) VALUES ('no_such_kind') RETURNING id")[0]
                .decode("id", as: Int64.self)
            try await connection.execute("SELECT dsr.cancel_job($1, 'duplicate')", [cancelled])
            try await InProcessDaemon.run(database: database) { daemon in
                try await daemon.recorded(permanent, unknown)
                #expect(
                    try await connection.count(
                        "SELECT count(*) FROM dsr.jobs WHERE id = ANY($1::bigint[]) AND state = 'dead'", [[permanent, unknown]]) == 2)
                #expect(try await connection.count("SELECT attempt FROM dsr.jobs WHERE id = $1", [permanent]) == 1)
                #expect(
                    try await connection.query("SELECT last_error FROM dsr.jobs WHERE id = $1", [unknown])[0]
                        .decode("last_error", as: String.self) == "no handler for job kind no_such_kind")
                // The cancelled job falls due; the next look at the queue leaves it alone.
                try await connection.execute("UPDATE dsr.jobs SET run_at = now() WHERE id = $1", [cancelled])
                #expect(try await !daemon.poll().contains(cancelled))
                #expect(try await connection.count("SELECT count(*) FROM dsr.probe_results") == 0)
                #expect(
                    try await connection.query("SELECT state FROM dsr.jobs WHERE id = $1", [cancelled])[0]
                        .decode("state", as: String.self) == "cancelled")
            }
        }
    }

    @Test func sigtermFinishesShortJobsAndReleasesLongOnesWithinTheGracePeriod() async throws {
        try await TestDatabase.migrated { database, connection in
            try await connection.execute(
                """
                INSERT INTO dsr.jobs (kind, payload, priority)
                VALUES ('probe', '{"sleep_ms": 1500, "record": true}', 0), ('probe', '{"sleep_ms": 1500, "record": true}', 0),
                       ('probe', '{"sleep_ms": 600000, "record": true}', 1)
                """)
            let daemon = try DaemonProcess(database.runArguments(["--set", "daemon.shutdown_grace=4s"]))
            #expect(try await eventually { try await connection.count("SELECT count(*) FROM dsr.jobs WHERE state = 'running'") == 3 })
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
