/**
 * The rows and objects the mcp_jobs functions return through PostgREST, field for field (snake_case,
 * as the SQL columns and JSON keys are named). Timestamps are ISO 8601 strings as PostgREST sends
 * them; bigint counts arrive as JSON numbers. See docs/api.md for each function.
 */

/** An ISO 8601 timestamp with time zone, as PostgREST serialises timestamptz. */
export type Timestamp = string;

/** A UUID (jobs, runs and dead letters have UUIDv7 ids: id order is creation order). */
export type Uuid = string;

/** Any JSON value. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** A JSON object (a job's payload always is one). */
export type JsonObject = { [key: string]: Json };

export const JOB_STATUSES = ['queued', 'processing', 'completed', 'failed', 'cancelled'] as const;
/** The job state machine: queued -> processing -> completed | failed (dead letter) | cancelled. */
export type JobStatus = (typeof JOB_STATUSES)[number];

/** A row of list_jobs (and the job columns of get_job). */
export interface Job {
  id: Uuid;
  source: string;
  job_type: string;
  status: JobStatus;
  priority: number;
  attempts: number;
  max_attempts: number;
  payload: JsonObject;
  result: Json | null;
  last_error: string | null;
  worker_id: string | null;
  run_at: Timestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
}

export type RunOutcome = 'completed' | 'failed' | 'lease_expired';

/** One attempt of a job (a job_runs row); open while outcome and finished_at are null. */
export interface JobRun {
  id: Uuid;
  job_id: Uuid;
  attempt: number;
  worker_id: string | null;
  started_at: Timestamp;
  finished_at: Timestamp | null;
  outcome: RunOutcome | null;
  error: string | null;
  lease_seconds: number;
  duration_ms: number | null;
}

export const JOB_EVENT_TYPES = [
  'enqueued',
  'started',
  'progress',
  'completed',
  'failed',
  'retry_scheduled',
  'dead_lettered',
  'cancelled',
  'lease_expired',
  'requeued',
  'resolved',
] as const;
export type JobEventType = (typeof JOB_EVENT_TYPES)[number];

/** One entry of a job's event log (a job_events row). */
export interface JobEvent {
  id: number;
  job_id: Uuid;
  run_id: Uuid | null;
  event_type: JobEventType;
  data: JsonObject;
  created_at: Timestamp;
}

/** A dead letter (a dead_letter_queue row; list_dead_letters returns these columns). */
export interface DeadLetter {
  id: Uuid;
  job_id: Uuid;
  source: string;
  job_type: string;
  payload: JsonObject;
  attempts: number;
  last_error: string | null;
  details: Json | null;
  failed_at: Timestamp;
  resolved: boolean;
  resolved_at: Timestamp | null;
  resolution: 'requeued' | 'resolved' | null;
  resolution_note: string | null;
}

/** get_job: every column of the job's row, with its runs, events and dead letters in order. */
export interface JobDetail extends Job {
  lease_expires_at: Timestamp | null;
  current_run_id: Uuid | null;
  idempotency_key: string | null;
  runs: JobRun[];
  events: JobEvent[];
  dead_letters: DeadLetter[];
}

/** get_job_stats: counts by status (all five), the total and the unresolved dead letters. */
export interface JobStats {
  source: string | null;
  queued: number;
  processing: number;
  completed: number;
  failed: number;
  cancelled: number;
  total: number;
  dead_letter_unresolved: number;
  /** Rows of the queues table (flow control) that pause a queue or source, of this source or all. */
  queues_paused: number;
  /** Rows of the queues table that set a limit (concurrency, rate, max queued). */
  queues_limited: number;
}

/** queue_depth: queued and in-flight jobs per source and job type. */
export interface QueueDepth {
  source: string;
  job_type: string;
  queued: number;
  processing: number;
  due_now: number;
  oldest_queued_at: Timestamp | null;
  oldest_queued_age_seconds: number | null;
  /** Whether flow control pauses the queue (its own row or its source's). */
  paused: boolean;
  /** What holds the queue back now, or null. */
  held: QueueHold | null;
}

export type QueueHold = 'paused' | 'max_concurrency' | 'max_queued' | 'rate_limit';

