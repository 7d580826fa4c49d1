// Worker processes for bench/workers_js.py: no-op handlers, one JSON line of what the process did.
//
//   node workers_js.mjs mcp      '<{"url", "key", "source", "concurrency", "batchSize", "workerId"}>'
//   node workers_js.mjs graphile '<{"url", "concurrency"}>'
//   node workers_js.mjs pgboss   '<{"url", "concurrency", "batchSize"}>'
//
// mcp: clients/js createWorker through PostgREST, runUntilIdle (exits when nothing is due).
// graphile: graphile-worker's runner (run(), taskList) on task `bench`, until SIGTERM.
// pgboss: pg-boss's runner (work()) on queue `bench`, `concurrency` work() loops fetching `batchSize`
// jobs each (pg-boss waits its polling interval, at least 0.5 s, between the fetches of a loop), until
// SIGTERM. Each prints {handled, first_ms, last_ms}: jobs its handler ran and the wall clock (Date.now())
// of the first handler start and the last handler end; mcp adds the worker's RunStats.
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const here = path.dirname(new URL(import.meta.url).pathname);
const [system, cfgText] = process.argv.slice(2);
const cfg = JSON.parse(cfgText ?? '{}');

let handled = 0;
let first = null;
let last = null;
function noop() {
  const t = Date.now();
  if (first === null) first = t;
  handled += 1;
  last = Date.now();
}
function report(extra = {}) {
  process.stdout.write(JSON.stringify({ handled, first_ms: first, last_ms: last, ...extra }) + '\n');
}
function untilSigterm(stop) {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => { Promise.resolve(stop()).catch(() => {}).finally(resolve); });
    process.stdout.write('ready\n');
  });
}

if (system === 'mcp') {
  const { createWorker } = await import(pathToFileURL(path.join(here, '..', 'clients', 'js', 'dist', 'index.js')).href);
  const worker = createWorker({
    url: cfg.url,
    key: cfg.key,
    handlers: { noop: async () => { noop(); } },
    sources: [cfg.source],
    concurrency: cfg.concurrency,
    leaseSeconds: 60,
    workerId: cfg.workerId,
    handleSignals: false,
    ...(cfg.batchSize ? { batchSize: cfg.batchSize } : {}),
  });
  const stats = await worker.runUntilIdle();
  report(stats);
} else if (system === 'graphile') {
  const { run, Logger } = require('graphile-worker');
  const runner = await run({
    connectionString: cfg.url,
    concurrency: cfg.concurrency,
    noHandleSignals: true,
    pollInterval: 1000,
    maxPoolSize: cfg.concurrency + 2,
    logger: new Logger(() => () => {}),
    taskList: { bench: async () => { noop(); } },
  });
  await untilSigterm(() => runner.stop());
  report();
} else if (system === 'pgboss') {
  const PgBoss = require('pg-boss');
  const boss = new PgBoss({ connectionString: cfg.url, max: cfg.concurrency + 2, supervise: false, schedule: false, migrate: false });
  boss.on('error', (e) => process.stderr.write(String(e) + '\n'));
  await boss.start();
  for (let i = 0; i < cfg.concurrency; i++) {
    await boss.work('bench', { batchSize: cfg.batchSize, pollingIntervalSeconds: 0.5 }, async (jobs) => { for (let k = 0; k < jobs.length; k++) noop(); });
  }
  await untilSigterm(() => boss.stop({ graceful: true, wait: true, timeout: 5000 }));
  report();
} else {
  process.stderr.write(`unknown system ${system}\n`);
  process.exit(2);
}
