-- An erasure commits before its own check (is anything of the person left?) runs. When that
-- check fails, the plan recorded for the attempt describes what was committed, but the next
-- attempt, after someone mended the mapping or the store, may do something else. Such a plan
-- now moves to committed_plans, and the next attempt records its own: the proof states what
-- each committed attempt did, instead of repeating the first attempt's plan.
ALTER TABLE dsr.request_tasks ADD COLUMN committed_plans jsonb;
COMMENT ON COLUMN dsr.request_tasks.committed_plans IS 'Erasure: the plans (as in plan) of earlier attempts that committed and then failed the post-erasure check, oldest first; NULL when there were none. The deletion proof lists them apart (earlier_attempts); rows they deleted count in the result''s rows_deleted. No personal data.';
