-- Two SQL-language functions that every request calls several times were planned afresh on
-- every call: PostgreSQL caches a SQL function's plan only for the statement that calls it,
-- and neither can be inlined (each reads with FROM). dsr.needs_verification ran in every
-- read of a request row (0.23 ms a call, five calls a request); dsr.strong_identifiers in
-- every UPDATE of dsr.requests, which maintains the two indexes built on it (0.11 ms a
-- call). In PL/pgSQL their plans are kept for the session. Same arguments, same results, so
-- the indexes on dsr.strong_identifiers stay valid (issue 12).

CREATE OR REPLACE FUNCTION dsr.needs_verification(request uuid) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT q.verified_at IS NULL AND coalesce(p.required, true)
              FROM dsr.requests AS q LEFT JOIN dsr.verification_policy AS p ON p.kind = q.kind
             WHERE q.id = request);
END $$;

CREATE OR REPLACE FUNCTION dsr.strong_identifiers(identities jsonb) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(DISTINCT i.key || ':' || v), '{}')
              FROM jsonb_each(coalesce(strong_identifiers.identities, '{}')) AS i, jsonb_array_elements_text(i.value) AS v
             WHERE i.key <> 'phones' AND jsonb_typeof(i.value) = 'array');
END $$;
