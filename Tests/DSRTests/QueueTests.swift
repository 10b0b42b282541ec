import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

@testable import DSR

/// The queue's rules with the daemon in-process on a test clock: retries and backoff, dead
/// and cancelled jobs, rescues of expired leases, lease renewal.
@Suite("Queue rules, in-process")
struct QueueTests {
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

    /// A batch of completions goes to the server in one exchange with its effects. If one
    /// job's lease was lost meanwhile (rescued, claimed again elsewhere), that job's effects
    /// are not committed: the batch is recorded again the careful way, the others with theirs.
    @Test func aBatchOfCompletionsCommitsInOneExchangeAndNeverForALostLease() async throws {
        try await TestDatabase.migrated { _, connection in
            try await connection.execute("INSERT INTO dsr.jobs (kind, payload) SELECT 'probe', '{}' FROM generate_series(1, 5)")
            let effect = "INSERT INTO dsr.probe_results (job_id, attempt, worker) VALUES ($1, $2, 'test')"
            func completed(_ job: Job) -> FinishedJob {
                FinishedJob(job: job, outcome: .completed(JobResult(effects: [SQLStatement(effect, [job.id, job.attempt])])))
            }
            func claim(_ limit: Int) async throws -> [Job] {
                try await QueueStore.claim(connection, limit: limit, workerID: "test", lease: .seconds(60))
            }
            // The effect's statement is prepared by a first batch: preparing is an exchange of its own.
            let first = try await claim(1)
            #expect(try await QueueStore.record(connection, first.map(completed)) == Set(first.map(\.id)))
            let held = try await claim(2)
            let start = await connection.roundTrips
            #expect(try await QueueStore.record(connection, held.map(completed)) == Set(held.map(\.id)))
            #expect(await connection.roundTrips - start == 1, "the update, its check, the effects and the COMMIT together")

            let jobs = try await claim(2)
            // The second job's lease ran out and another worker claimed it again.
            try await connection.execute(
                "UPDATE dsr.jobs SET state = 'running', attempt = attempt + 1, locked_by = 'elsewhere' WHERE id = $1", [jobs[1].id])
            #expect(try await QueueStore.record(connection, jobs.map(completed)) == [jobs[0].id])
            #expect(
                try await connection.query("SELECT array_agg(job_id ORDER BY job_id)::text AS ids FROM dsr.probe_results")[0]
                    .decode("ids", as: String.self) == "{\((first + held + [jobs[0]]).map { String($0.id) }.joined(separator: ","))}")
            #expect(try await connection.count("SELECT count(*) FROM dsr.jobs WHERE id = $1 AND state = 'running'", [jobs[1].id]) == 1)
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
                let pulled = try await connection.query(
                    "UPDATE dsr.jobs SET locked_until = now() + interval '100 ms' WHERE id = $1 RETURNING locked_until::text AS until",
                    [jobID])[0].decode("until", as: String.self)
                daemon.clock.advance(by: .milliseconds(500))
                try await daemon.next("a heartbeat") { $0 == .leasesRenewed(1) }
                // Renewed to a full lease (3 s) from the heartbeat's own time, which is later than
                // the pull: compared with the pulled value, not with now(), which a loaded
                // machine can move on by a second before this query runs.
                #expect(
                    try await connection.count(
                        "SELECT count(*) FROM dsr.jobs WHERE id = $1 AND locked_until > $2::timestamptz + interval '2 seconds'",
                        [jobID, pulled]) == 1)
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

