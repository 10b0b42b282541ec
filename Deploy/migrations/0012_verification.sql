-- Identity verification before any store is touched (PDPA: act only for the person the data
-- is about). A request of a kind that needs verification is planned only once it is verified:
-- by a one-time code sent to a contact point already on file for the person the stores
-- found, by an operator (in person with an ID card, documents, a call-back), or at submission
-- when an operator took the request and checked the identity there.

CREATE TABLE dsr.verification_policy (
    kind         text PRIMARY KEY
                 CHECK (kind IN ('access', 'portability', 'erasure', 'rectification', 'restriction',
                                 'objection', 'consent_withdrawal')),
    required     boolean NOT NULL,
    code_ttl     interval NOT NULL DEFAULT interval '15 minutes' CHECK (code_ttl > interval '0'),
    max_attempts integer NOT NULL DEFAULT 5 CHECK (max_attempts BETWEEN 1 AND 20),
    max_codes    integer NOT NULL DEFAULT 3 CHECK (max_codes BETWEEN 1 AND 20),
    expire_after interval NOT NULL DEFAULT interval '14 days' CHECK (expire_after > interval '0'),
    basis        text NOT NULL
);
COMMENT ON TABLE dsr.verification_policy IS 'Per request kind: whether the identity must be verified before any store is touched, and the one-time code''s rules (lifetime, wrong tries before it locks, codes per request, how long an unverified request waits before it expires). Change with UPDATE; dsrd reads it per request.';
COMMENT ON COLUMN dsr.verification_policy.kind IS 'Request kind.';
COMMENT ON COLUMN dsr.verification_policy.required IS 'Whether a request of this kind waits for identity verification before any store is touched.';
COMMENT ON COLUMN dsr.verification_policy.code_ttl IS 'How long a one-time code works (default 15 minutes).';
COMMENT ON COLUMN dsr.verification_policy.max_attempts IS 'Wrong codes, over all codes of a request, before verification locks and the DPO is told (default 5).';
COMMENT ON COLUMN dsr.verification_policy.max_codes IS 'Codes a request may be sent (the first and resends; default 3).';
COMMENT ON COLUMN dsr.verification_policy.expire_after IS 'How long an unverified request waits before it is refused with a notice (default 14 days).';
COMMENT ON COLUMN dsr.verification_policy.basis IS 'Why: the legal ground, shown to operators.';
INSERT INTO dsr.verification_policy (kind, required, basis) VALUES
    ('access', true, 'a copy of the data goes only to the person it is about (PDPA s.30)'),
    ('portability', true, 'a copy of the data goes only to the person it is about (PDPA s.31)'),
    ('erasure', true, 'erasure cannot be undone (PDPA s.33)'),
    ('rectification', true, 'a change of the person''s data must come from the person (PDPA s.35)'),
    ('restriction', true, 'restriction changes how the person''s data is used (PDPA s.34)'),
    ('objection', false, 'an objection only stops processing (PDPA s.32)'),
    ('consent_withdrawal', false, 'a withdrawal only stops processing (PDPA s.19)');

ALTER TABLE dsr.requests DROP CONSTRAINT requests_hold_reason_check;
ALTER TABLE dsr.requests ADD CONSTRAINT requests_hold_reason_check
    CHECK (hold_reason IN ('operator', 'shared_phone', 'conflicting_records', 'unverified', 'no_contact_on_file',
                           'verification_locked', 'minor_without_guardian'));
COMMENT ON COLUMN dsr.requests.hold_reason IS 'Why the request waits for identity verification: operator (dsr.ask_identity_verification), shared_phone (a phone that several customers share, and nothing stronger that matched), conflicting_records (records joined by an identifier disagree on personal details), unverified (a one-time code was sent to a contact on file), no_contact_on_file (the stores know no email or mobile number for the person: an operator must verify), verification_locked (too many wrong codes), minor_without_guardian (the person is under 20 and no parent or guardian is recorded: dsr.record_representative, then dsr.verify_identity). NULL unless awaiting_verification.';

ALTER TABLE dsr.requests ADD COLUMN verification_method text
    CHECK (verification_method IN ('code', 'in_person', 'documents', 'call_back', 'operator_review', 'system'));
