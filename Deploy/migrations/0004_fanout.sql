-- dsrd schema, part 4: fan-out of a request to the stores, one task per store.

ALTER TABLE dsr.requests ADD COLUMN identities jsonb;
COMMENT ON COLUMN dsr.requests.identities IS 'Identifiers resolved for the person across stores (emails, phones, customer ids, national ids), used by every store task. Personal data.';

CREATE TABLE dsr.request_tasks (
    request_id  uuid NOT NULL REFERENCES dsr.requests (id),
    store       text NOT NULL,
    operation   text NOT NULL CHECK (operation IN ('export')),
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'waiting', 'done')),
    failures    integer NOT NULL DEFAULT 0,
    rows        bigint,
    files       jsonb,
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    PRIMARY KEY (request_id, store)
);
COMMENT ON TABLE dsr.request_tasks IS 'One task per store per request, each retried on its own (a store that is down delays only its own task). The request completes only when every task is done.';
COMMENT ON COLUMN dsr.request_tasks.request_id IS 'The request.';
COMMENT ON COLUMN dsr.request_tasks.store IS 'Store name from Config/connectors.';
COMMENT ON COLUMN dsr.request_tasks.operation IS 'What the task does in that store.';
COMMENT ON COLUMN dsr.request_tasks.state IS 'pending (queued or running), waiting (last attempt failed; retrying), done.';
COMMENT ON COLUMN dsr.request_tasks.failures IS 'Failed attempts so far.';
COMMENT ON COLUMN dsr.request_tasks.rows IS 'Rows the task exported.';
COMMENT ON COLUMN dsr.request_tasks.files IS 'Files written, with SHA-256 and size (paths inside the bundle; no personal data).';
COMMENT ON COLUMN dsr.request_tasks.last_error IS 'Why the last attempt failed.';
COMMENT ON COLUMN dsr.request_tasks.created_at IS 'When the task was planned.';
COMMENT ON COLUMN dsr.request_tasks.finished_at IS 'When it finished.';

-- Called in the transaction that completes a store task. Locks the request row so that of
-- two tasks finishing at once, the second sees the first and queues the final assembly.
CREATE FUNCTION dsr.finish_task(request uuid, task_store text, outcome jsonb) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM dsr.requests WHERE id = request FOR UPDATE;
    UPDATE dsr.request_tasks
       SET state = 'done', rows = (outcome ->> 'rows')::bigint, files = outcome -> 'files',
           finished_at = now(), last_error = NULL
     WHERE request_id = request AND store = task_store;
    INSERT INTO dsr.request_events (request_id, step, detail)
    VALUES (request, 'task_done', jsonb_build_object('store', task_store, 'rows', outcome -> 'rows'));
    IF EXISTS (SELECT 1 FROM dsr.request_tasks WHERE request_id = request AND state <> 'done') THEN
        UPDATE dsr.requests SET current_step = 'collecting: ' ||
               (SELECT string_agg(store, ', ' ORDER BY store) FROM dsr.request_tasks WHERE request_id = request AND state <> 'done')
               || ' still to do', updated_at = now()
         WHERE id = request AND completed_at IS NULL;
        RETURN false;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM dsr.jobs WHERE request_id = request AND kind = 'finalize') THEN
        INSERT INTO dsr.jobs (kind, request_id) VALUES ('finalize', request);
        UPDATE dsr.requests SET status = 'in_progress', current_step = 'assembling the export', updated_at = now()
         WHERE id = request AND completed_at IS NULL;
    END IF;
    RETURN true;
END $$;
COMMENT ON FUNCTION dsr.finish_task(uuid, text, jsonb) IS 'Marks a store task done and, when it was the last, queues the final assembly. Idempotent.';

-- Called (in its own transaction) when a store task attempt fails: the request waits, and
-- after 3 failures the DPO hears that the store is unreachable (once per store and request).
CREATE FUNCTION dsr.task_failed(request uuid, task_store text, error text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    failed integer;
BEGIN
    UPDATE dsr.request_tasks SET state = 'waiting', failures = failures + 1, last_error = left(error, 1000)
     WHERE request_id = request AND store = task_store AND state <> 'done'
    RETURNING failures INTO failed;
    UPDATE dsr.requests SET status = 'waiting', current_step = 'waiting for store ' || task_store || ': ' || left(error, 200),
           updated_at = now()
     WHERE id = request AND completed_at IS NULL;
    IF failed >= 3 THEN
        PERFORM dsr.notify_dpo('store-unreachable:' || task_store || ':' || request, request, 'dpo_store_unreachable',
            jsonb_build_object('store', task_store, 'last_error', left(error, 500)));
    END IF;
END $$;
COMMENT ON FUNCTION dsr.task_failed(uuid, text, text) IS 'Records a failed store task attempt: the request shows as waiting for that store; from the third failure the DPO is told (once).';

CREATE OR REPLACE VIEW dsr.request_status AS
SELECT r.id,
       r.kind,
       r.status,
       r.current_step,
       r.received_at,
       date_trunc('second', now() - r.received_at) AS age,
       r.due_at,
       CASE WHEN r.completed_at IS NULL
            THEN ceil(extract(epoch FROM r.due_at - now()) / 86400)::integer END AS days_left,
       r.completed_at,
       j.id AS job_id,
       j.state AS job_state,
       j.attempt AS attempts,
       CASE WHEN j.state = 'available' THEN j.run_at END AS next_attempt_at,
       j.last_error,
       (SELECT string_agg(t.store || ':' || t.state, ' ' ORDER BY t.store)
          FROM dsr.request_tasks AS t WHERE t.request_id = r.id) AS tasks
  FROM dsr.requests AS r
  LEFT JOIN LATERAL (
        SELECT id, state, attempt, run_at, last_error
          FROM dsr.jobs
         WHERE request_id = r.id AND kind <> 'notice'
         ORDER BY (state IN ('completed', 'cancelled')), id DESC
         LIMIT 1) AS j ON true;
COMMENT ON COLUMN dsr.request_status.tasks IS 'Per-store tasks and their state, e.g. "customer:done marketing:waiting order:done".';

COMMENT ON COLUMN dsr.jobs.kind IS 'Handler that runs it: request (plan a rights request), store_task (one store''s part), finalize (assemble the result), notice (deliver one dsr.outbox row), probe (diagnostic no-op used by benchmarks and health checks).';
