import Foundation
import Postgres

/// The queue's SQL. Every write that ends an attempt is fenced by `(id, attempt)` and
/// `state = 'running'`: a worker whose lease was rescued and re-claimed elsewhere can no
/// longer complete, fail or release the job, so its late result changes nothing.
enum QueueStore {
    /// Claims up to `$1` due jobs for worker `$2` with a lease of `$3` milliseconds.
    ///
    /// The claim connection plans it once (a generic plan, `$1` unknown), so its shape must
    /// not depend on the limit: the claimed rows are found again by `id = ANY(ARRAY(…))`,
    /// an index scan of `jobs_pkey`. Joined to the picked rows instead (`FROM picked`), the
    /// generic plan guessed a tenth of the ready jobs would be claimed and hashed the whole
    /// `dsr.jobs` table on every claim: 4–5 ms per claim with 15,000 finished jobs kept.
    ///
    /// With a context, jobs of each part's kinds come back with that part's row beside them
    /// (`$4`, `$5`, …: each part's kinds), read through a lateral subquery kept apart by
    /// `OFFSET 0`: one index probe per claimed job (of `requests_pkey`, `outbox_pkey`),
    /// whatever the plan guesses.
    /// Built once per context (``ClaimContext/claimStatement``, ``plainClaimStatement``), not
    /// on every claim.
    static func claimStatement(parts: [ClaimContext.Part]) -> String {
        let claim = """
            WITH picked AS (
                SELECT id FROM dsr.jobs
                 WHERE state = 'available' AND run_at <= now()
                 ORDER BY priority, run_at, id
                 LIMIT $1
                 FOR UPDATE SKIP LOCKED)
            UPDATE dsr.jobs AS j
               SET state = 'running', attempt = j.attempt + 1, locked_by = $2,
                   locked_until = now() + $3 * interval '1 millisecond', attempted_at = now()
             WHERE j.id = ANY (ARRAY(SELECT id FROM picked))
            RETURNING j.id, j.kind, j.request_id, j.payload, j.attempt, j.max_attempts
            """
        guard !parts.isEmpty else { return claim }
        let job = ClaimContext.job
        let laterals = parts.enumerated().map { index, part in
            """
              LEFT JOIN LATERAL (
                   SELECT true AS \(part.found), \(part.selectList)
                     \(part.source) AND \(job).kind = ANY ($\(index + 4)::text[]) OFFSET 0) AS x\(index) ON true
            """
        }
        return """
            WITH claimed AS (\(claim))
            SELECT \(job).*, \(parts.indices.map { "x\($0).*" }.joined(separator: ", "))
              FROM claimed AS \(job)
            \(laterals.joined(separator: "\n"))
            """
    }

    /// The claim without a context.
    static let plainClaimStatement = claimStatement(parts: [])

    static func claim(
        _ connection: isolated PostgresConnection, limit: Int, workerID: String, lease: Duration, context: ClaimContext? = nil
    ) throws -> [Job] {
        var parameters: [any PostgresEncodable] = [limit, workerID, lease.milliseconds]
        let parts = context?.parts ?? []
        parameters += parts.map(\.kinds)
        let rows = try connection.query(context?.claimStatement ?? plainClaimStatement, parameters)
        return try rows.map { row in
            let found = try parts.contains { try !row.isNull($0.found) }
            return Job(
                id: try row.decode("id", as: Int64.self),
                kind: try row.decode("kind", as: String.self),
                requestID: try row.decode("request_id", as: UUID?.self),
                payload: try row.decode("payload", as: String.self),
                attempt: try row.decode("attempt", as: Int.self),
                maxAttempts: try row.decode("max_attempts", as: Int.self),
                context: found ? row : nil)
        }
    }

    /// Records a batch of finished attempts in one transaction. Returns the ids whose
    /// record took effect (the others had lost their lease).
    ///
    /// The batch statements pass job ids as arrays (`UPDATE … FROM unnest($1)`); prepared,
    /// PostgreSQL's generic plan for them after five runs was a sequential scan of the whole
    /// queue (39,965 jobs/s fell to 8,540), so they run unprepared, planned for their values.
    /// (Tried again with the completions' rows named by `j.id = ANY($1)` as well: the generic
    /// plan PostgreSQL kept took 10 ms per batch of 100, and 64 workers fell from 24,694 to
    /// 8,102 jobs/s, although `EXPLAIN` of the same plan on a test queue looked right.)
    /// The jobs' effects (the `dsr.*` functions) keep the plan cache: forcing a custom plan on
    /// the whole session (`plan_cache_mode`), as the completer once did, made every statement
    /// inside those functions be planned again on every call.
    ///
    /// A batch of completions only (the usual one) first goes in one exchange: the fenced
    /// update, a check that it recorded every job (``completionsStatement``), the effects and
    /// the COMMIT together. If a lease was lost, or anything else fails, that transaction is
    /// rolled back whole and the batch is recorded again the careful way: the update first,
    /// then the effects of the jobs it recorded.
    static func record(_ connection: isolated PostgresConnection, _ finished: [FinishedJob]) throws -> Set<Int64> {
        if !finished.isEmpty, finished.allSatisfy({ if case .completed = $0.outcome { true } else { false } }) {
            do {
                return try connection.transaction { connection in try recordCompletionsAtOnce(connection, finished) }
            } catch let error as PostgresError where error.kind == .server {
                // A lease lost, or an effect refused: the careful way finds out which.
            }
        }
        return try connection.transaction { connection in
            try recordInOpenTransaction(connection, finished)
        }
    }

