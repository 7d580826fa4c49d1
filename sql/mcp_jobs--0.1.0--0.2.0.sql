-- mcp_jobs 0.1.0 -> 0.2.0
--
-- Upgrade scripts only add or alter objects; they never drop and recreate a table (data is kept).
-- tests/test_upgrade.py installs 0.1.0 (sql/archive/mcp_jobs--0.1.0.sql) with data in every state,
-- runs ALTER EXTENSION mcp_jobs UPDATE, checks every row and the API, and compares the upgraded
-- schema object by object with a fresh 0.2.0 install: anything added to the extension must be added
-- here too.
\echo Use "ALTER EXTENSION mcp_jobs UPDATE TO '0.2.0'" to load this file. \quit

-- ---------------------------------------------------------------------------------------------
-- Closing a run is a HOT update: no index on job_runs.finished_at, free space on each page
-- ---------------------------------------------------------------------------------------------
DROP INDEX mcp_jobs.job_runs_finished_at_brin;
ALTER TABLE mcp_jobs.job_runs SET (fillfactor = 90);

-- ---------------------------------------------------------------------------------------------
-- Metrics, alerts and maintenance (new in 0.2.0)
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION mcp_jobs."aggregate_metrics"(
	"p_from" timestamp with time zone DEFAULT NULL, /* Option < TimestampWithTimeZone > */
	"p_to" timestamp with time zone DEFAULT NULL /* Option < TimestampWithTimeZone > */
) RETURNS bigint /* i64 */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'aggregate_metrics_wrapper';

CREATE FUNCTION mcp_jobs."alerts"() RETURNS TABLE (
	"level" TEXT,  /* String */
	"metric" TEXT,  /* String */
	"source" TEXT,  /* String */
	"value" double precision,  /* f64 */
	"threshold" double precision,  /* f64 */
	"message" TEXT  /* String */
)
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'alerts_wrapper';

CREATE FUNCTION mcp_jobs."run_maintenance"() RETURNS jsonb /* pgrx :: JsonB */
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'run_maintenance_wrapper';

-- mcp_jobs monitoring: views for operators (comments in finalize.sql).

-- Queue depth per source and job type: jobs waiting (queued) and in flight (processing).
-- The seed's depth query filters status IN ('queued', 'running'); this extension's in-flight state is
-- 'processing', so that query only ever shows queued jobs (status is text, so 'running' is simply
-- never matched, without error). This view counts both. Two branches on the partial indexes of the
-- queued and processing jobs, so it does not scan finished history. security_invoker: the caller's
-- privileges and row-level security apply, as if it queried mcp_jobs.jobs itself.
CREATE VIEW mcp_jobs.queue_depth WITH (security_invoker = true) AS
SELECT source,
       job_type,
       count(*) FILTER (WHERE status = 'queued')                   AS queued,
       count(*) FILTER (WHERE status = 'processing')               AS processing,
       count(*) FILTER (WHERE status = 'queued' AND run_at <= now()) AS due_now,
       min(created_at) FILTER (WHERE status = 'queued')            AS oldest_queued_at,
       now() - min(created_at) FILTER (WHERE status = 'queued')    AS oldest_queued_age
  FROM (SELECT source, job_type, status, run_at, created_at
          FROM mcp_jobs.jobs
         WHERE status = 'queued'
        UNION ALL
        SELECT source, job_type, status, run_at, created_at
          FROM mcp_jobs.jobs
         WHERE status = 'processing') q
 GROUP BY source, job_type;

