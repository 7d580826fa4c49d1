-- $1 source, $2 job_type, $3 status (NULL = any), $4 limit, $5 page cursor (ids below it).
-- Newest first by id (UUIDv7: enqueue order).
SELECT id, source, job_type, status, priority, attempts, max_attempts, payload, result, last_error,
       worker_id, run_at, created_at, updated_at, started_at, finished_at
  FROM mcp_jobs.jobs
 WHERE ($1::text IS NULL OR source = $1)
   AND ($2::text IS NULL OR job_type = $2)
   AND ($3::text IS NULL OR status = $3)
   AND ($5::uuid IS NULL OR id < $5)
 ORDER BY id DESC
 LIMIT $4
