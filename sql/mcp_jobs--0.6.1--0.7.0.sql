-- mcp_jobs 0.6.1 -> 0.7.0: the hot path writes rows directly; flow control, schedules, batch
-- enqueue, waiting claims; reads for the console.
--
-- Upgrade scripts only add or alter objects; they never drop and recreate a table (data is kept).
-- tests/test_upgrade.py installs every archived version with data in every state, upgrades, checks
-- every row and the API, and compares the schema object by object with a fresh install.
--
-- Rows of jobs written by direct DML in earlier versions are checked against the rules of 0.7.0
-- when jobs_row_check is added again below (control characters and blank names are refused now):
-- such a row makes this upgrade fail with 23514 naming it, and nothing is changed.
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
-- Tables
-- ---------------------------------------------------------------------------------------------
ALTER TABLE mcp_jobs.dead_letter_queue ADD COLUMN details jsonb;
ALTER TABLE mcp_jobs.jobs ADD COLUMN concurrency_key text;
ALTER TABLE mcp_jobs.metrics ADD COLUMN run_ms_sketch jsonb, ADD COLUMN wait_ms_sketch jsonb;

-- the row rules take the concurrency key too
ALTER TABLE mcp_jobs.jobs DROP CONSTRAINT jobs_row_check;
DROP FUNCTION mcp_jobs._jobs_row_check(text, text, text, jsonb, integer, integer, integer, text, timestamptz, uuid, timestamptz);
CREATE FUNCTION mcp_jobs."_jobs_row_check"(
	"status" TEXT, /* Option < & str > */
	"source" TEXT, /* Option < & str > */
	"job_type" TEXT, /* Option < & str > */
	"payload" jsonb, /* Option < JsonbKind > */
	"priority" INT, /* Option < i32 > */
	"attempts" INT, /* Option < i32 > */
	"max_attempts" INT, /* Option < i32 > */
	"idempotency_key" TEXT, /* Option < & str > */
	"concurrency_key" TEXT, /* Option < & str > */
	"lease_expires_at" timestamp with time zone, /* Option < TimestampWithTimeZone > */
	"current_run_id" uuid, /* Option < pgrx :: Uuid > */
	"finished_at" timestamp with time zone /* Option < TimestampWithTimeZone > */
) RETURNS bool /* bool */
IMMUTABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'jobs_row_check_keyed_wrapper';
ALTER TABLE mcp_jobs.jobs ADD CONSTRAINT jobs_row_check CHECK (mcp_jobs._jobs_row_check(
    status, source, job_type, payload, priority, attempts, max_attempts, idempotency_key,
    concurrency_key, lease_expires_at, current_run_id, finished_at));

