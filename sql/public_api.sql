-- mcp_jobs public API: what PostgREST (and so Supabase's REST API) calls.
--
-- PostgREST resolves `POST /rpc/NAME` in the FIRST schema of `db-schemas` unless the client sends a
-- `Content-Profile` header; on Supabase that schema is `public`. So that the requests clients already
-- send (`/rest/v1/rpc/enqueue_job` with `p_source`, `p_job_type`, ...) work unchanged, every queue
-- function of schema mcp_jobs has a thin wrapper in `public` with exactly the same name, argument
-- names, types and defaults (one signature each: overloads make PostgREST answer 300).
--
-- The wrappers are SECURITY INVOKER (the caller needs EXECUTE on them and on mcp_jobs' functions,
-- and privileges on the tables: see mcp_jobs.grant_access) with `SET search_path = ''` and fully
-- qualified names. They translate the three SQLSTATEs PostgREST would turn into HTTP 500 into
-- PostgREST's `PTnnn` codes (HTTP nnn), keeping message, detail and hint:
--   P0002 (no_data_found: unknown job / dead letter)            -> PT404
--   55000 (object_not_in_prerequisite_state: wrong state, stale run id) -> PT409
--   54000 (program_limit_exceeded: payload too large)            -> PT413
--   53400 (configuration_limit_exceeded: the queue is full)     -> HTTP 429 with Retry-After
-- Every other error passes through unchanged (22xxx -> HTTP 400, 42501 -> 401/403).

-- ---------------------------------------------------------------------------------------------
-- Error translation
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION mcp_jobs._raise_http(p_sqlstate text, p_message text, p_detail text, p_hint text)
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
COMMENT ON FUNCTION mcp_jobs._raise_http(text, text, text, text) IS 'Internal: re-raise an error for PostgREST: P0002 -> PT404, 55000 -> PT409, 54000 -> PT413 (HTTP 404/409/413), 53400 (a full queue) -> HTTP 429 with Retry-After, other SQLSTATEs unchanged; message, detail and hint are kept.';

-- ---------------------------------------------------------------------------------------------
-- Wrappers (schema public)
-- ---------------------------------------------------------------------------------------------
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

CREATE FUNCTION public.complete_job(p_job_id uuid, p_run_id uuid, p_result jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = ''
AS $$
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN mcp_jobs.complete_job(p_job_id, p_run_id, p_result);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
    RETURN NULL;
END;
$$;

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

CREATE FUNCTION public.report_progress(p_job_id uuid, p_run_id uuid, p_progress jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = ''
AS $$
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN mcp_jobs.report_progress(p_job_id, p_run_id, p_progress);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
    RETURN NULL;
END;
$$;

CREATE FUNCTION public.cancel_job(p_job_id uuid)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = ''
AS $$
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN mcp_jobs.cancel_job(p_job_id);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
    RETURN NULL;
END;
$$;

CREATE FUNCTION public.requeue_dead_letter(p_id uuid)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = ''
AS $$
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN mcp_jobs.requeue_dead_letter(p_id);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
    RETURN NULL;
END;
$$;

CREATE FUNCTION public.resolve_dead_letter(p_id uuid, p_note text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = ''
AS $$
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN mcp_jobs.resolve_dead_letter(p_id, p_note);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
    RETURN NULL;
END;
$$;

CREATE FUNCTION public.list_jobs(
    p_source text DEFAULT NULL,
    p_job_type text DEFAULT NULL,
    p_status text DEFAULT NULL,
    p_limit integer DEFAULT 50,
    p_before uuid DEFAULT NULL
) RETURNS TABLE (
    id uuid,
    source text,
    job_type text,
    status text,
    priority integer,
    attempts integer,
    max_attempts integer,
    payload jsonb,
    result jsonb,
    last_error text,
    worker_id text,
    run_at timestamptz,
    created_at timestamptz,
    updated_at timestamptz,
    started_at timestamptz,
    finished_at timestamptz
)
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN QUERY SELECT * FROM mcp_jobs.list_jobs(p_source, p_job_type, p_status, p_limit, p_before);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
END;
$$;

CREATE FUNCTION public.get_job(p_job_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = ''
AS $$
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN mcp_jobs.get_job(p_job_id);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state OR program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM mcp_jobs._raise_http(s, m, d, h);
    RETURN NULL;
END;
$$;

CREATE FUNCTION public.get_job_stats(p_source text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = ''
AS $$
DECLARE s text; m text; d text; h text;
BEGIN
    RETURN mcp_jobs.get_job_stats(p_source);
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

-- ---------------------------------------------------------------------------------------------
-- Access
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION mcp_jobs.grant_access(p_role regrole)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    v_role text;
    v_policy text;
    v_bypass boolean;
    r record;
BEGIN
    IF p_role IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'p_role must not be NULL',
            HINT = 'Pass a role name, e.g. SELECT mcp_jobs.grant_access(''my_worker'').';
    END IF;
    v_role := p_role::text;  -- regrole's text form is a quoted identifier
    EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA mcp_jobs TO %s', v_role);
    -- every function of the extension (the mcp_jobs functions and the public wrappers), but not the
    -- access helpers themselves
    FOR r IN
        SELECT p.oid::pg_catalog.regprocedure AS fn
        FROM pg_catalog.pg_depend d
        JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'mcp_jobs'
        JOIN pg_catalog.pg_proc p ON p.oid = d.objid
        WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
          AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
          AND d.deptype = 'e'
          AND p.proname NOT IN ('grant_access', 'revoke_access')
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', r.fn, v_role);
    END LOOP;
    EXECUTE pg_catalog.format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA mcp_jobs TO %s', v_role);
    EXECUTE pg_catalog.format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA mcp_jobs TO %s', v_role);
    -- RLS is enabled on every table with no policy: a role without BYPASSRLS would see no rows.
    SELECT rolbypassrls OR rolsuper INTO v_bypass FROM pg_catalog.pg_roles WHERE oid = p_role;
    IF NOT v_bypass THEN
        v_policy := pg_catalog.left('mcp_jobs_access_' || (SELECT rolname FROM pg_catalog.pg_roles WHERE oid = p_role), 63);
        FOR r IN
            SELECT c.oid::pg_catalog.regclass AS tbl, c.oid
            FROM pg_catalog.pg_class c
            WHERE c.relnamespace = 'mcp_jobs'::pg_catalog.regnamespace AND c.relkind IN ('r', 'p')
              AND c.relrowsecurity
        LOOP
            IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy pol WHERE pol.polrelid = r.oid AND pol.polname = v_policy) THEN
                EXECUTE pg_catalog.format('CREATE POLICY %I ON %s AS PERMISSIVE FOR ALL TO %s USING (true) WITH CHECK (true)',
                                          v_policy, r.tbl, v_role);
            END IF;
        END LOOP;
    END IF;
END;
$$;
COMMENT ON FUNCTION mcp_jobs.grant_access(regrole) IS 'Give a role what Supabase''s service_role gets: USAGE on schema mcp_jobs, EXECUTE on the extension''s functions (mcp_jobs.* and the public wrappers), SELECT/INSERT/UPDATE/DELETE on its tables and sequences, and (for a role without BYPASSRLS) a permissive RLS policy per table. Run it as the extension owner, e.g. for a role created after CREATE EXTENSION. Idempotent.';

CREATE FUNCTION mcp_jobs.revoke_access(p_role regrole)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    v_role text;
    v_policy text;
    r record;
BEGIN
    IF p_role IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'p_role must not be NULL',
            HINT = 'Pass a role name, e.g. SELECT mcp_jobs.revoke_access(''my_worker'').';
    END IF;
    v_role := p_role::text;
    v_policy := pg_catalog.left('mcp_jobs_access_' || (SELECT rolname FROM pg_catalog.pg_roles WHERE oid = p_role), 63);
    FOR r IN
        SELECT pol.polname, pol.polrelid::pg_catalog.regclass AS tbl
        FROM pg_catalog.pg_policy pol JOIN pg_catalog.pg_class c ON c.oid = pol.polrelid
        WHERE c.relnamespace = 'mcp_jobs'::pg_catalog.regnamespace AND pol.polname = v_policy
    LOOP
        EXECUTE pg_catalog.format('DROP POLICY %I ON %s', r.polname, r.tbl);
    END LOOP;
    FOR r IN
        SELECT p.oid::pg_catalog.regprocedure AS fn
        FROM pg_catalog.pg_depend d
        JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'mcp_jobs'
        JOIN pg_catalog.pg_proc p ON p.oid = d.objid
        WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
          AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
          AND d.deptype = 'e'
    LOOP
        EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM %s', r.fn, v_role);
    END LOOP;
    EXECUTE pg_catalog.format('REVOKE ALL ON ALL TABLES IN SCHEMA mcp_jobs FROM %s', v_role);
    EXECUTE pg_catalog.format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA mcp_jobs FROM %s', v_role);
    EXECUTE pg_catalog.format('REVOKE USAGE ON SCHEMA mcp_jobs FROM %s', v_role);
END;
$$;
COMMENT ON FUNCTION mcp_jobs.revoke_access(regrole) IS 'Undo mcp_jobs.grant_access for a role (privileges and its RLS policies). Run it as the extension owner.';

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
