-- $1 source, $2 job_type (NULL = any), $3 resolved (NULL = both), $4 limit, $5 page cursor (ids below it).
-- Newest first by id (UUIDv7: the order they were written).
SELECT id, job_id, source, job_type, payload, attempts, last_error, details, failed_at, resolved,
       resolved_at, resolution, resolution_note
  FROM mcp_jobs.dead_letter_queue
 WHERE ($1::text IS NULL OR source = $1)
   AND ($2::text IS NULL OR job_type = $2)
   AND ($3::boolean IS NULL OR resolved = $3)
   AND ($5::uuid IS NULL OR id < $5)
 ORDER BY id DESC
 LIMIT $4
