-- Pausing a store (issue 17): while a connector is broken or a store is in maintenance, its
-- tasks wait instead of failing; '*' pauses every store. New requests are still received and
-- acknowledged; the DPO is told; dsr.queue_health shows what is paused.

CREATE TABLE dsr.paused_stores (
    store     text PRIMARY KEY,
    reason    text NOT NULL CHECK (btrim(reason) <> ''),
    paused_at timestamptz NOT NULL DEFAULT now(),
    paused_by text NOT NULL DEFAULT session_user
);
COMMENT ON TABLE dsr.paused_stores IS 'Stores whose tasks wait (dsr.pause_store / dsr.resume_store); ''*'' pauses all of them, and the planning of new requests too.';
COMMENT ON COLUMN dsr.paused_stores.store IS 'Store name as in its mapping, or * for every store.';
COMMENT ON COLUMN dsr.paused_stores.reason IS 'Why, as shown to operators and in the waiting tasks'' last_error.';
COMMENT ON COLUMN dsr.paused_stores.paused_at IS 'When it was paused.';
COMMENT ON COLUMN dsr.paused_stores.paused_by IS 'The login role that paused it.';
GRANT SELECT ON dsr.paused_stores TO dsr_operator;
GRANT SELECT, INSERT, UPDATE, DELETE ON dsr.paused_stores TO dsr_daemon;

CREATE FUNCTION dsr.pause_store(name text, reason text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = dsr, pg_temp AS $$
BEGIN
    IF name IS NULL OR name !~ '^([a-z_][a-z0-9_]*|\*)$' THEN
        RAISE EXCEPTION 'a store name (as in its mapping), or * for every store' USING ERRCODE = '22023';
    END IF;
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'a pause needs a reason' USING ERRCODE = '22023';
    END IF;
    INSERT INTO dsr.paused_stores (store, reason) VALUES (name, reason)
    ON CONFLICT (store) DO UPDATE SET reason = EXCLUDED.reason;
    PERFORM dsr.notify_dpo('store-paused:' || name || ':' || to_char(now(), 'YYYYMMDDHH24MISSUS'), NULL, 'dpo_store_paused',
        jsonb_build_object('store', CASE WHEN name = '*' THEN 'every store' ELSE name END, 'reason', reason,
                           'paused_by', session_user));
    RETURN CASE WHEN name = '*' THEN 'every store is paused' ELSE 'store ' || name || ' is paused' END
        || ': its tasks wait until SELECT dsr.resume_store(' || quote_literal(name) || ')';
END $$;
COMMENT ON FUNCTION dsr.pause_store(text, text) IS 'Pauses a store (or * for all): its tasks wait, without using attempts or the outage budget, until dsr.resume_store; new requests are still acknowledged; the DPO is told. Example: SELECT dsr.pause_store(''marketing'', ''CRM migration until Monday'');';

CREATE FUNCTION dsr.resume_store(name text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = dsr, pg_temp AS $$
DECLARE
    woken integer;
BEGIN
    DELETE FROM dsr.paused_stores WHERE store = name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'store % is not paused', name USING ERRCODE = '55000';
    END IF;
    -- What waited for it runs now.
    UPDATE dsr.jobs SET run_at = now()
     WHERE state = 'available' AND run_at > now()
       AND ((kind = 'store_task' AND (name = '*' OR payload ->> 'store' = name)) OR (kind = 'request' AND name = '*')
            OR (kind = 'request' AND last_error LIKE 'store ' || name || ' is paused%'));
    GET DIAGNOSTICS woken = ROW_COUNT;
    PERFORM pg_notify('dsr_jobs', '');
    RETURN 'resumed; ' || woken || ' waiting job(s) run now';
END $$;
COMMENT ON FUNCTION dsr.resume_store(text) IS 'Ends a pause: the store''s waiting tasks run now. Example: SELECT dsr.resume_store(''marketing'');';
REVOKE EXECUTE ON FUNCTION dsr.pause_store(text, text), dsr.resume_store(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dsr.pause_store(text, text), dsr.resume_store(text) TO dsr_operator, dsr_daemon;

CREATE OR REPLACE VIEW dsr.queue_health AS
SELECT count(*) FILTER (WHERE state = 'available' AND run_at <= now()) AS ready,
       count(*) FILTER (WHERE state = 'available' AND run_at > now()) AS scheduled,
       count(*) FILTER (WHERE state = 'running') AS running,
       count(*) FILTER (WHERE state = 'running' AND locked_until < now()) AS expired_leases,
       count(*) FILTER (WHERE state = 'completed') AS completed,
       count(*) FILTER (WHERE state = 'dead') AS dead,
       count(*) FILTER (WHERE state = 'cancelled') AS cancelled,
       date_trunc('second', now() - min(run_at) FILTER (WHERE state = 'available' AND run_at <= now()))
           AS oldest_ready_age,
       (SELECT count(*) FROM dsr.workers AS w
         WHERE w.stopped_at IS NULL AND w.last_seen_at > now() - interval '1 minute') AS live_processes,
       (SELECT string_agg(p.store || ' (' || p.reason || ')', ', ' ORDER BY p.store) FROM dsr.paused_stores AS p) AS paused
  FROM dsr.jobs;
COMMENT ON COLUMN dsr.queue_health.paused IS 'Paused stores and why (dsr.pause_store); their tasks wait.';
