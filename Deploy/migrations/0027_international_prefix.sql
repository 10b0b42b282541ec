-- Phone numbers written with the international call prefix 00 (0066 81 234 5678,
-- 001 415 555 0123) are the same numbers as +66…, +1…: dsr.normalize_phone reads 00 as +,
-- as IdentifierNormalizer.phone and the store-side expression (SQLStatements.phoneExpression)
-- do. No index in the dsr schema uses this function; store indexes use their own expression,
-- which `dsrd indexes` prints anew (`dsrd check` flags the old one as unused).
CREATE OR REPLACE FUNCTION dsr.normalize_phone(raw text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p ~ '^\+660?[1-9][0-9]{7,8}$' THEN '+66' || regexp_replace(substr(p, 4), '^0', '')
        WHEN p ~ '^660?[1-9][0-9]{7,8}$' THEN '+66' || regexp_replace(substr(p, 3), '^0', '')
        WHEN p ~ '^0[1-9][0-9]{7,8}$' THEN '+66' || substr(p, 2)
        WHEN p ~ '^\+[1-9][0-9]{6,14}$' AND p !~ '^\+66' THEN p
        END
    FROM (SELECT regexp_replace(regexp_replace(dsr.normalize_digits(raw), '[ \t().-]', '', 'g'), '^00', '+') AS p) AS s
    WHERE length(raw) <= 40
$$;
COMMENT ON FUNCTION dsr.normalize_phone(text) IS 'Phone number in E.164. Thai numbers 081-234-5678, ๐๘๑-๒๓๔-๕๖๗๘, +66812345678, 0066812345678 and 66812345678 all give +66812345678 (Thai and fullwidth digits count as digits; a leading 00 is +); other countries must start with + or 00. NULL when not a phone number.';
