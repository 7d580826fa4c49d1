-- mcp_jobs 0.5.0 -> 0.6.0: complete_and_claim_next, complete_job and claim_next_job in one call.
--
-- Upgrade scripts only add or alter objects; they never drop and recreate a table (data is kept).
-- tests/test_upgrade.py installs every archived version with data in every state, upgrades, checks
-- every row and the API, and compares the schema object by object with a fresh install.
\echo Use "ALTER EXTENSION mcp_jobs UPDATE TO '0.6.0'" to load this file. \quit

CREATE FUNCTION mcp_jobs."complete_and_claim_next"(
	"p_job_id" uuid, /* Option < pgrx :: Uuid > */
	"p_run_id" uuid, /* Option < pgrx :: Uuid > */
	"p_result" jsonb DEFAULT NULL, /* Option < RawJsonb > */
	"p_worker_id" TEXT DEFAULT NULL, /* Option < & str > */
	"p_sources" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"p_job_types" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"p_lease_seconds" INT DEFAULT 300 /* Option < i32 > */
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
AS 'MODULE_PATHNAME', 'complete_and_claim_next_wrapper';

CREATE FUNCTION public.complete_and_claim_next(
    p_job_id uuid,
    p_run_id uuid,
    p_result jsonb DEFAULT NULL,
    p_worker_id text DEFAULT NULL,
    p_sources text[] DEFAULT NULL,
    p_job_types text[] DEFAULT NULL,
    p_lease_seconds integer DEFAULT 300
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
    RETURN QUERY SELECT * FROM mcp_jobs.complete_and_claim_next(p_job_id, p_run_id, p_result, p_worker_id,
                                                                p_sources, p_job_types, p_lease_seconds);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
END;
$$;

COMMENT ON FUNCTION mcp_jobs.complete_and_claim_next(uuid, uuid, jsonb, text, text[], text[], integer) IS 'complete_job, then claim_next_job, in one call and one transaction: a worker taking jobs one at a time commits once per job instead of twice. Every argument is checked before anything is written; when the completion is refused (unknown job, wrong state, stale run, lost lease) the call raises complete_job''s error and nothing is completed or claimed. Returns the next due job with its run_id as claim_next_job does, or no row (the completion stands).';
COMMENT ON FUNCTION public.complete_and_claim_next(uuid, uuid, jsonb, text, text[], text[], integer) IS 'mcp_jobs (PostgREST entry point): complete_job, then claim_next_job, in one call (one request and one commit per job for a worker taking jobs one at a time); returns the next job or no row. Calls mcp_jobs.complete_and_claim_next; unknown job -> HTTP 404, wrong state or stale run id -> 409, and then nothing is completed or claimed.';

-- Privileges as a fresh install has them: nothing for PUBLIC. A role that may already run both
-- complete_job and claim_next_job (service_role, roles given mcp_jobs.grant_access) may run the
-- call that combines them, in either schema: it can do nothing those two cannot.
REVOKE ALL ON FUNCTION mcp_jobs.complete_and_claim_next(uuid, uuid, jsonb, text, text[], text[], integer),
    public.complete_and_claim_next(uuid, uuid, jsonb, text, text[], text[], integer) FROM PUBLIC;
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT a.grantee::pg_catalog.regrole AS role
          FROM pg_catalog.pg_proc p CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
         WHERE p.oid = 'mcp_jobs.complete_job(uuid, uuid, jsonb)'::pg_catalog.regprocedure
           AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner
        INTERSECT
        SELECT a.grantee::pg_catalog.regrole
          FROM pg_catalog.pg_proc p CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
         WHERE p.oid = 'mcp_jobs.claim_next_job(text, text[], text[], integer)'::pg_catalog.regprocedure
           AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION mcp_jobs.complete_and_claim_next(uuid, uuid, jsonb, text, text[], text[], integer), '
                                  'public.complete_and_claim_next(uuid, uuid, jsonb, text, text[], text[], integer) TO %s', r.role);
    END LOOP;
END;
$$;
NOTIFY pgrst, 'reload schema';
