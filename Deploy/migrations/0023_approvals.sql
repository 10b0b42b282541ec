-- Approvals (issue 16): erasures the minors scan submits wait for the DPO, and, when
-- [approvals] erasure asks for it, every erasure waits for that many approvals by different
-- people. The request is held (awaiting_verification, hold_reason 'approval') before any
-- store is touched; planning checks the approvals again, so no other way round them exists.

ALTER TABLE dsr.requests DROP CONSTRAINT requests_hold_reason_check;
ALTER TABLE dsr.requests ADD CONSTRAINT requests_hold_reason_check
    CHECK (hold_reason IN ('operator', 'shared_phone', 'conflicting_records', 'unverified', 'no_contact_on_file',
                           'verification_locked', 'minor_without_guardian', 'approval'));
COMMENT ON COLUMN dsr.requests.hold_reason IS 'Why the request waits: operator (dsr.ask_identity_verification), shared_phone (a phone that several customers share, and nothing stronger that matched), conflicting_records (records joined by an identifier disagree on personal details), unverified (a one-time code was sent to a contact on file), no_contact_on_file (the stores know no email or mobile number for the person: an operator must verify), verification_locked (too many wrong codes), minor_without_guardian (the person is under 20 and no parent or guardian is recorded: dsr.record_representative, then dsr.verify_identity), approval (an erasure waits for dsr.approve_request). NULL unless awaiting_verification.';

ALTER TABLE dsr.requests ADD COLUMN approvals_required integer NOT NULL DEFAULT 0 CHECK (approvals_required BETWEEN 0 AND 5);
COMMENT ON COLUMN dsr.requests.approvals_required IS 'Approvals by different people the request needs before any store is touched (dsr.approve_request); 0: none.';

CREATE TABLE dsr.approvals (
    request_id  uuid NOT NULL REFERENCES dsr.requests (id),
    approved_by text NOT NULL,
    approved_at timestamptz NOT NULL DEFAULT now(),
    note        text,
    PRIMARY KEY (request_id, approved_by)
);
COMMENT ON TABLE dsr.approvals IS 'Who approved a request that needed approval (one row per person: two-person approval needs two different login roles).';
COMMENT ON COLUMN dsr.approvals.request_id IS 'The request.';
COMMENT ON COLUMN dsr.approvals.approved_by IS 'The login role that approved.';
COMMENT ON COLUMN dsr.approvals.approved_at IS 'When.';
COMMENT ON COLUMN dsr.approvals.note IS 'What the approver checked.';
GRANT SELECT ON dsr.approvals TO dsr_operator;

