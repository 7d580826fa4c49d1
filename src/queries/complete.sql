-- $1 job id, $2 run id, $3 result. Completes the job only if $2 is its current run (fencing).
WITH upd AS (
    UPDATE mcp_jobs.jobs
       SET status = 'completed', result = $3, finished_at = now(), updated_at = now(),
           lease_expires_at = NULL
     WHERE id = $1
       AND status = 'processing' COLLATE "C"  -- not jobs_lease_idx's predicate: the primary key serves this
       AND current_run_id = $2
    RETURNING id, current_run_id, attempts, finished_at
), run AS (
    UPDATE mcp_jobs.job_runs r
       SET finished_at = now(), outcome = 'completed'
     WHERE r.id = (SELECT current_run_id FROM upd)  -- a key probe whatever the statistics say (claim.sql)
    RETURNING r.duration_ms
), ev AS (
    INSERT INTO mcp_jobs.job_events (job_id, run_id, event_type, data)
    SELECT id, current_run_id, 'completed',
           jsonb_build_object('attempt', attempts, 'duration_ms', (SELECT duration_ms FROM run))
      FROM upd
)
SELECT jsonb_build_object('job_id', id, 'run_id', current_run_id, 'status', 'completed',
                          'attempt', attempts, 'finished_at', finished_at,
                          'duration_ms', (SELECT duration_ms FROM run))
  FROM upd
