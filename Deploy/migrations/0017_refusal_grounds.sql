-- PDPA duties around refusals (issue 16): the grounds a request may be refused on, as data,
-- with their section of the PDPA and the text the person reads; a refusal names one, and a
-- guard refuses what the law forbids refusing. The s.39 record of refusals is dsr.refusals.

CREATE TABLE dsr.refusal_grounds (
    code       text PRIMARY KEY CHECK (code ~ '^[a-z_]+$'),
    section    text NOT NULL,
    applies_to text[] NOT NULL,
    text_th    text NOT NULL,
    text_en    text NOT NULL
);
COMMENT ON TABLE dsr.refusal_grounds IS 'Grounds on which a request may be refused (dsr.refuse_request(request, code, detail)): the PDPA section, the kinds it applies to, and what the person reads in Thai and English. Add a row for a ground of your own; SELECT * FROM dsr.refusal_grounds lists them.';
COMMENT ON COLUMN dsr.refusal_grounds.code IS 'What dsr.refuse_request takes, e.g. legal_claims.';
COMMENT ON COLUMN dsr.refusal_grounds.section IS 'Where the PDPA allows it, e.g. "s.33 para 2".';
COMMENT ON COLUMN dsr.refusal_grounds.applies_to IS 'Request kinds this ground can refuse.';
COMMENT ON COLUMN dsr.refusal_grounds.text_th IS 'The reason as the person reads it, in Thai.';
COMMENT ON COLUMN dsr.refusal_grounds.text_en IS 'The reason as the person reads it, in English.';

INSERT INTO dsr.refusal_grounds (code, section, applies_to, text_th, text_en) VALUES
('required_by_law', 's.30, s.31, s.33 para 2', '{access,portability,erasure}',
 'กฎหมายหรือคำสั่งศาลกำหนดให้บริษัทฯ ต้องปฏิเสธหรือต้องเก็บรักษาข้อมูลนี้ไว้',
 'A law or a court order requires us to refuse, or to keep this data.'),
('rights_of_others', 's.30 para 1, s.31 para 3', '{access,portability}',
 'การเปิดเผยข้อมูลนี้จะกระทบต่อสิทธิและเสรีภาพของบุคคลอื่น',
 'Disclosing this data would harm the rights and freedoms of other people.'),
('legal_claims', 's.32 para 1(2), s.33 para 2(5), s.34', '{erasure,objection,restriction}',
 'บริษัทฯ จำเป็นต้องใช้ข้อมูลนี้เพื่อการก่อตั้งสิทธิเรียกร้องตามกฎหมาย การปฏิบัติตามหรือการใช้สิทธิเรียกร้อง หรือการยกขึ้นต่อสู้สิทธิเรียกร้อง',
 'We need this data to establish, exercise or defend legal claims.'),
('compelling_legitimate_grounds', 's.32 para 1(1)', '{objection}',
 'บริษัทฯ มีเหตุอันชอบด้วยกฎหมายที่สำคัญยิ่งกว่าในการประมวลผลข้อมูลนี้',
 'We have compelling legitimate grounds for this processing that override your objection.'),
('public_interest', 's.32 para 1(3), s.33 para 2(3)', '{erasure,objection}',
 'การประมวลผลนี้จำเป็นเพื่อการปฏิบัติหน้าที่เพื่อประโยชน์สาธารณะ',
 'This processing is necessary for a task carried out in the public interest.'),
('freedom_of_expression', 's.33 para 2(1)', '{erasure}',
 'การเก็บรักษาข้อมูลนี้เป็นไปเพื่อเสรีภาพในการแสดงความคิดเห็น',
 'Keeping this data is necessary for freedom of expression.'),
('research_statistics', 's.32 para 1(3), s.33 para 2(2)', '{erasure,objection}',
 'ข้อมูลนี้ใช้เพื่อการศึกษาวิจัยทางวิทยาศาสตร์ ประวัติศาสตร์ หรือสถิติ โดยมีมาตรการคุ้มครองที่เหมาะสม',
 'This data is used for scientific, historical or statistical research, with suitable safeguards.'),
('not_technically_feasible', 's.31 para 1', '{portability}',
 'ไม่สามารถส่งหรือโอนข้อมูลในรูปแบบนี้ได้ในทางเทคนิค',
 'It is not technically feasible to send or transfer this data in that form.'),
('identity_not_verified', 's.30, s.19 (PDPC guidance)', '{access,portability,erasure,rectification,restriction,objection,consent_withdrawal}',
 'บริษัทฯ ไม่สามารถยืนยันตัวตนของผู้ยื่นคำขอได้ จึงไม่อาจดำเนินการเพื่อคุ้มครองข้อมูลของเจ้าของข้อมูล',
 'We could not confirm the identity of the person who made the request, so we cannot act on it without putting the data at risk.'),
