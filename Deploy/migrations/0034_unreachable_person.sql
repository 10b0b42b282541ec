-- A notice for a person the request has no channel to (they gave only ids, and the stores
-- hold no email or mobile number for them) was dropped without a word: a refusal and its
-- reason reached nobody, and the DPO was not told. The DPO now hears which notice the person
-- could not be sent, to tell them another way. Not the acknowledgement: the request job takes
-- the contacts on file first, and tells the DPO itself when there are none.
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
            jsonb_build_object('kind', (SELECT q.kind FROM dsr.requests AS q WHERE q.id = request), 'notice', template,
                               'reason', variables ->> 'reason'));
    END IF;
    RETURN queued;
END $$;
COMMENT ON FUNCTION dsr.notify_subject(uuid, text, jsonb, text) IS 'Queues a notice to the person on each of the request''s channels; returns how many were new. A request with no channel tells the DPO instead (dpo_no_channel, naming the notice), except for the acknowledgement.';
