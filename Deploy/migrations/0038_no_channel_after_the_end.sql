-- The DPO's "no way to reach the person" notice offered dsr.verify_identity and
-- dsr.refuse_request for requests that had already ended (the answer or the refusal was the
-- notice that could not be sent): both would be refused. The notice now says whether the
-- request has ended (`request_ended`), and the template offers those steps only while it has
-- not.
CREATE OR REPLACE FUNCTION dsr.notify_subject(request uuid, template text, variables jsonb DEFAULT '{}', key_suffix text DEFAULT '')
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    channel text;
    queued integer := 0;
    reachable boolean := false;
BEGIN
    FOR channel IN SELECT unnest(r.channels) FROM dsr.requests AS r WHERE r.id = request LOOP
        reachable := true;
        IF dsr.enqueue_notice('request:' || request || ':' || template || key_suffix || ':' || channel,
                              request, template, 'subject', channel, variables) IS NOT NULL THEN
            queued := queued + 1;
        END IF;
    END LOOP;
    IF NOT reachable AND template <> 'received' THEN
        PERFORM dsr.notify_dpo('no-channel:' || request || ':' || template || key_suffix, request, 'dpo_no_channel',
            (SELECT jsonb_build_object('kind', q.kind, 'notice', template, 'reason', variables ->> 'reason',
                                       'request_ended', q.completed_at IS NOT NULL)
               FROM dsr.requests AS q WHERE q.id = request));
    END IF;
    RETURN queued;
END $$;
COMMENT ON FUNCTION dsr.notify_subject(uuid, text, jsonb, text) IS 'Queues a notice to the person on each of the request''s channels; returns how many were new. A request with no channel tells the DPO instead (dpo_no_channel, naming the notice and whether the request has ended), except for the acknowledgement.';
