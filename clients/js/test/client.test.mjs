// The client against a real stack (PostgreSQL with mcp_jobs, PostgREST 12.0.2 behind nginx):
// started by tests/console/test_client_js.py, which passes MCP_JOBS_TEST_URL (the SUPABASE_URL),
// MCP_JOBS_TEST_KEY (a service_role key) and MCP_JOBS_TEST_WRONG_KEY (a key signed with another secret).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { describe, it, after } from 'node:test';

import * as mcp from '../dist/index.js';

const { createClient, McpJobsError, McpJobsNetworkError, isMcpJobsError } = mcp;

const url = process.env.MCP_JOBS_TEST_URL;
const key = process.env.MCP_JOBS_TEST_KEY;
const wrongKey = process.env.MCP_JOBS_TEST_WRONG_KEY;
if (!url || !key || !wrongKey) throw new Error('set MCP_JOBS_TEST_URL, MCP_JOBS_TEST_KEY and MCP_JOBS_TEST_WRONG_KEY');

const client = createClient({ url, key });
const src = () => `js-${randomUUID().slice(0, 8)}`;

/** Runs fn, which must throw an McpJobsError; returns it. */
async function rejects(fn) {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof McpJobsError, `not an McpJobsError: ${e}`);
    assert.ok(isMcpJobsError(e));
    return e;
  }
  assert.fail('did not throw');
}

describe('produce, read, manage', () => {
  it('enqueueJob returns the id; getJob, listJobs, getJobStats, cancelJob', async () => {
    const s = src();
    const id = await client.enqueueJob(s, 'discovery', { host: 'erp-1' }, { priority: 7, maxAttempts: 4, runAt: new Date(Date.now() + 3600_000) });
    assert.match(id, /^[0-9a-f-]{36}$/);
    const job = await client.getJob(id);
    assert.equal(job.id, id);
    assert.equal(job.source, s);
    assert.equal(job.status, 'queued');
    assert.equal(job.priority, 7);
    assert.equal(job.max_attempts, 4);
    assert.deepEqual(job.payload, { host: 'erp-1' });
    assert.deepEqual(job.runs, []);
    assert.deepEqual(job.events.map((e) => e.event_type), ['enqueued']);
    assert.deepEqual(job.dead_letters, []);

    const listed = await client.listJobs({ source: s });
    assert.deepEqual(listed.map((j) => j.id), [id]);
    const stats = await client.getJobStats(s);
    assert.deepEqual(stats, {
      source: s, queued: 1, processing: 0, completed: 0, failed: 0, cancelled: 0, total: 1, dead_letter_unresolved: 0,
      queues_paused: 0, queues_limited: 0,
    });

    const cancelled = await client.cancelJob(id);
    assert.equal(cancelled.job_id, id);
    assert.equal(cancelled.status, 'cancelled');
    assert.equal((await client.getJob(id)).status, 'cancelled');
  });

  it('idempotency keys and payloads as JSON strings', async () => {
    const s = src();
    const a = await client.enqueueJob(s, 'invoice', { id: 42 }, { idempotencyKey: 'invoice-42' });
    const b = await client.enqueueJob(s, 'invoice', { id: 43 }, { idempotencyKey: 'invoice-42' });
    assert.equal(a, b);
    const c = await client.enqueueJob(s, 'sync', '{"rows": 3}');
    assert.deepEqual((await client.getJob(c)).payload, { rows: 3 });
    const d = await client.enqueueJob(s, 'sync');
    assert.deepEqual((await client.getJob(d)).payload, {});
  });

  it('listJobsPage pages by keyset with the next id', async () => {
    const s = src();
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await client.enqueueJob(s, 'page', { i }));
    const p1 = await client.listJobsPage({ source: s, limit: 2 });
    assert.deepEqual(p1.items.map((j) => j.id), [ids[4], ids[3]]);
    assert.equal(p1.next, ids[3]);
    const p2 = await client.listJobsPage({ source: s, limit: 2, before: p1.next });
    assert.deepEqual(p2.items.map((j) => j.id), [ids[2], ids[1]]);
    const p3 = await client.listJobsPage({ source: s, limit: 2, before: p2.next });
    assert.deepEqual(p3.items.map((j) => j.id), [ids[0]]);
    assert.equal(p3.next, null);
    const all = await client.listJobsPage({ source: s, limit: 5 });
    assert.equal(all.items.length, 5);
    assert.equal(all.next, null);
    // an out-of-range limit reaches the function, which refuses it
    const e = await rejects(() => client.listJobsPage({ source: s, limit: 0 }));
    assert.equal(e.status, 400);
    assert.equal(e.code, '22023');
  });
});

