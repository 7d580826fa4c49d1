-- mcp_jobs 0.3.0 -> 0.4.0: lookups by job id have one index to use whatever the statistics say, and
-- claim_jobs plans its statement once per backend, deleting jobs finds their history by index, and
-- the reads and maintenance of the history plan each call.
--
-- Upgrade scripts only add or alter objects; they never drop and recreate a table (data is kept).
-- tests/test_upgrade.py installs every archived version with data in every state, upgrades, checks
-- every row and the API, and compares the schema object by object with a fresh install.
\echo Use "ALTER EXTENSION mcp_jobs UPDATE TO '0.4.0'" to load this file. \quit

-- jobs_source_id_idx becomes partial on a predicate every row meets, so that only queries comparing
-- source can use it (schema.sql explains the plan it caused). The new index is built before the
-- old one is dropped; building it reads the table once and holds a SHARE lock on jobs (writes wait,
-- reads go on) for that time: about a second per million jobs.
CREATE INDEX jobs_source_id_idx_040 ON mcp_jobs.jobs (source, id) WHERE source IS NOT NULL;
DROP INDEX mcp_jobs.jobs_source_id_idx;
ALTER INDEX mcp_jobs.jobs_source_id_idx_040 RENAME TO jobs_source_id_idx;

-- claim_jobs keeps one generic plan instead of planning its statement on every call (finalize.sql).
ALTER FUNCTION mcp_jobs.claim_jobs(text, text[], text[], integer, integer) SET plan_cache_mode = force_generic_plan;

-- The history trigger finds a deleted job's runs and events by index, whatever the statistics were
-- when the session planned it (schema.sql explains the sequential scan it could keep).
CREATE OR REPLACE FUNCTION mcp_jobs._delete_job_history() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET enable_seqscan = off AS $$
BEGIN
    DELETE FROM mcp_jobs.job_events WHERE job_id = ANY (ARRAY(SELECT id FROM deleted_jobs));
    DELETE FROM mcp_jobs.job_runs WHERE job_id = ANY (ARRAY(SELECT id FROM deleted_jobs));
    RETURN NULL;
END
$$;

-- The functions that read the history or maintain it plan each call's statements (finalize.sql).
ALTER FUNCTION mcp_jobs.list_jobs(text, text, text, integer, uuid) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION mcp_jobs.get_job(uuid) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION mcp_jobs.get_job_stats(text) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION mcp_jobs.alerts() SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION mcp_jobs.aggregate_metrics(timestamptz, timestamptz) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION mcp_jobs.run_maintenance() SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION mcp_jobs.requeue_dead_letter(uuid) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION mcp_jobs.resolve_dead_letter(uuid, text) SET plan_cache_mode = force_custom_plan;
