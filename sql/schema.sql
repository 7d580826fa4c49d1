-- mcp_jobs schema: tables, constraints and indexes (docs/design.md explains each choice).
--
-- Loaded first by CREATE EXTENSION mcp_jobs; the control file makes `mcp_jobs` the extension's
-- schema. Every table is registered with pg_extension_config_dump so that pg_dump keeps its rows
-- (an extension's tables are otherwise dumped empty).

-- ---------------------------------------------------------------------------------------------
-- jobs: the queue and the state machine
--   queued -> processing -> completed
--                        -> queued (retry, or lease expired with attempts left)
--                        -> failed (no attempts left, or p_retry => false; a dead letter is written)
--   queued -> cancelled
-- ---------------------------------------------------------------------------------------------
CREATE TABLE mcp_jobs.jobs (
    id               uuid        PRIMARY KEY DEFAULT mcp_jobs.uuidv7(),
    source           text        NOT NULL,
    job_type         text        NOT NULL,
    payload          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    priority         integer     NOT NULL DEFAULT 5,
    status           text        NOT NULL DEFAULT 'queued',
    attempts         integer     NOT NULL DEFAULT 0,
    max_attempts     integer     NOT NULL DEFAULT 3,
    run_at           timestamptz NOT NULL DEFAULT now(),
    lease_expires_at timestamptz,
    worker_id        text,
    current_run_id   uuid,
    idempotency_key  text,
    result           jsonb,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    concurrency_key  text,
    -- status is text (not an enum) so that any string compares without error: the MCP Jobs
    -- design's monitoring query filters on 'running', which simply matches nothing. The row rules
    -- are one function (src/rules.rs, docs/design.md#row-rules), shared with the functions' checks.
    CONSTRAINT jobs_row_check CHECK (mcp_jobs._jobs_row_check(
        status, source, job_type, payload, priority, attempts, max_attempts, idempotency_key,
        concurrency_key, lease_expires_at, current_run_id, finished_at))
);

-- The claim reads this as a loose index scan: priority first, then rotating over sources and
-- lanes (job type, concurrency key), each lane in run_at and enqueue order (src/claim.rs).
-- COLLATE "C": byte order, cheap to compare, the same in every database.
CREATE INDEX jobs_claim_idx ON mcp_jobs.jobs
    (priority DESC, source COLLATE "C", job_type COLLATE "C", concurrency_key COLLATE "C" NULLS FIRST, run_at, id)
    WHERE status = 'queued';

-- The processing jobs, by queue and key: flow control counts them, the lease sweep reads them.
CREATE INDEX jobs_busy_idx ON mcp_jobs.jobs
    (source COLLATE "C", job_type COLLATE "C", concurrency_key COLLATE "C", lease_expires_at)
    WHERE status = 'processing';

-- Idempotent enqueue: one job per (source, idempotency key); the key is optional.
CREATE UNIQUE INDEX jobs_idempotency_idx ON mcp_jobs.jobs (source, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- list_jobs(p_source => ...) pages newest first by id within a source. Partial on a predicate every
-- row meets, so that only queries comparing source can use it (docs/design.md#indexes).
CREATE INDEX jobs_source_id_idx ON mcp_jobs.jobs (source, id) WHERE source IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
-- job_runs: one row per attempt. Its key leads with the job: every lookup knows the job, and
-- get_job lists a job's runs from it.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE mcp_jobs.job_runs (
    id               uuid        NOT NULL DEFAULT mcp_jobs.uuidv7(),
    job_id           uuid        NOT NULL,  -- the job; deleted with it (jobs_delete_history)
    attempt          integer     NOT NULL,
    worker_id        text,
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    outcome          text,
    error            text,
    lease_seconds    integer     NOT NULL,
    duration_ms      double precision
                     GENERATED ALWAYS AS (extract(epoch FROM (finished_at - started_at)) * 1000) STORED,
    CONSTRAINT job_runs_pkey PRIMARY KEY (job_id, id),
    -- attempt >= 1; outcome is one of completed, failed, lease_expired; a run is open (no outcome,
    -- no finished_at) or closed (both)
    CONSTRAINT job_runs_row_check CHECK (mcp_jobs._job_runs_row_check(attempt, outcome, finished_at))
);
-- Free space on each page, so that closing a run (no indexed column changes) is a HOT update.
ALTER TABLE mcp_jobs.job_runs SET (fillfactor = 90);

-- ---------------------------------------------------------------------------------------------
-- job_events: append-only event log, keyed by job (get_job reads a job's events in id order)
-- ---------------------------------------------------------------------------------------------
CREATE TABLE mcp_jobs.job_events (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    job_id      uuid        NOT NULL,  -- the job; deleted with it (jobs_delete_history)
    run_id      uuid,
    event_type  text        NOT NULL,
    data        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT job_events_pkey PRIMARY KEY (job_id, id),
    -- event_type is one of enqueued, started, progress, completed, failed, retry_scheduled,
    -- dead_lettered, cancelled, lease_expired, requeued, resolved
    CONSTRAINT job_events_row_check CHECK (mcp_jobs._job_events_row_check(event_type))
);

-- The metrics read the log by time; it is appended in time order, so BRIN fits.
CREATE INDEX job_events_created_at_brin ON mcp_jobs.job_events USING brin (created_at);

-- ---------------------------------------------------------------------------------------------
-- A job's runs and events go with it. Not foreign keys (docs/design.md#history-goes-with-its-job):
-- only the extension's functions write runs and events, and deletes and TRUNCATE of jobs take the
-- history with them through these statement triggers. SECURITY DEFINER like a foreign key's
-- cascade; the history is found by its key, whose first column is the job (mcp_jobs._delete_history).
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION mcp_jobs._delete_job_history() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM mcp_jobs._delete_history(ARRAY(SELECT id FROM deleted_jobs));
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
-- dead_letter_queue: jobs past their last attempt (or failed with p_retry => false)
-- ---------------------------------------------------------------------------------------------
CREATE TABLE mcp_jobs.dead_letter_queue (
    id               uuid        PRIMARY KEY DEFAULT mcp_jobs.uuidv7(),
    job_id           uuid        NOT NULL,
    source           text        NOT NULL,
    job_type         text        NOT NULL,
    payload          jsonb       NOT NULL,
    attempts         integer     NOT NULL,
    last_error       text,
    failed_at        timestamptz NOT NULL DEFAULT now(),
    resolved         boolean     NOT NULL DEFAULT false,
    resolved_at      timestamptz,
    resolution       text,
    resolution_note  text,
    details          jsonb,
    CONSTRAINT dead_letter_resolution_check CHECK (resolution IS NULL OR resolution IN ('requeued', 'resolved')),
    CONSTRAINT dead_letter_resolved_check CHECK (resolved = (resolved_at IS NOT NULL AND resolution IS NOT NULL))
);

-- At most one open dead letter per job.
CREATE UNIQUE INDEX dead_letter_open_job_idx ON mcp_jobs.dead_letter_queue (job_id) WHERE NOT resolved;

-- The MCP Jobs design's monitoring query and the alerts count unresolved dead letters by source and type.
CREATE INDEX dead_letter_unresolved_idx ON mcp_jobs.dead_letter_queue (source, job_type) WHERE NOT resolved;

-- ---------------------------------------------------------------------------------------------
-- metrics: hourly aggregates per (hour, source, job_type), filled by aggregate_metrics()
-- ---------------------------------------------------------------------------------------------
CREATE TABLE mcp_jobs.metrics (
    hour             timestamptz NOT NULL,
    source           text        NOT NULL,
    job_type         text        NOT NULL,
    enqueued         bigint      NOT NULL DEFAULT 0,
    started          bigint      NOT NULL DEFAULT 0,
    completed        bigint      NOT NULL DEFAULT 0,
    failed           bigint      NOT NULL DEFAULT 0,
    retried          bigint      NOT NULL DEFAULT 0,
    dead_lettered    bigint      NOT NULL DEFAULT 0,
    cancelled        bigint      NOT NULL DEFAULT 0,
    lease_expired    bigint      NOT NULL DEFAULT 0,
    success_rate     double precision,
    run_ms_avg       double precision,
    run_ms_p50       double precision,
    run_ms_p95       double precision,
    run_ms_max       double precision,
    wait_ms_p50      double precision,
    wait_ms_p95      double precision,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    run_ms_sketch    jsonb,
    wait_ms_sketch   jsonb,
    PRIMARY KEY (hour, source, job_type)
);

-- ---------------------------------------------------------------------------------------------
-- maintenance_state: one row, where maintenance stands (the metrics' watermark, pruning's cursor)
-- ---------------------------------------------------------------------------------------------
CREATE TABLE mcp_jobs.maintenance_state (
    singleton        boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    metrics_through  timestamptz,
    prune_after      uuid,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
INSERT INTO mcp_jobs.maintenance_state DEFAULT VALUES;

-- ---------------------------------------------------------------------------------------------
-- queues: flow control settings per (source, job_type), or per source (job_type NULL), and the
-- state the limits keep (src/flow.rs, docs/api.md#set_queue)
-- ---------------------------------------------------------------------------------------------
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

-- ---------------------------------------------------------------------------------------------
-- schedules: recurring jobs, enqueued by maintenance at each occurrence (src/schedule.rs)
-- ---------------------------------------------------------------------------------------------
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

-- A change of the settings reaches every backend's cache of them (src/flow.rs): a relcache
-- invalidation of this table, sent at commit.
CREATE FUNCTION mcp_jobs._queues_changed() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'mcp_jobs_queues_changed';

CREATE TRIGGER queues_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mcp_jobs.queues
    FOR EACH STATEMENT EXECUTE FUNCTION mcp_jobs._queues_changed();

-- Keep every row across pg_dump / restore.
SELECT pg_catalog.pg_extension_config_dump('mcp_jobs.jobs', '');
SELECT pg_catalog.pg_extension_config_dump('mcp_jobs.job_runs', '');
SELECT pg_catalog.pg_extension_config_dump('mcp_jobs.job_events', '');
SELECT pg_catalog.pg_extension_config_dump('mcp_jobs.job_events_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mcp_jobs.dead_letter_queue', '');
SELECT pg_catalog.pg_extension_config_dump('mcp_jobs.metrics', '');
SELECT pg_catalog.pg_extension_config_dump('mcp_jobs.queues', '');
SELECT pg_catalog.pg_extension_config_dump('mcp_jobs.schedules', '');
-- (maintenance_state is not dumped: CREATE EXTENSION makes its row, and after a restore the first
-- maintenance round recomputes the metrics of the previous and the current hour)
