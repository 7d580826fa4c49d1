/**
 * A worker: claims jobs over PostgREST, runs their handlers (at most `concurrency` at once), keeps
 * their leases alive and reports each outcome once. The same behaviour as the Python client's Worker
 * (clients/python/src/mcp_jobs/worker.py), on Node's event loop instead of threads.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';

import { createClient, MAX_WAIT_MS, type McpJobsClient } from './client.js';
import { McpJobsError } from './errors.js';
import type { ClaimedJob, Json, JsonObject, Uuid } from './types.js';

/** What a handler gets besides the job. */
export interface JobContext {
  /** Aborted when this worker will not report the attempt's outcome: the lease was lost (a heartbeat
   * was refused; the job may already run elsewhere) or the shutdown grace ran out. */
  readonly signal: AbortSignal;
  /** Records progress (any JSON) and extends the lease. Resolves false when PostgREST could not be
   * reached (the heartbeats keep trying); throws McpJobsLeaseLostError when the lease is lost. */
  progress(data?: Json): Promise<boolean>;
  readonly workerId: string;
}

/** A handler: its return value (JSON, or undefined for null) is the job's result; a throw fails the attempt. */
// eslint-disable-next-line @typescript-eslint/no-invalid-void-type -- a handler may return nothing (the result is then null)
export type JobHandler = (job: ClaimedJob, ctx: JobContext) => Promise<Json | void> | Json | void;

/** `analyzeFailure`'s answer: shouldRetry false dead-letters the job at once; the reason is recorded. */
export interface FailureAnalysis {
  shouldRetry: boolean;
  reason?: string;
  details?: Json;
}

export type AnalyzeFailure = (job: ClaimedJob, error: unknown) => Promise<FailureAnalysis> | FailureAnalysis;

export interface WorkerOptions {
  /** The Supabase URL and a service_role key (as createClient); or pass `client`. */
  url?: string;
  key?: string;
  client?: McpJobsClient;
  /** `{jobType: handler}`. */
  handlers: Record<string, JobHandler>;
  /** Claim only jobs of these sources (default any). */
  sources?: string[];
  /** The job types to claim (default the keys of handlers); 'all' claims every type, and a job whose
   * type has no handler then fails without retry, saying so. */
  jobTypes?: string[] | 'all';
  /** Jobs in flight at most (default 1). */
  concurrency?: number;
  /** The lease of each claim, 1-604800 s (default 60); renewed when half of it has passed. */
  leaseSeconds?: number;
  /** Claim up to this many jobs per request (claim_jobs) and complete them in batches
   * (complete_jobs). Default: one job per request with complete_and_claim_next. */
  batchSize?: number;
  /** How long a claim waits in the server for a job when none is due (p_wait_ms, 0-60000; default
   * 5000, below Supabase's 8 s statement timeout). 0: no waiting claims; back off with jitter. */
  waitMs?: number;
  /** With waitMs 0: [first, longest] ms between claims while nothing is due (default [100, 5000]). */
  idleDelayMs?: [number, number];
  /** [first, longest] ms before retrying a call that failed with a network error or a 5xx (default [250, 10000]). */
  errorDelayMs?: [number, number];
  /** With batchSize: how long a finished job may wait to be completed with others (default 20 ms). */
  batchFlushMs?: number;
  /** How long stop() (and SIGTERM/SIGINT) lets the jobs in flight finish (default 30000 ms); jobs still
   * running then are left to their lease and claimed again after it. */
  shutdownGraceMs?: number;
  analyzeFailure?: AnalyzeFailure;
  /** Aborting it stops the worker (as stop()). */
  signal?: AbortSignal;
  /** Stop on SIGTERM / SIGINT while running (default true); a second signal stops at once. */
  handleSignals?: boolean;
  /** Recorded on the job, its runs and events (default `js:<host>:<pid>:<random>`). */
  workerId?: string;
}

export type WorkerEventType =
  | 'worker:started'
  | 'worker:stopping'
  | 'worker:stopped'
  | 'job:claimed'
  | 'job:completed'
  | 'job:failed'
  | 'job:lost'
  | 'job:abandoned'
  | 'job:heartbeat'
  | 'idle'
  | 'claim_wait'
  | 'error';

/** Every event's one argument. */
export interface WorkerEvent {
  type: WorkerEventType;
  workerId: string;
  job?: ClaimedJob;
  error?: unknown;
  data: Record<string, unknown>;
  time: number;
}

export interface RunStats {
  claimed: number;
  completed: number;
  failed: number;
  lost: number;
  abandoned: number;
}

/** The lease of a job in flight is gone: its outcome will not be reported by this worker. */
export class McpJobsLeaseLostError extends McpJobsError {
  override readonly name: string = 'McpJobsLeaseLostError';
  constructor(message: string, cause?: McpJobsError) {
    super({
      kind: 'postgrest',
      status: cause?.status ?? 409,
      code: cause?.code ?? 'PT409',
      message,
      details: cause?.details ?? null,
      hint: cause?.hint ?? null,
      fn: 'report_progress',
      cause,
    });
  }
}

