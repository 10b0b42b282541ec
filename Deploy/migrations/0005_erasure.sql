-- dsrd schema, part 5: erasure tasks, signed deletion proofs and the tamper-evident audit log.

ALTER TABLE dsr.request_tasks DROP CONSTRAINT request_tasks_operation_check;
ALTER TABLE dsr.request_tasks ADD CONSTRAINT request_tasks_operation_check CHECK (operation IN ('export', 'erase'));
ALTER TABLE dsr.request_tasks ADD COLUMN plan jsonb;
COMMENT ON COLUMN dsr.request_tasks.plan IS 'Erasure: what the store''s erasure does (per table: rows deleted, anonymised, held with rule and expiry), measured by a rolled-back dry run before the real one and recorded first, so a re-run after a crash proves exactly the same thing. No personal data.';

CREATE TABLE dsr.proofs (
    request_id uuid PRIMARY KEY REFERENCES dsr.requests (id),
    proof      text NOT NULL,
    sha256     text NOT NULL,
    key_id     text NOT NULL,
    signed_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE dsr.proofs IS 'Signed deletion proofs, one per erasure request, exactly as given to the DPO (also written under exports.directory/proofs). Contain no personal data: identifiers appear only as keyed hashes.';
COMMENT ON COLUMN dsr.proofs.request_id IS 'The erasure request.';
COMMENT ON COLUMN dsr.proofs.proof IS 'The proof file (JSON): signed payload, Ed25519 signature, key id, audit-log entry.';
COMMENT ON COLUMN dsr.proofs.sha256 IS 'SHA-256 of the signed payload; the audit log chains this value.';
COMMENT ON COLUMN dsr.proofs.key_id IS 'First 16 hex digits of the SHA-256 of the signing public key.';
COMMENT ON COLUMN dsr.proofs.signed_at IS 'When the proof was signed.';

CREATE TABLE dsr.audit_log (
    seq          bigint PRIMARY KEY,
    request_id   uuid NOT NULL REFERENCES dsr.requests (id),
    proof_sha256 text NOT NULL,
    prev_hash    text NOT NULL,
    entry_hash   text NOT NULL UNIQUE,
    at           timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE dsr.audit_log IS 'Append-only, hash-chained log of deletion proofs: entry_hash = sha256(prev_hash|seq|request_id|proof_sha256). Changing or removing any row breaks every later link (SELECT * FROM dsr.verify_audit_chain()).';
COMMENT ON COLUMN dsr.audit_log.seq IS 'Position in the chain, from 1, without gaps.';
COMMENT ON COLUMN dsr.audit_log.request_id IS 'The erasure request.';
COMMENT ON COLUMN dsr.audit_log.proof_sha256 IS 'SHA-256 of the proof''s signed payload.';
COMMENT ON COLUMN dsr.audit_log.prev_hash IS 'entry_hash of the previous entry (64 zeros for the first).';
COMMENT ON COLUMN dsr.audit_log.entry_hash IS 'SHA-256 over prev_hash, seq, request_id and proof_sha256.';
COMMENT ON COLUMN dsr.audit_log.at IS 'When the entry was appended.';

CREATE FUNCTION dsr.audit_entry_hash(prev text, entry_seq bigint, request uuid, proof_digest text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT encode(sha256(convert_to(prev || '|' || entry_seq || '|' || request || '|' || proof_digest, 'UTF8')), 'hex')
$$;
COMMENT ON FUNCTION dsr.audit_entry_hash(text, bigint, uuid, text) IS 'The chain''s hash rule; dsrd verify-proof computes the same in Swift.';

CREATE FUNCTION dsr.audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'dsr.audit_log is append-only' USING ERRCODE = '42501';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON dsr.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION dsr.audit_log_is_append_only();
COMMENT ON FUNCTION dsr.audit_log_is_append_only() IS 'Refuses UPDATE, DELETE and TRUNCATE on the audit log (a superuser can still disable the trigger: the hash chain is what makes tampering evident).';

-- Appends a proof to the chain; returns seq, prev_hash and entry_hash. Serialised by a lock
-- so that two erasures finishing together cannot fork the chain.
CREATE FUNCTION dsr.append_audit(request uuid, proof_digest text, OUT seq bigint, OUT prev_hash text, OUT entry_hash text)
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE dsr.audit_log IN EXCLUSIVE MODE;
    SELECT a.seq, a.prev_hash, a.entry_hash INTO seq, prev_hash, entry_hash
      FROM dsr.audit_log AS a WHERE a.request_id = request AND a.proof_sha256 = proof_digest;
    IF FOUND THEN
        RETURN;  -- already appended (a re-run): same position
    END IF;
    SELECT coalesce(max(a.seq), 0) + 1, coalesce((SELECT a2.entry_hash FROM dsr.audit_log a2 ORDER BY a2.seq DESC LIMIT 1), repeat('0', 64))
      INTO seq, prev_hash FROM dsr.audit_log AS a;
    entry_hash := dsr.audit_entry_hash(prev_hash, seq, request, proof_digest);
    INSERT INTO dsr.audit_log (seq, request_id, proof_sha256, prev_hash, entry_hash)
    VALUES (seq, request, proof_digest, prev_hash, entry_hash);
END $$;
COMMENT ON FUNCTION dsr.append_audit(uuid, text) IS 'Appends a proof digest to the audit chain (idempotent per request and digest).';

CREATE FUNCTION dsr.verify_audit_chain() RETURNS TABLE (seq bigint, ok boolean, problem text)
LANGUAGE sql STABLE AS $$
    SELECT a.seq,
           a.prev_hash = coalesce(lag(a.entry_hash) OVER w, repeat('0', 64))
           AND a.entry_hash = dsr.audit_entry_hash(a.prev_hash, a.seq, a.request_id, a.proof_sha256)
           AND a.seq = row_number() OVER w,
           CASE WHEN a.seq <> row_number() OVER w THEN 'gap in sequence'
                WHEN a.prev_hash <> coalesce(lag(a.entry_hash) OVER w, repeat('0', 64)) THEN 'does not link to the previous entry'
                WHEN a.entry_hash <> dsr.audit_entry_hash(a.prev_hash, a.seq, a.request_id, a.proof_sha256) THEN 'entry hash does not match its contents'
           END
      FROM dsr.audit_log AS a
    WINDOW w AS (ORDER BY a.seq)
$$;
COMMENT ON FUNCTION dsr.verify_audit_chain() IS 'Checks every link of the audit chain. Example: SELECT * FROM dsr.verify_audit_chain() WHERE NOT ok;';

ALTER TABLE dsr.request_tasks ADD COLUMN outcome jsonb;
COMMENT ON COLUMN dsr.request_tasks.outcome IS 'What the finished task reported: for exports the files, for erasure the post-erasure discovery per table. No personal data.';

CREATE OR REPLACE FUNCTION dsr.finish_task(request uuid, task_store text, outcome jsonb) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM dsr.requests WHERE id = request FOR UPDATE;
    UPDATE dsr.request_tasks AS t
       SET state = 'done', rows = (finish_task.outcome ->> 'rows')::bigint, files = finish_task.outcome -> 'files',
           outcome = finish_task.outcome, finished_at = coalesce(t.finished_at, now()), last_error = NULL
     WHERE t.request_id = request AND t.store = task_store;
    INSERT INTO dsr.request_events (request_id, step, detail)
    VALUES (request, 'task_done', jsonb_build_object('store', task_store, 'rows', finish_task.outcome -> 'rows'));
    IF EXISTS (SELECT 1 FROM dsr.request_tasks WHERE request_id = request AND state <> 'done') THEN
        UPDATE dsr.requests SET current_step = (
                   SELECT CASE WHEN min(operation) = 'erase' THEN 'erasing: ' ELSE 'collecting: ' END
                          || string_agg(store, ', ' ORDER BY store) || ' still to do'
                     FROM dsr.request_tasks WHERE request_id = request AND state <> 'done'), updated_at = now()
         WHERE id = request AND completed_at IS NULL;
        RETURN false;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM dsr.jobs WHERE request_id = request AND kind = 'finalize') THEN
        INSERT INTO dsr.jobs (kind, request_id) VALUES ('finalize', request);
        UPDATE dsr.requests
           SET status = 'in_progress', updated_at = now(),
               current_step = CASE WHEN kind = 'erasure' THEN 'signing the deletion proof' ELSE 'assembling the export' END
         WHERE id = request AND completed_at IS NULL;
    END IF;
    RETURN true;
END $$;
COMMENT ON FUNCTION dsr.finish_task(uuid, text, jsonb) IS 'Marks a store task done (keeping its first finish time, so a re-run proves the same thing) and, when it was the last, queues the final step. Idempotent.';
