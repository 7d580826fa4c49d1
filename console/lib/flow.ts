/**
 * Flow control and schedules (mcp_jobs 0.7.0) through the client's generic `rpc` on the `public`
 * wrappers: get_queues, set_queue, pause_queue, resume_queue, list_schedules, schedule_job,
 * unschedule_job, cron_next. Server side only (the service-role key).
 */
import 'server-only';

import type { Json } from 'mcp-jobs';

import { getDefaultClient } from './supabaseJobsClient';
import type { QueueRow, ScheduleRow } from './types';

export function getQueues(): Promise<QueueRow[]> {
  return getDefaultClient().rpc<QueueRow[]>('get_queues', {}, { get: true });
}

export interface QueueSettings {
  jobType?: string;
  paused?: boolean;
  maxConcurrency?: number;
  maxConcurrencyPerKey?: number;
  rateLimit?: number;
  ratePeriod?: string;
  maxQueued?: number;
  /** the extension's names: paused, max_concurrency, max_concurrency_per_key, rate_limit, max_queued */
  clear?: string[];
}

/** set_queue: the row as it is now, or null when no setting is left. */
export function setQueue(source: string, s: QueueSettings): Promise<QueueRow | null> {
  return getDefaultClient().rpc<QueueRow | null>('set_queue', {
    p_source: source,
    p_job_type: s.jobType,
    p_paused: s.paused,
    p_max_concurrency: s.maxConcurrency,
    p_max_concurrency_per_key: s.maxConcurrencyPerKey,
    p_rate_limit: s.rateLimit,
    p_rate_period: s.ratePeriod,
    p_max_queued: s.maxQueued,
    p_clear: s.clear,
  });
}

export function pauseQueue(source: string, jobType?: string): Promise<QueueRow> {
  return getDefaultClient().rpc<QueueRow>('pause_queue', { p_source: source, p_job_type: jobType });
}

export function resumeQueue(source: string, jobType?: string): Promise<QueueRow | null> {
  return getDefaultClient().rpc<QueueRow | null>('resume_queue', { p_source: source, p_job_type: jobType });
}

export function listSchedules(): Promise<ScheduleRow[]> {
  return getDefaultClient().rpc<ScheduleRow[]>('list_schedules', {}, { get: true });
}

export interface NewSchedule {
  name: string;
  cron: string;
  source: string;
  jobType: string;
  payload?: Json;
  priority?: number;
  timezone?: string;
}

export function scheduleJob(s: NewSchedule): Promise<ScheduleRow> {
  return getDefaultClient().rpc<ScheduleRow>('schedule_job', {
    p_name: s.name,
    p_cron: s.cron,
    p_source: s.source,
    p_job_type: s.jobType,
    p_payload: s.payload,
    p_priority: s.priority,
    p_timezone: s.timezone,
  });
}

export function unscheduleJob(name: string): Promise<ScheduleRow> {
  return getDefaultClient().rpc<ScheduleRow>('unschedule_job', { p_name: name });
}

export function cronNext(cron: string, timezone?: string, count?: number): Promise<string[]> {
  return getDefaultClient().rpc<string[]>('cron_next', { p_cron: cron, p_timezone: timezone, p_count: count }, { get: true });
}