ALTER TABLE dsr.requests ADD COLUMN verification_evidence text CHECK (length(verification_evidence) <= 1000);
ALTER TABLE dsr.requests ADD COLUMN contacts_on_file jsonb
    CHECK (contacts_on_file IS NULL OR jsonb_typeof(contacts_on_file) = 'object');
ALTER TABLE dsr.requests ADD COLUMN representative jsonb
    CHECK (representative IS NULL OR jsonb_typeof(representative) = 'object');
-- The quiet check trigger copies the constraints: write it again.
SELECT dsr.install_quiet_checks('dsr.requests');
COMMENT ON COLUMN dsr.requests.verification_method IS 'How the identity was verified: code (one-time code to a contact on file), in_person (ID card seen), documents, call_back (called back on a number on file), operator_review (an operator resumed a held request), system (dsrd created the request itself, e.g. the minors scan: not person-initiated, no code).';
COMMENT ON COLUMN dsr.requests.verification_evidence IS 'What the operator saw (e.g. "ID card checked at the Bangkok office"); never a copy of the document.';
COMMENT ON COLUMN dsr.requests.contacts_on_file IS 'The emails and phone numbers the stores hold for the person (found by identity resolution): the only places a verification code goes. {"email": [...], "phone": [...]}.';
COMMENT ON COLUMN dsr.requests.representative IS 'A guardian or representative acting for the person: {"name", "authority" (parent, guardian, curator, power_of_attorney), "evidence"}; see dsr.submit''s option representative.';

