-- enqueue.sql for a job without an idempotency key ($7 is NULL): a plain INSERT. ON CONFLICT would
-- make every insert speculative (a pre-check of the arbiter index and one more WAL record) for a
-- conflict that cannot happen without a key.
WITH ins AS (
    INSERT INTO mcp_jobs.jobs (source, job_type, payload, priority, run_at, max_attempts, idempotency_key)
    VALUES ($1, $2, coalesce($3, '{}'::jsonb), $4, coalesce($5, now()), $6, $7)
    RETURNING id, priority, run_at, max_attempts
), ev AS (
    INSERT INTO mcp_jobs.job_events (job_id, event_type, data)
    SELECT id, 'enqueued',
           jsonb_build_object('priority', priority, 'run_at', run_at, 'max_attempts', max_attempts)
      FROM ins
)
SELECT id FROM ins
