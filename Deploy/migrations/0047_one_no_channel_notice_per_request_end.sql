-- A request with no way to reach the person told the DPO twice when it ended at once: once
-- when no contact was found on file (dsr.adopt_contacts: "somebody must answer the person
-- another way", with the steps to verify or refuse it), and again when its answer or refusal
-- could not be sent. The first notice, still unsent, offered steps the ended request would
-- refuse. Now a notice of the end takes the place of the no-channel notice queued in the same
-- transaction: the DPO gets one email, saying what could not be sent and that the request has
-- ended. A request that ends later (its answer, a refusal after days) still tells the DPO
-- twice, as each notice was true when it was queued.
CREATE OR REPLACE FUNCTION dsr.notify_subject(request uuid, template text, variables jsonb DEFAULT '{}', key_suffix text DEFAULT '')
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    channel text;
    queued integer := 0;
    reachable boolean := false;
    details jsonb;
BEGIN
    FOR channel IN SELECT unnest(r.channels) FROM dsr.requests AS r WHERE r.id = request LOOP
        reachable := true;
        IF dsr.enqueue_notice('request:' || request || ':' || template || key_suffix || ':' || channel,
                              request, template, 'subject', channel, variables) IS NOT NULL THEN
            queued := queued + 1;
        END IF;
    END LOOP;
    IF NOT reachable AND template <> 'received' THEN
        SELECT jsonb_build_object('kind', q.kind, 'notice', template, 'reason', variables ->> 'reason',
                                  'request_ended', q.completed_at IS NOT NULL)
          INTO details FROM dsr.requests AS q WHERE q.id = request;
        UPDATE dsr.outbox AS o SET variables = details
         WHERE o.idempotency_key = 'dpo:no-channel:' || request AND o.state = 'pending' AND o.send_attempts = 0
           AND o.created_at = now();  -- queued by this transaction: the request ends as it learns it has no contact
        IF NOT FOUND THEN
            PERFORM dsr.notify_dpo('no-channel:' || request || ':' || template || key_suffix, request, 'dpo_no_channel', details);
        END IF;
    END IF;
    RETURN queued;
END $$;
COMMENT ON FUNCTION dsr.notify_subject(uuid, text, jsonb, text) IS 'Queues a notice to the person on each of the request''s channels; returns how many were new. A request with no channel tells the DPO instead (dpo_no_channel, naming the notice and whether the request has ended), except for the acknowledgement; a no-channel notice the same transaction queued is brought up to date instead of a second one.';
