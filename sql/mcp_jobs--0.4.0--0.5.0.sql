-- mcp_jobs 0.4.0 -> 0.5.0: the functions that return rows apply their planner settings once per
-- call, in their code, instead of through SET clauses that PostgreSQL applies for every row.
--
-- Upgrade scripts only add or alter objects; they never drop and recreate a table (data is kept).
-- tests/test_upgrade.py installs every archived version with data in every state, upgrades, checks
-- every row and the API, and compares the schema object by object with a fresh install.
\echo Use "ALTER EXTENSION mcp_jobs UPDATE TO '0.5.0'" to load this file. \quit

-- claim_next_job, claim_jobs, complete_jobs, list_jobs and alerts are set-returning functions:
-- PostgreSQL calls them once per row they return and applied these SET clauses on each of those
-- calls (finalize.sql). The 0.5.0 library applies the same settings once per call (src/spi_util.rs);
-- until this script runs, the 0.4.0 clauses are applied as well, with the same values.
ALTER FUNCTION mcp_jobs.claim_next_job(text, text[], text[], integer) RESET enable_seqscan;
ALTER FUNCTION mcp_jobs.claim_jobs(text, text[], text[], integer, integer) RESET ALL;
ALTER FUNCTION mcp_jobs.complete_jobs(uuid[], uuid[], jsonb[]) RESET enable_seqscan;
ALTER FUNCTION mcp_jobs.list_jobs(text, text, text, integer, uuid) RESET plan_cache_mode;
ALTER FUNCTION mcp_jobs.alerts() RESET plan_cache_mode;
