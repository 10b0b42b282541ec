-- Every request's planning looks for the same person's other requests through these GIN
-- indexes (dsr.conflicting_request), and every update of a request row that is not HOT adds
-- its identifiers to them. With GIN's fast update, those additions pile up in a pending list
-- (up to gin_pending_list_limit, 4 MB) that every lookup reads whole until a vacuum empties
-- it: on a busy queue each lookup came to read hundreds of pages. A request has a handful of
-- identifiers, so adding them to the index directly costs little; lookups then read only the
-- index. The lists already pending are emptied here.
ALTER INDEX dsr.requests_export_identifiers SET (fastupdate = off);
ALTER INDEX dsr.requests_erasure_identifiers SET (fastupdate = off);
ALTER INDEX dsr.requests_rectification_identifiers SET (fastupdate = off);
ALTER INDEX dsr.requests_restriction_identifiers SET (fastupdate = off);
SELECT gin_clean_pending_list('dsr.requests_export_identifiers'::regclass);
SELECT gin_clean_pending_list('dsr.requests_erasure_identifiers'::regclass);
SELECT gin_clean_pending_list('dsr.requests_rectification_identifiers'::regclass);
SELECT gin_clean_pending_list('dsr.requests_restriction_identifiers'::regclass);
COMMENT ON INDEX dsr.requests_export_identifiers IS 'Access and portability requests by strong identifier (dsr.strong_identifiers): an erasure finds the person''s exports, and waits for one of them in progress. No pending list (fastupdate off, 0046).';
COMMENT ON INDEX dsr.requests_erasure_identifiers IS 'Erasures by strong identifier: an access, portability or rectification request of the same person waits for one in progress, and a correction after it is refused. No pending list (fastupdate off, 0046).';
COMMENT ON INDEX dsr.requests_rectification_identifiers IS 'Rectifications by strong identifier: an erasure of the same person waits for one in progress. No pending list (fastupdate off, 0046).';
COMMENT ON INDEX dsr.requests_restriction_identifiers IS 'Restriction, rectification and objection requests by strong identifier: the person''s other requests that restrict (dsr.deciding_request, dsr.restriction_in_force). No pending list (fastupdate off, 0046).';
