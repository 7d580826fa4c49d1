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

-- ---------------------------------------------------------------------------------------------
-- Comments: functions
-- ---------------------------------------------------------------------------------------------
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

-- ---------------------------------------------------------------------------------------------
-- Comments: monitoring, metrics and maintenance (docs/operations.md)
-- ---------------------------------------------------------------------------------------------
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

-- No function carries planner settings (SET clauses): the queue's hot path runs no SQL statement
-- (src/native), and the functions that do run statements apply their settings in their code, from
-- one place (src/spi_util.rs, docs/design.md#planner-settings).

-- ---------------------------------------------------------------------------------------------
-- Privileges: nothing is open to PUBLIC but the id helpers and the row checks. The extension owner (a superuser)
-- can do everything; other roles get what the operator grants (docs/postgrest.md#grants), and Supabase's
-- service_role is granted the queue when it exists.
-- ---------------------------------------------------------------------------------------------
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA mcp_jobs FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mcp_jobs.uuidv7(), mcp_jobs.uuidv7_time(uuid) TO PUBLIC;
-- The row checks run as whoever writes a row (a CHECK constraint calls its function with the
-- writer's rights); they only validate their arguments.
GRANT EXECUTE ON FUNCTION
    mcp_jobs._jobs_row_check(text, text, text, jsonb, integer, integer, integer, text, text, timestamptz, uuid, timestamptz),
    mcp_jobs._job_runs_row_check(integer, text, timestamptz),
    mcp_jobs._job_events_row_check(text)
    TO PUBLIC;

ALTER TABLE mcp_jobs.jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_jobs.job_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_jobs.job_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_jobs.dead_letter_queue ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_jobs.metrics ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_jobs.queues ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_jobs.schedules ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_jobs.maintenance_state ENABLE ROW LEVEL SECURITY;

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
