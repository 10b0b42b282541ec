-- What the privacy portal (dsrd portal) needs from the database: rate limits that several
-- portal processes share, one-time download links, and a status read that holds no
-- personal data.

CREATE TABLE dsr.rate_limits (
    bucket       bytea NOT NULL,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
COMMENT ON TABLE dsr.rate_limits IS 'Hits per bucket and fixed window, shared by every portal process. bucket is sha256 of what is limited (an IP address, an identifier), never the value.';
COMMENT ON COLUMN dsr.rate_limits.bucket IS 'sha256 of the limited thing, e.g. ''submit-ip:127.0.0.1''.';
COMMENT ON COLUMN dsr.rate_limits.window_start IS 'Start of the fixed window the hits count in.';
COMMENT ON COLUMN dsr.rate_limits.hits IS 'Hits in the window, allowed or not.';

CREATE FUNCTION dsr.rate_limit_hit(bucket text, max_hits integer, per interval) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz := date_bin(per, now(), timestamptz '2000-01-01 00:00:00+00');
    counted integer;
BEGIN
    INSERT INTO dsr.rate_limits AS l (bucket, window_start, hits)
    VALUES (sha256(convert_to(rate_limit_hit.bucket, 'UTF8')), started, 1)
    ON CONFLICT ON CONSTRAINT rate_limits_pkey DO UPDATE SET hits = l.hits + 1
    RETURNING l.hits INTO counted;
    IF counted = 1 THEN
        DELETE FROM dsr.rate_limits AS l WHERE l.window_start < now() - interval '2 days';
    END IF;
    RETURN counted <= max_hits;
END $$;
COMMENT ON FUNCTION dsr.rate_limit_hit(text, integer, interval) IS 'Counts one hit for bucket in the current window of length per; true while the window has at most max_hits. Windows older than 2 days are dropped.';

CREATE TABLE dsr.download_links (
    token_hash  bytea PRIMARY KEY,
    request_id  uuid NOT NULL REFERENCES dsr.requests (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX download_links_request ON dsr.download_links (request_id);
COMMENT ON TABLE dsr.download_links IS 'One-time links to download an export: 128-bit random tokens, only their sha256 kept; a link works once, before expires_at.';
COMMENT ON COLUMN dsr.download_links.token_hash IS 'sha256 of the token in the link; the token itself is never stored.';
COMMENT ON COLUMN dsr.download_links.request_id IS 'The access or portability request whose export the link downloads.';
COMMENT ON COLUMN dsr.download_links.created_at IS 'When the person asked for the link (status page).';
COMMENT ON COLUMN dsr.download_links.expires_at IS 'After this the link no longer works (portal.download_link_valid_for).';
COMMENT ON COLUMN dsr.download_links.used_at IS 'When the download started; a used link is refused.';

-- Whether an export can be downloaded now: completed, with a file, not deleted, not yet delivered.
CREATE FUNCTION dsr.download_state(request uuid) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN r.kind NOT IN ('access', 'portability') OR r.status <> 'completed'
                     OR r.result ->> 'export_file' IS NULL THEN 'none'
                WHEN r.export_deleted_at IS NOT NULL THEN 'deleted'
                WHEN r.delivered_at IS NOT NULL THEN 'delivered'
                ELSE 'ready' END
      FROM dsr.requests AS r WHERE r.id = request
$$;
COMMENT ON FUNCTION dsr.download_state(uuid) IS 'none (not an export, or not completed), ready, delivered (downloaded once; dsr.allow_another_download lets the person download again) or deleted.';

CREATE FUNCTION dsr.issue_download_link(request uuid, token_hash bytea, valid_for interval) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text := dsr.download_state(request);
BEGIN
    IF state IS DISTINCT FROM 'ready' THEN
        RETURN coalesce(state, 'none');
    END IF;
    INSERT INTO dsr.download_links (token_hash, request_id, expires_at) VALUES (token_hash, request, now() + valid_for);
    INSERT INTO dsr.request_events (request_id, step) VALUES (request, 'download_link_issued');
    RETURN 'issued';
END $$;
COMMENT ON FUNCTION dsr.issue_download_link(uuid, bytea, interval) IS 'Records a one-time download link (its token''s sha256) for a ready export; returns issued, or the download state that prevents it.';

CREATE FUNCTION dsr.claim_download(token_hash bytea) RETURNS TABLE (request_id uuid, export_file text)
LANGUAGE plpgsql AS $$
DECLARE
    link dsr.download_links%ROWTYPE;
BEGIN
    UPDATE dsr.download_links AS l SET used_at = now()
     WHERE l.token_hash = claim_download.token_hash AND l.used_at IS NULL AND l.expires_at > now()
       AND dsr.download_state(l.request_id) = 'ready'
    RETURNING l.* INTO link;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    PERFORM dsr.mark_delivered(link.request_id);
    RETURN QUERY SELECT r.id, r.result ->> 'export_file' FROM dsr.requests AS r WHERE r.id = link.request_id;
END $$;
COMMENT ON FUNCTION dsr.claim_download(bytea) IS 'Uses a download link: when it is unused, unexpired and the export ready, marks it used and the request delivered, and returns the export file; otherwise no row.';

CREATE FUNCTION dsr.allow_another_download(request uuid, reason text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF reason IS NULL OR length(btrim(reason)) < 3 THEN
        RAISE EXCEPTION 'say why the person may download again' USING ERRCODE = '22023';
    END IF;
    UPDATE dsr.requests SET delivered_at = NULL WHERE id = request AND delivered_at IS NOT NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'request % has not been downloaded', request USING ERRCODE = '55000';
    END IF;
    INSERT INTO dsr.request_events (request_id, step, detail) VALUES (request, 'download_allowed_again', jsonb_build_object('reason', reason));
END $$;
COMMENT ON FUNCTION dsr.allow_another_download(uuid, text) IS 'Lets the person download their export once more (the first download failed, or they lost the file); the first delivery stays in the request''s events.';

-- The status page: what the person may see, no personal data.
CREATE FUNCTION dsr.portal_status(request uuid)
RETURNS TABLE (kind text, status text, locale text, received_at timestamptz, due_at timestamptz,
               completed_at timestamptz, hold_reason text, refusal_reason text, download text, delivered_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT r.kind, r.status, r.locale, r.received_at, r.due_at, r.completed_at, r.hold_reason, r.refusal_reason,
           dsr.download_state(r.id), r.delivered_at
      FROM dsr.requests AS r WHERE r.id = request
$$;
COMMENT ON FUNCTION dsr.portal_status(uuid) IS 'What the portal''s status page shows for a request: kind, status, dates, why it waits, the refusal reason, and whether its export can be downloaded.';
