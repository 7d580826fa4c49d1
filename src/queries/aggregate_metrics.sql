-- $1 lo, $2 hi: whole UTC hours [lo, hi) (both on hour boundaries).
-- Recomputes mcp_jobs.metrics for every (hour, source, job_type) with activity in the range, from
-- the event log and the runs, and deletes the range's rows that no longer have any. Running it again
-- over the same range writes the same rows (only updated_at changes). Every scan is bounded by the
-- range on a time column with a BRIN index, so the cost grows with the hours covered, not with the
-- whole history. Rows outside the range are never touched.
WITH ev AS (
    -- events by the hour they happened
    SELECT date_trunc('hour', e.created_at, 'UTC') AS hour, j.source, j.job_type,
           count(*) FILTER (WHERE e.event_type = 'enqueued')        AS enqueued,
           count(*) FILTER (WHERE e.event_type = 'started')         AS started,
           count(*) FILTER (WHERE e.event_type = 'completed')       AS completed,
           count(*) FILTER (WHERE e.event_type = 'failed')          AS failed,
           count(*) FILTER (WHERE e.event_type = 'retry_scheduled') AS retried,
           count(*) FILTER (WHERE e.event_type = 'dead_lettered')   AS dead_lettered,
           count(*) FILTER (WHERE e.event_type = 'cancelled')       AS cancelled,
           count(*) FILTER (WHERE e.event_type = 'lease_expired')   AS lease_expired
      FROM mcp_jobs.job_events e
      JOIN mcp_jobs.jobs j ON j.id = e.job_id
     WHERE e.created_at >= $1 AND e.created_at < $2
       AND e.event_type IN ('enqueued', 'started', 'completed', 'failed', 'retry_scheduled',
                            'dead_lettered', 'cancelled', 'lease_expired')
     GROUP BY 1, 2, 3
), runs AS (
    -- run time of the attempts that completed or failed in the hour (an expired lease measures
    -- the lease, not the work, so those runs are left out). Found through their 'completed' and
    -- 'failed' events (BRIN on created_at; an event's created_at is its run's finished_at, the same
    -- transaction time), since job_runs has no index on finished_at (so that closing a run is a
    -- HOT update).
    SELECT date_trunc('hour', e.created_at, 'UTC') AS hour, j.source, j.job_type,
           avg(r.duration_ms) AS run_ms_avg,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY r.duration_ms) AS run_ms_p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY r.duration_ms) AS run_ms_p95,
           max(r.duration_ms) AS run_ms_max
      FROM mcp_jobs.job_events e
      JOIN mcp_jobs.job_runs r ON r.id = e.run_id
      JOIN mcp_jobs.jobs j ON j.id = e.job_id
     WHERE e.created_at >= $1 AND e.created_at < $2
       AND e.event_type IN ('completed', 'failed')
       AND r.outcome IN ('completed', 'failed')
     GROUP BY 1, 2, 3
), waits AS (
    -- queue wait, enqueue to first start, of the jobs first started in the hour
    SELECT date_trunc('hour', r.started_at, 'UTC') AS hour, j.source, j.job_type,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY w.ms) AS wait_ms_p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY w.ms) AS wait_ms_p95
      FROM mcp_jobs.job_runs r
      JOIN mcp_jobs.jobs j ON j.id = r.job_id
     CROSS JOIN LATERAL (SELECT greatest(extract(epoch FROM r.started_at - j.created_at) * 1000, 0)::float8 AS ms) w
     WHERE r.started_at >= $1 AND r.started_at < $2
       AND r.attempt = 1
       -- a job requeued from the dead-letter queue starts again at attempt 1: only its first run
       AND NOT EXISTS (SELECT 1 FROM mcp_jobs.job_runs r0
                        WHERE r0.job_id = r.job_id AND r0.started_at < r.started_at)
     GROUP BY 1, 2, 3
), keys AS (
    SELECT hour, source, job_type FROM ev
    UNION
    SELECT hour, source, job_type FROM runs
    UNION
    SELECT hour, source, job_type FROM waits
), agg AS (
    SELECT k.hour, k.source, k.job_type,
           coalesce(ev.enqueued, 0) AS enqueued,
           coalesce(ev.started, 0) AS started,
           coalesce(ev.completed, 0) AS completed,
           coalesce(ev.failed, 0) AS failed,
           coalesce(ev.retried, 0) AS retried,
           coalesce(ev.dead_lettered, 0) AS dead_lettered,
           coalesce(ev.cancelled, 0) AS cancelled,
           coalesce(ev.lease_expired, 0) AS lease_expired,
           CASE WHEN coalesce(ev.completed + ev.failed + ev.lease_expired, 0) > 0
                THEN ev.completed::float8 / (ev.completed + ev.failed + ev.lease_expired) END
               AS success_rate,
           runs.run_ms_avg, runs.run_ms_p50, runs.run_ms_p95, runs.run_ms_max,
           waits.wait_ms_p50, waits.wait_ms_p95
      FROM keys k
      LEFT JOIN ev    ON ev.hour = k.hour    AND ev.source = k.source    AND ev.job_type = k.job_type
      LEFT JOIN runs  ON runs.hour = k.hour  AND runs.source = k.source  AND runs.job_type = k.job_type
      LEFT JOIN waits ON waits.hour = k.hour AND waits.source = k.source AND waits.job_type = k.job_type
), up AS (
    INSERT INTO mcp_jobs.metrics AS m
           (hour, source, job_type, enqueued, started, completed, failed, retried, dead_lettered,
            cancelled, lease_expired, success_rate, run_ms_avg, run_ms_p50, run_ms_p95, run_ms_max,
            wait_ms_p50, wait_ms_p95, updated_at)
    SELECT hour, source, job_type, enqueued, started, completed, failed, retried, dead_lettered,
           cancelled, lease_expired, success_rate, run_ms_avg, run_ms_p50, run_ms_p95, run_ms_max,
           wait_ms_p50, wait_ms_p95, now()
      FROM agg
    ON CONFLICT (hour, source, job_type) DO UPDATE
       SET enqueued = EXCLUDED.enqueued, started = EXCLUDED.started,
           completed = EXCLUDED.completed, failed = EXCLUDED.failed, retried = EXCLUDED.retried,
           dead_lettered = EXCLUDED.dead_lettered, cancelled = EXCLUDED.cancelled,
           lease_expired = EXCLUDED.lease_expired, success_rate = EXCLUDED.success_rate,
           run_ms_avg = EXCLUDED.run_ms_avg, run_ms_p50 = EXCLUDED.run_ms_p50,
           run_ms_p95 = EXCLUDED.run_ms_p95, run_ms_max = EXCLUDED.run_ms_max,
           wait_ms_p50 = EXCLUDED.wait_ms_p50, wait_ms_p95 = EXCLUDED.wait_ms_p95,
           updated_at = EXCLUDED.updated_at
    RETURNING 1
), del AS (
    -- rows of the range whose activity is gone (all their jobs were pruned or the data was fixed)
    DELETE FROM mcp_jobs.metrics m
     WHERE m.hour >= $1 AND m.hour < $2
       AND NOT EXISTS (SELECT 1 FROM agg a
                        WHERE a.hour = m.hour AND a.source = m.source AND a.job_type = m.job_type)
    RETURNING 1
)
SELECT (SELECT count(*) FROM up) AS written, (SELECT count(*) FROM del) AS deleted
