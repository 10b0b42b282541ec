-- A rectification names an identifier column by its kind (`email`, `phone`), whatever the
-- store calls the column, so the value is checked as an email or phone and every store's
-- column of that kind is corrected; other columns keep their own names.
COMMENT ON COLUMN dsr.correctable_fields.field IS 'The field a rectification names: the identifier kind (email, phone, ...) for a column a mapping lists in `identity`, else the column name as listed in `rectify`.';