CREATE FUNCTION dsr.await_approval(request uuid, required integer, why text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    given integer;
BEGIN
    SELECT count(*) INTO given FROM dsr.approvals WHERE request_id = request;
    UPDATE dsr.requests
       SET status = 'awaiting_verification', hold_reason = 'approval', approvals_required = required, updated_at = now(),
           current_step = left('waiting for approval (' || given || ' of ' || required || '): ' || why, 300)
     WHERE id = request AND completed_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'request % is not open', request USING ERRCODE = '55000';
    END IF;
    UPDATE dsr.jobs SET state = 'cancelled', finished_at = now(), locked_by = NULL, locked_until = NULL,
                        last_error = 'on hold: waiting for approval'
     WHERE request_id = request AND kind <> 'notice' AND state IN ('available', 'running');
    INSERT INTO dsr.request_events (request_id, step, detail)
    VALUES (request, 'approval_requested', jsonb_build_object('required', required, 'given', given, 'why', why));
    PERFORM dsr.notify_dpo('approval:' || request, request, 'dpo_approval_needed',
        jsonb_build_object('required', required, 'why', why));
END $$;
COMMENT ON FUNCTION dsr.await_approval(uuid, integer, text) IS 'Holds a request until it has `required` approvals by different people (dsr.approve_request); its unfinished jobs are cancelled and the DPO is told. Called by planning.';

CREATE FUNCTION dsr.approve_request(request uuid, note text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = dsr, pg_temp AS $$
DECLARE
    r dsr.requests;
    given integer;
BEGIN
    SELECT * INTO r FROM dsr.requests AS q WHERE q.id = request FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no request %', request USING ERRCODE = 'P0002';
    END IF;
    IF r.status <> 'awaiting_verification' OR r.hold_reason IS DISTINCT FROM 'approval' THEN
        RAISE EXCEPTION 'request % is % and does not wait for approval', request, r.status USING ERRCODE = '55000';
    END IF;
    IF pg_has_role(session_user, 'dsr_daemon', 'MEMBER') AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = session_user) THEN
        RAISE EXCEPTION 'the daemon''s role cannot approve: a person logs in as themselves' USING ERRCODE = '42501';
    END IF;
    IF EXISTS (SELECT 1 FROM dsr.approvals AS a WHERE a.request_id = request AND a.approved_by = session_user) THEN
        RAISE EXCEPTION '% has already approved request %: another person must', session_user, request USING ERRCODE = '55000';
    END IF;
    INSERT INTO dsr.approvals (request_id, approved_by, note) VALUES (request, session_user, nullif(btrim(note), ''));
    SELECT count(*) INTO given FROM dsr.approvals AS a WHERE a.request_id = request;
    INSERT INTO dsr.request_events (request_id, step, detail)
    VALUES (request, 'approved', jsonb_build_object('by', session_user, 'given', given, 'required', r.approvals_required));
    IF given < r.approvals_required THEN
        UPDATE dsr.requests
           SET current_step = left(regexp_replace(current_step, '^waiting for approval \(\d+ of', 'waiting for approval (' || given || ' of'), 300),
               updated_at = now()
         WHERE id = request;
        RETURN 'approval ' || given || ' of ' || r.approvals_required || ' recorded; another person must approve too';
    END IF;
    UPDATE dsr.requests SET status = 'received', hold_reason = NULL, current_step = 'approved; planning', updated_at = now()
     WHERE id = request;
    INSERT INTO dsr.jobs (kind, request_id) VALUES ('request', request);
    RETURN 'approved (' || given || ' of ' || r.approvals_required || '); the request runs now';
END $$;
COMMENT ON FUNCTION dsr.approve_request(uuid, text) IS 'Approves a request held for approval; once it has the approvals it needs (each by a different login role) it runs. Refuse it instead with dsr.refuse_request. Example: SELECT dsr.approve_request(''…'', ''checked the date of birth on the application form'');';
REVOKE EXECUTE ON FUNCTION dsr.approve_request(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dsr.approve_request(uuid, text) TO dsr_operator;

CREATE VIEW dsr.awaiting_approval AS
SELECT r.id, r.kind, r.received_at, r.due_at, r.approvals_required,
       (SELECT count(*) FROM dsr.approvals AS a WHERE a.request_id = r.id) AS approvals,
       (SELECT string_agg(a.approved_by, ', ' ORDER BY a.approved_at) FROM dsr.approvals AS a WHERE a.request_id = r.id) AS approved_by,
       r.verification_method = 'system' AS from_minors_scan, r.current_step
  FROM dsr.requests AS r
 WHERE r.status = 'awaiting_verification' AND r.hold_reason = 'approval'
 ORDER BY r.due_at;
COMMENT ON VIEW dsr.awaiting_approval IS 'Requests waiting for approval, deadline first. Approve with dsr.approve_request(id, note), or refuse with dsr.refuse_request. Example: SELECT * FROM dsr.awaiting_approval;';
COMMENT ON COLUMN dsr.awaiting_approval.id IS 'The request.';
COMMENT ON COLUMN dsr.awaiting_approval.kind IS 'Its kind.';
COMMENT ON COLUMN dsr.awaiting_approval.received_at IS 'When it was received.';
COMMENT ON COLUMN dsr.awaiting_approval.due_at IS 'Its legal deadline (approval does not stop the clock).';
COMMENT ON COLUMN dsr.awaiting_approval.approvals_required IS 'Approvals needed.';
COMMENT ON COLUMN dsr.awaiting_approval.approvals IS 'Approvals given.';
COMMENT ON COLUMN dsr.awaiting_approval.approved_by IS 'Who approved so far.';
COMMENT ON COLUMN dsr.awaiting_approval.from_minors_scan IS 'Submitted by dsrd''s minors scan, not by a person.';
COMMENT ON COLUMN dsr.awaiting_approval.current_step IS 'Why it waits.';
GRANT SELECT ON dsr.awaiting_approval TO dsr_operator;
SELECT dsr.install_quiet_checks('dsr.requests');