-- the claim's and the busy jobs' indexes replace the claim, lease and finished_at indexes
-- (docs/design.md#indexes)
DROP INDEX mcp_jobs.jobs_claim_idx;
DROP INDEX mcp_jobs.jobs_lease_idx;
DROP INDEX mcp_jobs.jobs_finished_at_idx;
CREATE INDEX jobs_claim_idx ON mcp_jobs.jobs
    (priority DESC, source COLLATE "C", job_type COLLATE "C", concurrency_key COLLATE "C" NULLS FIRST, run_at, id)
    WHERE status = 'queued';
CREATE INDEX jobs_busy_idx ON mcp_jobs.jobs
    (source COLLATE "C", job_type COLLATE "C", concurrency_key COLLATE "C", lease_expires_at)
    WHERE status = 'processing';

-- runs and events are keyed by their job: one index each instead of two
ALTER TABLE mcp_jobs.job_runs DROP CONSTRAINT job_runs_pkey;
ALTER TABLE mcp_jobs.job_runs ADD CONSTRAINT job_runs_pkey PRIMARY KEY (job_id, id);
DROP INDEX mcp_jobs.job_runs_job_idx;
DROP INDEX mcp_jobs.job_runs_started_at_brin;
ALTER TABLE mcp_jobs.job_events DROP CONSTRAINT job_events_pkey;
ALTER TABLE mcp_jobs.job_events ADD CONSTRAINT job_events_pkey PRIMARY KEY (job_id, id);
DROP INDEX mcp_jobs.job_events_job_idx;

CREATE TABLE mcp_jobs.queues (
    source                  text        NOT NULL,
    job_type                text,
    paused                  boolean,
    max_concurrency         integer,
    max_concurrency_per_key integer,
    rate_limit              integer,
    rate_period             interval,
    max_queued              integer,
    paused_at               timestamptz,
    window_start            timestamptz,
    window_claims           integer     NOT NULL DEFAULT 0,
    queued_count            integer,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT queues_key UNIQUE NULLS NOT DISTINCT (source, job_type),
    CONSTRAINT queues_limits_check CHECK (
        coalesce(max_concurrency, 1) >= 1 AND coalesce(max_concurrency_per_key, 1) >= 1
        AND coalesce(rate_limit, 1) >= 1 AND coalesce(max_queued, 1) >= 1
        AND (rate_limit IS NULL) = (rate_period IS NULL)
        AND coalesce(rate_period > interval '0', true)
        AND window_claims >= 0 AND coalesce(queued_count, 0) >= 0
        AND (paused_at IS NULL OR paused IS TRUE))
);

CREATE TABLE mcp_jobs.schedules (
    name         text        PRIMARY KEY,
    cron         text        NOT NULL,
    timezone     text        NOT NULL DEFAULT 'UTC',
    source       text        NOT NULL,
    job_type     text        NOT NULL,
    payload      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    priority     integer     NOT NULL DEFAULT 5 CHECK (priority BETWEEN 0 AND 10),
    next_run_at  timestamptz NOT NULL,
    last_run_at  timestamptz,
    last_job_id  uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mcp_jobs.maintenance_state (
    singleton        boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    metrics_through  timestamptz,
    prune_after      uuid,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
INSERT INTO mcp_jobs.maintenance_state DEFAULT VALUES;

-- deleted jobs take their history with them, found by key natively
CREATE FUNCTION mcp_jobs."_delete_history"(
	"p_job_ids" uuid[] /* :: std :: option :: Option < Vec < Option < pgrx :: Uuid > > > */
) RETURNS bigint /* i64 */
VOLATILE PARALLEL UNSAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'delete_history_wrapper';
CREATE OR REPLACE FUNCTION mcp_jobs._delete_job_history() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM mcp_jobs._delete_history(ARRAY(SELECT id FROM deleted_jobs));
    RETURN NULL;
END
$$;

CREATE FUNCTION mcp_jobs._queues_changed() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'mcp_jobs_queues_changed';

CREATE TRIGGER queues_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mcp_jobs.queues
    FOR EACH STATEMENT EXECUTE FUNCTION mcp_jobs._queues_changed();

SELECT pg_catalog.pg_extension_config_dump('mcp_jobs.queues', '');
SELECT pg_catalog.pg_extension_config_dump('mcp_jobs.schedules', '');
ALTER TABLE mcp_jobs.queues ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_jobs.schedules ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_jobs.maintenance_state ENABLE ROW LEVEL SECURITY;

-- ---------------------------------------------------------------------------------------------
-- The queue_depth view shows flow control; the view as a function
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE VIEW mcp_jobs.queue_depth WITH (security_invoker = true) AS
WITH depth AS (
    SELECT source,
           job_type,
           count(*) FILTER (WHERE status = 'queued')                   AS queued,
           count(*) FILTER (WHERE status = 'processing')               AS processing,
           count(*) FILTER (WHERE status = 'queued' AND run_at <= now()) AS due_now,
           min(created_at) FILTER (WHERE status = 'queued')            AS oldest_queued_at
      FROM (SELECT source, job_type, status, run_at, created_at
              FROM mcp_jobs.jobs
             WHERE status = 'queued'
            UNION ALL
            SELECT source, job_type, status, run_at, created_at
              FROM mcp_jobs.jobs
             WHERE status = 'processing') q
     GROUP BY source, job_type
)
SELECT d.source,
       d.job_type,
       d.queued,
       d.processing,
       d.due_now,
       d.oldest_queued_at,
       now() - d.oldest_queued_at AS oldest_queued_age,
       coalesce(p.paused, s.paused, false) AS paused,
       CASE WHEN coalesce(p.paused, s.paused, false) THEN 'paused'
            WHEN d.processing >= coalesce(p.max_concurrency, s.max_concurrency) THEN 'max_concurrency'
            WHEN d.queued >= coalesce(p.max_queued, s.max_queued) THEN 'max_queued'
            WHEN coalesce(p.rate_limit, s.rate_limit) IS NOT NULL
             AND CASE WHEN p.rate_limit IS NOT NULL
                      THEN p.window_start + p.rate_period > now() AND p.window_claims >= p.rate_limit
                      ELSE s.window_start + s.rate_period > now() AND s.window_claims >= s.rate_limit END
                 THEN 'rate_limit'
       END AS held
  FROM depth d
  LEFT JOIN mcp_jobs.queues p ON p.source = d.source AND p.job_type = d.job_type
  LEFT JOIN mcp_jobs.queues s ON s.source = d.source AND s.job_type IS NULL;

CREATE FUNCTION mcp_jobs.queue_depth()
RETURNS TABLE (
    source text,
    job_type text,
    queued bigint,
    processing bigint,
    due_now bigint,
    oldest_queued_at timestamptz,
    oldest_queued_age_seconds double precision,
    paused boolean,
    held text
)
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = ''
AS $$
    SELECT q.source, q.job_type, q.queued, q.processing, q.due_now, q.oldest_queued_at,
           extract(epoch FROM q.oldest_queued_age)::double precision, q.paused, q.held
      FROM mcp_jobs.queue_depth q
     ORDER BY q.source, q.job_type
$$;

-- ---------------------------------------------------------------------------------------------
-- Functions whose arguments changed: dropped and created again (grants carried below)
-- ---------------------------------------------------------------------------------------------
DROP FUNCTION public.fail_job(uuid, uuid, text, boolean);
DROP FUNCTION mcp_jobs.fail_job(uuid, uuid, text, boolean);
DROP FUNCTION public.enqueue_job(text, text, jsonb, integer, timestamptz, integer, text);
DROP FUNCTION mcp_jobs.enqueue_job(text, text, jsonb, integer, timestamptz, integer, text);
DROP FUNCTION public.claim_next_job(text, text[], text[], integer);
DROP FUNCTION mcp_jobs.claim_next_job(text, text[], text[], integer);
DROP FUNCTION public.claim_jobs(text, text[], text[], integer, integer);
DROP FUNCTION mcp_jobs.claim_jobs(text, text[], text[], integer, integer);

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

CREATE FUNCTION mcp_jobs."enqueue_job"(
	"p_source" TEXT, /* Option < & str > */
	"p_job_type" TEXT, /* Option < & str > */
	"p_payload" jsonb DEFAULT '{}'::jsonb, /* Option < RawJsonb > */
	"p_priority" INT DEFAULT 5, /* Option < i32 > */
	"p_run_at" timestamp with time zone DEFAULT NULL, /* Option < TimestampWithTimeZone > */
	"p_max_attempts" INT DEFAULT NULL, /* Option < i32 > */
	"p_idempotency_key" TEXT DEFAULT NULL, /* Option < & str > */
	"p_concurrency_key" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS uuid /* pgrx :: Uuid */
VOLATILE PARALLEL UNSAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'enqueue_job_keyed_wrapper';

CREATE FUNCTION mcp_jobs."enqueue_jobs"(
	"p_jobs" jsonb /* Option < RawJsonb > */
) RETURNS uuid[] /* Vec < pgrx :: Uuid > */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'enqueue_jobs_wrapper';

CREATE FUNCTION mcp_jobs."claim_next_job"(
	"p_worker_id" TEXT DEFAULT NULL, /* Option < & str > */
	"p_sources" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"p_job_types" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"p_lease_seconds" INT DEFAULT 300, /* Option < i32 > */
	"p_wait_ms" INT DEFAULT 0 /* Option < i32 > */
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
AS 'MODULE_PATHNAME', 'claim_next_job_wait_wrapper';

CREATE FUNCTION mcp_jobs."claim_jobs"(
	"p_worker_id" TEXT DEFAULT NULL, /* Option < & str > */
	"p_sources" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"p_job_types" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"p_lease_seconds" INT DEFAULT 300, /* Option < i32 > */
	"p_limit" INT DEFAULT 10, /* Option < i32 > */
	"p_wait_ms" INT DEFAULT 0 /* Option < i32 > */
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
AS 'MODULE_PATHNAME', 'claim_jobs_wait_wrapper';

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

CREATE FUNCTION mcp_jobs."set_queue"(
	"p_source" TEXT, /* Option < & str > */
	"p_job_type" TEXT DEFAULT NULL, /* Option < & str > */
	"p_paused" bool DEFAULT NULL, /* Option < bool > */
	"p_max_concurrency" INT DEFAULT NULL, /* Option < i32 > */
	"p_rate_limit" INT DEFAULT NULL, /* Option < i32 > */
	"p_rate_period" interval DEFAULT NULL, /* Option < Interval > */
	"p_max_queued" INT DEFAULT NULL, /* Option < i32 > */
	"p_max_concurrency_per_key" INT DEFAULT NULL, /* Option < i32 > */
	"p_clear" TEXT[] DEFAULT NULL /* :: std :: option :: Option < Vec < Option < String > > > */
) RETURNS jsonb /* pgrx :: JsonB */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'set_queue_wrapper';

CREATE FUNCTION mcp_jobs."pause_queue"(
	"p_source" TEXT, /* Option < & str > */
	"p_job_type" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS jsonb /* pgrx :: JsonB */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'pause_queue_wrapper';

CREATE FUNCTION mcp_jobs."resume_queue"(
	"p_source" TEXT, /* Option < & str > */
	"p_job_type" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS jsonb /* pgrx :: JsonB */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'resume_queue_wrapper';

CREATE FUNCTION mcp_jobs."get_queues"() RETURNS TABLE (
	"source" TEXT,  /* String */
	"job_type" TEXT,  /* Option < String > */
	"paused" bool,  /* Option < bool > */
	"max_concurrency" INT,  /* Option < i32 > */
	"max_concurrency_per_key" INT,  /* Option < i32 > */
	"rate_limit" INT,  /* Option < i32 > */
	"rate_period" interval,  /* Option < Interval > */
	"max_queued" INT,  /* Option < i32 > */
	"paused_at" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"queued" bigint,  /* i64 */
	"processing" bigint,  /* i64 */
	"claims_in_window" INT,  /* i32 */
	"window_start" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"updated_at" timestamp with time zone  /* TimestampWithTimeZone */
)
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'get_queues_wrapper';

CREATE FUNCTION mcp_jobs."schedule_job"(
	"p_name" TEXT, /* Option < & str > */
	"p_cron" TEXT, /* Option < & str > */
	"p_source" TEXT, /* Option < & str > */
	"p_job_type" TEXT, /* Option < & str > */
	"p_payload" jsonb DEFAULT '{}'::jsonb, /* Option < RawJsonb > */
	"p_priority" INT DEFAULT 5, /* Option < i32 > */
	"p_timezone" TEXT DEFAULT 'UTC' /* Option < & str > */
) RETURNS jsonb /* pgrx :: JsonB */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'schedule_job_wrapper';

CREATE FUNCTION mcp_jobs."unschedule_job"(
	"p_name" TEXT /* Option < & str > */
) RETURNS jsonb /* pgrx :: JsonB */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'unschedule_job_wrapper';

CREATE FUNCTION mcp_jobs."list_schedules"() RETURNS TABLE (
	"name" TEXT,  /* String */
	"cron" TEXT,  /* String */
	"timezone" TEXT,  /* String */
	"source" TEXT,  /* String */
	"job_type" TEXT,  /* String */
	"payload" jsonb,  /* RawJsonb */
	"priority" INT,  /* i32 */
	"next_run_at" timestamp with time zone,  /* TimestampWithTimeZone */
	"last_run_at" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"last_job_id" uuid,  /* Option < pgrx :: Uuid > */
	"last_job_status" TEXT,  /* Option < String > */
	"created_at" timestamp with time zone,  /* TimestampWithTimeZone */
	"updated_at" timestamp with time zone  /* TimestampWithTimeZone */
)
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'list_schedules_wrapper';

CREATE FUNCTION mcp_jobs."cron_next"(
	"p_cron" TEXT, /* Option < & str > */
	"p_timezone" TEXT DEFAULT 'UTC', /* Option < & str > */
	"p_after" timestamp with time zone DEFAULT NULL, /* Option < TimestampWithTimeZone > */
	"p_count" INT DEFAULT 1 /* Option < i32 > */
) RETURNS SETOF timestamp with time zone /* TimestampWithTimeZone */
STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'cron_next_wrapper';

CREATE FUNCTION mcp_jobs."run_schedules"(
	"p_now" timestamp with time zone DEFAULT NULL /* Option < TimestampWithTimeZone > */
) RETURNS bigint /* i64 */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'run_schedules_wrapper';

CREATE FUNCTION mcp_jobs."diagnostics"() RETURNS jsonb /* pgrx :: JsonB */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'diagnostics_wrapper';

-- ---------------------------------------------------------------------------------------------
-- PostgREST wrappers: new, and those of the changed functions
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION mcp_jobs._raise_http(p_sqlstate text, p_message text, p_detail text, p_hint text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    v_code text := CASE p_sqlstate
                       WHEN 'P0002' THEN 'PT404'
                       WHEN '55000' THEN 'PT409'
                       WHEN '54000' THEN 'PT413'
                       ELSE coalesce(p_sqlstate, 'XX000')
                   END;
    v_message text := coalesce(nullif(p_message, ''), 'mcp_jobs error ' || coalesce(p_sqlstate, ''));
BEGIN
    IF p_sqlstate = '53400' THEN
        -- a full queue: HTTP 429 with Retry-After, through PostgREST's own error form (SQLSTATE
        -- PGRST: the message is the JSON body, the detail the status and headers)
        RAISE SQLSTATE 'PGRST' USING
            MESSAGE = pg_catalog.json_build_object('code', '53400', 'message', v_message,
                                                   'details', p_detail, 'hint', p_hint)::text,
            DETAIL = pg_catalog.json_build_object('status', 429, 'headers', pg_catalog.json_build_object(
                         'Retry-After', coalesce(pg_catalog.substring(p_detail, 'retry after about ([0-9]+) s'), '1')))::text;
    END IF;
    -- RAISE ... USING rejects NULL option values, hence the four forms.
    IF coalesce(p_detail, '') <> '' AND coalesce(p_hint, '') <> '' THEN
        RAISE EXCEPTION USING ERRCODE = v_code, MESSAGE = v_message, DETAIL = p_detail, HINT = p_hint;
    ELSIF coalesce(p_detail, '') <> '' THEN
        RAISE EXCEPTION USING ERRCODE = v_code, MESSAGE = v_message, DETAIL = p_detail;
    ELSIF coalesce(p_hint, '') <> '' THEN
        RAISE EXCEPTION USING ERRCODE = v_code, MESSAGE = v_message, HINT = p_hint;
    ELSE
        RAISE EXCEPTION USING ERRCODE = v_code, MESSAGE = v_message;
    END IF;
END;
$$;

CREATE FUNCTION public.enqueue_job(
    p_source text,
    p_job_type text,
    p_payload jsonb DEFAULT '{}'::jsonb,
    p_priority integer DEFAULT 5,
    p_run_at timestamptz DEFAULT NULL,
    p_max_attempts integer DEFAULT NULL,
    p_idempotency_key text DEFAULT NULL,
    p_concurrency_key text DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = ''
AS $$
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN mcp_jobs.enqueue_job(p_source, p_job_type, p_payload, p_priority, p_run_at, p_max_attempts,
                                p_idempotency_key, p_concurrency_key);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded
            OR configuration_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
    RETURN NULL;
END;
$$;

CREATE FUNCTION public.enqueue_jobs(p_jobs jsonb)
RETURNS uuid[]
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = ''
AS $$
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN mcp_jobs.enqueue_jobs(p_jobs);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded
            OR configuration_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
    RETURN NULL;
END;
$$;

CREATE FUNCTION public.claim_next_job(
    p_worker_id text DEFAULT NULL,
    p_sources text[] DEFAULT NULL,
    p_job_types text[] DEFAULT NULL,
    p_lease_seconds integer DEFAULT 300,
    p_wait_ms integer DEFAULT 0
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
    RETURN QUERY SELECT * FROM mcp_jobs.claim_next_job(p_worker_id, p_sources, p_job_types, p_lease_seconds, p_wait_ms);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
END;
$$;

CREATE FUNCTION public.claim_jobs(
    p_worker_id text DEFAULT NULL,
    p_sources text[] DEFAULT NULL,
    p_job_types text[] DEFAULT NULL,
    p_lease_seconds integer DEFAULT 300,
    p_limit integer DEFAULT 10,
    p_wait_ms integer DEFAULT 0
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
    RETURN QUERY SELECT * FROM mcp_jobs.claim_jobs(p_worker_id, p_sources, p_job_types, p_lease_seconds, p_limit, p_wait_ms);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
END;
$$;

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

CREATE FUNCTION public.queue_depth()
RETURNS TABLE (
    source text,
    job_type text,
    queued bigint,
    processing bigint,
    due_now bigint,
    oldest_queued_at timestamptz,
    oldest_queued_age_seconds double precision,
    paused boolean,
    held text
)
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = ''
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY SELECT * FROM mcp_jobs.queue_depth();
END;
$$;

CREATE FUNCTION public.set_queue(
    p_source text,
    p_job_type text DEFAULT NULL,
    p_paused boolean DEFAULT NULL,
    p_max_concurrency integer DEFAULT NULL,
    p_rate_limit integer DEFAULT NULL,
    p_rate_period interval DEFAULT NULL,
    p_max_queued integer DEFAULT NULL,
    p_max_concurrency_per_key integer DEFAULT NULL,
    p_clear text[] DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = ''
AS $$
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN mcp_jobs.set_queue(p_source, p_job_type, p_paused, p_max_concurrency, p_rate_limit, p_rate_period, p_max_queued, p_max_concurrency_per_key, p_clear);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
    RETURN NULL;
END;
$$;

CREATE FUNCTION public.pause_queue(
    p_source text,
    p_job_type text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = ''
AS $$
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN mcp_jobs.pause_queue(p_source, p_job_type);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
    RETURN NULL;
END;
$$;

CREATE FUNCTION public.resume_queue(
    p_source text,
    p_job_type text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = ''
AS $$
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN mcp_jobs.resume_queue(p_source, p_job_type);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
    RETURN NULL;
END;
$$;

CREATE FUNCTION public.get_queues() RETURNS TABLE (
    source text,
    job_type text,
    paused boolean,
    max_concurrency integer,
    max_concurrency_per_key integer,
    rate_limit integer,
    rate_period interval,
    max_queued integer,
    paused_at timestamptz,
    queued bigint,
    processing bigint,
    claims_in_window integer,
    window_start timestamptz,
    updated_at timestamptz
)
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN QUERY SELECT * FROM mcp_jobs.get_queues();
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
END;
$$;

CREATE FUNCTION public.schedule_job(
    p_name text,
    p_cron text,
    p_source text,
    p_job_type text,
    p_payload jsonb DEFAULT '{}'::jsonb,
    p_priority integer DEFAULT 5,
    p_timezone text DEFAULT 'UTC'
) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = ''
AS $$
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN mcp_jobs.schedule_job(p_name, p_cron, p_source, p_job_type, p_payload, p_priority, p_timezone);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
    RETURN NULL;
END;
$$;

CREATE FUNCTION public.unschedule_job(
    p_name text
) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = ''
AS $$
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN mcp_jobs.unschedule_job(p_name);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
    RETURN NULL;
END;
$$;

CREATE FUNCTION public.list_schedules() RETURNS TABLE (
    name text,
    cron text,
    timezone text,
    source text,
    job_type text,
    payload jsonb,
    priority integer,
    next_run_at timestamptz,
    last_run_at timestamptz,
    last_job_id uuid,
    last_job_status text,
    created_at timestamptz,
    updated_at timestamptz
)
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN QUERY SELECT * FROM mcp_jobs.list_schedules();
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
END;
$$;

CREATE FUNCTION public.cron_next(
    p_cron text,
    p_timezone text DEFAULT 'UTC',
    p_after timestamptz DEFAULT NULL,
    p_count integer DEFAULT 1
) RETURNS SETOF timestamptz
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN QUERY SELECT * FROM mcp_jobs.cron_next(p_cron, p_timezone, p_after, p_count);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
END;
$$;

CREATE FUNCTION public.diagnostics() RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = ''
AS $$
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN mcp_jobs.diagnostics();
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
    RETURN NULL;
END;
$$;

-- ---------------------------------------------------------------------------------------------
-- No function carries planner settings any more (docs/design.md#planner-settings)
-- ---------------------------------------------------------------------------------------------
ALTER FUNCTION mcp_jobs.complete_job(uuid, uuid, jsonb) RESET ALL;
ALTER FUNCTION mcp_jobs.report_progress(uuid, uuid, jsonb) RESET ALL;
ALTER FUNCTION mcp_jobs.cancel_job(uuid) RESET ALL;
ALTER FUNCTION mcp_jobs.get_job(uuid) RESET ALL;
ALTER FUNCTION mcp_jobs.get_job_stats(text) RESET ALL;
ALTER FUNCTION mcp_jobs.aggregate_metrics(timestamptz, timestamptz) RESET ALL;
ALTER FUNCTION mcp_jobs.run_maintenance() RESET ALL;
ALTER FUNCTION mcp_jobs.requeue_dead_letter(uuid) RESET ALL;
ALTER FUNCTION mcp_jobs.resolve_dead_letter(uuid, text) RESET ALL;

-- ---------------------------------------------------------------------------------------------
-- Comments
-- ---------------------------------------------------------------------------------------------
COMMENT ON SCHEMA mcp_jobs IS 'mcp_jobs: job queue, execution history, event log, dead letters and hourly metrics.';
COMMENT ON TABLE mcp_jobs.jobs IS 'The job queue and its state machine: queued -> processing -> completed | failed | cancelled (a failed attempt with attempts left goes back to queued).';
COMMENT ON COLUMN mcp_jobs.jobs.id IS 'Job id, a time-ordered UUIDv7 (id order is enqueue order).';
COMMENT ON COLUMN mcp_jobs.jobs.source IS 'Who enqueued the job (odoo, n8n, vercel, ...): 1-200 characters.';
COMMENT ON COLUMN mcp_jobs.jobs.job_type IS 'What kind of work the job is (discovery, sync, ...): 1-200 characters.';
COMMENT ON COLUMN mcp_jobs.jobs.payload IS 'The job''s input, a JSON object (at most mcp_jobs.max_payload_bytes).';
COMMENT ON COLUMN mcp_jobs.jobs.priority IS '0 (lowest) to 10 (highest); higher priorities are claimed first. Default 5.';
COMMENT ON COLUMN mcp_jobs.jobs.status IS 'queued, processing, completed, failed or cancelled.';
COMMENT ON COLUMN mcp_jobs.jobs.attempts IS 'Attempts started so far (a claim counts one, including one whose lease expired).';
COMMENT ON COLUMN mcp_jobs.jobs.max_attempts IS 'Attempts allowed before the job fails for good and moves to the dead-letter queue.';
COMMENT ON COLUMN mcp_jobs.jobs.run_at IS 'Not claimed before this time (scheduling and retry backoff).';
COMMENT ON COLUMN mcp_jobs.jobs.lease_expires_at IS 'While processing: when the claim lapses and the job may be claimed again. NULL in every other state.';
COMMENT ON COLUMN mcp_jobs.jobs.worker_id IS 'The worker that claimed the job last.';
COMMENT ON COLUMN mcp_jobs.jobs.current_run_id IS 'The run (attempt) that owns the job: the fencing token complete_job, fail_job and report_progress must present.';
COMMENT ON COLUMN mcp_jobs.jobs.idempotency_key IS 'Optional key: a second enqueue with the same (source, key) returns the first job''s id.';
COMMENT ON COLUMN mcp_jobs.jobs.result IS 'What complete_job recorded as the result.';
COMMENT ON COLUMN mcp_jobs.jobs.last_error IS 'The error of the last failed attempt (or the lease expiry).';
COMMENT ON COLUMN mcp_jobs.jobs.created_at IS 'When the job was enqueued.';
COMMENT ON COLUMN mcp_jobs.jobs.updated_at IS 'When the row last changed.';
COMMENT ON COLUMN mcp_jobs.jobs.started_at IS 'When the first attempt started.';
COMMENT ON COLUMN mcp_jobs.jobs.finished_at IS 'When the job reached completed, failed or cancelled.';
COMMENT ON COLUMN mcp_jobs.jobs.concurrency_key IS 'Optional key (a tenant, an Odoo database): the queue''s max_concurrency_per_key caps the jobs of one key in flight, and claims take a queue''s keys in turn.';
COMMENT ON TABLE mcp_jobs.job_runs IS 'One row per attempt of a job (execution history).';
COMMENT ON COLUMN mcp_jobs.job_runs.id IS 'Run id (UUIDv7), returned by claim_next_job as run_id.';
COMMENT ON COLUMN mcp_jobs.job_runs.job_id IS 'The job this attempt belongs to.';
COMMENT ON COLUMN mcp_jobs.job_runs.attempt IS 'Attempt number, 1 for the first.';
COMMENT ON COLUMN mcp_jobs.job_runs.worker_id IS 'The worker that claimed this attempt.';
COMMENT ON COLUMN mcp_jobs.job_runs.started_at IS 'When the attempt was claimed.';
COMMENT ON COLUMN mcp_jobs.job_runs.finished_at IS 'When the attempt ended; NULL while it runs.';
COMMENT ON COLUMN mcp_jobs.job_runs.outcome IS 'completed, failed or lease_expired; NULL while it runs.';
COMMENT ON COLUMN mcp_jobs.job_runs.error IS 'The error of a failed or expired attempt.';
COMMENT ON COLUMN mcp_jobs.job_runs.lease_seconds IS 'The lease length the attempt was claimed with; report_progress extends the lease by it.';
COMMENT ON COLUMN mcp_jobs.job_runs.duration_ms IS 'finished_at - started_at in milliseconds (generated).';
COMMENT ON TABLE mcp_jobs.job_events IS 'Append-only event log of every job: enqueued, started, progress, completed, failed, retry_scheduled, dead_lettered, cancelled, lease_expired, requeued, resolved.';
COMMENT ON COLUMN mcp_jobs.job_events.id IS 'Event sequence number (order of events).';
COMMENT ON COLUMN mcp_jobs.job_events.job_id IS 'The job the event is about.';
COMMENT ON COLUMN mcp_jobs.job_events.run_id IS 'The run (attempt) the event belongs to, when there is one.';
COMMENT ON COLUMN mcp_jobs.job_events.event_type IS 'What happened.';
COMMENT ON COLUMN mcp_jobs.job_events.data IS 'Details of the event (attempt, error, progress, ...).';
COMMENT ON COLUMN mcp_jobs.job_events.created_at IS 'When it happened (transaction time).';
COMMENT ON TABLE mcp_jobs.dead_letter_queue IS 'Jobs that failed for good (attempts exhausted, or failed with p_retry => false), with a copy of their input.';
COMMENT ON COLUMN mcp_jobs.dead_letter_queue.id IS 'Dead letter id, for requeue_dead_letter and resolve_dead_letter.';
COMMENT ON COLUMN mcp_jobs.dead_letter_queue.job_id IS 'The failed job.';
COMMENT ON COLUMN mcp_jobs.dead_letter_queue.source IS 'The job''s source.';
COMMENT ON COLUMN mcp_jobs.dead_letter_queue.job_type IS 'The job''s type.';
COMMENT ON COLUMN mcp_jobs.dead_letter_queue.payload IS 'A copy of the job''s payload.';
COMMENT ON COLUMN mcp_jobs.dead_letter_queue.attempts IS 'Attempts the job had made.';
COMMENT ON COLUMN mcp_jobs.dead_letter_queue.last_error IS 'The error of the last attempt.';
COMMENT ON COLUMN mcp_jobs.dead_letter_queue.failed_at IS 'When the job failed for good.';
COMMENT ON COLUMN mcp_jobs.dead_letter_queue.resolved IS 'false until an operator requeues or resolves the dead letter.';
COMMENT ON COLUMN mcp_jobs.dead_letter_queue.resolved_at IS 'When it was requeued or resolved.';
COMMENT ON COLUMN mcp_jobs.dead_letter_queue.resolution IS 'requeued or resolved.';
COMMENT ON COLUMN mcp_jobs.dead_letter_queue.resolution_note IS 'The operator''s note given to resolve_dead_letter.';
COMMENT ON COLUMN mcp_jobs.dead_letter_queue.details IS 'The details the worker passed to fail_job with the last failure (p_details: e.g. a failure analysis and its reason), or NULL.';
COMMENT ON TABLE mcp_jobs.queues IS 'Flow control per queue: a row per (source, job_type), or per source (job_type NULL) whose values apply to the source''s job types that do not set their own; limits set on the source row are one budget shared by those job types. See mcp_jobs.set_queue.';
COMMENT ON COLUMN mcp_jobs.queues.source IS 'The queue''s source.';
COMMENT ON COLUMN mcp_jobs.queues.job_type IS 'The queue''s job type; NULL for the source''s row.';
COMMENT ON COLUMN mcp_jobs.queues.paused IS 'true: no job of the queue is claimed (enqueues are accepted); NULL: not set here.';
COMMENT ON COLUMN mcp_jobs.queues.max_concurrency IS 'At most this many jobs of the queue processing at once; NULL: not set here.';
COMMENT ON COLUMN mcp_jobs.queues.max_concurrency_per_key IS 'At most this many jobs of one concurrency key processing at once; NULL: not set here.';
COMMENT ON COLUMN mcp_jobs.queues.rate_limit IS 'At most this many claims per rate_period window (windows aligned to multiples of the period since the Unix epoch); NULL: not set here.';
COMMENT ON COLUMN mcp_jobs.queues.rate_period IS 'The window of rate_limit; set together with it.';
COMMENT ON COLUMN mcp_jobs.queues.max_queued IS 'At most this many jobs queued; an enqueue over it is refused (53400, HTTP 429); NULL: not set here.';
COMMENT ON COLUMN mcp_jobs.queues.paused_at IS 'When the row was paused (alerts() warns after mcp_jobs.alert_paused_after).';
COMMENT ON COLUMN mcp_jobs.queues.window_start IS 'State of rate_limit: the start of the current window.';
COMMENT ON COLUMN mcp_jobs.queues.window_claims IS 'State of rate_limit: claims in the current window.';
COMMENT ON COLUMN mcp_jobs.queues.queued_count IS 'State of max_queued: the jobs queued in the row''s scope; NULL until counted.';
COMMENT ON COLUMN mcp_jobs.queues.created_at IS 'When the row was created.';
COMMENT ON COLUMN mcp_jobs.queues.updated_at IS 'When the settings last changed.';
COMMENT ON TABLE mcp_jobs.metrics IS 'Hourly aggregates per (hour, source, job_type): rolled forward by each maintenance round from the event log, recomputed by aggregate_metrics().';
COMMENT ON COLUMN mcp_jobs.metrics.hour IS 'Start of the hour (UTC-aligned date_trunc(''hour'', ...)).';
COMMENT ON COLUMN mcp_jobs.metrics.source IS 'Job source.';
COMMENT ON COLUMN mcp_jobs.metrics.job_type IS 'Job type.';
COMMENT ON COLUMN mcp_jobs.metrics.enqueued IS 'Jobs enqueued in the hour.';
COMMENT ON COLUMN mcp_jobs.metrics.started IS 'Attempts started in the hour.';
COMMENT ON COLUMN mcp_jobs.metrics.completed IS 'Attempts that completed in the hour.';
COMMENT ON COLUMN mcp_jobs.metrics.failed IS 'Attempts that failed in the hour.';
COMMENT ON COLUMN mcp_jobs.metrics.retried IS 'Retries scheduled in the hour.';
COMMENT ON COLUMN mcp_jobs.metrics.dead_lettered IS 'Jobs moved to the dead-letter queue in the hour.';
COMMENT ON COLUMN mcp_jobs.metrics.cancelled IS 'Jobs cancelled in the hour.';
COMMENT ON COLUMN mcp_jobs.metrics.lease_expired IS 'Attempts whose lease expired in the hour.';
COMMENT ON COLUMN mcp_jobs.metrics.success_rate IS 'completed / (completed + failed + lease_expired) attempts, NULL when none ended.';
COMMENT ON COLUMN mcp_jobs.metrics.run_ms_avg IS 'Average run time of attempts that completed or failed in the hour (ms); expired leases are left out (they measure the lease, not the work).';
COMMENT ON COLUMN mcp_jobs.metrics.run_ms_p50 IS 'Median run time (ms), read from run_ms_sketch: within 1 % of percentile_disc(0.5) of the hour''s run times.';
COMMENT ON COLUMN mcp_jobs.metrics.run_ms_p95 IS '95th percentile run time (ms), within 1 % (run_ms_sketch).';
COMMENT ON COLUMN mcp_jobs.metrics.run_ms_max IS 'Longest run time (ms).';
COMMENT ON COLUMN mcp_jobs.metrics.wait_ms_p50 IS 'Median queue wait, enqueue to first start, of jobs first started in the hour (ms), within 1 % (wait_ms_sketch).';
COMMENT ON COLUMN mcp_jobs.metrics.wait_ms_p95 IS '95th percentile queue wait (ms), within 1 % (wait_ms_sketch).';
COMMENT ON COLUMN mcp_jobs.metrics.run_ms_sketch IS 'The run times of the row as a mergeable histogram (buckets 1 % wide) from which run_ms_p50/p95 are read; maintenance adds to it each round.';
COMMENT ON COLUMN mcp_jobs.metrics.wait_ms_sketch IS 'The queue waits of the row as a mergeable histogram, as run_ms_sketch.';
COMMENT ON TABLE mcp_jobs.maintenance_state IS 'One row: where maintenance stands. Not dumped (a restore recomputes the recent metrics).';
COMMENT ON COLUMN mcp_jobs.maintenance_state.singleton IS 'Always true: the table has one row.';
COMMENT ON COLUMN mcp_jobs.maintenance_state.metrics_through IS 'The metrics hold every event before this moment (the watermark); NULL: recompute the previous and the current hour next.';
COMMENT ON COLUMN mcp_jobs.maintenance_state.prune_after IS 'Where retention pruning continues in jobs_pkey (the last job id it looked at), NULL: from the start.';
COMMENT ON COLUMN mcp_jobs.maintenance_state.updated_at IS 'When maintenance last moved it.';
COMMENT ON COLUMN mcp_jobs.metrics.updated_at IS 'When the row was last aggregated.';
COMMENT ON FUNCTION mcp_jobs._jobs_row_check(text, text, text, jsonb, integer, integer, integer, text, text, timestamptz, uuid, timestamptz) IS 'The row rules of mcp_jobs.jobs (constraint jobs_row_check); true, or raises check_violation (23514) naming the broken rule.';
COMMENT ON FUNCTION mcp_jobs._queues_changed() IS 'Trigger queues_changed: a change of mcp_jobs.queues reaches every backend''s cache of the settings (a relcache invalidation at commit) and wakes waiting claims.';
COMMENT ON TRIGGER queues_changed ON mcp_jobs.queues IS 'A change of the flow-control settings reaches every backend at commit.';
COMMENT ON FUNCTION mcp_jobs._job_runs_row_check(integer, text, timestamptz) IS 'The row rules of mcp_jobs.job_runs (constraint job_runs_row_check); true, or raises check_violation (23514) naming the broken rule.';
COMMENT ON FUNCTION mcp_jobs._job_events_row_check(text) IS 'The row rule of mcp_jobs.job_events (constraint job_events_row_check): a known event_type; true, or raises check_violation (23514).';
COMMENT ON FUNCTION mcp_jobs._delete_history(uuid[]) IS 'Internal (trigger jobs_delete_history): delete the runs and events of the given jobs, found by the key of each table; returns how many rows it deleted.';
COMMENT ON FUNCTION mcp_jobs._delete_job_history() IS 'Trigger jobs_delete_history: deletes the runs and events of deleted jobs (what ON DELETE CASCADE did before 0.3.0).';
COMMENT ON FUNCTION mcp_jobs._truncate_job_history() IS 'Trigger jobs_truncate_history: TRUNCATE of jobs empties job_runs and job_events too.';
COMMENT ON TRIGGER jobs_delete_history ON mcp_jobs.jobs IS 'A deleted job takes its runs and events with it.';
COMMENT ON TRIGGER jobs_truncate_history ON mcp_jobs.jobs IS 'TRUNCATE of jobs also empties job_runs and job_events.';
COMMENT ON CONSTRAINT jobs_row_check ON mcp_jobs.jobs IS 'Status, names and keys, payload, priority, attempts and the state invariants (lease, run, finished_at); see mcp_jobs._jobs_row_check.';
COMMENT ON CONSTRAINT job_runs_row_check ON mcp_jobs.job_runs IS 'Attempt, outcome, and a run is open (no outcome, no finished_at) or closed (both); see mcp_jobs._job_runs_row_check.';
COMMENT ON CONSTRAINT job_events_row_check ON mcp_jobs.job_events IS 'A known event_type; see mcp_jobs._job_events_row_check.';
COMMENT ON FUNCTION mcp_jobs.uuidv7() IS 'A new time-ordered UUIDv7 (RFC 9562), generated natively.';
COMMENT ON FUNCTION mcp_jobs.uuidv7_time(uuid) IS 'The creation time encoded in a UUIDv7.';
COMMENT ON FUNCTION mcp_jobs.retry_delay(integer) IS 'Backoff before retrying failed attempt n: min(retry_max_delay, retry_base_delay * 2^(n-1)) * (0.5 + 0.5 * random()).';
COMMENT ON FUNCTION mcp_jobs.enqueue_job(text, text, jsonb, integer, timestamptz, integer, text, text) IS 'Enqueue a job; returns its id. Payload: a JSON object (or a string holding one); priority 0-10 (higher first); run_at: not before; max_attempts (default mcp_jobs.default_max_attempts); idempotency key: same (source, key) returns the existing job; concurrency key: a tenant or resource for max_concurrency_per_key. Over the queue''s max_queued: 53400 (HTTP 429 with Retry-After through the public wrapper).';
COMMENT ON FUNCTION mcp_jobs.enqueue_jobs(jsonb) IS 'Enqueue 1..1000 jobs in one call, all or nothing; p_jobs is an array of objects with enqueue_job''s arguments without the p_ prefix (source, job_type, payload, priority, run_at, max_attempts, idempotency_key, concurrency_key). Returns the ids in input order; an error names the 0-based index of the first bad item.';
COMMENT ON FUNCTION mcp_jobs.claim_next_job(text, text[], text[], integer, integer) IS 'Atomically claim the next due job (priority high first; then rotating across sources and lanes; then run_at and enqueue order), skipping jobs other workers are taking and queues flow control holds back; returns it with its run_id, or no row. With p_wait_ms (0..60000) and nothing due, waits for a job to become claimable (woken by the commit of an enqueue).';
COMMENT ON FUNCTION mcp_jobs.complete_job(uuid, uuid, jsonb) IS 'Complete a processing job; only its current run (run_id from claim_next_job) may.';
COMMENT ON FUNCTION mcp_jobs.complete_and_claim_next(uuid, uuid, jsonb, text, text[], text[], integer) IS 'complete_job, then claim_next_job, in one call and one transaction: a worker taking jobs one at a time commits once per job instead of twice. Every argument is checked before anything is written; when the completion is refused (unknown job, wrong state, stale run, lost lease) the call raises complete_job''s error and nothing is completed or claimed. Returns the next due job with its run_id as claim_next_job does, or no row (the completion stands).';
COMMENT ON FUNCTION mcp_jobs.claim_jobs(text, text[], text[], integer, integer, integer) IS 'Batch claim_next_job: claim up to p_limit (1..1000, default 10) due jobs in one call, in claim order (one per source in turn), each with its own run_id, run row and started event; 0 rows when nothing is due. p_wait_ms as claim_next_job.';
COMMENT ON FUNCTION mcp_jobs.complete_jobs(uuid[], uuid[], jsonb[]) IS 'Batch complete_job: completes every (p_job_ids[i], p_run_ids[i]) pair whose run is still the job''s current processing run, with result p_results[i] (optional), in one call. Returns one row per pair in input order: completed true, or false with reason (not found | lease expired | not processing: <status> | stale run); such a pair does not fail the batch. At most 1000 pairs; NULL arrays or elements, different lengths or a repeated job id are refused.';
COMMENT ON FUNCTION mcp_jobs.fail_job(uuid, uuid, text, boolean, jsonb) IS 'Record a failed attempt: with attempts left and p_retry, requeue after the backoff; otherwise fail the job and write a dead letter. p_details (any JSON, e.g. a failure analysis) is kept in the failed event and the dead letter.';
COMMENT ON FUNCTION mcp_jobs.requeue_dead_letters(uuid[]) IS 'requeue_dead_letter for 1..1000 dead letters at once, all or nothing; one row (id, job_id) per dead letter in input order.';
COMMENT ON FUNCTION mcp_jobs.resolve_dead_letters(uuid[], text) IS 'resolve_dead_letter for 1..1000 dead letters at once with one note, all or nothing; returns how many were resolved.';
COMMENT ON FUNCTION mcp_jobs.list_dead_letters(text, text, boolean, integer, uuid) IS 'Dead letters newest first, filtered by source, job type and resolved (default false = open ones; NULL = all); pass the last id as p_before for the next page (p_limit 1..1000).';
COMMENT ON FUNCTION mcp_jobs.dead_letter_groups(boolean) IS 'Dead letters grouped by source, job type and error (first line, 200 characters), largest group first, with up to 100 ids per group; default the open ones, NULL all.';
COMMENT ON FUNCTION mcp_jobs.get_metrics(timestamptz, timestamptz, text, text) IS 'Hourly metrics rows of the hours [hour of p_from, p_to) (default the last 24 hours; at most 31 days, 22023 otherwise), for one source and job type or all, in hour order.';
COMMENT ON FUNCTION mcp_jobs.report_progress(uuid, uuid, jsonb) IS 'Heartbeat of the current run: records a progress event and extends the lease.';
COMMENT ON FUNCTION mcp_jobs.cancel_job(uuid) IS 'Cancel a queued job.';
COMMENT ON FUNCTION mcp_jobs.requeue_dead_letter(uuid) IS 'Queue a dead job again with fresh attempts; the dead letter is marked resolved (requeued). Returns the job id.';
COMMENT ON FUNCTION mcp_jobs.resolve_dead_letter(uuid, text) IS 'Close a dead letter without running the job again, with an optional note.';
COMMENT ON FUNCTION mcp_jobs.list_jobs(text, text, text, integer, uuid) IS 'Jobs newest first, filtered by source, job type and status; pass the last id as p_before for the next page.';
COMMENT ON FUNCTION mcp_jobs.get_job(uuid) IS 'One job as JSON with its runs, events and dead letters.';
COMMENT ON FUNCTION mcp_jobs.get_job_stats(text) IS 'Job counts by status, total and unresolved dead letters, for one source or all.';
COMMENT ON VIEW mcp_jobs.queue_depth IS 'Queue depth per source and job type: queued and in-flight (processing) jobs. The MCP Jobs design''s depth query filters status IN (''queued'', ''running''); the in-flight state is ''processing'', so that query shows queued jobs only. security_invoker: the caller''s privileges and row-level security apply.';
COMMENT ON COLUMN mcp_jobs.queue_depth.source IS 'Job source.';
COMMENT ON COLUMN mcp_jobs.queue_depth.job_type IS 'Job type.';
COMMENT ON COLUMN mcp_jobs.queue_depth.queued IS 'Jobs waiting to be claimed (including those scheduled for later and retries in backoff).';
COMMENT ON COLUMN mcp_jobs.queue_depth.processing IS 'Jobs claimed by a worker (in flight).';
COMMENT ON COLUMN mcp_jobs.queue_depth.due_now IS 'Queued jobs whose run_at has passed: claimable now.';
COMMENT ON COLUMN mcp_jobs.queue_depth.oldest_queued_at IS 'Enqueue time of the oldest queued job.';
COMMENT ON COLUMN mcp_jobs.queue_depth.oldest_queued_age IS 'now() - oldest_queued_at.';
COMMENT ON FUNCTION mcp_jobs.set_queue(text, text, boolean, integer, integer, interval, integer, integer, text[]) IS 'Set the flow control of a queue ((source, job_type), or the source with p_job_type NULL, whose values apply to its job types that do not set their own; a limit set there is one budget for them together): paused, max_concurrency, rate_limit per rate_period, max_queued, max_concurrency_per_key. NULL leaves a setting as it is; p_clear names settings to remove (rate_limit removes rate_period too). Limits are at least 1 (22023). Returns the row, JSON null when no setting is left.';
COMMENT ON FUNCTION mcp_jobs.pause_queue(text, text) IS 'Pause a queue (or a whole source with p_job_type NULL): no job of it is claimed until resume_queue; enqueues are still accepted. Returns the row.';
COMMENT ON FUNCTION mcp_jobs.resume_queue(text, text) IS 'Remove the pause of a queue (or source) set with pause_queue; a pause of the source still applies to its job types. Returns the row.';
COMMENT ON FUNCTION mcp_jobs.get_queues() IS 'Every row of mcp_jobs.queues with live counts of its scope: queued and processing jobs, claims in the current rate window.';
COMMENT ON FUNCTION mcp_jobs.schedule_job(text, text, text, text, jsonb, integer, text) IS 'Create or replace the schedule p_name: a job (source, job type, payload, priority) enqueued by maintenance at each occurrence of the cron expression p_cron (five fields or @hourly-style names) in time zone p_timezone. A bad expression or an unknown time zone: 22023, nothing stored. Returns the schedule row.';
COMMENT ON FUNCTION mcp_jobs.unschedule_job(text) IS 'Remove the schedule p_name (P0002 when there is none); the jobs it enqueued stay. Returns the removed row.';
COMMENT ON FUNCTION mcp_jobs.list_schedules() IS 'Every schedule with its next run time, the occurrence it enqueued last, that job''s id and status.';
COMMENT ON FUNCTION mcp_jobs.cron_next(text, text, timestamptz, integer) IS 'The next p_count (1..1000) occurrences of cron expression p_cron after p_after (default now()) in time zone p_timezone.';
COMMENT ON FUNCTION mcp_jobs.run_schedules(timestamptz) IS 'Enqueue the job of every schedule due at p_now (default now()), the latest occurrence only, once (run_maintenance calls it). Returns how many jobs it enqueued. A later p_now enqueues occurrences early; they are not enqueued again at their time.';
COMMENT ON FUNCTION mcp_jobs.diagnostics() IS 'How this installation serves the queue: library and extension versions, whether the library is preloaded (background worker, latch wake-ups) or not (waiting claims poll every 100 ms), waiting claims, the maintenance worker.';
COMMENT ON TABLE mcp_jobs.schedules IS 'Recurring jobs: one row per schedule (schedule_job); maintenance enqueues its job at each occurrence.';
COMMENT ON COLUMN mcp_jobs.schedules.name IS 'The schedule''s name (its key).';
COMMENT ON COLUMN mcp_jobs.schedules.cron IS 'Cron expression: five fields (minute hour day-of-month month day-of-week) or @yearly, @monthly, @weekly, @daily, @hourly.';
COMMENT ON COLUMN mcp_jobs.schedules.timezone IS 'The IANA time zone the expression is read in (daylight saving time handled).';
COMMENT ON COLUMN mcp_jobs.schedules.source IS 'Source of the jobs it enqueues.';
COMMENT ON COLUMN mcp_jobs.schedules.job_type IS 'Job type of the jobs it enqueues.';
COMMENT ON COLUMN mcp_jobs.schedules.payload IS 'Payload of the jobs it enqueues.';
COMMENT ON COLUMN mcp_jobs.schedules.priority IS 'Priority of the jobs it enqueues.';
COMMENT ON COLUMN mcp_jobs.schedules.next_run_at IS 'The next occurrence: maintenance enqueues the job once it has passed.';
COMMENT ON COLUMN mcp_jobs.schedules.last_run_at IS 'The occurrence enqueued last.';
COMMENT ON COLUMN mcp_jobs.schedules.last_job_id IS 'The job enqueued for last_run_at.';
COMMENT ON COLUMN mcp_jobs.schedules.created_at IS 'When the schedule was created.';
COMMENT ON COLUMN mcp_jobs.schedules.updated_at IS 'When the schedule last changed or ran.';
COMMENT ON FUNCTION mcp_jobs.queue_depth() IS 'The rows of the view mcp_jobs.queue_depth, ordered by source and job type, with the oldest queued job''s age in seconds (oldest_queued_age_seconds), whether the queue is paused, and what holds it back (held: paused, max_concurrency, max_queued, rate_limit).';
COMMENT ON COLUMN mcp_jobs.queue_depth.paused IS 'Whether flow control pauses the queue (its own row or its source''s).';
COMMENT ON COLUMN mcp_jobs.queue_depth.held IS 'What holds the queue back now: paused, max_concurrency, max_queued or rate_limit; NULL when nothing does.';
COMMENT ON FUNCTION mcp_jobs.aggregate_metrics(timestamptz, timestamptz) IS 'Recompute mcp_jobs.metrics for every whole UTC hour touched by [p_from, p_to) (default: start of the previous hour to now()) from the event log (job_events and their jobs), counting the events before the maintenance watermark (maintenance_state.metrics_through; the next rounds add the later ones); rows of the range without activity are deleted, rows outside it never touched. Idempotent. At most 31 days per call (22023). Returns the rows written. Hours whose jobs were pruned (mcp_jobs.retention) cannot be recomputed.';
COMMENT ON FUNCTION mcp_jobs.alerts() IS 'The MCP Jobs design''s alert thresholds per source: rows (level critical|warning, metric queue_depth|dead_letter_unresolved|success_rate|queue_paused, source, value, threshold, message) for each metric past a threshold, most severe level only. Strict comparisons; thresholds are the mcp_jobs.alert_* settings (defaults 50/100 jobs, 5/10 dead letters, 0.9/0.8 success over 7 days, a queue paused longer than mcp_jobs.alert_paused_after).';
COMMENT ON FUNCTION mcp_jobs.run_maintenance() IS 'One maintenance round in the caller''s transaction: requeue or dead-letter jobs whose lease expired (up to 10000) and correct the queued counts of capped queues; enqueue the due schedules; add the events since the last round to the metrics (the first round recomputes the previous and the current hour); prune finished jobs (with their runs and events) older than mcp_jobs.retention in batches within mcp_jobs.prune_budget, at least one batch; never jobs with an unresolved dead letter, dead letters or metrics. Returns a JSON report. Run by the background worker when the library is preloaded (each step in a transaction of its own), else schedule it (pg_cron).';
COMMENT ON FUNCTION mcp_jobs._raise_http(text, text, text, text) IS 'Internal: re-raise an error for PostgREST: P0002 -> PT404, 55000 -> PT409, 54000 -> PT413 (HTTP 404/409/413), 53400 (a full queue) -> HTTP 429 with Retry-After, other SQLSTATEs unchanged; message, detail and hint are kept.';
COMMENT ON FUNCTION public.set_queue(text, text, boolean, integer, integer, interval, integer, integer, text[]) IS 'mcp_jobs (PostgREST entry point): set a queue''s flow control (pause, limits); NULL leaves a setting, p_clear removes settings. Calls mcp_jobs.set_queue.';
COMMENT ON FUNCTION public.pause_queue(text, text) IS 'mcp_jobs (PostgREST entry point): pause a queue or a source. Calls mcp_jobs.pause_queue.';
COMMENT ON FUNCTION public.resume_queue(text, text) IS 'mcp_jobs (PostgREST entry point): resume a paused queue or source. Calls mcp_jobs.resume_queue.';
COMMENT ON FUNCTION public.get_queues() IS 'mcp_jobs (PostgREST entry point, STABLE: GET works): the flow-control settings of every queue with live counts. Calls mcp_jobs.get_queues.';
COMMENT ON FUNCTION public.schedule_job(text, text, text, text, jsonb, integer, text) IS 'mcp_jobs (PostgREST entry point): create or replace a recurring job. Calls mcp_jobs.schedule_job.';
COMMENT ON FUNCTION public.unschedule_job(text) IS 'mcp_jobs (PostgREST entry point): remove a schedule; unknown name -> HTTP 404. Calls mcp_jobs.unschedule_job.';
COMMENT ON FUNCTION public.list_schedules() IS 'mcp_jobs (PostgREST entry point, STABLE: GET works): every schedule with its next run and last job. Calls mcp_jobs.list_schedules.';
COMMENT ON FUNCTION public.cron_next(text, text, timestamptz, integer) IS 'mcp_jobs (PostgREST entry point, STABLE: GET works): the next occurrences of a cron expression. Calls mcp_jobs.cron_next.';
COMMENT ON FUNCTION public.diagnostics() IS 'mcp_jobs (PostgREST entry point, STABLE: GET works): versions, preload, wake-up mode and waiting claims. Calls mcp_jobs.diagnostics.';
COMMENT ON FUNCTION public.enqueue_job(text, text, jsonb, integer, timestamptz, integer, text, text) IS 'mcp_jobs (PostgREST entry point): enqueue a job, returns its id. Calls mcp_jobs.enqueue_job; a payload too large -> HTTP 413, a full queue -> 429 with Retry-After.';
COMMENT ON FUNCTION public.enqueue_jobs(jsonb) IS 'mcp_jobs (PostgREST entry point): enqueue 1..1000 jobs, all or nothing; returns their ids in input order. Calls mcp_jobs.enqueue_jobs; a payload too large -> HTTP 413, a full queue -> 429 with Retry-After.';
COMMENT ON FUNCTION public.claim_next_job(text, text[], text[], integer, integer) IS 'mcp_jobs (PostgREST entry point): claim the next due job with its run_id, or no row; with p_wait_ms, a long poll. Calls mcp_jobs.claim_next_job.';
COMMENT ON FUNCTION public.complete_job(uuid, uuid, jsonb) IS 'mcp_jobs (PostgREST entry point): complete a processing job (current run only). Calls mcp_jobs.complete_job; unknown job -> HTTP 404, wrong state or stale run id -> 409.';
COMMENT ON FUNCTION public.complete_and_claim_next(uuid, uuid, jsonb, text, text[], text[], integer) IS 'mcp_jobs (PostgREST entry point): complete_job, then claim_next_job, in one call (one request and one commit per job for a worker taking jobs one at a time); returns the next job or no row. Calls mcp_jobs.complete_and_claim_next; unknown job -> HTTP 404, wrong state or stale run id -> 409, and then nothing is completed or claimed.';
COMMENT ON FUNCTION public.claim_jobs(text, text[], text[], integer, integer, integer) IS 'mcp_jobs (PostgREST entry point): claim up to p_limit (1..1000) due jobs at once, each with its run_id, in claim order; with p_wait_ms, a long poll. Calls mcp_jobs.claim_jobs.';
COMMENT ON FUNCTION public.complete_jobs(uuid[], uuid[], jsonb[]) IS 'mcp_jobs (PostgREST entry point): complete many processing jobs (current run only) in one call; one row per (job, run) pair with completed and the reason when not. Calls mcp_jobs.complete_jobs.';
COMMENT ON FUNCTION public.fail_job(uuid, uuid, text, boolean, jsonb) IS 'mcp_jobs (PostgREST entry point): record a failed attempt (retry or dead letter), with optional details. Calls mcp_jobs.fail_job; unknown job -> HTTP 404, wrong state or stale run id -> 409.';
COMMENT ON FUNCTION public.requeue_dead_letters(uuid[]) IS 'mcp_jobs (PostgREST entry point): requeue many dead letters, all or nothing. Calls mcp_jobs.requeue_dead_letters; unknown -> HTTP 404, already resolved -> 409.';
COMMENT ON FUNCTION public.resolve_dead_letters(uuid[], text) IS 'mcp_jobs (PostgREST entry point): resolve many dead letters with one note, all or nothing. Calls mcp_jobs.resolve_dead_letters; unknown -> HTTP 404, already resolved -> 409.';
COMMENT ON FUNCTION public.list_dead_letters(text, text, boolean, integer, uuid) IS 'mcp_jobs (PostgREST entry point, STABLE: GET works): dead letters newest first, filtered by source, job type, resolved; p_before pages. Calls mcp_jobs.list_dead_letters.';
COMMENT ON FUNCTION public.dead_letter_groups(boolean) IS 'mcp_jobs (PostgREST entry point, STABLE: GET works): dead letters grouped by source, job type and error. Calls mcp_jobs.dead_letter_groups.';
COMMENT ON FUNCTION public.get_metrics(timestamptz, timestamptz, text, text) IS 'mcp_jobs (PostgREST entry point, STABLE: GET works): hourly metrics of a range of at most 31 days (default the last 24 hours). Calls mcp_jobs.get_metrics.';
COMMENT ON FUNCTION public.alerts() IS 'mcp_jobs (PostgREST entry point, STABLE: GET works): the alert rows of mcp_jobs.alerts().';
COMMENT ON FUNCTION public.queue_depth() IS 'mcp_jobs (PostgREST entry point, STABLE: GET works): queue depth per source and job type. Calls mcp_jobs.queue_depth().';
COMMENT ON FUNCTION public.report_progress(uuid, uuid, jsonb) IS 'mcp_jobs (PostgREST entry point): heartbeat of the current run, extends the lease. Calls mcp_jobs.report_progress.';
COMMENT ON FUNCTION public.cancel_job(uuid) IS 'mcp_jobs (PostgREST entry point): cancel a queued job. Calls mcp_jobs.cancel_job; unknown job -> HTTP 404, not queued -> 409.';
COMMENT ON FUNCTION public.requeue_dead_letter(uuid) IS 'mcp_jobs (PostgREST entry point): queue a dead job again, returns the job id. Calls mcp_jobs.requeue_dead_letter.';
COMMENT ON FUNCTION public.resolve_dead_letter(uuid, text) IS 'mcp_jobs (PostgREST entry point): close a dead letter with an optional note. Calls mcp_jobs.resolve_dead_letter.';
COMMENT ON FUNCTION public.list_jobs(text, text, text, integer, uuid) IS 'mcp_jobs (PostgREST entry point, STABLE: GET works): jobs newest first, filtered by source, type, status; p_before pages. Calls mcp_jobs.list_jobs.';
COMMENT ON FUNCTION public.get_job(uuid) IS 'mcp_jobs (PostgREST entry point, STABLE: GET works): one job with its runs, events and dead letters. Calls mcp_jobs.get_job; unknown job -> HTTP 404.';
COMMENT ON FUNCTION public.get_job_stats(text) IS 'mcp_jobs (PostgREST entry point, STABLE: GET works): job counts by status and unresolved dead letters. Calls mcp_jobs.get_job_stats.';
COMMENT ON FUNCTION mcp_jobs.grant_access(regrole) IS 'Give a role what Supabase''s service_role gets: USAGE on schema mcp_jobs, EXECUTE on the extension''s functions (mcp_jobs.* and the public wrappers), SELECT/INSERT/UPDATE/DELETE on its tables and sequences, and (for a role without BYPASSRLS) a permissive RLS policy per table. Run it as the extension owner, e.g. for a role created after CREATE EXTENSION. Idempotent.';
COMMENT ON FUNCTION mcp_jobs.revoke_access(regrole) IS 'Undo mcp_jobs.grant_access for a role (privileges and its RLS policies). Run it as the extension owner.';

-- ---------------------------------------------------------------------------------------------
-- Privileges as a fresh install has them: nothing for PUBLIC (the row checks excepted); each new
-- function to the roles that may run the function it replaces or extends (service_role, roles
-- given mcp_jobs.grant_access).
-- ---------------------------------------------------------------------------------------------
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA mcp_jobs FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mcp_jobs.uuidv7(), mcp_jobs.uuidv7_time(uuid) TO PUBLIC;
GRANT EXECUTE ON FUNCTION
    mcp_jobs._jobs_row_check(text, text, text, jsonb, integer, integer, integer, text, text, timestamptz, uuid, timestamptz),
    mcp_jobs._job_runs_row_check(integer, text, timestamptz),
    mcp_jobs._job_events_row_check(text)
    TO PUBLIC;
REVOKE ALL ON FUNCTION
    public.enqueue_job(text, text, jsonb, integer, timestamptz, integer, text, text),
    public.enqueue_jobs(jsonb),
    public.claim_next_job(text, text[], text[], integer, integer),
    public.complete_job(uuid, uuid, jsonb),
    public.complete_and_claim_next(uuid, uuid, jsonb, text, text[], text[], integer),
    public.claim_jobs(text, text[], text[], integer, integer, integer),
    public.complete_jobs(uuid[], uuid[], jsonb[]),
    public.fail_job(uuid, uuid, text, boolean, jsonb),
    public.requeue_dead_letters(uuid[]),
    public.resolve_dead_letters(uuid[], text),
    public.list_dead_letters(text, text, boolean, integer, uuid),
    public.dead_letter_groups(boolean),
    public.get_metrics(timestamptz, timestamptz, text, text),
    public.alerts(),
    public.queue_depth(),
    public.set_queue(text, text, boolean, integer, integer, interval, integer, integer, text[]),
    public.pause_queue(text, text),
    public.resume_queue(text, text),
    public.get_queues(),
    public.schedule_job(text, text, text, text, jsonb, integer, text),
    public.unschedule_job(text),
    public.list_schedules(),
    public.cron_next(text, text, timestamptz, integer),
    public.diagnostics(),
    public.report_progress(uuid, uuid, jsonb),
    public.cancel_job(uuid),
    public.requeue_dead_letter(uuid),
    public.resolve_dead_letter(uuid, text),
    public.list_jobs(text, text, text, integer, uuid),
    public.get_job(uuid),
    public.get_job_stats(text),
    mcp_jobs._raise_http(text, text, text, text),
    mcp_jobs.grant_access(regrole),
    mcp_jobs.revoke_access(regrole)
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
              ('mcp_jobs.enqueue_job(text, text, jsonb, integer, timestamp with time zone, integer, text)', 'mcp_jobs.enqueue_job(text, text, jsonb, integer, timestamptz, integer, text, text)'),
              ('public.enqueue_job(text, text, jsonb, integer, timestamp with time zone, integer, text)', 'public.enqueue_job(text, text, jsonb, integer, timestamptz, integer, text, text)'),
              ('mcp_jobs.enqueue_job(text, text, jsonb, integer, timestamp with time zone, integer, text)', 'mcp_jobs.enqueue_jobs(jsonb)'),
              ('public.enqueue_job(text, text, jsonb, integer, timestamp with time zone, integer, text)', 'public.enqueue_jobs(jsonb)'),
              ('mcp_jobs.claim_next_job(text, text[], text[], integer)', 'mcp_jobs.claim_next_job(text, text[], text[], integer, integer)'),
              ('public.claim_next_job(text, text[], text[], integer)', 'public.claim_next_job(text, text[], text[], integer, integer)'),
              ('mcp_jobs.claim_jobs(text, text[], text[], integer, integer)', 'mcp_jobs.claim_jobs(text, text[], text[], integer, integer, integer)'),
              ('public.claim_jobs(text, text[], text[], integer, integer)', 'public.claim_jobs(text, text[], text[], integer, integer, integer)'),
              ('mcp_jobs.alerts()', 'mcp_jobs.get_metrics(timestamptz, timestamptz, text, text)'),
              ('mcp_jobs.alerts()', 'public.get_metrics(timestamptz, timestamptz, text, text)'),
              ('mcp_jobs.alerts()', 'public.alerts()'),
              ('mcp_jobs.alerts()', 'mcp_jobs.diagnostics()'),
              ('mcp_jobs.alerts()', 'public.diagnostics()'),
              ('mcp_jobs.get_job_stats(text)', 'public.queue_depth()'),
              ('mcp_jobs.get_job_stats(text)', 'mcp_jobs.queue_depth()'),
              ('mcp_jobs.get_job_stats(text)', 'mcp_jobs.get_queues()'),
              ('mcp_jobs.get_job_stats(text)', 'public.get_queues()'),
              ('mcp_jobs.get_job_stats(text)', 'mcp_jobs.list_schedules()'),
              ('mcp_jobs.get_job_stats(text)', 'public.list_schedules()'),
              ('mcp_jobs.get_job_stats(text)', 'mcp_jobs.cron_next(text, text, timestamptz, integer)'),
              ('mcp_jobs.get_job_stats(text)', 'public.cron_next(text, text, timestamptz, integer)'),
              ('mcp_jobs.get_job(uuid)', 'mcp_jobs.list_dead_letters(text, text, boolean, integer, uuid)'),
              ('mcp_jobs.get_job(uuid)', 'public.list_dead_letters(text, text, boolean, integer, uuid)'),
              ('mcp_jobs.get_job(uuid)', 'mcp_jobs.dead_letter_groups(boolean)'),
              ('mcp_jobs.get_job(uuid)', 'public.dead_letter_groups(boolean)'),
              ('mcp_jobs.requeue_dead_letter(uuid)', 'mcp_jobs.requeue_dead_letters(uuid[])'),
              ('mcp_jobs.requeue_dead_letter(uuid)', 'public.requeue_dead_letters(uuid[])'),
              ('mcp_jobs.resolve_dead_letter(uuid, text)', 'mcp_jobs.resolve_dead_letters(uuid[], text)'),
              ('mcp_jobs.resolve_dead_letter(uuid, text)', 'public.resolve_dead_letters(uuid[], text)'),
              ('mcp_jobs.run_maintenance()', 'mcp_jobs.run_schedules(timestamptz)'),
              ('mcp_jobs.run_maintenance()', 'mcp_jobs.set_queue(text, text, boolean, integer, integer, interval, integer, integer, text[])'),
              ('mcp_jobs.run_maintenance()', 'public.set_queue(text, text, boolean, integer, integer, interval, integer, integer, text[])'),
              ('mcp_jobs.run_maintenance()', 'mcp_jobs.pause_queue(text, text)'),
              ('mcp_jobs.run_maintenance()', 'public.pause_queue(text, text)'),
              ('mcp_jobs.run_maintenance()', 'mcp_jobs.resume_queue(text, text)'),
              ('mcp_jobs.run_maintenance()', 'public.resume_queue(text, text)'),
              ('mcp_jobs.run_maintenance()', 'mcp_jobs.schedule_job(text, text, text, text, jsonb, integer, text)'),
              ('mcp_jobs.run_maintenance()', 'public.schedule_job(text, text, text, text, jsonb, integer, text)'),
              ('mcp_jobs.run_maintenance()', 'mcp_jobs.unschedule_job(text)'),
              ('mcp_jobs.run_maintenance()', 'public.unschedule_job(text)'),
              ('mcp_jobs.run_maintenance()', 'mcp_jobs._queues_changed()'),
              ('mcp_jobs.run_maintenance()', 'mcp_jobs._delete_history(uuid[])'),
              ('mcp_jobs._jobs_row_check(text, text, text, jsonb, integer, integer, integer, text, timestamp with time zone, uuid, timestamp with time zone)', 'mcp_jobs._jobs_row_check(text, text, text, jsonb, integer, integer, integer, text, text, timestamptz, uuid, timestamptz)')
          ) AS n(old, fn) ON n.old = g.fn
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', r.fn, r.role);
    END LOOP;
END;
$$;
-- the new tables, to the roles that have the others (grant_access: privileges, and an RLS policy
-- for a role without BYPASSRLS)
DO $$
DECLARE
    r record;
    t text;
BEGIN
    FOR r IN
        SELECT a.grantee::pg_catalog.regrole::text AS role,
               pg_catalog.string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) AS privs
          FROM pg_catalog.pg_class c CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a
         WHERE c.oid = 'mcp_jobs.jobs'::pg_catalog.regclass AND a.grantee <> 0 AND a.grantee <> c.relowner
         GROUP BY a.grantee
    LOOP
        EXECUTE pg_catalog.format('GRANT %s ON mcp_jobs.queues, mcp_jobs.schedules, mcp_jobs.maintenance_state TO %s',
                                  r.privs, r.role);
    END LOOP;
    FOR r IN
        SELECT pol.polname, pol.polroles
          FROM pg_catalog.pg_policy pol
         WHERE pol.polrelid = 'mcp_jobs.jobs'::pg_catalog.regclass AND pol.polname LIKE 'mcp\_jobs\_access\_%'
    LOOP
        FOREACH t IN ARRAY ARRAY['mcp_jobs.queues', 'mcp_jobs.schedules', 'mcp_jobs.maintenance_state'] LOOP
            EXECUTE pg_catalog.format('CREATE POLICY %I ON %s AS PERMISSIVE FOR ALL TO %s USING (true) WITH CHECK (true)',
                                      r.polname, t,
                                      (SELECT pg_catalog.string_agg(x::pg_catalog.regrole::text, ', ')
                                         FROM pg_catalog.unnest(r.polroles) x));
        END LOOP;
    END LOOP;
END;
$$;
NOTIFY pgrst, 'reload schema';
