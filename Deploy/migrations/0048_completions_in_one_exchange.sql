-- The completer records a batch of completed jobs in one exchange with the server: the
-- jobs' fenced update, their effects and the COMMIT go together. The update must have
-- recorded every job of the batch (no lease was lost meanwhile), or none of the effects may
-- commit: this function fails the statement that checks it, so the transaction is rolled
-- back and the completer records the batch again the careful way, which sees which jobs'
-- leases were lost and leaves their effects out.
CREATE FUNCTION dsr.expect_completions(expected integer, recorded bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF recorded IS DISTINCT FROM expected THEN
        RAISE EXCEPTION 'recorded % of % completions: a lease was lost', recorded, expected USING ERRCODE = 'P0004';
    END IF;
    RETURN true;
END $$;
COMMENT ON FUNCTION dsr.expect_completions(integer, bigint) IS 'Fails (SQLSTATE P0004) unless a completion batch''s fenced update recorded every job of it, so that the effects sent with it are not committed for a job whose lease was lost; the completer then records the batch again job by job.';
