-- mcp_jobs finalize: documentation (COMMENT ON) and privileges. Runs after every table and function
-- of the extension exists.

-- ---------------------------------------------------------------------------------------------
-- Comments: tables and columns
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

COMMENT ON TABLE mcp_jobs.metrics IS 'Hourly aggregates per (hour, source, job_type), filled by aggregate_metrics().';
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
COMMENT ON COLUMN mcp_jobs.metrics.run_ms_p50 IS 'Median run time (ms).';
COMMENT ON COLUMN mcp_jobs.metrics.run_ms_p95 IS '95th percentile run time (ms).';
COMMENT ON COLUMN mcp_jobs.metrics.run_ms_max IS 'Longest run time (ms).';
COMMENT ON COLUMN mcp_jobs.metrics.wait_ms_p50 IS 'Median queue wait, enqueue to first start, of jobs first started in the hour (ms).';
COMMENT ON COLUMN mcp_jobs.metrics.wait_ms_p95 IS '95th percentile queue wait (ms).';
COMMENT ON COLUMN mcp_jobs.metrics.updated_at IS 'When the row was last aggregated.';

-- ---------------------------------------------------------------------------------------------
-- Comments: functions
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
COMMENT ON FUNCTION mcp_jobs.uuidv7() IS 'A new time-ordered UUIDv7 (RFC 9562), generated natively.';
COMMENT ON FUNCTION mcp_jobs.uuidv7_time(uuid) IS 'The creation time encoded in a UUIDv7.';
COMMENT ON FUNCTION mcp_jobs.retry_delay(integer) IS 'Backoff before retrying failed attempt n: min(retry_max_delay, retry_base_delay * 2^(n-1)) * (0.5 + 0.5 * random()).';
COMMENT ON FUNCTION mcp_jobs.enqueue_job(text, text, jsonb, integer, timestamptz, integer, text) IS 'Enqueue a job; returns its id. Payload: a JSON object (or a string holding one); priority 0-10 (higher first); run_at: not before; max_attempts (default mcp_jobs.default_max_attempts); idempotency key: same (source, key) returns the existing job.';
COMMENT ON FUNCTION mcp_jobs.claim_next_job(text, text[], text[], integer) IS 'Atomically claim the next due job (priority desc, run_at, enqueue order) with FOR UPDATE SKIP LOCKED; returns it with its run_id, or no row. Expired leases are requeued (or dead-lettered) first.';
COMMENT ON FUNCTION mcp_jobs.complete_job(uuid, uuid, jsonb) IS 'Complete a processing job; only its current run (run_id from claim_next_job) may.';
COMMENT ON FUNCTION mcp_jobs.complete_and_claim_next(uuid, uuid, jsonb, text, text[], text[], integer) IS 'complete_job, then claim_next_job, in one call and one transaction: a worker taking jobs one at a time commits once per job instead of twice. Every argument is checked before anything is written; when the completion is refused (unknown job, wrong state, stale run, lost lease) the call raises complete_job''s error and nothing is completed or claimed. Returns the next due job with its run_id as claim_next_job does, or no row (the completion stands).';
COMMENT ON FUNCTION mcp_jobs.claim_jobs(text, text[], text[], integer, integer) IS 'Batch claim_next_job: atomically claim up to p_limit (1..1000, default 10) due jobs in one statement, in claim order, each with its own run_id, run row and started event; 0 rows when nothing is due. Expired leases are requeued (or dead-lettered) first.';
COMMENT ON FUNCTION mcp_jobs.complete_jobs(uuid[], uuid[], jsonb[]) IS 'Batch complete_job: completes every (p_job_ids[i], p_run_ids[i]) pair whose run is still the job''s current processing run, with result p_results[i] (optional), in one statement. Returns one row per pair in input order: completed true, or false with reason (not found | lease expired | not processing: <status> | stale run); such a pair does not fail the batch. At most 1000 pairs; NULL arrays or elements, different lengths or a repeated job id are refused.';
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

