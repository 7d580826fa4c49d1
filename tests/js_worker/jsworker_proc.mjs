// A worker process for tests/js_worker: `node jsworker_proc.mjs '<config JSON>'`.
//
// Config: url, key, source, events (a file: one JSON line per worker event), and optionally
// concurrency, leaseSeconds, batchSize, untilIdle, workerId, shutdownGraceMs, waitMs, jobTypes,
// analyze ("no_retry_on_auth": payload.kind === 'auth' is not retried, with a reason).
//
// Its handlers follow the job's payload:
//   task:  {"n": 3}                   -> result {"n": 3, "double": 6}
//          {"sleep": 2.5}             -> takes 2.5 s first (ends early when ctx.signal aborts)
//          {"sleep_on_attempts": [1]} -> sleeps on those attempts only
//          {"progress": true}         -> reports {"step": 1} through ctx.progress first
//   flaky: throws Error('upstream said no (attempt N)')
import { appendFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const { createWorker } = await import(pathToFileURL(path.join(here, '..', '..', 'clients', 'js', 'dist', 'index.js')).href);

const cfg = JSON.parse(process.argv[2]);
const write = (o) => appendFileSync(cfg.events, JSON.stringify({ t: Date.now() / 1000, pid: process.pid, ...o }) + '\n');

function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const t = setTimeout(() => resolve(true), ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(false); }, { once: true });
  });
}

async function task(job, ctx) {
  const p = job.payload;
  if (p.progress) await ctx.progress({ step: 1 });
  const attempts = p.sleep_on_attempts;
  if (p.sleep && (attempts === undefined || attempts.includes(job.attempt))) {
    const finished = await sleep(p.sleep * 1000, ctx.signal);
    write({ type: 'handler:slept', job_id: job.id, attempt: job.attempt, aborted: !finished });
  }
  return { n: p.n ?? null, double: Number.isInteger(p.n) ? 2 * p.n : null };
}

async function flaky(job) {
  throw new Error(`upstream said no (attempt ${job.attempt})`);
}

const analyze = cfg.analyze === 'no_retry_on_auth'
  ? (job, error) => (job.payload.kind === 'auth'
      ? { shouldRetry: false, reason: `credentials rejected: ${error.message}` }
      : { shouldRetry: true, reason: 'transient' })
  : undefined;

const worker = createWorker({
  url: cfg.url,
  key: cfg.key,
  handlers: { task, flaky },
  sources: [cfg.source],
  concurrency: cfg.concurrency ?? 4,
  leaseSeconds: cfg.leaseSeconds ?? 30,
  ...(cfg.batchSize ? { batchSize: cfg.batchSize } : {}),
  ...(cfg.workerId ? { workerId: cfg.workerId } : {}),
  ...(cfg.jobTypes ? { jobTypes: cfg.jobTypes } : {}),
  ...(cfg.waitMs !== undefined ? { waitMs: cfg.waitMs } : {}),
  shutdownGraceMs: cfg.shutdownGraceMs ?? 30000,
  errorDelayMs: [100, 1000],
  analyzeFailure: analyze,
});

let inFlight = 0;
let maxInFlight = 0;
const types = ['worker:started', 'worker:stopping', 'worker:stopped', 'job:claimed', 'job:completed', 'job:failed', 'job:lost',
  'job:abandoned', 'job:heartbeat', 'idle', 'claim_wait', 'error'];
for (const type of types) {
  worker.on(type, (e) => {
    if (type === 'job:claimed') maxInFlight = Math.max(maxInFlight, ++inFlight);
    if (['job:completed', 'job:failed', 'job:lost', 'job:abandoned'].includes(type) && e.job) inFlight--;
    const line = { type, worker_id: e.workerId };
    if (e.job) Object.assign(line, { job_id: e.job.id, run_id: e.job.run_id, attempt: e.job.attempt });
    if (e.error !== undefined) Object.assign(line, { error: String(e.error?.message ?? e.error), status: e.error?.status ?? null, code: e.error?.code ?? null });
    for (const [k, v] of Object.entries(e.data)) if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) line[k] = v;
    write(line);
  });
}

try {
  const stats = await (cfg.untilIdle ? worker.runUntilIdle() : worker.start());
  write({ type: 'exit', max_in_flight: maxInFlight, ...stats });
} catch (e) {
  write({ type: 'exit', max_in_flight: maxInFlight, fatal: String(e?.message ?? e), code: e?.code ?? null });
  process.exitCode = 3;
}
