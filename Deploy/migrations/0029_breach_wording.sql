-- Wording found by a fresh user (stop 24): a breach whose risk is unlikely needs no PDPC
-- notification, so dsr.breach_status shows no PDPC deadline for it; dsr.close_breach names the
-- risk it refuses for.

CREATE OR REPLACE VIEW dsr.breach_status AS
SELECT b.id, b.risk, left(b.summary, 80) AS summary, b.became_aware_at,
       CASE WHEN b.risk <> 'unlikely' THEN b.became_aware_at + interval '72 hours' END AS pdpc_deadline,
       CASE WHEN b.pdpc_notified_at IS NULL AND b.risk <> 'unlikely'
            THEN round(extract(epoch FROM b.became_aware_at + interval '72 hours' - now()) / 3600, 1) END AS hours_left,
       b.pdpc_notified_at, b.pdpc_reference,
       (SELECT count(*) FROM dsr.breach_subjects AS s WHERE s.breach_id = b.id) AS people,
       count(o.id) AS notices_queued,
       count(o.id) FILTER (WHERE o.state = 'sent') AS notices_sent,
       count(o.id) FILTER (WHERE o.state IN ('failed', 'in_doubt')) AS notices_failed,
       max(o.sent_at) AS last_notice_at
  FROM dsr.breaches AS b
  LEFT JOIN dsr.outbox AS o ON o.idempotency_key LIKE 'breach:' || b.id || ':%' AND o.template = 'breach_notice'
 GROUP BY b.id
 ORDER BY b.id DESC;
COMMENT ON COLUMN dsr.breach_status.pdpc_deadline IS 'Awareness plus 72 hours; NULL when the risk is unlikely (no PDPC notification needed).';

CREATE OR REPLACE FUNCTION dsr.close_breach(breach bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = dsr, pg_temp AS $$
DECLARE
    b dsr.breaches;
BEGIN
    SELECT * INTO b FROM dsr.breaches WHERE id = breach FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'there is no breach %', breach USING ERRCODE = '22023';
    END IF;
    IF b.closed_at IS NOT NULL THEN
        RETURN 'breach ' || breach || ' was closed on ' || b.closed_at;
    END IF;
    IF b.risk <> 'unlikely' AND b.pdpc_notified_at IS NULL THEN
        RAISE EXCEPTION 'breach % (risk: %) must be notified to the PDPC before it is closed', breach, b.risk
            USING ERRCODE = '55000', HINT = 'Record the notification first: SELECT dsr.record_pdpc_notification(' || breach || ', reference);';
    END IF;
    IF EXISTS (SELECT 1 FROM dsr.outbox WHERE idempotency_key LIKE 'breach:' || breach || ':%' AND state IN ('pending', 'sending')) THEN
        RAISE EXCEPTION 'notices to the people breach % affects are still being sent', breach
            USING ERRCODE = '55000', HINT = 'See SELECT * FROM dsr.breach_status;';
    END IF;
    UPDATE dsr.breaches SET closed_at = now() WHERE id = breach;
    RETURN 'breach ' || breach || ' closed; the people it affected are pseudonymised after retention.own_data_after';
END $$;
