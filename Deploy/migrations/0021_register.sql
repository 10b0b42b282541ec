-- The register of processing activities (PDPA s.39, issue 16): dsrd publishes one row per
-- store table of its mappings at start (what `dsrd ropa` writes as CSV or HTML), so operators
-- read the same register with psql; dsr.register puts it into Thai or English words.
-- The monthly DPO report (`dsrd report --email`) reaches the DPO through the outbox.

CREATE TABLE dsr.register_entries (
    store          text NOT NULL,
    table_name     text NOT NULL,
    position       integer NOT NULL CHECK (position > 0),
    store_type     text NOT NULL CHECK (store_type IN ('postgres', 'http', 'manual')),
    categories     text[] NOT NULL,
    purposes       text[] NOT NULL,
    recipients     text[] NOT NULL,
    transfers      jsonb NOT NULL CHECK (jsonb_typeof(transfers) = 'array'),
    retention      jsonb NOT NULL CHECK (jsonb_typeof(retention) = 'object'),
    lawful_basis   text[] NOT NULL,
    sources        text[] NOT NULL,
    words          jsonb NOT NULL CHECK (words ? 'th' AND words ? 'en'),
    changed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store, table_name)
);
COMMENT ON TABLE dsr.register_entries IS 'The register of processing activities (PDPA s.39) as the store mappings state it, one row per store table, written by dsrd run at start (rows of tables no longer mapped are removed). Codes here; dsr.register shows them in words. Same content as `dsrd ropa`.';
COMMENT ON COLUMN dsr.register_entries.store IS 'Store name (its mapping''s name).';
COMMENT ON COLUMN dsr.register_entries.table_name IS 'Table (or, in a manual store, set of records) as named in the mapping.';
COMMENT ON COLUMN dsr.register_entries.position IS 'The table''s place in its mapping (1, 2, ...).';
COMMENT ON COLUMN dsr.register_entries.store_type IS 'postgres, http or manual (paper, or records only a person can reach).';
COMMENT ON COLUMN dsr.register_entries.categories IS 'Data categories of its columns (personal, contact, account, identity_proof, transaction_financial, technical, other).';
COMMENT ON COLUMN dsr.register_entries.purposes IS 'Purpose codes (account_management, delivery, marketing, ... or the mapping''s own).';
COMMENT ON COLUMN dsr.register_entries.recipients IS 'Recipient codes (internal, payment_provider, logistics, marketing_provider, authorities, ... or the mapping''s own).';
COMMENT ON COLUMN dsr.register_entries.transfers IS 'Transfers abroad (PDPA s.28, s.29): [{"country": "US", "recipient": "marketing_provider", "safeguard": "..."}]; [] when none.';
COMMENT ON COLUMN dsr.register_entries.retention IS 'How long it is kept, in words: {"th": "...", "en": "..."} as the mapping states it.';
COMMENT ON COLUMN dsr.register_entries.lawful_basis IS 'Lawful basis codes (PDPA s.24, s.26: consent, contract, legal_obligation, legitimate_interest, ...); {} when the mapping states none.';
COMMENT ON COLUMN dsr.register_entries.sources IS 'Where the store''s data comes from (source codes).';
COMMENT ON COLUMN dsr.register_entries.words IS 'Every column in words, as dsr.register shows them: {"th": {"data_categories": "...", ...}, "en": {...}} (labels from the mapping or dsrd''s vocabulary).';
COMMENT ON COLUMN dsr.register_entries.changed_at IS 'When dsrd last published a change to this row (a mapping edited and a daemon started).';
GRANT SELECT ON dsr.register_entries TO dsr_operator;
GRANT SELECT, INSERT, UPDATE, DELETE ON dsr.register_entries TO dsr_daemon;

-- Words in the language of the session's dsr.locale setting: Thai unless SET dsr.locale = 'en'.
CREATE VIEW dsr.register AS
SELECT e.store, w ->> 'store_type' AS store_type, e.table_name, w ->> 'data_categories' AS data_categories,
       w ->> 'purposes' AS purposes, w ->> 'recipients' AS recipients, w ->> 'cross_border_transfers' AS cross_border_transfers,
       w ->> 'retention' AS retention, w ->> 'lawful_basis' AS lawful_basis, w ->> 'sources' AS sources, e.changed_at
  FROM dsr.register_entries AS e
 CROSS JOIN LATERAL (SELECT e.words -> (CASE WHEN current_setting('dsr.locale', true) = 'en' THEN 'en' ELSE 'th' END)) AS l (w)
 ORDER BY e.store, e.position;
