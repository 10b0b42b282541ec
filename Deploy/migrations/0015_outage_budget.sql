-- A store that is down keeps its tasks retrying for a span of time (queue.store_outage_budget,
-- default 7 days) rather than a number of attempts: a store down for a weekend needs nobody.
-- The span starts at the task's first failure and is kept in dsr.jobs.retry_until; the
-- request's own 30-day clock is shown beside it in dsr.request_status.

ALTER TABLE dsr.jobs ADD COLUMN retry_until timestamptz;
COMMENT ON COLUMN dsr.jobs.retry_until IS 'Set at the first failure of a job retried by time (store tasks: first failure + queue.store_outage_budget): it keeps retrying until then whatever max_attempts says, and becomes dead after. NULL: max_attempts decides.';

DROP VIEW dsr.request_status;
CREATE VIEW dsr.request_status AS
SELECT r.id,
       r.kind,
       r.status,
       r.current_step,
       r.received_at,
       date_trunc('second', now() - r.received_at) AS age,
       r.due_at,
       CASE WHEN r.completed_at IS NULL
            THEN ceil(extract(epoch FROM r.due_at - now()) / 86400)::integer END AS days_left,
       CASE WHEN j.state = 'available' THEN j.retry_until END AS retry_until,
       r.completed_at,
       j.id AS job_id,
       j.state AS job_state,
       j.attempt AS attempts,
       CASE WHEN j.state = 'available' THEN j.run_at END AS next_attempt_at,
       j.last_error,
       (SELECT string_agg(t.store || ':' || t.state, ' ' ORDER BY t.store)
          FROM dsr.request_tasks AS t WHERE t.request_id = r.id) AS tasks,
       r.hold_reason,
       r.verification_method,
       r.delivered_at,
       r.export_deleted_at
  FROM dsr.requests AS r
  LEFT JOIN LATERAL (
        SELECT id, state, attempt, run_at, last_error, retry_until
          FROM dsr.jobs
         WHERE request_id = r.id AND kind <> 'notice'
         ORDER BY (state IN ('completed', 'cancelled')), (state = 'available' AND retry_until IS NOT NULL) DESC, id DESC
         LIMIT 1) AS j ON true;
COMMENT ON VIEW dsr.request_status IS 'One row per request: kind, status, age, due date, days left, until when a store that is down is retried, current step, and its most relevant job (an unfinished one first) with attempts and last error; why it waits (hold_reason), how it was verified, when the export reached the person and when it was deleted. Example: SELECT * FROM dsr.request_status WHERE status <> ''completed'' ORDER BY due_at;';
COMMENT ON COLUMN dsr.request_status.id IS 'Request id.';
COMMENT ON COLUMN dsr.request_status.kind IS 'Right exercised.';
COMMENT ON COLUMN dsr.request_status.status IS 'Request status.';
COMMENT ON COLUMN dsr.request_status.current_step IS 'What the daemon is doing or waiting for.';
COMMENT ON COLUMN dsr.request_status.received_at IS 'When received.';
COMMENT ON COLUMN dsr.request_status.age IS 'Time since received.';
COMMENT ON COLUMN dsr.request_status.due_at IS 'Legal deadline.';
COMMENT ON COLUMN dsr.request_status.days_left IS 'Whole days until due (negative when overdue); NULL once finished.';
COMMENT ON COLUMN dsr.request_status.completed_at IS 'When it ended.';
COMMENT ON COLUMN dsr.request_status.job_id IS 'Most relevant job: the unfinished one if any (one retrying a store that is down first), else the latest.';
COMMENT ON COLUMN dsr.request_status.job_state IS 'That job''s state.';
COMMENT ON COLUMN dsr.request_status.attempts IS 'Attempts that job has made.';
COMMENT ON COLUMN dsr.request_status.next_attempt_at IS 'When a waiting job runs next.';
COMMENT ON COLUMN dsr.request_status.last_error IS 'Why the job''s last attempt failed.';
COMMENT ON COLUMN dsr.request_status.tasks IS 'Per-store tasks and their state, e.g. "customer:done marketing:waiting order:done".';
COMMENT ON COLUMN dsr.request_status.retry_until IS 'While a store task waits for a store that is down: the time it stops retrying and becomes dead (first failure + queue.store_outage_budget). Compare with due_at: a retry_until past due_at means the 30-day promise depends on the store coming back.';
COMMENT ON COLUMN dsr.request_status.hold_reason IS 'Why the request waits for identity verification (see dsr.requests.hold_reason).';
COMMENT ON COLUMN dsr.request_status.verification_method IS 'How the identity was verified: code, in_person, documents, call_back, operator_review.';
COMMENT ON COLUMN dsr.request_status.delivered_at IS 'When the person first downloaded the export.';
COMMENT ON COLUMN dsr.request_status.export_deleted_at IS 'When the export file was deleted (expired, or erased with the person).';

-- An operator's retry of a dead store task starts a fresh outage budget at its next failure.
CREATE OR REPLACE FUNCTION dsr.retry_job(job_id bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    j record;
BEGIN
    SELECT state, kind, payload INTO j FROM dsr.jobs WHERE id = job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no job %', job_id USING ERRCODE = 'P0002';
    END IF;
    IF j.state NOT IN ('dead', 'cancelled', 'available') THEN
        RAISE EXCEPTION 'job % is %; only dead, cancelled or waiting jobs can be retried', job_id, j.state
            USING ERRCODE = '55000';
    END IF;
    UPDATE dsr.jobs
       SET state = 'available', run_at = now(), finished_at = NULL,
           max_attempts = greatest(max_attempts, attempt + 1),
           retry_until = CASE WHEN state = 'available' THEN retry_until END
     WHERE id = job_id;
    IF j.kind = 'notice' THEN
        UPDATE dsr.outbox SET state = 'pending'
         WHERE id = (j.payload ->> 'outbox_id')::bigint AND state IN ('cancelled', 'failed');
    END IF;
    PERFORM pg_notify('dsr_jobs', '');
    RETURN 'job ' || job_id || ' will run now';
END $$;
COMMENT ON FUNCTION dsr.retry_job(bigint) IS 'Makes a dead, cancelled or backing-off job run now, granting it one more attempt if it had none left, and a fresh outage budget if it was retried by time (a notice job''s notice becomes pending again). Example: SELECT dsr.retry_job(42);';

-- Dead jobs are few and looked at often (dsr.queue_health, the metrics endpoint's scrape):
-- an index on them alone, so counting them never reads the whole queue's history.
CREATE INDEX jobs_dead ON dsr.jobs (kind) WHERE state = 'dead';
