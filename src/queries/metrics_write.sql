-- $1 hour, $2 source, $3 job_type, $4 the eight counts (enqueued, started, completed, failed,
-- retried, dead_lettered, cancelled, lease_expired), $5 success_rate, run_ms_avg, run_ms_p50,
-- run_ms_p95, run_ms_max, wait_ms_p50, wait_ms_p95, $6 and $7 the run and wait sketches.
INSERT INTO mcp_jobs.metrics AS m
       (hour, source, job_type, enqueued, started, completed, failed, retried, dead_lettered,
        cancelled, lease_expired, success_rate, run_ms_avg, run_ms_p50, run_ms_p95, run_ms_max,
        wait_ms_p50, wait_ms_p95, updated_at, run_ms_sketch, wait_ms_sketch)
VALUES ($1, $2, $3, $4[1], $4[2], $4[3], $4[4], $4[5], $4[6], $4[7], $4[8],
        $5[1], $5[2], $5[3], $5[4], $5[5], $5[6], $5[7], now(), $6, $7)
ON CONFLICT (hour, source, job_type) DO UPDATE
   SET enqueued = EXCLUDED.enqueued, started = EXCLUDED.started, completed = EXCLUDED.completed,
       failed = EXCLUDED.failed, retried = EXCLUDED.retried, dead_lettered = EXCLUDED.dead_lettered,
       cancelled = EXCLUDED.cancelled, lease_expired = EXCLUDED.lease_expired,
       success_rate = EXCLUDED.success_rate, run_ms_avg = EXCLUDED.run_ms_avg,
       run_ms_p50 = EXCLUDED.run_ms_p50, run_ms_p95 = EXCLUDED.run_ms_p95,
       run_ms_max = EXCLUDED.run_ms_max, wait_ms_p50 = EXCLUDED.wait_ms_p50,
       wait_ms_p95 = EXCLUDED.wait_ms_p95, updated_at = EXCLUDED.updated_at,
       run_ms_sketch = EXCLUDED.run_ms_sketch, wait_ms_sketch = EXCLUDED.wait_ms_sketch
