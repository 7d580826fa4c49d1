-- $1 dead letter id (locked and open). If the job row is gone it is restored from the dead letter's
-- copy; the job is queued with fresh attempts, the dead letter closed as 'requeued'. Returns the
-- job's id and queue (the caller counts it under a max_queued cap and wakes a waiting claim).
WITH dl AS (
    UPDATE mcp_jobs.dead_letter_queue
       SET resolved = true, resolved_at = now(), resolution = 'requeued'
     WHERE id = $1
    RETURNING id, job_id, source, job_type, payload, attempts, last_error
), restored AS (
    INSERT INTO mcp_jobs.jobs (id, source, job_type, payload, status, attempts, max_attempts,
                               last_error, finished_at)
    SELECT job_id, source, job_type, payload, 'queued', 0, greatest(attempts, 1), last_error, NULL
      FROM dl
    ON CONFLICT (id) DO UPDATE
       SET status = 'queued', attempts = 0, run_at = now(), finished_at = NULL,
           lease_expires_at = NULL, updated_at = now()
     WHERE mcp_jobs.jobs.status = 'failed'
    RETURNING id, source, job_type
), ev AS (
    INSERT INTO mcp_jobs.job_events (job_id, event_type, data)
    SELECT id, 'requeued', jsonb_build_object('dead_letter_id', $1) FROM restored
)
SELECT id, source, job_type FROM restored
