-- $1 job ids, $2 run ids, $3 results (NULL: no results); the caller checked that the arrays have the
-- same length and that no job id repeats. complete.sql for every (job, run) pair whose run is still
-- the job's current processing run (fencing): job row, run closed 'completed', 'completed' event.
-- Returns the 1-based positions of the pairs it completed; complete_many_reasons.sql explains the
-- others. No CTE is joined to another CTE (the planner estimates them at one row and would join
-- them by nested loops, quadratic in the batch size): the events come from the closed runs alone.
WITH input AS (
    SELECT i.job_id, i.run_id, i.result, i.ord
      FROM ROWS FROM (unnest($1::uuid[]), unnest($2::uuid[]), unnest($3::jsonb[]))
           WITH ORDINALITY AS i(job_id, run_id, result, ord)
), upd AS (
    UPDATE mcp_jobs.jobs j
       SET status = 'completed', result = i.result, finished_at = now(), updated_at = now(),
           lease_expires_at = NULL
      FROM input i
     WHERE j.id = i.job_id
       AND j.status = 'processing' COLLATE "C"  -- not jobs_lease_idx's predicate (schema.sql)
       AND j.current_run_id = i.run_id
    RETURNING j.current_run_id, i.ord
), run AS (
    UPDATE mcp_jobs.job_runs r
       SET finished_at = now(), outcome = 'completed'
     WHERE r.id = ANY (ARRAY(SELECT current_run_id FROM upd))  -- a key probe (claim.sql)
    RETURNING r.job_id, r.id, r.attempt, r.duration_ms
), ev AS (
    INSERT INTO mcp_jobs.job_events (job_id, run_id, event_type, data)
    SELECT job_id, id, 'completed', jsonb_build_object('attempt', attempt, 'duration_ms', duration_ms)
      FROM run
     ORDER BY job_id
)
SELECT ord FROM upd
