-- The "plain PL/pgSQL" reference of bench/: the MCP Jobs design's four functions (enqueue_job,
-- claim_next_job, complete_job, fail_job) as a careful plain SQL migration would write them. It
-- writes the same rows per job as mcp_jobs (the job; one run per attempt with its lease and
-- duration; events enqueued, started, completed with the same data keys as mcp_jobs' events),
-- with a primary key and one index per table, a foreign key from runs to jobs, CHECK constraints
-- on the states, and the claim as UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED) in
-- priority order. It is what mcp_jobs is measured against (bench/run.py, bench/soak.py,
-- BENCHMARKS.md).
--
-- Beyond the design's four functions, for like-for-like comparisons only:
--   claim_jobs / complete_jobs   the batch path as set-based SQL (bench/run.py's batched drain)
--   expire_leases / prune        the upkeep a cron job (pg_cron) would run (bench/soak.py)
CREATE SCHEMA plpgsql_ref;

CREATE TABLE plpgsql_ref.jobs (
    id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    source           text        NOT NULL,
    job_type         text        NOT NULL,
    payload          jsonb       NOT NULL DEFAULT '{}',
    priority         integer     NOT NULL DEFAULT 5 CHECK (priority BETWEEN 0 AND 10),
    status           text        NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'processing', 'completed', 'failed', 'cancelled')),
    attempts         integer     NOT NULL DEFAULT 0,
    max_attempts     integer     NOT NULL DEFAULT 3,
    run_at           timestamptz NOT NULL DEFAULT now(),
    lease_expires_at timestamptz,
    worker_id        text,
    current_run_id   uuid,
    result           jsonb,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz
);
CREATE INDEX jobs_queue_idx ON plpgsql_ref.jobs (priority DESC, run_at) WHERE status = 'queued';

CREATE TABLE plpgsql_ref.job_runs (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id        uuid        NOT NULL REFERENCES plpgsql_ref.jobs (id) ON DELETE CASCADE,
    attempt       integer     NOT NULL,
    worker_id     text,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    outcome       text CHECK (outcome IN ('completed', 'failed', 'lease_expired')),
    error         text,
    lease_seconds integer     NOT NULL,
    duration_ms   double precision
                  GENERATED ALWAYS AS (extract(epoch FROM (finished_at - started_at)) * 1000) STORED
);
CREATE INDEX job_runs_job_idx ON plpgsql_ref.job_runs (job_id);

