-- $1 how many expired leases to handle at most.
-- Processing jobs whose lease expired (their worker died or hung): the run is closed as
-- 'lease_expired' and the attempt stays counted. With attempts left the job is queued again at once;
-- without, it fails and a dead letter is written. Rows another session holds are skipped.
WITH expired AS (
    SELECT id
      FROM mcp_jobs.jobs
     WHERE status = 'processing'
       AND lease_expires_at < now()
     ORDER BY lease_expires_at
     LIMIT $1
       FOR UPDATE SKIP LOCKED
), upd AS (
    UPDATE mcp_jobs.jobs j
       SET status = CASE WHEN j.attempts >= j.max_attempts THEN 'failed' ELSE 'queued' END,
           run_at = CASE WHEN j.attempts >= j.max_attempts THEN j.run_at ELSE now() END,
           finished_at = CASE WHEN j.attempts >= j.max_attempts THEN now() END,
           lease_expires_at = NULL,
           last_error = 'lease expired at ' || j.lease_expires_at::text || ' (worker ' || coalesce(j.worker_id, 'unknown') || ')',
           updated_at = now()
     WHERE j.id = ANY (ARRAY(SELECT id FROM expired))  -- a key probe whatever the statistics say (claim.sql)
    RETURNING j.id, j.current_run_id, j.status, j.attempts, j.max_attempts, j.source, j.job_type,
              j.payload, j.last_error, j.worker_id
), runs AS (
    UPDATE mcp_jobs.job_runs r
       SET finished_at = now(), outcome = 'lease_expired', error = upd.last_error
      FROM upd
     WHERE r.id = ANY (ARRAY(SELECT current_run_id FROM upd))  -- a key probe (claim.sql)
       AND r.id = upd.current_run_id
       AND r.finished_at IS NULL
), dlq AS (
    INSERT INTO mcp_jobs.dead_letter_queue (id, job_id, source, job_type, payload, attempts, last_error)
    SELECT mcp_jobs.uuidv7(), id, source, job_type, payload, attempts, last_error
      FROM upd
     WHERE status = 'failed'
    RETURNING id, job_id
), ev AS (
    INSERT INTO mcp_jobs.job_events (job_id, run_id, event_type, data)
    SELECT id, current_run_id, 'lease_expired',
           jsonb_build_object('attempt', attempts, 'worker_id', worker_id)
      FROM upd
    UNION ALL
    SELECT id, current_run_id, 'retry_scheduled',
           jsonb_build_object('attempt', attempts, 'max_attempts', max_attempts, 'run_at', now())
      FROM upd
     WHERE status = 'queued'
    UNION ALL
    SELECT u.id, u.current_run_id, 'dead_lettered',
           jsonb_build_object('dead_letter_id', d.id, 'attempts', u.attempts)
      FROM upd u
      JOIN dlq d ON d.job_id = u.id
)
SELECT count(*) FILTER (WHERE status = 'queued') AS requeued,
       count(*) FILTER (WHERE status = 'failed') AS dead_lettered
  FROM upd
