import { PostgrestClient } from '@supabase/postgrest-js';

import { McpJobsError, McpJobsNetworkError } from './errors.js';
import type {
  Alert,
  CancelResult,
  ClaimedJob,
  ClaimJobsOptions,
  ClaimOptions,
  CompleteJobsRow,
  CompleteResult,
  CronNextOptions,
  DeadLetter,
  Diagnostics,
  EnqueueItem,
  DeadLetterFilters,
  DeadLetterGroup,
  EnqueueOptions,
  FailOptions,
  FailResult,
  Job,
  JobDetail,
  JobStats,
  Json,
  ListJobsFilters,
  MetricsFilters,
  MetricsRow,
  Page,
  ProgressResult,
  QueueDepth,
  QueueRow,
  QueueSettings,
  RequeuedDeadLetter,
  ResolveResult,
  Schedule,
  ScheduleOptions,
  ScheduleRow,
  SetQueueOptions,
  Timestamp,
  Uuid,
  WaitingClaimOptions,
} from './types.js';

export const CLIENT_VERSION = '0.7.0';

/** The largest page list_jobs and list_dead_letters accept. */
export const MAX_PAGE = 1000;

export interface McpJobsClientOptions {
  /** The Supabase project URL (SUPABASE_URL), e.g. https://abc.supabase.co; PostgREST is at `restPath` below it. */
  url: string;
  /** A key whose role may run the queue: the service-role key (SUPABASE_SERVICE_ROLE_KEY). */
  key: string;
  /** Where PostgREST is served below `url` (default `/rest/v1`, as Supabase's gateway); `''` for a bare PostgREST. */
  restPath?: string;
  /** Per-request timeout in milliseconds (default 15000). */
  timeoutMs?: number;
  /** A fetch implementation (default the global fetch). */
  fetch?: typeof fetch;
  /** Extra headers sent with every request. */
  headers?: Record<string, string>;
}

export interface RpcOptions {
  /** Call with GET and query parameters (only for the STABLE read functions). */
  get?: boolean;
  /** This call's timeout in ms (default the client's timeoutMs). */
  timeoutMs?: number;
}

/** The longest p_wait_ms a claim accepts (60 s). */
export const MAX_WAIT_MS = 60000;

type Args = Record<string, unknown>;

function configError(message: string, hint: string): McpJobsError {
  return new McpJobsError({ kind: 'config', status: 0, code: 'CONFIG', message, hint });
}

function isoTime(t: Date | Timestamp | undefined): string | undefined {
  if (t === undefined) return undefined;
  return t instanceof Date ? t.toISOString() : t;
}

/** A short text of a non-PostgREST error body (an HTML page of a gateway): tags and spacing removed. */
function textSnippet(body: string): string {
  return body
    .replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);
}

function causeOf(e: unknown): { code: string | null; message: string } {
  let cur: unknown = e;
  let code: string | null = null;
  let message = e instanceof Error ? e.message : String(e);
  // undici puts the system error (ECONNREFUSED, ENOTFOUND, ...) in `cause`
  for (let i = 0; i < 4 && cur instanceof Error; i++) {
    const c = (cur as Error & { code?: unknown }).code;
    if (typeof c === 'string' && c !== '') {
      code = c;
      message = cur.message;
    }
    cur = (cur as Error & { cause?: unknown }).cause;
  }
  return { code, message };
}

interface PostgrestErrorBody {
  code?: unknown;
  message?: unknown;
  details?: unknown;
  hint?: unknown;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : v === null || v === undefined ? null : JSON.stringify(v);
}

/**
 * The typed client of the mcp_jobs queue through PostgREST (`POST /rest/v1/rpc/<name>`). Server side
 * only: it holds a key that can do anything to the queue. Every method returns the function's
 * result or throws an McpJobsError.
 */
export class McpJobsClient {
  readonly url: string;
  readonly restUrl: string;
  readonly timeoutMs: number;
  readonly #headers: Record<string, string>;
  readonly #fetch: typeof fetch;

