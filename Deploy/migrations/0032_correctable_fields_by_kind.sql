-- A rectification names an identifier column by its kind (`email`, `phone`), whatever the
-- store calls the column, so the value is checked as an email or phone and every store's
-- column of that kind is corrected; other columns keep their own names.
COMMENT ON COLUMN dsr.correctable_fields.field IS 'The field a rectification names: the identifier kind (email, phone, ...) for a column a mapping lists in `identity`, else the column name as listed in `rectify`.';

-- The portal offers the fields the stores can correct, whatever a company's mappings call
-- them; it reads them through a function, as it reaches everything else (no table grants).
CREATE FUNCTION dsr.correctable_field_names() RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = dsr, pg_temp AS $$
    SELECT f.field FROM dsr.correctable_fields AS f ORDER BY f.field
$$;
COMMENT ON FUNCTION dsr.correctable_field_names() IS 'The fields a rectification can name (dsr.correctable_fields, published by dsrd run from the mappings), for the privacy portal''s form; empty until a daemon has run.';
REVOKE EXECUTE ON FUNCTION dsr.correctable_field_names() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dsr.correctable_field_names() TO dsr_portal, dsr_operator, dsr_submitter;