/** set_queue / pause_queue / resume_queue: the queues row as JSON (null when no setting is left). */
export interface QueueSettings {
  source: string;
  job_type: string | null;
  paused: boolean | null;
  paused_at: Timestamp | null;
  max_concurrency: number | null;
  max_concurrency_per_key: number | null;
  rate_limit: number | null;
  /** An interval as PostgreSQL prints it (`00:01:00`). */
  rate_period: string | null;
  max_queued: number | null;
  updated_at: Timestamp;
}

/** get_queues: a queues row with live counts of its scope. */
export interface QueueRow {
  source: string;
  job_type: string | null;
  paused: boolean | null;
  max_concurrency: number | null;
  max_concurrency_per_key: number | null;
  rate_limit: number | null;
  rate_period: string | null;
  max_queued: number | null;
  paused_at: Timestamp | null;
  queued: number;
  processing: number;
  claims_in_window: number;
  window_start: Timestamp | null;
  updated_at: Timestamp;
}

/** schedule_job / unschedule_job: the schedule row as JSON. */
export interface Schedule {
  name: string;
  cron: string;
  timezone: string;
  source: string;
  job_type: string;
  payload: JsonObject;
  priority: number;
  next_run_at: Timestamp;
  last_run_at: Timestamp | null;
  last_job_id: Uuid | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** list_schedules: a schedule with the current status of the job it enqueued last. */
export interface ScheduleRow extends Schedule {
  last_job_status: JobStatus | null;
}

/** diagnostics: how this installation serves the queue. */
export interface Diagnostics {
  library_version: string;
  extension_version: string;
  preloaded: boolean;
  /** `latch` with the library preloaded; otherwise waiting claims poll. */
  wakeups: string;
  waiting_claims: number;
  waiters_woken: number;
  maintenance_worker: boolean;
  lease_sweep_interval_ms: number;
  [key: string]: Json;
}

export type AlertLevel = 'critical' | 'warning';
export type AlertMetric = 'queue_depth' | 'dead_letter_unresolved' | 'success_rate';

/** alerts: one row per source and metric past its warning or critical threshold. */
export interface Alert {
  level: AlertLevel;
  metric: AlertMetric;
  source: string;
  value: number;
  threshold: number;
  message: string;
}

/** get_metrics: one row per (UTC hour, source, job type) with activity. */
export interface MetricsRow {
  hour: Timestamp;
  source: string;
  job_type: string;
  enqueued: number;
  started: number;
  completed: number;
  failed: number;
  retried: number;
  dead_lettered: number;
  cancelled: number;
  lease_expired: number;
  success_rate: number | null;
  run_ms_avg: number | null;
  run_ms_p50: number | null;
  run_ms_p95: number | null;
  run_ms_max: number | null;
  wait_ms_p50: number | null;
  wait_ms_p95: number | null;
}

/** dead_letter_groups: dead letters grouped by source, job type and error (its first line). */
export interface DeadLetterGroup {
  source: string;
  job_type: string;
  error: string;
  dead_letters: number;
  first_failed_at: Timestamp;
  last_failed_at: Timestamp;
  /** The ids of up to 100 of the group's newest dead letters. */
  ids: Uuid[];
}

/** A job as claim_next_job / claim_jobs / complete_and_claim_next hand it to a worker. */
export interface ClaimedJob {
  id: Uuid;
  run_id: Uuid;
  attempt: number;
  max_attempts: number;
  source: string;
  job_type: string;
  payload: JsonObject;
  priority: number;
  run_at: Timestamp;
  created_at: Timestamp;
  lease_expires_at: Timestamp;
}

export interface CompleteResult {
  job_id: Uuid;
  run_id: Uuid;
  status: 'completed';
  attempt: number;
  duration_ms: number;
  finished_at: Timestamp;
}

export interface CompleteJobsRow {
  job_id: Uuid;
  run_id: Uuid;
  status: JobStatus | null;
  completed: boolean;
  reason: string | null;
}

export interface FailResult {
  job_id: Uuid;
  run_id: Uuid;
  status: 'queued' | 'failed';
  attempt: number;
  retry_at: Timestamp | null;
  max_attempts: number;
  dead_letter_id: Uuid | null;
}

export interface ProgressResult {
  job_id: Uuid;
  run_id: Uuid;
  status: 'processing';
  lease_expires_at: Timestamp;
}

export interface CancelResult {
  job_id: Uuid;
  status: 'cancelled';
  finished_at: Timestamp;
}

export interface ResolveResult {
  id: Uuid;
  job_id: Uuid;
  resolved: true;
  resolution: 'resolved';
  resolved_at: Timestamp;
  resolution_note: string | null;
}

export interface RequeuedDeadLetter {
  id: Uuid;
  job_id: Uuid;
}

// ------------------------------------------------------------------------------------------------
// Arguments
// ------------------------------------------------------------------------------------------------

export interface EnqueueOptions {
  /** 0-10, higher is claimed first (default 5). */
  priority?: number;
  /** Not claimed before this time (default now). */
  runAt?: Date | Timestamp;
  /** 1-1000 (default the mcp_jobs.default_max_attempts setting, 3). */
  maxAttempts?: number;
  /** A second enqueue with the same source and key returns the first job's id. */
  idempotencyKey?: string;
  /** A tenant or account: the queue's max_concurrency_per_key caps its jobs in flight. */
  concurrencyKey?: string;
}

/** One job of enqueueJobs (enqueue_jobs' item, camelCase). */
export interface EnqueueItem extends EnqueueOptions {
  source: string;
  jobType: string;
  payload?: JsonObject;
}

export interface ListJobsFilters {
  source?: string;
  jobType?: string;
  status?: JobStatus;
  /** 1-1000 (default 50). */
  limit?: number;
  /** Keyset paging: the last id of the previous page. */
  before?: Uuid;
}

/** A page of a keyset listing: `next` is the `before` of the following page, null on the last one. */
export interface Page<T> {
  items: T[];
  next: Uuid | null;
}

export interface MetricsFilters {
  /** Default: 24 hours before `to`. At most 31 days before `to`. */
  from?: Date | Timestamp;
  /** Default: now. */
  to?: Date | Timestamp;
  source?: string;
  jobType?: string;
}

export interface DeadLetterFilters {
  source?: string;
  jobType?: string;
  /** false (default): unresolved; true: resolved; null: both. */
  resolved?: boolean | null;
  /** 1-1000 (default 50). */
  limit?: number;
  before?: Uuid;
}

export interface ClaimOptions {
  workerId?: string;
  sources?: string[];
  jobTypes?: string[];
  /** 1-604800 (default 300). */
  leaseSeconds?: number;
}

export interface WaitingClaimOptions extends ClaimOptions {
  /** Wait in the server up to this many ms for a job when none is due (p_wait_ms; default 0). */
  waitMs?: number;
}

export interface ClaimJobsOptions extends WaitingClaimOptions {
  /** 1-1000 (default 10). */
  limit?: number;
}

export interface FailOptions {
  /** false: dead-letter now instead of retrying (default true). */
  retry?: boolean;
  /** Any JSON kept in the failed event and the dead letter. */
  details?: Json;
}

export interface SetQueueOptions {
  /** true pauses claims of the queue, false leaves it unpaused. */
  paused?: boolean;
  maxConcurrency?: number;
  maxConcurrencyPerKey?: number;
  /** Claims per rate period (set both). */
  rateLimit?: number;
  /** An interval (`'1 minute'`) or seconds. */
  ratePeriod?: string | number;
  maxQueued?: number;
  /** Settings to remove: paused, max_concurrency, max_concurrency_per_key, rate_limit, max_queued. */
  clear?: QueueSetting[];
}

export type QueueSetting = 'paused' | 'max_concurrency' | 'max_concurrency_per_key' | 'rate_limit' | 'max_queued';

export interface ScheduleOptions {
  payload?: JsonObject;
  /** 0-10 (default 5). */
  priority?: number;
  /** An IANA time zone (default UTC). */
  timezone?: string;
}

export interface CronNextOptions {
  timezone?: string;
  after?: Date | Timestamp;
  /** 1-1000 (default 1). */
  count?: number;
}
