-- $1 worker_id, $2 sources (NULL = any), $3 job_types (NULL = any), $4 lease seconds.
-- Locks the next due queued job in claim order (skipping rows other workers hold), moves it to
-- processing with a new run id (the fencing token), and records the run and the 'started' event,
-- all in one statement.
--
-- Every row this statement and its siblings write is found by a restriction on its key (a scalar
-- subquery, `= ANY (ARRAY(...))` or a bind argument), never by a join to a CTE: a backend keeps its
-- generic plan, and one made while the table was empty joined `next` to a full scan of jobs_pkey
-- (cheapest for an empty table), which then read every job on every claim (80 ms per claim at
-- 100 000 jobs; tests/test_plans.py).
WITH next AS (
    SELECT id
      FROM mcp_jobs.jobs
     WHERE status = 'queued'
       AND run_at <= now()
       AND ($2::text[] IS NULL OR source = ANY ($2))
       AND ($3::text[] IS NULL OR job_type = ANY ($3))
     ORDER BY priority DESC, run_at, id
     LIMIT 1
       FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE mcp_jobs.jobs j
       SET status = 'processing',
           attempts = j.attempts + 1,
           worker_id = $1,
           lease_expires_at = now() + make_interval(secs => $4),
           current_run_id = mcp_jobs.uuidv7(),
           started_at = coalesce(j.started_at, now()),
           updated_at = now()
     WHERE j.id = (SELECT id FROM next)  -- a key probe whatever the statistics say (see below)
    RETURNING j.id, j.current_run_id, j.attempts, j.max_attempts, j.source, j.job_type, j.payload,
              j.priority, j.run_at, j.created_at, j.lease_expires_at
), run AS (
    INSERT INTO mcp_jobs.job_runs (id, job_id, attempt, worker_id, started_at, lease_seconds)
    SELECT current_run_id, id, attempts, $1, now(), $4 FROM claimed
), ev AS (
    INSERT INTO mcp_jobs.job_events (job_id, run_id, event_type, data)
    SELECT id, current_run_id, 'started', jsonb_build_object('attempt', attempts, 'worker_id', $1)
      FROM claimed
)
SELECT id, current_run_id, attempts, max_attempts, source, job_type, payload, priority, run_at,
       created_at, lease_expires_at
  FROM claimed
