-- mcp_jobs monitoring: views for operators (comments in finalize.sql).

-- Queue depth per source and job type: jobs waiting (queued) and in flight (processing), and
-- whether flow control holds the queue back. The MCP Jobs design's depth query filters status IN
-- ('queued', 'running'); this extension's in-flight state is 'processing', so that query only ever
-- shows queued jobs (status is text, so 'running' is simply never matched, without error). This
-- view counts both, from the partial indexes of queued and processing jobs, so it does not scan
-- finished history. security_invoker: the caller's privileges and row-level security apply.
CREATE VIEW mcp_jobs.queue_depth WITH (security_invoker = true) AS
WITH depth AS (
    SELECT source,
           job_type,
           count(*) FILTER (WHERE status = 'queued')                   AS queued,
           count(*) FILTER (WHERE status = 'processing')               AS processing,
           count(*) FILTER (WHERE status = 'queued' AND run_at <= now()) AS due_now,
           min(created_at) FILTER (WHERE status = 'queued')            AS oldest_queued_at
      FROM (SELECT source, job_type, status, run_at, created_at
              FROM mcp_jobs.jobs
             WHERE status = 'queued'
            UNION ALL
            SELECT source, job_type, status, run_at, created_at
              FROM mcp_jobs.jobs
             WHERE status = 'processing') q
     GROUP BY source, job_type
)
SELECT d.source,
       d.job_type,
       d.queued,
       d.processing,
       d.due_now,
       d.oldest_queued_at,
       now() - d.oldest_queued_at AS oldest_queued_age,
       coalesce(p.paused, s.paused, false) AS paused,
       CASE WHEN coalesce(p.paused, s.paused, false) THEN 'paused'
            WHEN d.processing >= coalesce(p.max_concurrency, s.max_concurrency) THEN 'max_concurrency'
            WHEN d.queued >= coalesce(p.max_queued, s.max_queued) THEN 'max_queued'
            WHEN coalesce(p.rate_limit, s.rate_limit) IS NOT NULL
             AND CASE WHEN p.rate_limit IS NOT NULL
                      THEN p.window_start + p.rate_period > now() AND p.window_claims >= p.rate_limit
                      ELSE s.window_start + s.rate_period > now() AND s.window_claims >= s.rate_limit END
                 THEN 'rate_limit'
       END AS held
  FROM depth d
  LEFT JOIN mcp_jobs.queues p ON p.source = d.source AND p.job_type = d.job_type
  LEFT JOIN mcp_jobs.queues s ON s.source = d.source AND s.job_type IS NULL;

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
    oldest_queued_age_seconds double precision,
    paused boolean,
    held text
)
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = ''
AS $$
    SELECT q.source, q.job_type, q.queued, q.processing, q.due_now, q.oldest_queued_at,
           extract(epoch FROM q.oldest_queued_age)::double precision, q.paused, q.held
      FROM mcp_jobs.queue_depth q
     ORDER BY q.source, q.job_type
$$;