COMMENT ON VIEW dsr.register IS 'The register of processing activities (PDPA s.39), one row per store table, in Thai; SET dsr.locale = ''en'' first for English. Published by dsrd run at start from the store mappings (the same rows as `dsrd ropa`). Example: SELECT store, table_name, lawful_basis, cross_border_transfers FROM dsr.register;';
COMMENT ON COLUMN dsr.register.store IS 'Store name.';
COMMENT ON COLUMN dsr.register.store_type IS 'How the data is kept: database, online service, or paper / by hand.';
COMMENT ON COLUMN dsr.register.table_name IS 'Table or set of records.';
COMMENT ON COLUMN dsr.register.data_categories IS 'Categories of personal data it holds.';
COMMENT ON COLUMN dsr.register.purposes IS 'Purposes of the processing.';
COMMENT ON COLUMN dsr.register.recipients IS 'Who receives the data.';
COMMENT ON COLUMN dsr.register.cross_border_transfers IS 'Transfers abroad: country, recipient, safeguard (PDPA s.28, s.29); none when there are none.';
COMMENT ON COLUMN dsr.register.retention IS 'How long it is kept.';
COMMENT ON COLUMN dsr.register.lawful_basis IS 'Lawful basis with its PDPA section; "not stated" when the mapping gives none.';
COMMENT ON COLUMN dsr.register.sources IS 'Where the data comes from.';
COMMENT ON COLUMN dsr.register.changed_at IS 'When this row last changed.';
GRANT SELECT ON dsr.register TO dsr_operator;

-- The monthly DPO report as an email: rendered by `dsrd report --email` (a text summary and
-- the whole report as the HTML part), queued once per month like any DPO notice.
CREATE FUNCTION dsr.queue_dpo_report(month text, subject text, body_text text, body_html text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = dsr, pg_temp AS $$
DECLARE
    notice_id bigint;
BEGIN
    IF month IS NULL OR month !~ '^[0-9]{4}-(0[1-9]|1[0-2])$' THEN
        RAISE EXCEPTION 'month must be YYYY-MM, e.g. 2026-11' USING ERRCODE = '22023';
    END IF;
    IF btrim(coalesce(subject, '')) = '' OR btrim(coalesce(body_text, '')) = '' OR body_html IS NULL THEN
        RAISE EXCEPTION 'a report needs a subject, a text body and an HTML body' USING ERRCODE = '22023';
    END IF;
    IF octet_length(body_html) > 2000000 OR octet_length(body_text) > 100000 OR length(subject) > 300 THEN
        RAISE EXCEPTION 'the report is too large for an email (HTML up to 2 MB, text up to 100 kB)' USING ERRCODE = '22023';
    END IF;
    INSERT INTO dsr.outbox AS o (idempotency_key, template, audience, channel, variables,
                                 rendered_subject, rendered_text, rendered_html)
    VALUES ('dpo:monthly-report:' || month, 'dpo_monthly_report', 'dpo', 'email',
            jsonb_build_object('month', month, 'queued_by', session_user), subject, body_text, body_html)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING o.id INTO notice_id;
    IF notice_id IS NOT NULL THEN
        INSERT INTO dsr.jobs (kind, payload, max_attempts) VALUES ('notice', jsonb_build_object('outbox_id', notice_id), 12);
    END IF;
    RETURN notice_id;
END $$;
COMMENT ON FUNCTION dsr.queue_dpo_report(text, text, text, text) IS 'Queues the monthly DPO report (dsrd report --email) as an email to notices.dpo_email: the subject and bodies as rendered, once per month (returns NULL when that month''s report was queued before). Example: dsrd report --month 2026-11 --email';
REVOKE EXECUTE ON FUNCTION dsr.queue_dpo_report(text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dsr.queue_dpo_report(text, text, text, text) TO dsr_operator, dsr_daemon;
