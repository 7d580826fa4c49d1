-- mcp_jobs schema: tables, constraints and indexes.
--
-- Loaded first (bootstrap) by CREATE EXTENSION mcp_jobs; the control file makes `mcp_jobs` the
-- extension's schema. Every table is registered with pg_extension_config_dump so that pg_dump keeps
-- its rows (an extension's tables are otherwise dumped empty).

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
    -- status is text (not an enum) so that any string compares without error: the seed's monitoring
    -- query filters on 'running', which simply matches nothing.
    --
    -- The row rules, in one function (src/checks.rs) because PostgreSQL 15 recompiles CHECK
    -- expressions for every statement and eleven SQL expressions cost 18 % of a job's lifecycle:
    --   status is one of queued, processing, completed, failed, cancelled;
    --   source, job_type and idempotency_key (when set) are non-empty and at most 200 characters;
    --   payload is a JSON object; priority is 0..10; attempts >= 0; max_attempts is 1..1000;
    --   a job has a lease exactly while it is processing, and then also a current run;
    --   finished_at is set exactly in the terminal states (completed, failed, cancelled).
    CONSTRAINT jobs_row_check CHECK (mcp_jobs._jobs_row_check(
        status, source, job_type, payload, priority, attempts, max_attempts, idempotency_key,
        lease_expires_at, current_run_id, finished_at))
);

-- The claim path: the next queued job in claim order (priority high first, then run_at, then enqueue
-- order; ids are UUIDv7, so id order is enqueue order). Partial, so it holds only queued jobs and
-- stays small however much history the table keeps.
CREATE INDEX jobs_claim_idx ON mcp_jobs.jobs (priority DESC, run_at, id) WHERE status = 'queued';

-- The lease sweep: processing jobs whose lease expired, oldest expiry first. Partial: only in-flight jobs.
-- Statements that look up one in-flight job by id (complete, fail, progress) compare status with
-- COLLATE "C", which this predicate does not imply: the planner then cannot serve them with a scan
-- of this whole index filtered on id, which it did when statistics showed few in-flight jobs (a
-- visit of every in-flight job and dead entry per completion: 0.36 ms and 103 buffers per call in a
-- 30 000-job drain, bench/ANALYSIS.md); only the primary key can.
CREATE INDEX jobs_lease_idx ON mcp_jobs.jobs (lease_expires_at) WHERE status = 'processing';

