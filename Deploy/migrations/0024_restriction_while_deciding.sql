-- Restriction while deciding (PDPA s.34, issue 16): a rectification or objection that waits
-- for a decision (approvals.rectification, approvals.objection) restricts the person's data in
-- every store with a restrict_flag until it is decided; the restriction is lifted when the
-- request completes (the change applied) or is refused or cancelled. Both are request events.

INSERT INTO dsr.refusal_grounds (code, section, applies_to, text_th, text_en) VALUES
('accurate_as_held', 's.35, s.36', '{rectification}',
 'ข้อมูลที่บริษัทฯ เก็บรักษาไว้ถูกต้อง เป็นปัจจุบัน และครบถ้วนแล้ว บริษัทฯ จึงไม่แก้ไขตามคำขอ และได้บันทึกคำขอของท่านไว้',
 'The data we hold is accurate, up to date and complete, so we have not changed it; your request is recorded with it.')
ON CONFLICT (code) DO NOTHING;

-- A refused or cancelled request that restricted the person's data while it was decided gets
-- a final step that lifts the restriction (FinalizeHandler), once.
CREATE FUNCTION dsr.lift_restriction_after_decision() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM dsr.request_events WHERE request_id = NEW.id AND step = 'restricted_while_deciding')
       AND NOT EXISTS (SELECT 1 FROM dsr.request_events WHERE request_id = NEW.id AND step = 'restriction_lifted') THEN
        INSERT INTO dsr.jobs (kind, request_id) VALUES ('finalize', NEW.id);
    END IF;
    RETURN NULL;
END $$;
-- Deferred to commit: refusing cancels the request's queued jobs in the same transaction.
CREATE CONSTRAINT TRIGGER requests_lift_restriction AFTER UPDATE OF status ON dsr.requests
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.status IN ('refused', 'cancelled') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION dsr.lift_restriction_after_decision();
COMMENT ON FUNCTION dsr.lift_restriction_after_decision() IS 'Queues the final step of a refused or cancelled request that restricted the person''s data while it was decided, so the restriction is lifted.';