    /// Cancelling the only job of an open request stalls it: the answer says so, the request
    /// shows in dsr.stalled_requests, and a retry of the job takes it off.
    @Test func cancellingARequestsLastJobShowsItStalled() async throws {
        try await TestDatabase.migrated { _, connection in
            let id = try await connection.query("SELECT dsr.submit('access', '{\"email\": \"somchai@example.co.th\"}') AS id")[0]
                .decode("id", as: UUID.self)
            let job = try await connection.query("SELECT id FROM dsr.jobs WHERE request_id = $1 AND kind = 'request'", [id])[0]
                .decode("id", as: Int64.self)
            #expect(try await connection.count("SELECT count(*) FROM dsr.stalled_requests") == 0)
            let answer = try await connection.query("SELECT dsr.cancel_job($1, 'by mistake') AS m", [job])[0].decode("m", as: String.self)
            #expect(answer.contains("will not move on until SELECT dsr.retry_job(\(job))"), "\(answer)")
            let stalled = try await connection.query("SELECT id, last_job, last_error FROM dsr.stalled_requests")
            #expect(stalled.count == 1)
            #expect(try stalled[0].decode("id", as: UUID.self) == id && stalled[0].decode("last_job", as: Int64.self) == job)
            #expect(try stalled[0].decode("last_error", as: String.self) == "cancelled by operator: by mistake")
            _ = try await connection.query("SELECT dsr.retry_job($1)", [job])
            #expect(try await connection.count("SELECT count(*) FROM dsr.stalled_requests") == 0)
            // A notice job is not the request's way forward: cancelling one stalls nothing.
            let notice = try await connection.query("SELECT id FROM dsr.jobs WHERE request_id = $1 AND kind = 'notice'", [id])[0]
                .decode("id", as: Int64.self)
            #expect(
                try await connection.query("SELECT dsr.cancel_job($1, 'sent by hand') AS m", [notice])[0].decode("m", as: String.self)
                    == "job \(notice) cancelled")
        }
    }

    /// The claim connection plans the claim once, for any limit. With finished jobs kept in
    /// the table and a backlog ready, that one plan must still find the picked rows through
    /// `jobs_pkey`, not hash the whole table on every claim (the generic plan of a join to the
    /// picked rows did: it expected a tenth of the backlog to be claimed at once). With the
    /// daemon's context, each claimed step's request is one probe of `requests_pkey`, each
    /// notice's outbox row one of `outbox_pkey`.
    @Test(arguments: [false, true])
    func theClaimsOnePlanNeverReadsTheWholeQueue(withContext: Bool) async throws {
        try await TestDatabase.migrated { _, connection in
            try await connection.execute(
                """
                INSERT INTO dsr.jobs (kind, payload, state, finished_at)
                SELECT 'probe', '{}', 'completed', now() FROM generate_series(1, 20000)
                """)
            if withContext {
                // A backlog of requests, each with its job and events.
                _ = try await connection.query(
                    """
                    SELECT count(dsr.submit('access', jsonb_build_object('email', 'p' || g || '@example.com'), $1::jsonb))
                      FROM generate_series(1, 3000) AS g
                    """, [#"{"verification": {"method": "in_person", "evidence": "ID card checked", "operator": "test"}}"#])
            } else {
                try await connection.execute("INSERT INTO dsr.jobs (kind, payload) SELECT 'probe', '{}' FROM generate_series(1, 3000)")
            }
            try await connection.execute("ANALYZE dsr.jobs, dsr.requests")
            let context = withContext ? ClaimContext.daemon : nil
            try await connection.execute(
                "PREPARE claim_once (bigint, text, bigint\(withContext ? ", text[], text[]" : "")) AS \(context?.claimStatement ?? QueueStore.plainClaimStatement)"
            )
            try await connection.execute("SET plan_cache_mode = \(PostgresConnection.genericPlansAlways.value)")
            try await connection.execute("BEGIN")
            let plan = try await connection.query(
                "EXPLAIN EXECUTE claim_once (4, 'w', 60000\(withContext ? ", '{request,store_task,finalize}', '{notice}'" : ""))"
            ).map { try $0.decode(at: 0, as: String.self) }.joined(separator: "\n")
            // And the claim itself: the jobs of the context's kinds come with their request or
            // outbox row; a job of another kind (claimed first) does not, though it names a
            // request, nor a notice whose payload names no outbox row.
            try await connection.execute(
                "DELETE FROM dsr.jobs WHERE kind = 'notice' AND id <> (SELECT min(id) FROM dsr.jobs WHERE kind = 'notice')")
            try await connection.execute("UPDATE dsr.jobs SET priority = -1 WHERE kind = 'notice'")
            try await connection.execute(
                """
                INSERT INTO dsr.jobs (kind, request_id, payload, priority)
                (SELECT 'probe', id, '{}'::jsonb, -1 FROM dsr.requests LIMIT 1)
                UNION ALL SELECT 'notice', NULL, '{"outbox_id": "not a number"}', -1
                """)
            let jobs = try await connection.transactionIf(false) { connection in
                try QueueStore.claim(connection, limit: 5, workerID: "w", lease: .seconds(60), context: context)
            }
            try await connection.execute("ROLLBACK")
            for table in ["jobs", "requests", "request_events", "request_tasks", "outbox"] {
                #expect(!plan.contains("Seq Scan on \(table)"), "\(plan)")
            }
            #expect(plan.contains("Index Scan using jobs_pkey"), "\(plan)")
            #expect(plan.contains("requests_pkey") == withContext, "\(plan)")
            #expect(plan.contains("outbox_pkey") == withContext, "\(plan)")
            #expect(jobs.count == 5)
            #expect(
                jobs.map(\.kind).sorted()
                    == (withContext
                        ? ["notice", "notice", "probe", "request", "request"] : ["notice", "probe", "probe", "probe", "probe"]))
            for job in jobs {
                let payloadNamesARow = job.payload.contains("outbox_id\":") && !job.payload.contains("not a number")
                #expect((job.context != nil) == (withContext && (job.kind == "request" || payloadNamesARow)), "\(job.kind)")
                if let row = job.claimedRow("context_") {
                    #expect(job.kind == "request")
                    #expect(try row.decode("context_kind", as: String.self) == "access")
                    #expect(try row.decode("context_status", as: String.self) == "received")
                }
                if let row = job.claimedRow("notice_") {
                    #expect(job.kind == "notice")
                    #expect(try row.decode("notice_template", as: String.self) == "received")
                    #expect(try row.decode("notice_state", as: String.self) == "pending")
                    #expect(try row.decode("notice_kind", as: String.self) == "access")
                }
            }
        }
    }
}
