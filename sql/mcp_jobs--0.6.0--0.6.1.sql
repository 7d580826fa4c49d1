-- mcp_jobs 0.6.0 -> 0.6.1: no SQL object changes.
--
-- 0.6.1 is a change of the library only: claim_next_job, claim_jobs and complete_and_claim_next run
-- their statements with enable_bitmapscan = off and plan_cache_mode = force_generic_plan (in their
-- code, like their other planner settings; sql/finalize.sql explains why), so that a plan made on
-- a jobs table that was never analyzed reads the queue in claim order from jobs_claim_idx, once
-- per backend, instead of collecting and sorting every queued job for each claim or planning the
-- claim again on every call. The library applies it to every schema version as soon as a backend
-- loads it; this script only moves the recorded version.
\echo Use "ALTER EXTENSION mcp_jobs UPDATE TO '0.6.1'" to load this file. \quit
