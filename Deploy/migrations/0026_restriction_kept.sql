-- A restriction lifted after a decision must not undo one that still stands (PDPA s.34).
-- When a rectification or objection that restricted the person's data while it was decided
-- ends, the data stays restricted if the person asked for a restriction themselves (their
-- latest completed restriction request was not a lift), or if another of their requests is
-- still being decided with the data restricted. The final step then records
-- 'restriction_lifted' with "kept" naming the reason and changes no store. A person's own
-- request to lift a restriction, made while such a decision is pending, waits for it
-- (dsr.deciding_request; the store task postpones itself).

-- Finds the person's other requests that restrict, by their strong identifiers.
CREATE INDEX requests_restriction_identifiers ON dsr.requests USING gin (dsr.strong_identifiers(identities))
    WHERE kind IN ('restriction', 'rectification', 'objection');

CREATE FUNCTION dsr.deciding_request(request uuid) RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT o.id
      FROM dsr.requests AS r, dsr.requests AS o
     WHERE r.id = request AND o.id <> r.id
       AND o.kind IN ('rectification', 'objection') AND o.completed_at IS NULL
       AND dsr.strong_identifiers(o.identities) && dsr.strong_identifiers(r.identities)
       AND EXISTS (SELECT 1 FROM dsr.request_events AS e WHERE e.request_id = o.id AND e.step = 'restricted_while_deciding')
       AND NOT EXISTS (SELECT 1 FROM dsr.request_events AS e WHERE e.request_id = o.id AND e.step = 'restriction_lifted')
     ORDER BY o.received_at
     LIMIT 1
$$;
COMMENT ON FUNCTION dsr.deciding_request(uuid) IS 'Another open rectification or objection of the same person (by strong identifiers) that restricted their data while it is decided, if any: a lift of a restriction waits for it.';

CREATE FUNCTION dsr.restriction_still_required(request uuid) RETURNS text
LANGUAGE sql STABLE AS $$
    WITH me AS (
        SELECT r.id, dsr.strong_identifiers(r.identities) AS ids FROM dsr.requests AS r WHERE r.id = request
    ), asked AS (
        SELECT NOT coalesce((o.payload ->> 'lift')::boolean, false) AS restricting
          FROM dsr.requests AS o, me
         WHERE o.kind = 'restriction' AND o.status = 'completed' AND o.id <> me.id
           AND dsr.strong_identifiers(o.identities) && me.ids
         ORDER BY o.completed_at DESC
         LIMIT 1
    )
    SELECT CASE
        WHEN coalesce((SELECT restricting FROM asked), false) THEN 'restriction_requested'
        WHEN dsr.deciding_request(request) IS NOT NULL THEN 'another_request_deciding'
    END
$$;
COMMENT ON FUNCTION dsr.restriction_still_required(uuid) IS 'Why the person''s data must stay restricted when this request''s restriction while deciding ends: restriction_requested (their latest completed restriction request was not a lift), another_request_deciding (another of their rectifications or objections is decided with the data restricted), or NULL.';

-- dsrd's own copies of the people a breach affected end too: retention.own_data_after after
-- the DPO closed the breach, their identifiers become keyed hashes and their contacts go, as a
-- request's do (OwnDataPseudonymiser). The breach record and its counts stay (s.39, s.37(4)).
ALTER TABLE dsr.breaches ADD COLUMN subjects_pseudonymised_at timestamptz;
COMMENT ON COLUMN dsr.breaches.subjects_pseudonymised_at IS 'When the people it affected were pseudonymised (identifiers as keyed hashes, contacts and notice bodies gone), retention.own_data_after after closed_at.';

CREATE FUNCTION dsr.close_breach(breach bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = dsr, pg_temp AS $$
DECLARE
    b dsr.breaches;
BEGIN
    SELECT * INTO b FROM dsr.breaches WHERE id = breach FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'there is no breach %', breach USING ERRCODE = '22023';
    END IF;
    IF b.closed_at IS NOT NULL THEN
        RETURN 'breach ' || breach || ' was closed on ' || b.closed_at;
    END IF;
    IF b.risk <> 'unlikely' AND b.pdpc_notified_at IS NULL THEN
        RAISE EXCEPTION 'breach % (risk: %) must be notified to the PDPC before it is closed', breach, b.risk
            USING ERRCODE = '55000', HINT = 'Record the notification first: SELECT dsr.record_pdpc_notification(' || breach || ', reference);';
    END IF;
    IF EXISTS (SELECT 1 FROM dsr.outbox WHERE idempotency_key LIKE 'breach:' || breach || ':%' AND state IN ('pending', 'sending')) THEN
        RAISE EXCEPTION 'notices to the people breach % affects are still being sent', breach
            USING ERRCODE = '55000', HINT = 'See SELECT * FROM dsr.breach_status;';
    END IF;
    UPDATE dsr.breaches SET closed_at = now() WHERE id = breach;
    RETURN 'breach ' || breach || ' closed; the people it affected are pseudonymised after retention.own_data_after';
END $$;
COMMENT ON FUNCTION dsr.close_breach(bigint) IS 'Closes a breach once the PDPC was notified (unless its risk is unlikely) and every notice to the people affected was sent; retention.own_data_after later their identifiers become keyed hashes. Example: SELECT dsr.close_breach(3);';
REVOKE EXECUTE ON FUNCTION dsr.close_breach(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dsr.close_breach(bigint) TO dsr_operator;
