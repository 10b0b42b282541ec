-- dsrd schema, part 7: identifiers in every common form. Thai (๐-๙) and fullwidth (０-９)
-- digits in phones and national ids; internationalised email domains in one canonical
-- ASCII (IDNA, RFC 3492 Punycode) form, whichever form the person or the store used.
-- The Swift twins are IdentifierNormalizer and Punycode; IdentifierTests checks that both
-- agree.

CREATE FUNCTION dsr.normalize_digits(raw text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT translate(raw, '๐๑๒๓๔๕๖๗๘๙０１２３４５６７８９', '01234567890123456789')
$$;
COMMENT ON FUNCTION dsr.normalize_digits(text) IS 'The text with Thai digits (๐-๙) and fullwidth digits (０-９) replaced by ASCII 0-9; everything else unchanged.';

CREATE OR REPLACE FUNCTION dsr.normalize_phone(raw text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p ~ '^\+660?[1-9][0-9]{7,8}$' THEN '+66' || regexp_replace(substr(p, 4), '^0', '')
        WHEN p ~ '^660?[1-9][0-9]{7,8}$' THEN '+66' || regexp_replace(substr(p, 3), '^0', '')
        WHEN p ~ '^0[1-9][0-9]{7,8}$' THEN '+66' || substr(p, 2)
        WHEN p ~ '^\+[1-9][0-9]{6,14}$' AND p !~ '^\+66' THEN p
        END
    FROM (SELECT regexp_replace(dsr.normalize_digits(raw), '[ \t().-]', '', 'g') AS p) AS s
    WHERE length(raw) <= 40
$$;
COMMENT ON FUNCTION dsr.normalize_phone(text) IS 'Phone number in E.164. Thai numbers 081-234-5678, ๐๘๑-๒๓๔-๕๖๗๘, +66812345678 and 66812345678 all give +66812345678 (Thai and fullwidth digits count as digits); other countries must already start with +. NULL when not a phone number.';

CREATE FUNCTION dsr.is_mobile_phone(e164 text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE
        WHEN e164 ~ '^\+66' THEN e164 ~ '^\+66[689][0-9]{8}$'
        ELSE e164 ~ '^\+[1-9][0-9]{6,14}$'
        END
$$;
COMMENT ON FUNCTION dsr.is_mobile_phone(text) IS 'Whether an E.164 number (as dsr.normalize_phone gives) can receive SMS: a Thai number only when it is a mobile number (9 digits after +66 beginning 6, 8 or 9; 02-… landlines are not); other countries'' numbers are assumed to (their plans are not checked). False for text that is not E.164.';

CREATE FUNCTION dsr.normalize_national_id(raw text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN n ~ '^[0-9]{13}$' AND dsr.valid_thai_national_id(n) THEN n END
    FROM (SELECT regexp_replace(dsr.normalize_digits(raw), '[ -]', '', 'g') AS n) AS s
$$;
COMMENT ON FUNCTION dsr.normalize_national_id(text) IS 'A Thai national ID as its 13 ASCII digits (Thai and fullwidth digits converted, spaces and dashes removed), or NULL when the check digit is wrong or it is not 13 digits.';

-- RFC 3492 Punycode (section 6, integer arithmetic) for one domain label without its
-- xn-- prefix. The Swift twin is the Punycode enum.
CREATE FUNCTION dsr.punycode_adapt(delta bigint, points integer, first boolean) RETURNS integer
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    k integer := 0;
BEGIN
    delta := CASE WHEN first THEN delta / 700 ELSE delta / 2 END;
    delta := delta + delta / points;
    WHILE delta > ((36 - 1) * 26) / 2 LOOP
        delta := delta / (36 - 1);
        k := k + 36;
    END LOOP;
    RETURN k + ((36 - 1 + 1) * delta / (delta + 38))::integer;
END $$;
COMMENT ON FUNCTION dsr.punycode_adapt(bigint, integer, boolean) IS 'RFC 3492 section 6.1 bias adaptation (base 36, tmin 1, tmax 26, skew 38, damp 700); used by dsr.punycode_encode and dsr.punycode_decode.';

CREATE FUNCTION dsr.punycode_encode(label text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    max_value constant bigint := 2147483647;
    points integer[];
    output text := '';
    n bigint := 128;
    delta bigint := 0;
    bias integer := 72;
    basic integer;
    handled integer;
    m bigint;
    q bigint;
    k integer;
    t integer;
    d integer;
    c integer;
BEGIN
    SELECT coalesce(array_agg(ascii(ch) ORDER BY i), '{}') INTO points
      FROM unnest(string_to_array(label, NULL)) WITH ORDINALITY AS x(ch, i);
    FOREACH c IN ARRAY points LOOP
        IF c < 128 THEN output := output || chr(c); END IF;
    END LOOP;
    basic := length(output);
    handled := basic;
    IF basic > 0 THEN output := output || '-'; END IF;
    WHILE handled < cardinality(points) LOOP
        SELECT min(p) INTO m FROM unnest(points) AS p WHERE p >= n;
        IF m - n > (max_value - delta) / (handled + 1) THEN RETURN NULL; END IF;
        delta := delta + (m - n) * (handled + 1);
        n := m;
        FOREACH c IN ARRAY points LOOP
            IF c < n THEN
                delta := delta + 1;
                IF delta > max_value THEN RETURN NULL; END IF;
            END IF;
            IF c = n THEN
                q := delta;
                k := 36;
                LOOP
                    t := CASE WHEN k <= bias THEN 1 WHEN k >= bias + 26 THEN 26 ELSE k - bias END;
                    EXIT WHEN q < t;
                    d := t + (q - t) % (36 - t);
                    output := output || chr(CASE WHEN d < 26 THEN 97 + d ELSE 22 + d END);
                    q := (q - t) / (36 - t);
                    k := k + 36;
                END LOOP;
                output := output || chr((CASE WHEN q < 26 THEN 97 + q ELSE 22 + q END)::integer);
                bias := dsr.punycode_adapt(delta, handled + 1, handled = basic);
                delta := 0;
                handled := handled + 1;
            END IF;
        END LOOP;
        delta := delta + 1;
        n := n + 1;
    END LOOP;
    RETURN output;
END $$;
COMMENT ON FUNCTION dsr.punycode_encode(text) IS 'RFC 3492 Punycode of one label, without the xn-- prefix (basic characters kept as they are, digits in lower case): dsr.punycode_encode(''ไทย'') = ''o3cw4h''. NULL on overflow.';

CREATE FUNCTION dsr.punycode_decode(label text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    max_value constant bigint := 2147483647;
    chars text[] := string_to_array(label, NULL);
    total integer := coalesce(cardinality(string_to_array(label, NULL)), 0);
    output integer[] := '{}';
    basic integer := 0;
    pos integer;
    n bigint := 128;
    i bigint := 0;
    old bigint;
    w bigint;
    bias integer := 72;
    k integer;
    t integer;
    d integer;
    c integer;
    points integer;
BEGIN
    FOR j IN REVERSE total..1 LOOP
        IF chars[j] = '-' THEN basic := j - 1; EXIT; END IF;
    END LOOP;
    FOR j IN 1..basic LOOP
        c := ascii(chars[j]);
        IF c >= 128 THEN RETURN NULL; END IF;
        output := output || c;
    END LOOP;
    pos := CASE WHEN basic > 0 THEN basic + 2 ELSE 1 END;
    WHILE pos <= total LOOP
        old := i;
        w := 1;
        k := 36;
        LOOP
            IF pos > total THEN RETURN NULL; END IF;
            c := ascii(chars[pos]);
            pos := pos + 1;
            d := CASE WHEN c BETWEEN 48 AND 57 THEN c - 22
                      WHEN c BETWEEN 65 AND 90 THEN c - 65
                      WHEN c BETWEEN 97 AND 122 THEN c - 97 END;
            IF d IS NULL OR d > (max_value - i) / w THEN RETURN NULL; END IF;
            i := i + d * w;
            t := CASE WHEN k <= bias THEN 1 WHEN k >= bias + 26 THEN 26 ELSE k - bias END;
            EXIT WHEN d < t;
            IF w > max_value / (36 - t) THEN RETURN NULL; END IF;
            w := w * (36 - t);
            k := k + 36;
        END LOOP;
        points := cardinality(output) + 1;
        bias := dsr.punycode_adapt(i - old, points, old = 0);
        IF i / points > max_value - n THEN RETURN NULL; END IF;
        n := n + i / points;
        i := i % points;
        IF n < 128 OR n > 1114111 OR n BETWEEN 55296 AND 57343 THEN RETURN NULL; END IF;
        output := output[1:i] || n::integer || output[i + 1:points - 1];
        i := i + 1;
    END LOOP;
    RETURN coalesce((SELECT string_agg(chr(p), '' ORDER BY o) FROM unnest(output) WITH ORDINALITY AS x(p, o)), '');
END $$;
COMMENT ON FUNCTION dsr.punycode_decode(text) IS 'Decodes one RFC 3492 Punycode label given without its xn-- prefix (digits in either case): dsr.punycode_decode(''o3cw4h'') = ''ไทย''. NULL when it is not valid Punycode.';

-- Characters never accepted in an email address, nor hidden inside an xn-- label: spaces
-- (no-break ones are listed because [:space:] leaves them out), controls, and invisible or
-- direction-changing characters that could disguise an address in a notice. The list is
-- spelled out in both functions below, and in IdentifierNormalizer.invisible.
CREATE FUNCTION dsr.idna_label_to_unicode(label text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE
        WHEN u IS NOT NULL
         AND octet_length(u) > length(u)                              -- some non-ASCII
         AND u !~ '[.@[:space:][:cntrl:]\u00A0\u00AD\u061C\u2007\u202F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]'
         AND u = normalize(lower(u), NFC)                             -- what dsr.normalize_email would give
         AND dsr.punycode_encode(u) = lower(substr(label, 5))         -- the one encoding of u
        THEN u END
    FROM (SELECT CASE WHEN lower(left(label, 4)) = 'xn--' THEN dsr.punycode_decode(substr(label, 5)) END AS u) AS s
$$;
COMMENT ON FUNCTION dsr.idna_label_to_unicode(text) IS 'The Unicode form of an xn-- domain label (any case), or NULL when the label is not one: not xn--, not decodable, nothing non-ASCII in it, a character refused in emails, not lower-case NFC, or not the canonical encoding of what it decodes to.';

CREATE OR REPLACE FUNCTION dsr.normalize_email(raw text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    e text := lower(btrim(raw, E' \t'));
    labels text[];
    result text;
BEGIN
    -- NFC shrinks text at most fourfold and the ASCII form is never shorter than the
    -- Unicode one: longer input cannot give a valid address (and is not worth normalising).
    IF length(e) > 4096 THEN RETURN NULL; END IF;
    e := normalize(e, NFC);
    IF NOT (length(e) BETWEEN 3 AND 254
            AND e ~ '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:]]+\.[^@[:space:][:cntrl:]]+$'
            AND e !~ '@\.|\.$'                                      -- no empty first or last domain label
            AND e !~ '[\u00A0\u00AD\u061C\u2007\u202F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]') THEN
        RETURN NULL;
    END IF;
    labels := string_to_array(split_part(e, '@', 2), '.');
    FOR j IN 1..cardinality(labels) LOOP
        IF left(labels[j], 4) = 'xn--' THEN
            IF dsr.idna_label_to_unicode(labels[j]) IS NULL THEN RETURN NULL; END IF;
        ELSIF octet_length(labels[j]) > length(labels[j]) THEN
            labels[j] := 'xn--' || dsr.punycode_encode(labels[j]);
            -- and it must read back, so that the canonical form is its own canonical form
            IF labels[j] IS NULL OR dsr.idna_label_to_unicode(labels[j]) IS NULL THEN RETURN NULL; END IF;
        END IF;
    END LOOP;
    result := split_part(e, '@', 1) || '@' || array_to_string(labels, '.');
    RETURN CASE WHEN length(result) BETWEEN 3 AND 254 THEN result END;
END $$;
COMMENT ON FUNCTION dsr.normalize_email(text) IS 'Canonical email: trimmed, lower-cased, NFC, the domain in its ASCII (IDNA xn--) form, so somchai@ตัวอย่าง.ไทย and somchai@xn--72c1a1bt4awk9o.xn--o3cw4h are one address. NULL when it is not a plausible address (control, space including no-break space, invisible or bidirectional characters, no domain, an empty first or last domain label, a malformed xn-- label, longer than 254 characters in the final form). dsr.email_domain_unicode gives the Unicode-domain form.';

CREATE FUNCTION dsr.email_domain_unicode(email text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    at integer := length(email) - strpos(reverse(email), '@') + 1;   -- the last @
    labels text[];
    u text;
BEGIN
    IF strpos(email, '@') = 0 THEN RETURN email; END IF;
    labels := string_to_array(substr(email, at + 1), '.');
    FOR j IN 1..coalesce(cardinality(labels), 0) LOOP
        u := dsr.idna_label_to_unicode(labels[j]);
        IF u IS NOT NULL THEN labels[j] := u; END IF;
    END LOOP;
    RETURN left(email, at) || array_to_string(labels, '.');
END $$;
COMMENT ON FUNCTION dsr.email_domain_unicode(text) IS 'The address with each valid xn-- domain label decoded to Unicode (somchai@xn--72c1a1bt4awk9o.xn--o3cw4h gives somchai@ตัวอย่าง.ไทย), for matching stores that keep the Unicode form; unchanged when there is nothing to decode.';