COMMENT ON TABLE mcp_jobs.metrics IS 'Hourly aggregates per (hour, source, job_type), filled by aggregate_metrics().';
COMMENT ON COLUMN mcp_jobs.metrics.run_ms_avg IS 'Average run time of attempts that completed or failed in the hour (ms); expired leases are left out (they measure the lease, not the work).';
COMMENT ON VIEW mcp_jobs.queue_depth IS 'Queue depth per source and job type: queued and in-flight (processing) jobs. The seed''s depth query filters status IN (''queued'', ''running''); the in-flight state is ''processing'', so that query shows queued jobs only. security_invoker: the caller''s privileges and row-level security apply.';
COMMENT ON COLUMN mcp_jobs.queue_depth.source IS 'Job source.';
COMMENT ON COLUMN mcp_jobs.queue_depth.job_type IS 'Job type.';
COMMENT ON COLUMN mcp_jobs.queue_depth.queued IS 'Jobs waiting to be claimed (including those scheduled for later and retries in backoff).';
COMMENT ON COLUMN mcp_jobs.queue_depth.processing IS 'Jobs claimed by a worker (in flight).';
COMMENT ON COLUMN mcp_jobs.queue_depth.due_now IS 'Queued jobs whose run_at has passed: claimable now.';
COMMENT ON COLUMN mcp_jobs.queue_depth.oldest_queued_at IS 'Enqueue time of the oldest queued job.';
COMMENT ON COLUMN mcp_jobs.queue_depth.oldest_queued_age IS 'now() - oldest_queued_at.';
COMMENT ON FUNCTION mcp_jobs.aggregate_metrics(timestamptz, timestamptz) IS 'Recompute mcp_jobs.metrics for every whole UTC hour touched by [p_from, p_to) (default: start of the previous hour to now()) from job_events and job_runs; rows of the range without activity are deleted, rows outside it never touched. Idempotent. At most 31 days per call (22023). Returns the rows written. Hours whose jobs were pruned (mcp_jobs.retention) cannot be recomputed.';
COMMENT ON FUNCTION mcp_jobs.alerts() IS 'The seed''s alert thresholds per source: rows (level critical|warning, metric queue_depth|dead_letter_unresolved|success_rate, source, value, threshold, message) for each metric past a threshold, most severe level only. Strict comparisons; thresholds are the mcp_jobs.alert_* settings (defaults 50/100 jobs, 5/10 dead letters, 0.9/0.8 success over 7 days).';
COMMENT ON FUNCTION mcp_jobs.run_maintenance() IS 'Requeue or dead-letter jobs whose lease expired, aggregate the metrics of the previous and current hour, and prune finished jobs (with their runs and events) older than mcp_jobs.retention, in bounded batches; never jobs with an unresolved dead letter, dead letters or metrics. Returns a JSON report. Run by the background worker when the library is preloaded, else schedule it (pg_cron).';

