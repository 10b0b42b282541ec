-- Least privilege. Four NOLOGIN roles, created once per cluster (roles are cluster-wide;
-- the migrating user needs CREATEROLE the first time) and granted per database; a company
-- gives them to its own login roles: GRANT dsr_operator TO alice;
--
--   dsr_daemon     what `dsrd run` needs: read and write dsr's tables (the audit log append
--                  only), every function. Migrations stay with the schema owner (`dsrd migrate`).
--   dsr_operator   psql for people: read every table and view except the one-time code and
--                  download-link hashes; change state only through the operator functions.
--   dsr_submitter  other systems that file requests: dsr.submit and dsr.submit_lift_restriction.
--   dsr_portal     `dsrd portal`: the seven functions its pages call, nothing else.
--
-- Functions that change state on someone's behalf are SECURITY DEFINER with a fixed
-- search_path (pg_catalog first, then dsr, pg_temp last), owned by the schema owner, and not
-- executable by PUBLIC. Where they record who acted, they record session_user (the login
-- role), not the owner they run as.

DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['dsr_daemon', 'dsr_operator', 'dsr_submitter', 'dsr_portal'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created meanwhile by a migration of another database in this cluster
            END;
        END IF;
    END LOOP;
END $$;

GRANT USAGE ON SCHEMA dsr TO dsr_daemon, dsr_operator, dsr_submitter, dsr_portal;

-- The daemon: every table; the audit log only through dsr.append_audit (which locks it to
-- keep the chain in order; its trigger refuses changes as well); the migrations' record read-only.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA dsr TO dsr_daemon;
REVOKE INSERT, UPDATE, DELETE ON dsr.audit_log, dsr.schema_migrations FROM dsr_daemon;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA dsr TO dsr_daemon;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA dsr TO dsr_daemon;
-- Tables and functions later migrations add (run by the same owner) follow the same rules.
ALTER DEFAULT PRIVILEGES IN SCHEMA dsr GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO dsr_daemon;
ALTER DEFAULT PRIVILEGES IN SCHEMA dsr GRANT USAGE, SELECT ON SEQUENCES TO dsr_daemon;
ALTER DEFAULT PRIVILEGES IN SCHEMA dsr GRANT EXECUTE ON FUNCTIONS TO dsr_daemon;
ALTER DEFAULT PRIVILEGES IN SCHEMA dsr GRANT SELECT ON TABLES TO dsr_operator;

-- Operators read everything but the hashes of one-time codes and download tokens (a 6-digit
-- code's hash is as good as the code).
GRANT SELECT ON ALL TABLES IN SCHEMA dsr TO dsr_operator;
REVOKE SELECT ON dsr.verification_codes, dsr.download_links FROM dsr_operator;

-- Who acted is the login role (session_user), now that these run as the owner.
CREATE OR REPLACE FUNCTION dsr.resume_request(request uuid, identifiers jsonb DEFAULT NULL::jsonb, note text DEFAULT NULL::text)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
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
           verified_at = now(), verified_by = session_user, subject = new_subject,
           identities = CASE WHEN tasks = 0 THEN NULL ELSE q.identities END,
           current_step = 'identity verified; resuming', updated_at = now()
     WHERE q.id = request;
    INSERT INTO dsr.request_events (request_id, step, detail)
    VALUES (request, 'resumed', jsonb_build_object('verified_by', session_user, 'identifiers_replaced', identifiers IS NOT NULL AND identifiers <> '{}',
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
END $function$;
CREATE OR REPLACE FUNCTION dsr.record_representative(request uuid, name text, authority text, evidence text)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
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
    VALUES (request, 'representative_recorded', jsonb_build_object('authority', authority, 'recorded_by', session_user));
END $function$;

ALTER FUNCTION dsr.append_audit(uuid, text) SECURITY DEFINER SET search_path = dsr, pg_temp;
REVOKE EXECUTE ON FUNCTION dsr.append_audit(uuid, text) FROM PUBLIC;
ALTER FUNCTION dsr.allow_another_download(uuid, text) SECURITY DEFINER SET search_path = dsr, pg_temp;
REVOKE EXECUTE ON FUNCTION dsr.allow_another_download(uuid, text) FROM PUBLIC;
ALTER FUNCTION dsr.ask_identity_verification(uuid, text) SECURITY DEFINER SET search_path = dsr, pg_temp;
REVOKE EXECUTE ON FUNCTION dsr.ask_identity_verification(uuid, text) FROM PUBLIC;
ALTER FUNCTION dsr.cancel_job(bigint, text) SECURITY DEFINER SET search_path = dsr, pg_temp;
REVOKE EXECUTE ON FUNCTION dsr.cancel_job(bigint, text) FROM PUBLIC;
ALTER FUNCTION dsr.claim_download(bytea) SECURITY DEFINER SET search_path = dsr, pg_temp;
REVOKE EXECUTE ON FUNCTION dsr.claim_download(bytea) FROM PUBLIC;
ALTER FUNCTION dsr.confirm_verification_code(uuid, text) SECURITY DEFINER SET search_path = dsr, pg_temp;
REVOKE EXECUTE ON FUNCTION dsr.confirm_verification_code(uuid, text) FROM PUBLIC;
ALTER FUNCTION dsr.extend_deadline(uuid, interval, text) SECURITY DEFINER SET search_path = dsr, pg_temp;
REVOKE EXECUTE ON FUNCTION dsr.extend_deadline(uuid, interval, text) FROM PUBLIC;
ALTER FUNCTION dsr.hold_for_verification(uuid, text, text, jsonb) SECURITY DEFINER SET search_path = dsr, pg_temp;
REVOKE EXECUTE ON FUNCTION dsr.hold_for_verification(uuid, text, text, jsonb) FROM PUBLIC;
ALTER FUNCTION dsr.issue_download_link(uuid, bytea, interval) SECURITY DEFINER SET search_path = dsr, pg_temp;
REVOKE EXECUTE ON FUNCTION dsr.issue_download_link(uuid, bytea, interval) FROM PUBLIC;
ALTER FUNCTION dsr.portal_status(uuid) SECURITY DEFINER SET search_path = dsr, pg_temp;
REVOKE EXECUTE ON FUNCTION dsr.portal_status(uuid) FROM PUBLIC;
ALTER FUNCTION dsr.prune_jobs(interval) SECURITY DEFINER SET search_path = dsr, pg_temp;
REVOKE EXECUTE ON FUNCTION dsr.prune_jobs(interval) FROM PUBLIC;
ALTER FUNCTION dsr.rate_limit_hit(text, integer, interval) SECURITY DEFINER SET search_path = dsr, pg_temp;
REVOKE EXECUTE ON FUNCTION dsr.rate_limit_hit(text, integer, interval) FROM PUBLIC;
ALTER FUNCTION dsr.record_representative(uuid, text, text, text) SECURITY DEFINER SET search_path = dsr, pg_temp;
REVOKE EXECUTE ON FUNCTION dsr.record_representative(uuid, text, text, text) FROM PUBLIC;
ALTER FUNCTION dsr.refuse_request(uuid, text) SECURITY DEFINER SET search_path = dsr, pg_temp;
REVOKE EXECUTE ON FUNCTION dsr.refuse_request(uuid, text) FROM PUBLIC;
ALTER FUNCTION dsr.resume_request(uuid, jsonb, text) SECURITY DEFINER SET search_path = dsr, pg_temp;
REVOKE EXECUTE ON FUNCTION dsr.resume_request(uuid, jsonb, text) FROM PUBLIC;
ALTER FUNCTION dsr.retry_job(bigint) SECURITY DEFINER SET search_path = dsr, pg_temp;
REVOKE EXECUTE ON FUNCTION dsr.retry_job(bigint) FROM PUBLIC;
ALTER FUNCTION dsr.send_verification_code(uuid) SECURITY DEFINER SET search_path = dsr, pg_temp;
REVOKE EXECUTE ON FUNCTION dsr.send_verification_code(uuid) FROM PUBLIC;
ALTER FUNCTION dsr.submit(text, jsonb, jsonb) SECURITY DEFINER SET search_path = dsr, pg_temp;
REVOKE EXECUTE ON FUNCTION dsr.submit(text, jsonb, jsonb) FROM PUBLIC;
ALTER FUNCTION dsr.submit_lift_restriction(jsonb, jsonb) SECURITY DEFINER SET search_path = dsr, pg_temp;
REVOKE EXECUTE ON FUNCTION dsr.submit_lift_restriction(jsonb, jsonb) FROM PUBLIC;
ALTER FUNCTION dsr.verify_audit_chain() SECURITY DEFINER SET search_path = dsr, pg_temp;
REVOKE EXECUTE ON FUNCTION dsr.verify_audit_chain() FROM PUBLIC;
ALTER FUNCTION dsr.verify_identity(uuid, text, text, text, jsonb) SECURITY DEFINER SET search_path = dsr, pg_temp;
REVOKE EXECUTE ON FUNCTION dsr.verify_identity(uuid, text, text, text, jsonb) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION dsr.allow_another_download(uuid, text) TO dsr_operator;
GRANT EXECUTE ON FUNCTION dsr.ask_identity_verification(uuid, text) TO dsr_operator;
GRANT EXECUTE ON FUNCTION dsr.cancel_job(bigint, text) TO dsr_operator;
GRANT EXECUTE ON FUNCTION dsr.extend_deadline(uuid, interval, text) TO dsr_operator;
GRANT EXECUTE ON FUNCTION dsr.hold_for_verification(uuid, text, text, jsonb) TO dsr_operator;
GRANT EXECUTE ON FUNCTION dsr.prune_jobs(interval) TO dsr_operator;
GRANT EXECUTE ON FUNCTION dsr.record_representative(uuid, text, text, text) TO dsr_operator;
GRANT EXECUTE ON FUNCTION dsr.refuse_request(uuid, text) TO dsr_operator;
GRANT EXECUTE ON FUNCTION dsr.resume_request(uuid, jsonb, text) TO dsr_operator;
GRANT EXECUTE ON FUNCTION dsr.retry_job(bigint) TO dsr_operator;
GRANT EXECUTE ON FUNCTION dsr.send_verification_code(uuid) TO dsr_operator;
GRANT EXECUTE ON FUNCTION dsr.submit(text, jsonb, jsonb) TO dsr_operator;
GRANT EXECUTE ON FUNCTION dsr.submit_lift_restriction(jsonb, jsonb) TO dsr_operator;
GRANT EXECUTE ON FUNCTION dsr.verify_audit_chain() TO dsr_operator;
GRANT EXECUTE ON FUNCTION dsr.verify_identity(uuid, text, text, text, jsonb) TO dsr_operator;
GRANT EXECUTE ON FUNCTION dsr.submit(text, jsonb, jsonb), dsr.submit_lift_restriction(jsonb, jsonb) TO dsr_submitter;
GRANT EXECUTE ON FUNCTION dsr.claim_download(bytea) TO dsr_portal;
GRANT EXECUTE ON FUNCTION dsr.confirm_verification_code(uuid, text) TO dsr_portal;
GRANT EXECUTE ON FUNCTION dsr.issue_download_link(uuid, bytea, interval) TO dsr_portal;
GRANT EXECUTE ON FUNCTION dsr.portal_status(uuid) TO dsr_portal;
GRANT EXECUTE ON FUNCTION dsr.rate_limit_hit(text, integer, interval) TO dsr_portal;
GRANT EXECUTE ON FUNCTION dsr.send_verification_code(uuid) TO dsr_portal;
GRANT EXECUTE ON FUNCTION dsr.submit(text, jsonb, jsonb) TO dsr_portal;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA dsr TO dsr_daemon;
