-- The request life cycle's moves as data. RequestLifecycle.transitions (Swift) holds the same
-- list and a test checks that they agree; this trigger refuses every other move, so no
-- function, operator or bug can bring a completed, refused or cancelled request back.
CREATE TABLE dsr.request_transitions (
    from_status text NOT NULL,
    to_status   text NOT NULL,
    PRIMARY KEY (from_status, to_status)
);
COMMENT ON TABLE dsr.request_transitions IS 'The moves a request''s status can make (a status to itself is not a move); dsr.requests refuses any other.';
COMMENT ON COLUMN dsr.request_transitions.from_status IS 'The status a request is in.';
COMMENT ON COLUMN dsr.request_transitions.to_status IS 'A status it may move to.';

INSERT INTO dsr.request_transitions (from_status, to_status) VALUES
    ('received', 'in_progress'), ('received', 'waiting'), ('received', 'awaiting_verification'),
    ('received', 'completed'), ('received', 'refused'), ('received', 'cancelled'),
    ('in_progress', 'waiting'), ('in_progress', 'awaiting_verification'), ('in_progress', 'completed'),
    ('in_progress', 'refused'), ('in_progress', 'cancelled'),
    ('waiting', 'in_progress'), ('waiting', 'awaiting_verification'), ('waiting', 'completed'),
    ('waiting', 'refused'), ('waiting', 'cancelled'),
    ('awaiting_verification', 'received'), ('awaiting_verification', 'in_progress'),
    ('awaiting_verification', 'refused'), ('awaiting_verification', 'cancelled');

CREATE FUNCTION dsr.check_request_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- A status no move leads to is left to the CHECK constraint, which names it.
    IF EXISTS (SELECT 1 FROM dsr.request_transitions WHERE to_status = NEW.status)
       AND NOT EXISTS (SELECT 1 FROM dsr.request_transitions WHERE from_status = OLD.status AND to_status = NEW.status) THEN
        RAISE EXCEPTION 'request % cannot move from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = '23514', HINT = 'dsr.request_transitions lists the moves a request can make; an ended request stays ended';
    END IF;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION dsr.check_request_transition() IS 'Refuses a status change that dsr.request_transitions does not list.';

CREATE TRIGGER requests_transition BEFORE UPDATE OF status ON dsr.requests
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION dsr.check_request_transition();
