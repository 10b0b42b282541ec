-- A store task that the store refuses for good stops (its job dead, the DPO told by
-- dsr.report_dead_job). Recording it through dsr.task_failed also sent, from the third
-- failure, "requests that need it are waiting and are retried": untrue once it has stopped.
CREATE FUNCTION dsr.task_stopped(request uuid, task_store text, error text) RETURNS void
LANGUAGE sql AS $$
    UPDATE dsr.request_tasks SET state = 'waiting', failures = failures + 1, last_error = left(error, 1000)
     WHERE request_id = request AND store = task_store AND state <> 'done';
    UPDATE dsr.requests SET status = 'waiting', updated_at = now(),
           current_step = left('stopped: store ' || task_store || ' refuses what dsrd asks (see the DPO''s notice; dsr.retry_job once mended): ' || error, 300)
     WHERE id = request AND completed_at IS NULL AND status <> 'awaiting_verification';
$$;
COMMENT ON FUNCTION dsr.task_stopped(uuid, text, text) IS 'Records a store task the store refuses for good: the request shows as stopped at that store until its job is retried (dsr.retry_job); unlike dsr.task_failed it sends no "retried" alert, the dead job''s notice tells the DPO.';
