-- Wording found by a fresh user (stop 24): a breach whose risk is unlikely needs no PDPC
-- notification, so dsr.breach_status shows no PDPC deadline for it.

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
