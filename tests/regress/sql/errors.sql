-- What a psql user sees on a mistake: message, detail and hint, then the SQLSTATE.
\set ON_ERROR_ROLLBACK on
BEGIN;
SELECT mcp_jobs.enqueue_job(NULL, 'sync');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mcp_jobs.enqueue_job('odoo', '');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mcp_jobs.enqueue_job('odoo', 'sync', p_priority => 42);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mcp_jobs.enqueue_job('odoo', 'sync', p_max_attempts => 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mcp_jobs.enqueue_job('odoo', 'sync', '[1, 2, 3]');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mcp_jobs.enqueue_job('odoo', 'sync', to_jsonb('{oops'::text));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET LOCAL mcp_jobs.max_payload_bytes = '1kB';
SELECT mcp_jobs.enqueue_job('odoo', 'sync', jsonb_build_object('blob', repeat('x', 2000)));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET mcp_jobs.max_payload_bytes;
SELECT * FROM mcp_jobs.claim_next_job('w', p_lease_seconds => 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM mcp_jobs.claim_next_job('w', p_sources => '{}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mcp_jobs.cancel_job('00000000-0000-0000-0000-000000000000');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mcp_jobs.get_job('00000000-0000-0000-0000-000000000000');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM mcp_jobs.list_jobs(p_status => 'running');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM mcp_jobs.list_jobs(p_limit => 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mcp_jobs.requeue_dead_letter('00000000-0000-0000-0000-000000000000');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- nothing was written by any of the above
SELECT (SELECT count(*) FROM mcp_jobs.jobs) AS jobs, (SELECT count(*) FROM mcp_jobs.job_events) AS events;
ROLLBACK;