const MAX_STACK_FRAMES = 20;
const MAX_STACK_CHARS = 8000;
const MIN_CLAIM_WAIT_MS = 250;
const STATEMENT_TIMEOUT = '57014';
const UNKNOWN_ARGUMENT = 'PGRST202';

type FlightState = 'running' | 'reporting' | 'done' | 'lost' | 'abandoned';

interface Flight {
  job: ClaimedJob;
  state: FlightState;
  handlerDone: boolean;
  abort: AbortController;
  timer: ReturnType<typeof setTimeout> | null;
  pendingSince: number;
}

interface Outcome {
  ok: boolean;
  result?: Json;
  error?: string;
  retry?: boolean;
  details?: JsonObject;
  reason?: string;
}

type Attempt<T> =
  | { status: 'ok'; value: T; ambiguous: boolean }
  | { status: 'refused' | 'error' | 'gave_up'; error: McpJobsError | undefined; ambiguous: boolean };

/** Network failures, gateway errors, 5xx and 429: worth trying again. */
export function isTransientError(e: unknown): boolean {
  if (!(e instanceof McpJobsError)) return false;
  return e.kind === 'network' || e.kind === 'response' || e.status >= 500 || e.status === 429 || (e.kind === 'http' && e.status === 404);
}

function isRefusal(e: unknown): e is McpJobsError {
  return e instanceof McpJobsError && e.kind === 'postgrest' && (e.code === 'PT404' || e.code === 'PT409');
}

function jittered([base, cap]: [number, number], streak: number): number {
  const d = Math.min(cap, base * 2 ** Math.min(streak, 30));
  return d * (0.5 + 0.5 * Math.random());
}

function checkPair(name: string, v: [number, number]): void {
  if (!Array.isArray(v) || v.length !== 2 || !(v[0] > 0) || !(v[1] >= v[0])) {
    throw new TypeError(`${name} must be [first, longest] ms with 0 < first <= longest`);
  }
}

function intIn(name: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new TypeError(`${name} must be an integer from ${lo} to ${hi}, not ${String(v)}`);
  return v;
}

/** The handler's stack without the worker's own frames, its first frames only, capped. */
function trimmedStack(e: unknown): string | null {
  if (!(e instanceof Error) || typeof e.stack !== 'string') return null;
  const lines = e.stack.split('\n');
  const head: string[] = [];
  const frames: string[] = [];
  for (const l of lines) {
    if (/^\s+at /.test(l)) {
      if (/[/\\]mcp-jobs[/\\]|[/\\]clients[/\\]js[/\\](dist|src)[/\\]worker\./.test(l) || l.includes('node:internal')) continue;
      frames.push(l);
    } else if (frames.length === 0) head.push(l);
  }
  let text = [...head, ...frames.slice(0, MAX_STACK_FRAMES)].join('\n');
  if (text.length > MAX_STACK_CHARS) text = text.slice(0, MAX_STACK_CHARS) + '\n… [trimmed]';
  return text;
}

function errorText(e: unknown): string {
  if (e instanceof Error) {
    const msg = e.message.trim();
    return msg ? `${e.name}: ${msg}` : e.name;
  }
  const s = typeof e === 'string' ? e : (() => { try { return JSON.stringify(e); } catch { return String(e); } })();
  return `thrown: ${s ?? String(e)}`;
}

/**
 * Runs handlers for the jobs of an mcp_jobs queue over PostgREST. Quiet: it logs nothing; listen to
 * its events (`job:completed`, `job:failed`, `error`, ...) for logs and metrics. An `error` event is
 * emitted only when someone listens to it.
 */
export class Worker extends EventEmitter {
  readonly client: McpJobsClient;
  readonly workerId: string;
  readonly concurrency: number;
  readonly leaseSeconds: number;
  readonly batchSize: number | null;
  readonly sources: string[] | null;
  readonly jobTypes: string[] | null;
  readonly shutdownGraceMs: number;
  readonly #handlers: Map<string, JobHandler>;
  readonly #analyze: AnalyzeFailure | undefined;
  readonly #idleDelay: [number, number];
  readonly #errorDelay: [number, number];
  readonly #batchFlushMs: number;
  readonly #handleSignals: boolean;
  readonly #signal: AbortSignal | undefined;
  #claimWaitMs: number;

  #flights = new Map<Uuid, Flight>();
  #pending: Array<{ flight: Flight; result: Json }> = [];
  #flushTimer: ReturnType<typeof setTimeout> | null = null;
  #flushing = 0;
  #running = false;
  #untilIdle = false;
  #stopping = false;
  #stopDeadline = 0;
  #graceTimer: ReturnType<typeof setTimeout> | null = null;
  #hardStop = new AbortController();
  #claiming = false;
  #claimLoopDone = true;
  #emptyClaimSentAt: number | null = null;
  #lastFinish = 0;
  #stats: RunStats = { claimed: 0, completed: 0, failed: 0, lost: 0, abandoned: 0 };
  #fatal: McpJobsError | null = null;
  #waiters: Array<() => void> = [];
  #tasks = new Set<Promise<void>>();
  #done: Promise<RunStats> | null = null;
  #resolveDone: ((s: RunStats) => void) | null = null;
  #rejectDone: ((e: unknown) => void) | null = null;

