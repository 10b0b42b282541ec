-- dsr.resume_store woke only the tasks already waiting for the store. A task claimed while
-- the store was paused, and handed back just after the resume, then waited out the whole
-- pause recheck (60 s) although nothing held it any more. Now the resume also marks the
-- store's running tasks (and running request jobs, which wait for paused stores too): their
-- run_at moves past the start of their attempt, and a job handed back with run_at moved
-- that way runs again at once (the queue's release, QueueStore.record).
CREATE OR REPLACE FUNCTION dsr.resume_store(name text) RETURNS text
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
    -- What is running may have seen the pause: if it hands the job back, it runs again at
    -- once. clock_timestamp(), read once the row is ours, is later than a claim that
    -- committed while this statement waited for it.
    UPDATE dsr.jobs SET run_at = greatest(clock_timestamp(), attempted_at + interval '1 microsecond')
     WHERE state = 'running'
       AND ((kind = 'store_task' AND (name = '*' OR payload ->> 'store' = name)) OR kind = 'request');
    PERFORM pg_notify('dsr_jobs', '');
    RETURN 'resumed; ' || woken || ' waiting job(s) run now';
END $$;
COMMENT ON FUNCTION dsr.resume_store(text) IS 'Ends a pause: the store''s waiting tasks run now, and a task running at that moment that hands its job back because of the pause runs again at once. Example: SELECT dsr.resume_store(''marketing'');';
