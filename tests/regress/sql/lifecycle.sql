-- The job lifecycle as a worker drives it from psql: enqueue -> claim -> progress -> complete,
-- and fail -> retry -> dead letter -> requeue. Ids and times are random, so the file prints states,
-- counts and event sequences, and captures ids with \gset.
\set ON_ERROR_ROLLBACK on
BEGIN;
SET LOCAL mcp_jobs.retry_base_delay = 0;

-- enqueue: the MCP Jobs design's discovery job, and an n8n job whose payload arrives as a JSON string
SELECT mcp_jobs.enqueue_job('odoo', 'discovery', '{"host": "erp-1"}', 5) AS job \gset
SELECT mcp_jobs.enqueue_job('n8n', 'sync', to_jsonb('{"rows": 3}'::text)) AS n8n_job \gset
SELECT source, job_type, payload, priority, status, attempts, max_attempts
  FROM mcp_jobs.jobs ORDER BY id;

-- a discovery worker claims a due job of source odoo
SELECT id = :'job' AS is_first_job, attempt, source, job_type, payload, priority
  FROM mcp_jobs.claim_next_job('worker-1', ARRAY['odoo'], p_lease_seconds => 60) \gset c_
\echo claimed first job: :c_is_first_job attempt :c_attempt
SELECT id AS run FROM mcp_jobs.job_runs WHERE job_id = :'job' \gset

-- heartbeat, then complete with a result
SELECT mcp_jobs.report_progress(:'job', :'run', '{"pct": 50}') ->> 'status' AS progress_status;
SELECT mcp_jobs.complete_job(:'job', :'run', '{"found": 12}') ->> 'status' AS completed_status;
SELECT status, result, attempts FROM mcp_jobs.jobs WHERE id = :'job';
SELECT attempt, outcome, worker_id FROM mcp_jobs.job_runs WHERE job_id = :'job';
SELECT event_type FROM mcp_jobs.job_events WHERE job_id = :'job' ORDER BY id;

-- completing twice is refused with SQLSTATE 55000 and a hint
\set VERBOSITY sqlstate
SELECT mcp_jobs.complete_job(:'job', :'run');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY default

-- the n8n job fails three times: two retries, then the dead-letter queue
SELECT id AS j, run_id AS r FROM mcp_jobs.claim_next_job('worker-2') \gset
SELECT mcp_jobs.fail_job(:'j', :'r', 'timeout') ->> 'status' AS after_attempt_1;
SELECT id AS j, run_id AS r FROM mcp_jobs.claim_next_job('worker-2') \gset
SELECT mcp_jobs.fail_job(:'j', :'r', 'timeout') ->> 'status' AS after_attempt_2;
SELECT id AS j, run_id AS r FROM mcp_jobs.claim_next_job('worker-2') \gset
SELECT mcp_jobs.fail_job(:'j', :'r', 'timeout again') ->> 'status' AS after_attempt_3;
SELECT status, attempts, last_error FROM mcp_jobs.jobs WHERE id = :'n8n_job';
SELECT attempt, outcome, error FROM mcp_jobs.job_runs WHERE job_id = :'n8n_job' ORDER BY attempt;
SELECT event_type, data - 'run_at' - 'duration_ms' - 'dead_letter_id' AS data
  FROM mcp_jobs.job_events WHERE job_id = :'n8n_job' ORDER BY id;

-- the MCP Jobs design's dead-letter monitoring query, verbatim
SELECT source, job_type, COUNT(*) as count
FROM mcp_jobs.dead_letter_queue
WHERE NOT resolved
GROUP BY source, job_type;

-- requeue the dead letter: fresh attempts, the dead letter is resolved
SELECT mcp_jobs.requeue_dead_letter(id) = :'n8n_job' AS requeued_same_job
  FROM mcp_jobs.dead_letter_queue WHERE job_id = :'n8n_job';
SELECT status, attempts FROM mcp_jobs.jobs WHERE id = :'n8n_job';
SELECT resolved, resolution FROM mcp_jobs.dead_letter_queue WHERE job_id = :'n8n_job';

-- nothing else is due after it is claimed; the queue is empty for this worker
SELECT count(*) AS claimed FROM mcp_jobs.claim_next_job('worker-3');
SELECT count(*) AS nothing_due FROM mcp_jobs.claim_next_job('worker-3');

-- stats, the MCP Jobs design's getJobStats()
SELECT mcp_jobs.get_job_stats();
SELECT status, count(*) FROM mcp_jobs.list_jobs() GROUP BY status ORDER BY status;
ROLLBACK;
