-- dsr.submit refused an operator's verification or a representative with one message listing
-- the whole shape, so `"evidence": "ok"` was refused without saying that evidence needs 3 to
-- 1000 characters. It now names the part that is wrong and what it must be. The body is
-- otherwise that of 0012; CREATE OR REPLACE keeps the owner, grants and comment, but not
-- SECURITY DEFINER or the search_path (0016), which are repeated here.

CREATE FUNCTION dsr.verification_problem(verification jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN jsonb_typeof(verification) <> 'object' THEN
            'options.verification must be an object {"method", "evidence", "operator"}'
        WHEN NOT coalesce((verification ->> 'method') = ANY (ARRAY['in_person', 'documents', 'call_back', 'system']), false) THEN
            'options.verification.method must be in_person, documents or call_back (system is for requests dsrd creates itself)'
        WHEN length(btrim(coalesce(verification ->> 'evidence', ''))) NOT BETWEEN 3 AND 1000 THEN
            format('options.verification.evidence must say what was checked, in 3 to 1000 characters (it has %s)',
                   length(btrim(coalesce(verification ->> 'evidence', ''))))
        WHEN length(btrim(coalesce(verification ->> 'operator', ''))) NOT BETWEEN 1 AND 200 THEN
            format('options.verification.operator must name who checked, in 1 to 200 characters (it has %s)',
                   length(btrim(coalesce(verification ->> 'operator', ''))))
        WHEN EXISTS (SELECT 1 FROM jsonb_object_keys(verification) AS k WHERE k NOT IN ('method', 'evidence', 'operator')) THEN
            'options.verification takes only method, evidence and operator, not '
            || (SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(verification) AS k WHERE k NOT IN ('method', 'evidence', 'operator'))
    END
$$;
COMMENT ON FUNCTION dsr.verification_problem(jsonb) IS 'What is wrong with an operator''s verification record given to dsr.submit (options.verification), in words; null when it is valid.';

CREATE FUNCTION dsr.representative_problem(representative jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN jsonb_typeof(representative) <> 'object' THEN
            'options.representative must be an object {"name", "authority", "evidence"}'
        WHEN length(btrim(coalesce(representative ->> 'name', ''))) NOT BETWEEN 1 AND 200 THEN
            format('options.representative.name must be 1 to 200 characters (it has %s)',
                   length(btrim(coalesce(representative ->> 'name', ''))))
        WHEN NOT coalesce((representative ->> 'authority') = ANY (ARRAY['parent', 'guardian', 'curator', 'power_of_attorney']), false) THEN
            'options.representative.authority must be parent, guardian, curator or power_of_attorney'
        WHEN length(btrim(coalesce(representative ->> 'evidence', ''))) NOT BETWEEN 3 AND 1000 THEN
            format('options.representative.evidence must say what was seen, in 3 to 1000 characters (it has %s)',
                   length(btrim(coalesce(representative ->> 'evidence', ''))))
        WHEN EXISTS (SELECT 1 FROM jsonb_object_keys(representative) AS k WHERE k NOT IN ('name', 'authority', 'evidence')) THEN
            'options.representative takes only name, authority and evidence, not '
            || (SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(representative) AS k WHERE k NOT IN ('name', 'authority', 'evidence'))
    END
$$;
COMMENT ON FUNCTION dsr.representative_problem(jsonb) IS 'What is wrong with a representative record given to dsr.submit (options.representative), in words; null when dsr.valid_representative accepts it.';

CREATE OR REPLACE FUNCTION dsr.submit(kind text, subject jsonb, options jsonb DEFAULT '{}') RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = dsr, pg_temp AS $$
DECLARE
    verification jsonb := options -> 'verification';
    acting_for jsonb := options -> 'representative';
    problem text;
    new_id uuid;
BEGIN
    IF verification IS NOT NULL THEN
        problem := dsr.verification_problem(verification);
        IF problem IS NOT NULL THEN
            RAISE EXCEPTION '%', problem USING ERRCODE = '22023',
                HINT = 'e.g. {"verification": {"method": "in_person", "evidence": "Thai ID card checked at the counter", "operator": "somsri"}}';
        END IF;
    END IF;
    IF acting_for IS NOT NULL THEN
        problem := dsr.representative_problem(acting_for);
        IF problem IS NOT NULL THEN
            RAISE EXCEPTION '%', problem USING ERRCODE = '22023',
                HINT = 'e.g. {"representative": {"name": "Malee Jaidee", "authority": "parent", "evidence": "birth certificate and ID card seen"}}';
        END IF;
    END IF;
    new_id := dsr.submit_unverified(kind, subject, coalesce(options, '{}') - 'verification' - 'representative');
    IF acting_for IS NOT NULL THEN
        UPDATE dsr.requests AS q SET representative = acting_for WHERE q.id = new_id AND q.representative IS NULL;
    END IF;
    -- A repeated submission (same idempotency key) of a request already verified or ended is
    -- left as it is.
    IF verification IS NOT NULL AND (SELECT verified_at IS NULL AND completed_at IS NULL FROM dsr.requests WHERE id = new_id) THEN
        PERFORM dsr.mark_verified(new_id, verification ->> 'method', verification ->> 'evidence', verification ->> 'operator');
    END IF;
    RETURN new_id;
END $$;
