-- A request's current_step could go on naming a task that had ended. The step is set when a
-- task starts waiting on someone (an HTTP store's asynchronous job: "waiting for mailing_saas
-- to finish"; a manual task: "waiting for paper_archive: manual task 7 sent to its owner"), and
-- when the last one finishes; when such a task finished while others remained, nothing
-- replaced it, so an erasure said it waited for the SaaS while only the paper archive was
-- left. Now dsr.finish_task describes what remains whenever the finished task, or one of
-- those remaining, waits on someone (or the request was shown waiting). An ordinary request
-- whose stores are all databases writes nothing more than before.
CREATE FUNCTION dsr.open_tasks_step(request uuid) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT left(CASE
               WHEN count(*) = 1 AND min(t.state) = 'manual'
                   THEN 'waiting for ' || min(t.store) || ': manual task' || coalesce(' ' || min(m.id), '') || ' sent to its owner'
               WHEN count(*) = 1 AND min(t.state) = 'remote'
                   THEN 'waiting for ' || min(t.store) || ' to finish (asynchronous, polled)'
               ELSE CASE min(t.operation) WHEN 'erase' THEN 'erasing: ' WHEN 'export' THEN 'collecting: '
                                          ELSE 'applying the change: ' END
                    || string_agg(t.store || CASE t.state WHEN 'manual' THEN ' (manual task' || coalesce(' ' || m.id, '') || ', with its owner)'
                                                          WHEN 'remote' THEN ' (asynchronous, polled)' ELSE '' END,
                                  ', ' ORDER BY t.store)
                    || ' still to do'
           END, 300)
      FROM dsr.request_tasks AS t
      LEFT JOIN dsr.manual_tasks AS m ON m.request_id = t.request_id AND m.store = t.store
     WHERE t.request_id = request AND t.state <> 'done'
$$;
COMMENT ON FUNCTION dsr.open_tasks_step(uuid) IS 'The current_step describing a request''s store tasks that are not done: the one task left waiting on someone in the words its own step used (a manual task, an asynchronous HTTP job), else every open store, each marked when a person or a remote job has it. NULL when none is open. Used by dsr.finish_task.';

CREATE OR REPLACE FUNCTION dsr.finish_task(request uuid, task_store text, outcome jsonb) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    request_status text;
    was text;
    open_tasks integer;
    failing integer;
    with_others integer;
    step text;
BEGIN
    SELECT r.status, t.state INTO request_status, was
      FROM dsr.requests AS r
      LEFT JOIN dsr.request_tasks AS t ON t.request_id = r.id AND t.store = task_store
     WHERE r.id = request
       FOR UPDATE OF r;
    UPDATE dsr.request_tasks AS t
       SET state = 'done', rows = (finish_task.outcome ->> 'rows')::bigint, files = finish_task.outcome -> 'files',
           outcome = finish_task.outcome, finished_at = coalesce(t.finished_at, now()), last_error = NULL
     WHERE t.request_id = request AND t.store = task_store;
    INSERT INTO dsr.request_events (request_id, step, detail)
    VALUES (request, 'task_done', jsonb_build_object('store', task_store, 'rows', finish_task.outcome -> 'rows'));
    IF request_status NOT IN ('received', 'in_progress', 'waiting') THEN
        RETURN false;  -- on hold or ended: dsr.resume_request queues the final step
    END IF;
    SELECT count(*) FILTER (WHERE t.state <> 'done'), count(*) FILTER (WHERE t.state = 'waiting'),
           count(*) FILTER (WHERE t.state IN ('manual', 'remote'))
      INTO open_tasks, failing, with_others
      FROM dsr.request_tasks AS t WHERE t.request_id = request;
    IF open_tasks > 0 THEN
        -- A failing store's own step (dsr.task_stopped, the retries) stays until it recovers.
        IF failing = 0 AND (request_status = 'waiting' OR was IN ('manual', 'remote') OR with_others > 0) THEN
            step := dsr.open_tasks_step(request);
            UPDATE dsr.requests SET status = 'in_progress', updated_at = now(), current_step = step
             WHERE id = request AND (status <> 'in_progress' OR current_step IS DISTINCT FROM step);
        END IF;
        RETURN false;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM dsr.jobs WHERE request_id = request AND kind = 'finalize' AND state IN ('available', 'running')) THEN
        INSERT INTO dsr.jobs (kind, request_id) VALUES ('finalize', request);
        UPDATE dsr.requests
           SET status = 'in_progress', updated_at = now(),
               current_step = CASE WHEN kind = 'erasure' THEN 'signing the deletion proof' ELSE 'assembling the answer' END
         WHERE id = request AND completed_at IS NULL;
    END IF;
    RETURN true;
END $$;
COMMENT ON FUNCTION dsr.finish_task(uuid, text, jsonb) IS 'Marks a store task done (keeping its first finish time, so a re-run proves the same thing) and, when it was the last, queues the final step; dsr.request_status.tasks shows the others. When a task waiting on someone (manual, remote) ends or still remains, current_step describes what is left (dsr.open_tasks_step). Idempotent.';