-- ---------------------------------------------------------------------------------------------
-- Comments: monitoring, metrics and maintenance (docs/monitoring.md)
-- ---------------------------------------------------------------------------------------------
COMMENT ON VIEW mcp_jobs.queue_depth IS 'Queue depth per source and job type: queued and in-flight (processing) jobs. The seed''s depth query filters status IN (''queued'', ''running''); the in-flight state is ''processing'', so that query shows queued jobs only. security_invoker: the caller''s privileges and row-level security apply.';
COMMENT ON COLUMN mcp_jobs.queue_depth.source IS 'Job source.';
COMMENT ON COLUMN mcp_jobs.queue_depth.job_type IS 'Job type.';
COMMENT ON COLUMN mcp_jobs.queue_depth.queued IS 'Jobs waiting to be claimed (including those scheduled for later and retries in backoff).';
COMMENT ON COLUMN mcp_jobs.queue_depth.processing IS 'Jobs claimed by a worker (in flight).';
COMMENT ON COLUMN mcp_jobs.queue_depth.due_now IS 'Queued jobs whose run_at has passed: claimable now.';
COMMENT ON COLUMN mcp_jobs.queue_depth.oldest_queued_at IS 'Enqueue time of the oldest queued job.';
COMMENT ON COLUMN mcp_jobs.queue_depth.oldest_queued_age IS 'now() - oldest_queued_at.';
COMMENT ON FUNCTION mcp_jobs.queue_depth() IS 'The rows of the view mcp_jobs.queue_depth, ordered by source and job type, with the oldest queued job''s age in seconds (oldest_queued_age_seconds).';
COMMENT ON FUNCTION mcp_jobs.aggregate_metrics(timestamptz, timestamptz) IS 'Recompute mcp_jobs.metrics for every whole UTC hour touched by [p_from, p_to) (default: start of the previous hour to now()) from job_events and job_runs; rows of the range without activity are deleted, rows outside it never touched. Idempotent. At most 31 days per call (22023). Returns the rows written. Hours whose jobs were pruned (mcp_jobs.retention) cannot be recomputed.';
COMMENT ON FUNCTION mcp_jobs.alerts() IS 'The seed''s alert thresholds per source: rows (level critical|warning, metric queue_depth|dead_letter_unresolved|success_rate, source, value, threshold, message) for each metric past a threshold, most severe level only. Strict comparisons; thresholds are the mcp_jobs.alert_* settings (defaults 50/100 jobs, 5/10 dead letters, 0.9/0.8 success over 7 days).';
COMMENT ON FUNCTION mcp_jobs.run_maintenance() IS 'Requeue or dead-letter jobs whose lease expired, aggregate the metrics of the previous and current hour, and prune finished jobs (with their runs and events) older than mcp_jobs.retention, in bounded batches; never jobs with an unresolved dead letter, dead letters or metrics. Returns a JSON report. Run by the background worker when the library is preloaded, else schedule it (pg_cron).';