describe('work: claim, progress, complete, fail, dead letters, metrics', () => {
  it('runs jobs through the worker functions', async () => {
    const s = src();
    const ids = [];
    for (let i = 0; i < 6; i++) ids.push(await client.enqueueJob(s, 'work', { i }));
    assert.equal(await client.claimNextJob({ sources: ['nobody-' + s] }), null);

    const first = await client.claimNextJob({ workerId: 'w1', sources: [s], leaseSeconds: 60 });
    assert.equal(first.id, ids[0]);
    assert.equal(first.attempt, 1);
    const progress = await client.reportProgress(first.id, first.run_id, { pct: 50 });
    assert.equal(progress.status, 'processing');
    const next = await client.completeAndClaimNext(first.id, first.run_id, { ok: 1 }, { workerId: 'w1', sources: [s] });
    assert.equal(next.id, ids[1]);
    const done = await client.completeJob(next.id, next.run_id, { ok: 2 });
    assert.equal(done.status, 'completed');

    const batch = await client.claimJobs({ workerId: 'w2', sources: [s], limit: 2 });
    assert.deepEqual(batch.map((j) => j.id), [ids[2], ids[3]]);
    const rows = await client.completeJobs(batch.map((j) => j.id), batch.map((j) => j.run_id), [{ a: 1 }, null]);
    assert.deepEqual(rows.map((r) => r.completed), [true, true]);

    const dead = await client.claimNextJob({ workerId: 'w3', sources: [s] });
    const failed = await client.failJob(dead.id, dead.run_id, 'bad credentials', { retry: false, details: { http: 401 } });
    assert.equal(failed.status, 'failed');
    assert.match(failed.dead_letter_id, /^[0-9a-f-]{36}$/);
    const retried = await client.claimNextJob({ workerId: 'w3', sources: [s] });
    const r2 = await client.failJob(retried.id, retried.run_id, 'flaky');
    assert.equal(r2.status, 'queued');
    assert.equal(r2.dead_letter_id, null);

    const job = await client.getJob(dead.id);
    assert.deepEqual(job.runs.map((r) => r.outcome), ['failed']);
    assert.deepEqual(job.events.map((e) => e.event_type), ['enqueued', 'started', 'failed', 'dead_lettered']);
    assert.deepEqual(job.dead_letters.map((d) => d.id), [failed.dead_letter_id]);

    const dls = await client.listDeadLetters({ source: s });
    assert.deepEqual(dls.map((d) => d.id), [failed.dead_letter_id]);
    assert.deepEqual(dls[0].details, { http: 401 });
    const groups = (await client.deadLetterGroups()).filter((g) => g.source === s);
    assert.deepEqual(groups.map((g) => [g.error, g.dead_letters, g.ids]), [['bad credentials', 1, [failed.dead_letter_id]]]);
    const requeued = await client.requeueDeadLetters([failed.dead_letter_id]);
    assert.deepEqual(requeued, [{ id: failed.dead_letter_id, job_id: dead.id }]);
    assert.equal((await client.getJob(dead.id)).status, 'queued');
    assert.deepEqual(await client.listDeadLetters({ source: s }), []);
    assert.equal((await client.listDeadLetters({ source: s, resolved: true })).length, 1);
    assert.equal((await client.listDeadLetters({ source: s, resolved: null })).length, 1);
    assert.equal((await client.deadLetterGroups(null)).filter((g) => g.source === s).length, 1);

    // dead-letter it again and resolve it with a note, one and many
    const again = await client.claimNextJob({ workerId: 'w4', sources: [s], leaseSeconds: 30 });
    const again2 = await client.failJob(again.id, again.run_id, 'nope', { retry: false });
    const resolved = await client.resolveDeadLetter(again2.dead_letter_id, 'checked by hand');
    assert.equal(resolved.resolution, 'resolved');
    assert.equal(resolved.resolution_note, 'checked by hand');
    const e409 = await rejects(() => client.resolveDeadLetters([again2.dead_letter_id], 'twice'));
    assert.equal(e409.status, 409);
    assert.equal(e409.code, 'PT409');
    assert.equal(e409.sqlstate, '55000');
    const e404 = await rejects(() => client.requeueDeadLetter(randomUUID()));
    assert.equal(e404.status, 404);
    assert.equal(e404.sqlstate, 'P0002');

    const depth = (await client.queueDepth()).filter((r) => r.source === s);
    assert.equal(depth.length, 1);
    assert.equal(typeof depth[0].queued, 'number');
    const alerts = await client.alerts();
    assert.ok(Array.isArray(alerts));
    for (const a of alerts) assert.ok(['critical', 'warning'].includes(a.level));
    // get_metrics reads what maintenance aggregates: the test cluster runs the background worker
    // every second, so the hour's row appears
    let metrics = [];
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      metrics = await client.getMetrics({ source: s });
      if (metrics.length === 1 && metrics[0].completed === 4 && metrics[0].dead_lettered === 2) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(metrics.length, 1, JSON.stringify(metrics));
    assert.equal(metrics[0].job_type, 'work');
    assert.equal(metrics[0].enqueued, 6);
    assert.equal(metrics[0].completed, 4);
    assert.equal(metrics[0].dead_lettered, 2);
    assert.equal((await client.getMetrics({ source: s, jobType: 'other' })).length, 0);
    const range = await rejects(() => client.getMetrics({ from: new Date(Date.now() - 40 * 86400_000) }));
    assert.equal(range.status, 400);
    assert.equal(range.code, '22023');
    assert.match(range.message, /31 days/);
    assert.ok(range.hint);
  });
});

