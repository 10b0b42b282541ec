-- dsrd schema, part 2: the durable job queue, submission, and the operators' views.

-- Identifier normalisation. The same rules live in Swift (IdentifierNormalizer) for the
-- stores; a test checks that both agree.
CREATE FUNCTION dsr.normalize_email(raw text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE
        WHEN length(e) BETWEEN 3 AND 254
         AND e ~ '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:]]+\.[^@[:space:][:cntrl:]]+$'
         -- invisible and direction-changing characters could disguise an address in a notice
         AND e !~ '[\u00AD\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]'
        THEN e END
    FROM (SELECT lower(btrim(raw, E' \t')) AS e) AS s
$$;
COMMENT ON FUNCTION dsr.normalize_email(text) IS 'Trimmed, lower-cased email, or NULL when it is not a plausible address (control or invisible/bidirectional characters, spaces, no domain).';

CREATE FUNCTION dsr.normalize_phone(raw text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p ~ '^\+660?[1-9][0-9]{7,8}$' THEN '+66' || regexp_replace(substr(p, 4), '^0', '')
        WHEN p ~ '^660?[1-9][0-9]{7,8}$' THEN '+66' || regexp_replace(substr(p, 3), '^0', '')
        WHEN p ~ '^0[1-9][0-9]{7,8}$' THEN '+66' || substr(p, 2)
        WHEN p ~ '^\+[1-9][0-9]{6,14}$' AND p !~ '^\+66' THEN p
        END
    FROM (SELECT regexp_replace(raw, '[ \t().-]', '', 'g') AS p) AS s
    WHERE length(raw) <= 40
$$;
COMMENT ON FUNCTION dsr.normalize_phone(text) IS 'Phone number in E.164. Thai numbers 081-234-5678, +66812345678 and 66812345678 all give +66812345678; other countries must already start with +. NULL when not a phone number.';

CREATE FUNCTION dsr.valid_thai_national_id(raw text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT raw ~ '^[0-9]{13}$'
       AND (11 - (SELECT sum(substr(raw, i, 1)::int * (14 - i)) FROM generate_series(1, 12) AS i) % 11) % 10
           = substr(raw, 13, 1)::int
$$;
COMMENT ON FUNCTION dsr.valid_thai_national_id(text) IS 'Whether a 13-digit Thai national ID has a valid check digit.';

CREATE TABLE dsr.jobs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL,
    request_id    uuid REFERENCES dsr.requests (id),
    payload       jsonb NOT NULL DEFAULT '{}',
    state         text NOT NULL DEFAULT 'available'
                  CHECK (state IN ('available', 'running', 'completed', 'dead', 'cancelled')),
    priority      smallint NOT NULL DEFAULT 0,
    attempt       integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts  integer NOT NULL DEFAULT 10 CHECK (max_attempts > 0),
    run_at        timestamptz NOT NULL DEFAULT now(),
    locked_by     text,
    locked_until  timestamptz,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    attempted_at  timestamptz,
    finished_at   timestamptz,
    CHECK ((state = 'running') = (locked_until IS NOT NULL)),
    CHECK ((state IN ('completed', 'dead', 'cancelled')) = (finished_at IS NOT NULL))
);
CREATE INDEX jobs_ready ON dsr.jobs (priority, run_at, id) WHERE state = 'available';
CREATE INDEX jobs_leased ON dsr.jobs (locked_until) WHERE state = 'running';
CREATE INDEX jobs_by_request ON dsr.jobs (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX jobs_finished ON dsr.jobs (finished_at) WHERE state IN ('completed', 'cancelled');

COMMENT ON TABLE dsr.jobs IS 'The work queue. Workers claim rows with FOR UPDATE SKIP LOCKED and hold a lease they renew; an expired lease is rescued by any live worker. Retry or cancel a job with dsr.retry_job / dsr.cancel_job, never by UPDATE.';
COMMENT ON COLUMN dsr.jobs.id IS 'Job id, used in logs as dsr.job_id.';
COMMENT ON COLUMN dsr.jobs.kind IS 'Handler that runs it: request (a rights request), probe (diagnostic no-op used by benchmarks and health checks).';
COMMENT ON COLUMN dsr.jobs.request_id IS 'The request this job works for, if any.';
COMMENT ON COLUMN dsr.jobs.payload IS 'Handler input; never personal data (handlers read identifiers from dsr.requests).';
COMMENT ON COLUMN dsr.jobs.state IS 'available (waiting for run_at), running (leased), completed, dead (out of attempts or permanent failure), cancelled.';
COMMENT ON COLUMN dsr.jobs.priority IS 'Lower runs first among ready jobs.';
COMMENT ON COLUMN dsr.jobs.attempt IS 'Claims so far; also the fencing token a worker must present to complete the job.';
COMMENT ON COLUMN dsr.jobs.max_attempts IS 'After this many attempts a failing job becomes dead.';
COMMENT ON COLUMN dsr.jobs.run_at IS 'Not claimed before this time (retry backoff).';
COMMENT ON COLUMN dsr.jobs.locked_by IS 'Worker holding the lease (host:pid:instance), NULL unless running.';
COMMENT ON COLUMN dsr.jobs.locked_until IS 'Lease expiry; renewed by the holder''s heartbeat. Past it, any worker may rescue the job.';
COMMENT ON COLUMN dsr.jobs.last_error IS 'Why the last attempt failed (no personal data).';
COMMENT ON COLUMN dsr.jobs.created_at IS 'When the job was queued.';
COMMENT ON COLUMN dsr.jobs.attempted_at IS 'When the latest attempt started.';
COMMENT ON COLUMN dsr.jobs.finished_at IS 'When it became completed, dead or cancelled.';

-- Wake idle workers: one notification per inserting statement, not per row.
CREATE FUNCTION dsr.notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dsr_jobs', '');
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_notify AFTER INSERT ON dsr.jobs FOR EACH STATEMENT EXECUTE FUNCTION dsr.notify_jobs();
COMMENT ON FUNCTION dsr.notify_jobs() IS 'Sends NOTIFY dsr_jobs after jobs are inserted, so idle workers claim them at once.';

CREATE TABLE dsr.workers (
    id           text PRIMARY KEY,
    host         text NOT NULL,
    pid          integer NOT NULL,
    version      text NOT NULL,
    workers      integer NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    stopped_at   timestamptz
);
COMMENT ON TABLE dsr.workers IS 'dsrd processes that have run against this database, with their last heartbeat.';
COMMENT ON COLUMN dsr.workers.id IS 'Process identity used in dsr.jobs.locked_by.';
COMMENT ON COLUMN dsr.workers.host IS 'Host name.';
COMMENT ON COLUMN dsr.workers.pid IS 'Process id on that host.';
COMMENT ON COLUMN dsr.workers.version IS 'dsrd version.';
COMMENT ON COLUMN dsr.workers.workers IS 'Concurrent jobs this process runs.';
COMMENT ON COLUMN dsr.workers.started_at IS 'Process start.';
COMMENT ON COLUMN dsr.workers.last_seen_at IS 'Last heartbeat; a live process renews it every few seconds.';
COMMENT ON COLUMN dsr.workers.stopped_at IS 'Clean shutdown time; NULL while running or after a crash.';

CREATE TABLE dsr.probe_results (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id  bigint NOT NULL,
    attempt integer NOT NULL,
    worker  text NOT NULL,
    at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE dsr.probe_results IS 'One row per completed probe job that asked for it (payload record=true): lets tests and operators count effects and prove none was doubled.';
COMMENT ON COLUMN dsr.probe_results.id IS 'Row id.';
COMMENT ON COLUMN dsr.probe_results.job_id IS 'The probe job.';
COMMENT ON COLUMN dsr.probe_results.attempt IS 'Attempt that completed it.';
COMMENT ON COLUMN dsr.probe_results.worker IS 'Worker that completed it.';
COMMENT ON COLUMN dsr.probe_results.at IS 'Completion time.';

-- Submission: the only supported way to create a request, from psql or any system, inside
-- the caller's own transaction (the request and its job commit or vanish together).
CREATE FUNCTION dsr.submit(kind text, subject jsonb, options jsonb DEFAULT '{}') RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    kinds constant text[] := ARRAY['access', 'portability', 'erasure', 'rectification', 'restriction',
                                   'objection', 'consent_withdrawal'];
    field text;
    email text;
    phone text;
    customer_id text;
    national_id text;
    locale text;
    channels text[];
    received timestamptz;
    period interval;
    request_payload jsonb := '{}';
    key text;
    new_id uuid;
    existing record;
BEGIN
    IF kind IS NULL OR NOT kind = ANY (kinds) THEN
        RAISE EXCEPTION 'unknown request kind' USING ERRCODE = '22023',
            HINT = 'kind must be one of: ' || array_to_string(kinds, ', ');
    END IF;
    IF subject IS NULL OR jsonb_typeof(subject) <> 'object' THEN
        RAISE EXCEPTION 'subject must be a JSON object' USING ERRCODE = '22023';
    END IF;
    options := coalesce(options, '{}');
    IF jsonb_typeof(options) <> 'object' THEN
        RAISE EXCEPTION 'options must be a JSON object' USING ERRCODE = '22023';
    END IF;

    FOR field IN SELECT jsonb_object_keys(subject) LOOP
        IF field NOT IN ('email', 'phone', 'customer_id', 'national_id', 'name', 'guardian') THEN
            RAISE EXCEPTION 'unknown subject field' USING ERRCODE = '22023',
                HINT = 'subject fields: email, phone, customer_id, national_id, name, guardian';
        END IF;
        IF field <> 'guardian' AND jsonb_typeof(subject -> field) <> 'string' THEN
            RAISE EXCEPTION 'subject field % must be a string', field USING ERRCODE = '22023';
        END IF;
        IF field <> 'guardian' AND length(subject ->> field) > 320 THEN
            RAISE EXCEPTION 'subject field % is too long', field USING ERRCODE = '22023';
        END IF;
    END LOOP;
    FOR field IN SELECT jsonb_object_keys(options) LOOP
        IF field NOT IN ('idempotency_key', 'locale', 'channels', 'received_at', 'changes', 'purposes', 'evidence') THEN
            RAISE EXCEPTION 'unknown option' USING ERRCODE = '22023',
                HINT = 'options: idempotency_key, locale, channels, received_at, changes, purposes, evidence';
        END IF;
    END LOOP;

    IF subject ? 'email' THEN
        email := dsr.normalize_email(subject ->> 'email');
        IF email IS NULL THEN
            RAISE EXCEPTION 'subject email is not a valid email address' USING ERRCODE = '22023';
        END IF;
    END IF;
    IF subject ? 'phone' THEN
        phone := dsr.normalize_phone(subject ->> 'phone');
        IF phone IS NULL THEN
            RAISE EXCEPTION 'subject phone is not a valid phone number' USING ERRCODE = '22023',
                HINT = 'Thai numbers like 081-234-5678 or +66812345678; others in E.164 (+country...)';
        END IF;
    END IF;
    IF subject ? 'customer_id' THEN
        customer_id := btrim(subject ->> 'customer_id');
        IF customer_id !~ '^[A-Za-z0-9_.:-]{1,64}$' THEN
            RAISE EXCEPTION 'subject customer_id must be 1-64 letters, digits or _.:-' USING ERRCODE = '22023';
        END IF;
    END IF;
    IF subject ? 'national_id' THEN
        national_id := regexp_replace(subject ->> 'national_id', '[ -]', '', 'g');
        IF NOT dsr.valid_thai_national_id(national_id) THEN
            RAISE EXCEPTION 'subject national_id is not a valid 13-digit Thai ID' USING ERRCODE = '22023';
        END IF;
    END IF;
    IF email IS NULL AND phone IS NULL AND customer_id IS NULL AND national_id IS NULL THEN
        RAISE EXCEPTION 'subject has no usable identifier' USING ERRCODE = '22023',
            HINT = 'give at least one of email, phone, customer_id, national_id';
    END IF;
    subject := subject
        || CASE WHEN customer_id IS NULL THEN '{}' ELSE jsonb_build_object('customer_id', customer_id) END
        || CASE WHEN national_id IS NULL THEN '{}' ELSE jsonb_build_object('national_id', national_id) END;

    locale := coalesce(options ->> 'locale', 'th');
    IF locale NOT IN ('th', 'en') THEN
        RAISE EXCEPTION 'locale must be th or en' USING ERRCODE = '22023';
    END IF;

    IF options ? 'channels' THEN
        IF jsonb_typeof(options -> 'channels') <> 'array' THEN
            RAISE EXCEPTION 'channels must be an array of "email" and/or "sms"' USING ERRCODE = '22023';
        END IF;
        SELECT coalesce(array_agg(DISTINCT c), '{}') INTO channels FROM jsonb_array_elements_text(options -> 'channels') AS c;
        IF NOT channels <@ ARRAY['email', 'sms'] THEN
            RAISE EXCEPTION 'channels must be an array of "email" and/or "sms"' USING ERRCODE = '22023';
        END IF;
    ELSE
        channels := CASE WHEN email IS NOT NULL THEN ARRAY['email'] WHEN phone IS NOT NULL THEN ARRAY['sms'] ELSE '{}' END;
    END IF;
    IF 'email' = ANY (channels) AND email IS NULL THEN
        RAISE EXCEPTION 'channel email needs a subject email' USING ERRCODE = '22023';
    END IF;
    IF 'sms' = ANY (channels) AND phone IS NULL THEN
        RAISE EXCEPTION 'channel sms needs a subject phone' USING ERRCODE = '22023';
    END IF;

    received := now();
    IF options ? 'received_at' THEN
        BEGIN
            received := (options ->> 'received_at')::timestamptz;
        EXCEPTION WHEN others THEN
            RAISE EXCEPTION 'received_at must be an ISO 8601 timestamp' USING ERRCODE = '22023';
        END;
        IF received > now() + interval '5 minutes' THEN
            RAISE EXCEPTION 'received_at is in the future' USING ERRCODE = '22023';
        END IF;
    END IF;

    IF kind = 'rectification' THEN
        IF jsonb_typeof(options -> 'changes') IS DISTINCT FROM 'object' OR options -> 'changes' = '{}' THEN
            RAISE EXCEPTION 'rectification needs options.changes: an object of field -> corrected value'
                USING ERRCODE = '22023';
        END IF;
        request_payload := request_payload || jsonb_build_object('changes', options -> 'changes');
    ELSIF options ? 'changes' THEN
        RAISE EXCEPTION 'options.changes is only for rectification' USING ERRCODE = '22023';
    END IF;
    IF options ? 'purposes' THEN
        IF jsonb_typeof(options -> 'purposes') <> 'array' THEN
            RAISE EXCEPTION 'purposes must be an array of strings' USING ERRCODE = '22023';
        END IF;
        request_payload := request_payload || jsonb_build_object('purposes', options -> 'purposes');
    END IF;
    IF options ? 'evidence' THEN
        request_payload := request_payload || jsonb_build_object('evidence', options -> 'evidence');
    END IF;

    key := options ->> 'idempotency_key';
    IF key IS NOT NULL AND (length(key) = 0 OR length(key) > 200) THEN
        RAISE EXCEPTION 'idempotency_key must be 1-200 characters' USING ERRCODE = '22023';
    END IF;

    SELECT p.period INTO period FROM dsr.deadline_policy AS p WHERE p.kind = submit.kind;
    period := coalesce(period, interval '30 days');

    INSERT INTO dsr.requests AS r (kind, subject, subject_email, subject_phone, locale, channels,
                                   received_at, due_at, payload, idempotency_key)
    VALUES (submit.kind, subject, email, phone, locale, channels, received, received + period,
            request_payload, key)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING r.id INTO new_id;

    IF new_id IS NULL THEN
        SELECT r.id, r.kind INTO existing FROM dsr.requests AS r WHERE r.idempotency_key = key;
        IF existing.kind <> submit.kind THEN
            RAISE EXCEPTION 'idempotency_key was already used for a request of another kind' USING ERRCODE = '22023';
        END IF;
        RETURN existing.id;
    END IF;

    INSERT INTO dsr.request_events (request_id, step) VALUES (new_id, 'received');
    INSERT INTO dsr.jobs (kind, request_id, payload)
    VALUES ('request', new_id, jsonb_build_object('request_kind', submit.kind));
    RETURN new_id;
END $$;
COMMENT ON FUNCTION dsr.submit(text, jsonb, jsonb) IS
'Creates a rights request and queues its job; returns the request id. subject: {email, phone, customer_id, national_id, name, guardian}, at least one identifier. options: {idempotency_key, locale th|en, channels [email,sms], received_at, changes (rectification), purposes, evidence}. Invalid input raises SQLSTATE 22023 and writes nothing. Example: SELECT dsr.submit(''access'', ''{"email": "somchai@example.co.th"}'');';

-- Operator actions on jobs.
CREATE FUNCTION dsr.retry_job(job_id bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    current_state text;
BEGIN
    SELECT state INTO current_state FROM dsr.jobs WHERE id = job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no job %', job_id USING ERRCODE = 'P0002';
    END IF;
    IF current_state NOT IN ('dead', 'cancelled', 'available') THEN
        RAISE EXCEPTION 'job % is %; only dead, cancelled or waiting jobs can be retried', job_id, current_state
            USING ERRCODE = '55000';
    END IF;
    UPDATE dsr.jobs
       SET state = 'available', run_at = now(), finished_at = NULL,
           max_attempts = greatest(max_attempts, attempt + 1)
     WHERE id = job_id;
    PERFORM pg_notify('dsr_jobs', '');
    RETURN 'job ' || job_id || ' will run now';
END $$;
COMMENT ON FUNCTION dsr.retry_job(bigint) IS 'Makes a dead, cancelled or backing-off job run now, granting it one more attempt if it had none left. Example: SELECT dsr.retry_job(42);';

CREATE FUNCTION dsr.cancel_job(job_id bigint, reason text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    current_state text;
BEGIN
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'a reason is required' USING ERRCODE = '22023';
    END IF;
    SELECT state INTO current_state FROM dsr.jobs WHERE id = job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no job %', job_id USING ERRCODE = 'P0002';
    END IF;
    IF current_state IN ('completed', 'cancelled') THEN
        RAISE EXCEPTION 'job % is already %', job_id, current_state USING ERRCODE = '55000';
    END IF;
    UPDATE dsr.jobs
       SET state = 'cancelled', finished_at = now(), locked_by = NULL, locked_until = NULL,
           last_error = 'cancelled by operator: ' || left(reason, 500)
     WHERE id = job_id;
    RETURN 'job ' || job_id || ' cancelled';
END $$;
COMMENT ON FUNCTION dsr.cancel_job(bigint, text) IS 'Cancels a job that has not completed. A worker still running it finds its lease gone and its result is discarded. Example: SELECT dsr.cancel_job(42, ''duplicate request'');';

CREATE FUNCTION dsr.prune_jobs(older_than interval DEFAULT interval '30 days') RETURNS bigint
LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM dsr.jobs
         WHERE state IN ('completed', 'cancelled') AND finished_at < now() - older_than
        RETURNING 1)
    SELECT count(*) FROM gone
$$;
COMMENT ON FUNCTION dsr.prune_jobs(interval) IS 'Deletes completed and cancelled jobs finished longer ago than older_than (dead jobs stay until retried or cancelled); returns how many. Requests and their events are kept.';

-- Views for operators.
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
       r.completed_at,
       j.id AS job_id,
       j.state AS job_state,
       j.attempt AS attempts,
       CASE WHEN j.state = 'available' THEN j.run_at END AS next_attempt_at,
       j.last_error
  FROM dsr.requests AS r
  LEFT JOIN LATERAL (
        SELECT id, state, attempt, run_at, last_error
          FROM dsr.jobs
         WHERE request_id = r.id
         ORDER BY (state IN ('completed', 'cancelled')), id DESC
         LIMIT 1) AS j ON true;
COMMENT ON VIEW dsr.request_status IS 'One row per request: kind, status, age, due date, days left, current step, and its most relevant job (an unfinished one first) with attempts and last error. Example: SELECT * FROM dsr.request_status WHERE status <> ''completed'' ORDER BY due_at;';
COMMENT ON COLUMN dsr.request_status.id IS 'Request id.';
COMMENT ON COLUMN dsr.request_status.kind IS 'Right exercised.';
COMMENT ON COLUMN dsr.request_status.status IS 'Request status.';
COMMENT ON COLUMN dsr.request_status.current_step IS 'What the daemon is doing or waiting for.';
COMMENT ON COLUMN dsr.request_status.received_at IS 'When received.';
COMMENT ON COLUMN dsr.request_status.age IS 'Time since received.';
COMMENT ON COLUMN dsr.request_status.due_at IS 'Legal deadline.';
COMMENT ON COLUMN dsr.request_status.days_left IS 'Whole days until due (negative when overdue); NULL once finished.';
COMMENT ON COLUMN dsr.request_status.completed_at IS 'When it ended.';
COMMENT ON COLUMN dsr.request_status.job_id IS 'Most relevant job: the unfinished one if any, else the latest.';
COMMENT ON COLUMN dsr.request_status.job_state IS 'That job''s state.';
COMMENT ON COLUMN dsr.request_status.attempts IS 'Attempts that job has made.';
COMMENT ON COLUMN dsr.request_status.next_attempt_at IS 'When a waiting job runs next.';
COMMENT ON COLUMN dsr.request_status.last_error IS 'Why the job''s last attempt failed.';

CREATE VIEW dsr.queue_health AS
SELECT count(*) FILTER (WHERE state = 'available' AND run_at <= now()) AS ready,
       count(*) FILTER (WHERE state = 'available' AND run_at > now()) AS scheduled,
       count(*) FILTER (WHERE state = 'running') AS running,
       count(*) FILTER (WHERE state = 'running' AND locked_until < now()) AS expired_leases,
       count(*) FILTER (WHERE state = 'completed') AS completed,
       count(*) FILTER (WHERE state = 'dead') AS dead,
       count(*) FILTER (WHERE state = 'cancelled') AS cancelled,
       date_trunc('second', now() - min(run_at) FILTER (WHERE state = 'available' AND run_at <= now()))
           AS oldest_ready_age,
       (SELECT count(*) FROM dsr.workers AS w
         WHERE w.stopped_at IS NULL AND w.last_seen_at > now() - interval '1 minute') AS live_processes
  FROM dsr.jobs;
COMMENT ON VIEW dsr.queue_health IS 'One row: jobs by state, expired leases awaiting rescue, age of the oldest ready job (growing = workers cannot keep up), dead jobs (need an operator), live dsrd processes.';
COMMENT ON COLUMN dsr.queue_health.ready IS 'Jobs waiting to be claimed now.';
COMMENT ON COLUMN dsr.queue_health.scheduled IS 'Jobs backing off until a later run_at.';
COMMENT ON COLUMN dsr.queue_health.running IS 'Jobs leased by a worker.';
COMMENT ON COLUMN dsr.queue_health.expired_leases IS 'Running jobs whose worker stopped renewing; a live worker rescues them.';
COMMENT ON COLUMN dsr.queue_health.completed IS 'Completed jobs not yet pruned.';
COMMENT ON COLUMN dsr.queue_health.dead IS 'Jobs out of attempts: see dsr.request_status.last_error, then dsr.retry_job or dsr.cancel_job.';
COMMENT ON COLUMN dsr.queue_health.cancelled IS 'Cancelled jobs not yet pruned.';
COMMENT ON COLUMN dsr.queue_health.oldest_ready_age IS 'How long the oldest ready job has waited.';
COMMENT ON COLUMN dsr.queue_health.live_processes IS 'dsrd processes with a heartbeat in the last minute.';

CREATE VIEW dsr.overdue AS
SELECT r.id, r.kind, r.status, r.current_step, r.received_at, r.due_at,
       date_trunc('second', now() - r.due_at) AS overdue_by
  FROM dsr.requests AS r
 WHERE r.completed_at IS NULL AND r.due_at < now()
 ORDER BY r.due_at;
COMMENT ON VIEW dsr.overdue IS 'Open requests past their legal deadline, most overdue first. Every row is a broken promise to a customer: act on it.';
COMMENT ON COLUMN dsr.overdue.id IS 'Request id.';
COMMENT ON COLUMN dsr.overdue.kind IS 'Right exercised.';
COMMENT ON COLUMN dsr.overdue.status IS 'Request status.';
COMMENT ON COLUMN dsr.overdue.current_step IS 'Where it is stuck.';
COMMENT ON COLUMN dsr.overdue.received_at IS 'When received.';
COMMENT ON COLUMN dsr.overdue.due_at IS 'Deadline that passed.';
COMMENT ON COLUMN dsr.overdue.overdue_by IS 'How late it is.';
