-- mcp_jobs 0.6.1 -> 0.7.0.
--
-- Upgrade scripts only add or alter objects; they never drop and recreate a table (data is kept).
-- tests/test_upgrade.py installs every archived version with data in every state, upgrades, checks
-- every row and the API, and compares the schema object by object with a fresh install.
\echo Use "ALTER EXTENSION mcp_jobs UPDATE TO '0.7.0'" to load this file. \quit

-- Who may run what before the upgrade: functions that are replaced (a changed signature) give
-- their EXECUTE grants to their successors, and new functions go to the roles that may run the
-- function they extend (see the end of this script).
SELECT pg_catalog.set_config('mcp_jobs_upgrade.grants', coalesce((
    SELECT pg_catalog.json_agg(pg_catalog.json_build_object('fn', g.fn, 'role', g.role))::text
      FROM (SELECT n.nspname || '.' || p.proname || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')' AS fn,
                   a.grantee::pg_catalog.regrole::text AS role
              FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
             CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
             WHERE n.nspname IN ('mcp_jobs', 'public')
               AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner) g), '[]'), true);

-- ---------------------------------------------------------------------------------------------
-- fail_job records details (p_details) in the failed event and the dead letter
-- ---------------------------------------------------------------------------------------------
ALTER TABLE mcp_jobs.dead_letter_queue ADD COLUMN details jsonb;
DROP FUNCTION public.fail_job(uuid, uuid, text, boolean);
DROP FUNCTION mcp_jobs.fail_job(uuid, uuid, text, boolean);
CREATE FUNCTION mcp_jobs."fail_job"(
	"p_job_id" uuid, /* Option < pgrx :: Uuid > */
	"p_run_id" uuid, /* Option < pgrx :: Uuid > */
	"p_error" TEXT, /* Option < & str > */
	"p_retry" bool DEFAULT true, /* Option < bool > */
	"p_details" jsonb DEFAULT NULL /* Option < RawJsonb > */
) RETURNS jsonb /* RawJsonb */
VOLATILE PARALLEL UNSAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'fail_job_with_details_wrapper';

