-- dsrd schema, part 8: promises to the person that dsrd keeps. A hold for identity
-- verification really stops work and can be lifted; an idempotency key cannot swallow another
-- person's request; corrections no store can make are refused at submission; deadlines move
-- only forward and within the law; no constraint violation ever prints a row of personal data.

-- A request on hold until the person's identity is verified. Its jobs are cancelled when the
-- hold starts, every handler and every completing function re-checks it, and
-- dsr.resume_request queues the next step again.
ALTER TABLE dsr.requests DROP CONSTRAINT requests_status_check;
ALTER TABLE dsr.requests ADD CONSTRAINT requests_status_check
    CHECK (status IN ('received', 'in_progress', 'waiting', 'awaiting_verification', 'completed', 'refused', 'cancelled'));
COMMENT ON COLUMN dsr.requests.status IS 'received -> in_progress -> completed; or waiting (a store is down), awaiting_verification (on hold until the person''s identity is verified: dsr.resume_request), refused (with refusal_reason), cancelled.';

ALTER TABLE dsr.requests ADD COLUMN hold_reason text
    CHECK (hold_reason IN ('operator', 'shared_phone', 'conflicting_records'));
ALTER TABLE dsr.requests ADD COLUMN verified_at timestamptz;
ALTER TABLE dsr.requests ADD COLUMN verified_by text;
ALTER TABLE dsr.requests ADD CONSTRAINT requests_hold_reason_check_status
    CHECK ((status = 'awaiting_verification') = (hold_reason IS NOT NULL));
COMMENT ON COLUMN dsr.requests.hold_reason IS 'Why the request waits for identity verification: operator (dsr.ask_identity_verification), shared_phone (a phone that several customers share, and nothing stronger that matched), conflicting_records (records joined by an identifier disagree on personal details). NULL unless awaiting_verification.';
COMMENT ON COLUMN dsr.requests.verified_at IS 'When an operator confirmed the requester''s identity and resumed the request (dsr.resume_request); the identity checks that hold a request are not repeated after it.';
COMMENT ON COLUMN dsr.requests.verified_by IS 'Database user who resumed the request after verifying the identity.';

-- Answer periods may be extended only up to a maximum total, per kind.
ALTER TABLE dsr.deadline_policy ADD COLUMN max_period interval NOT NULL DEFAULT interval '60 days';
ALTER TABLE dsr.deadline_policy ADD CONSTRAINT deadline_policy_max_period_check CHECK (max_period >= period);
COMMENT ON COLUMN dsr.deadline_policy.max_period IS 'Longest total time from received_at to due_at that dsr.extend_deadline may reach (60 days by default). PDPA s.30 sets 30 days for access and names no extension: raise it only where the law allows.';

-- Fields a rectification may correct, published by the daemon from the store mappings at
-- start, so that dsr.submit refuses an impossible correction at once.
CREATE TABLE dsr.correctable_fields (
    field  text PRIMARY KEY,
    stores text[] NOT NULL
);
COMMENT ON TABLE dsr.correctable_fields IS 'Fields a rectification can correct (a table''s `rectify` list in the store mappings), written by dsrd at start. dsr.submit refuses changes to other fields. Empty until a daemon has run: then every field is accepted and checked when the request runs.';
COMMENT ON COLUMN dsr.correctable_fields.field IS 'Column name as listed in `rectify`.';
COMMENT ON COLUMN dsr.correctable_fields.stores IS 'Stores with a table that corrects it.';

