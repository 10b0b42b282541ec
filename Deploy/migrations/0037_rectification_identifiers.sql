-- A request that finds nobody looks for the person's completed correction that knew one of
-- its identifiers (an email since corrected away): through this index, not by computing every
-- request's identifiers.
CREATE INDEX requests_rectification_identifiers ON dsr.requests USING gin (dsr.strong_identifiers(identities))
    WHERE kind = 'rectification';