('manifestly_unfounded', 'PDPC guidance on s.30-36', '{access,portability,erasure,rectification,restriction,objection,consent_withdrawal}',
 'คำขอนี้ไม่มีมูลอย่างชัดแจ้งหรือมีลักษณะฟุ่มเฟือยเกินสมควร',
 'The request is manifestly unfounded or excessive.'),
('invalid_request', 's.30-36', '{access,portability,erasure,rectification,restriction,objection,consent_withdrawal}',
 'คำขอไม่สามารถดำเนินการได้ตามที่ระบุ',
 'The request cannot be carried out as it was made.'),
('unspecified', '-', '{access,portability,erasure,rectification,restriction,objection,consent_withdrawal}',
 'ตามเหตุผลที่แจ้งไว้ด้านล่าง',
 'For the reason given below.');

ALTER TABLE dsr.requests ADD COLUMN refusal_ground text REFERENCES dsr.refusal_grounds (code);
COMMENT ON COLUMN dsr.requests.refusal_ground IS 'The ground a refused request was refused on (dsr.refusal_grounds); refusal_reason holds the detail.';

ALTER TABLE dsr.deadline_policy ADD COLUMN legal_basis text NOT NULL DEFAULT 'PDPA s.30: within 30 days of receipt';
COMMENT ON COLUMN dsr.deadline_policy.legal_basis IS 'Why the period and its maximum are what they are; quoted when dsr.extend_deadline refuses an extension.';
UPDATE dsr.deadline_policy
   SET legal_basis = 'PDPA s.30 para 3 (access), applied by the company to every right: answer within 30 days of receipt; an extension only with a reason told to the person, up to ' || max_period;