CREATE TABLE dsr.verification_codes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id  uuid NOT NULL REFERENCES dsr.requests (id),
    code_hash   bytea NOT NULL,
    channels    text[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    used_at     timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX verification_codes_request ON dsr.verification_codes (request_id, id DESC);
COMMENT ON COLUMN dsr.verification_codes.id IS 'Code number; the newest unused, unrevoked code of a request is the one that counts.';
COMMENT ON COLUMN dsr.verification_codes.request_id IS 'The request the code verifies.';
COMMENT ON COLUMN dsr.verification_codes.code_hash IS 'sha256(request id || '':'' || code); the code itself is never stored (the outbox forgets it once sent).';
COMMENT ON COLUMN dsr.verification_codes.channels IS 'Where the code went: email and/or sms (contacts on file), never the address.';
COMMENT ON COLUMN dsr.verification_codes.created_at IS 'When the code was sent.';
COMMENT ON COLUMN dsr.verification_codes.expires_at IS 'After this the code no longer works (verification_policy.code_ttl).';
COMMENT ON COLUMN dsr.verification_codes.attempts IS 'Wrong tries against this code; over all codes of a request they count toward verification_policy.max_attempts.';
COMMENT ON COLUMN dsr.verification_codes.used_at IS 'When the right code was entered.';
COMMENT ON COLUMN dsr.verification_codes.revoked_at IS 'When a newer code, or a lock after too many wrong tries, made it stop working.';
COMMENT ON TABLE dsr.verification_codes IS 'One-time codes sent to verify a requester: only a SHA-256 of request id and code is kept; attempts counts wrong tries (dsr.verification_policy.max_attempts locks the request). channels: where it went (email, sms), never the address.';

-- One notice to an explicit recipient (a contact on file, which may not be one the request
-- gave); dsr.enqueue_notice takes the recipient from the request and delegates here.
CREATE FUNCTION dsr.enqueue_notice_to(
    key text, request uuid, template text, audience text, channel text, recipient text, language text,
    variables jsonb DEFAULT '{}'
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    notice_id bigint;
BEGIN
    INSERT INTO dsr.outbox AS o (idempotency_key, request_id, template, audience, channel, locale, recipient, variables)
    VALUES (key, request, template, audience, channel, language, recipient, coalesce(variables, '{}'))
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING o.id INTO notice_id;
    IF notice_id IS NOT NULL THEN
        INSERT INTO dsr.jobs (kind, request_id, payload, max_attempts)
        VALUES ('notice', request, jsonb_build_object('outbox_id', notice_id), 12);
    END IF;
    RETURN notice_id;
END $$;
COMMENT ON FUNCTION dsr.enqueue_notice_to(text, uuid, text, text, text, text, text, jsonb) IS 'Queues one notice (outbox row + delivery job) to the given recipient unless one with the same key exists.';

CREATE OR REPLACE FUNCTION dsr.enqueue_notice(
    key text, request uuid, template text, audience text, channel text, variables jsonb DEFAULT '{}'
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    target text;
    language text;
BEGIN
    IF audience = 'subject' THEN
        SELECT CASE channel WHEN 'email' THEN r.subject_email ELSE r.subject_phone END, r.locale
          INTO target, language
          FROM dsr.requests AS r WHERE r.id = request;
        IF target IS NULL THEN
            RAISE EXCEPTION 'request has no % to send to', channel USING ERRCODE = '22023';
        END IF;
    END IF;
    RETURN dsr.enqueue_notice_to(key, request, template, audience, channel, target, language, variables);
END $$;

-- A code leaves no trace once its notice has ended: the outbox keeps neither the code nor
-- the text that carried it.
CREATE FUNCTION dsr.forget_sent_code() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    code text := NEW.variables ->> 'code';
BEGIN
    IF code IS NOT NULL THEN
        NEW.variables := NEW.variables - 'code';
        NEW.rendered_subject := replace(NEW.rendered_subject, code, '······');
        NEW.rendered_text := replace(NEW.rendered_text, code, '······');
        NEW.rendered_html := replace(NEW.rendered_html, code, '······');
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER outbox_forget_sent_code BEFORE UPDATE OF state ON dsr.outbox
    FOR EACH ROW WHEN (NEW.state IN ('sent', 'failed', 'cancelled') AND NEW.variables ? 'code')
    EXECUTE FUNCTION dsr.forget_sent_code();
COMMENT ON FUNCTION dsr.forget_sent_code() IS 'Removes a verification code from an outbox row (variables and rendered text) once the notice is sent, failed or cancelled.';

-- When the request gave no way to reach the person (only a customer id or national id), the
-- contacts the stores hold for them become its channels, and the acknowledgement goes out
-- then. With no channel at all the DPO is told: somebody must answer the person another way.
CREATE FUNCTION dsr.adopt_contacts(request uuid, contacts jsonb) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    r dsr.requests%ROWTYPE;
    email text;
    phone text;
BEGIN
    SELECT * INTO r FROM dsr.requests AS q WHERE q.id = request FOR UPDATE;
    IF r.channels <> '{}' THEN
        RETURN r.channels;
    END IF;
    SELECT min(e) INTO email FROM jsonb_array_elements_text(coalesce(contacts -> 'email', '[]')) AS e;
    SELECT min(p) INTO phone FROM jsonb_array_elements_text(coalesce(contacts -> 'phone', '[]')) AS p
     WHERE dsr.is_mobile_phone(p);
    IF email IS NULL AND phone IS NULL THEN
        PERFORM dsr.notify_dpo('no-channel:' || request, request, 'dpo_no_channel', jsonb_build_object('kind', r.kind));
        INSERT INTO dsr.request_events (request_id, step) VALUES (request, 'no_channel');
        RETURN '{}';
    END IF;
    UPDATE dsr.requests AS q
       SET subject_email = coalesce(q.subject_email, email), subject_phone = coalesce(q.subject_phone, phone),
           channels = CASE WHEN email IS NOT NULL THEN ARRAY['email'] ELSE ARRAY['sms'] END, updated_at = now()
     WHERE q.id = request;
    INSERT INTO dsr.request_events (request_id, step, detail)
    VALUES (request, 'channels_from_records', jsonb_build_object('channel', CASE WHEN email IS NOT NULL THEN 'email' ELSE 'sms' END));
    PERFORM dsr.notify_subject(request, 'received', jsonb_build_object('due_at', r.due_at, 'kind', r.kind));
    RETURN (SELECT q.channels FROM dsr.requests AS q WHERE q.id = request);
END $$;
COMMENT ON FUNCTION dsr.adopt_contacts(uuid, jsonb) IS 'For a request without channels: takes the email (else mobile number) the stores hold for the person as its channel and sends the acknowledgement; with none, tells the DPO (dpo_no_channel). Called by the request job.';

-- A fresh code to a contact on file: the first email, else an SMS to the first mobile
-- number. Earlier codes stop working.
CREATE FUNCTION dsr.send_verification_code(request uuid) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    r dsr.requests%ROWTYPE;
    policy dsr.verification_policy%ROWTYPE;
    code text;
    email text;
    phone text;
    sent text[] := '{}';
    codes integer;
    expires timestamptz;
BEGIN
    SELECT * INTO r FROM dsr.requests AS q WHERE q.id = request FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no request %', request USING ERRCODE = 'P0002';
    END IF;
    IF r.status <> 'awaiting_verification' OR r.hold_reason <> 'unverified' THEN
        RETURN 'not_waiting_for_code';
    END IF;
    SELECT * INTO policy FROM dsr.verification_policy AS p WHERE p.kind = r.kind;
    SELECT count(*) INTO codes FROM dsr.verification_codes AS c WHERE c.request_id = request;
    IF codes >= policy.max_codes THEN
        RETURN 'too_many_codes';
    END IF;
    SELECT min(e) INTO email FROM jsonb_array_elements_text(coalesce(r.contacts_on_file -> 'email', '[]')) AS e;
    SELECT min(p) INTO phone FROM jsonb_array_elements_text(coalesce(r.contacts_on_file -> 'phone', '[]')) AS p
     WHERE dsr.is_mobile_phone(p);
    IF email IS NULL AND phone IS NULL THEN
        RETURN 'no_contact_on_file';
    END IF;
    -- 6 digits from 32 of gen_random_uuid()'s random bits (the modulo bias is below 0.03 %).
    code := lpad(((('x' || substr(md5(gen_random_uuid()::text), 1, 8))::bit(32)::bigint) % 1000000)::text, 6, '0');
    expires := now() + policy.code_ttl;
    UPDATE dsr.verification_codes SET revoked_at = now()
     WHERE request_id = request AND used_at IS NULL AND revoked_at IS NULL;
    IF email IS NOT NULL THEN
        PERFORM dsr.enqueue_notice_to('request:' || request || ':verification_code:' || (codes + 1) || ':email', request,
            'verification_code', 'subject', 'email', email, r.locale,
            jsonb_build_object('code', code, 'minutes', extract(epoch FROM policy.code_ttl)::integer / 60, 'kind', r.kind));
        sent := sent || 'email'::text;
    END IF;
    -- A phone is weak (families share lines): the code goes by SMS only when no email is on file.
    IF phone IS NOT NULL AND email IS NULL THEN
        PERFORM dsr.enqueue_notice_to('request:' || request || ':verification_code:' || (codes + 1) || ':sms', request,
            'verification_code', 'subject', 'sms', phone, r.locale,
            jsonb_build_object('code', code, 'minutes', extract(epoch FROM policy.code_ttl)::integer / 60, 'kind', r.kind));
        sent := sent || 'sms'::text;
    END IF;
    INSERT INTO dsr.verification_codes (request_id, code_hash, channels, expires_at)
    VALUES (request, sha256(convert_to(request::text || ':' || code, 'UTF8')), sent, expires);
    INSERT INTO dsr.request_events (request_id, step, detail)
    VALUES (request, 'verification_code_sent', jsonb_build_object('channels', to_jsonb(sent), 'expires_at', expires));
    RETURN 'sent';
END $$;
COMMENT ON FUNCTION dsr.send_verification_code(uuid) IS 'Sends a new 6-digit code to a contact on file of a request waiting for one (the email on file, else SMS to a mobile number on file), revoking earlier codes; at most verification_policy.max_codes per request. Returns sent, too_many_codes, no_contact_on_file or not_waiting_for_code. Only a hash of the code is stored.';

-- The request job found the person: hold the request until it is verified.
CREATE FUNCTION dsr.start_verification(request uuid, contacts jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    has_contact boolean;
    known boolean := coalesce((contacts ->> 'matches')::integer, 1) > 0;
BEGIN
    has_contact := EXISTS (SELECT 1 FROM jsonb_array_elements_text(coalesce(contacts -> 'email', '[]')))
                   OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(coalesce(contacts -> 'phone', '[]')) AS p
                               WHERE dsr.is_mobile_phone(p));
    UPDATE dsr.requests
       SET status = 'awaiting_verification', hold_reason = CASE WHEN has_contact THEN 'unverified' ELSE 'no_contact_on_file' END,
           contacts_on_file = contacts, updated_at = now(),
           current_step = CASE WHEN has_contact THEN 'waiting for the person to enter the code sent to their contact on file'
                               WHEN NOT known THEN 'waiting for identity verification: nobody in the stores matches the identifiers given'
                               ELSE 'waiting for identity verification: no email or mobile number on file' END
     WHERE id = request AND completed_at IS NULL AND status IN ('received', 'in_progress', 'waiting');
    IF NOT FOUND THEN
        RETURN 'not_open';
    END IF;
    PERFORM dsr.adopt_contacts(request, contacts);
    INSERT INTO dsr.request_events (request_id, step, detail)
    VALUES (request, 'verification_started', jsonb_build_object('contact_on_file', has_contact, 'person_found', known));
    IF has_contact THEN
        RETURN dsr.send_verification_code(request);
    END IF;
    -- Nobody to send a code to: a person the stores know hears how to verify otherwise (on the
    -- request's own channels, which reach whoever owns them, never the requester's screen).
    -- Nobody is told anything more about identifiers that match no one.
    IF known THEN
        PERFORM dsr.notify_subject(request, 'identity_needed', jsonb_build_object('several_accounts', false));
    END IF;
    RETURN 'no_contact_on_file';
END $$;
COMMENT ON FUNCTION dsr.start_verification(uuid, jsonb) IS 'Called by the request job when the kind needs verification and the request is not verified: records the contacts on file and sends a one-time code to them, or (none on file) asks the person to verify with an operator. Nothing is planned until verified.';

-- Marks a request verified and lets it go on (from a hold: through dsr.resume_request).
CREATE FUNCTION dsr.mark_verified(request uuid, method text, evidence text, verified_by text, identifiers jsonb DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    r dsr.requests%ROWTYPE;
    outcome text;
BEGIN
    SELECT * INTO r FROM dsr.requests AS q WHERE q.id = request FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no request %', request USING ERRCODE = 'P0002';
    END IF;
    IF r.completed_at IS NOT NULL THEN
        RAISE EXCEPTION 'request % is %', request, r.status USING ERRCODE = '55000';
    END IF;
    IF r.status = 'awaiting_verification' THEN
        outcome := dsr.resume_request(request, identifiers, 'identity verified: ' || method);
    ELSE
        outcome := 'request ' || request || ' verified before planning';
    END IF;
    UPDATE dsr.requests AS q
       SET verified_at = coalesce(q.verified_at, now()), verified_by = mark_verified.verified_by, verification_method = method,
           verification_evidence = evidence, updated_at = now()
     WHERE q.id = request;
    INSERT INTO dsr.request_events (request_id, step, detail)
    VALUES (request, 'identity_verified', jsonb_build_object('method', method, 'verified_by', verified_by));
    RETURN outcome;
END $$;
COMMENT ON FUNCTION dsr.mark_verified(uuid, text, text, text, jsonb) IS 'Internal: records how a request was verified and resumes it. Use dsr.verify_identity or dsr.confirm_verification_code.';

CREATE FUNCTION dsr.verify_identity(request uuid, method text, evidence text, verified_by text DEFAULT current_user,
                                    identifiers jsonb DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF method IS NULL OR method NOT IN ('in_person', 'documents', 'call_back', 'operator_review') THEN
        RAISE EXCEPTION 'method must be in_person, documents, call_back or operator_review' USING ERRCODE = '22023';
    END IF;
    IF evidence IS NULL OR length(btrim(evidence)) < 3 OR length(evidence) > 1000 THEN
        RAISE EXCEPTION 'evidence must say what was checked (3 to 1000 characters)' USING ERRCODE = '22023',
            HINT = 'e.g. ''Thai ID card checked at the Bangkok office''; never a copy of the document';
    END IF;
    IF verified_by IS NULL OR btrim(verified_by) = '' THEN
        RAISE EXCEPTION 'verified_by must name the operator' USING ERRCODE = '22023';
    END IF;
    RETURN dsr.mark_verified(request, method, evidence, verified_by, identifiers);
END $$;
COMMENT ON FUNCTION dsr.verify_identity(uuid, text, text, text, jsonb) IS 'An operator verified the requester (method in_person, documents, call_back or operator_review; evidence says what was checked) and the request goes on. identifiers: as for dsr.resume_request (needed for a shared phone). Example: SELECT dsr.verify_identity(''…'', ''in_person'', ''Thai ID card checked at the Bangkok office'');';

-- What a representative record is: {"name", "authority", "evidence"} with nothing else, the
-- one rule dsr.submit's option representative and dsr.record_representative both apply.
CREATE FUNCTION dsr.valid_representative(representative jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_typeof(representative) = 'object'
       AND coalesce((representative ->> 'authority') = ANY (ARRAY['parent', 'guardian', 'curator', 'power_of_attorney']), false)
       AND length(btrim(coalesce(representative ->> 'name', ''))) BETWEEN 1 AND 200
       AND length(btrim(coalesce(representative ->> 'evidence', ''))) BETWEEN 3 AND 1000
       AND NOT EXISTS (SELECT 1 FROM jsonb_object_keys(representative) AS k WHERE k NOT IN ('name', 'authority', 'evidence'))
$$;
COMMENT ON FUNCTION dsr.valid_representative(jsonb) IS 'Whether a representative record is {"name" (1-200 characters), "authority" (parent, guardian, curator, power_of_attorney), "evidence" (3-1000 characters)} and nothing else.';

-- A parent, guardian or other representative acting for the person (PDPA s.20: a minor acts
-- with the holder of parental responsibility), recorded by an operator who saw the evidence.
CREATE FUNCTION dsr.record_representative(request uuid, name text, authority text, evidence text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    acting_for jsonb := jsonb_build_object('name', name, 'authority', authority, 'evidence', evidence);
BEGIN
    IF NOT dsr.valid_representative(acting_for) THEN
        RAISE EXCEPTION 'a representative needs a name, an authority (parent, guardian, curator or power_of_attorney) and the evidence seen (3 to 1000 characters)'
            USING ERRCODE = '22023',
            HINT = 'e.g. dsr.record_representative(id, ''Malee Jaidee'', ''parent'', ''birth certificate and ID card seen'')';
    END IF;
    UPDATE dsr.requests AS q
       SET representative = acting_for, updated_at = now()
     WHERE q.id = request AND q.completed_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'request % is not open', request USING ERRCODE = '55000';
    END IF;
    INSERT INTO dsr.request_events (request_id, step, detail)
    VALUES (request, 'representative_recorded', jsonb_build_object('authority', authority, 'recorded_by', current_user));
END $$;
COMMENT ON FUNCTION dsr.record_representative(uuid, text, text, text) IS 'Records who acts for the person (authority parent, guardian, curator or power_of_attorney) and the evidence seen; for a minor''s request held as minor_without_guardian, then dsr.verify_identity.';

-- The person enters the code. Every try counts, right or wrong; the function never raises for
-- a wrong code, so the count commits. A request that has no code to compare against (nobody
-- on file, or the person is unknown) counts and locks exactly like one that has, so the
-- answers never tell whether the stores know the person.
CREATE FUNCTION dsr.confirm_verification_code(request uuid, code text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    r dsr.requests%ROWTYPE;
    c dsr.verification_codes%ROWTYPE;
    policy dsr.verification_policy%ROWTYPE;
    has_code boolean := false;
    wrong integer;
BEGIN
    SELECT * INTO r FROM dsr.requests AS q WHERE q.id = request FOR UPDATE;
    IF NOT FOUND OR r.status <> 'awaiting_verification' THEN
        RETURN CASE WHEN FOUND AND r.verified_at IS NOT NULL THEN 'already_verified' ELSE 'not_waiting_for_code' END;
    END IF;
    IF r.hold_reason = 'verification_locked' THEN
        RETURN 'locked';
    END IF;
    SELECT * INTO policy FROM dsr.verification_policy AS p WHERE p.kind = r.kind;
    IF r.hold_reason = 'unverified' THEN
        SELECT * INTO c FROM dsr.verification_codes AS v
         WHERE v.request_id = request AND v.used_at IS NULL AND v.revoked_at IS NULL
         ORDER BY v.id DESC LIMIT 1 FOR UPDATE;
        has_code := FOUND AND c.expires_at > now();
    END IF;
    IF has_code AND code IS NOT NULL AND code ~ '^[0-9]{6}$'
       AND c.code_hash = sha256(convert_to(request::text || ':' || code, 'UTF8')) THEN
        UPDATE dsr.verification_codes SET used_at = now() WHERE id = c.id;
        PERFORM dsr.mark_verified(request, 'code', 'one-time code sent to ' || array_to_string(c.channels, ' and ') || ' on file',
                                  'person');
        RETURN 'verified';
    END IF;
    IF has_code THEN
        UPDATE dsr.verification_codes SET attempts = attempts + 1 WHERE id = c.id;
    END IF;
    INSERT INTO dsr.request_events (request_id, step) VALUES (request, 'verification_code_wrong');
    SELECT count(*) INTO wrong FROM dsr.request_events AS e WHERE e.request_id = request AND e.step = 'verification_code_wrong';
    IF wrong >= policy.max_attempts THEN
        UPDATE dsr.verification_codes SET revoked_at = now() WHERE request_id = request AND revoked_at IS NULL AND used_at IS NULL;
        UPDATE dsr.requests
           SET hold_reason = 'verification_locked', updated_at = now(),
               current_step = 'waiting for identity verification: too many wrong codes, an operator must verify'
         WHERE id = request;
        INSERT INTO dsr.request_events (request_id, step, detail)
        VALUES (request, 'verification_locked', jsonb_build_object('attempts', policy.max_attempts));
        PERFORM dsr.notify_dpo('verification-locked:' || request, request, 'dpo_verification_locked',
            jsonb_build_object('kind', r.kind, 'attempts', policy.max_attempts));
        RETURN 'locked';
    END IF;
    RETURN CASE WHEN r.hold_reason = 'unverified' AND NOT has_code THEN 'expired' ELSE 'wrong' END;
END $$;
COMMENT ON FUNCTION dsr.confirm_verification_code(uuid, text) IS 'Checks a code the person entered: verified (the request goes on), wrong, expired (ask dsr.send_verification_code for a new one), locked (max_attempts wrong tries over all codes, counted alike whether or not a code was sent: the DPO is told, an operator must verify with dsr.verify_identity), already_verified or not_waiting_for_code (the request is not waiting for verification yet, or is unknown).';

-- A request on hold can be refused too (an operator who could not verify the person, or an
-- unverified request that lapsed): the hold ends with it.
CREATE OR REPLACE FUNCTION dsr.refuse_request(request uuid, reason text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'a refusal needs a reason (PDPA: the person must be told why)' USING ERRCODE = '22023';
    END IF;
    UPDATE dsr.requests
       SET status = 'refused', refusal_reason = reason, hold_reason = NULL, completed_at = now(), updated_at = now(),
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

-- Unverified requests do not wait forever: after expire_after they are refused with a notice
-- (the refusal and its reason stay in the record, PDPA s.39).
CREATE FUNCTION dsr.expire_unverified(as_of timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    expired integer := 0;
BEGIN
    FOR r IN
        SELECT q.id, q.locale, p.expire_after FROM dsr.requests AS q JOIN dsr.verification_policy AS p ON p.kind = q.kind
         WHERE q.status = 'awaiting_verification' AND q.hold_reason IN ('unverified', 'no_contact_on_file', 'verification_locked')
           AND q.updated_at + p.expire_after <= as_of
         ORDER BY q.received_at
         FOR UPDATE OF q SKIP LOCKED
    LOOP
        INSERT INTO dsr.request_events (request_id, step, detail)
        VALUES (r.id, 'verification_expired', jsonb_build_object('after', r.expire_after::text));
        PERFORM dsr.refuse_request(r.id, CASE r.locale
            WHEN 'th' THEN 'ไม่สามารถยืนยันตัวตนของผู้ยื่นคำขอได้ภายใน ' || extract(day FROM r.expire_after) || ' วัน ท่านยื่นคำขอใหม่ได้ทุกเมื่อ'
            ELSE 'the requester''s identity was not verified within ' || extract(day FROM r.expire_after) || ' days; you may submit a new request at any time' END);
        expired := expired + 1;
    END LOOP;
    RETURN expired;
END $$;
COMMENT ON FUNCTION dsr.expire_unverified(timestamptz) IS 'Refuses requests that waited for identity verification longer than verification_policy.expire_after (counted from their last change), telling the person; returns how many. Run by dsrd''s deadline scanner.';

-- dsr.submit with the option verification (an operator took the request and checked the
-- identity there) and representative (a guardian or representative acts for the person).
-- The body is kept, renamed: its parameters are qualified by the function's name
-- (submit.kind), so those qualifiers follow the new name.
ALTER FUNCTION dsr.submit(text, jsonb, jsonb) RENAME TO submit_unverified;
DO $$
BEGIN
    EXECUTE regexp_replace(pg_get_functiondef('dsr.submit_unverified(text, jsonb, jsonb)'::regprocedure),
                           '\msubmit\.', 'submit_unverified.', 'g');
END $$;
COMMENT ON FUNCTION dsr.submit_unverified(text, jsonb, jsonb) IS 'Internal: dsr.submit without the verification and representative options.';

CREATE FUNCTION dsr.submit(kind text, subject jsonb, options jsonb DEFAULT '{}') RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    verification jsonb := options -> 'verification';
    acting_for jsonb := options -> 'representative';
    new_id uuid;
BEGIN
    IF verification IS NOT NULL THEN
        IF jsonb_typeof(verification) <> 'object'
           OR NOT (verification ->> 'method') = ANY (ARRAY['in_person', 'documents', 'call_back', 'system'])
           OR length(btrim(coalesce(verification ->> 'evidence', ''))) NOT BETWEEN 3 AND 1000
           OR length(btrim(coalesce(verification ->> 'operator', ''))) NOT BETWEEN 1 AND 200
           OR EXISTS (SELECT 1 FROM jsonb_object_keys(verification) AS k WHERE k NOT IN ('method', 'evidence', 'operator')) THEN
            RAISE EXCEPTION 'options.verification must be {"method": in_person|documents|call_back, "evidence": what was checked, "operator": who checked}'
                USING ERRCODE = '22023';
        END IF;
    END IF;
    IF acting_for IS NOT NULL THEN
        IF NOT dsr.valid_representative(acting_for) THEN
            RAISE EXCEPTION 'options.representative must be {"name", "authority": parent|guardian|curator|power_of_attorney, "evidence"}'
                USING ERRCODE = '22023';
        END IF;
    END IF;
    new_id := dsr.submit_unverified(kind, subject, coalesce(options, '{}') - 'verification' - 'representative');
    IF acting_for IS NOT NULL THEN
        UPDATE dsr.requests AS q SET representative = acting_for WHERE q.id = new_id AND q.representative IS NULL;
    END IF;
    -- A repeated submission (same idempotency key) of a request already verified or ended is
    -- left as it is.
    IF verification IS NOT NULL AND (SELECT verified_at IS NULL AND completed_at IS NULL FROM dsr.requests WHERE id = new_id) THEN
        PERFORM dsr.mark_verified(new_id, verification ->> 'method', verification ->> 'evidence', verification ->> 'operator');
    END IF;
    RETURN new_id;
END $$;
COMMENT ON FUNCTION dsr.submit(text, jsonb, jsonb) IS
'Creates a rights request and queues its job; returns the request id. subject: identifiers of the kinds in dsr.identifier_kinds (email, phone, customer_id, national_id, and configured documents such as passport), at least one, plus name and guardian. options: {idempotency_key, locale th|en, channels [email,sms] (sms needs a mobile number), received_at (ISO 8601), changes (rectification: fields in dsr.correctable_fields), purposes, evidence, lift (restriction), verification {method in_person|documents|call_back, evidence, operator} (an operator took the request and verified the identity: no code is sent; method system is for requests dsrd creates itself), representative {name, authority parent|guardian|curator|power_of_attorney, evidence}}. Kinds that dsr.verification_policy marks required wait for verification before any store is touched. Reusing an idempotency_key returns the same request when kind, person and input agree, and raises an error otherwise. Invalid input raises SQLSTATE 22023 and writes nothing. Example: SELECT dsr.submit(''access'', ''{"email": "somchai@example.co.th"}'');';

-- What the request job needs to know about verification, in one place.
CREATE FUNCTION dsr.needs_verification(request uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT q.verified_at IS NULL AND coalesce(p.required, true)
      FROM dsr.requests AS q LEFT JOIN dsr.verification_policy AS p ON p.kind = q.kind
     WHERE q.id = request
$$;
COMMENT ON FUNCTION dsr.needs_verification(uuid) IS 'Whether the request must still be verified before any store is touched (its kind requires it and nobody has verified it).';