    /// The fenced update of a batch of completions (`$1` ids, `$2` attempts), returning the
    /// ids it recorded.
    private static let completionUpdate = """
        UPDATE dsr.jobs AS j
           SET state = 'completed', finished_at = now(), locked_by = NULL, locked_until = NULL
          FROM unnest($1::bigint[], $2::int[]) AS c(id, attempt)
         WHERE j.id = c.id AND j.attempt = c.attempt AND j.state = 'running'
        RETURNING j.id
        """

    /// ``completionUpdate``, failing unless it recorded every job of the batch
    /// (`dsr.expect_completions`). Planned for its values, as the careful way's update is.
    static let completionsStatement = """
        WITH done AS (\(completionUpdate))
        SELECT dsr.expect_completions(cardinality($1::bigint[]), (SELECT count(*) FROM done))
        """

    private static func recordCompletionsAtOnce(_ connection: isolated PostgresConnection, _ finished: [FinishedJob]) throws -> Set<Int64> {
        try connection.executeAtCommit(
            completionsStatement, [finished.map(\.job.id), finished.map { Int64($0.job.attempt) }], plannedForValues: true)
        for item in finished {
            guard case .completed(let result) = item.outcome else { continue }
            for effect in result.effects { try connection.executeAtCommit(effect.sql, effect.parameters) }
        }
        return Set(finished.map(\.job.id))
    }

    private static func recordInOpenTransaction(
        _ connection: isolated PostgresConnection, _ finished: [FinishedJob]
    ) throws -> Set<Int64> {
        var completed: [FinishedJob] = []
        var failed: [(job: Job, reason: String, delay: Duration?, budget: Duration?)] = []
        var released: [(job: Job, delay: Duration, reason: String?)] = []
        for item in finished {
            switch item.outcome {
            case .completed: completed.append(item)
            case .failed(let reason, let retryAfter, let budget): failed.append((item.job, reason, retryAfter, budget))
            case .released: released.append((item.job, .zero, nil))
            case .postponed(let delay, let reason): released.append((item.job, delay, reason))
            }
        }
        var recorded = Set<Int64>()
        if !completed.isEmpty {
            let rows = try connection.queryPlannedForValues(
                completionUpdate, [completed.map(\.job.id), completed.map { Int64($0.job.attempt) }])
            let fenced = Set(try rows.map { try $0.decode("id", as: Int64.self) })
            // A batch of completions only (the usual one): the effects go with the COMMIT, in
            // one exchange. Otherwise they run here, before the failures and releases, as ever.
            let atCommit = failed.isEmpty && released.isEmpty
            for item in completed where fenced.contains(item.job.id) {
                guard case .completed(let result) = item.outcome else { continue }
                for effect in result.effects {
                    if atCommit {
                        try connection.executeAtCommit(effect.sql, effect.parameters)
                    } else {
                        try connection.execute(effect.sql, effect.parameters)
                    }
                }
            }
            recorded.formUnion(fenced)
        }
        if !failed.isEmpty {
            // A job retried by time (a budget given) keeps retrying until retry_until, set at
            // its first failure; any other until it runs out of attempts.
            let rows = try connection.queryPlannedForValues(
                """
                WITH f AS (
                    SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::text[], $5::bigint[])
                        AS f(id, attempt, delay_ms, reason, budget_ms)),
                d AS (
                    SELECT j.id, f.attempt, f.delay_ms, f.reason,
                           CASE WHEN f.budget_ms >= 0
                                THEN coalesce(j.retry_until, now() + f.budget_ms * interval '1 millisecond') END AS retry_until,
                           j.attempt >= j.max_attempts AS out_of_attempts
                      FROM dsr.jobs AS j JOIN f ON j.id = f.id AND j.attempt = f.attempt AND j.state = 'running'),
                e AS (
                    SELECT d.*, d.delay_ms < 0
                                OR CASE WHEN d.retry_until IS NULL THEN d.out_of_attempts ELSE d.retry_until <= now() END AS dead
                      FROM d)
                UPDATE dsr.jobs AS j
                   SET state = CASE WHEN e.dead THEN 'dead' ELSE 'available' END,
                       finished_at = CASE WHEN e.dead THEN now() END,
                       run_at = now() + greatest(e.delay_ms, 0) * interval '1 millisecond',
                       retry_until = e.retry_until,
                       locked_by = NULL, locked_until = NULL, last_error = e.reason
                  FROM e
                 WHERE j.id = e.id AND j.attempt = e.attempt AND j.state = 'running'
                RETURNING j.id
                """,
                [
                    failed.map(\.job.id), failed.map { Int64($0.job.attempt) },
                    failed.map { $0.delay?.milliseconds ?? -1 }, failed.map { String($0.reason.prefix(2000)) },
                    failed.map { $0.budget?.milliseconds ?? -1 },
                ])
            recorded.formUnion(try rows.map { try $0.decode("id", as: Int64.self) })
        }
        if !released.isEmpty {
            // Released (shutdown) or postponed (a paused store): back to the queue, the
            // attempt not counted; a postponement waits and says why. A run_at moved past the
            // attempt's start while it ran (dsr.resume_store: what it waited for is over)
            // makes it run again at once.
            let rows = try connection.queryPlannedForValues(
                """
                UPDATE dsr.jobs AS j
                   SET state = 'available', attempt = j.attempt - 1,
                       run_at = CASE WHEN j.run_at > j.attempted_at THEN now()
                                     ELSE now() + r.delay_ms * interval '1 millisecond' END,
                       last_error = coalesce(r.reason, j.last_error), locked_by = NULL, locked_until = NULL
                  FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::text[]) AS r(id, attempt, delay_ms, reason)
                 WHERE j.id = r.id AND j.attempt = r.attempt AND j.state = 'running'
                RETURNING j.id
                """,
                [
                    released.map(\.job.id), released.map { Int64($0.job.attempt) }, released.map { $0.delay.milliseconds },
                    released.map { $0.reason as String? },
                ])
            recorded.formUnion(try rows.map { try $0.decode("id", as: Int64.self) })
        }
        return recorded
    }

