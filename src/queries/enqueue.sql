-- $1 source, $2 job_type, $3 payload (NULL = {}), $4 priority, $5 run_at (NULL = now), $6 max_attempts,
-- $7 idempotency_key. Inserts the job and its 'enqueued' event in one statement; with an idempotency
-- key already used by this source, inserts nothing and returns no row.
WITH ins AS (
    INSERT INTO mcp_jobs.jobs (source, job_type, payload, priority, run_at, max_attempts, idempotency_key)
    VALUES ($1, $2, coalesce($3, '{}'::jsonb), $4, coalesce($5, now()), $6, $7)
    ON CONFLICT (source, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, priority, run_at, max_attempts
), ev AS (
    INSERT INTO mcp_jobs.job_events (job_id, event_type, data)
    SELECT id, 'enqueued',
           jsonb_build_object('priority', priority, 'run_at', run_at, 'max_attempts', max_attempts)
      FROM ins
)
SELECT id FROM ins