describe('0.7.0: batches, waiting claims, flow control, schedules, diagnostics', () => {
  it('enqueueJobs, claimJobs with waitMs, concurrency keys', async () => {
    const s = src();
    const ids = await client.enqueueJobs([
      { source: s, jobType: 'sync', payload: { row: 1 } },
      { source: s, jobType: 'sync', payload: { row: 2 }, priority: 7, idempotencyKey: 'row-2', concurrencyKey: 'acme' },
      { source: s, jobType: 'sync', payload: { row: 2 }, idempotencyKey: 'row-2' },
    ]);
    assert.equal(ids.length, 3);
    assert.equal(ids[1], ids[2]);
    assert.equal((await client.getJob(ids[1])).priority, 7);
    const bad = await rejects(() => client.enqueueJobs([{ source: s, jobType: 'sync' }, { source: s, jobType: 'sync', priority: 42 }]));
    assert.equal(bad.status, 400);
    assert.match(bad.message, /p_jobs\[1\]/);
    assert.equal((await client.listJobs({ source: s })).length, 2);

    const claimed = await client.claimJobs({ workerId: 'wb', sources: [s], limit: 5, waitMs: 200 });
    assert.deepEqual(claimed.map((j) => j.id).sort(), [ids[0], ids[1]].sort());
    // nothing due: a waiting claim returns empty after about its wait
    const t0 = Date.now();
    assert.deepEqual(await client.claimJobs({ sources: [s], waitMs: 300 }), []);
    assert.ok(Date.now() - t0 >= 250, `returned after ${Date.now() - t0} ms`);
    // an enqueue wakes a waiting claim
    const waiting = client.claimNextJob({ workerId: 'wn', sources: [s], waitMs: 20000 });
    await new Promise((r) => setTimeout(r, 300));
    const woke = await client.enqueueJob(s, 'sync', { row: 3 });
    const t1 = Date.now();
    assert.equal((await waiting).id, woke);
    assert.ok(Date.now() - t1 < 10000);
    const range = await rejects(() => client.claimNextJob({ sources: [s], waitMs: 70000 }));
    assert.equal(range.status, 400);
    assert.equal(range.code, '22023');
  });

  it('setQueue, pauseQueue, resumeQueue, getQueues, queueDepth held, get_job_stats counts', async () => {
    const s = src();
    await client.enqueueJob(s, 'sync', {});
    const row = await client.setQueue(s, 'sync', { rateLimit: 60, ratePeriod: '1 minute', maxConcurrencyPerKey: 1, maxQueued: 5 });
    assert.equal(row.source, s);
    assert.equal(row.job_type, 'sync');
    assert.equal(row.rate_limit, 60);
    assert.equal(row.rate_period, '00:01:00');
    const paused = await client.pauseQueue(s);
    assert.equal(paused.paused, true);
    assert.equal(paused.job_type, null);
    const depth = (await client.queueDepth()).filter((r) => r.source === s);
    assert.deepEqual(depth.map((d) => [d.paused, d.held]), [[true, 'paused']]);
    assert.equal(await client.claimNextJob({ sources: [s] }), null);
    const stats = await client.getJobStats(s);
    assert.equal(stats.queues_paused, 1);
    assert.equal(stats.queues_limited, 1);
    const queues = (await client.getQueues()).filter((q) => q.source === s);
    assert.deepEqual(queues.map((q) => [q.job_type, q.paused, q.max_queued]), [[null, true, null], ['sync', null, 5]]);
    assert.equal(await client.resumeQueue(s), null);
    assert.equal((await client.claimNextJob({ sources: [s] })).source, s);
    const cleared = await client.setQueue(s, 'sync', { clear: ['max_queued'], rateLimit: 10, ratePeriod: 30 });
    assert.equal(cleared.max_queued, null);
    assert.equal(cleared.rate_limit, 10);
    assert.equal(cleared.rate_period, '00:00:30');
    assert.equal(cleared.max_concurrency_per_key, 1);
    const e = await rejects(() => client.setQueue(s, 'sync', { maxConcurrency: 0 }));
    assert.equal(e.status, 400);
    // a full queue answers 429
    await client.setQueue(s, 'full', { maxQueued: 1 });
    await client.enqueueJob(s, 'full', {});
    const full = await rejects(() => client.enqueueJob(s, 'full', {}));
    assert.equal(full.status, 429);
    assert.equal(full.code, '53400');
    // the seconds of the wrapper's Retry-After, from the detail; no other error has them
    assert.ok(Number.isInteger(full.retryAfter) && full.retryAfter >= 1, String(full.retryAfter));
    assert.match(full.details, new RegExp(`retry after about ${full.retryAfter} s`));
    assert.equal(e.retryAfter, null);
  });

  it('scheduleJob, listSchedules, cronNext, unscheduleJob, diagnostics', async () => {
    const name = `${src()}-nightly`;
    const sched = await client.scheduleJob(name, '0 3 * * *', 'vercel', 'report', { payload: { full: true }, timezone: 'Europe/Berlin' });
    assert.equal(sched.name, name);
    assert.equal(sched.timezone, 'Europe/Berlin');
    assert.deepEqual(sched.payload, { full: true });
    assert.match(sched.next_run_at, /T0[12]:00:00/);
    const listed = (await client.listSchedules()).filter((r) => r.name === name);
    assert.equal(listed.length, 1);
    assert.equal(listed[0].last_job_status, null);
    const next = await client.cronNext('30 2 * * *', { timezone: 'Europe/Berlin', after: '2026-03-27T12:00:00Z', count: 3 });
    assert.deepEqual(next.map((t) => new Date(t).toISOString()), ['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
    const badCron = await rejects(() => client.cronNext('not cron'));
    assert.equal(badCron.status, 400);
    assert.equal((await client.unscheduleJob(name)).name, name);
    const gone = await rejects(() => client.unscheduleJob(name));
    assert.equal(gone.status, 404);
    assert.equal(gone.sqlstate, 'P0002');
    const d = await client.diagnostics();
    assert.equal(d.extension_version, '0.7.0');
    assert.equal(typeof d.preloaded, 'boolean');
    assert.equal(typeof d.waiting_claims, 'number');
  });
});

describe('errors', () => {
  it('carries status, code, SQLSTATE, message, details and hint', async () => {
    const e = await rejects(() => client.enqueueJob('odoo', 'sync', {}, { priority: 42 }));
    assert.equal(e.kind, 'postgrest');
    assert.equal(e.status, 400);
    assert.equal(e.code, '22023');
    assert.equal(e.sqlstate, '22023');
    assert.equal(e.fn, 'enqueue_job');
    assert.match(e.message, /priority/);
    assert.match(e.details, /42/);
    assert.ok(e.hint);
    assert.equal(e.isNetworkError, false);
    assert.deepEqual(Object.keys(e.toJSON()).sort(), ['code', 'details', 'fn', 'hint', 'kind', 'message', 'status']);

    const nf = await rejects(() => client.getJob(randomUUID()));
    assert.equal(nf.status, 404);
    assert.equal(nf.code, 'PT404');
    assert.equal(nf.sqlstate, 'P0002');
    const bad = await rejects(() => client.getJob('not-a-uuid'));
    assert.equal(bad.status, 400);
    assert.equal(bad.code, '22P02');
    const big = await rejects(() => client.enqueueJob('odoo', 'sync', { x: 'y'.repeat(2 * 1024 * 1024) }));
    assert.equal(big.status, 413);
    assert.equal(big.sqlstate, '54000');
    const unknown = await rejects(() => client.rpc('no_such_function'));
    assert.equal(unknown.status, 404);
    assert.equal(unknown.code, 'PGRST202');
    assert.equal(unknown.sqlstate, null);
  });

  it('a wrong key is a 401 from PostgREST', async () => {
    const e = await rejects(() => createClient({ url, key: wrongKey }).getJobStats());
    assert.equal(e.status, 401);
    assert.equal(e.code, 'PGRST301');
  });

  it('network failures are McpJobsNetworkError (status 0)', async () => {
    const srv = createServer();
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    const port = srv.address().port;
    await new Promise((r) => srv.close(r));
    const e = await rejects(() => createClient({ url: `http://127.0.0.1:${port}`, key }).getJobStats());
    assert.ok(e instanceof McpJobsNetworkError);
    assert.equal(e.kind, 'network');
    assert.equal(e.status, 0);
    assert.equal(e.code, 'ECONNREFUSED');
    assert.equal(e.isNetworkError, true);
    assert.match(e.message, /cannot reach/);
  });

  describe('with a server that is not PostgREST', () => {
    const sockets = new Set();
    const srv = createServer((req, res) => {
      if (req.url.includes('hang')) return; // never answers
      if (req.url.includes('html')) {
        res.writeHead(502, { 'Content-Type': 'text/html' });
        res.end('<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<!doctype html><p>a web page</p>');
    });
    srv.on('connection', (s) => sockets.add(s));
    const listening = new Promise((r) => srv.listen(0, '127.0.0.1', r));
    after(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => srv.close(r));
    });

    it('a gateway page is kind http with its status', async () => {
      await listening;
      const base = `http://127.0.0.1:${srv.address().port}`;
      const e = await rejects(() => createClient({ url: base, key, restPath: '/html' }).getJobStats());
      assert.equal(e.kind, 'http');
      assert.equal(e.status, 502);
      assert.equal(e.code, 'HTTP_502');
      assert.match(e.message, /502 Bad Gateway/);
      assert.doesNotMatch(e.message, /<html>/);
    });

    it('an answer that is not JSON is kind response', async () => {
      await listening;
      const base = `http://127.0.0.1:${srv.address().port}`;
      const e = await rejects(() => createClient({ url: base, key }).getJobStats());
      assert.equal(e.kind, 'response');
      assert.equal(e.code, 'BAD_RESPONSE');
      assert.equal(e.status, 200);
    });

    it('no answer in time is a TIMEOUT network error', async () => {
      await listening;
      const base = `http://127.0.0.1:${srv.address().port}`;
      const t0 = Date.now();
      const e = await rejects(() => createClient({ url: base, key, restPath: '/hang', timeoutMs: 300 }).getJobStats());
      assert.ok(e instanceof McpJobsNetworkError);
      assert.equal(e.code, 'TIMEOUT');
      assert.ok(Date.now() - t0 < 5000);
    });
  });

  it('a missing or bad configuration is kind config', async () => {
    for (const opts of [{ url: '', key }, { url: 'not a url', key }, { url: 'ftp://x', key }, { url, key: '' }, { url, key, timeoutMs: 0 }]) {
      const e = await rejects(() => createClient(opts));
      assert.equal(e.kind, 'config');
      assert.equal(e.code, 'CONFIG');
    }
  });
});

describe("the design's helpers read SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY", () => {
  it('enqueueJob, listJobs, getJob, getJobStats', async () => {
    const saved = { u: process.env.SUPABASE_URL, k: process.env.SUPABASE_SERVICE_ROLE_KEY };
    try {
      delete process.env.SUPABASE_URL;
      const e = await rejects(() => mcp.getJobStats());
      assert.equal(e.kind, 'config');
      assert.match(e.message, /SUPABASE_URL/);
      process.env.SUPABASE_URL = url;
      process.env.SUPABASE_SERVICE_ROLE_KEY = key;
      const s = src();
      const id = await mcp.enqueueJob(s, 'discovery', { test: true });
      assert.equal((await mcp.getJob(id)).id, id);
      assert.deepEqual((await mcp.listJobs({ source: s })).map((j) => j.id), [id]);
      assert.equal((await mcp.getJobStats(s)).queued, 1);
      assert.equal((await mcp.cancelJob(id)).status, 'cancelled');
    } finally {
      if (saved.u === undefined) delete process.env.SUPABASE_URL;
      else process.env.SUPABASE_URL = saved.u;
      if (saved.k === undefined) delete process.env.SUPABASE_SERVICE_ROLE_KEY;
      else process.env.SUPABASE_SERVICE_ROLE_KEY = saved.k;
    }
  });
});
