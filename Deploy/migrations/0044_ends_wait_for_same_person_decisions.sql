-- A request that decided to wait for the same person's other request (0040, 0041) could miss
-- its wake-up. dsr.plan_request decides under the person's per-identifier locks, but the
-- other request's end took none: when it committed between that decision and its commit, the
-- trigger that wakes waiting requests did not see the waiter yet, and the waiter sat out its
-- 10-minute backstop. Now a request's end takes the same locks first: it waits for a decision
-- under way (and then wakes the waiter), or the decision waits for the end (and sees it).
CREATE OR REPLACE FUNCTION dsr.wake_waiting_requests() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind IN ('erasure', 'access', 'portability', 'rectification') THEN
        -- The locks dsr.plan_request takes, in the same order.
        PERFORM pg_advisory_xact_lock(hashtextextended('dsr.person:' || i, 0))
           FROM unnest(dsr.strong_identifiers(NEW.identities)) AS i ORDER BY i;
    END IF;
    -- A statement of its own, so it sees a waiter whose decision committed while we waited.
    UPDATE dsr.jobs AS j SET run_at = now()
     WHERE j.kind = 'request' AND j.state = 'available' AND j.run_at > now()
       AND j.request_id IN (SELECT w.id FROM dsr.requests AS w WHERE w.waits_for = NEW.id);
    RETURN NULL;
END $$;
COMMENT ON FUNCTION dsr.wake_waiting_requests() IS 'Trigger: when a request ends, the request jobs of the requests waiting for it (waits_for) run now instead of at their backstop time. It first takes the per-identifier locks dsr.plan_request decides under, so a waiter deciding at that moment is not missed.';
