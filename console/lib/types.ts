/**
 * Rows of the 0.7.0 functions the console reads through the client's generic `rpc` (the typed client
 * in clients/js may not know them yet): as PostgREST returns them (snake_case columns; bigint and
 * integer as numbers, interval as PostgreSQL prints it, timestamps as ISO strings).
 */
import type { JobStats, Json, QueueDepth } from 'mcp-jobs';

/** get_queues(): a row of mcp_jobs.queues with live counts of its scope. */
export interface QueueRow {
  source: string;
  /** null: the source's own row (its settings apply to its job types without their own) */
  job_type: string | null;
  paused: boolean | null;
  max_concurrency: number | null;
  max_concurrency_per_key: number | null;
  rate_limit: number | null;
  /** e.g. "00:01:00", "1 day" */
  rate_period: string | null;
  max_queued: number | null;
  paused_at: string | null;
  queued: number;
  processing: number;
  claims_in_window: number;
  window_start: string | null;
  updated_at: string;
}

/** list_schedules(): a schedule with its next run and the job it enqueued last. */
export interface ScheduleRow {
  name: string;
  cron: string;
  timezone: string;
  source: string;
  job_type: string;
  payload: Json;
  priority: number;
  next_run_at: string;
  last_run_at: string | null;
  last_job_id: string | null;
  last_job_status: string | null;
  created_at: string;
  updated_at: string;
}

/** get_job_stats() of 0.7.0: with the counts of flow-control rows that pause or limit queues. */
export type JobStats070 = JobStats & { queues_paused?: number; queues_limited?: number };

/** queue_depth() of 0.7.0: with whether the queue is paused and what holds it back. */
export type QueueDepth070 = QueueDepth & { paused?: boolean; held?: string | null };

/** The settings set_queue can clear, by the camelCase name of the route's fields. */
export const CLEARABLE = {
  paused: 'paused',
  maxConcurrency: 'max_concurrency',
  maxConcurrencyPerKey: 'max_concurrency_per_key',
  rateLimit: 'rate_limit',
  maxQueued: 'max_queued',
} as const;
export type Clearable = keyof typeof CLEARABLE;
