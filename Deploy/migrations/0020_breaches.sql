-- Personal data breaches (PDPA s.37(4), issue 16): the record, the 72-hour clock to the PDPC
-- with DPO alarms at 24, 48 and 66 hours, the people affected (found by identity resolution)
-- and their notices, queued once each and spaced to a configured rate.

CREATE TABLE dsr.breaches (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    summary          text NOT NULL CHECK (btrim(summary) <> ''),
    categories       text[] NOT NULL DEFAULT '{}',
    systems          text[] NOT NULL DEFAULT '{}',
    became_aware_at  timestamptz NOT NULL,
    risk             text NOT NULL CHECK (risk IN ('unlikely', 'risk', 'high')),
    consequences     text NOT NULL DEFAULT '',
    measures         text NOT NULL DEFAULT '',
    reported_at      timestamptz NOT NULL DEFAULT now(),
    reported_by      text NOT NULL DEFAULT session_user,
    pdpc_notified_at timestamptz,
    pdpc_reference   text,
    late_reason      text,
    closed_at        timestamptz,
    CHECK ((pdpc_notified_at IS NULL) = (pdpc_reference IS NULL))
);
COMMENT ON TABLE dsr.breaches IS 'Personal data breaches (PDPA s.37(4)): what happened, when the company became aware, the risk, the measures, and when the PDPC was told. dsr.report_breach records one; dsr.breach_status shows the clock.';
COMMENT ON COLUMN dsr.breaches.id IS 'The breach number.';
COMMENT ON COLUMN dsr.breaches.summary IS 'What happened, in words the PDPC and the people affected can read.';
COMMENT ON COLUMN dsr.breaches.categories IS 'Categories of personal data affected (contact, identity_proof, transaction_financial, ...).';
COMMENT ON COLUMN dsr.breaches.systems IS 'Systems or stores affected.';
COMMENT ON COLUMN dsr.breaches.became_aware_at IS 'When the company became aware: the 72 hours to the PDPC count from here.';
COMMENT ON COLUMN dsr.breaches.risk IS 'unlikely (to result in a risk: no PDPC notification needed, record kept), risk (tell the PDPC), high (tell the PDPC and the people affected).';
COMMENT ON COLUMN dsr.breaches.consequences IS 'Likely consequences for the people affected.';
COMMENT ON COLUMN dsr.breaches.measures IS 'Measures taken or proposed, including what people can do to protect themselves.';
COMMENT ON COLUMN dsr.breaches.reported_at IS 'When it was recorded in dsrd.';
COMMENT ON COLUMN dsr.breaches.reported_by IS 'The login role that recorded it.';
COMMENT ON COLUMN dsr.breaches.pdpc_notified_at IS 'When the PDPC was notified (dsr.record_pdpc_notification); the alarms stop.';
COMMENT ON COLUMN dsr.breaches.pdpc_reference IS 'The PDPC''s reference for the notification.';
COMMENT ON COLUMN dsr.breaches.late_reason IS 'Why the PDPC was told after 72 hours (s.37(4) asks for the reasons).';
COMMENT ON COLUMN dsr.breaches.closed_at IS 'When the DPO closed the matter.';
GRANT SELECT ON dsr.breaches TO dsr_operator;

CREATE TABLE dsr.breach_subjects (
    breach_id bigint NOT NULL REFERENCES dsr.breaches (id),
    person    integer NOT NULL,
    identity  jsonb NOT NULL,
    email     text,
    phone     text,
    locale    text NOT NULL DEFAULT 'th' CHECK (locale IN ('th', 'en')),
    found_by  text NOT NULL,
    added_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (breach_id, person),
    UNIQUE (breach_id, identity)
);
COMMENT ON TABLE dsr.breach_subjects IS 'The people a breach affects, one row each, found by identity resolution across the stores (dsrd breach affected). Personal data.';
COMMENT ON COLUMN dsr.breach_subjects.breach_id IS 'The breach.';
COMMENT ON COLUMN dsr.breach_subjects.person IS 'Number of the person within the breach (1, 2, ... in the order found).';
COMMENT ON COLUMN dsr.breach_subjects.identity IS 'Every identifier the stores hold for the person (as dsr.requests.identities).';
COMMENT ON COLUMN dsr.breach_subjects.email IS 'Where the notice goes by email (first email on file), if any.';
COMMENT ON COLUMN dsr.breach_subjects.phone IS 'Where it goes by SMS when there is no email.';
COMMENT ON COLUMN dsr.breach_subjects.locale IS 'The notice''s language.';
COMMENT ON COLUMN dsr.breach_subjects.found_by IS 'How the person was found: an identifier list, or a query on a store.';
COMMENT ON COLUMN dsr.breach_subjects.added_at IS 'When the person was added.';
GRANT SELECT ON dsr.breach_subjects TO dsr_operator;

