-- An open request moves on only through its jobs (plan, store tasks, final assembly) or a
-- person (a code, an approval, a manual task's outcome). dsr.stalled_requests lists the open
-- requests that have neither: every job they had was cancelled or died. dsr.cancel_job says
-- so when it leaves a request in that state.

CREATE VIEW dsr.stalled_requests AS
SELECT r.id, r.kind, r.status, r.current_step, r.due_at,
       j.id AS last_job, j.kind AS last_job_kind, j.state AS last_job_state, j.last_error
  FROM dsr.requests AS r
  LEFT JOIN LATERAL (
        SELECT id, kind, state, last_error FROM dsr.jobs
         WHERE request_id = r.id AND kind IN ('request', 'store_task', 'finalize')
         ORDER BY id DESC LIMIT 1) AS j ON true
 WHERE r.completed_at IS NULL AND r.status IN ('received', 'in_progress', 'waiting')
   AND NOT EXISTS (SELECT 1 FROM dsr.jobs AS a WHERE a.request_id = r.id AND a.state IN ('available', 'running')
                      AND a.kind IN ('request', 'store_task', 'finalize'))
   AND NOT EXISTS (SELECT 1 FROM dsr.manual_tasks AS m WHERE m.request_id = r.id AND m.completed_at IS NULL);
COMMENT ON VIEW dsr.stalled_requests IS 'Open requests that nothing will move on: no job left to run (cancelled or dead) and no manual task open. Fix with SELECT dsr.retry_job(last_job), or refuse the request (dsr.refuse_request). Example: SELECT * FROM dsr.stalled_requests;';
COMMENT ON COLUMN dsr.stalled_requests.id IS 'The request.';
COMMENT ON COLUMN dsr.stalled_requests.kind IS 'Its kind.';
COMMENT ON COLUMN dsr.stalled_requests.status IS 'Its status (received, in_progress or waiting).';
COMMENT ON COLUMN dsr.stalled_requests.current_step IS 'What it was doing.';
COMMENT ON COLUMN dsr.stalled_requests.due_at IS 'When the answer is due.';
COMMENT ON COLUMN dsr.stalled_requests.last_job IS 'Its latest plan, store or final-assembly job: retry it with dsr.retry_job.';
COMMENT ON COLUMN dsr.stalled_requests.last_job_kind IS 'That job''s kind.';
COMMENT ON COLUMN dsr.stalled_requests.last_job_state IS 'cancelled or dead.';
COMMENT ON COLUMN dsr.stalled_requests.last_error IS 'Why it ended (an operator''s reason for a cancelled job).';
GRANT SELECT ON dsr.stalled_requests TO dsr_operator;

CREATE OR REPLACE FUNCTION dsr.cancel_job(job_id bigint, reason text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    j dsr.jobs;
BEGIN
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'a reason is required' USING ERRCODE = '22023';
    END IF;
    SELECT * INTO j FROM dsr.jobs WHERE id = job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no job %', job_id USING ERRCODE = 'P0002';
    END IF;
    IF j.state IN ('completed', 'cancelled') THEN
        RAISE EXCEPTION 'job % is already %', job_id, j.state USING ERRCODE = '55000';
    END IF;
    UPDATE dsr.jobs
       SET state = 'cancelled', finished_at = now(), locked_by = NULL, locked_until = NULL,
           last_error = 'cancelled by operator: ' || left(reason, 500)
     WHERE id = job_id;
    IF EXISTS (SELECT 1 FROM dsr.stalled_requests WHERE id = j.request_id) THEN
        RETURN 'job ' || job_id || ' cancelled; request ' || j.request_id || ' has no job left and will not move on'
            || ' until SELECT dsr.retry_job(' || job_id || '); or refuse it (dsr.refuse_request)';
    END IF;
    RETURN 'job ' || job_id || ' cancelled';
END $$;
COMMENT ON FUNCTION dsr.cancel_job(bigint, text) IS 'Cancels a job that has not completed. A worker still running it finds its lease gone and its result is discarded. Cancelling the last job of an open request stalls it (dsr.stalled_requests); the answer says so. Example: SELECT dsr.cancel_job(42, ''duplicate request'');';
