-- $1 job id, $2 run id, $3 progress (any JSON, may be NULL). Extends the lease of the current run by
-- the lease length it was claimed with and records a 'progress' event.
WITH upd AS (
    UPDATE mcp_jobs.jobs j
       SET lease_expires_at = now() + make_interval(secs => r.lease_seconds),
           updated_at = now()
      FROM mcp_jobs.job_runs r
     WHERE j.id = $1
       AND j.status = 'processing' COLLATE "C"  -- not jobs_lease_idx's predicate (schema.sql)
       AND j.current_run_id = $2
       AND r.id = $2
    RETURNING j.id, j.lease_expires_at, r.attempt
), ev AS (
    INSERT INTO mcp_jobs.job_events (job_id, run_id, event_type, data)
    SELECT id, $2, 'progress', jsonb_build_object('attempt', attempt, 'progress', $3)
      FROM upd
)
SELECT jsonb_build_object('job_id', id, 'run_id', $2, 'status', 'processing',
                          'lease_expires_at', lease_expires_at)
  FROM upd
