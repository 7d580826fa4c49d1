-- Every row of mcp_jobs.queues with the live counts of its scope: a pair row counts its (source,
-- job_type); a source row counts the source's jobs of job types that do not set the same limit
-- themselves (approximated here by all job types without a row of their own).
SELECT q.source, q.job_type, q.paused, q.max_concurrency, q.max_concurrency_per_key, q.rate_limit,
       q.rate_period, q.max_queued, q.paused_at,
       (SELECT count(*) FROM mcp_jobs.jobs j
         WHERE j.status = 'queued' AND j.source = q.source
           AND (j.job_type = q.job_type
                OR (q.job_type IS NULL AND NOT EXISTS (SELECT 1 FROM mcp_jobs.queues p
                                                        WHERE p.source = q.source AND p.job_type = j.job_type)))),
       (SELECT count(*) FROM mcp_jobs.jobs j
         WHERE j.status = 'processing' AND j.source = q.source
           AND (j.job_type = q.job_type
                OR (q.job_type IS NULL AND NOT EXISTS (SELECT 1 FROM mcp_jobs.queues p
                                                        WHERE p.source = q.source AND p.job_type = j.job_type)))),
       CASE WHEN q.rate_period IS NOT NULL
             AND q.window_start + q.rate_period > now() THEN q.window_claims ELSE 0 END,
       q.window_start, q.updated_at
  FROM mcp_jobs.queues q
 ORDER BY q.source, q.job_type NULLS FIRST
