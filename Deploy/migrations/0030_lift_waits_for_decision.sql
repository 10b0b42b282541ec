-- A person's own request to lift a restriction, made while another of their rectifications or
-- objections is decided with the data restricted (PDPA s.34), waits for that decision instead
-- of clearing the restriction the decision needs.

CREATE FUNCTION dsr.deciding_request(request uuid) RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT o.id
      FROM dsr.requests AS r, dsr.requests AS o
     WHERE r.id = request AND o.id <> r.id
       AND o.kind IN ('rectification', 'objection') AND o.completed_at IS NULL
       AND dsr.strong_identifiers(o.identities) && dsr.strong_identifiers(r.identities)
       AND EXISTS (SELECT 1 FROM dsr.request_events AS e WHERE e.request_id = o.id AND e.step = 'restricted_while_deciding')
       AND NOT EXISTS (SELECT 1 FROM dsr.request_events AS e WHERE e.request_id = o.id AND e.step = 'restriction_lifted')
     ORDER BY o.received_at
     LIMIT 1
$$;
COMMENT ON FUNCTION dsr.deciding_request(uuid) IS 'Another open rectification or objection of the same person (by strong identifiers) that restricted their data while it is decided, if any: a lift of a restriction waits for it.';

CREATE OR REPLACE FUNCTION dsr.restriction_still_required(request uuid) RETURNS text
LANGUAGE sql STABLE AS $$
    WITH me AS (
        SELECT r.id, dsr.strong_identifiers(r.identities) AS ids FROM dsr.requests AS r WHERE r.id = request
    ), asked AS (
        SELECT NOT coalesce((o.payload ->> 'lift')::boolean, false) AS restricting
          FROM dsr.requests AS o, me
         WHERE o.kind = 'restriction' AND o.status = 'completed' AND o.id <> me.id
           AND dsr.strong_identifiers(o.identities) && me.ids
         ORDER BY o.completed_at DESC
         LIMIT 1
    )
    SELECT CASE
        WHEN coalesce((SELECT restricting FROM asked), false) THEN 'restriction_requested'
        WHEN dsr.deciding_request(request) IS NOT NULL THEN 'another_request_deciding'
    END
$$;
