-- Serializes aggregations (the background worker, pg_cron, a manual backfill) until the end of the
-- transaction: two concurrent upserts/deletes of the same metrics rows could otherwise deadlock or
-- delete a row the other just wrote.
SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('mcp_jobs.aggregate_metrics'))
