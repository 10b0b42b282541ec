-- dsrd schema, part 9: any company's identifiers. The kinds of identifier a request may give
-- are data (dsr.identifier_kinds: the built-in four, and document kinds such as a passport that
-- dsrd run publishes from identifiers.extra_kinds), each with its normal form.

CREATE FUNCTION dsr.normalize_document(raw text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN d ~ '^[A-Z0-9]{1,64}$' THEN d END
      FROM (SELECT translate(regexp_replace(dsr.normalize_digits(raw), '[ \t\n\r\v\f./-]', '', 'g'),
                             'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ') AS d) AS s
$$;
COMMENT ON FUNCTION dsr.normalize_document(text) IS 'An identity document''s number (passport, foreign national id, tax id) as stores are matched on: digits normalised (Thai and fullwidth), white space, dots, slashes and dashes removed, ASCII letters upper-cased. NULL unless 1 to 64 letters and digits remain. A Thai national id stays its 13 digits.';

CREATE TABLE dsr.identifier_kinds (
    kind   text PRIMARY KEY CHECK (kind ~ '^[a-z][a-z0-9_]{0,62}$' AND kind NOT IN ('name', 'guardian', 'given')),
    format text NOT NULL CHECK (format IN ('email', 'phone', 'customer_id', 'thai_national_id', 'document')),
    strong boolean NOT NULL
);
INSERT INTO dsr.identifier_kinds (kind, format, strong) VALUES
    ('email', 'email', true), ('phone', 'phone', false), ('customer_id', 'customer_id', true),
    ('national_id', 'thai_national_id', true);
COMMENT ON TABLE dsr.identifier_kinds IS 'Identifiers a request may give (subject fields) and how each is checked. dsrd run publishes it from the configuration: identifiers.national_id_format (thai or document) and identifiers.extra_kinds (document kinds such as passport).';
COMMENT ON COLUMN dsr.identifier_kinds.kind IS 'Subject field and mapping identity key, e.g. passport.';
COMMENT ON COLUMN dsr.identifier_kinds.format IS 'Normal form: email, phone (E.164), customer_id (1-64 letters, digits or _.:-), thai_national_id (13 digits, check digit), document (dsr.normalize_document).';
COMMENT ON COLUMN dsr.identifier_kinds.strong IS 'One value, one person (a phone is weak: families share lines).';

CREATE FUNCTION dsr.normalize_identifier(kind text, raw text) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE k.format
               WHEN 'email' THEN dsr.normalize_email(raw)
               WHEN 'phone' THEN dsr.normalize_phone(raw)
               WHEN 'customer_id' THEN CASE WHEN btrim(raw) ~ '^[A-Za-z0-9_.:-]{1,64}$' THEN btrim(raw) END
               WHEN 'thai_national_id' THEN dsr.normalize_national_id(raw)
               ELSE dsr.normalize_document(raw) END
      FROM dsr.identifier_kinds AS k WHERE k.kind = normalize_identifier.kind
$$;
COMMENT ON FUNCTION dsr.normalize_identifier(text, text) IS 'An identifier of a kind in dsr.identifier_kinds in its normal form, or NULL when it is not valid (or the kind is unknown).';

CREATE FUNCTION dsr.subject_identifiers(subject jsonb) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(k.kind, dsr.normalize_identifier(k.kind, subject ->> k.kind)), '{}')
      FROM dsr.identifier_kinds AS k
     WHERE subject ? k.kind AND jsonb_typeof(subject -> k.kind) = 'string'