-- The queue's hot functions look rows up only by key (primary key, partial claim and lease
-- indexes). Their statements are prepared once per backend and PostgreSQL keeps a generic plan
-- made from the statistics and table sizes of that moment: planned while job_runs was empty (a
-- fresh install, after TRUNCATE, before autovacuum's first ANALYZE), "find the run by id" became a
-- sequential scan of job_runs that each call then paid as the table grew (bench/ANALYSIS.md: 0.37 ms
-- and 102 buffers per complete_job in a 30 000-job drain, 0.09 ms and 27 buffers with this setting).
-- enable_seqscan = off, for these functions only, keeps their plans on the indexes whatever the
-- statistics were when they were made.
--
-- Functions that return rows (claim_next_job, claim_jobs, complete_jobs, complete_and_claim_next,
-- list_jobs, alerts) carry
-- no SET clause: PostgreSQL calls a set-returning function once per row it returns and applies and
-- restores its SET clauses on every one of those calls (3.2 us per row of claim_jobs, a third of
-- what returning a row costs; bench/ANALYSIS.md). They apply the same settings once per call
-- in their code (src/spi_util.rs, with_settings), and tests/test_plans.py checks the settings
-- their statements run under.
ALTER FUNCTION mcp_jobs.enqueue_job(text, text, jsonb, integer, timestamptz, integer, text) SET enable_seqscan = off;
ALTER FUNCTION mcp_jobs.complete_job(uuid, uuid, jsonb) SET enable_seqscan = off;
ALTER FUNCTION mcp_jobs.fail_job(uuid, uuid, text, boolean, jsonb) SET enable_seqscan = off;
ALTER FUNCTION mcp_jobs.report_progress(uuid, uuid, jsonb) SET enable_seqscan = off;
ALTER FUNCTION mcp_jobs.cancel_job(uuid) SET enable_seqscan = off;

-- claim_jobs' statement takes its batch size as LIMIT $5. PostgreSQL costs a generic plan with an
-- unknown LIMIT at a tenth of the queue, so the plan cache judged the generic plan dearer than a
-- plan for the actual limit and planned the statement again on every call (0.17-0.28 ms of planning
-- per call; claim_jobs 1.96 -> 1.52 ms per 50 jobs with this setting, bench/ANALYSIS.md). The
-- generic plan is the same plan: the queue in claim order from jobs_claim_idx, every row by key
-- (tests/test_plans.py checks it for a plan made on an empty table). claim_jobs sets
-- plan_cache_mode = force_generic_plan in its code (a set-returning function, see above).
--
-- The claims (claim_next_job, claim_jobs, complete_and_claim_next) also run with
-- enable_bitmapscan = off, and all three with plan_cache_mode = force_generic_plan, in their code.
-- A generic plan made while jobs held rows but had never been analyzed (after a restore or a bulk
-- load, before autovacuum's first ANALYZE, or with autovacuum off for the table) costed the claim's
-- queue filter `($2 IS NULL OR source = ANY ($2))` as selective and chose to collect every queued
-- job with a bitmap scan of jobs_claim_idx and sort them all, for each claim, until an ANALYZE
-- replaced the plan: 59-75 ms per claim_next_job and 60-88 ms per claim_jobs(50) at 150 000
-- queued, against 0.16-0.26 and 1.2-1.9 ms reading the index in claim order (bench/unanalyzed.py;
-- bench/ANALYSIS.md, "0.6.1"). Reading jobs_claim_idx in order is never the worse plan: the filters
-- on source and job_type are not in the index, so a bitmap scan has to visit every queued job as
-- well. In other never-analyzed states (20 000 queued, or 50 000 finished) the plan cache instead
-- judged the generic plan dearer than one for the call's arguments and planned claim_next_job's
-- statement again on every call (0.2 ms each); with bitmap scans off the generic plan is the plan
-- for any arguments, so the claims keep one per backend (tests/test_plans.py counts the plans).

-- The other functions that run statements (reads of the history, maintenance, dead letters) plan
-- every statement for the call at hand instead of keeping a generic plan. A generic plan is made
-- from the table sizes of the moment it is made, and one made while the tables were empty (a fresh
-- install: the maintenance worker aggregates and prunes from its first minute) joined events to
-- jobs by a sequential scan of jobs for every event: aggregate_metrics took 30.8 s for 2 000 events
-- of the hour beside 51 000 older jobs (tests/test_plans.py). Planning each call costs 0.05-0.84 ms
-- per statement (bench/ANALYSIS.md), small next to what these calls read. The maintenance worker
-- sets the same for its session (src/worker.rs), and list_jobs and alerts in their code (they return
-- rows, see above).
ALTER FUNCTION mcp_jobs.get_job(uuid) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION mcp_jobs.get_job_stats(text) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION mcp_jobs.aggregate_metrics(timestamptz, timestamptz) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION mcp_jobs.run_maintenance() SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION mcp_jobs.requeue_dead_letter(uuid) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION mcp_jobs.resolve_dead_letter(uuid, text) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION mcp_jobs.resolve_dead_letters(uuid[], text) SET plan_cache_mode = force_custom_plan;

-- ---------------------------------------------------------------------------------------------
-- Privileges: nothing is open to PUBLIC but the id helpers and the row checks. The extension owner (a superuser)
-- can do everything; other roles get what the operator grants (README: "Grants"), and Supabase's
-- service_role is granted the queue when it exists.
-- ---------------------------------------------------------------------------------------------
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA mcp_jobs FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mcp_jobs.uuidv7(), mcp_jobs.uuidv7_time(uuid) TO PUBLIC;
-- The row checks run as whoever writes a row (a CHECK constraint calls its function with the
-- writer's rights); they only validate their arguments.
GRANT EXECUTE ON FUNCTION
    mcp_jobs._jobs_row_check(text, text, text, jsonb, integer, integer, integer, text, timestamptz, uuid, timestamptz),
    mcp_jobs._job_runs_row_check(integer, text, timestamptz),
    mcp_jobs._job_events_row_check(text)
    TO PUBLIC;

ALTER TABLE mcp_jobs.jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_jobs.job_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_jobs.job_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_jobs.dead_letter_queue ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_jobs.metrics ENABLE ROW LEVEL SECURITY;

-- The grants below run last, when every function, table and view of the extension exists.
-- Nothing is executable by PUBLIC. Default privileges (Supabase grants every new function in
-- `public` to anon, authenticated and service_role) are undone too: only grant_access grants.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT p.oid::pg_catalog.regprocedure AS fn, a.grantee
        FROM pg_catalog.pg_depend d
        JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'mcp_jobs'
        JOIN pg_catalog.pg_proc p ON p.oid = d.objid
        CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
        WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
          AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
          AND d.deptype = 'e'
          AND a.grantee <> p.proowner
          AND p.proname NOT IN ('uuidv7', 'uuidv7_time',
                                '_jobs_row_check', '_job_runs_row_check', '_job_events_row_check')
    LOOP
        IF r.grantee = 0 THEN
            EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', r.fn);
        ELSE
            EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM %s', r.fn, r.grantee::pg_catalog.regrole);
        END IF;
    END LOOP;
    -- same for tables and sequences of the schema (e.g. default privileges in schema mcp_jobs)
    FOR r IN
        SELECT c.oid::pg_catalog.regclass AS rel, a.grantee
        FROM pg_catalog.pg_class c CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a
        WHERE c.relnamespace = 'mcp_jobs'::pg_catalog.regnamespace AND a.grantee <> c.relowner
    LOOP
        IF r.grantee = 0 THEN
            EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM PUBLIC', r.rel);
        ELSE
            EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM %s', r.rel, r.grantee::pg_catalog.regrole);
        END IF;
    END LOOP;
END;
$$;

-- Supabase: service_role (BYPASSRLS) gets the queue when it exists; anon and authenticated get
-- nothing. On other setups nothing is granted: run SELECT mcp_jobs.grant_access('role').
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
        PERFORM mcp_jobs.grant_access('service_role'::pg_catalog.regrole);
    END IF;
END;
$$;

-- Let a running PostgREST pick the functions up (delivered at commit).
NOTIFY pgrst, 'reload schema';
