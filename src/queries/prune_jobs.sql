-- $1 cutoff (finished before), $2 batch size.
-- Deletes up to $2 finished jobs (completed, failed, cancelled) that finished before $1, oldest
-- first; their runs and events go with them (trigger jobs_delete_history). A job with an unresolved dead
-- letter is kept (requeue_dead_letter needs it); dead letters and metrics are never deleted.
-- Rows another session holds are skipped.
WITH victims AS (
    SELECT j.id
      FROM mcp_jobs.jobs j
     WHERE j.finished_at < $1
       AND j.status IN ('completed', 'failed', 'cancelled')
       AND NOT EXISTS (SELECT 1 FROM mcp_jobs.dead_letter_queue d
                        WHERE d.job_id = j.id AND NOT d.resolved)
     ORDER BY j.finished_at
     LIMIT $2
       FOR UPDATE SKIP LOCKED
), del AS (
    DELETE FROM mcp_jobs.jobs j
     WHERE j.id = ANY (ARRAY(SELECT id FROM victims))  -- a key probe whatever the statistics say (claim.sql)
    RETURNING 1
)
SELECT count(*) FROM del
