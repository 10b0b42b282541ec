-- Stores that are not databases (issue 17): manual tasks for people (paper records, a
-- processor's portal), HTTP stores whose deletions run asynchronously, and processors told of
-- changes by webhook. Each is one dsr.request_tasks row like a database store, so a request
-- completes only when all of them have answered.

ALTER TABLE dsr.request_tasks DROP CONSTRAINT request_tasks_state_check;
ALTER TABLE dsr.request_tasks ADD CONSTRAINT request_tasks_state_check
    CHECK (state IN ('pending', 'waiting', 'manual', 'remote', 'done'));
COMMENT ON COLUMN dsr.request_tasks.state IS 'pending (queued or running), waiting (last attempt failed; retrying), manual (a person was asked: dsr.manual_tasks), remote (an HTTP store is working on it asynchronously; polled), done.';

ALTER TABLE dsr.request_tasks ADD COLUMN remote jsonb;
COMMENT ON COLUMN dsr.request_tasks.remote IS 'HTTP stores: the asynchronous job the store accepted (status_url, submitted_at, polls), so a re-run polls it instead of asking again.';

-- Owners of manual stores receive notices too: their address and language come from the
-- mapping, through dsr.manual_tasks.
ALTER TABLE dsr.outbox DROP CONSTRAINT outbox_audience_check;
ALTER TABLE dsr.outbox ADD CONSTRAINT outbox_audience_check CHECK (audience IN ('subject', 'dpo', 'owner'));
COMMENT ON COLUMN dsr.outbox.audience IS 'subject (the person), dpo (notices.dpo_email), owner (the person responsible for a manual store).';
SELECT dsr.install_quiet_checks('dsr.outbox');

CREATE TABLE dsr.manual_tasks (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id     uuid NOT NULL REFERENCES dsr.requests (id),
    store          text NOT NULL,
    operation      text NOT NULL CHECK (operation IN ('export', 'erase', 'rectify', 'restrict', 'object')),
    owner          text NOT NULL CHECK (btrim(owner) <> ''),
    locale         text NOT NULL CHECK (locale IN ('th', 'en')),
    details        jsonb NOT NULL DEFAULT '{}',
    remind_every   interval NOT NULL CHECK (remind_every > interval '0'),
    escalate_after interval NOT NULL CHECK (escalate_after > interval '0'),
    opened_at      timestamptz NOT NULL DEFAULT now(),
    reminders      integer NOT NULL DEFAULT 0,
    last_reminded_at timestamptz,
    escalated_at   timestamptz,
    outcome        text CHECK (outcome IN ('found', 'not_found', 'done', 'refused')),
    evidence       text,
    completed_at   timestamptz,
    completed_by   text,
    UNIQUE (request_id, store),
    CHECK ((outcome IS NULL) = (completed_at IS NULL)),
    CHECK (outcome IS DISTINCT FROM 'refused' OR btrim(coalesce(evidence, '')) <> '')
);
CREATE INDEX manual_tasks_open ON dsr.manual_tasks (opened_at) WHERE completed_at IS NULL;
COMMENT ON TABLE dsr.manual_tasks IS 'Work a person does for a request in a store dsrd cannot reach (type = "manual" mappings): the owner is emailed, reminded, and the DPO told when it is late; dsr.complete_manual_task records the outcome and lets the request finish.';
COMMENT ON COLUMN dsr.manual_tasks.id IS 'The task number the owner quotes to dsr.complete_manual_task.';
COMMENT ON COLUMN dsr.manual_tasks.request_id IS 'The request.';
COMMENT ON COLUMN dsr.manual_tasks.store IS 'The manual store (mapping name).';
COMMENT ON COLUMN dsr.manual_tasks.operation IS 'What the owner is asked to do: export (find and send), erase, rectify, restrict, object (stop using).';
COMMENT ON COLUMN dsr.manual_tasks.owner IS 'Email of the person responsible for the store (its mapping''s owner).';
COMMENT ON COLUMN dsr.manual_tasks.locale IS 'The owner''s language.';
COMMENT ON COLUMN dsr.manual_tasks.details IS 'What the owner needs to find the person and do the work: identifiers, corrections, purposes. Personal data.';
COMMENT ON COLUMN dsr.manual_tasks.remind_every IS 'The owner is reminded this long after the task or the last reminder.';
COMMENT ON COLUMN dsr.manual_tasks.escalate_after IS 'The DPO is told once the task is open this long.';
COMMENT ON COLUMN dsr.manual_tasks.opened_at IS 'When the owner was first asked.';
COMMENT ON COLUMN dsr.manual_tasks.reminders IS 'Reminders sent so far.';
COMMENT ON COLUMN dsr.manual_tasks.last_reminded_at IS 'When the last reminder was queued.';
COMMENT ON COLUMN dsr.manual_tasks.escalated_at IS 'When the DPO was told the task is late.';
COMMENT ON COLUMN dsr.manual_tasks.outcome IS 'found (export: records found and sent), not_found, done (erased, corrected, restricted or stopped), refused (with the reason in evidence).';
COMMENT ON COLUMN dsr.manual_tasks.evidence IS 'What the owner did or why not, in their words (quoted in the proof and the summary: no personal data, please).';
COMMENT ON COLUMN dsr.manual_tasks.completed_at IS 'When the outcome was recorded.';
COMMENT ON COLUMN dsr.manual_tasks.completed_by IS 'The login role that recorded it.';
GRANT SELECT ON dsr.manual_tasks TO dsr_operator;

CREATE FUNCTION dsr.open_manual_task(
    request uuid, task_store text, task_operation text, owner text, locale text, remind_every interval,
    escalate_after interval, details jsonb
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    task bigint;
BEGIN
    INSERT INTO dsr.manual_tasks (request_id, store, operation, owner, locale, remind_every, escalate_after, details)
    VALUES (request, task_store, task_operation, owner, locale, remind_every, escalate_after, coalesce(details, '{}'))
    ON CONFLICT (request_id, store) DO NOTHING
    RETURNING id INTO task;
    IF task IS NULL THEN  -- a re-run: the owner was asked already
        SELECT m.id INTO task FROM dsr.manual_tasks AS m WHERE m.request_id = request AND m.store = task_store;
        RETURN task;
    END IF;
    UPDATE dsr.request_tasks SET state = 'manual', last_error = NULL
     WHERE request_id = request AND store = task_store AND state <> 'done';
    PERFORM dsr.enqueue_notice_to('manual:' || task || ':opened', request, 'manual_task', 'owner', 'email', owner, locale,
        coalesce(details, '{}') || jsonb_build_object('task_id', task, 'store', task_store, 'operation', task_operation,
                                                      'remind_days', extract(day FROM remind_every)));
    INSERT INTO dsr.request_events (request_id, step, detail)
    VALUES (request, 'manual_task_opened', jsonb_build_object('store', task_store, 'task', task));
    UPDATE dsr.requests SET current_step = left('waiting for ' || task_store || ': manual task ' || task || ' sent to its owner', 300),
           updated_at = now()
     WHERE id = request AND completed_at IS NULL AND status IN ('in_progress', 'waiting');
    RETURN task;
END $$;
COMMENT ON FUNCTION dsr.open_manual_task(uuid, text, text, text, text, interval, interval, jsonb) IS 'Asks a manual store''s owner to do a request''s work there (one task per request and store; a re-run returns the same task): records it, emails the owner (template manual_task), shows the request waiting. Called by the store task.';

CREATE FUNCTION dsr.complete_manual_task(task bigint, outcome text, evidence text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = dsr, pg_temp AS $$
DECLARE
    t dsr.manual_tasks;
    request_state text;
    allowed text[];
    queued boolean;
BEGIN
    SELECT * INTO t FROM dsr.manual_tasks AS m WHERE m.id = task FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'there is no manual task %', task USING ERRCODE = '22023',
            HINT = 'SELECT id, store, operation, opened_at FROM dsr.manual_tasks WHERE completed_at IS NULL;';
    END IF;
    allowed := CASE t.operation WHEN 'export' THEN ARRAY['found', 'not_found', 'refused']
                                ELSE ARRAY['done', 'not_found', 'refused'] END;
    IF outcome IS NULL OR outcome <> ALL (allowed) THEN
        RAISE EXCEPTION 'a % task''s outcome is one of: %', t.operation, array_to_string(allowed, ', ') USING ERRCODE = '22023';
    END IF;
    IF outcome IN ('refused', 'found') AND btrim(coalesce(evidence, '')) = '' THEN
        RAISE EXCEPTION 'outcome % needs evidence: %', outcome,
            CASE outcome WHEN 'refused' THEN 'the reason, which the person is told'
                         ELSE 'what was found and how it reaches the person' END USING ERRCODE = '22023';
    END IF;
    IF t.completed_at IS NOT NULL THEN
        IF t.outcome = outcome AND t.evidence IS NOT DISTINCT FROM nullif(btrim(evidence), '') THEN
            RETURN 'manual task ' || task || ' was already recorded as ' || outcome;
        END IF;
        RAISE EXCEPTION 'manual task % was already completed as % by %', task, t.outcome, t.completed_by USING ERRCODE = '55000';
    END IF;
    SELECT status INTO request_state FROM dsr.requests WHERE id = t.request_id;
    IF request_state IN ('completed', 'refused', 'cancelled') THEN
        RAISE EXCEPTION 'request % has ended (%): nothing to record', t.request_id, request_state USING ERRCODE = '55000';
    END IF;
    UPDATE dsr.manual_tasks AS m
       SET outcome = complete_manual_task.outcome, evidence = nullif(btrim(complete_manual_task.evidence), ''),
           completed_at = now(), completed_by = session_user
     WHERE m.id = task;
    INSERT INTO dsr.request_events (request_id, step, detail)
    VALUES (t.request_id, 'manual_task_done', jsonb_build_object('store', t.store, 'task', task, 'outcome', outcome));
    queued := dsr.finish_task(t.request_id, t.store, jsonb_build_object('manual', jsonb_build_object(
        'task', task, 'outcome', outcome, 'evidence', nullif(btrim(evidence), ''), 'opened_at', t.opened_at,
        'completed_at', now(), 'completed_by', session_user)));
    RETURN 'manual task ' || task || ' recorded as ' || outcome || CASE WHEN queued THEN '; the request is being finished'
        ELSE '; the request still waits for: ' || coalesce((SELECT string_agg(store, ', ' ORDER BY store) FROM dsr.request_tasks
                                                              WHERE request_id = t.request_id AND state <> 'done'), 'nothing') END;
END $$;
COMMENT ON FUNCTION dsr.complete_manual_task(bigint, text, text) IS 'Records what the owner of a manual store did: found (export; evidence says how the records reach the person), not_found, done, or refused (evidence gives the reason). The request finishes once every task has. Example: SELECT dsr.complete_manual_task(42, ''done'', ''3 pages shredded, box 17'');';
REVOKE EXECUTE ON FUNCTION dsr.complete_manual_task(bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dsr.complete_manual_task(bigint, text, text) TO dsr_operator, dsr_daemon;

-- Reminders to owners every remind_every, and the DPO told once a task is open longer than
-- escalate_after. Keys make each notice once, whatever number of daemons scan.
CREATE FUNCTION dsr.remind_manual_tasks(at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    t record;
    queued integer := 0;
BEGIN
    FOR t IN SELECT m.* FROM dsr.manual_tasks AS m JOIN dsr.requests AS r ON r.id = m.request_id
              WHERE m.completed_at IS NULL AND r.completed_at IS NULL AND r.status IN ('in_progress', 'waiting')
                AND (at >= coalesce(m.last_reminded_at, m.opened_at) + m.remind_every
                     OR (m.escalated_at IS NULL AND at >= m.opened_at + m.escalate_after))
              ORDER BY m.id FOR UPDATE OF m SKIP LOCKED LOOP
        IF at >= coalesce(t.last_reminded_at, t.opened_at) + t.remind_every THEN
            IF dsr.enqueue_notice_to('manual:' || t.id || ':reminder:' || (t.reminders + 1), t.request_id,
                   'manual_task_reminder', 'owner', 'email', t.owner, t.locale,
                   t.details || jsonb_build_object('task_id', t.id, 'store', t.store, 'operation', t.operation,
                                                   'opened_at', t.opened_at, 'reminder', t.reminders + 1)) IS NOT NULL THEN
                queued := queued + 1;
            END IF;
            UPDATE dsr.manual_tasks SET reminders = reminders + 1, last_reminded_at = at WHERE id = t.id;
        END IF;
        IF t.escalated_at IS NULL AND at >= t.opened_at + t.escalate_after THEN
            IF dsr.notify_dpo('manual-task-late:' || t.id, t.request_id, 'dpo_manual_task_late',
                   jsonb_build_object('task_id', t.id, 'store', t.store, 'operation', t.operation, 'owner', t.owner,
                                      'opened_at', t.opened_at, 'reminders', t.reminders)) IS NOT NULL THEN
                queued := queued + 1;
            END IF;
            UPDATE dsr.manual_tasks SET escalated_at = at WHERE id = t.id;
        END IF;
    END LOOP;
    RETURN queued;
END $$;
COMMENT ON FUNCTION dsr.remind_manual_tasks(timestamptz) IS 'Queues reminders to the owners of open manual tasks (every remind_every) and tells the DPO of tasks open longer than escalate_after (once); returns the notices queued. Run by the deadline scan.';

CREATE VIEW dsr.open_manual_tasks AS
SELECT m.id AS task, m.request_id, r.kind, m.store, m.operation, m.owner,
       date_trunc('second', now() - m.opened_at) AS open_for, m.reminders, m.escalated_at, r.due_at,
       format('SELECT dsr.complete_manual_task(%s, %L, %L);', m.id,
              CASE m.operation WHEN 'export' THEN 'found' ELSE 'done' END, 'what was done') AS to_complete
  FROM dsr.manual_tasks AS m JOIN dsr.requests AS r ON r.id = m.request_id
 WHERE m.completed_at IS NULL AND r.completed_at IS NULL
 ORDER BY r.due_at, m.id;
COMMENT ON VIEW dsr.open_manual_tasks IS 'Manual tasks still waiting for their owner, the request''s deadline first, with the call that completes each. Example: SELECT * FROM dsr.open_manual_tasks;';
COMMENT ON COLUMN dsr.open_manual_tasks.task IS 'The task number (dsr.manual_tasks.id).';
COMMENT ON COLUMN dsr.open_manual_tasks.request_id IS 'The request.';
COMMENT ON COLUMN dsr.open_manual_tasks.kind IS 'The request''s kind.';
COMMENT ON COLUMN dsr.open_manual_tasks.store IS 'The manual store.';
COMMENT ON COLUMN dsr.open_manual_tasks.operation IS 'What the owner is asked to do.';
COMMENT ON COLUMN dsr.open_manual_tasks.owner IS 'Who was asked.';
COMMENT ON COLUMN dsr.open_manual_tasks.open_for IS 'How long the task has been open.';
COMMENT ON COLUMN dsr.open_manual_tasks.reminders IS 'Reminders sent so far.';
COMMENT ON COLUMN dsr.open_manual_tasks.escalated_at IS 'When the DPO was told it is late, if yet.';
COMMENT ON COLUMN dsr.open_manual_tasks.due_at IS 'The request''s legal deadline.';
COMMENT ON COLUMN dsr.open_manual_tasks.to_complete IS 'The call that records the usual outcome (edit the evidence).';
GRANT SELECT ON dsr.open_manual_tasks TO dsr_operator;

-- What processors (webhook endpoints) acknowledged, per request: operators see deliveries
-- that wait without reading the tasks table.
CREATE VIEW dsr.processor_notifications AS
SELECT t.request_id, r.kind, substr(t.store, length('processor:') + 1) AS processor, t.state, t.failures, t.last_error,
       t.outcome -> 'processor' ->> 'event_id' AS event_id,
       (t.outcome -> 'processor' ->> 'status')::integer AS http_status,
       t.outcome -> 'processor' ->> 'acknowledgement' AS acknowledgement,
       t.finished_at AS acknowledged_at
  FROM dsr.request_tasks AS t JOIN dsr.requests AS r ON r.id = t.request_id
 WHERE t.store LIKE 'processor:%';
COMMENT ON VIEW dsr.processor_notifications IS 'Webhook events to processors ([[processors]] in a mapping), one per request and processor: waiting (with the last error) or acknowledged (HTTP status and the processor''s reply). Example: SELECT * FROM dsr.processor_notifications WHERE state <> ''done'';';
COMMENT ON COLUMN dsr.processor_notifications.request_id IS 'The request.';
COMMENT ON COLUMN dsr.processor_notifications.kind IS 'The request''s kind (the event type).';
COMMENT ON COLUMN dsr.processor_notifications.processor IS 'The processor''s name in its mapping.';
COMMENT ON COLUMN dsr.processor_notifications.state IS 'pending, waiting (the last delivery failed; retrying) or done (acknowledged).';
COMMENT ON COLUMN dsr.processor_notifications.failures IS 'Failed deliveries so far.';
COMMENT ON COLUMN dsr.processor_notifications.last_error IS 'Why the last delivery failed.';
COMMENT ON COLUMN dsr.processor_notifications.event_id IS 'DSR-Event-Id: the same on every retry.';
COMMENT ON COLUMN dsr.processor_notifications.http_status IS 'The status of the acknowledging answer.';
COMMENT ON COLUMN dsr.processor_notifications.acknowledgement IS 'The processor''s reply (at most 500 characters).';
COMMENT ON COLUMN dsr.processor_notifications.acknowledged_at IS 'When it was acknowledged.';
GRANT SELECT ON dsr.processor_notifications TO dsr_operator;