-- Submission, with its input checks in one place. Returns the request id.
CREATE OR REPLACE FUNCTION dsr.submit(kind text, subject jsonb, options jsonb DEFAULT '{}') RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    kinds constant text[] := ARRAY['access', 'portability', 'erasure', 'rectification', 'restriction',
                                   'objection', 'consent_withdrawal'];
    field text;
    changed text;
    corrected jsonb;
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
        IF field NOT IN ('idempotency_key', 'locale', 'channels', 'received_at', 'changes', 'purposes', 'evidence', 'lift') THEN
            RAISE EXCEPTION 'unknown option' USING ERRCODE = '22023',
                HINT = 'options: idempotency_key, locale, channels, received_at, changes, purposes, evidence, lift';
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
                HINT = 'Thai numbers like 081-234-5678 or +66812345678 (Thai digits too); others in E.164 (+country...)';
        END IF;
    END IF;
    IF subject ? 'customer_id' THEN
        customer_id := btrim(subject ->> 'customer_id');
        IF customer_id !~ '^[A-Za-z0-9_.:-]{1,64}$' THEN
            RAISE EXCEPTION 'subject customer_id must be 1-64 letters, digits or _.:-' USING ERRCODE = '22023';
        END IF;
    END IF;
    IF subject ? 'national_id' THEN
        national_id := dsr.normalize_national_id(subject ->> 'national_id');
        IF national_id IS NULL THEN
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
        channels := CASE WHEN email IS NOT NULL THEN ARRAY['email']
                         WHEN dsr.is_mobile_phone(phone) THEN ARRAY['sms'] ELSE '{}' END;
    END IF;
    IF 'email' = ANY (channels) AND email IS NULL THEN
        RAISE EXCEPTION 'channel email needs a subject email' USING ERRCODE = '22023';
    END IF;
    IF 'sms' = ANY (channels) AND phone IS NULL THEN
        RAISE EXCEPTION 'channel sms needs a subject phone' USING ERRCODE = '22023';
    END IF;
    IF 'sms' = ANY (channels) AND NOT dsr.is_mobile_phone(phone) THEN
        RAISE EXCEPTION 'channel sms needs a mobile number' USING ERRCODE = '22023',
            HINT = 'a Thai landline (02-..., 053-...) cannot receive SMS; use email, or give a mobile number';
    END IF;

    received := now();
    IF options ? 'received_at' THEN
        -- ISO 8601 only: PostgreSQL would also take words such as 'yesterday' or 'epoch'.
        IF jsonb_typeof(options -> 'received_at') <> 'string'
           OR options ->> 'received_at' !~ '^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$' THEN
            RAISE EXCEPTION 'received_at must be an ISO 8601 timestamp' USING ERRCODE = '22023',
                HINT = 'e.g. 2026-11-20T09:30:00+07:00';
        END IF;
        BEGIN
            received := (options ->> 'received_at')::timestamptz;
        EXCEPTION WHEN others THEN
            RAISE EXCEPTION 'received_at must be an ISO 8601 timestamp' USING ERRCODE = '22023',
                HINT = 'e.g. 2026-11-20T09:30:00+07:00';
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
        FOR changed, corrected IN SELECT c.key, c.value FROM jsonb_each(options -> 'changes') AS c LOOP
            IF EXISTS (SELECT 1 FROM dsr.correctable_fields)
               AND NOT EXISTS (SELECT 1 FROM dsr.correctable_fields AS f WHERE f.field = changed) THEN
                RAISE EXCEPTION 'options.changes names a field that no store can correct' USING ERRCODE = '22023',
                    HINT = 'fields that can be corrected: ' || (SELECT string_agg(f.field, ', ' ORDER BY f.field) FROM dsr.correctable_fields AS f);
            END IF;
            IF jsonb_typeof(corrected) <> 'string' THEN
                RAISE EXCEPTION 'each corrected value must be text' USING ERRCODE = '22023';
            END IF;
            IF changed = 'email' AND dsr.normalize_email(corrected #>> '{}') IS NULL THEN
                RAISE EXCEPTION 'the corrected email is not a valid email address' USING ERRCODE = '22023';
            ELSIF changed = 'phone' AND dsr.normalize_phone(corrected #>> '{}') IS NULL THEN
                RAISE EXCEPTION 'the corrected phone is not a valid phone number' USING ERRCODE = '22023';
            ELSIF length(btrim(corrected #>> '{}')) NOT BETWEEN 1 AND 500 OR (corrected #>> '{}') ~ '[[:cntrl:]]' THEN
                RAISE EXCEPTION 'each corrected value must be 1 to 500 characters of text' USING ERRCODE = '22023';
            END IF;
        END LOOP;
        request_payload := request_payload || jsonb_build_object('changes', options -> 'changes');
    ELSIF options ? 'changes' THEN
        RAISE EXCEPTION 'options.changes is only for rectification' USING ERRCODE = '22023';
    END IF;
    IF options ? 'purposes' THEN
        IF jsonb_typeof(options -> 'purposes') <> 'array'
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(options -> 'purposes') AS p WHERE jsonb_typeof(p) <> 'string'
                                                                                       OR p #>> '{}' !~ '^[a-z][a-z0-9_]{0,62}$') THEN
            RAISE EXCEPTION 'purposes must be an array of purpose codes such as "marketing"' USING ERRCODE = '22023';
        END IF;
        request_payload := request_payload || jsonb_build_object('purposes',
            (SELECT coalesce(jsonb_agg(DISTINCT p ORDER BY p), '[]') FROM jsonb_array_elements_text(options -> 'purposes') AS p));
    END IF;
    IF options ? 'evidence' THEN
        request_payload := request_payload || jsonb_build_object('evidence', options -> 'evidence');
    END IF;
    IF options ? 'lift' THEN
        IF kind <> 'restriction' OR jsonb_typeof(options -> 'lift') <> 'boolean' THEN
            RAISE EXCEPTION 'options.lift is true or false, for restriction only' USING ERRCODE = '22023';
        END IF;
        IF (options ->> 'lift')::boolean THEN
            request_payload := request_payload || '{"lift": true}';
        END IF;
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
        -- The same key again: the same request, or an error. Never another person's request.
        SELECT r.id, r.kind, r.subject_email, r.subject_phone, r.subject ->> 'customer_id' AS customer_id,
               r.subject ->> 'national_id' AS national_id, r.payload
          INTO existing FROM dsr.requests AS r WHERE r.idempotency_key = key;
        IF existing.kind <> submit.kind THEN
            RAISE EXCEPTION 'idempotency_key was already used for a request of another kind' USING ERRCODE = '22023',
                HINT = 'use a new idempotency_key for a new request';
        END IF;
        IF existing.subject_email IS DISTINCT FROM email OR existing.subject_phone IS DISTINCT FROM phone
           OR existing.customer_id IS DISTINCT FROM customer_id OR existing.national_id IS DISTINCT FROM national_id THEN
            RAISE EXCEPTION 'idempotency_key was already used for a request about another person' USING ERRCODE = '22023',
                HINT = 'use a new idempotency_key for a new request';
        END IF;
        IF existing.payload - 'evidence' IS DISTINCT FROM request_payload - 'evidence' THEN
            RAISE EXCEPTION 'idempotency_key was already used for a different request' USING ERRCODE = '22023',
                HINT = 'the changes, purposes or lift differ; use a new idempotency_key for a new request';
        END IF;
        RETURN existing.id;
    END IF;

    INSERT INTO dsr.request_events (request_id, step) VALUES (new_id, 'received');
    INSERT INTO dsr.jobs (kind, request_id, payload)
    VALUES ('request', new_id, jsonb_build_object('request_kind', submit.kind));
    RETURN new_id;
END $$;
COMMENT ON FUNCTION dsr.submit(text, jsonb, jsonb) IS
'Creates a rights request and queues its job; returns the request id. subject: {email, phone, customer_id, national_id, name, guardian}, at least one identifier. options: {idempotency_key, locale th|en, channels [email,sms] (sms needs a mobile number), received_at (ISO 8601), changes (rectification: fields in dsr.correctable_fields), purposes, evidence, lift (restriction)}. Reusing an idempotency_key returns the same request when kind, person and input agree, and raises an error otherwise. Invalid input raises SQLSTATE 22023 and writes nothing. Example: SELECT dsr.submit(''access'', ''{"email": "somchai@example.co.th"}'');';

CREATE OR REPLACE FUNCTION dsr.submit_lift_restriction(subject jsonb, options jsonb DEFAULT '{}') RETURNS uuid
LANGUAGE sql AS $$
    SELECT dsr.submit('restriction', subject, coalesce(options, '{}') || '{"lift": true}')
$$;

-- Holding a request for identity verification, and resuming it.
CREATE FUNCTION dsr.hold_for_verification(request uuid, reason text, note text DEFAULT NULL, detail jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    asked bigint;
BEGIN
    UPDATE dsr.requests
       SET status = 'awaiting_verification', hold_reason = reason, updated_at = now(),
           current_step = 'waiting for identity verification' || CASE reason
               WHEN 'shared_phone' THEN ': the phone number is shared by several customers'
               WHEN 'conflicting_records' THEN ': records joined by the same identifier disagree on '
                                               || coalesce(detail ->> 'conflicts', 'personal details')
               ELSE '' END
     WHERE id = request AND completed_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'request % is not open', request USING ERRCODE = '55000';
    END IF;
    -- Work not yet committed stops: a queued job never runs, a running one's result is discarded.
    UPDATE dsr.jobs SET state = 'cancelled', finished_at = now(), locked_by = NULL, locked_until = NULL,
                        last_error = 'on hold: waiting for identity verification'
     WHERE request_id = request AND kind <> 'notice' AND state IN ('available', 'running');
    INSERT INTO dsr.request_events (request_id, step, detail)
    VALUES (request, 'identity_verification_requested', jsonb_build_object('reason', reason) || coalesce(detail, '{}'));
    SELECT count(*) INTO asked FROM dsr.request_events AS e
     WHERE e.request_id = request AND e.step = 'identity_verification_requested';
    PERFORM dsr.notify_subject(request, 'identity_needed',
        jsonb_build_object('note', coalesce(note, ''), 'several_accounts', reason IN ('shared_phone', 'conflicting_records')),
        ':' || asked);
    IF reason <> 'operator' THEN
        PERFORM dsr.notify_dpo('identity-hold:' || request || ':' || asked, request, 'dpo_identity_hold',
            jsonb_build_object(reason, true) || coalesce(detail, '{}'));
    END IF;
END $$;
COMMENT ON FUNCTION dsr.hold_for_verification(uuid, text, text, jsonb) IS 'Puts an open request on hold until the identity is verified: status awaiting_verification with the reason (operator, shared_phone, conflicting_records), its unfinished jobs cancelled, the person asked to verify (note included) and, when dsrd itself held it, the DPO told why (detail: e.g. {"conflicts": "customers.first_name"}, column names only). Resume with dsr.resume_request.';

CREATE OR REPLACE FUNCTION dsr.ask_identity_verification(request uuid, note text DEFAULT NULL) RETURNS void
LANGUAGE sql AS $$
    SELECT dsr.hold_for_verification(request, 'operator', note)
$$;
COMMENT ON FUNCTION dsr.ask_identity_verification(uuid, text) IS 'Operator action: puts a request on hold and asks the person to verify their identity; nothing more is done for it until dsr.resume_request. Example: SELECT dsr.ask_identity_verification(''…'', ''please bring your ID card'');';

CREATE FUNCTION dsr.resume_request(request uuid, identifiers jsonb DEFAULT NULL, note text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    r dsr.requests%ROWTYPE;
    new_subject jsonb;
    email text;
    phone text;
    pending integer;
    tasks integer;
BEGIN
    SELECT * INTO r FROM dsr.requests AS q WHERE q.id = request FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no request %', request USING ERRCODE = 'P0002';
    END IF;
    IF r.status <> 'awaiting_verification' THEN
        RAISE EXCEPTION 'request % is %, not awaiting verification', request, r.status USING ERRCODE = '55000';
    END IF;
    new_subject := r.subject;
    IF identifiers IS NOT NULL AND identifiers <> '{}' THEN
        -- The identifiers the operator verified replace the ones the request gave for
        -- finding the person (validated exactly as dsr.submit does, nothing is written on error).
        IF jsonb_typeof(identifiers) <> 'object'
           OR EXISTS (SELECT 1 FROM jsonb_object_keys(identifiers) AS k WHERE k NOT IN ('email', 'phone', 'customer_id', 'national_id')) THEN
            RAISE EXCEPTION 'identifiers must be an object of email, phone, customer_id, national_id' USING ERRCODE = '22023';
        END IF;
        IF identifiers ? 'email' THEN
            email := dsr.normalize_email(identifiers ->> 'email');
            IF email IS NULL THEN RAISE EXCEPTION 'identifiers.email is not a valid email address' USING ERRCODE = '22023'; END IF;
        END IF;
        IF identifiers ? 'phone' THEN
            phone := dsr.normalize_phone(identifiers ->> 'phone');
            IF phone IS NULL THEN RAISE EXCEPTION 'identifiers.phone is not a valid phone number' USING ERRCODE = '22023'; END IF;
        END IF;
        IF identifiers ? 'customer_id' AND btrim(identifiers ->> 'customer_id') !~ '^[A-Za-z0-9_.:-]{1,64}$' THEN
            RAISE EXCEPTION 'identifiers.customer_id must be 1-64 letters, digits or _.:-' USING ERRCODE = '22023';
        END IF;
        IF identifiers ? 'national_id' AND dsr.normalize_national_id(identifiers ->> 'national_id') IS NULL THEN
            RAISE EXCEPTION 'identifiers.national_id is not a valid 13-digit Thai ID' USING ERRCODE = '22023';
        END IF;
        new_subject := (r.subject - 'email' - 'phone' - 'customer_id' - 'national_id')
            || jsonb_strip_nulls(jsonb_build_object(
                   'email', email, 'phone', phone, 'customer_id', btrim(identifiers ->> 'customer_id'),
                   'national_id', dsr.normalize_national_id(identifiers ->> 'national_id')))
            || jsonb_build_object('given', r.subject);
    END IF;
    IF r.hold_reason = 'shared_phone' AND NOT coalesce(identifiers ?| ARRAY['customer_id', 'national_id', 'email'], false) THEN
        RAISE EXCEPTION 'this request matched several customers by a shared phone number' USING ERRCODE = '22023',
            HINT = 'pass the verified person''s customer_id, national_id or email in identifiers, e.g. dsr.resume_request(id, ''{"customer_id": "C0000042"}'')';
    END IF;

    SELECT count(*), count(*) FILTER (WHERE state <> 'done') INTO tasks, pending
      FROM dsr.request_tasks WHERE request_id = request;
    IF identifiers IS NOT NULL AND identifiers <> '{}' AND tasks > 0 AND pending = tasks
       AND NOT EXISTS (SELECT 1 FROM dsr.request_tasks WHERE request_id = request AND (plan IS NOT NULL OR outcome IS NOT NULL)) THEN
        -- Nothing was done yet under the old identifiers: plan again from the new ones.
        DELETE FROM dsr.request_tasks WHERE request_id = request;
        tasks := 0;
    END IF;
    UPDATE dsr.requests AS q
       SET status = CASE WHEN tasks = 0 THEN 'received' ELSE 'in_progress' END, hold_reason = NULL,
           verified_at = now(), verified_by = current_user, subject = new_subject,
           identities = CASE WHEN tasks = 0 THEN NULL ELSE q.identities END,
           current_step = 'identity verified; resuming', updated_at = now()
     WHERE q.id = request;
    INSERT INTO dsr.request_events (request_id, step, detail)
    VALUES (request, 'resumed', jsonb_build_object('verified_by', current_user, 'identifiers_replaced', identifiers IS NOT NULL AND identifiers <> '{}',
                                                   'note', left(coalesce(note, ''), 500)));
    IF tasks = 0 THEN
        INSERT INTO dsr.jobs (kind, request_id, payload) VALUES ('request', request, jsonb_build_object('request_kind', r.kind));
        RETURN 'request ' || request || ' resumed: finding the person';
    ELSIF pending > 0 THEN
        INSERT INTO dsr.jobs (kind, request_id, payload)
        SELECT 'store_task', request, jsonb_build_object('store', t.store)
          FROM dsr.request_tasks AS t WHERE t.request_id = request AND t.state <> 'done' ORDER BY t.store;
        RETURN 'request ' || request || ' resumed: ' || pending || ' store tasks queued';
    ELSE
        INSERT INTO dsr.jobs (kind, request_id) VALUES ('finalize', request);
        RETURN 'request ' || request || ' resumed: every store is done, finishing';
    END IF;
END $$;
COMMENT ON FUNCTION dsr.resume_request(uuid, jsonb, text) IS 'Resumes a request held for identity verification once the identity is confirmed: queues the next step (finding the person, the unfinished store tasks, or the final step). identifiers (optional) replace the ones the request gave, e.g. the customer_id of the one customer, among several sharing a phone, who made the request; required for a shared_phone hold. Examples: SELECT dsr.resume_request(''…''); SELECT dsr.resume_request(''…'', ''{"customer_id": "C0000042"}'', ''ID card checked at the counter'');';

-- Completing functions respect a hold that started while the work ran.
CREATE OR REPLACE FUNCTION dsr.complete_request(request uuid, outcome jsonb DEFAULT '{}') RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r dsr.requests%ROWTYPE;
BEGIN
    UPDATE dsr.requests
       SET status = 'completed', completed_at = now(), updated_at = now(), current_step = 'completed',
           result = coalesce(result, '{}') || coalesce(outcome, '{}')
     WHERE id = request AND completed_at IS NULL AND status <> 'awaiting_verification'
    RETURNING * INTO r;
    IF NOT FOUND THEN
        RETURN;  -- already ended, or on hold: completing changes nothing and sends nothing
    END IF;
    INSERT INTO dsr.request_events (request_id, step, detail) VALUES (request, 'completed', coalesce(outcome, '{}'));
    PERFORM dsr.notify_subject(request, 'completed', jsonb_build_object('kind', r.kind) || coalesce(outcome, '{}'));
    PERFORM dsr.notify_dpo('completion:' || request, request, 'dpo_completion',
        jsonb_build_object('kind', r.kind, 'received_at', r.received_at, 'due_at', r.due_at) || coalesce(outcome, '{}'));
END $$;
COMMENT ON FUNCTION dsr.complete_request(uuid, jsonb) IS 'Marks a request completed with its outcome (counts, export or proof digests; no personal data), tells the person and sends the DPO a completion report. Idempotent; does nothing to a request on hold for identity verification.';

CREATE OR REPLACE FUNCTION dsr.finish_task(request uuid, task_store text, outcome jsonb) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    request_status text;
BEGIN
    SELECT status INTO request_status FROM dsr.requests WHERE id = request FOR UPDATE;
    UPDATE dsr.request_tasks AS t
       SET state = 'done', rows = (finish_task.outcome ->> 'rows')::bigint, files = finish_task.outcome -> 'files',
           outcome = finish_task.outcome, finished_at = coalesce(t.finished_at, now()), last_error = NULL
     WHERE t.request_id = request AND t.store = task_store;
    INSERT INTO dsr.request_events (request_id, step, detail)
    VALUES (request, 'task_done', jsonb_build_object('store', task_store, 'rows', finish_task.outcome -> 'rows'));
    IF request_status NOT IN ('received', 'in_progress', 'waiting') THEN
        RETURN false;  -- on hold or ended: dsr.resume_request queues the final step
    END IF;
    IF EXISTS (SELECT 1 FROM dsr.request_tasks WHERE request_id = request AND state <> 'done') THEN
        UPDATE dsr.requests SET current_step = (
                   SELECT CASE WHEN min(operation) = 'erase' THEN 'erasing: ' ELSE 'collecting: ' END
                          || string_agg(store, ', ' ORDER BY store) || ' still to do'
                     FROM dsr.request_tasks WHERE request_id = request AND state <> 'done'), updated_at = now()
         WHERE id = request AND completed_at IS NULL;
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

CREATE OR REPLACE FUNCTION dsr.task_failed(request uuid, task_store text, error text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    failed integer;
BEGIN
    UPDATE dsr.request_tasks SET state = 'waiting', failures = failures + 1, last_error = left(error, 1000)
     WHERE request_id = request AND store = task_store AND state <> 'done'
    RETURNING failures INTO failed;
    UPDATE dsr.requests SET status = 'waiting', current_step = 'waiting for store ' || task_store || ': ' || left(error, 200),
           updated_at = now()
     WHERE id = request AND completed_at IS NULL AND status <> 'awaiting_verification';
    IF failed >= 3 THEN
        PERFORM dsr.notify_dpo('store-unreachable:' || task_store || ':' || request, request, 'dpo_store_unreachable',
            jsonb_build_object('store', task_store, 'last_error', left(error, 500)));
    END IF;
END $$;

-- Deadlines move forward only, and no further than the kind's maximum.
CREATE OR REPLACE FUNCTION dsr.extend_deadline(request uuid, extra interval, reason text) RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    new_due timestamptz;
BEGIN
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'an extension needs a reason' USING ERRCODE = '22023';
    END IF;
    IF extra IS NULL OR extra <= interval '0' OR extra >= interval '1 year' THEN
        RAISE EXCEPTION 'an extension must be a positive interval, e.g. interval ''15 days''' USING ERRCODE = '22023';
    END IF;
    SELECT q.received_at, q.due_at, coalesce(p.max_period, interval '60 days') AS max_period
      INTO r FROM dsr.requests AS q LEFT JOIN dsr.deadline_policy AS p ON p.kind = q.kind
     WHERE q.id = request AND q.completed_at IS NULL FOR UPDATE OF q;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'request % is not open', request USING ERRCODE = '55000';
    END IF;
    new_due := r.due_at + extra;
    IF new_due > r.received_at + r.max_period THEN
        RAISE EXCEPTION 'the deadline can be at most % after the request was received', r.max_period USING ERRCODE = '22023',
            HINT = 'dsr.deadline_policy.max_period for this kind; the latest allowed due date is ' || to_char(r.received_at + r.max_period, 'YYYY-MM-DD');
    END IF;
    UPDATE dsr.requests SET due_at = new_due, updated_at = now() WHERE id = request;
    INSERT INTO dsr.request_events (request_id, step, detail)
    VALUES (request, 'deadline_extended', jsonb_build_object('due_at', new_due));
    PERFORM dsr.notify_subject(request, 'more_time', jsonb_build_object('due_at', new_due, 'reason', reason),
                               ':' || to_char(new_due, 'YYYYMMDD'));
    RETURN new_due;
END $$;
COMMENT ON FUNCTION dsr.extend_deadline(uuid, interval, text) IS 'Gives an open request more time where the law allows, telling the person why and the new date. The extension must be positive, and the new deadline at most dsr.deadline_policy.max_period after received_at. Example: SELECT dsr.extend_deadline(''…'', interval ''15 days'', ''records are in the paper archive'');';

-- A cancelled notice job cancels its notice; retrying it makes the notice pending again.
CREATE FUNCTION dsr.cancel_notice_with_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE dsr.outbox SET state = 'cancelled', last_error = NEW.last_error
     WHERE id = (NEW.payload ->> 'outbox_id')::bigint AND state IN ('pending', 'sending');
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_cancel_notice AFTER UPDATE OF state ON dsr.jobs
    FOR EACH ROW WHEN (NEW.kind = 'notice' AND NEW.state = 'cancelled' AND OLD.state IS DISTINCT FROM 'cancelled')
    EXECUTE FUNCTION dsr.cancel_notice_with_job();
COMMENT ON FUNCTION dsr.cancel_notice_with_job() IS 'When a notice job is cancelled, its dsr.outbox row becomes cancelled too (not pending forever).';

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
           max_attempts = greatest(max_attempts, attempt + 1)
     WHERE id = job_id;
    IF j.kind = 'notice' THEN
        UPDATE dsr.outbox SET state = 'pending'
         WHERE id = (j.payload ->> 'outbox_id')::bigint AND state IN ('cancelled', 'failed');
    END IF;
    PERFORM pg_notify('dsr_jobs', '');
    RETURN 'job ' || job_id || ' will run now';
END $$;
COMMENT ON FUNCTION dsr.retry_job(bigint) IS 'Makes a dead, cancelled or backing-off job run now, granting it one more attempt if it had none left (a notice job''s notice becomes pending again). Example: SELECT dsr.retry_job(42);';

-- No constraint violation on a table of personal data may print the row: PostgreSQL's
-- "Failing row contains (...)" DETAIL goes to the client and to the server log. This trigger
-- evaluates the table's own CHECK and NOT NULL constraints first and raises the same error
-- without the row, so the built-in checks (kept as the last line of defence) never fire.
CREATE FUNCTION dsr.check_row_quietly() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    checks text;
    failed text;
BEGIN
    -- One statement evaluates every constraint: the first one the row breaks, or NULL.
    SELECT 'SELECT CASE ' || string_agg(test, ' ' ORDER BY position, name) || ' END FROM (SELECT ($1).*) AS checked'
      INTO checks
      FROM (SELECT 1 AS position, a.attname::text AS name,
                   format('WHEN checked.%I IS NULL THEN %L', a.attname, 'n' || a.attname) AS test
              FROM pg_attribute AS a
             WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull
            UNION ALL
            SELECT 2, k.conname::text, format('WHEN NOT (%s) THEN %L', pg_get_expr(k.conbin, k.conrelid), 'c' || k.conname)
              FROM pg_constraint AS k
             WHERE k.conrelid = TG_RELID AND k.contype = 'c') AS tests;
    IF checks IS NULL THEN
        RETURN NEW;
    END IF;
    EXECUTE checks INTO failed USING NEW;
    IF failed LIKE 'n%' THEN
        RAISE EXCEPTION 'null value in column "%" of relation "%.%" violates not-null constraint', substr(failed, 2), TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = '23502', COLUMN = substr(failed, 2), TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA;
    ELSIF failed LIKE 'c%' THEN
        RAISE EXCEPTION 'new row for relation "%.%" violates check constraint "%"', TG_TABLE_SCHEMA, TG_TABLE_NAME, substr(failed, 2)
            USING ERRCODE = '23514', CONSTRAINT = substr(failed, 2), TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA;
    END IF;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION dsr.check_row_quietly() IS 'BEFORE INSERT/UPDATE trigger on tables holding personal data: raises CHECK and NOT NULL violations (SQLSTATE 23514, 23502) with the constraint''s name but without the "Failing row contains" detail, which would put personal data in the client''s error and the server log.';
CREATE TRIGGER zz_check_row_quietly BEFORE INSERT OR UPDATE ON dsr.requests
    FOR EACH ROW EXECUTE FUNCTION dsr.check_row_quietly();
CREATE TRIGGER zz_check_row_quietly BEFORE INSERT OR UPDATE ON dsr.outbox
    FOR EACH ROW EXECUTE FUNCTION dsr.check_row_quietly();
