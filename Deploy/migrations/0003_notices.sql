-- dsrd schema, part 3: notices (email and SMS) through an outbox, DPO reports, the deadline clock.

CREATE TABLE dsr.outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    request_id      uuid REFERENCES dsr.requests (id),
    template        text NOT NULL,
    audience        text NOT NULL CHECK (audience IN ('subject', 'dpo')),
    channel         text NOT NULL CHECK (channel IN ('email', 'sms')),
    locale          text CHECK (locale IN ('th', 'en')),
    recipient       text,
    variables       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(variables) = 'object'),
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'in_doubt', 'cancelled')),
    rendered_subject text,
    rendered_text   text,
    rendered_html   text,
    send_attempts   integer NOT NULL DEFAULT 0,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    send_started_at timestamptz,
    sent_at         timestamptz,
    CHECK (audience = 'dpo' OR recipient IS NOT NULL),
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX outbox_by_request ON dsr.outbox (request_id);
CREATE INDEX outbox_unsent ON dsr.outbox (created_at) WHERE state NOT IN ('sent', 'cancelled');

COMMENT ON TABLE dsr.outbox IS 'Every notice dsrd sends, written in the same transaction as the change that causes it and delivered by a notice job (retried with backoff). The idempotency key makes each notice unique; a sent notice is never sent again.';
COMMENT ON COLUMN dsr.outbox.id IS 'Notice id.';
COMMENT ON COLUMN dsr.outbox.idempotency_key IS 'What the notice is about, e.g. request:<id>:received:email or deadline:<id>:10d; a second notice with the same key is not created. Also the Message-ID / gateway idempotency key.';
COMMENT ON COLUMN dsr.outbox.request_id IS 'Request it concerns, if any.';
COMMENT ON COLUMN dsr.outbox.template IS 'Template under Config/templates/<locale>/: received, completed, refused, more_time, identity_needed, dpo_completion, dpo_deadline_warning, dpo_overdue, dpo_dead_job, dpo_delivery_failed, dpo_store_unreachable.';
COMMENT ON COLUMN dsr.outbox.audience IS 'subject (the person) or dpo (the data protection officer, address from configuration).';
COMMENT ON COLUMN dsr.outbox.channel IS 'email or sms.';
COMMENT ON COLUMN dsr.outbox.locale IS 'Language; NULL for DPO notices (configured DPO locale).';
COMMENT ON COLUMN dsr.outbox.recipient IS 'Email address or E.164 phone of the person; NULL for DPO notices. Personal data.';
COMMENT ON COLUMN dsr.outbox.variables IS 'Template values (request id, dates, counts, reasons); no personal data beyond the request''s own.';
COMMENT ON COLUMN dsr.outbox.state IS 'pending, sending (an attempt started), sent, failed (permanent refusal; the DPO is told), in_doubt (a send may have happened before a crash and resending is off), cancelled.';
COMMENT ON COLUMN dsr.outbox.rendered_subject IS 'Subject as rendered at the first attempt; later attempts send exactly the same message.';
COMMENT ON COLUMN dsr.outbox.rendered_text IS 'Plain-text body (or SMS text) as rendered at the first attempt.';
COMMENT ON COLUMN dsr.outbox.rendered_html IS 'HTML body as rendered at the first attempt.';
COMMENT ON COLUMN dsr.outbox.send_attempts IS 'Delivery attempts started.';
COMMENT ON COLUMN dsr.outbox.last_error IS 'Why the last attempt failed.';
COMMENT ON COLUMN dsr.outbox.created_at IS 'When the notice was queued.';
COMMENT ON COLUMN dsr.outbox.send_started_at IS 'When the latest attempt started (committed before sending, to detect in-doubt sends).';
COMMENT ON COLUMN dsr.outbox.sent_at IS 'When the server or gateway accepted it.';

