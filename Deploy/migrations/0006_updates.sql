-- dsrd schema, part 6: rectification, restriction, objection and consent withdrawal tasks.

ALTER TABLE dsr.request_tasks DROP CONSTRAINT request_tasks_operation_check;
ALTER TABLE dsr.request_tasks ADD CONSTRAINT request_tasks_operation_check
    CHECK (operation IN ('export', 'erase', 'rectify', 'restrict', 'object'));

-- Lifting a restriction is a restriction request that says so.
CREATE FUNCTION dsr.submit_lift_restriction(subject jsonb, options jsonb DEFAULT '{}') RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    new_id uuid;
BEGIN
    new_id := dsr.submit('restriction', subject, options);
    UPDATE dsr.requests SET payload = payload || '{"lift": true}' WHERE id = new_id AND NOT payload ? 'lift';
    RETURN new_id;
END $$;
COMMENT ON FUNCTION dsr.submit_lift_restriction(jsonb, jsonb) IS 'Submits a restriction request that lifts an earlier restriction (PDPA s.34 restriction is temporary). Same subject and options as dsr.submit.';