CREATE TABLE plpgsql_ref.job_events (
    id         bigserial   PRIMARY KEY,
    job_id     uuid        NOT NULL,
    run_id     uuid,
    event_type text        NOT NULL,
    data       jsonb       NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_events_job_idx ON plpgsql_ref.job_events (job_id);

CREATE FUNCTION plpgsql_ref.enqueue_job(p_source text, p_job_type text, p_payload jsonb DEFAULT '{}',
                                        p_priority int DEFAULT 5)
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE v_id uuid; v_run_at timestamptz; v_max int;
BEGIN
    INSERT INTO plpgsql_ref.jobs (source, job_type, payload, priority)
    VALUES (p_source, p_job_type, coalesce(p_payload, '{}'), p_priority)
    RETURNING id, run_at, max_attempts INTO v_id, v_run_at, v_max;
    INSERT INTO plpgsql_ref.job_events (job_id, event_type, data)
    VALUES (v_id, 'enqueued', jsonb_build_object('priority', p_priority, 'run_at', v_run_at, 'max_attempts', v_max));
    RETURN v_id;
END $$;

CREATE FUNCTION plpgsql_ref.claim_next_job(p_worker_id text, p_lease_seconds int DEFAULT 300)
RETURNS TABLE (id uuid, run_id uuid, payload jsonb) LANGUAGE plpgsql AS $$
DECLARE v_job plpgsql_ref.jobs;
DECLARE v_run uuid := gen_random_uuid();
BEGIN
    UPDATE plpgsql_ref.jobs j
       SET status = 'processing', attempts = j.attempts + 1, worker_id = p_worker_id,
           lease_expires_at = now() + make_interval(secs => p_lease_seconds), current_run_id = v_run,
           started_at = coalesce(j.started_at, now()), updated_at = now()
     WHERE j.id = (SELECT q.id FROM plpgsql_ref.jobs q
                    WHERE q.status = 'queued' AND q.run_at <= now()
                    ORDER BY q.priority DESC, q.run_at
                    LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING j.* INTO v_job;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO plpgsql_ref.job_runs (id, job_id, attempt, worker_id, lease_seconds)
    VALUES (v_run, v_job.id, v_job.attempts, p_worker_id, p_lease_seconds);
    INSERT INTO plpgsql_ref.job_events (job_id, run_id, event_type, data)
    VALUES (v_job.id, v_run, 'started',
            jsonb_build_object('attempt', v_job.attempts, 'worker_id', p_worker_id,
                               'wait_ms', extract(epoch FROM (now() - v_job.created_at)) * 1000));
    id := v_job.id; run_id := v_run; payload := v_job.payload;
    RETURN NEXT;
END $$;

CREATE FUNCTION plpgsql_ref.complete_job(p_job_id uuid, p_run_id uuid, p_result jsonb DEFAULT NULL)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE v_attempt int; v_ms double precision;
BEGIN
    UPDATE plpgsql_ref.jobs
       SET status = 'completed', result = p_result, finished_at = now(), updated_at = now(),
           lease_expires_at = NULL
     WHERE id = p_job_id AND status = 'processing' AND current_run_id = p_run_id
    RETURNING attempts INTO v_attempt;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % is not processing under run %', p_job_id, p_run_id USING ERRCODE = '55000';
    END IF;
    UPDATE plpgsql_ref.job_runs SET finished_at = now(), outcome = 'completed' WHERE id = p_run_id
    RETURNING duration_ms INTO v_ms;
    INSERT INTO plpgsql_ref.job_events (job_id, run_id, event_type, data)
    VALUES (p_job_id, p_run_id, 'completed', jsonb_build_object('attempt', v_attempt, 'duration_ms', v_ms));
    RETURN true;
END $$;

CREATE FUNCTION plpgsql_ref.fail_job(p_job_id uuid, p_run_id uuid, p_error text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE v_status text;
BEGIN
    UPDATE plpgsql_ref.jobs
       SET status = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END,
           run_at = now() + interval '10 seconds', last_error = p_error, updated_at = now(),
           lease_expires_at = NULL,
           finished_at = CASE WHEN attempts < max_attempts THEN NULL ELSE now() END
     WHERE id = p_job_id AND status = 'processing' AND current_run_id = p_run_id
    RETURNING status INTO v_status;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % is not processing under run %', p_job_id, p_run_id USING ERRCODE = '55000';
    END IF;
    UPDATE plpgsql_ref.job_runs SET finished_at = now(), outcome = 'failed', error = p_error WHERE id = p_run_id;
    INSERT INTO plpgsql_ref.job_events (job_id, run_id, event_type, data)
    VALUES (p_job_id, p_run_id, 'failed', jsonb_build_object('error', p_error));
    RETURN v_status;
END $$;

-- The batch path, set-based: claim up to p_limit due jobs in priority order (one statement per
-- table), and complete many (job, run) pairs of which the jobs are processing under that run.
CREATE FUNCTION plpgsql_ref.claim_jobs(p_worker_id text, p_limit int DEFAULT 10, p_lease_seconds int DEFAULT 300)
RETURNS TABLE (id uuid, run_id uuid, payload jsonb) LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH picked AS (
        SELECT q.id FROM plpgsql_ref.jobs q
         WHERE q.status = 'queued' AND q.run_at <= now()
         ORDER BY q.priority DESC, q.run_at
         LIMIT p_limit FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE plpgsql_ref.jobs j
           SET status = 'processing', attempts = j.attempts + 1, worker_id = p_worker_id,
               lease_expires_at = now() + make_interval(secs => p_lease_seconds),
               current_run_id = gen_random_uuid(), started_at = coalesce(j.started_at, now()),
               updated_at = now()
          FROM picked WHERE j.id = picked.id
        RETURNING j.id, j.current_run_id, j.attempts, j.payload, j.created_at
    ), runs AS (
        INSERT INTO plpgsql_ref.job_runs (id, job_id, attempt, worker_id, lease_seconds)
        SELECT c.current_run_id, c.id, c.attempts, p_worker_id, p_lease_seconds FROM claimed c
    ), events AS (
        INSERT INTO plpgsql_ref.job_events (job_id, run_id, event_type, data)
        SELECT c.id, c.current_run_id, 'started',
               jsonb_build_object('attempt', c.attempts, 'worker_id', p_worker_id,
                                  'wait_ms', extract(epoch FROM (now() - c.created_at)) * 1000)
          FROM claimed c
    )
    SELECT c.id, c.current_run_id, c.payload FROM claimed c;
END $$;

CREATE FUNCTION plpgsql_ref.complete_jobs(p_job_ids uuid[], p_run_ids uuid[])
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE v_n int;
BEGIN
    WITH done AS (
        UPDATE plpgsql_ref.jobs j
           SET status = 'completed', finished_at = now(), updated_at = now(), lease_expires_at = NULL
          FROM unnest(p_job_ids, p_run_ids) AS p(job_id, run_id)
         WHERE j.id = p.job_id AND j.status = 'processing' AND j.current_run_id = p.run_id
        RETURNING j.id, j.current_run_id, j.attempts
    ), runs AS (
        UPDATE plpgsql_ref.job_runs r SET finished_at = now(), outcome = 'completed'
          FROM done d WHERE r.id = d.current_run_id
        RETURNING r.id, r.duration_ms
    ), events AS (
        INSERT INTO plpgsql_ref.job_events (job_id, run_id, event_type, data)
        SELECT d.id, d.current_run_id, 'completed', jsonb_build_object('attempt', d.attempts, 'duration_ms', r.duration_ms)
          FROM done d JOIN runs r ON r.id = d.current_run_id
    )
    SELECT count(*) INTO v_n FROM done;
    RETURN v_n;
END $$;

-- Upkeep a cron job would run (bench/soak.py calls it every maintenance interval): take back
-- expired leases, then delete finished jobs whose finished_at is before the cutoff (their runs go
-- by the foreign key's cascade, their events by an explicit delete), at most p_max jobs per call.
-- The cutoff is now() - retention: mcp_jobs' rule (src/queries/prune_cutoff.sql) without its
-- metrics watermark, which trails now() by about a second and which the reference does not keep.
-- Returns what it did.
CREATE FUNCTION plpgsql_ref.expire_leases() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE v_n int;
BEGIN
    WITH expired AS (
        UPDATE plpgsql_ref.jobs
           SET status = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END,
               lease_expires_at = NULL, updated_at = now(),
               finished_at = CASE WHEN attempts < max_attempts THEN NULL ELSE now() END
         WHERE status = 'processing' AND lease_expires_at < now()
        RETURNING id, current_run_id
    ), runs AS (
        UPDATE plpgsql_ref.job_runs r SET finished_at = now(), outcome = 'lease_expired'
          FROM expired e WHERE r.id = e.current_run_id
    )
    SELECT count(*) INTO v_n FROM expired;
    RETURN v_n;
END $$;

CREATE FUNCTION plpgsql_ref.prune(p_retention interval, p_max int DEFAULT 100000)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE v_cutoff timestamptz := now() - p_retention;
DECLARE v_ids uuid[];
BEGIN
    SELECT array_agg(j.id) INTO v_ids
      FROM (SELECT id FROM plpgsql_ref.jobs
             WHERE status IN ('completed', 'failed', 'cancelled') AND finished_at < v_cutoff
             LIMIT p_max FOR UPDATE SKIP LOCKED) j;
    IF v_ids IS NULL THEN
        RETURN 0;
    END IF;
    DELETE FROM plpgsql_ref.job_events WHERE job_id = ANY (v_ids);
    DELETE FROM plpgsql_ref.jobs WHERE id = ANY (v_ids);
    RETURN cardinality(v_ids);
END $$;
