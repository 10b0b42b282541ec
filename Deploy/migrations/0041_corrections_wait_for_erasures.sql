-- A correction and an erasure of the same person no longer run side by side either. The
-- request job refuses a correction once the person's erasure has ended and postpones one
-- while an earlier erasure is under way (dsr.erasure_of_person), but it reads before its
-- plan commits: an erasure planned in between ran beside the correction, which could then
-- write the person's details back into rows the erasure had just anonymised and kept, under
-- a proof saying "anonymised". Now dsr.plan_request decides it under its per-identifier
-- lock, as it does for exports (0040); when the correction runs again after the erasure, the
-- request job refuses it.
CREATE OR REPLACE FUNCTION dsr.conflicting_request(request uuid, request_kind text, identities jsonb) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF request_kind = 'erasure' THEN
        -- Two lookups, each served by its kinds' partial index (0013, 0037).
        RETURN coalesce(
            (SELECT o.id FROM dsr.requests AS o
              WHERE o.kind IN ('access', 'portability') AND o.id <> request AND o.completed_at IS NULL
                AND dsr.strong_identifiers(o.identities) && dsr.strong_identifiers(conflicting_request.identities)
                AND EXISTS (SELECT 1 FROM dsr.request_tasks AS t WHERE t.request_id = o.id)
              ORDER BY o.received_at, o.id LIMIT 1),
            (SELECT o.id FROM dsr.requests AS o
              WHERE o.kind = 'rectification' AND o.id <> request AND o.completed_at IS NULL
                AND dsr.strong_identifiers(o.identities) && dsr.strong_identifiers(conflicting_request.identities)
                AND EXISTS (SELECT 1 FROM dsr.request_tasks AS t WHERE t.request_id = o.id)
              ORDER BY o.received_at, o.id LIMIT 1));
    ELSIF request_kind IN ('access', 'portability', 'rectification') THEN
        RETURN (SELECT o.id FROM dsr.requests AS o
                 WHERE o.kind = 'erasure' AND o.id <> request AND o.completed_at IS NULL
                   AND dsr.strong_identifiers(o.identities) && dsr.strong_identifiers(conflicting_request.identities)
                   AND EXISTS (SELECT 1 FROM dsr.request_tasks AS t WHERE t.request_id = o.id)
                 ORDER BY o.received_at, o.id LIMIT 1);
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION dsr.conflicting_request(uuid, text, jsonb) IS 'Another request of the same person (a shared strong identifier) that has been planned and has not ended, and that may not run beside a request of this kind: an access, portability or rectification request for an erasure, an erasure for any of those. NULL when there is none.';

CREATE OR REPLACE FUNCTION dsr.plan_request(request uuid, identities jsonb, stores text[], operation text, export_file text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    request_kind text;
    blocker uuid;
BEGIN
    SELECT r.kind INTO request_kind FROM dsr.requests AS r WHERE r.id = request;
    -- dsr.conflicting_request says which kinds exclude each other.
    IF request_kind IN ('erasure', 'access', 'portability', 'rectification') THEN
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
COMMENT ON FUNCTION dsr.plan_request(uuid, jsonb, text[], text, text) IS 'Records a request''s resolved identities and queues one store task per store (the final step when there is none); called by the request job in the transaction that completes it. An erasure while the person''s access, portability or rectification request is in progress, or one of those while the person''s erasure is, is not planned: it waits for that request to end (waits_for) and its request job runs again then.';
