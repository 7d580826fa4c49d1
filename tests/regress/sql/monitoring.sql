-- The MCP Jobs design's monitoring queries, verbatim, against known data.
BEGIN;
SET LOCAL mcp_jobs.retry_base_delay = 0;
SELECT count(mcp_jobs.enqueue_job('odoo', 'discovery')) FROM generate_series(1, 3);
SELECT count(mcp_jobs.enqueue_job('n8n', 'sync')) FROM generate_series(1, 2);
-- one odoo job completes, one n8n job fails for good
SELECT mcp_jobs.complete_job(id, run_id) ->> 'status' FROM mcp_jobs.claim_next_job('w', ARRAY['odoo']);
SELECT mcp_jobs.fail_job(id, run_id, 'bad', false) ->> 'status' FROM mcp_jobs.claim_next_job('w', ARRAY['n8n']);
-- one odoo job is in flight
SELECT count(*) FROM mcp_jobs.claim_next_job('w', ARRAY['odoo']);

-- Job queue depth by source
SELECT source, status, COUNT(*) as count
FROM mcp_jobs.jobs
WHERE status IN ('queued', 'running')
GROUP BY source, status
ORDER BY source, status;

-- Success rate by source
SELECT source, job_type,
  COUNT(*) FILTER (WHERE status = 'completed') as completed,
  COUNT(*) FILTER (WHERE status = 'failed') as failed
FROM mcp_jobs.jobs
WHERE created_at > NOW() - INTERVAL '7 days'
GROUP BY source, job_type
ORDER BY source, job_type;

-- Dead letter queue (unresolved failures)
SELECT source, job_type, COUNT(*) as count
FROM mcp_jobs.dead_letter_queue
WHERE NOT resolved
GROUP BY source, job_type;
ROLLBACK;