-- Refusal with a coded ground. Guards: the ground must exist and apply to the kind; an
-- objection to direct marketing can never be refused (PDPA s.32 para 2).
CREATE FUNCTION dsr.refuse_request(request uuid, ground text, detail text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = dsr, pg_temp AS $$
DECLARE
    r record;
    g dsr.refusal_grounds%ROWTYPE;
    purposes jsonb;
BEGIN
    SELECT * INTO g FROM dsr.refusal_grounds WHERE code = ground;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown refusal ground %', coalesce(ground, 'NULL') USING ERRCODE = '22023',
            HINT = 'one of: ' || (SELECT string_agg(code, ', ' ORDER BY code) FROM dsr.refusal_grounds) || ' (SELECT * FROM dsr.refusal_grounds)';
    END IF;
    IF ground = 'unspecified' AND (detail IS NULL OR btrim(detail) = '') THEN
        RAISE EXCEPTION 'a refusal needs a reason (PDPA: the person must be told why)' USING ERRCODE = '22023';
    END IF;
    SELECT q.kind, q.payload, q.locale INTO r FROM dsr.requests AS q WHERE q.id = request AND q.completed_at IS NULL FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'request % is not open', request USING ERRCODE = '55000';
    END IF;
    IF NOT r.kind = ANY (g.applies_to) THEN
        RAISE EXCEPTION 'ground % (%) cannot refuse a request for %', ground, g.section, r.kind USING ERRCODE = '22023',
            HINT = 'grounds for ' || r.kind || ': ' || (SELECT string_agg(code, ', ' ORDER BY code) FROM dsr.refusal_grounds WHERE r.kind = ANY (applies_to));
    END IF;
    purposes := coalesce(r.payload -> 'purposes', '[]'::jsonb);
    IF r.kind IN ('objection', 'consent_withdrawal')
       AND (jsonb_array_length(purposes) = 0 OR purposes ?| ARRAY['marketing', 'direct_marketing']) THEN
        RAISE EXCEPTION 'an objection to direct marketing cannot be refused (PDPA s.32 para 2)' USING ERRCODE = '22023',
            HINT = 'the request covers marketing (no purposes given means every purpose): carry it out';
    END IF;
    UPDATE dsr.requests
       SET status = 'refused', refusal_ground = ground,
           refusal_reason = coalesce(nullif(btrim(detail), ''), CASE WHEN r.locale = 'en' THEN g.text_en ELSE g.text_th END),
           hold_reason = NULL, completed_at = now(), updated_at = now(), current_step = 'refused'
     WHERE id = request;
    UPDATE dsr.jobs SET state = 'cancelled', finished_at = now(), locked_by = NULL, locked_until = NULL,
                        last_error = 'request refused'
     WHERE request_id = request AND kind <> 'notice' AND state IN ('available', 'running');
    INSERT INTO dsr.request_events (request_id, step, detail)
    VALUES (request, 'refused', jsonb_build_object('ground', ground, 'section', g.section, 'refused_by', session_user));
    -- reason: the detail, else the ground in the person's language (the SMS shows only it).
    PERFORM dsr.notify_subject(request, 'refused', jsonb_build_object(
        'reason', coalesce(nullif(btrim(detail), ''), CASE WHEN r.locale = 'en' THEN g.text_en ELSE g.text_th END),
        'detail', nullif(btrim(detail), ''), 'ground', ground, 'section', nullif(g.section, '-'),
        'ground_th', g.text_th, 'ground_en', g.text_en));
END $$;
COMMENT ON FUNCTION dsr.refuse_request(uuid, text, text) IS 'Refuses an open request on a ground of dsr.refusal_grounds that applies to its kind, with a detail the person reads under the ground''s text; cancels its work and tells the person (template refused). An objection or withdrawal covering marketing cannot be refused (PDPA s.32 para 2). Example: SELECT dsr.refuse_request(''…'', ''legal_claims'', ''the order is subject to a court case (civil case 123/2569)'');';
REVOKE EXECUTE ON FUNCTION dsr.refuse_request(uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dsr.refuse_request(uuid, text, text) TO dsr_operator, dsr_daemon;

-- The two-argument form stays for scripts written before grounds: the reason becomes the
-- detail of ground 'unspecified', which the register shows as such.
CREATE OR REPLACE FUNCTION dsr.refuse_request(request uuid, reason text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = dsr, pg_temp AS $$
    SELECT dsr.refuse_request(request, 'unspecified', reason);
$$;
COMMENT ON FUNCTION dsr.refuse_request(uuid, text) IS 'Older form: refuses on ground ''unspecified'' with reason as the detail. Prefer dsr.refuse_request(request, ground, detail).';

-- The s.39 record of refusals.
CREATE VIEW dsr.refusals AS
SELECT r.id, r.kind, r.received_at, r.completed_at AS refused_at, r.refusal_ground AS ground, g.section,
       g.text_en AS ground_text, r.refusal_reason AS detail
  FROM dsr.requests AS r LEFT JOIN dsr.refusal_grounds AS g ON g.code = r.refusal_ground
 WHERE r.status = 'refused';
COMMENT ON VIEW dsr.refusals IS 'Every refused request with its ground, PDPA section and detail: the refusal part of the s.39 record. Example: SELECT ground, count(*) FROM dsr.refusals GROUP BY 1;';
COMMENT ON COLUMN dsr.refusals.id IS 'Request id.';
COMMENT ON COLUMN dsr.refusals.kind IS 'Right exercised.';
COMMENT ON COLUMN dsr.refusals.received_at IS 'When the request was received.';
COMMENT ON COLUMN dsr.refusals.refused_at IS 'When it was refused.';
COMMENT ON COLUMN dsr.refusals.ground IS 'dsr.refusal_grounds.code (unspecified: refused through the two-argument dsr.refuse_request).';
COMMENT ON COLUMN dsr.refusals.section IS 'The PDPA section of the ground.';
COMMENT ON COLUMN dsr.refusals.ground_text IS 'The ground as the person read it (English).';
COMMENT ON COLUMN dsr.refusals.detail IS 'What the operator added.';
GRANT SELECT ON dsr.refusals, dsr.refusal_grounds TO dsr_operator;

-- Extensions cite the policy's legal basis when they go too far.
CREATE OR REPLACE FUNCTION dsr.extend_deadline(request uuid, extra interval, reason text)
 RETURNS timestamp with time zone
 LANGUAGE plpgsql
AS $function$
DECLARE
    r record;
    new_due timestamptz;
BEGIN
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'an extension needs a reason' USING ERRCODE = '22023';
    END IF;
    IF extra IS NULL OR extra <= interval '0' OR extra >= interval '1 year' THEN
        RAISE EXCEPTION 'an extension must be a positive interval, e.g. interval ''15 days''' USING ERRCODE = '22023';
    END IF;
    SELECT q.received_at, q.due_at, coalesce(p.max_period, interval '60 days') AS max_period,
           coalesce(p.legal_basis, 'PDPA s.30: within 30 days of receipt') AS legal_basis
      INTO r FROM dsr.requests AS q LEFT JOIN dsr.deadline_policy AS p ON p.kind = q.kind
     WHERE q.id = request AND q.completed_at IS NULL FOR UPDATE OF q;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'request % is not open', request USING ERRCODE = '55000';
    END IF;
    new_due := r.due_at + extra;
    IF new_due > r.received_at + r.max_period THEN
        RAISE EXCEPTION 'the deadline can be at most % after the request was received (%)', r.max_period, r.legal_basis
            USING ERRCODE = '22023',
            HINT = 'dsr.deadline_policy.max_period for this kind; the latest allowed due date is ' || to_char(r.received_at + r.max_period, 'YYYY-MM-DD');
    END IF;
    UPDATE dsr.requests SET due_at = new_due, updated_at = now() WHERE id = request;
    INSERT INTO dsr.request_events (request_id, step, detail)
    VALUES (request, 'deadline_extended', jsonb_build_object('due_at', new_due));
    PERFORM dsr.notify_subject(request, 'more_time', jsonb_build_object('due_at', new_due, 'reason', reason),
                               ':' || to_char(new_due, 'YYYYMMDD'));
    RETURN new_due;
END $function$;
