-- A restriction the person asked for stays in force until they lift it (PDPA s.34), however
-- long that takes. dsrd's own copy of the restriction request is what tells a later lift
-- that the data must stay restricted (dsr.restriction_still_required), so retention may not
-- pseudonymise it while it is in force: once its identifiers were keyed hashes, nothing
-- matched it any more and the end of a later objection cleared the restriction in the stores.
-- A restriction request superseded by a later one of the same person (a lift, or a new
-- restriction) is pseudonymised as usual.

CREATE FUNCTION dsr.restriction_in_force(request uuid) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1 FROM dsr.requests AS r
         WHERE r.id = request AND r.kind = 'restriction' AND r.status = 'completed'
           AND NOT coalesce((r.payload ->> 'lift')::boolean, false)
           AND NOT EXISTS (
               SELECT 1 FROM dsr.requests AS later
                WHERE later.kind = 'restriction' AND later.status = 'completed' AND later.id <> r.id
                  AND later.completed_at > r.completed_at
                  AND dsr.strong_identifiers(later.identities) && dsr.strong_identifiers(r.identities)));
END $$;
COMMENT ON FUNCTION dsr.restriction_in_force(uuid) IS 'Whether this is a completed restriction request (not a lift) that is the person''s latest completed restriction request (by strong identifiers): their data stays restricted, and retention keeps the request''s identifiers until a later one supersedes it. Example: SELECT id, completed_at FROM dsr.requests WHERE kind = ''restriction'' AND dsr.restriction_in_force(id);';
