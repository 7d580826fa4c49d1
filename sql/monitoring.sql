-- mcp_jobs monitoring: views for operators (comments in finalize.sql).

-- Queue depth per source and job type: jobs waiting (queued) and in flight (processing).
-- The seed's depth query filters status IN ('queued', 'running'); this extension's in-flight state is
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
