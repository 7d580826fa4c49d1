-- A worker that takes jobs one at a time: complete_and_claim_next completes the job it holds and
-- hands over the next one in the same call (one commit per job instead of two).
\set ON_ERROR_ROLLBACK on
BEGIN;
SELECT mcp_jobs.enqueue_job('odoo', 'sync_partner', jsonb_build_object('partner_id', i), i) IS NOT NULL AS enqueued
  FROM generate_series(1, 3) i;

-- the first job comes from claim_next_job (highest priority first)
SELECT id AS j, run_id AS r, payload ->> 'partner_id' AS partner FROM mcp_jobs.claim_next_job('worker-1') \gset
SELECT :'partner' AS first_partner;

-- complete it and take the next one
SELECT id AS j2, run_id AS r2, payload ->> 'partner_id' AS partner, attempt, source, job_type
  FROM mcp_jobs.complete_and_claim_next(:'j', :'r', '{"synced": true}', 'worker-1') \gset
SELECT :'partner' AS second_partner, :'attempt' AS attempt;
SELECT status, result FROM mcp_jobs.jobs WHERE id = :'j';
SELECT status, worker_id FROM mcp_jobs.jobs WHERE id = :'j2';

-- completing the same job again is refused (55000, HTTP 409 through PostgREST; the message names
-- the job, so only the SQLSTATE is shown here), and the waiting job is not claimed
\set VERBOSITY sqlstate
SELECT * FROM mcp_jobs.complete_and_claim_next(:'j', :'r');
\set VERBOSITY default
SELECT count(*) AS still_queued FROM mcp_jobs.jobs WHERE status = 'queued';
-- so are bad claim arguments, before the completion is written
SELECT * FROM mcp_jobs.complete_and_claim_next(:'j2', :'r2', p_lease_seconds => 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT status FROM mcp_jobs.jobs WHERE id = :'j2';

-- filters as claim_next_job's: no job of another source is handed over, the completion stands
SELECT count(*) AS handed_over FROM mcp_jobs.complete_and_claim_next(:'j2', :'r2', p_sources => ARRAY['n8n']);
SELECT status FROM mcp_jobs.jobs WHERE id = :'j2';

-- the last job, then nothing
SELECT id AS j3, run_id AS r3 FROM mcp_jobs.claim_next_job('worker-1') \gset
SELECT count(*) AS handed_over FROM mcp_jobs.complete_and_claim_next(:'j3', :'r3');
SELECT status, count(*) FROM mcp_jobs.jobs GROUP BY status ORDER BY status;
SELECT event_type, count(*) FROM mcp_jobs.job_events GROUP BY event_type ORDER BY event_type;
ROLLBACK;
