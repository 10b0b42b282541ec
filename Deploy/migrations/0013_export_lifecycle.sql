-- An export's life after the request completes: handed over (delivered_at, set by the
-- portal's download), deleted when it has been kept long enough (exports.keep_for), and
-- deleted at once when the same person later has their data erased (the proof says so).

ALTER TABLE dsr.requests ADD COLUMN delivered_at timestamptz;
ALTER TABLE dsr.requests ADD COLUMN export_deleted_at timestamptz;
ALTER TABLE dsr.requests ADD COLUMN export_deleted_by uuid REFERENCES dsr.requests (id);
COMMENT ON COLUMN dsr.requests.delivered_at IS 'When the person first downloaded the export (access, portability): the answer reached them.';
COMMENT ON COLUMN dsr.requests.export_deleted_at IS 'When the export file was deleted: kept for exports.keep_for after completion, or erased with the person (export_deleted_by).';
COMMENT ON COLUMN dsr.requests.export_deleted_by IS 'The erasure request that deleted this export, when one did.';

-- Strong identifiers of a stored identity set (requests.identities), as kind:value texts; a
-- phone is left out (families share lines).
CREATE FUNCTION dsr.strong_identifiers(identities jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(array_agg(DISTINCT i.key || ':' || v), '{}')
      FROM jsonb_each(coalesce(identities, '{}')) AS i, jsonb_array_elements_text(i.value) AS v
     WHERE i.key <> 'phones' AND jsonb_typeof(i.value) = 'array'
$$;
COMMENT ON FUNCTION dsr.strong_identifiers(jsonb) IS 'The strong identifiers (emails, customer ids, national ids, documents; not phones) of a stored identity set, as kind:value.';
-- An erasure finds the person's exports through this index, not by reading every request.
CREATE INDEX requests_export_identifiers ON dsr.requests USING gin (dsr.strong_identifiers(identities))
    WHERE kind IN ('access', 'portability');

-- The exports of the person an erasure is about that still exist (or that this erasure
-- already deleted, so a re-run proves the same list).
CREATE FUNCTION dsr.exports_of_erased_person(request uuid)
RETURNS TABLE (id uuid, export_file text)
LANGUAGE sql STABLE AS $$
    SELECT e.id, e.result ->> 'export_file'
      FROM dsr.requests AS erasure, dsr.requests AS e
     WHERE erasure.id = request AND e.id <> erasure.id AND e.kind IN ('access', 'portability')
       AND e.status = 'completed' AND e.result ->> 'export_file' IS NOT NULL
       AND (e.export_deleted_at IS NULL OR e.export_deleted_by = erasure.id)
       AND dsr.strong_identifiers(e.identities) && dsr.strong_identifiers(erasure.identities)
     ORDER BY e.id
$$;
COMMENT ON FUNCTION dsr.exports_of_erased_person(uuid) IS 'Completed access and portability exports that share a strong identifier with an erasure request, still on disk (or deleted by that erasure): the erasure deletes them and its proof lists them.';

CREATE FUNCTION dsr.exports_past_keeping(keep_for interval, as_of timestamptz DEFAULT now())
RETURNS TABLE (id uuid, export_file text)
LANGUAGE sql STABLE AS $$
    SELECT r.id, r.result ->> 'export_file' FROM dsr.requests AS r
     WHERE r.kind IN ('access', 'portability') AND r.status = 'completed' AND r.export_deleted_at IS NULL
       AND r.result ->> 'export_file' IS NOT NULL AND r.completed_at + keep_for <= as_of
     ORDER BY r.completed_at
$$;
COMMENT ON FUNCTION dsr.exports_past_keeping(interval, timestamptz) IS 'Completed exports kept longer than keep_for (exports.keep_for), not yet deleted.';

CREATE FUNCTION dsr.record_export_deleted(request uuid, reason text, erasure uuid DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF reason NOT IN ('expired', 'erased') THEN
        RAISE EXCEPTION 'reason must be expired or erased' USING ERRCODE = '22023';
    END IF;
    UPDATE dsr.requests SET export_deleted_at = coalesce(export_deleted_at, now()), export_deleted_by = coalesce(export_deleted_by, erasure)
     WHERE id = request AND export_deleted_at IS NULL;
    IF FOUND THEN
        INSERT INTO dsr.request_events (request_id, step, detail)
        VALUES (request, 'export_deleted', jsonb_build_object('reason', reason, 'erasure', erasure));
    END IF;
END $$;
COMMENT ON FUNCTION dsr.record_export_deleted(uuid, text, uuid) IS 'Records that a request''s export file was deleted (expired: kept long enough; erased: an erasure of the same person). Idempotent.';

CREATE FUNCTION dsr.mark_delivered(request uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE dsr.requests SET delivered_at = now() WHERE id = request AND delivered_at IS NULL;
    IF FOUND THEN
        INSERT INTO dsr.request_events (request_id, step) VALUES (request, 'delivered');
    END IF;
END $$;
COMMENT ON FUNCTION dsr.mark_delivered(uuid) IS 'Records the first time the person downloaded their export: the answer reached them.';

CREATE OR REPLACE VIEW dsr.request_status AS
SELECT r.id,
       r.kind,
       r.status,
       r.current_step,
       r.received_at,
       date_trunc('second', now() - r.received_at) AS age,
       r.due_at,
       CASE WHEN r.completed_at IS NULL
            THEN ceil(extract(epoch FROM r.due_at - now()) / 86400)::integer END AS days_left,
       r.completed_at,
       j.id AS job_id,
       j.state AS job_state,
       j.attempt AS attempts,
       CASE WHEN j.state = 'available' THEN j.run_at END AS next_attempt_at,
       j.last_error,
       (SELECT string_agg(t.store || ':' || t.state, ' ' ORDER BY t.store)
          FROM dsr.request_tasks AS t WHERE t.request_id = r.id) AS tasks,
       r.hold_reason,
       r.verification_method,
       r.delivered_at,
       r.export_deleted_at
  FROM dsr.requests AS r
  LEFT JOIN LATERAL (
        SELECT id, state, attempt, run_at, last_error
          FROM dsr.jobs
         WHERE request_id = r.id AND kind <> 'notice'
         ORDER BY (state IN ('completed', 'cancelled')), id DESC
         LIMIT 1) AS j ON true;
COMMENT ON VIEW dsr.request_status IS 'One row per request: kind, status, age, due date, days left, current step, and its most relevant job (an unfinished one first) with attempts and last error; why it waits (hold_reason), how it was verified, when the export reached the person and when it was deleted. Example: SELECT * FROM dsr.request_status WHERE status <> ''completed'' ORDER BY due_at;';
COMMENT ON COLUMN dsr.request_status.hold_reason IS 'Why the request waits for identity verification (see dsr.requests.hold_reason).';
COMMENT ON COLUMN dsr.request_status.verification_method IS 'How the identity was verified: code, in_person, documents, call_back, operator_review.';
COMMENT ON COLUMN dsr.request_status.delivered_at IS 'When the person first downloaded the export.';
COMMENT ON COLUMN dsr.request_status.export_deleted_at IS 'When the export file was deleted (expired, or erased with the person).';
