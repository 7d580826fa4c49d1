-- $1 from, $2 to, $3 the sketch's base g. The events of [from, to), grouped by (hour, source,
-- job_type, event type, bucket): run times from 'completed' and 'failed' events (data.duration_ms),
-- queue waits from the 'started' event of a job's first start (data.wait_ms); bucket
-- ceil(log_g(ms)), or -1000000 below 1 us (src/rollup.rs). Bounded by the range on created_at,
-- which job_events_created_at_brin serves; the job of each event is found by its primary key.
SELECT date_trunc('hour', e.created_at, 'UTC') AS hour, j.source, j.job_type, e.event_type,
       CASE WHEN v.ms IS NULL THEN NULL
            WHEN v.ms < 0.001 THEN -1000000
            ELSE ceil(ln(v.ms) / ln($3))::integer END AS bucket,
       count(*) AS n, sum(v.ms) AS total, max(v.ms) AS top
  FROM mcp_jobs.job_events e
  JOIN mcp_jobs.jobs j ON j.id = e.job_id
 CROSS JOIN LATERAL (SELECT CASE WHEN e.event_type IN ('completed', 'failed')
                                 THEN (e.data ->> 'duration_ms')::float8
                                 WHEN e.event_type = 'started'
                                 THEN (e.data ->> 'wait_ms')::float8 END AS ms) v
 WHERE e.created_at >= $1 AND e.created_at < $2
   AND e.event_type IN ('enqueued', 'started', 'completed', 'failed', 'retry_scheduled',
                        'dead_lettered', 'cancelled', 'lease_expired')
 GROUP BY 1, 2, 3, 4, 5