    /// Renews the leases this worker holds. Returns how many were still ours.
    static func extendLeases(
        _ connection: isolated PostgresConnection, ids: [Int64], workerID: String, lease: Duration
    ) throws -> Int {
        guard !ids.isEmpty else { return 0 }
        return try connection.execute(
            """
            UPDATE dsr.jobs SET locked_until = now() + $3 * interval '1 millisecond'
             WHERE id = ANY($1::bigint[]) AND locked_by = $2 AND state = 'running'
            """,
            [ids, workerID, lease.milliseconds])
    }

    /// Returns jobs whose lease expired (their worker crashed or froze) to the queue, or
    /// makes them dead when they have no attempts left. Returns how many were rescued.
    static func rescueExpired(_ connection: isolated PostgresConnection) throws -> Int {
        try connection.execute(
            """
            WITH expired AS (
                SELECT id, CASE WHEN retry_until IS NULL THEN attempt >= max_attempts ELSE retry_until <= now() END AS dead
                  FROM dsr.jobs
                 WHERE state = 'running' AND locked_until < now()
                 ORDER BY locked_until
                 LIMIT 500
                 FOR UPDATE SKIP LOCKED)
            UPDATE dsr.jobs AS j
               SET state = CASE WHEN expired.dead THEN 'dead' ELSE 'available' END,
                   finished_at = CASE WHEN expired.dead THEN now() END,
                   run_at = now(),
                   last_error = 'lease expired: worker ' || j.locked_by || ' stopped renewing it',
                   locked_by = NULL, locked_until = NULL
              FROM expired
             WHERE j.id = expired.id
            """)
    }

    static func registerWorker(
        _ connection: isolated PostgresConnection, id: String, host: String, pid: Int32, version: String, workers: Int
    ) throws {
        try connection.execute(
            """
            INSERT INTO dsr.workers (id, host, pid, version, workers) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (id) DO UPDATE SET last_seen_at = now(), stopped_at = NULL
            """,
            [id, host, pid, version, workers])
    }

    static func touchWorker(_ connection: isolated PostgresConnection, id: String) throws {
        try connection.execute("UPDATE dsr.workers SET last_seen_at = now() WHERE id = $1", [id])
    }

    static func markWorkerStopped(_ connection: isolated PostgresConnection, id: String) throws {
        try connection.execute("UPDATE dsr.workers SET stopped_at = now(), last_seen_at = now() WHERE id = $1", [id])
    }
}