-- Idempotent enqueue: one job per (source, idempotency key); the key is optional.
CREATE UNIQUE INDEX jobs_idempotency_idx ON mcp_jobs.jobs (source, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- list_jobs(p_source => ...) pages newest first by id within a source.
--
-- Partial on a predicate every row meets (source is NOT NULL): a query uses the index only when it
-- compares source, which proves the predicate. Without it the index could also serve `id = x` as a
-- scan of the whole index filtered on its second column; a backend's cached generic plan made while
-- jobs was empty (a fresh install, after TRUNCATE or a full prune) picked that for claims, as cheap as
-- the primary key for an empty table, and then read every job on every claim as the table grew
-- (6 ms per claim at 100 000 jobs; tests/test_plans.py). A lookup by id has only jobs_pkey now.
CREATE INDEX jobs_source_id_idx ON mcp_jobs.jobs (source, id) WHERE source IS NOT NULL;

-- Retention pruning of finished jobs by age (run_maintenance). Partial: only finished jobs.
CREATE INDEX jobs_finished_at_idx ON mcp_jobs.jobs (finished_at) WHERE finished_at IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
-- job_runs: one row per attempt
-- ---------------------------------------------------------------------------------------------
CREATE TABLE mcp_jobs.job_runs (
    id               uuid        PRIMARY KEY DEFAULT mcp_jobs.uuidv7(),
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
    -- attempt >= 1; outcome is one of completed, failed, lease_expired; a run is open (no outcome,
    -- no finished_at) or closed (both)
    CONSTRAINT job_runs_row_check CHECK (mcp_jobs._job_runs_row_check(attempt, outcome, finished_at))
);

-- get_job lists a job's runs in order. Not unique on attempt: a requeued dead letter starts its
-- attempts again at 1.
CREATE INDEX job_runs_job_idx ON mcp_jobs.job_runs (job_id, started_at);

-- Metrics aggregation reads runs by the hour they started; BRIN because rows arrive in time order
-- and a BRIN index costs almost nothing to maintain. There is deliberately no index on finished_at:
-- closing a run (complete/fail/lease expiry) sets finished_at and outcome, and on PostgreSQL 15 any
-- index on a changed column, BRIN included, rules out a HOT update. Without one, and with the
-- free space fillfactor leaves on each page, closing a run is a HOT update that writes no index
-- entries (bench/: complete_job 48 -> 36 buffers and 1176 -> 936 WAL bytes per call). The runs
-- that finished in an hour are found through their 'completed'/'failed' events (BRIN on
-- job_events.created_at), whose time is the run's finished_at.
CREATE INDEX job_runs_started_at_brin ON mcp_jobs.job_runs USING brin (started_at);
ALTER TABLE mcp_jobs.job_runs SET (fillfactor = 90);

-- ---------------------------------------------------------------------------------------------
-- job_events: append-only event log
-- ---------------------------------------------------------------------------------------------
CREATE TABLE mcp_jobs.job_events (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      uuid        NOT NULL,  -- the job; deleted with it (jobs_delete_history)
    run_id      uuid,
    event_type  text        NOT NULL,
    data        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- event_type is one of enqueued, started, progress, completed, failed, retry_scheduled,
    -- dead_lettered, cancelled, lease_expired, requeued, resolved
    CONSTRAINT job_events_row_check CHECK (mcp_jobs._job_events_row_check(event_type))
);

-- get_job lists a job's events in order.
CREATE INDEX job_events_job_idx ON mcp_jobs.job_events (job_id, id);

-- Metrics aggregation reads events by hour; the log is append-only, so BRIN fits.
CREATE INDEX job_events_created_at_brin ON mcp_jobs.job_events USING brin (created_at);

-- ---------------------------------------------------------------------------------------------
-- A job's runs and events go with it. Not foreign keys: only the extension's functions write runs
-- and events, always in the statement that locks or inserts their job, and a foreign key cost each
-- of the four run/event inserts of a job's lifecycle an RI query and a row lock (7 % of the server
-- time per job in an A/B, bench/ANALYSIS.md). Deletes (retention pruning, a direct DELETE) and
-- TRUNCATE of jobs take the history with them through these statement triggers instead.
-- ---------------------------------------------------------------------------------------------
-- SECURITY DEFINER like a foreign key's cascade, which runs as the owner of the referencing table:
-- whoever may delete jobs takes their history with them without needing rights on it.
--
-- The history is found by a key restriction on the deleted ids (job_id = ANY), never by a join to
-- the transition table, and with enable_seqscan = off: PL/pgSQL keeps the plans of a session, and a
-- session whose first deletes found empty tables (the maintenance worker pruning nothing on a fresh
-- install: a statement trigger fires for zero rows too) kept a sequential scan of job_events joined
-- to the deleted ids by a nested loop: 189 ms to delete 10 jobs with 50 000 events, and every later
-- prune batch paid for the whole event log (tests/test_plans.py). Now it is index probes of
-- job_events_job_idx and job_runs_job_idx, whose first column is job_id.
CREATE FUNCTION mcp_jobs._delete_job_history() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET enable_seqscan = off AS $$
BEGIN
    DELETE FROM mcp_jobs.job_events WHERE job_id = ANY (ARRAY(SELECT id FROM deleted_jobs));
    DELETE FROM mcp_jobs.job_runs WHERE job_id = ANY (ARRAY(SELECT id FROM deleted_jobs));
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

-- The seed's monitoring query and the alerts count unresolved dead letters by source and type.
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
    PRIMARY KEY (hour, source, job_type)
);

-- Keep every row across pg_dump / restore.
SELECT pg_catalog.pg_extension_config_dump('mcp_jobs.jobs', '');
SELECT pg_catalog.pg_extension_config_dump('mcp_jobs.job_runs', '');
SELECT pg_catalog.pg_extension_config_dump('mcp_jobs.job_events', '');
SELECT pg_catalog.pg_extension_config_dump('mcp_jobs.job_events_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mcp_jobs.dead_letter_queue', '');
SELECT pg_catalog.pg_extension_config_dump('mcp_jobs.metrics', '');
