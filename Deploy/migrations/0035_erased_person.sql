-- A correction for a person whose data an erasure removed wrote their details back into the
-- rows kept anonymised (the customer id a kept invoice still points at found them), while the
-- signed proof said "anonymised". The request job now asks whether the person has an erasure:
-- a completed one refuses the correction, an open one received earlier makes it wait.
CREATE INDEX requests_erasure_identifiers ON dsr.requests USING gin (dsr.strong_identifiers(identities))
    WHERE kind = 'erasure';

CREATE FUNCTION dsr.erasure_of_person(request uuid, person jsonb)
RETURNS TABLE (id uuid, completed boolean)
LANGUAGE sql STABLE AS $$
    SELECT e.id, e.status = 'completed'
      FROM dsr.requests AS r, dsr.requests AS e
     WHERE r.id = request AND e.id <> r.id AND e.kind = 'erasure'
       AND e.status NOT IN ('refused', 'cancelled')
       AND (e.status = 'completed' OR e.received_at <= r.received_at)
       AND dsr.strong_identifiers(e.identities) && dsr.strong_identifiers(person)
     ORDER BY e.status = 'completed' DESC, e.received_at DESC
     LIMIT 1
$$;
COMMENT ON FUNCTION dsr.erasure_of_person(uuid, jsonb) IS 'The erasure of the person whose identity set is person (sharing a strong identifier): a completed one, else an open one received no later than request; none when there is none. A correction is refused after a completed erasure and waits for an open one.';