  constructor(options: WorkerOptions) {
    super();
    if (options === null || typeof options !== 'object') throw new TypeError('createWorker needs options');
    const { handlers } = options;
    if (handlers === null || typeof handlers !== 'object' || Object.keys(handlers).length === 0) {
      throw new TypeError('handlers must map at least one job type to a function');
    }
    for (const [t, fn] of Object.entries(handlers)) {
      if (t === '' || typeof fn !== 'function') throw new TypeError(`the handler of ${JSON.stringify(t)} is not a function`);
    }
    this.#handlers = new Map(Object.entries(handlers));
    this.client = options.client ?? createClient({ url: options.url ?? '', key: options.key ?? '' });
    this.concurrency = intIn('concurrency', options.concurrency ?? 1, 1, 10000);
    this.leaseSeconds = intIn('leaseSeconds', options.leaseSeconds ?? 60, 1, 604800);
    this.batchSize = options.batchSize === undefined ? null : intIn('batchSize', options.batchSize, 1, 1000);
    this.#claimWaitMs = intIn('waitMs', options.waitMs ?? 5000, 0, MAX_WAIT_MS);
    this.shutdownGraceMs = options.shutdownGraceMs ?? 30000;
    if (!(this.shutdownGraceMs >= 0)) throw new TypeError('shutdownGraceMs must not be negative');
    this.#idleDelay = options.idleDelayMs ?? [100, 5000];
    this.#errorDelay = options.errorDelayMs ?? [250, 10000];
    checkPair('idleDelayMs', this.#idleDelay);
    checkPair('errorDelayMs', this.#errorDelay);
    this.#batchFlushMs = options.batchFlushMs ?? 20;
    this.sources = options.sources ? [...options.sources].sort() : null;
    if (options.jobTypes === 'all') this.jobTypes = null;
    else if (options.jobTypes === undefined) this.jobTypes = [...this.#handlers.keys()].sort();
    else if (Array.isArray(options.jobTypes)) this.jobTypes = [...options.jobTypes].sort();
    else throw new TypeError("jobTypes must be an array of names, or 'all'");
    this.#analyze = options.analyzeFailure;
    this.#handleSignals = options.handleSignals ?? true;
    this.#signal = options.signal;
    this.workerId = options.workerId ?? `js:${hostname().slice(0, 120) || 'host'}:${process.pid}:${randomUUID().slice(0, 6)}`;
  }

  /** Jobs claimed and not yet finished with. */
  get inFlight(): number {
    return this.#flights.size;
  }

  /** Claims and runs jobs until stop(), the signal, SIGTERM or SIGINT; resolves with what it did.
   * Rejects when a claim is refused for good (a wrong key: 401). */
  start(): Promise<RunStats> {
    return this.#run(false);
  }

  /** Claims and runs jobs until nothing is due and nothing is in flight (for cron-style runs). */
  runUntilIdle(): Promise<RunStats> {
    return this.#run(true);
  }

  /** Stops claiming; the run ends when the jobs in flight have finished, or after graceMs (default
   * shutdownGraceMs), leaving those still running to their lease. Calling it again can shorten the
   * grace. Resolves when the run has ended. */
  stop(graceMs?: number): Promise<RunStats> {
    if (!this.#running || this.#done === null) return Promise.resolve({ ...this.#stats });
    const deadline = Date.now() + Math.max(0, graceMs ?? this.shutdownGraceMs);
    const first = !this.#stopping;
    if (first || deadline < this.#stopDeadline) {
      this.#stopDeadline = deadline;
      if (this.#graceTimer) clearTimeout(this.#graceTimer);
      this.#graceTimer = setTimeout(() => this.#abandonAll(), Math.max(0, deadline - Date.now()));
    }
    this.#stopping = true;
    if (first) {
      this.#emit('worker:stopping', undefined, undefined, { inFlight: this.#flights.size, claiming: this.#claiming });
      if (this.#pending.length) this.#flush();
    }
    this.#notify();
    return this.#done.catch(() => ({ ...this.#stats }));
  }

  // -- the run ----------------------------------------------------------------------------------

  #run(untilIdle: boolean): Promise<RunStats> {
    if (this.#running) return Promise.reject(new Error('this worker is already running'));
    this.#running = true;
    this.#untilIdle = untilIdle;
    this.#stopping = false;
    this.#hardStop = new AbortController();
    this.#stats = { claimed: 0, completed: 0, failed: 0, lost: 0, abandoned: 0 };
    this.#fatal = null;
    this.#emptyClaimSentAt = null;
    this.#lastFinish = Date.now();
    this.#done = new Promise<RunStats>((resolve, reject) => {
      this.#resolveDone = resolve;
      this.#rejectDone = reject;
    });
    const cleanup: Array<() => void> = [];
    if (this.#handleSignals) {
      const onSignal = (): void => void this.stop(this.#stopping ? 0 : undefined);
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      cleanup.push(() => {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
      });
    }
    if (this.#signal) {
      const onAbort = (): void => void this.stop();
      if (this.#signal.aborted) queueMicrotask(onAbort);
      else this.#signal.addEventListener('abort', onAbort, { once: true });
      const s = this.#signal;
      cleanup.push(() => s.removeEventListener('abort', onAbort));
    }
    this.#cleanup = cleanup;
    this.#emit('worker:started', undefined, undefined, {
      concurrency: this.concurrency,
      batchSize: this.batchSize,
      leaseSeconds: this.leaseSeconds,
      waitMs: this.#claimWaitMs,
      jobTypes: this.jobTypes,
      sources: this.sources,
      untilIdle,
    });
    this.#claimLoopDone = false;
    void this.#claimLoop().finally(() => {
      this.#claimLoopDone = true;
      this.#notify();
    });
    return this.#done;
  }

  #cleanup: Array<() => void> = [];

  /** Ends the run when nothing is left to do. */
  #checkDone(): void {
    if (!this.#running) return;
    // once the grace has run out the run ends at once (a claim still in flight leaves what it gets to its lease)
    const hard = this.#hardStop.signal.aborted;
    if (!hard && (!this.#claimLoopDone || this.#claiming || this.#flights.size > 0 || this.#pending.length > 0 || this.#flushing > 0)) return;
    this.#running = false;
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#graceTimer = null;
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    for (const f of this.#flights.values()) if (f.timer) clearTimeout(f.timer);
    this.#hardStop.abort();
    for (const c of this.#cleanup) c();
    this.#cleanup = [];
    const stats = { ...this.#stats };
    this.#emit('worker:stopped', undefined, undefined, { ...stats });
    if (this.#fatal) this.#rejectDone?.(this.#fatal);
    else this.#resolveDone?.(stats);
  }

  #notify(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
    this.#checkDone();
  }

  #waitChange(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      let t: ReturnType<typeof setTimeout> | undefined;
      const done = (): void => {
        if (t) clearTimeout(t);
        resolve();
      };
      this.#waiters.push(done);
      if (ms !== undefined) t = setTimeout(done, Math.max(1, ms));
    });
  }

  #sleep(ms: number): Promise<boolean> {
    const hard = this.#hardStop.signal;
    return new Promise((resolve) => {
      if (hard.aborted) return resolve(false);
      const onAbort = (): void => {
        clearTimeout(t);
        resolve(false);
      };
      const t = setTimeout(() => {
        hard.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      hard.addEventListener('abort', onAbort, { once: true });
    });
  }

  // -- claiming ---------------------------------------------------------------------------------

  #claim(limit: number, waitMs: number): Promise<ClaimedJob[]> {
    const o = { workerId: this.workerId, sources: this.sources ?? undefined, jobTypes: this.jobTypes ?? undefined, leaseSeconds: this.leaseSeconds, waitMs };
    if (this.batchSize === null) return this.client.claimNextJob(o).then((j) => (j ? [j] : []));
    return this.client.claimJobs({ ...o, limit });
  }

  async #claimLoop(): Promise<void> {
    let idleStreak = 0;
    let errorStreak = 0;
    let nextClaim = 0;
    for (;;) {
      if (this.#stopping || this.#hardStop.signal.aborted) return;
      const now = Date.now();
      const free = this.concurrency - this.#flights.size;
      let mayClaim = free > 0;
      if (this.#untilIdle && this.#emptyClaimSentAt !== null) {
        // nothing was due: claim again only once the jobs in flight are done, and only if one of
        // them finished after that claim (a retry may be due)
        mayClaim = mayClaim && this.#flights.size === 0 && this.#emptyClaimSentAt < this.#lastFinish;
      }
      if (!mayClaim || now < nextClaim) {
        if (this.#untilIdle && !mayClaim && this.#flights.size === 0 && this.#pending.length === 0 && this.#flushing === 0) return;
        await this.#waitChange(mayClaim ? nextClaim - now : undefined);
        continue;
      }
      const limit = Math.min(this.batchSize ?? 1, free);
      const waitMs = this.#untilIdle ? 0 : this.#claimWaitMs;
      const sentAt = Date.now();
      this.#claiming = true;
      let claimed: ClaimedJob[];
      try {
        claimed = await this.#claim(limit, waitMs);
      } catch (e) {
        this.#claiming = false;
        if (e instanceof McpJobsError && waitMs > 0 && e.code === STATEMENT_TIMEOUT) {
          // the database's statement_timeout is shorter than the wait: wait less from now on
          const shorter = Math.max(MIN_CLAIM_WAIT_MS, Math.floor(Math.min(waitMs / 2, (Date.now() - sentAt) * 0.75)));
          if (shorter < waitMs) {
            this.#claimWaitMs = shorter;
            this.#emit('claim_wait', undefined, e, { waitMs: shorter, wasMs: waitMs });
            continue;
          }
        }
        if (e instanceof McpJobsError && waitMs > 0 && e.code === UNKNOWN_ARGUMENT) {
          // an extension older than 0.7.0 has no p_wait_ms: claim without waiting
          this.#claimWaitMs = 0;
          this.#emit('claim_wait', undefined, e, { waitMs: 0, wasMs: waitMs });
          continue;
        }
        if (isTransientError(e)) {
          const delay = jittered(this.#errorDelay, errorStreak++);
          this.#emit('error', undefined, e, { operation: 'claim', retryIn: delay });
          nextClaim = Date.now() + delay;
          this.#notify();
          continue;
        }
        this.#emit('error', undefined, e, { operation: 'claim', retryIn: null });
        this.#fatal = e instanceof McpJobsError ? e : new McpJobsError({ kind: 'response', status: 0, code: 'CLAIM', message: String(e), cause: e });
        void this.stop();
        return;
      }
      this.#claiming = false;
      errorStreak = 0;
      if (this.#hardStop.signal.aborted) {
        // the run is over: left to their lease
        for (const c of claimed) this.#emit('job:abandoned', c, undefined, { reason: 'claimed after the worker stopped' });
        this.#stats.abandoned += claimed.length;
        this.#notify();
        return;
      }
      if (this.#untilIdle) this.#emptyClaimSentAt = claimed.length ? null : sentAt;
      for (const c of claimed) this.#admit(c, sentAt);
      this.#notify();
      if (claimed.length) {
        idleStreak = 0;
        continue;
      }
      const answeredEarly = waitMs > 0 && Date.now() - sentAt < waitMs / 2;
      if ((waitMs === 0 || answeredEarly) && !this.#untilIdle) {
        // no waiting claims, or the server did not wait: do not ask again at once
        const delay = jittered(this.#idleDelay, idleStreak);
        nextClaim = Date.now() + delay;
        if (idleStreak === 0) this.#emit('idle', undefined, undefined, { nextClaimIn: delay });
      } else if (idleStreak === 0) {
        this.#emit('idle', undefined, undefined, { waitMs });
      }
      idleStreak++;
    }
  }

  /** Registers a claimed job as in flight and starts its handler. */
  #admit(job: ClaimedJob, sentAt: number): void {
    const flight: Flight = { job, state: 'running', handlerDone: false, abort: new AbortController(), timer: null, pendingSince: 0 };
    this.#flights.set(job.run_id, flight);
    this.#stats.claimed++;
    // the lease is counted from when the claim was sent: on the safe side of the server's clock
    this.#scheduleHeartbeat(flight, sentAt + (this.leaseSeconds * 1000) / 2 - Date.now());
    this.#emit('job:claimed', job, undefined, { attempt: job.attempt });
    const task = this.#execute(flight).catch((e: unknown) => {
      // a bug of the worker itself: never leave the run hanging
      this.#emit('error', flight.job, e, { operation: 'execute', retryIn: null });
      this.#giveUp(flight, undefined);
    });
    this.#tasks.add(task);
    void task.finally(() => this.#tasks.delete(task));
  }

  // -- running handlers -------------------------------------------------------------------------

  async #execute(first: Flight): Promise<void> {
    let flight: Flight | null = first;
    while (flight !== null) {
      if (this.#hardStop.signal.aborted) {
        this.#giveUp(flight, undefined);
        return;
      }
      flight = await this.#runOne(flight);
    }
  }

  async #runOne(flight: Flight): Promise<Flight | null> {
    const outcome = await this.#callHandler(flight);
    flight.handlerDone = true;
    if (flight.state !== 'running') {
      // lost or abandoned while the handler ran: the outcome is not reported
      this.#finish(flight);
      return null;
    }
    flight.state = 'reporting';
    if (!outcome.ok) {
      await this.#reportFailure(flight, outcome);
      return null;
    }
    const result = outcome.result ?? null;
    if (this.batchSize !== null) {
      flight.pendingSince = Date.now();
      this.#pending.push({ flight, result });
      this.#maybeFlush();
      return null;
    }
    return this.#reportSuccess(flight, result, true);
  }

  async #callHandler(flight: Flight): Promise<Outcome> {
    const job = flight.job;
    const handler = this.#handlers.get(job.job_type);
    if (handler === undefined) {
      const handled = [...this.#handlers.keys()].sort();
      return {
        ok: false,
        error: `no handler for job type ${JSON.stringify(job.job_type)} in this worker (it handles: ${handled.join(', ')})`,
        retry: false,
        details: { reason: 'no_handler', worker_id: this.workerId, handlers: handled },
        reason: 'no_handler',
      };
    }
    const ctx: JobContext = {
      signal: flight.abort.signal,
      workerId: this.workerId,
      progress: (data?: Json) => this.#progressFromHandler(flight, data),
    };
    // eslint-disable-next-line @typescript-eslint/no-invalid-void-type -- what a handler returns
    let result: Json | void;
    try {
      result = await handler(job, ctx);
    } catch (e) {
      return this.#failureOutcome(job, e);
    }
    try {
      JSON.stringify(result ?? null);
    } catch (e) {
      // the same input would give the same result: no retry
      return { ok: false, error: `the result is not JSON: ${errorText(e)}`, retry: false, details: { reason: 'result_not_json', worker_id: this.workerId } };
    }
    return { ok: true, result: result === undefined ? null : result };
  }

  async #failureOutcome(job: ClaimedJob, e: unknown): Promise<Outcome> {
    const details: JsonObject = { error_type: e instanceof Error ? e.name : typeof e, worker_id: this.workerId };
    const stack = trimmedStack(e);
    if (stack !== null) details.stack = stack;
    let retry = true;
    let reason: string | undefined;
    if (this.#analyze !== undefined) {
      try {
        const a = await this.#analyze(job, e);
        if (a === null || typeof a !== 'object' || typeof a.shouldRetry !== 'boolean') {
          throw new TypeError(`analyzeFailure must return {shouldRetry: boolean, reason?}, got ${JSON.stringify(a)}`);
        }
        retry = a.shouldRetry;
        reason = a.reason === undefined ? '' : String(a.reason);
        const analysis: JsonObject = { should_retry: a.shouldRetry, reason };
        if (a.details !== undefined) analysis.details = a.details;
        details.analysis = analysis;
      } catch (ae) {
        // a broken analyser must not lose the failure: retried as usual
        details.analysis_error = errorText(ae);
        this.#emit('error', job, ae, { operation: 'analyzeFailure', retryIn: null });
      }
    }
    return { ok: false, error: errorText(e), retry, details, reason };
  }

  // -- reporting outcomes -----------------------------------------------------------------------

  async #reportSuccess(flight: Flight, result: Json, mayChain: boolean): Promise<Flight | null> {
    const job = flight.job;
    const chain = mayChain && !this.#stopping;
    const sentAt = Date.now();
    const call = async (): Promise<ClaimedJob | null> => {
      if (chain && !this.#stopping) {
        return this.client.completeAndClaimNext(job.id, job.run_id, result, {
          workerId: this.workerId,
          sources: this.sources ?? undefined,
          jobTypes: this.jobTypes ?? undefined,
          leaseSeconds: this.leaseSeconds,
        });
      }
      await this.client.completeJob(job.id, job.run_id, result);
      return null;
    };
    const r = await this.#withRetries([flight], 'complete_job', call);
    if (r.status === 'ok') {
      // the next job takes this one's slot at once: never more than `concurrency` in flight
      this.#done1(flight, 'job:completed', {});
      if (r.value === null) return null;
      if (this.#hardStop.signal.aborted) {
        this.#stats.abandoned++;
        this.#emit('job:abandoned', r.value, undefined, { reason: 'claimed after the worker stopped' });
        return null;
      }
      return this.#admitChained(r.value, sentAt);
    }
    if (r.status === 'refused') {
      if (r.ambiguous && (await this.#confirm(flight, 'completed'))) this.#done1(flight, 'job:completed', { confirmed: true });
      else this.#lose(flight, r.error, true);
      return null;
    }
    if (r.status === 'error' && r.error && (r.error.status === 400 || r.error.status === 413)) {
      // the result itself was refused: fail the attempt, a retry would produce it again
      await this.#reportFailure(flight, {
        ok: false,
        error: `the result was refused: ${r.error.message}`,
        retry: false,
        details: { reason: 'result_refused', code: r.error.code, worker_id: this.workerId },
      });
      return null;
    }
    this.#giveUp(flight, r.error);
    return null;
  }

  /** A job complete_and_claim_next claimed: in flight in place of the one completed; run by the same task. */
  #admitChained(job: ClaimedJob, sentAt: number): Flight {
    const flight: Flight = { job, state: 'running', handlerDone: false, abort: new AbortController(), timer: null, pendingSince: 0 };
    this.#flights.set(job.run_id, flight);
    this.#stats.claimed++;
    if (this.#untilIdle) this.#emptyClaimSentAt = null;
    this.#scheduleHeartbeat(flight, sentAt + (this.leaseSeconds * 1000) / 2 - Date.now());
    this.#emit('job:claimed', job, undefined, { attempt: job.attempt });
    return flight;
  }

  async #reportFailure(flight: Flight, outcome: Outcome): Promise<void> {
    const job = flight.job;
    let details: JsonObject | undefined = outcome.details;
    const error = outcome.error ?? 'failed';
    const retry = outcome.retry ?? true;
    const call = (): ReturnType<McpJobsClient['failJob']> => this.client.failJob(job.id, job.run_id, error, { retry, details });
    let r = await this.#withRetries([flight], 'fail_job', call);
    if (r.status === 'error' && r.error && (r.error.status === 400 || r.error.status === 413) && details) {
      details = { worker_id: this.workerId, details_refused: r.error.message };
      const again = await this.#withRetries([flight], 'fail_job', call);
      r = { ...again, ambiguous: again.ambiguous || r.ambiguous };
    }
    const data = { retry, error: error, reason: outcome.reason ?? null };
    if (r.status === 'ok') {
      this.#done1(flight, 'job:failed', { ...data, status: r.value.status, deadLetterId: r.value.dead_letter_id });
    } else if (r.status === 'refused') {
      if (r.ambiguous && (await this.#confirm(flight, 'failed'))) this.#done1(flight, 'job:failed', { ...data, confirmed: true });
      else this.#lose(flight, r.error, true);
    } else {
      this.#giveUp(flight, r.error);
    }
  }

  #maybeFlush(): void {
    if (this.#pending.length === 0) return;
    let running = 0;
    for (const f of this.#flights.values()) if (f.state === 'running') running++;
    const oldest = Math.min(...this.#pending.map((p) => p.flight.pendingSince));
    if (this.#stopping || running === 0 || this.#pending.length >= (this.batchSize ?? 1) || Date.now() >= oldest + this.#batchFlushMs) {
      this.#flush();
    } else if (this.#flushTimer === null) {
      this.#flushTimer = setTimeout(() => {
        this.#flushTimer = null;
        this.#maybeFlush();
      }, Math.max(1, oldest + this.#batchFlushMs - Date.now()));
    }
  }

  #flush(): void {
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    this.#flushing++;
    const task = this.#completeBatch(batch).finally(() => {
      this.#flushing--;
      this.#notify();
    });
    this.#tasks.add(task);
    void task.finally(() => this.#tasks.delete(task));
  }

  async #completeBatch(batch: Array<{ flight: Flight; result: Json }>): Promise<void> {
    const flights = batch.map((b) => b.flight);
    const r = await this.#withRetries(flights, 'complete_jobs', () =>
      this.client.completeJobs(
        flights.map((f) => f.job.id),
        flights.map((f) => f.job.run_id),
        batch.map((b) => b.result),
      ),
    );
    if (r.status === 'ok') {
      for (let i = 0; i < flights.length; i++) {
        const flight = flights[i] as Flight;
        const row = r.value[i];
        if (row?.completed) this.#done1(flight, 'job:completed', {});
        else if (r.ambiguous && (await this.#confirm(flight, 'completed'))) this.#done1(flight, 'job:completed', { confirmed: true });
        else
          this.#lose(
            flight,
            new McpJobsError({ kind: 'postgrest', status: 409, code: 'PT409', message: row?.reason ?? 'not completed', fn: 'complete_jobs' }),
            true,
          );
      }
    } else if (r.status === 'error' && r.error && (r.error.status === 400 || r.error.status === 413)) {
      // one of the results was refused: find it one by one
      for (const b of batch) await this.#reportSuccess(b.flight, b.result, false);
    } else {
      for (const f of flights) this.#giveUp(f, r.error);
    }
  }

  /** Makes an outcome call, retrying network errors and 5xx with backoff until it gets an answer or
   * the worker gives up (shutdown grace over). `ambiguous`: an earlier try may have taken effect. */
  async #withRetries<T>(group: Flight[], operation: string, call: () => Promise<T>): Promise<Attempt<T>> {
    let streak = 0;
    let ambiguous = false;
    let last: McpJobsError | undefined;
    for (;;) {
      if (this.#hardStop.signal.aborted || group.some((f) => f.state === 'abandoned')) return { status: 'gave_up', error: last, ambiguous };
      try {
        return { status: 'ok', value: await call(), ambiguous };
      } catch (e) {
        if (isTransientError(e)) {
          last = e as McpJobsError;
          ambiguous = true;
          const delay = jittered(this.#errorDelay, streak++);
          this.#emit('error', group[0]?.job, e, { operation, retryIn: delay });
          if (!(await this.#sleep(delay))) return { status: 'gave_up', error: last, ambiguous };
          continue;
        }
        if (isRefusal(e)) return { status: 'refused', error: e, ambiguous };
        this.#emit('error', group[0]?.job, e, { operation, retryIn: null });
        return { status: 'error', error: e instanceof McpJobsError ? e : undefined, ambiguous };
      }
    }
  }

  /** After a retried call was refused: did the first try take effect (our run has `outcome`)? */
  async #confirm(flight: Flight, outcome: 'completed' | 'failed'): Promise<boolean> {
    try {
      const detail = await this.client.getJob(flight.job.id);
      const run = detail.runs.find((r) => r.id === flight.job.run_id);
      return run?.outcome === outcome;
    } catch {
      return false;
    }
  }

  // -- bookkeeping ------------------------------------------------------------------------------

  #finish(flight: Flight): void {
    if (flight.timer) clearTimeout(flight.timer);
    flight.timer = null;
    if (this.#flights.delete(flight.job.run_id)) {
      this.#lastFinish = Date.now();
      this.#notify();
      if (this.#pending.length) this.#maybeFlush();
    }
  }

  #done1(flight: Flight, event: 'job:completed' | 'job:failed', data: Record<string, unknown>): void {
    if (flight.state === 'done') return;
    flight.state = 'done';
    if (event === 'job:completed') this.#stats.completed++;
    else this.#stats.failed++;
    this.#emit(event, flight.job, undefined, { attempt: flight.job.attempt, ...data });
    this.#finish(flight);
  }

  /** The lease is gone: the outcome of this attempt will not be reported. */
  #lose(flight: Flight, error: unknown, whenReporting: boolean): void {
    if (flight.state === 'reporting' && !whenReporting) return; // a heartbeat raced the outcome call, which will tell
    if (flight.state !== 'running' && flight.state !== 'reporting') return;
    flight.state = 'lost';
    this.#stats.lost++;
    flight.abort.abort(new McpJobsLeaseLostError(`the lease of job ${flight.job.id} was lost`, error instanceof McpJobsError ? error : undefined));
    this.#emit('job:lost', flight.job, error, { reason: error instanceof Error ? error.message : '' });
    if (flight.handlerDone) this.#finish(flight);
    else if (flight.timer) {
      clearTimeout(flight.timer);
      flight.timer = null;
    }
  }

  /** The outcome could not be reported (shutdown, or an error no retry fixes): the lease will run
   * out and the job will be claimed again. */
  #giveUp(flight: Flight, error: unknown): void {
    if (flight.state === 'done' || flight.state === 'lost') return;
    const first = flight.state !== 'abandoned';
    flight.state = 'abandoned';
    flight.abort.abort(new Error('the worker gave up on this job'));
    if (first) {
      this.#stats.abandoned++;
      this.#emit('job:abandoned', flight.job, error, { reason: 'outcome not reported' });
    }
    if (flight.handlerDone) this.#finish(flight);
  }

  /** The shutdown grace ran out. */
  #abandonAll(): void {
    this.#graceTimer = null;
    if (!this.#running) return;
    for (const flight of [...this.#flights.values()]) {
      if (flight.timer) clearTimeout(flight.timer);
      if (flight.state === 'running' || flight.state === 'reporting') {
        flight.state = 'abandoned';
        flight.abort.abort(new Error('the shutdown grace ran out'));
        this.#stats.abandoned++;
        this.#emit('job:abandoned', flight.job, undefined, { reason: 'shutdown grace ran out' });
      }
    }
    this.#flights.clear();
    this.#pending = [];
    this.#hardStop.abort();
    this.#notify();
  }

  // -- heartbeats -------------------------------------------------------------------------------

  #scheduleHeartbeat(flight: Flight, inMs: number): void {
    if (flight.timer) clearTimeout(flight.timer);
    flight.timer = setTimeout(() => {
      flight.timer = null;
      void this.#heartbeat(flight);
    }, Math.max(1, inMs));
  }

  async #heartbeat(flight: Flight): Promise<void> {
    if ((flight.state !== 'running' && flight.state !== 'reporting') || this.#hardStop.signal.aborted) return;
    const job = flight.job;
    const sentAt = Date.now();
    const retryMs = Math.min(1000, (this.leaseSeconds * 1000) / 10);
    try {
      const answer = await this.client.reportProgress(job.id, job.run_id);
      if (flight.state !== 'running' && flight.state !== 'reporting') return;
      this.#scheduleHeartbeat(flight, sentAt + (this.leaseSeconds * 1000) / 2 - Date.now());
      this.#emit('job:heartbeat', job, undefined, { leaseExpiresAt: answer.lease_expires_at });
    } catch (e) {
      if (isRefusal(e)) {
        this.#lose(flight, e, false);
        return;
      }
      this.#emit('error', job, e, { operation: 'report_progress', retryIn: retryMs });
      if (flight.state === 'running' || flight.state === 'reporting') this.#scheduleHeartbeat(flight, retryMs);
    }
  }

  async #progressFromHandler(flight: Flight, data: Json | undefined): Promise<boolean> {
    const job = flight.job;
    if (flight.state !== 'running' || flight.abort.signal.aborted) {
      throw new McpJobsLeaseLostError(`job ${job.id} is no longer held by this worker`);
    }
    const sentAt = Date.now();
    try {
      await this.client.reportProgress(job.id, job.run_id, data);
    } catch (e) {
      if (isRefusal(e)) {
        this.#lose(flight, e, false);
        throw new McpJobsLeaseLostError(e.message, e);
      }
      if (isTransientError(e)) {
        this.#emit('error', job, e, { operation: 'report_progress', retryIn: null });
        return false;
      }
      throw e;
    }
    if (flight.state === 'running') this.#scheduleHeartbeat(flight, sentAt + (this.leaseSeconds * 1000) / 2 - Date.now());
    return true;
  }

  // -- events -----------------------------------------------------------------------------------

  #emit(type: WorkerEventType, job: ClaimedJob | undefined, error: unknown, data: Record<string, unknown>): void {
    // EventEmitter throws an 'error' nobody listens to: the worker is quiet by default instead
    if (this.listenerCount(type) === 0) return;
    const event: WorkerEvent = { type, workerId: this.workerId, data, time: Date.now() };
    if (job !== undefined) event.job = job;
    if (error !== undefined) event.error = error;
    try {
      this.emit(type, event);
    } catch {
      // a broken listener must not stop the worker
    }
  }
}

/** A worker for the handlers; `await worker.start()` runs it until stop() or SIGTERM. */
export function createWorker(options: WorkerOptions): Worker {
  return new Worker(options);
}