$$;
COMMENT ON FUNCTION dsr.subject_identifiers(jsonb) IS 'A request subject''s identifiers, each in its normal form: what tells whether two requests are about the same person.';

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
    format text;
    normal text;
    identifiers jsonb := '{}';
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
        IF field = 'guardian' THEN
            CONTINUE;
        END IF;
        SELECT k.format INTO format FROM dsr.identifier_kinds AS k WHERE k.kind = field;
        IF field <> 'name' AND format IS NULL THEN
            RAISE EXCEPTION 'unknown subject field' USING ERRCODE = '22023',
                HINT = 'subject fields: ' || (SELECT string_agg(k.kind, ', ' ORDER BY k.kind) FROM dsr.identifier_kinds AS k)
                       || ', name, guardian';
        END IF;
        IF jsonb_typeof(subject -> field) <> 'string' THEN
            RAISE EXCEPTION 'subject field % must be a string', field USING ERRCODE = '22023';
        END IF;
        IF length(subject ->> field) > 320 THEN
            RAISE EXCEPTION 'subject field % is too long', field USING ERRCODE = '22023';
        END IF;
        CONTINUE WHEN field = 'name';
        normal := dsr.normalize_identifier(field, subject ->> field);
        IF normal IS NULL THEN
            CASE format
            WHEN 'email' THEN
                RAISE EXCEPTION 'subject email is not a valid email address' USING ERRCODE = '22023';
            WHEN 'phone' THEN
                RAISE EXCEPTION 'subject phone is not a valid phone number' USING ERRCODE = '22023',
                    HINT = 'Thai numbers like 081-234-5678 or +66812345678 (Thai digits too); others in E.164 (+country...)';
            WHEN 'customer_id' THEN
                RAISE EXCEPTION 'subject customer_id must be 1-64 letters, digits or _.:-' USING ERRCODE = '22023';
            WHEN 'thai_national_id' THEN
                RAISE EXCEPTION 'subject % is not a valid 13-digit Thai ID', field USING ERRCODE = '22023';
            ELSE
                RAISE EXCEPTION 'subject % is not a valid document number', field USING ERRCODE = '22023',
                    HINT = '1 to 64 letters and digits; spaces, dots, slashes and dashes are ignored';
            END CASE;
        END IF;
        identifiers := identifiers || jsonb_build_object(field, normal);
    END LOOP;
    FOR field IN SELECT jsonb_object_keys(options) LOOP
        IF field NOT IN ('idempotency_key', 'locale', 'channels', 'received_at', 'changes', 'purposes', 'evidence', 'lift') THEN
            RAISE EXCEPTION 'unknown option' USING ERRCODE = '22023',
                HINT = 'options: idempotency_key, locale, channels, received_at, changes, purposes, evidence, lift';
        END IF;
    END LOOP;
    email := identifiers ->> 'email';
    phone := identifiers ->> 'phone';
    IF identifiers = '{}' THEN
        RAISE EXCEPTION 'subject has no usable identifier' USING ERRCODE = '22023',
            HINT = 'give at least one of ' || (SELECT string_agg(k.kind, ', ' ORDER BY k.kind) FROM dsr.identifier_kinds AS k);
    END IF;
    -- Ids and documents are kept normalised; email and phone as given (their normal forms
    -- are subject_email and subject_phone).
    subject := subject || (identifiers - 'email' - 'phone');

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
        SELECT r.id, r.kind, dsr.subject_identifiers(r.subject) AS identifiers, r.payload
          INTO existing FROM dsr.requests AS r WHERE r.idempotency_key = key;
        IF existing.kind <> submit.kind THEN
            RAISE EXCEPTION 'idempotency_key was already used for a request of another kind' USING ERRCODE = '22023',
                HINT = 'use a new idempotency_key for a new request';
        END IF;
        IF existing.identifiers IS DISTINCT FROM identifiers THEN
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
'Creates a rights request and queues its job; returns the request id. subject: identifiers of the kinds in dsr.identifier_kinds (email, phone, customer_id, national_id, and configured documents such as passport), at least one, plus name and guardian. options: {idempotency_key, locale th|en, channels [email,sms] (sms needs a mobile number), received_at (ISO 8601), changes (rectification: fields in dsr.correctable_fields), purposes, evidence, lift (restriction)}. Reusing an idempotency_key returns the same request when kind, person and input agree, and raises an error otherwise. Invalid input raises SQLSTATE 22023 and writes nothing. Example: SELECT dsr.submit(''access'', ''{"email": "somchai@example.co.th"}'');';

CREATE OR REPLACE FUNCTION dsr.resume_request(request uuid, identifiers jsonb DEFAULT NULL, note text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    r dsr.requests%ROWTYPE;
    new_subject jsonb;
    normalized jsonb;
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
        IF jsonb_typeof(identifiers) <> 'object' OR EXISTS (
               SELECT 1 FROM jsonb_each(identifiers) AS i
                WHERE NOT EXISTS (SELECT 1 FROM dsr.identifier_kinds AS k WHERE k.kind = i.key) OR jsonb_typeof(i.value) <> 'string') THEN
            RAISE EXCEPTION 'identifiers must be an object of identifiers (text)' USING ERRCODE = '22023',
                HINT = 'kinds: ' || (SELECT string_agg(k.kind, ', ' ORDER BY k.kind) FROM dsr.identifier_kinds AS k);
        END IF;
        normalized := dsr.subject_identifiers(identifiers);
        IF EXISTS (SELECT 1 FROM jsonb_each(normalized) AS i WHERE i.value = 'null') THEN
            RAISE EXCEPTION 'identifiers.% is not valid', (SELECT min(i.key) FROM jsonb_each(normalized) AS i WHERE i.value = 'null')
                USING ERRCODE = '22023';
        END IF;
        new_subject := (SELECT coalesce(jsonb_object_agg(s.key, s.value), '{}') FROM jsonb_each(r.subject) AS s
                         WHERE NOT EXISTS (SELECT 1 FROM dsr.identifier_kinds AS k WHERE k.kind = s.key))
            || normalized || jsonb_build_object('given', r.subject);
    END IF;
    IF r.hold_reason = 'shared_phone' AND NOT EXISTS (
           SELECT 1 FROM jsonb_object_keys(coalesce(normalized, '{}')) AS i JOIN dsr.identifier_kinds AS k ON k.kind = i AND k.strong) THEN
        RAISE EXCEPTION 'this request matched several customers by a shared phone number' USING ERRCODE = '22023',
            HINT = 'pass the verified person''s customer_id, national_id, email or document in identifiers, e.g. dsr.resume_request(id, ''{"customer_id": "C0000042"}'')';
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

