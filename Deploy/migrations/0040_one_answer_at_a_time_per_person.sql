-- An erasure and an access (or portability) request of the same person no longer run side by
-- side. Before, an export assembled after the erasure had ended kept the erased data on disk,
-- and the erasure's proof, which lists the person's exports it deleted, could not name it.
-- Now the later of the two waits, unplanned, until the earlier one has ended: an erasure then
-- deletes the finished export and proves it, and an export made after an erasure holds what
-- the erasure kept.
ALTER TABLE dsr.requests ADD COLUMN waits_for uuid;
COMMENT ON COLUMN dsr.requests.waits_for IS 'The request of the same person this one waits for before it is planned (an erasure waits for the person''s access or portability request in progress, and the other way round); NULL once planned. Set by dsr.plan_request.';
CREATE INDEX requests_waiting ON dsr.requests (waits_for) WHERE waits_for IS NOT NULL;
COMMENT ON INDEX dsr.requests_waiting IS 'Finds the requests waiting for one that has just ended (dsr.wake_waiting_requests).';
-- The person's requests are found by identifier through requests_export_identifiers (0013)
-- and requests_erasure_identifiers (0035).

CREATE FUNCTION dsr.conflicting_request(request uuid, request_kind text, identities jsonb) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF request_kind = 'erasure' THEN
        RETURN (SELECT o.id FROM dsr.requests AS o
                 WHERE o.kind IN ('access', 'portability') AND o.id <> request AND o.completed_at IS NULL
                   AND dsr.strong_identifiers(o.identities) && dsr.strong_identifiers(conflicting_request.identities)
                   AND EXISTS (SELECT 1 FROM dsr.request_tasks AS t WHERE t.request_id = o.id)
                 ORDER BY o.received_at, o.id LIMIT 1);
    ELSIF request_kind IN ('access', 'portability') THEN
        RETURN (SELECT o.id FROM dsr.requests AS o
                 WHERE o.kind = 'erasure' AND o.id <> request AND o.completed_at IS NULL
                   AND dsr.strong_identifiers(o.identities) && dsr.strong_identifiers(conflicting_request.identities)
                   AND EXISTS (SELECT 1 FROM dsr.request_tasks AS t WHERE t.request_id = o.id)
                 ORDER BY o.received_at, o.id LIMIT 1);
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION dsr.conflicting_request(uuid, text, jsonb) IS 'Another request of the same person (a shared strong identifier) that has been planned and has not ended, and that may not run beside a request of this kind: an access or portability request for an erasure, an erasure for an access or portability request. NULL when there is none.';

CREATE OR REPLACE FUNCTION dsr.plan_request(request uuid, identities jsonb, stores text[], operation text, export_file text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    request_kind text;
    blocker uuid;
BEGIN
    SELECT r.kind INTO request_kind FROM dsr.requests AS r WHERE r.id = request;
    IF request_kind IN ('erasure', 'access', 'portability') THEN
        -- One planner at a time per identifier (in one order, so two never wait for each
        -- other): the second sees what the first planned.
        PERFORM pg_advisory_xact_lock(hashtextextended('dsr.person:' || i, 0))
           FROM unnest(dsr.strong_identifiers(plan_request.identities)) AS i ORDER BY i;
        blocker := dsr.conflicting_request(request, request_kind, plan_request.identities);
        IF blocker IS NOT NULL THEN
            UPDATE dsr.requests AS r
               SET waits_for = blocker, updated_at = now(),
                   current_step = 'waiting for another request of the same person to end'
             WHERE r.id = request AND r.completed_at IS NULL;
            INSERT INTO dsr.request_events (request_id, step, detail)
            VALUES (request, 'waits_for_same_person', jsonb_build_object('request', blocker));
            -- Woken when the blocker ends (dsr.wake_waiting_requests); the delay is a backstop.
            INSERT INTO dsr.jobs (kind, request_id, run_at) VALUES ('request', request, now() + interval '10 minutes');
            RETURN;
        END IF;
    END IF;
    UPDATE dsr.requests AS r
       SET status = 'in_progress', identities = plan_request.identities, updated_at = now(), waits_for = NULL,
           current_step = CASE operation WHEN 'erase' THEN 'erasing in ' WHEN 'export' THEN 'collecting data from '
                          ELSE 'applying the change in ' END || cardinality(stores) || ' stores',
           result = CASE WHEN export_file IS NULL THEN r.result
                         ELSE coalesce(r.result, '{}') || jsonb_build_object('export_file', export_file) END
     WHERE r.id = request AND r.completed_at IS NULL AND r.status <> 'awaiting_verification';
    INSERT INTO dsr.request_events (request_id, step, detail)
    VALUES (request, 'planned', jsonb_build_object('stores', cardinality(stores)));
    INSERT INTO dsr.request_tasks (request_id, store, operation)
    SELECT request, s, operation FROM unnest(stores) AS s ON CONFLICT DO NOTHING;
    INSERT INTO dsr.jobs (kind, request_id, payload)
    SELECT 'store_task', request, jsonb_build_object('store', s) FROM unnest(stores) AS s;
    IF cardinality(stores) = 0 THEN
        INSERT INTO dsr.jobs (kind, request_id) VALUES ('finalize', request);
    END IF;
END $$;
COMMENT ON FUNCTION dsr.plan_request(uuid, jsonb, text[], text, text) IS 'Records a request''s resolved identities and queues one store task per store (the final step when there is none); called by the request job in the transaction that completes it. An erasure while the person''s access or portability request is in progress, or the other way round, is not planned: it waits for that request to end (waits_for) and its request job runs again then.';

CREATE FUNCTION dsr.wake_waiting_requests() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE dsr.jobs AS j SET run_at = now()
     WHERE j.kind = 'request' AND j.state = 'available' AND j.run_at > now()
       AND j.request_id IN (SELECT w.id FROM dsr.requests AS w WHERE w.waits_for = NEW.id);
    RETURN NULL;
END $$;
COMMENT ON FUNCTION dsr.wake_waiting_requests() IS 'Trigger: when a request ends, the request jobs of the requests waiting for it (waits_for) run now instead of at their backstop time.';
CREATE TRIGGER requests_wake_waiting AFTER UPDATE OF completed_at ON dsr.requests
    FOR EACH ROW WHEN (OLD.completed_at IS NULL AND NEW.completed_at IS NOT NULL)
    EXECUTE FUNCTION dsr.wake_waiting_requests();
COMMENT ON TRIGGER requests_wake_waiting ON dsr.requests IS 'Wakes the requests waiting for this one (dsr.wake_waiting_requests) when it ends.';