CREATE FUNCTION dsr.report_breach(
    summary text, categories text[], systems text[], became_aware_at timestamptz, risk text,
    consequences text DEFAULT '', measures text DEFAULT ''
) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = dsr, pg_temp AS $$
DECLARE
    breach bigint;
BEGIN
    IF became_aware_at IS NULL OR became_aware_at > now() + interval '5 minutes' THEN
        RAISE EXCEPTION 'became_aware_at must be when the company became aware (not in the future)' USING ERRCODE = '22023';
    END IF;
    IF risk IS NULL OR risk NOT IN ('unlikely', 'risk', 'high') THEN
        RAISE EXCEPTION 'risk is unlikely, risk or high (high: the people affected must be told too)' USING ERRCODE = '22023';
    END IF;
    INSERT INTO dsr.breaches (summary, categories, systems, became_aware_at, risk, consequences, measures)
    VALUES (summary, coalesce(categories, '{}'), coalesce(systems, '{}'), became_aware_at, risk,
            coalesce(consequences, ''), coalesce(measures, ''))
    RETURNING id INTO breach;
    PERFORM dsr.notify_dpo('breach:' || breach || ':reported', NULL, 'dpo_breach_reported',
        jsonb_build_object('breach_id', breach, 'summary', left(report_breach.summary, 500), 'risk', report_breach.risk,
                           'became_aware_at', report_breach.became_aware_at,
                           'deadline', report_breach.became_aware_at + interval '72 hours', 'reported_by', session_user));
    RETURN breach;
END $$;
COMMENT ON FUNCTION dsr.report_breach(text, text[], text[], timestamptz, text, text, text) IS 'Records a personal data breach and tells the DPO; unless the risk is unlikely, alarms follow at 24, 48 and 66 hours until dsr.record_pdpc_notification. Example: SELECT dsr.report_breach(''Laptop with a customer export stolen'', ARRAY[''contact''], ARRAY[''customer''], ''2026-11-26 09:00+07'', ''high'', ''phishing emails'', ''disk encrypted; passwords reset'');';