CREATE FUNCTION mcp_jobs."get_metrics"(
	"p_from" timestamp with time zone DEFAULT NULL, /* Option < TimestampWithTimeZone > */
	"p_to" timestamp with time zone DEFAULT NULL, /* Option < TimestampWithTimeZone > */
	"p_source" TEXT DEFAULT NULL, /* Option < & str > */
	"p_job_type" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS TABLE (
	"hour" timestamp with time zone,  /* TimestampWithTimeZone */
	"source" TEXT,  /* String */
	"job_type" TEXT,  /* String */
	"enqueued" bigint,  /* i64 */
	"started" bigint,  /* i64 */
	"completed" bigint,  /* i64 */
	"failed" bigint,  /* i64 */
	"retried" bigint,  /* i64 */
	"dead_lettered" bigint,  /* i64 */
	"cancelled" bigint,  /* i64 */
	"lease_expired" bigint,  /* i64 */
	"success_rate" double precision,  /* Option < f64 > */
	"run_ms_avg" double precision,  /* Option < f64 > */
	"run_ms_p50" double precision,  /* Option < f64 > */
	"run_ms_p95" double precision,  /* Option < f64 > */
	"run_ms_max" double precision,  /* Option < f64 > */
	"wait_ms_p50" double precision,  /* Option < f64 > */
	"wait_ms_p95" double precision  /* Option < f64 > */
)
STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'get_metrics_wrapper';

CREATE FUNCTION mcp_jobs."list_dead_letters"(
	"p_source" TEXT DEFAULT NULL, /* Option < & str > */
	"p_job_type" TEXT DEFAULT NULL, /* Option < & str > */
	"p_resolved" bool DEFAULT false, /* Option < bool > */
	"p_limit" INT DEFAULT 50, /* Option < i32 > */
	"p_before" uuid DEFAULT NULL /* Option < pgrx :: Uuid > */
) RETURNS TABLE (
	"id" uuid,  /* pgrx :: Uuid */
	"job_id" uuid,  /* pgrx :: Uuid */
	"source" TEXT,  /* String */
	"job_type" TEXT,  /* String */
	"payload" jsonb,  /* RawJsonb */
	"attempts" INT,  /* i32 */
	"last_error" TEXT,  /* Option < String > */
	"details" jsonb,  /* Option < RawJsonb > */
	"failed_at" timestamp with time zone,  /* TimestampWithTimeZone */
	"resolved" bool,  /* bool */
	"resolved_at" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"resolution" TEXT,  /* Option < String > */
	"resolution_note" TEXT  /* Option < String > */
)
STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'list_dead_letters_wrapper';

CREATE FUNCTION mcp_jobs."dead_letter_groups"(
	"p_resolved" bool DEFAULT false /* Option < bool > */
) RETURNS TABLE (
	"source" TEXT,  /* String */
	"job_type" TEXT,  /* String */
	"error" TEXT,  /* String */
	"dead_letters" bigint,  /* i64 */
	"first_failed_at" timestamp with time zone,  /* TimestampWithTimeZone */
	"last_failed_at" timestamp with time zone,  /* TimestampWithTimeZone */
	"ids" uuid[]  /* Vec < pgrx :: Uuid > */
)
STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'dead_letter_groups_wrapper';

CREATE FUNCTION mcp_jobs."requeue_dead_letters"(
	"p_ids" uuid[] /* :: std :: option :: Option < Vec < Option < pgrx :: Uuid > > > */
) RETURNS TABLE (
	"id" uuid,  /* pgrx :: Uuid */
	"job_id" uuid  /* pgrx :: Uuid */
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'requeue_dead_letters_wrapper';

CREATE FUNCTION mcp_jobs."resolve_dead_letters"(
	"p_ids" uuid[], /* :: std :: option :: Option < Vec < Option < pgrx :: Uuid > > > */
	"p_note" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS bigint /* i64 */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'resolve_dead_letters_wrapper';

CREATE FUNCTION public.fail_job(p_job_id uuid, p_run_id uuid, p_error text, p_retry boolean DEFAULT true,
                                p_details jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = ''
AS $$
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN mcp_jobs.fail_job(p_job_id, p_run_id, p_error, p_retry, p_details);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
    RETURN NULL;
END;
$$;

CREATE FUNCTION public.requeue_dead_letters(p_ids uuid[])
RETURNS TABLE (id uuid, job_id uuid)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN QUERY SELECT * FROM mcp_jobs.requeue_dead_letters(p_ids);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
END;
$$;

CREATE FUNCTION public.resolve_dead_letters(p_ids uuid[], p_note text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = ''
AS $$
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN mcp_jobs.resolve_dead_letters(p_ids, p_note);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
    RETURN NULL;
END;
$$;

CREATE FUNCTION public.list_dead_letters(
    p_source text DEFAULT NULL,
    p_job_type text DEFAULT NULL,
    p_resolved boolean DEFAULT false,
    p_limit integer DEFAULT 50,
    p_before uuid DEFAULT NULL
) RETURNS TABLE (
    id uuid,
    job_id uuid,
    source text,
    job_type text,
    payload jsonb,
    attempts integer,
    last_error text,
    details jsonb,
    failed_at timestamptz,
    resolved boolean,
    resolved_at timestamptz,
    resolution text,
    resolution_note text
)
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN QUERY SELECT * FROM mcp_jobs.list_dead_letters(p_source, p_job_type, p_resolved, p_limit, p_before);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
END;
$$;

CREATE FUNCTION public.dead_letter_groups(p_resolved boolean DEFAULT false)
RETURNS TABLE (
    source text,
    job_type text,
    error text,
    dead_letters bigint,
    first_failed_at timestamptz,
    last_failed_at timestamptz,
    ids uuid[]
)
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN QUERY SELECT * FROM mcp_jobs.dead_letter_groups(p_resolved);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
END;
$$;

CREATE FUNCTION public.get_metrics(
    p_from timestamptz DEFAULT NULL,
    p_to timestamptz DEFAULT NULL,
    p_source text DEFAULT NULL,
    p_job_type text DEFAULT NULL
) RETURNS TABLE (
    hour timestamptz,
    source text,
    job_type text,
    enqueued bigint,
    started bigint,
    completed bigint,
    failed bigint,
    retried bigint,
    dead_lettered bigint,
    cancelled bigint,
    lease_expired bigint,
    success_rate double precision,
    run_ms_avg double precision,
    run_ms_p50 double precision,
    run_ms_p95 double precision,
    run_ms_max double precision,
    wait_ms_p50 double precision,
    wait_ms_p95 double precision
)
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN QUERY SELECT * FROM mcp_jobs.get_metrics(p_from, p_to, p_source, p_job_type);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
END;
$$;

CREATE FUNCTION public.alerts()
RETURNS TABLE (level text, metric text, source text, value double precision, threshold double precision, message text)
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = ''
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY SELECT * FROM mcp_jobs.alerts();
END;
$$;

-- The view as a function, for PostgREST (which calls functions) and clients that want the age as a
-- number: the oldest queued job's age in seconds.
CREATE FUNCTION mcp_jobs.queue_depth()
RETURNS TABLE (
    source text,
    job_type text,
    queued bigint,
    processing bigint,
    due_now bigint,
    oldest_queued_at timestamptz,
    oldest_queued_age_seconds double precision
)
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = ''
AS $$
    SELECT q.source, q.job_type, q.queued, q.processing, q.due_now, q.oldest_queued_at,
           extract(epoch FROM q.oldest_queued_age)::double precision
      FROM mcp_jobs.queue_depth q
     ORDER BY q.source, q.job_type
$$;

CREATE FUNCTION public.queue_depth()
RETURNS TABLE (
    source text,
    job_type text,
    queued bigint,
    processing bigint,
    due_now bigint,
    oldest_queued_at timestamptz,
    oldest_queued_age_seconds double precision
)
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = ''
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY SELECT * FROM mcp_jobs.queue_depth();
END;
$$;

COMMENT ON FUNCTION public.fail_job(uuid, uuid, text, boolean, jsonb) IS 'mcp_jobs (PostgREST entry point): record a failed attempt (retry or dead letter), with optional details. Calls mcp_jobs.fail_job; unknown job -> HTTP 404, wrong state or stale run id -> 409.';
COMMENT ON FUNCTION public.requeue_dead_letters(uuid[]) IS 'mcp_jobs (PostgREST entry point): requeue many dead letters, all or nothing. Calls mcp_jobs.requeue_dead_letters; unknown -> HTTP 404, already resolved -> 409.';
COMMENT ON FUNCTION public.resolve_dead_letters(uuid[], text) IS 'mcp_jobs (PostgREST entry point): resolve many dead letters with one note, all or nothing. Calls mcp_jobs.resolve_dead_letters; unknown -> HTTP 404, already resolved -> 409.';
COMMENT ON FUNCTION public.list_dead_letters(text, text, boolean, integer, uuid) IS 'mcp_jobs (PostgREST entry point, STABLE: GET works): dead letters newest first, filtered by source, job type, resolved; p_before pages. Calls mcp_jobs.list_dead_letters.';
COMMENT ON FUNCTION public.dead_letter_groups(boolean) IS 'mcp_jobs (PostgREST entry point, STABLE: GET works): dead letters grouped by source, job type and error. Calls mcp_jobs.dead_letter_groups.';
COMMENT ON FUNCTION public.get_metrics(timestamptz, timestamptz, text, text) IS 'mcp_jobs (PostgREST entry point, STABLE: GET works): hourly metrics of a range of at most 31 days (default the last 24 hours). Calls mcp_jobs.get_metrics.';
COMMENT ON FUNCTION public.alerts() IS 'mcp_jobs (PostgREST entry point, STABLE: GET works): the alert rows of mcp_jobs.alerts().';
COMMENT ON FUNCTION public.queue_depth() IS 'mcp_jobs (PostgREST entry point, STABLE: GET works): queue depth per source and job type. Calls mcp_jobs.queue_depth().';
COMMENT ON FUNCTION mcp_jobs.queue_depth() IS 'The rows of the view mcp_jobs.queue_depth, ordered by source and job type, with the oldest queued job''s age in seconds (oldest_queued_age_seconds).';
COMMENT ON FUNCTION mcp_jobs.fail_job(uuid, uuid, text, boolean, jsonb) IS 'Record a failed attempt: with attempts left and p_retry, requeue after the backoff; otherwise fail the job and write a dead letter. p_details (any JSON, e.g. a failure analysis) is kept in the failed event and the dead letter.';
COMMENT ON FUNCTION mcp_jobs.requeue_dead_letters(uuid[]) IS 'requeue_dead_letter for 1..1000 dead letters at once, all or nothing; one row (id, job_id) per dead letter in input order.';
COMMENT ON FUNCTION mcp_jobs.resolve_dead_letters(uuid[], text) IS 'resolve_dead_letter for 1..1000 dead letters at once with one note, all or nothing; returns how many were resolved.';
COMMENT ON FUNCTION mcp_jobs.list_dead_letters(text, text, boolean, integer, uuid) IS 'Dead letters newest first, filtered by source, job type and resolved (default false = open ones; NULL = all); pass the last id as p_before for the next page (p_limit 1..1000).';
COMMENT ON FUNCTION mcp_jobs.dead_letter_groups(boolean) IS 'Dead letters grouped by source, job type and error (first line, 200 characters), largest group first, with up to 100 ids per group; default the open ones, NULL all.';
COMMENT ON FUNCTION mcp_jobs.get_metrics(timestamptz, timestamptz, text, text) IS 'Hourly metrics rows of the hours [hour of p_from, p_to) (default the last 24 hours; at most 31 days, 22023 otherwise), for one source and job type or all, in hour order.';
COMMENT ON COLUMN mcp_jobs.dead_letter_queue.details IS 'The details the worker passed to fail_job with the last failure (p_details: e.g. a failure analysis and its reason), or NULL.';
ALTER FUNCTION mcp_jobs.fail_job(uuid, uuid, text, boolean, jsonb) SET enable_seqscan = off;
ALTER FUNCTION mcp_jobs.resolve_dead_letters(uuid[], text) SET plan_cache_mode = force_custom_plan;

-- ---------------------------------------------------------------------------------------------
-- Privileges as a fresh install has them: nothing for PUBLIC; each new function to the roles that
-- may run the function it replaces or extends (service_role, roles given mcp_jobs.grant_access).
-- ---------------------------------------------------------------------------------------------
REVOKE ALL ON FUNCTION
    mcp_jobs.fail_job(uuid, uuid, text, boolean, jsonb), public.fail_job(uuid, uuid, text, boolean, jsonb),
    mcp_jobs.get_metrics(timestamptz, timestamptz, text, text), public.get_metrics(timestamptz, timestamptz, text, text),
    mcp_jobs.list_dead_letters(text, text, boolean, integer, uuid), public.list_dead_letters(text, text, boolean, integer, uuid),
    mcp_jobs.dead_letter_groups(boolean), public.dead_letter_groups(boolean),
    mcp_jobs.requeue_dead_letters(uuid[]), public.requeue_dead_letters(uuid[]),
    mcp_jobs.resolve_dead_letters(uuid[], text), public.resolve_dead_letters(uuid[], text),
    public.alerts(), public.queue_depth(), mcp_jobs.queue_depth()
FROM PUBLIC;
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT DISTINCT g.role, n.fn
          FROM pg_catalog.json_to_recordset(pg_catalog.current_setting('mcp_jobs_upgrade.grants')::json) AS g(fn text, role text)
          JOIN (VALUES
              ('mcp_jobs.fail_job(uuid, uuid, text, boolean)', 'mcp_jobs.fail_job(uuid, uuid, text, boolean, jsonb)'),
              ('public.fail_job(uuid, uuid, text, boolean)', 'public.fail_job(uuid, uuid, text, boolean, jsonb)'),
              ('mcp_jobs.alerts()', 'mcp_jobs.get_metrics(timestamptz, timestamptz, text, text)'),
              ('mcp_jobs.alerts()', 'public.get_metrics(timestamptz, timestamptz, text, text)'),
              ('mcp_jobs.alerts()', 'public.alerts()'),
              ('mcp_jobs.get_job_stats(text)', 'public.queue_depth()'),
              ('mcp_jobs.get_job_stats(text)', 'mcp_jobs.queue_depth()'),
              ('mcp_jobs.get_job(uuid)', 'mcp_jobs.list_dead_letters(text, text, boolean, integer, uuid)'),
              ('mcp_jobs.get_job(uuid)', 'public.list_dead_letters(text, text, boolean, integer, uuid)'),
              ('mcp_jobs.get_job(uuid)', 'mcp_jobs.dead_letter_groups(boolean)'),
              ('mcp_jobs.get_job(uuid)', 'public.dead_letter_groups(boolean)'),
              ('mcp_jobs.requeue_dead_letter(uuid)', 'mcp_jobs.requeue_dead_letters(uuid[])'),
              ('mcp_jobs.requeue_dead_letter(uuid)', 'public.requeue_dead_letters(uuid[])'),
              ('mcp_jobs.resolve_dead_letter(uuid, text)', 'mcp_jobs.resolve_dead_letters(uuid[], text)'),
              ('mcp_jobs.resolve_dead_letter(uuid, text)', 'public.resolve_dead_letters(uuid[], text)')
          ) AS n(old, fn) ON n.old = g.fn
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', r.fn, r.role);
    END LOOP;
END;
$$;
NOTIFY pgrst, 'reload schema';