  constructor(options: McpJobsClientOptions) {
    if (options === null || typeof options !== 'object') {
      throw configError('createClient needs {url, key}', 'Pass the Supabase URL and the service-role key.');
    }
    const { url, key } = options;
    if (typeof url !== 'string' || url.trim() === '') {
      throw configError('no Supabase URL: SUPABASE_URL is not set', 'Set SUPABASE_URL to the project URL, e.g. https://<project>.supabase.co.');
    }
    let parsed: URL;
    try {
      parsed = new URL(url.trim());
    } catch {
      throw configError(`SUPABASE_URL is not a URL: ${JSON.stringify(url)}`, 'Set SUPABASE_URL to the project URL, e.g. https://<project>.supabase.co.');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw configError(`SUPABASE_URL must be http(s), not ${parsed.protocol}`, 'Set SUPABASE_URL to the project URL, e.g. https://<project>.supabase.co.');
    }
    if (typeof key !== 'string' || key.trim() === '') {
      throw configError('no service key: SUPABASE_SERVICE_ROLE_KEY is not set', 'Set SUPABASE_SERVICE_ROLE_KEY to the project\'s service_role key (Project settings, API keys).');
    }
    const timeoutMs = options.timeoutMs ?? 15000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw configError(`timeoutMs must be a positive number, not ${String(timeoutMs)}`, 'Pass a timeout in milliseconds, e.g. 15000.');
    }
    this.url = parsed.toString().replace(/\/+$/, '');
    const restPath = options.restPath ?? '/rest/v1';
    this.restUrl = this.url + restPath.replace(/\/+$/, '');
    this.timeoutMs = timeoutMs;
    this.#fetch = options.fetch ?? fetch;
    this.#headers = {
      ...options.headers,
      apikey: key.trim(),
      Authorization: `Bearer ${key.trim()}`,
      'X-Client-Info': `mcp-jobs/${CLIENT_VERSION}`,
    };
  }

  /**
   * Calls a function through PostgREST's `rpc/` endpoint and returns its JSON result. The typed
   * methods below are built on it; use it for functions this version of the client does not know.
   * Arguments that are `undefined` are left out (the function's default applies); with `get`, so
   * are nulls.
   */
  async rpc<T>(fn: string, args: Args = {}, options: RpcOptions = {}): Promise<T> {
    const get = options.get === true;
    const clean: Args = {};
    for (const [k, v] of Object.entries(args)) {
      if (v === undefined || (get && v === null)) continue;
      clean[k] = v;
    }
    let networkError: unknown = undefined;
    let answered: Response | undefined;
    const baseFetch = this.#fetch;
    const trackingFetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
      try {
        answered = await baseFetch(input, init);
        return answered;
      } catch (e) {
        networkError = e;
        throw e;
      }
    };
    const client = new PostgrestClient(this.restUrl, { headers: this.#headers, fetch: trackingFetch });
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const signal = AbortSignal.timeout(timeoutMs);
    const res = await client.rpc(fn, clean, { get }).abortSignal(signal);
    if (res.error === null && res.status !== 0) {
      return res.data as T;
    }
    if (res.status === 0) {
      if (networkError !== undefined) {
        const timedOut = signal.aborted || (networkError instanceof Error && networkError.name === 'TimeoutError');
        if (timedOut) {
          throw new McpJobsNetworkError({
            code: 'TIMEOUT',
            message: `${fn}: no answer from ${this.restUrl} within ${timeoutMs} ms`,
            hint: 'Check that Supabase / PostgREST is up and reachable from this server.',
            fn,
            cause: networkError,
          });
        }
        const c = causeOf(networkError);
        throw new McpJobsNetworkError({
          code: c.code ?? 'NETWORK',
          message: `${fn}: cannot reach ${this.restUrl}: ${c.message}`,
          hint: 'Check SUPABASE_URL and that Supabase / PostgREST is up and reachable from this server.',
          fn,
          cause: networkError,
        });
      }
      const status = answered?.status ?? 0;
      throw new McpJobsError({
        kind: 'response',
        status,
        code: 'BAD_RESPONSE',
        message: `${fn}: the answer of ${this.restUrl}/rpc/${fn} (HTTP ${status}) is not PostgREST's JSON`,
        hint: 'Check that SUPABASE_URL is the project URL (PostgREST is served at /rest/v1 below it).',
        fn,
      });
    }
    const body = (res.error ?? {}) as PostgrestErrorBody;
    const code = str(body.code);
    const message = str(body.message) ?? '';
    if (code !== null && code !== '') {
      throw new McpJobsError({
        kind: 'postgrest',
        status: res.status,
        code,
        message,
        details: str(body.details),
        hint: str(body.hint),
        fn,
      });
    }
    // not PostgREST's error body: a gateway's page or a proxy's JSON
    const snippet = message.trimStart().startsWith('<') ? textSnippet(message) : message.slice(0, 300);
    throw new McpJobsError({
      kind: 'http',
      status: res.status,
      code: `HTTP_${res.status}`,
      message: `HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''} from ${this.restUrl}/rpc/${fn}`,
      details: snippet || null,
      hint:
        res.status === 401 || res.status === 403
          ? 'The gateway refused the key: check SUPABASE_SERVICE_ROLE_KEY.'
          : res.status >= 500
            ? 'Supabase / PostgREST behind the gateway is down or unreachable.'
            : null,
      fn,
    });
  }

  // ----------------------------------------------------------------------------------------------
  // produce and manage
  // ----------------------------------------------------------------------------------------------

  /** Adds a job to the queue and returns its id. */
  enqueueJob(source: string, jobType: string, payload?: Json, options: EnqueueOptions = {}): Promise<Uuid> {
    return this.rpc<Uuid>('enqueue_job', {
      p_source: source,
      p_job_type: jobType,
      p_payload: payload,
      p_priority: options.priority,
      p_run_at: isoTime(options.runAt),
      p_max_attempts: options.maxAttempts,
      p_idempotency_key: options.idempotencyKey,
      p_concurrency_key: options.concurrencyKey,
    });
  }

  /** Enqueues 1-1000 jobs, all or nothing; returns their ids in input order. */
  enqueueJobs(items: EnqueueItem[]): Promise<Uuid[]> {
    if (!Array.isArray(items)) {
      return Promise.reject(configError('enqueueJobs needs an array of jobs', 'Pass [{source, jobType, payload?}, ...].'));
    }
    const jobs = items.map((i) => {
      const o: Args = { source: i.source, job_type: i.jobType };
      if (i.payload !== undefined) o.payload = i.payload;
      if (i.priority !== undefined) o.priority = i.priority;
      if (i.runAt !== undefined) o.run_at = isoTime(i.runAt);
      if (i.maxAttempts !== undefined) o.max_attempts = i.maxAttempts;
      if (i.idempotencyKey !== undefined) o.idempotency_key = i.idempotencyKey;
      if (i.concurrencyKey !== undefined) o.concurrency_key = i.concurrencyKey;
      return o;
    });
    return this.rpc<Uuid[]>('enqueue_jobs', { p_jobs: jobs });
  }

  /** Cancels a queued job (also one waiting for a retry); 409 in any other state. */
  cancelJob(id: Uuid): Promise<CancelResult> {
    return this.rpc<CancelResult>('cancel_job', { p_job_id: id });
  }

  /** Runs a dead job again (fresh attempts); returns the job id. */
  requeueDeadLetter(id: Uuid): Promise<Uuid> {
    return this.rpc<Uuid>('requeue_dead_letter', { p_id: id });
  }

  /** Requeues many dead letters, all or nothing (1-1000 ids). */
  requeueDeadLetters(ids: Uuid[]): Promise<RequeuedDeadLetter[]> {
    return this.rpc<RequeuedDeadLetter[]>('requeue_dead_letters', { p_ids: ids });
  }

  /** Closes a dead letter without running the job again. */
  resolveDeadLetter(id: Uuid, note?: string): Promise<ResolveResult> {
    return this.rpc<ResolveResult>('resolve_dead_letter', { p_id: id, p_note: note });
  }

  /** Resolves many dead letters with one note, all or nothing; returns how many. */
  resolveDeadLetters(ids: Uuid[], note?: string): Promise<number> {
    return this.rpc<number>('resolve_dead_letters', { p_ids: ids, p_note: note });
  }

  // ----------------------------------------------------------------------------------------------
  // flow control and schedules
  // ----------------------------------------------------------------------------------------------

  /** Sets a queue's (or with jobType null a source's) flow control; null when no setting is left. */
  setQueue(source: string, jobType: string | null = null, options: SetQueueOptions = {}): Promise<QueueSettings | null> {
    const period = options.ratePeriod;
    return this.rpc<QueueSettings | null>('set_queue', {
      p_source: source,
      p_job_type: jobType ?? undefined,
      p_paused: options.paused,
      p_max_concurrency: options.maxConcurrency,
      p_rate_limit: options.rateLimit,
      p_rate_period: typeof period === 'number' ? `${period} seconds` : period,
      p_max_queued: options.maxQueued,
      p_max_concurrency_per_key: options.maxConcurrencyPerKey,
      p_clear: options.clear,
    });
  }

  /** Pauses a queue, or a whole source (jobType null): no claims until resumed. */
  pauseQueue(source: string, jobType: string | null = null): Promise<QueueSettings> {
    return this.rpc<QueueSettings>('pause_queue', { p_source: source, p_job_type: jobType ?? undefined });
  }

  /** Removes a pause set with pauseQueue; null when no setting is left. */
  resumeQueue(source: string, jobType: string | null = null): Promise<QueueSettings | null> {
    return this.rpc<QueueSettings | null>('resume_queue', { p_source: source, p_job_type: jobType ?? undefined });
  }

  /** Every queues row with live counts. */
  getQueues(): Promise<QueueRow[]> {
    return this.rpc<QueueRow[]>('get_queues', {}, { get: true });
  }

  /** Creates or replaces a recurring job. */
  scheduleJob(name: string, cron: string, source: string, jobType: string, options: ScheduleOptions = {}): Promise<Schedule> {
    return this.rpc<Schedule>('schedule_job', {
      p_name: name,
      p_cron: cron,
      p_source: source,
      p_job_type: jobType,
      p_payload: options.payload,
      p_priority: options.priority,
      p_timezone: options.timezone,
    });
  }

  /** Removes a schedule (404 when there is none of that name); returns the removed row. */
  unscheduleJob(name: string): Promise<Schedule> {
    return this.rpc<Schedule>('unschedule_job', { p_name: name });
  }

  /** Every schedule by name. */
  listSchedules(): Promise<ScheduleRow[]> {
    return this.rpc<ScheduleRow[]>('list_schedules', {}, { get: true });
  }

  /** The next occurrences of a cron expression. */
  cronNext(cron: string, options: CronNextOptions = {}): Promise<Timestamp[]> {
    return this.rpc<Timestamp[]>(
      'cron_next',
      { p_cron: cron, p_timezone: options.timezone, p_after: isoTime(options.after), p_count: options.count },
      { get: true },
    );
  }

  /** Versions, preload, wake-up mode and waiting claims of the installation. */
  diagnostics(): Promise<Diagnostics> {
    return this.rpc<Diagnostics>('diagnostics', {}, { get: true });
  }

  // ----------------------------------------------------------------------------------------------
  // read (STABLE functions, called with GET)
  // ----------------------------------------------------------------------------------------------

  /** Jobs newest first, filtered; page with `before` = the last id of the previous page. */
  listJobs(filters: ListJobsFilters = {}): Promise<Job[]> {
    return this.rpc<Job[]>(
      'list_jobs',
      { p_source: filters.source, p_job_type: filters.jobType, p_status: filters.status, p_limit: filters.limit, p_before: filters.before },
      { get: true },
    );
  }

  /** listJobs with the `before` of the next page (null when this one is the last). */
  async listJobsPage(filters: ListJobsFilters = {}): Promise<Page<Job>> {
    const { limit, probe } = pageLimit(filters.limit);
    const rows = await this.listJobs({ ...filters, limit: probe });
    return toPage(rows, limit);
  }

  /** One job with its runs, events and dead letters; 404 when there is no such job. */
  getJob(id: Uuid): Promise<JobDetail> {
    return this.rpc<JobDetail>('get_job', { p_job_id: id }, { get: true });
  }

  /** Counts by status for one source or all. */
  getJobStats(source?: string): Promise<JobStats> {
    return this.rpc<JobStats>('get_job_stats', { p_source: source }, { get: true });
  }

  /** Queued and in-flight jobs per source and job type. */
  queueDepth(): Promise<QueueDepth[]> {
    return this.rpc<QueueDepth[]>('queue_depth', {}, { get: true });
  }

  /** The sources and metrics past their warning or critical threshold, critical first. */
  alerts(): Promise<Alert[]> {
    return this.rpc<Alert[]>('alerts', {}, { get: true });
  }

  /** Hourly metrics of a range of at most 31 days (default the last 24 hours). */
  getMetrics(filters: MetricsFilters = {}): Promise<MetricsRow[]> {
    return this.rpc<MetricsRow[]>(
      'get_metrics',
      { p_from: isoTime(filters.from), p_to: isoTime(filters.to), p_source: filters.source, p_job_type: filters.jobType },
      { get: true },
    );
  }

  /** Dead letters newest first (default: the unresolved ones). */
  listDeadLetters(filters: DeadLetterFilters = {}): Promise<DeadLetter[]> {
    // resolved: null means both; GET drops nulls, so both goes by POST
    const both = filters.resolved === null;
    return this.rpc<DeadLetter[]>(
      'list_dead_letters',
      {
        p_source: filters.source,
        p_job_type: filters.jobType,
        p_resolved: filters.resolved,
        p_limit: filters.limit,
        p_before: filters.before,
      },
      { get: !both },
    );
  }

  /** listDeadLetters with the `before` of the next page. */
  async listDeadLettersPage(filters: DeadLetterFilters = {}): Promise<Page<DeadLetter>> {
    const { limit, probe } = pageLimit(filters.limit);
    const rows = await this.listDeadLetters({ ...filters, limit: probe });
    return toPage(rows, limit);
  }

  /** Dead letters grouped by source, job type and error, largest group first. */
  deadLetterGroups(resolved: boolean | null = false): Promise<DeadLetterGroup[]> {
    return this.rpc<DeadLetterGroup[]>('dead_letter_groups', { p_resolved: resolved }, { get: resolved !== null });
  }

  // ----------------------------------------------------------------------------------------------
  // work (what a worker calls)
  // ----------------------------------------------------------------------------------------------

  /**
   * Claims the next due job, or null when nothing is due (after waiting up to `waitMs` for one).
   * The HTTP timeout of a waiting claim is the client's timeout plus the wait.
   */
  async claimNextJob(options: WaitingClaimOptions = {}): Promise<ClaimedJob | null> {
    const rows = await this.rpc<ClaimedJob[]>('claim_next_job', { ...claimArgs(options), p_wait_ms: options.waitMs }, this.#waitTimeout(options.waitMs));
    return rows[0] ?? null;
  }

  /** Claims up to `limit` due jobs (default 10), waiting up to `waitMs` when none is due. */
  claimJobs(options: ClaimJobsOptions = {}): Promise<ClaimedJob[]> {
    return this.rpc<ClaimedJob[]>('claim_jobs', { ...claimArgs(options), p_limit: options.limit, p_wait_ms: options.waitMs }, this.#waitTimeout(options.waitMs));
  }

  #waitTimeout(waitMs: number | undefined): RpcOptions {
    return typeof waitMs === 'number' && Number.isFinite(waitMs) && waitMs > 0 ? { timeoutMs: this.timeoutMs + Math.min(waitMs, MAX_WAIT_MS) } : {};
  }

  /** Extends the lease of a running attempt and records progress. */
  reportProgress(jobId: Uuid, runId: Uuid, progress?: Json): Promise<ProgressResult> {
    return this.rpc<ProgressResult>('report_progress', { p_job_id: jobId, p_run_id: runId, p_progress: progress });
  }

  /** Completes a processing job (its current run only). */
  completeJob(jobId: Uuid, runId: Uuid, result?: Json): Promise<CompleteResult> {
    return this.rpc<CompleteResult>('complete_job', { p_job_id: jobId, p_run_id: runId, p_result: result });
  }

  /** Completes many jobs; check `completed` on every row. */
  completeJobs(jobIds: Uuid[], runIds: Uuid[], results?: Json[]): Promise<CompleteJobsRow[]> {
    return this.rpc<CompleteJobsRow[]>('complete_jobs', { p_job_ids: jobIds, p_run_ids: runIds, p_results: results });
  }

  /** Completes a job and claims the next in one call; null when nothing is due. */
  async completeAndClaimNext(jobId: Uuid, runId: Uuid, result?: Json, options: ClaimOptions = {}): Promise<ClaimedJob | null> {
    const rows = await this.rpc<ClaimedJob[]>('complete_and_claim_next', {
      p_job_id: jobId,
      p_run_id: runId,
      p_result: result,
      ...claimArgs(options),
    });
    return rows[0] ?? null;
  }

  /** Records a failed attempt: retried after a backoff, or dead-lettered. */
  failJob(jobId: Uuid, runId: Uuid, error: string, options: FailOptions = {}): Promise<FailResult> {
    return this.rpc<FailResult>('fail_job', { p_job_id: jobId, p_run_id: runId, p_error: error, p_retry: options.retry, p_details: options.details });
  }
}

function claimArgs(o: ClaimOptions): Args {
  return { p_worker_id: o.workerId, p_sources: o.sources, p_job_types: o.jobTypes, p_lease_seconds: o.leaseSeconds };
}

/** Asks for one row more than the page to know whether another page follows. */
function pageLimit(limit: number | undefined): { limit: number; probe: number | undefined } {
  const l = limit ?? 50;
  // out-of-range limits go to the function unchanged, so that it refuses them
  if (!Number.isInteger(l) || l < 1 || l >= MAX_PAGE) return { limit: l, probe: limit };
  return { limit: l, probe: l + 1 };
}

function toPage<T extends { id: Uuid }>(rows: T[], limit: number): Page<T> {
  if (rows.length > limit) {
    const items = rows.slice(0, limit);
    return { items, next: items[items.length - 1]?.id ?? null };
  }
  // a full page of the largest size: another may follow
  if (limit >= MAX_PAGE && rows.length === limit) return { items: rows, next: rows[rows.length - 1]?.id ?? null };
  return { items: rows, next: null };
}

/** A client for a Supabase project (or any PostgREST with the mcp_jobs wrappers). */
export function createClient(options: McpJobsClientOptions): McpJobsClient {
  return new McpJobsClient(options);
}