CREATE FUNCTION dsr.record_pdpc_notification(breach bigint, reference text, late_reason text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = dsr, pg_temp AS $$
DECLARE
    b dsr.breaches;
BEGIN
    SELECT * INTO b FROM dsr.breaches WHERE id = breach FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'there is no breach %', breach USING ERRCODE = '22023';
    END IF;
    IF reference IS NULL OR btrim(reference) = '' THEN
        RAISE EXCEPTION 'the PDPC''s reference for the notification is required' USING ERRCODE = '22023';
    END IF;
    IF b.pdpc_notified_at IS NOT NULL THEN
        RAISE EXCEPTION 'breach % was notified on % (reference %)', breach, b.pdpc_notified_at, b.pdpc_reference USING ERRCODE = '55000';
    END IF;
    IF now() > b.became_aware_at + interval '72 hours' AND btrim(coalesce(late_reason, '')) = '' THEN
        RAISE EXCEPTION 'more than 72 hours since the company became aware: PDPA s.37(4) asks for the reasons of the delay (late_reason)'
            USING ERRCODE = '22023';
    END IF;
    UPDATE dsr.breaches SET pdpc_notified_at = now(), pdpc_reference = btrim(reference),
           late_reason = nullif(btrim(record_pdpc_notification.late_reason), '')
     WHERE id = breach;
    RETURN 'breach ' || breach || ': PDPC notification recorded; the alarms stop';
END $$;
COMMENT ON FUNCTION dsr.record_pdpc_notification(bigint, text, text) IS 'Records that the PDPC was notified of a breach (its reference); after 72 hours a late_reason is required. Example: SELECT dsr.record_pdpc_notification(3, ''PDPC-2026-0042'');';

-- The DPO is alarmed at 24, 48 and 66 hours after awareness until the PDPC notification is
-- recorded (breaches whose risk is unlikely need none). Each alarm once: keyed.
CREATE FUNCTION dsr.scan_breaches(at timestamptz DEFAULT now(), alarm_hours integer[] DEFAULT ARRAY[24, 48, 66]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    queued integer := 0;
    b record;
    hours integer;
BEGIN
    FOR b IN SELECT * FROM dsr.breaches
              WHERE pdpc_notified_at IS NULL AND closed_at IS NULL AND risk <> 'unlikely'
                AND at >= became_aware_at + make_interval(hours => (SELECT min(h) FROM unnest(alarm_hours) AS h)) LOOP
        FOREACH hours IN ARRAY alarm_hours LOOP
            IF at >= b.became_aware_at + make_interval(hours => hours)
               AND dsr.notify_dpo('breach:' || b.id || ':alarm:' || hours, NULL, 'dpo_breach_alarm',
                       jsonb_build_object('breach_id', b.id, 'hours', hours, 'hours_left', 72 - hours,
                                          'summary', left(b.summary, 500), 'risk', b.risk,
                                          'deadline', b.became_aware_at + interval '72 hours')) IS NOT NULL THEN
                queued := queued + 1;
            END IF;
        END LOOP;
    END LOOP;
    RETURN queued;
END $$;
COMMENT ON FUNCTION dsr.scan_breaches(timestamptz, integer[]) IS 'Queues the DPO''s breach alarms (24, 48 and 66 hours after awareness) for breaches the PDPC has not been told of, each once; returns how many were new. Run by the deadline scan.';

-- People affected, added in batches by `dsrd breach affected` (duplicates ignored).
CREATE FUNCTION dsr.add_breach_subjects(breach bigint, people jsonb, found_by text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    added integer;
    last integer;
BEGIN
    PERFORM 1 FROM dsr.breaches WHERE id = breach FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'there is no breach %', breach USING ERRCODE = '22023';
    END IF;
    SELECT coalesce(max(person), 0) INTO last FROM dsr.breach_subjects WHERE breach_id = breach;
    WITH fresh AS (
        SELECT DISTINCT ON (p.value -> 'identity') p.value AS person, p.ordinality
          FROM jsonb_array_elements(people) WITH ORDINALITY AS p
         WHERE NOT EXISTS (SELECT 1 FROM dsr.breach_subjects AS s
                            WHERE s.breach_id = breach AND s.identity = p.value -> 'identity')
         ORDER BY p.value -> 'identity', p.ordinality
    )
    INSERT INTO dsr.breach_subjects (breach_id, person, identity, email, phone, locale, found_by)
    SELECT breach, last + row_number() OVER (ORDER BY ordinality), person -> 'identity', person ->> 'email',
           person ->> 'phone', coalesce(person ->> 'locale', 'th'), found_by
      FROM fresh
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS added = ROW_COUNT;
    RETURN added;
END $$;
COMMENT ON FUNCTION dsr.add_breach_subjects(bigint, jsonb, text) IS 'Adds people affected by a breach ([{identity, email, phone, locale}]), skipping those already added; returns how many were new.';

-- Notices to the people affected by a high-risk breach: one per person (email, else SMS),
-- keyed so a repeat queues nothing twice, their jobs spaced 60/per_minute seconds apart after
-- the last one already scheduled, so they go out at that rate and resume after any crash.
CREATE FUNCTION dsr.notify_breach_subjects(breach bigint, per_minute integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = dsr, pg_temp AS $$
DECLARE
    b dsr.breaches;
    start timestamptz;
    queued integer;
BEGIN
    SELECT * INTO b FROM dsr.breaches WHERE id = breach FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'there is no breach %', breach USING ERRCODE = '22023';
    END IF;
    IF b.risk <> 'high' THEN
        RAISE EXCEPTION 'breach % is recorded as risk %: PDPA s.37(4) asks to tell people only of a high risk (UPDATE its risk first if it is)',
            breach, b.risk USING ERRCODE = '55000';
    END IF;
    IF per_minute IS NULL OR per_minute < 1 THEN
        RAISE EXCEPTION 'per_minute must be at least 1' USING ERRCODE = '22023';
    END IF;
    SELECT greatest(now(), max(j.run_at)) INTO start
      FROM dsr.outbox AS o JOIN dsr.jobs AS j ON j.kind = 'notice' AND (j.payload ->> 'outbox_id')::bigint = o.id
     WHERE o.idempotency_key LIKE 'breach:' || breach || ':%';
    start := coalesce(start, now());
    WITH todo AS (
        SELECT s.*, row_number() OVER (ORDER BY s.person) AS n
          FROM dsr.breach_subjects AS s
         WHERE s.breach_id = breach AND (s.email IS NOT NULL OR s.phone IS NOT NULL)
           AND NOT EXISTS (SELECT 1 FROM dsr.outbox AS o WHERE o.idempotency_key = 'breach:' || breach || ':' || s.person)
    ), queued_rows AS (
        INSERT INTO dsr.outbox (idempotency_key, request_id, template, audience, channel, locale, recipient, variables)
        SELECT 'breach:' || breach || ':' || t.person, NULL, 'breach_notice', 'subject',
               CASE WHEN t.email IS NOT NULL THEN 'email' ELSE 'sms' END, t.locale, coalesce(t.email, t.phone),
               jsonb_build_object('breach_id', breach, 'summary', b.summary, 'consequences', b.consequences,
                                  'measures', b.measures, 'became_aware_at', b.became_aware_at,
                                  'categories', array_to_string(b.categories, ', '), 'order', t.n)
          FROM todo AS t
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id, (variables ->> 'order')::bigint AS n
    )
    INSERT INTO dsr.jobs (kind, payload, max_attempts, run_at)
    SELECT 'notice', jsonb_build_object('outbox_id', q.id), 12, start + (q.n - 1) * (60.0 / per_minute) * interval '1 second'
      FROM queued_rows AS q;
    GET DIAGNOSTICS queued = ROW_COUNT;
    PERFORM pg_notify('dsr_jobs', '');
    RETURN queued;
END $$;
COMMENT ON FUNCTION dsr.notify_breach_subjects(bigint, integer) IS 'Queues the breach notice (template breach_notice) to every person affected by a high-risk breach not yet told, by email or else SMS, spaced to per_minute; a repeat queues only people added since. Example: SELECT dsr.notify_breach_subjects(3, 600);';

CREATE VIEW dsr.breach_status AS
SELECT b.id, b.risk, left(b.summary, 80) AS summary, b.became_aware_at,
       b.became_aware_at + interval '72 hours' AS pdpc_deadline,
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
COMMENT ON VIEW dsr.breach_status IS 'One row per breach: the 72-hour clock to the PDPC (hours left until it is notified), the people affected and the notices to them (queued, sent, failed). Example: SELECT * FROM dsr.breach_status;';
COMMENT ON COLUMN dsr.breach_status.id IS 'The breach.';
COMMENT ON COLUMN dsr.breach_status.risk IS 'unlikely, risk or high.';
COMMENT ON COLUMN dsr.breach_status.summary IS 'What happened (first 80 characters).';
COMMENT ON COLUMN dsr.breach_status.became_aware_at IS 'When the company became aware.';
COMMENT ON COLUMN dsr.breach_status.pdpc_deadline IS 'Awareness plus 72 hours.';
COMMENT ON COLUMN dsr.breach_status.hours_left IS 'Hours until the PDPC deadline while it is not notified (negative: late).';
COMMENT ON COLUMN dsr.breach_status.pdpc_notified_at IS 'When the PDPC was notified.';
COMMENT ON COLUMN dsr.breach_status.pdpc_reference IS 'The PDPC''s reference.';
COMMENT ON COLUMN dsr.breach_status.people IS 'People found affected.';
COMMENT ON COLUMN dsr.breach_status.notices_queued IS 'Notices to them queued.';
COMMENT ON COLUMN dsr.breach_status.notices_sent IS 'Of those, sent.';
COMMENT ON COLUMN dsr.breach_status.notices_failed IS 'Of those, failed or in doubt (see dsr.notices).';
COMMENT ON COLUMN dsr.breach_status.last_notice_at IS 'When the last one was sent.';
GRANT SELECT ON dsr.breach_status TO dsr_operator;

REVOKE EXECUTE ON FUNCTION dsr.report_breach(text, text[], text[], timestamptz, text, text, text),
    dsr.record_pdpc_notification(bigint, text, text), dsr.notify_breach_subjects(bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dsr.report_breach(text, text[], text[], timestamptz, text, text, text),
    dsr.record_pdpc_notification(bigint, text, text), dsr.notify_breach_subjects(bigint, integer) TO dsr_operator, dsr_daemon;