-- ---------------------------------------------------------------------------------------------
-- Batch claim and complete (new in 0.2.0)
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION mcp_jobs."claim_jobs"(
	"p_worker_id" TEXT DEFAULT NULL, /* Option < & str > */
	"p_sources" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"p_job_types" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"p_lease_seconds" INT DEFAULT 300, /* Option < i32 > */
	"p_limit" INT DEFAULT 10 /* Option < i32 > */
) RETURNS TABLE (
	"id" uuid,  /* pgrx :: Uuid */
	"run_id" uuid,  /* pgrx :: Uuid */
	"attempt" INT,  /* i32 */
	"max_attempts" INT,  /* i32 */
	"source" TEXT,  /* String */
	"job_type" TEXT,  /* String */
	"payload" jsonb,  /* RawJsonb */
	"priority" INT,  /* i32 */
	"run_at" timestamp with time zone,  /* TimestampWithTimeZone */
	"created_at" timestamp with time zone,  /* TimestampWithTimeZone */
	"lease_expires_at" timestamp with time zone  /* TimestampWithTimeZone */
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'claim_jobs_wrapper';

CREATE FUNCTION mcp_jobs."complete_jobs"(
	"p_job_ids" uuid[], /* :: std :: option :: Option < Vec < Option < pgrx :: Uuid > > > */
	"p_run_ids" uuid[], /* :: std :: option :: Option < Vec < Option < pgrx :: Uuid > > > */
	"p_results" jsonb[] DEFAULT NULL /* :: std :: option :: Option < Vec < Option < RawJsonb > > > */
) RETURNS TABLE (
	"job_id" uuid,  /* pgrx :: Uuid */
	"run_id" uuid,  /* pgrx :: Uuid */
	"status" TEXT,  /* Option < String > */
	"completed" bool,  /* bool */
	"reason" TEXT  /* Option < String > */
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'complete_jobs_wrapper';

CREATE FUNCTION public.claim_jobs(
    p_worker_id text DEFAULT NULL,
    p_sources text[] DEFAULT NULL,
    p_job_types text[] DEFAULT NULL,
    p_lease_seconds integer DEFAULT 300,
    p_limit integer DEFAULT 10
) RETURNS TABLE (
    id uuid,
    run_id uuid,
    attempt integer,
    max_attempts integer,
    source text,
    job_type text,
    payload jsonb,
    priority integer,
    run_at timestamptz,
    created_at timestamptz,
    lease_expires_at timestamptz
)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN QUERY SELECT * FROM mcp_jobs.claim_jobs(p_worker_id, p_sources, p_job_types, p_lease_seconds, p_limit);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
END;
$$;

CREATE FUNCTION public.complete_jobs(p_job_ids uuid[], p_run_ids uuid[], p_results jsonb[] DEFAULT NULL)
RETURNS TABLE (job_id uuid, run_id uuid, status text, completed boolean, reason text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN QUERY SELECT * FROM mcp_jobs.complete_jobs(p_job_ids, p_run_ids, p_results);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
END;
$$;

COMMENT ON FUNCTION mcp_jobs.claim_jobs(text, text[], text[], integer, integer) IS 'Batch claim_next_job: atomically claim up to p_limit (1..1000, default 10) due jobs in one statement, in claim order, each with its own run_id, run row and started event; 0 rows when nothing is due. Expired leases are requeued (or dead-lettered) first.';
COMMENT ON FUNCTION mcp_jobs.complete_jobs(uuid[], uuid[], jsonb[]) IS 'Batch complete_job: completes every (p_job_ids[i], p_run_ids[i]) pair whose run is still the job''s current processing run, with result p_results[i] (optional), in one statement. Returns one row per pair in input order: completed true, or false with reason (not found | lease expired | not processing: <status> | stale run); such a pair does not fail the batch. At most 1000 pairs; NULL arrays or elements, different lengths or a repeated job id are refused.';
COMMENT ON FUNCTION public.claim_jobs(text, text[], text[], integer, integer) IS 'mcp_jobs (PostgREST entry point): claim up to p_limit (1..1000) due jobs at once, each with its run_id, in claim order. Calls mcp_jobs.claim_jobs.';
COMMENT ON FUNCTION public.complete_jobs(uuid[], uuid[], jsonb[]) IS 'mcp_jobs (PostgREST entry point): complete many processing jobs (current run only) in one call; one row per (job, run) pair with completed and the reason when not. Calls mcp_jobs.complete_jobs.';

-- Privileges as a fresh install has them: nothing for PUBLIC; service_role (Supabase) gets the new
-- functions and the view through grant_access, which is idempotent.
REVOKE ALL ON FUNCTION mcp_jobs.aggregate_metrics(timestamptz, timestamptz), mcp_jobs.alerts(),
    mcp_jobs.run_maintenance(), mcp_jobs.claim_jobs(text, text[], text[], integer, integer),
    mcp_jobs.complete_jobs(uuid[], uuid[], jsonb[]), public.claim_jobs(text, text[], text[], integer, integer),
    public.complete_jobs(uuid[], uuid[], jsonb[]) FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
        PERFORM mcp_jobs.grant_access('service_role'::pg_catalog.regrole);
    END IF;
END;
$$;
NOTIFY pgrst, 'reload schema';
