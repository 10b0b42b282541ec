-- dsr.append_audit (and dsr.append_sweep_audit) first look for an entry already appended for
-- the request (or sweep) with the same proof, so that a re-run lands on the same position.
-- That lookup read the whole chain, under the EXCLUSIVE lock every append takes: the chain
-- gains an entry per erasure and is kept for ever, so every erasure's append grew slower with
-- the years and held every other append meanwhile. These indexes serve it.
CREATE INDEX audit_log_by_request ON dsr.audit_log (request_id, proof_sha256) WHERE request_id IS NOT NULL;
COMMENT ON INDEX dsr.audit_log_by_request IS 'Finds a request''s audit entry (dsr.append_audit: a re-run of an erasure lands on the entry it appended before) without reading the chain.';
CREATE INDEX audit_log_by_sweep ON dsr.audit_log (sweep_id, proof_sha256) WHERE sweep_id IS NOT NULL;
COMMENT ON INDEX dsr.audit_log_by_sweep IS 'Finds a retention sweep''s audit entry (dsr.append_sweep_audit) without reading the chain.';
