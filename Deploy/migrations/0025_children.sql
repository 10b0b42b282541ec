-- Children (issue 16, PDPA s.20): for a person under 10 only the holder of parental
-- responsibility may act; a child cannot even object or withdraw consent alone. dsrd holds
-- such a request as child_without_guardian whatever its kind, and no operator can let it go
-- on (dsr.resume_request, dsr.verify_identity) before a parent or guardian is recorded
-- (dsr.record_representative with authority parent or guardian). The person is told why:
-- identity_needed gains guardian_needed (under 20) and child (under 10).

ALTER TABLE dsr.requests DROP CONSTRAINT requests_hold_reason_check;
ALTER TABLE dsr.requests ADD CONSTRAINT requests_hold_reason_check
    CHECK (hold_reason IN ('operator', 'shared_phone', 'conflicting_records', 'unverified', 'no_contact_on_file',
                           'verification_locked', 'minor_without_guardian', 'child_without_guardian', 'approval'));
SELECT dsr.install_quiet_checks('dsr.requests');
COMMENT ON COLUMN dsr.requests.hold_reason IS 'Why the request waits: operator (dsr.ask_identity_verification), shared_phone (a phone that several customers share, and nothing stronger that matched), conflicting_records (records joined by an identifier disagree on personal details), unverified (a one-time code was sent to a contact on file), no_contact_on_file (the stores know no email or mobile number for the person: an operator must verify), verification_locked (too many wrong codes), minor_without_guardian (the person is under 20 and no parent or guardian is recorded: dsr.record_representative, then dsr.verify_identity), child_without_guardian (the person is under 10: only a parent or guardian may act, for every kind of request; dsr.record_representative with authority parent or guardian is required before the request can go on), approval (an erasure waits for dsr.approve_request). NULL unless awaiting_verification.';

-- Whether a parent or guardian acts for the request's person: recorded by an operator, or
-- named at submission (the portal's guardian form).
CREATE FUNCTION dsr.has_guardian(representative jsonb, subject jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(representative ->> 'authority' IN ('parent', 'guardian'), false) OR coalesce(subject ? 'guardian', false)
$$;
COMMENT ON FUNCTION dsr.has_guardian(jsonb, jsonb) IS 'Whether a parent or guardian acts for the person: dsr.requests.representative with authority parent or guardian, or subject.guardian from the submission.';

CREATE FUNCTION dsr.guard_child_requests() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT dsr.has_guardian(NEW.representative, NEW.subject) THEN
        RAISE EXCEPTION 'request % is about a child under 10: only a parent or guardian may act for them (PDPA s.20)', NEW.id
            USING ERRCODE = '23514',
            HINT = 'record who acts first: SELECT dsr.record_representative(''' || NEW.id
                   || ''', ''name'', ''parent'', ''documents seen''); then verify or resume the request, or refuse it';
    END IF;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION dsr.guard_child_requests() IS 'Trigger function of requests_child_needs_guardian: refuses to let a request held as child_without_guardian go on before a parent or guardian is recorded.';
CREATE TRIGGER requests_child_needs_guardian BEFORE UPDATE OF status ON dsr.requests
    FOR EACH ROW WHEN (OLD.hold_reason = 'child_without_guardian' AND NEW.status IN ('received', 'in_progress', 'waiting'))
    EXECUTE FUNCTION dsr.guard_child_requests();
COMMENT ON TRIGGER requests_child_needs_guardian ON dsr.requests IS 'A request held as child_without_guardian goes on only once a parent or guardian is recorded (PDPA s.20: under 10, only they may act); refusing or cancelling it stays possible.';

-- As in 0008, with the person told when a parent or guardian must act (guardian_needed,
-- child) instead of only "verify your identity", and the DPO told whether the person could
-- be told at all (person_told: a request that gave only an id has no channel yet).
CREATE OR REPLACE FUNCTION dsr.hold_for_verification(request uuid, reason text, note text DEFAULT NULL, detail jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = dsr, pg_temp AS $$
DECLARE
    asked bigint;
    told integer;
BEGIN
    UPDATE dsr.requests
       SET status = 'awaiting_verification', hold_reason = reason, updated_at = now(),
           current_step = 'waiting for identity verification' || CASE reason
               WHEN 'shared_phone' THEN ': the phone number is shared by several customers'
               WHEN 'conflicting_records' THEN ': records joined by the same identifier disagree on '
                                               || coalesce(detail ->> 'conflicts', 'personal details')
               WHEN 'minor_without_guardian' THEN ': the person is under 20 and no parent or guardian is recorded'
               WHEN 'child_without_guardian' THEN ': the person is under 10, only a parent or guardian may act'
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
    told := dsr.notify_subject(request, 'identity_needed',
        jsonb_build_object('note', coalesce(note, ''), 'several_accounts', reason IN ('shared_phone', 'conflicting_records'),
                           'guardian_needed', reason IN ('minor_without_guardian', 'child_without_guardian'),
                           'child', reason = 'child_without_guardian'),
        ':' || asked);
    IF reason <> 'operator' THEN
        PERFORM dsr.notify_dpo('identity-hold:' || request || ':' || asked, request, 'dpo_identity_hold',
            jsonb_build_object(reason, true, 'person_told', told > 0) || coalesce(detail, '{}'));
    END IF;
END $$;
