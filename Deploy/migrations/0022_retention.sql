-- Retention enforced (issue 16): the sweeper deletes rows past their table's retention and
-- what erasures left behind once no hold or reference needs it; each sweep is signed and
-- chained into the audit log beside the deletion proofs.

CREATE TABLE dsr.sweeps (
    id          uuid PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    as_of       timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    rows        bigint NOT NULL,
    summary     jsonb NOT NULL,
    proof       text NOT NULL,
    sha256      text NOT NULL,
    key_id      text NOT NULL
);
COMMENT ON TABLE dsr.sweeps IS 'Retention sweeps that changed something: per store and table, the rule and the rows deleted or anonymised, with the signed proof (also in exports.directory/proofs/sweep-<id>.json and the audit chain). No personal data.';
COMMENT ON COLUMN dsr.sweeps.id IS 'The sweep.';
COMMENT ON COLUMN dsr.sweeps.started_at IS 'When it started.';
COMMENT ON COLUMN dsr.sweeps.as_of IS 'The time retention was counted against (now, or a later time given to dsrd sweep --as-of).';
COMMENT ON COLUMN dsr.sweeps.finished_at IS 'When it was recorded.';
COMMENT ON COLUMN dsr.sweeps.rows IS 'Rows deleted or anonymised in all stores.';
COMMENT ON COLUMN dsr.sweeps.summary IS 'Per store and table: rule, cut-off, rows.';
COMMENT ON COLUMN dsr.sweeps.proof IS 'The signed proof file (JSON), as written.';
COMMENT ON COLUMN dsr.sweeps.sha256 IS 'SHA-256 of the proof''s signed payload, as in the audit chain.';
COMMENT ON COLUMN dsr.sweeps.key_id IS 'The signing key''s id.';
GRANT SELECT ON dsr.sweeps TO dsr_operator;

-- The audit chain holds sweeps too: an entry names a request or a sweep; the hash rule is
-- unchanged (the uuid in the third place is the sweep's).
ALTER TABLE dsr.audit_log ALTER COLUMN request_id DROP NOT NULL;
ALTER TABLE dsr.audit_log ADD COLUMN sweep_id uuid REFERENCES dsr.sweeps (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE dsr.audit_log ADD CONSTRAINT audit_log_names_one CHECK ((request_id IS NULL) <> (sweep_id IS NULL));
COMMENT ON COLUMN dsr.audit_log.request_id IS 'The erasure request (NULL for a sweep).';
COMMENT ON COLUMN dsr.audit_log.sweep_id IS 'The retention sweep (NULL for an erasure).';

CREATE FUNCTION dsr.append_sweep_audit(sweep uuid, proof_digest text, OUT seq bigint, OUT prev_hash text, OUT entry_hash text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = dsr, pg_temp AS $$
BEGIN
    LOCK TABLE dsr.audit_log IN EXCLUSIVE MODE;
    SELECT a.seq, a.prev_hash, a.entry_hash INTO seq, prev_hash, entry_hash
      FROM dsr.audit_log AS a WHERE a.sweep_id = sweep AND a.proof_sha256 = proof_digest;
    IF FOUND THEN
        RETURN;
    END IF;
    SELECT coalesce(max(a.seq), 0) + 1, coalesce((SELECT a2.entry_hash FROM dsr.audit_log a2 ORDER BY a2.seq DESC LIMIT 1), repeat('0', 64))
      INTO seq, prev_hash FROM dsr.audit_log AS a;
    entry_hash := dsr.audit_entry_hash(prev_hash, seq, sweep, proof_digest);
    INSERT INTO dsr.audit_log (seq, sweep_id, proof_sha256, prev_hash, entry_hash)
    VALUES (seq, sweep, proof_digest, prev_hash, entry_hash);
END $$;
COMMENT ON FUNCTION dsr.append_sweep_audit(uuid, text) IS 'Appends a sweep proof''s digest to the audit chain (idempotent per sweep and digest); call in the transaction that records the sweep.';

CREATE OR REPLACE FUNCTION dsr.verify_audit_chain() RETURNS TABLE (seq bigint, ok boolean, problem text)
LANGUAGE sql STABLE AS $$
    SELECT a.seq,
           a.prev_hash = coalesce(lag(a.entry_hash) OVER w, repeat('0', 64))
           AND a.entry_hash = dsr.audit_entry_hash(a.prev_hash, a.seq, coalesce(a.request_id, a.sweep_id), a.proof_sha256)
           AND a.seq = row_number() OVER w,
           CASE WHEN a.seq <> row_number() OVER w THEN 'gap in sequence'
                WHEN a.prev_hash <> coalesce(lag(a.entry_hash) OVER w, repeat('0', 64)) THEN 'does not link to the previous entry'
                WHEN a.entry_hash <> dsr.audit_entry_hash(a.prev_hash, a.seq, coalesce(a.request_id, a.sweep_id), a.proof_sha256)
                    THEN 'entry hash does not match its contents'
           END
      FROM dsr.audit_log AS a
    WINDOW w AS (ORDER BY a.seq)
$$;
COMMENT ON FUNCTION dsr.verify_audit_chain() IS 'Checks every link of the audit chain (deletion proofs and retention sweeps). Example: SELECT * FROM dsr.verify_audit_chain() WHERE NOT ok;';

-- dsrd's own copies of a person's identifiers are not kept for ever either: some time after
-- a request ended (retention.own_data_after, default a year) the daemon replaces them with
-- keyed hashes (computed in the daemon, like every keyed hash), and drops notice bodies and
-- manual-task details, keeping what the s.39 record needs: kind, dates, status, refusal
-- ground and reason, result counts, proofs.
ALTER TABLE dsr.requests ADD COLUMN pseudonymised_at timestamptz;
COMMENT ON COLUMN dsr.requests.pseudonymised_at IS 'When dsrd replaced the request''s identifiers with keyed hashes and dropped its notice bodies (retention.own_data_after after it ended).';
CREATE INDEX requests_to_pseudonymise ON dsr.requests (completed_at) WHERE pseudonymised_at IS NULL AND completed_at IS NOT NULL;
