-- $1 from, $2 to (the hours [hour of $1, $2)), $3 source, $4 job_type (NULL = any).
-- Rows of mcp_jobs.metrics in hour order; served by the metrics primary key (hour, source, job_type).
SELECT hour, source, job_type, enqueued, started, completed, failed, retried, dead_lettered, cancelled,
       lease_expired, success_rate, run_ms_avg, run_ms_p50, run_ms_p95, run_ms_max, wait_ms_p50,
       wait_ms_p95
  FROM mcp_jobs.metrics
 WHERE hour >= date_trunc('hour', $1, 'UTC')
   AND hour < $2
   AND ($3::text IS NULL OR source = $3)
   AND ($4::text IS NULL OR job_type = $4)
 ORDER BY hour, source, job_type