-- Queue a notice and the job that delivers it. Returns the outbox id, or NULL when a notice
-- with this key already exists (so callers may enqueue freely: each notice happens once).
CREATE FUNCTION dsr.enqueue_notice(
    key text, request uuid, template text, audience text, channel text, variables jsonb DEFAULT '{}'
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    target text;
    language text;
    notice_id bigint;
BEGIN
    IF audience = 'subject' THEN
        SELECT CASE channel WHEN 'email' THEN r.subject_email ELSE r.subject_phone END, r.locale
          INTO target, language
          FROM dsr.requests AS r WHERE r.id = request;
        IF target IS NULL THEN
            RAISE EXCEPTION 'request has no % to send to', channel USING ERRCODE = '22023';
        END IF;
    END IF;
    INSERT INTO dsr.outbox AS o (idempotency_key, request_id, template, audience, channel, locale, recipient, variables)
    VALUES (key, request, template, audience, channel, language, target, coalesce(variables, '{}'))
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING o.id INTO notice_id;
    IF notice_id IS NOT NULL THEN
        INSERT INTO dsr.jobs (kind, request_id, payload, max_attempts)
        VALUES ('notice', request, jsonb_build_object('outbox_id', notice_id), 12);
    END IF;
    RETURN notice_id;
END $$;
COMMENT ON FUNCTION dsr.enqueue_notice(text, uuid, text, text, text, jsonb) IS 'Queues one notice (outbox row + delivery job) unless one with the same key exists. audience subject: recipient and locale come from the request; dpo: from configuration at send time.';

-- Tell the person on every channel they chose.
CREATE FUNCTION dsr.notify_subject(request uuid, template text, variables jsonb DEFAULT '{}', key_suffix text DEFAULT '')
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    channel text;
    queued integer := 0;
BEGIN
    FOR channel IN SELECT unnest(r.channels) FROM dsr.requests AS r WHERE r.id = request LOOP
        IF dsr.enqueue_notice('request:' || request || ':' || template || key_suffix || ':' || channel,
                              request, template, 'subject', channel, variables) IS NOT NULL THEN
            queued := queued + 1;
        END IF;
    END LOOP;
    RETURN queued;
END $$;
COMMENT ON FUNCTION dsr.notify_subject(uuid, text, jsonb, text) IS 'Queues a notice to the person on each of the request''s channels; returns how many were new.';

CREATE FUNCTION dsr.notify_dpo(key text, request uuid, template text, variables jsonb DEFAULT '{}') RETURNS bigint
LANGUAGE sql AS $$
    SELECT dsr.enqueue_notice('dpo:' || key, request, template, 'dpo', 'email', variables)
$$;
COMMENT ON FUNCTION dsr.notify_dpo(text, uuid, text, jsonb) IS 'Queues an email to the DPO, once per key.';

-- The acknowledgement goes out in the same transaction as the submission.
CREATE FUNCTION dsr.acknowledge_request() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dsr.notify_subject(NEW.id, 'received',
        jsonb_build_object('due_at', NEW.due_at, 'kind', NEW.kind));
    RETURN NULL;
END $$;
CREATE TRIGGER requests_acknowledge AFTER INSERT ON dsr.requests
    FOR EACH ROW EXECUTE FUNCTION dsr.acknowledge_request();
COMMENT ON FUNCTION dsr.acknowledge_request() IS 'Queues the "request received" notice (with request id and due date) when a request is inserted.';

-- A job that runs out of attempts is reported to the DPO, except notice jobs for the DPO
-- itself (their failure is visible in dsr.outbox and dsr.queue_health; reporting it by the
-- same broken channel would only loop).
CREATE FUNCTION dsr.report_dead_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'notice' AND EXISTS (
        SELECT 1 FROM dsr.outbox o WHERE o.id = (NEW.payload ->> 'outbox_id')::bigint AND o.audience = 'dpo') THEN
        UPDATE dsr.outbox SET state = 'failed', last_error = NEW.last_error
         WHERE id = (NEW.payload ->> 'outbox_id')::bigint AND state <> 'sent';
        RETURN NULL;
    END IF;
    IF NEW.kind = 'notice' THEN
        UPDATE dsr.outbox SET state = 'failed', last_error = NEW.last_error
         WHERE id = (NEW.payload ->> 'outbox_id')::bigint AND state <> 'sent';
    END IF;
    PERFORM dsr.notify_dpo('dead-job:' || NEW.id || ':' || NEW.attempt, NEW.request_id, 'dpo_dead_job',
        jsonb_build_object('job_id', NEW.id, 'job_kind', NEW.kind, 'attempts', NEW.attempt,
                           'last_error', left(coalesce(NEW.last_error, ''), 500)));
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_report_dead AFTER UPDATE OF state ON dsr.jobs
    FOR EACH ROW WHEN (NEW.state = 'dead' AND OLD.state IS DISTINCT FROM 'dead')
    EXECUTE FUNCTION dsr.report_dead_job();
COMMENT ON FUNCTION dsr.report_dead_job() IS 'Tells the DPO when a job becomes dead, in the same transaction.';

-- Operator and handler actions that end or pause a request, each with its notices.
CREATE FUNCTION dsr.complete_request(request uuid, outcome jsonb DEFAULT '{}') RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r dsr.requests%ROWTYPE;
BEGIN
    UPDATE dsr.requests
       SET status = 'completed', completed_at = now(), updated_at = now(), current_step = 'completed',
           result = coalesce(result, '{}') || coalesce(outcome, '{}')
     WHERE id = request AND completed_at IS NULL
    RETURNING * INTO r;
    IF NOT FOUND THEN
        RETURN;  -- already ended: completing twice changes nothing and sends nothing
    END IF;
    INSERT INTO dsr.request_events (request_id, step, detail) VALUES (request, 'completed', coalesce(outcome, '{}'));
    PERFORM dsr.notify_subject(request, 'completed', jsonb_build_object('kind', r.kind) || coalesce(outcome, '{}'));
    PERFORM dsr.notify_dpo('completion:' || request, request, 'dpo_completion',
        jsonb_build_object('kind', r.kind, 'received_at', r.received_at, 'due_at', r.due_at) || coalesce(outcome, '{}'));
END $$;
COMMENT ON FUNCTION dsr.complete_request(uuid, jsonb) IS 'Marks a request completed with its outcome (counts, export or proof digests; no personal data), tells the person and sends the DPO a completion report. Idempotent.';

CREATE FUNCTION dsr.refuse_request(request uuid, reason text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'a refusal needs a reason (PDPA: the person must be told why)' USING ERRCODE = '22023';
    END IF;
    UPDATE dsr.requests
       SET status = 'refused', refusal_reason = reason, completed_at = now(), updated_at = now(),
           current_step = 'refused'
     WHERE id = request AND completed_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'request % is not open', request USING ERRCODE = '55000';
    END IF;
    UPDATE dsr.jobs SET state = 'cancelled', finished_at = now(), locked_by = NULL, locked_until = NULL,
                        last_error = 'request refused'
     WHERE request_id = request AND kind <> 'notice' AND state IN ('available', 'running');
    INSERT INTO dsr.request_events (request_id, step) VALUES (request, 'refused');
    PERFORM dsr.notify_subject(request, 'refused', jsonb_build_object('reason', reason));
END $$;
COMMENT ON FUNCTION dsr.refuse_request(uuid, text) IS 'Refuses an open request with a reason, stops its work and tells the person the reason and their right to complain to the PDPC. Example: SELECT dsr.refuse_request(''…'', ''identity could not be verified'');';

CREATE FUNCTION dsr.ask_identity_verification(request uuid, note text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE dsr.requests SET status = 'waiting', current_step = 'waiting for identity verification', updated_at = now()
     WHERE id = request AND completed_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'request % is not open', request USING ERRCODE = '55000';
    END IF;
    INSERT INTO dsr.request_events (request_id, step) VALUES (request, 'identity_verification_requested');
    PERFORM dsr.notify_subject(request, 'identity_needed', jsonb_build_object('note', coalesce(note, '')),
                               ':' || (SELECT count(*) FROM dsr.request_events e
                                        WHERE e.request_id = request AND e.step = 'identity_verification_requested'));
END $$;
COMMENT ON FUNCTION dsr.ask_identity_verification(uuid, text) IS 'Puts a request on hold and asks the person to verify their identity.';

CREATE FUNCTION dsr.extend_deadline(request uuid, extra interval, reason text) RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    new_due timestamptz;
BEGIN
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'an extension needs a reason' USING ERRCODE = '22023';
    END IF;
    UPDATE dsr.requests SET due_at = due_at + extra, updated_at = now()
     WHERE id = request AND completed_at IS NULL
    RETURNING due_at INTO new_due;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'request % is not open', request USING ERRCODE = '55000';
    END IF;
    INSERT INTO dsr.request_events (request_id, step, detail)
    VALUES (request, 'deadline_extended', jsonb_build_object('due_at', new_due));
    PERFORM dsr.notify_subject(request, 'more_time', jsonb_build_object('due_at', new_due, 'reason', reason),
                               ':' || to_char(new_due, 'YYYYMMDD'));
    RETURN new_due;
END $$;
COMMENT ON FUNCTION dsr.extend_deadline(uuid, interval, text) IS 'Gives a request more time where the law allows, telling the person why and the new date.';

-- The 30-day clock: warnings before the deadline, once each, and an overdue alarm.
CREATE FUNCTION dsr.scan_deadlines(at timestamptz DEFAULT now(), warn_before interval[] DEFAULT ARRAY[interval '10 days', interval '5 days'])
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    w interval;
    queued integer := 0;
BEGIN
    FOR r IN SELECT id, kind, received_at, due_at FROM dsr.requests WHERE completed_at IS NULL AND due_at - (SELECT max(x) FROM unnest(warn_before) x) <= at LOOP
        IF r.due_at <= at THEN
            IF dsr.notify_dpo('overdue:' || r.id, r.id, 'dpo_overdue',
                   jsonb_build_object('kind', r.kind, 'received_at', r.received_at, 'due_at', r.due_at)) IS NOT NULL THEN
                queued := queued + 1;
            END IF;
            CONTINUE;
        END IF;
        FOREACH w IN ARRAY warn_before LOOP
            IF r.due_at - w <= at THEN
                IF dsr.notify_dpo('deadline:' || r.id || ':' || extract(epoch FROM w)::bigint, r.id, 'dpo_deadline_warning',
                       jsonb_build_object('kind', r.kind, 'received_at', r.received_at, 'due_at', r.due_at,
                                          'days_left', ceil(extract(epoch FROM r.due_at - at) / 86400)::int,
                                          'day', ceil(extract(epoch FROM at - r.received_at) / 86400)::int)) IS NOT NULL THEN
                    queued := queued + 1;
                END IF;
            END IF;
        END LOOP;
    END LOOP;
    RETURN queued;
END $$;
COMMENT ON FUNCTION dsr.scan_deadlines(timestamptz, interval[]) IS 'Queues DPO deadline warnings (default 10 and 5 days before due: day 20 and 25 of 30) and an overdue alarm, each once per request. The daemon runs it every minute; returns how many notices were new.';

CREATE VIEW dsr.notices AS
SELECT o.id, o.request_id, o.template, o.audience, o.channel, o.state, o.send_attempts, o.last_error,
       o.created_at, o.sent_at
  FROM dsr.outbox AS o;
COMMENT ON VIEW dsr.notices IS 'Notices without recipients or bodies, for operators: what was sent, what is pending, what failed and why. Example: SELECT * FROM dsr.notices WHERE state NOT IN (''sent'') ORDER BY created_at;';
COMMENT ON COLUMN dsr.notices.id IS 'Notice id.';
COMMENT ON COLUMN dsr.notices.request_id IS 'Request it concerns.';
COMMENT ON COLUMN dsr.notices.template IS 'Which notice.';
COMMENT ON COLUMN dsr.notices.audience IS 'subject or dpo.';
COMMENT ON COLUMN dsr.notices.channel IS 'email or sms.';
COMMENT ON COLUMN dsr.notices.state IS 'Delivery state.';
COMMENT ON COLUMN dsr.notices.send_attempts IS 'Attempts started.';
COMMENT ON COLUMN dsr.notices.last_error IS 'Last delivery error.';
COMMENT ON COLUMN dsr.notices.created_at IS 'Queued at.';
COMMENT ON COLUMN dsr.notices.sent_at IS 'Accepted by the server or gateway at.';

COMMENT ON COLUMN dsr.jobs.kind IS 'Handler that runs it: request (a rights request), notice (deliver one dsr.outbox row), probe (diagnostic no-op used by benchmarks and health checks).';
