-- $1 job id, $2 run id, $3 error, $4 retry allowed, $5 details (JSON or NULL). Only the current run
-- may fail the job.
-- With $4 and attempts left: back to queued at now() + mcp_jobs.retry_delay(attempts);
-- otherwise: failed, with a dead letter. The run is closed and the events written in the same statement.
WITH upd AS (
    UPDATE mcp_jobs.jobs j
       SET status = CASE WHEN $4 AND j.attempts < j.max_attempts THEN 'queued' ELSE 'failed' END,
           run_at = CASE WHEN $4 AND j.attempts < j.max_attempts
                         THEN now() + mcp_jobs.retry_delay(j.attempts) ELSE j.run_at END,
           finished_at = CASE WHEN $4 AND j.attempts < j.max_attempts THEN NULL ELSE now() END,
           lease_expires_at = NULL,
           last_error = $3,
           updated_at = now()
     WHERE j.id = $1
       AND j.status = 'processing' COLLATE "C"  -- not jobs_lease_idx's predicate (schema.sql)
       AND j.current_run_id = $2
    RETURNING j.id, j.current_run_id, j.status, j.attempts, j.max_attempts, j.run_at, j.source,
              j.job_type, j.payload
), run AS (
    UPDATE mcp_jobs.job_runs r
       SET finished_at = now(), outcome = 'failed', error = $3
     WHERE r.id = (SELECT current_run_id FROM upd)  -- a key probe whatever the statistics say (claim.sql)
    RETURNING r.duration_ms
), dlq AS (
    INSERT INTO mcp_jobs.dead_letter_queue (id, job_id, source, job_type, payload, attempts, last_error, details)
    SELECT mcp_jobs.uuidv7(), id, source, job_type, payload, attempts, $3, $5
      FROM upd
     WHERE status = 'failed'
    RETURNING id
), ev AS (
    INSERT INTO mcp_jobs.job_events (job_id, run_id, event_type, data)
    SELECT id, current_run_id, 'failed',
           jsonb_build_object('attempt', attempts, 'error', $3, 'retry', $4,
                              'duration_ms', (SELECT duration_ms FROM run))
             || CASE WHEN $5 IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('details', $5) END
      FROM upd
    UNION ALL
    SELECT id, current_run_id, 'retry_scheduled',
           jsonb_build_object('attempt', attempts, 'max_attempts', max_attempts, 'run_at', run_at)
      FROM upd
     WHERE status = 'queued'
    UNION ALL
    SELECT id, current_run_id, 'dead_lettered',
           jsonb_build_object('dead_letter_id', (SELECT id FROM dlq), 'attempts', attempts,
                              'reason', CASE WHEN $4 THEN 'max_attempts' ELSE 'no_retry' END)
      FROM upd
     WHERE status = 'failed'
)
SELECT jsonb_build_object('job_id', id, 'run_id', current_run_id, 'status', status,
                          'attempt', attempts, 'max_attempts', max_attempts,
                          'retry_at', CASE WHEN status = 'queued' THEN run_at END,
                          'dead_letter_id', (SELECT id FROM dlq))
  FROM upd
