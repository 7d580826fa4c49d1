// Peer job queues driven through their own Node APIs, for bench/run.py.
//
//   node peers.js <pgboss|graphile> setup     <url>
//   node peers.js <pgboss|graphile> enqueue   <url> <clients> <seconds>
//   node peers.js <pgboss|graphile> lifecycle <url> <clients> <seconds>
//   node peers.js <pgboss|graphile> fill      <url> <n>
//   node peers.js <pgboss|graphile> drain     <url> <clients> <seconds> <batched 0|1>
//   node peers.js graphile wake <url>                 (bench/wake.py: one line per job of task `wake`)
//   node peers.js graphile idle <url> <concurrency>   (bench/wake.py: a runner on an empty queue)
//
// Prints one JSON line {jobs, seconds, rate}. "lifecycle" is a closed loop per client: enqueue one
// job, have it claimed and completed, repeat. "drain" claims and completes jobs already queued
// ("fill"); batched=1 uses each library's batching (pg-boss: fetch 50 + complete 50 ids; graphile:
// localQueue + completeJobBatchDelay).
'use strict';
const QUEUE = 'bench';
const [system, mode, url, a1, a2, a3] = process.argv.slice(2);
const quietLogger = () => () => {};

function out(jobs, seconds) {
  process.stdout.write(JSON.stringify({ jobs, seconds, rate: jobs / seconds }) + '\n');
}

async function loopFor(clients, seconds, body) {
  const deadline = Date.now() + seconds * 1000;
  let jobs = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: clients }, async () => {
    // (not `jobs += await body()`: that reads `jobs` before the await and loses other loops' counts)
    while (Date.now() < deadline) { const k = await body(); jobs += k; }
  }));
  return [jobs, Number(process.hrtime.bigint() - t0) / 1e9];
}

// ------------------------------------------------------------------------------- pg-boss
async function pgboss() {
  const PgBoss = require('pg-boss');
  const clients = Number(a1 || 1);
  const boss = new PgBoss({
    connectionString: url, max: clients + 1, supervise: false, schedule: false,
    migrate: mode === 'setup',
  });
  boss.on('error', (e) => { console.error(e); });
  await boss.start();
  try {
    if (mode === 'setup') {
      await boss.createQueue(QUEUE);
      return out(0, 1);
    }
    if (mode === 'enqueue') {
      return out(...await loopFor(clients, Number(a2), async () => { await boss.send(QUEUE, { n: 1 }); return 1; }));
    }
    if (mode === 'lifecycle') {
      return out(...await loopFor(clients, Number(a2), async () => {
        await boss.send(QUEUE, { n: 1 });
        const jobs = await boss.fetch(QUEUE, { batchSize: 1 });
        if (!jobs.length) return 0;
        await boss.complete(QUEUE, jobs[0].id);
        return 1;
      }));
    }
    if (mode === 'fill') {
      const n = Number(a1);
      for (let i = 0; i < n; i += 1000) {
        await boss.insert(Array.from({ length: Math.min(1000, n - i) }, () => ({ name: QUEUE, data: { n: 1 } })));
      }
      return out(n, 1);
    }
    if (mode === 'drain') {
      const batch = a3 === '1' ? 50 : 1;
      return out(...await loopFor(clients, Number(a2), async () => {
        const jobs = await boss.fetch(QUEUE, { batchSize: batch });
        if (!jobs.length) return 0;
        await boss.complete(QUEUE, jobs.map((j) => j.id));
        return jobs.length;
      }));
    }
    throw new Error('unknown mode ' + mode);
  } finally {
    await boss.stop({ graceful: false, wait: true, timeout: 2000 }).catch(() => {});
  }
}

// ------------------------------------------------------------------------------- graphile-worker
async function graphile() {
  const { run, makeWorkerUtils, Logger } = require('graphile-worker');
  const logger = new Logger(quietLogger);
  const clients = Number(a1 || 1);
  const utils = await makeWorkerUtils({ connectionString: url, logger });
  try {
    if (mode === 'setup') { await utils.migrate(); return out(0, 1); }
    if (mode === 'enqueue') {
      return out(...await loopFor(clients, Number(a2), async () => { await utils.addJob(QUEUE, { n: 1 }); return 1; }));
    }
    if (mode === 'fill') {
      const n = Number(a1);
      for (let i = 0; i < n; i += 1000) {
        await utils.addJobs(Array.from({ length: Math.min(1000, n - i) }, () => ({ identifier: QUEUE, payload: { n: 1 } })));
      }
      return out(n, 1);
    }
    if (mode === 'wake' || mode === 'idle') {
      // wake: one runner (concurrency 1) prints the enqueue-to-start latency of each job of task `wake`
      // (its payload carries the producer's CLOCK_MONOTONIC send time in ns; process.hrtime reads the
      // same clock); idle: a runner of concurrency a1 on an empty queue. Both run until SIGTERM.
      const runner = await run({
        connectionString: url, concurrency: mode === 'idle' ? clients : 1, noHandleSignals: true, logger,
        maxPoolSize: (mode === 'idle' ? clients : 1) + 2,
        taskList: {
          wake: async (payload) => {
            const t = process.hrtime.bigint();
            process.stdout.write(JSON.stringify({ k: payload.k, lat_ms: Number(t - BigInt(payload.t)) / 1e6 }) + '\n');
          },
          idle: async () => {},
        },
      });
      process.on('SIGTERM', () => { runner.stop().finally(() => process.exit(0)); });
      process.stdout.write('ready\n');
      await runner.promise;
      return;
    }
    const batched = mode === 'drain' && a3 === '1';
    const waiters = new Map();
    let done = 0;
    const preset = { worker: batched
      ? { localQueue: { size: 50 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 }
      : {} };
    const runner = await run({
      connectionString: url, concurrency: clients, noHandleSignals: true, pollInterval: 1000, logger,
      maxPoolSize: clients + 2, preset,
      taskList: {
        [QUEUE]: async (payload) => {
          done += 1;
          const w = payload.k !== undefined && waiters.get(payload.k);
          if (w) { waiters.delete(payload.k); setImmediate(w); }
        },
      },
    });
    try {
      if (mode === 'lifecycle') {
        let seq = 0;
        return out(...await loopFor(clients, Number(a2), async () => {
          const k = seq++;
          const p = new Promise((resolve) => waiters.set(k, resolve));
          await utils.addJob(QUEUE, { n: 1, k });
          await p;
          return 1;
        }));
      }
      if (mode === 'drain') {
        const seconds = Number(a2);
        const t0 = process.hrtime.bigint();
        const deadline = Date.now() + seconds * 1000;
        while (Date.now() < deadline) { await new Promise((r) => setTimeout(r, 20)); }
        const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
        return out(done, elapsed);
      }
      throw new Error('unknown mode ' + mode);
    } finally {
      await runner.stop();
    }
  } finally {
    await utils.release();
  }
}

(system === 'pgboss' ? pgboss() : graphile()).then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
