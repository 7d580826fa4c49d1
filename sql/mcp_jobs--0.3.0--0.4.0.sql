-- mcp_jobs 0.3.0 -> 0.4.0: lookups by job id have one index to use whatever the statistics say, and
-- claim_jobs plans its statement once per backend.
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
