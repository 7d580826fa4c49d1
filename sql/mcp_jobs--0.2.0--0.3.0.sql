-- mcp_jobs 0.2.0 -> 0.3.0: the same rules and history for less work per job (bench/ANALYSIS.md).
--
-- Upgrade scripts only add or alter objects; they never drop and recreate a table (data is kept).
-- No row is rewritten: the constraints are replaced by equivalent ones (checked against every
-- existing row) and the foreign keys by triggers that delete a job's history with it.
-- tests/test_upgrade.py installs 0.1.0 and 0.2.0 with data in every state, upgrades, checks every
-- row and the API, and compares the schema object by object with a fresh install.
\echo Use "ALTER EXTENSION mcp_jobs UPDATE TO '0.3.0'" to load this file. \quit

-- ---------------------------------------------------------------------------------------------
-- Row rules as one function call per table (PostgreSQL 15 recompiles CHECK expressions for every
-- statement; the SQL expressions were 18 % of the backend CPU of a job's lifecycle)
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION mcp_jobs."_jobs_row_check"(
	"status" TEXT, /* Option < & str > */
	"source" TEXT, /* Option < & str > */
	"job_type" TEXT, /* Option < & str > */
	"payload" jsonb, /* Option < JsonbKind > */
	"priority" INT, /* Option < i32 > */
	"attempts" INT, /* Option < i32 > */
	"max_attempts" INT, /* Option < i32 > */
	"idempotency_key" TEXT, /* Option < & str > */
	"lease_expires_at" timestamp with time zone, /* Option < TimestampWithTimeZone > */
	"current_run_id" uuid, /* Option < pgrx :: Uuid > */
	"finished_at" timestamp with time zone /* Option < TimestampWithTimeZone > */
) RETURNS bool /* bool */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'jobs_row_check_wrapper';

CREATE FUNCTION mcp_jobs."_job_runs_row_check"(
	"attempt" INT, /* Option < i32 > */
	"outcome" TEXT, /* Option < & str > */
	"finished_at" timestamp with time zone /* Option < TimestampWithTimeZone > */
) RETURNS bool /* bool */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'job_runs_row_check_wrapper';

CREATE FUNCTION mcp_jobs."_job_events_row_check"(
	"event_type" TEXT /* Option < & str > */
) RETURNS bool /* bool */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'job_events_row_check_wrapper';

ALTER TABLE mcp_jobs.jobs
    DROP CONSTRAINT jobs_status_check,
    DROP CONSTRAINT jobs_source_check,
    DROP CONSTRAINT jobs_job_type_check,
    DROP CONSTRAINT jobs_payload_check,
    DROP CONSTRAINT jobs_priority_check,
    DROP CONSTRAINT jobs_attempts_check,
    DROP CONSTRAINT jobs_max_attempts_check,
    DROP CONSTRAINT jobs_idempotency_key_check,
    DROP CONSTRAINT jobs_lease_check,
    DROP CONSTRAINT jobs_processing_run_check,
    DROP CONSTRAINT jobs_finished_check,
    ADD CONSTRAINT jobs_row_check CHECK (mcp_jobs._jobs_row_check(
        status, source, job_type, payload, priority, attempts, max_attempts, idempotency_key,
        lease_expires_at, current_run_id, finished_at));

ALTER TABLE mcp_jobs.job_runs
    DROP CONSTRAINT job_runs_outcome_check,
    DROP CONSTRAINT job_runs_closed_check,
    DROP CONSTRAINT job_runs_attempt_check,
    DROP CONSTRAINT job_runs_job_id_fkey,
    ADD CONSTRAINT job_runs_row_check CHECK (mcp_jobs._job_runs_row_check(attempt, outcome, finished_at));

ALTER TABLE mcp_jobs.job_events
    DROP CONSTRAINT job_events_type_check,
    DROP CONSTRAINT job_events_job_id_fkey,
    ADD CONSTRAINT job_events_row_check CHECK (mcp_jobs._job_events_row_check(event_type));

-- ---------------------------------------------------------------------------------------------
-- A job's runs and events go with it: statement triggers instead of ON DELETE CASCADE
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION mcp_jobs._delete_job_history() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM mcp_jobs.job_events e USING deleted_jobs d WHERE e.job_id = d.id;
    DELETE FROM mcp_jobs.job_runs r USING deleted_jobs d WHERE r.job_id = d.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_delete_history
    AFTER DELETE ON mcp_jobs.jobs REFERENCING OLD TABLE AS deleted_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION mcp_jobs._delete_job_history();

CREATE FUNCTION mcp_jobs._truncate_job_history() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    TRUNCATE mcp_jobs.job_events, mcp_jobs.job_runs;
    RETURN NULL;
EXCEPTION WHEN object_in_use THEN
    -- TRUNCATE jobs, job_runs, job_events in one statement: the two are open in it (and already
    -- empty by the time this AFTER trigger runs), so TRUNCATE refuses; DELETE has nothing to do.
    DELETE FROM mcp_jobs.job_events;
    DELETE FROM mcp_jobs.job_runs;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_truncate_history
    AFTER TRUNCATE ON mcp_jobs.jobs
    FOR EACH STATEMENT EXECUTE FUNCTION mcp_jobs._truncate_job_history();

-- ---------------------------------------------------------------------------------------------
-- Hot functions plan on indexes only
-- ---------------------------------------------------------------------------------------------
-- The queue's hot functions look rows up only by key (primary key, partial claim and lease
-- indexes). Their statements are prepared once per backend and PostgreSQL keeps a generic plan
-- made from the statistics and table sizes of that moment: planned while job_runs was empty (a
-- fresh install, after TRUNCATE, before autovacuum's first ANALYZE), "find the run by id" became a
-- sequential scan of job_runs that each call then paid as the table grew (bench/ANALYSIS.md: 0.37 ms
-- and 102 buffers per complete_job in a 30 000-job drain, 0.09 ms and 27 buffers with this setting).
-- enable_seqscan = off, for these functions only, keeps their plans on the indexes whatever the
-- statistics were when they were made.
ALTER FUNCTION mcp_jobs.enqueue_job(text, text, jsonb, integer, timestamptz, integer, text) SET enable_seqscan = off;
ALTER FUNCTION mcp_jobs.claim_next_job(text, text[], text[], integer) SET enable_seqscan = off;
ALTER FUNCTION mcp_jobs.claim_jobs(text, text[], text[], integer, integer) SET enable_seqscan = off;
ALTER FUNCTION mcp_jobs.complete_job(uuid, uuid, jsonb) SET enable_seqscan = off;
ALTER FUNCTION mcp_jobs.complete_jobs(uuid[], uuid[], jsonb[]) SET enable_seqscan = off;
ALTER FUNCTION mcp_jobs.fail_job(uuid, uuid, text, boolean) SET enable_seqscan = off;
ALTER FUNCTION mcp_jobs.report_progress(uuid, uuid, jsonb) SET enable_seqscan = off;
ALTER FUNCTION mcp_jobs.cancel_job(uuid) SET enable_seqscan = off;

-- ---------------------------------------------------------------------------------------------
-- Comments and privileges as a fresh install has them
-- ---------------------------------------------------------------------------------------------
COMMENT ON FUNCTION mcp_jobs._jobs_row_check(text, text, text, jsonb, integer, integer, integer, text, timestamptz, uuid, timestamptz) IS 'The row rules of mcp_jobs.jobs (constraint jobs_row_check); true, or raises check_violation (23514) naming the broken rule.';
COMMENT ON FUNCTION mcp_jobs._job_runs_row_check(integer, text, timestamptz) IS 'The row rules of mcp_jobs.job_runs (constraint job_runs_row_check); true, or raises check_violation (23514) naming the broken rule.';
COMMENT ON FUNCTION mcp_jobs._job_events_row_check(text) IS 'The row rule of mcp_jobs.job_events (constraint job_events_row_check): a known event_type; true, or raises check_violation (23514).';
COMMENT ON FUNCTION mcp_jobs._delete_job_history() IS 'Trigger jobs_delete_history: deletes the runs and events of deleted jobs (what ON DELETE CASCADE did before 0.3.0).';
COMMENT ON FUNCTION mcp_jobs._truncate_job_history() IS 'Trigger jobs_truncate_history: TRUNCATE of jobs empties job_runs and job_events too.';
COMMENT ON TRIGGER jobs_delete_history ON mcp_jobs.jobs IS 'A deleted job takes its runs and events with it.';
COMMENT ON TRIGGER jobs_truncate_history ON mcp_jobs.jobs IS 'TRUNCATE of jobs also empties job_runs and job_events.';
COMMENT ON CONSTRAINT jobs_row_check ON mcp_jobs.jobs IS 'Status, names, payload, priority, attempts and the state invariants (lease, run, finished_at); see mcp_jobs._jobs_row_check.';
COMMENT ON CONSTRAINT job_runs_row_check ON mcp_jobs.job_runs IS 'Attempt, outcome, and a run is open (no outcome, no finished_at) or closed (both); see mcp_jobs._job_runs_row_check.';
COMMENT ON CONSTRAINT job_events_row_check ON mcp_jobs.job_events IS 'A known event_type; see mcp_jobs._job_events_row_check.';

REVOKE ALL ON FUNCTION mcp_jobs._delete_job_history(), mcp_jobs._truncate_job_history() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    mcp_jobs._jobs_row_check(text, text, text, jsonb, integer, integer, integer, text, timestamptz, uuid, timestamptz),
    mcp_jobs._job_runs_row_check(integer, text, timestamptz),
    mcp_jobs._job_events_row_check(text)
    TO PUBLIC;

-- service_role (Supabase) gets the new functions as at a fresh install (grant_access is idempotent)
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
        PERFORM mcp_jobs.grant_access('service_role'::pg_catalog.regrole);
    END IF;
END;
$$;
