-- $1 job ids, $2 run ids, $3 results (NULL: no results); the caller checked that the arrays have the
-- same length and that no job id repeats. complete.sql for every (job, run) pair whose run is still
-- the job's current processing run (fencing): job row, run closed 'completed', 'completed' event.
-- Returns one row per input pair, in input order, with the reason a pair was not completed (the
-- reasons of complete_job's errors: not found, lease expired, not processing, stale run).
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
       AND j.status = 'processing'
       AND j.current_run_id = i.run_id
    RETURNING j.id, j.current_run_id, j.attempts
), run AS (
    UPDATE mcp_jobs.job_runs r
       SET finished_at = now(), outcome = 'completed'
      FROM upd
     WHERE r.id = upd.current_run_id
    RETURNING r.id, r.duration_ms
), ev AS (
    INSERT INTO mcp_jobs.job_events (job_id, run_id, event_type, data)
    SELECT u.id, u.current_run_id, 'completed',
           jsonb_build_object('attempt', u.attempts, 'duration_ms', r.duration_ms)
      FROM upd u
      LEFT JOIN run r ON r.id = u.current_run_id
     ORDER BY u.id
)
SELECT i.job_id,
       i.run_id,
       CASE WHEN u.id IS NOT NULL THEN 'completed' ELSE j.status END,
       u.id IS NOT NULL,
       CASE WHEN u.id IS NOT NULL THEN NULL
            WHEN j.id IS NULL THEN 'not found'
            WHEN r.outcome = 'lease_expired' THEN 'lease expired'
            WHEN j.status <> 'processing' THEN 'not processing: ' || j.status
            ELSE 'stale run'
       END
  FROM input i
  LEFT JOIN upd u ON u.id = i.job_id
  LEFT JOIN mcp_jobs.jobs j ON j.id = i.job_id
  LEFT JOIN mcp_jobs.job_runs r ON r.id = i.run_id AND r.job_id = i.job_id
 ORDER BY i.ord
