-- mcp_jobs monitoring: views for operators (comments in finalize.sql).

-- Queue depth per source and job type: jobs waiting (queued) and in flight (processing).
-- The MCP Jobs design's depth query filters status IN ('queued', 'running'); this extension's in-flight state is
-- 'processing', so that query only ever shows queued jobs (status is text, so 'running' is simply
-- never matched, without error). This view counts both. Two branches on the partial indexes of the
-- queued and processing jobs, so it does not scan finished history. security_invoker: the caller's
-- privileges and row-level security apply, as if it queried mcp_jobs.jobs itself.
CREATE VIEW mcp_jobs.queue_depth WITH (security_invoker = true) AS
SELECT source,
       job_type,
       count(*) FILTER (WHERE status = 'queued')                   AS queued,
       count(*) FILTER (WHERE status = 'processing')               AS processing,
       count(*) FILTER (WHERE status = 'queued' AND run_at <= now()) AS due_now,
       min(created_at) FILTER (WHERE status = 'queued')            AS oldest_queued_at,
       now() - min(created_at) FILTER (WHERE status = 'queued')    AS oldest_queued_age
  FROM (SELECT source, job_type, status, run_at, created_at
          FROM mcp_jobs.jobs
         WHERE status = 'queued'
        UNION ALL
        SELECT source, job_type, status, run_at, created_at
          FROM mcp_jobs.jobs
         WHERE status = 'processing') q
 GROUP BY source, job_type;

-- The view as a function, for PostgREST (which calls functions) and clients that want the age as a
-- number: the oldest queued job's age in seconds.
CREATE FUNCTION mcp_jobs.queue_depth()
RETURNS TABLE (
    source text,
    job_type text,
    queued bigint,
    processing bigint,
    due_now bigint,
    oldest_queued_at timestamptz,
    oldest_queued_age_seconds double precision
)
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = ''
AS $$
    SELECT q.source, q.job_type, q.queued, q.processing, q.due_now, q.oldest_queued_at,
           extract(epoch FROM q.oldest_queued_age)::double precision
      FROM mcp_jobs.queue_depth q
     ORDER BY q.source, q.job_type
$$;
