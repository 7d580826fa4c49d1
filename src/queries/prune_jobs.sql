-- $1 cutoff (finished before), $2 batch size, $3 the last id of the previous batch (NULL: the
-- start), $4 the first id after the cutoff (a job created after it cannot have finished before it).
-- Deletes up to $2 finished jobs (completed, failed, cancelled) that finished before $1, in id
-- (enqueue) order, from jobs_pkey; their runs and events go with them (trigger
-- jobs_delete_history). A job with an unresolved dead letter is kept (requeue_dead_letter needs
-- it); dead letters and metrics are never deleted. Rows another session holds are skipped.
-- Returns how many it deleted and the last id it looked at.
WITH victims AS (
    SELECT j.id
      FROM mcp_jobs.jobs j
     WHERE j.id < $4
       AND ($3::uuid IS NULL OR j.id > $3)
       AND j.finished_at < $1
       AND j.status IN ('completed', 'failed', 'cancelled')
       AND NOT EXISTS (SELECT 1 FROM mcp_jobs.dead_letter_queue d
                        WHERE d.job_id = j.id AND NOT d.resolved)
     ORDER BY j.id
     LIMIT $2
       FOR UPDATE SKIP LOCKED
), del AS (
    DELETE FROM mcp_jobs.jobs j
     WHERE j.id = ANY (ARRAY(SELECT id FROM victims))
    RETURNING j.id
)
SELECT (SELECT count(*) FROM del), (SELECT id FROM victims ORDER BY id DESC LIMIT 1)
