-- dsrd schema, part 1: rights requests as they arrive and as they end.
-- Applied by `dsrd migrate` inside one transaction; never edit a migration once released.

CREATE SCHEMA IF NOT EXISTS dsr;
COMMENT ON SCHEMA dsr IS 'dsrd: data-subject-rights requests, their jobs, outcomes and audit trail. Operators read the views; see README "Operating dsrd with psql".';

CREATE TABLE dsr.requests (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind            text NOT NULL CHECK (kind IN ('access', 'portability', 'erasure', 'rectification',
                                                  'restriction', 'objection', 'consent_withdrawal')),
    subject         jsonb NOT NULL CHECK (jsonb_typeof(subject) = 'object'),
    subject_email   text,
    subject_phone   text CHECK (subject_phone ~ '^\+[1-9][0-9]{6,14}$'),
    locale          text NOT NULL DEFAULT 'th' CHECK (locale IN ('th', 'en')),
    channels        text[] NOT NULL DEFAULT ARRAY['email'] CHECK (channels <@ ARRAY['email', 'sms']),
    status          text NOT NULL DEFAULT 'received'
                    CHECK (status IN ('received', 'in_progress', 'waiting', 'completed', 'refused', 'cancelled')),
    current_step    text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    due_at          timestamptz NOT NULL,
    completed_at    timestamptz,
    payload         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'),
    result          jsonb,
    refusal_reason  text,
    idempotency_key text UNIQUE,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (due_at > received_at),
    CHECK (status <> 'refused' OR refusal_reason IS NOT NULL),
    CHECK ((status IN ('completed', 'refused', 'cancelled')) = (completed_at IS NOT NULL))
);

CREATE INDEX requests_open_by_due ON dsr.requests (due_at)
    WHERE status NOT IN ('completed', 'refused', 'cancelled');
CREATE INDEX requests_by_email ON dsr.requests (subject_email) WHERE subject_email IS NOT NULL;
CREATE INDEX requests_by_phone ON dsr.requests (subject_phone) WHERE subject_phone IS NOT NULL;

COMMENT ON TABLE dsr.requests IS 'One row per data-subject-rights request (PDPA ss.30-36). Written by dsr.submit(); the daemon moves it through its statuses. Holds the identifiers needed to fulfil and answer the request.';
COMMENT ON COLUMN dsr.requests.id IS 'Request id, quoted to the person in every notice and used in logs instead of any personal data.';
COMMENT ON COLUMN dsr.requests.kind IS 'Right exercised: access, portability, erasure, rectification, restriction, objection or consent_withdrawal.';
COMMENT ON COLUMN dsr.requests.subject IS 'Identifiers as submitted (email, phone, customer_id, national_id, and for minors the guardian). Personal data: never log it.';
COMMENT ON COLUMN dsr.requests.subject_email IS 'Email from subject, trimmed and lower-cased, used to match stores and to send notices.';
COMMENT ON COLUMN dsr.requests.subject_phone IS 'Phone from subject normalised to E.164 (+66...), used to match stores and to send SMS.';
COMMENT ON COLUMN dsr.requests.locale IS 'Language of notices and export summaries: th (default) or en.';
COMMENT ON COLUMN dsr.requests.channels IS 'How the person wants to be told: email, sms, or both.';
COMMENT ON COLUMN dsr.requests.status IS 'received -> in_progress -> completed; or waiting (a store or the person must act), refused (with refusal_reason), cancelled.';
COMMENT ON COLUMN dsr.requests.current_step IS 'What the daemon is doing or waiting for, in words an operator can act on.';
COMMENT ON COLUMN dsr.requests.received_at IS 'When the company received the request; the legal clock starts here.';
COMMENT ON COLUMN dsr.requests.due_at IS 'Deadline for the answer: received_at plus the kind''s period in dsr.deadline_policy (30 days by default).';
COMMENT ON COLUMN dsr.requests.completed_at IS 'When the request ended (completed, refused or cancelled); NULL while open.';
COMMENT ON COLUMN dsr.requests.payload IS 'Kind-specific input: rectification changes, consent purposes, guardian evidence.';
COMMENT ON COLUMN dsr.requests.result IS 'Outcome: export path, size and manifest digest; deletion proof digest; per-store counts.';
COMMENT ON COLUMN dsr.requests.refusal_reason IS 'Why the request was refused (PDPA allows refusal only on stated grounds); sent to the person.';
COMMENT ON COLUMN dsr.requests.idempotency_key IS 'Optional caller key: submitting again with the same key returns the existing request.';
COMMENT ON COLUMN dsr.requests.updated_at IS 'Last change to this row.';

-- How long each kind may take. Operators may change a row; new requests use the new period.
CREATE TABLE dsr.deadline_policy (
    kind   text PRIMARY KEY,
    period interval NOT NULL CHECK (period > interval '0')
);
INSERT INTO dsr.deadline_policy (kind, period) VALUES
    ('access', '30 days'), ('portability', '30 days'), ('erasure', '30 days'),
    ('rectification', '30 days'), ('restriction', '30 days'), ('objection', '30 days'),
    ('consent_withdrawal', '30 days');
COMMENT ON TABLE dsr.deadline_policy IS 'Answer period per request kind. The seed policy promises 30 days for every right; change a row to shorten or (where the law allows) lengthen it for new requests.';
COMMENT ON COLUMN dsr.deadline_policy.kind IS 'Request kind.';
COMMENT ON COLUMN dsr.deadline_policy.period IS 'Time from received_at to due_at.';

-- Append-only trail of what happened to each request, for operators and the DPO.
CREATE TABLE dsr.request_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id uuid NOT NULL REFERENCES dsr.requests (id),
    at         timestamptz NOT NULL DEFAULT now(),
    step       text NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX request_events_by_request ON dsr.request_events (request_id, id);
COMMENT ON TABLE dsr.request_events IS 'Append-only history of each request: received, steps taken, outcome. Contains no personal data.';
COMMENT ON COLUMN dsr.request_events.id IS 'Order of events.';
COMMENT ON COLUMN dsr.request_events.request_id IS 'The request.';
COMMENT ON COLUMN dsr.request_events.at IS 'When it happened.';
COMMENT ON COLUMN dsr.request_events.step IS 'What happened, e.g. received, placeholder_step, completed.';
COMMENT ON COLUMN dsr.request_events.detail IS 'Counts, digests and job ids; never personal data.';
