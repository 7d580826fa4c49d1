'use client';

import Link from 'next/link';
import { Fragment, useMemo, useState, type FormEvent } from 'react';

import { ErrorBanner } from '@/components/ErrorBanner';
import { FormError } from '@/components/FormError';
import { RefreshControl } from '@/components/RefreshControl';
import { Empty, SkeletonRows } from '@/components/States';
import { ApiError, postJson, useApi } from '@/lib/fetcher';
import { fmtAgo, fmtNumber, fmtPeriod, fmtTime, intervalInput } from '@/lib/format';
import type { Clearable, QueueDepth070, QueueRow } from '@/lib/types';

const REFRESH_MS = 10_000;
const COLS = 9;

/** One line of the table: a row of mcp_jobs.queues, or a queue (source, job type) that has jobs but no row. */
interface Entry {
  key: string;
  source: string;
  jobType: string | null;
  row: QueueRow | null;
  sourceRow: QueueRow | null;
  queued: number;
  processing: number;
  held: string | null;
}

function entryKey(source: string, jobType: string | null): string {
  return `${source}\u0000${jobType ?? ''}`;
}

function buildEntries(queues: QueueRow[], depth: QueueDepth070[]): Entry[] {
  const rows = new Map(queues.map((q) => [entryKey(q.source, q.job_type), q]));
  const held = new Map(depth.map((d) => [entryKey(d.source, d.job_type), d.held ?? null]));
  const out = new Map<string, Entry>();
  for (const q of queues) {
    const k = entryKey(q.source, q.job_type);
    out.set(k, {
      key: k,
      source: q.source,
      jobType: q.job_type,
      row: q,
      sourceRow: q.job_type === null ? null : rows.get(entryKey(q.source, null)) ?? null,
      queued: q.queued,
      processing: q.processing,
      held: held.get(k) ?? null,
    });
  }
  for (const d of depth) {
    const k = entryKey(d.source, d.job_type);
    if (out.has(k)) continue;
    out.set(k, { key: k, source: d.source, jobType: d.job_type, row: null, sourceRow: rows.get(entryKey(d.source, null)) ?? null, queued: d.queued, processing: d.processing, held: d.held ?? null });
  }
  return [...out.values()].sort(
    (a, b) => a.source.localeCompare(b.source) || (a.jobType === null ? -1 : b.jobType === null ? 1 : a.jobType.localeCompare(b.jobType)),
  );
}

function Limit({ used, max, testId, title }: { used: number; max: number | null; testId: string; title?: string }) {
  if (max === null) return <span className="faint" data-testid={testId} data-max="">—</span>;
  const full = used >= max;
  return (
    <span data-testid={testId} data-max={max} title={title} className={full ? 'at-limit' : undefined}>
      {fmtNumber(used)} <span className="faint">/ {fmtNumber(max)}</span>
    </span>
  );
}

function StatePill({ e }: { e: Entry }) {
  if (e.row?.paused) {
    return (
      <span title={e.row.paused_at ? `paused ${fmtTime(e.row.paused_at)}` : undefined}>
        <span className="pill pill-paused" data-testid="queue-state" data-state="paused">paused</span>
        {e.row.paused_at ? <span className="faint"> {fmtAgo(e.row.paused_at)}</span> : null}
      </span>
    );
  }
  if (e.sourceRow?.paused) {
    return (
      <span>
        <span className="pill pill-paused" data-testid="queue-state" data-state="paused-by-source">paused</span>
        <span className="faint"> by its source</span>
      </span>
    );
  }
  if (e.held) return <span className="pill pill-held" data-testid="queue-state" data-state="held" title="what holds the queue back now">held: {e.held.replace(/_/g, ' ')}</span>;
  return <span className="pill pill-running" data-testid="queue-state" data-state="running">running</span>;
}

interface Fields {
  source: string;
  jobType: string;
  maxConcurrency: string;
  maxConcurrencyPerKey: string;
  rateLimit: string;
  ratePeriod: string;
  maxQueued: string;
  paused: boolean;
}

const NUMERIC = ['maxConcurrency', 'maxConcurrencyPerKey', 'rateLimit', 'maxQueued'] as const;
const COLUMN: Record<(typeof NUMERIC)[number], keyof QueueRow> = {
  maxConcurrency: 'max_concurrency',
  maxConcurrencyPerKey: 'max_concurrency_per_key',
  rateLimit: 'rate_limit',
  maxQueued: 'max_queued',
};

function fieldsOf(source: string, jobType: string | null, row: QueueRow | null): Fields {
  const n = (v: unknown) => (typeof v === 'number' ? String(v) : '');
  return {
    source,
    jobType: jobType ?? '',
    maxConcurrency: n(row?.max_concurrency),
    maxConcurrencyPerKey: n(row?.max_concurrency_per_key),
    rateLimit: n(row?.rate_limit),
    ratePeriod: row?.rate_period ? intervalInput(row.rate_period) : '',
    maxQueued: n(row?.max_queued),
    paused: row?.paused === true,
  };
}

/** The body of POST /api/jobs/queues/[source]: the limits given (the extension checks them), and the
 * ones emptied cleared. */
function bodyOf(f: Fields, row: QueueRow | null, isNew: boolean): Record<string, unknown> | string {
  const body: Record<string, unknown> = {};
  const clear: Clearable[] = [];
  if (f.jobType.trim() !== '') body.jobType = f.jobType.trim();
  for (const k of NUMERIC) {
    const v = f[k].trim();
    if (v === '') {
      if ((row?.[COLUMN[k]] ?? null) !== null) clear.push(k);
      continue;
    }
    if (!/^-?\d{1,9}$/.test(v)) return `${LABELS[k]} must be a whole number, not “${v}”.`;
    body[k] = Number(v);
  }
  const period = f.ratePeriod.trim();
  // a period without a limit: sent, so that the extension says what is missing
  if (period !== '' && !clear.includes('rateLimit')) body.ratePeriod = period;
  if (isNew && f.paused) body.paused = true;
  if (clear.length > 0) body.clear = clear;
  return body;
}

const LABELS: Record<(typeof NUMERIC)[number], string> = {
  maxConcurrency: 'Max concurrency',
  maxConcurrencyPerKey: 'Max per concurrency key',
  rateLimit: 'Rate limit',
  maxQueued: 'Max queued',
};

function LimitsEditor({ entry, isNew, onDone, onCancel }: { entry: Entry | null; isNew: boolean; onDone: (msg: string) => void; onCancel: () => void }) {
  const [f, setF] = useState<Fields>(() => fieldsOf(entry?.source ?? '', entry?.jobType ?? null, entry?.row ?? null));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | string | null>(null);
  const set = (k: keyof Fields) => (e: { target: { value: string; checked?: boolean } }) =>
    setF((prev) => ({ ...prev, [k]: k === 'paused' ? e.target.checked === true : e.target.value }));

  const submit = async (ev: FormEvent) => {
    ev.preventDefault();
    setError(null);
    if (f.source.trim() === '') {
      setError('Name the source.');
      return;
    }
    const body = bodyOf(f, entry?.row ?? null, isNew);
    if (typeof body === 'string') {
      setError(body);
      return;
    }
    setBusy(true);
    try {
      const r = await postJson<{ queue: QueueRow | null }>(`/api/jobs/queues/${encodeURIComponent(f.source.trim())}`, body);
      const name = `${f.source.trim()}${f.jobType.trim() ? ` / ${f.jobType.trim()}` : ' (all job types)'}`;
      onDone(r.queue === null ? `${name}: no setting left, the queue runs unlimited.` : `${name}: settings saved.`);
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, 'internal', String(e)));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="limits-form" onSubmit={(e) => void submit(e)} data-testid="limits-form">
      {isNew ? (
        <div className="form-grid">
          <div className="field">
            <label htmlFor="q-source">Source</label>
            <input id="q-source" className="input mono" value={f.source} onChange={set('source')} placeholder="odoo" data-testid="limits-source" autoFocus />
          </div>
          <div className="field">
            <label htmlFor="q-type">Job type <span className="faint">(empty: the whole source)</span></label>
            <input id="q-type" className="input mono" value={f.jobType} onChange={set('jobType')} placeholder="sync" data-testid="limits-job-type" />
          </div>
          <div className="field field-check">
            <label><input type="checkbox" className="checkbox" checked={f.paused} onChange={set('paused')} data-testid="limits-paused" /> Paused</label>
          </div>
        </div>
      ) : null}
      <div className="form-grid">
        <div className="field">
          <label htmlFor="q-conc" title="at most this many jobs processing at once">Max concurrency</label>
          <input id="q-conc" className="input" inputMode="numeric" value={f.maxConcurrency} onChange={set('maxConcurrency')} placeholder="unlimited" data-testid="limits-max-concurrency" />
        </div>
        <div className="field">
          <label htmlFor="q-key" title="at most this many jobs of one concurrency key processing at once">Max per concurrency key</label>
          <input id="q-key" className="input" inputMode="numeric" value={f.maxConcurrencyPerKey} onChange={set('maxConcurrencyPerKey')} placeholder="unlimited" data-testid="limits-max-per-key" />
        </div>
        <div className="field">
          <label htmlFor="q-rate" title="at most this many claims per window of the period (windows aligned to the epoch)">Rate limit</label>
          <div className="row nowrap-row">
            <input id="q-rate" className="input" style={{ width: 90 }} inputMode="numeric" value={f.rateLimit} onChange={set('rateLimit')} placeholder="unlimited" data-testid="limits-rate-limit" />
            <span className="faint">per</span>
            <input className="input" style={{ width: 110 }} value={f.ratePeriod} onChange={set('ratePeriod')} placeholder="1 minute" aria-label="Rate period" data-testid="limits-rate-period" />
          </div>
        </div>
        <div className="field">
          <label htmlFor="q-max" title="at most this many jobs queued; enqueues over it are refused (HTTP 429)">Max queued</label>
          <input id="q-max" className="input" inputMode="numeric" value={f.maxQueued} onChange={set('maxQueued')} placeholder="unlimited" data-testid="limits-max-queued" />
        </div>
      </div>
      <FormError error={error} testId="limits-error" />
      <div className="row">
        <button type="submit" className="btn btn-primary" disabled={busy} data-testid="limits-save">{busy ? 'Saving…' : 'Save'}</button>
        <button type="button" className="btn btn-ghost" onClick={onCancel}>Cancel</button>
        <span className="faint">Empty means unlimited. Limits are at least 1; the period is at most 7 days.</span>
      </div>
    </form>
  );
}

export function Queues() {
  const [paused, setPaused] = useState(false);
  const [updatedAt, setUpdatedAt] = useState<number | null>(null);
  const cfg = useMemo(() => ({ refreshInterval: paused ? 0 : REFRESH_MS, onSuccess: () => setUpdatedAt(Date.now()) }), [paused]);
  const queues = useApi<{ queues: QueueRow[] }>('/api/jobs/queues', cfg);
  const depth = useApi<{ queueDepth: QueueDepth070[] }>('/api/jobs/queue-depth', cfg);
  const [editing, setEditing] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const [toast, setToast] = useState<string | null>(null);
  const [actionError, setActionError] = useState<ApiError | null>(null);

  const entries = useMemo(() => buildEntries(queues.data?.queues ?? [], depth.data?.queueDepth ?? []), [queues.data, depth.data]);
  const loaded = queues.data !== undefined && depth.data !== undefined;
  const failed = !loaded && (queues.error !== undefined || depth.error !== undefined);
  const pausedCount = entries.filter((e) => e.row?.paused).length;

  const refresh = () => Promise.all([queues.mutate(), depth.mutate()]);

  const toggle = async (e: Entry) => {
    const action = e.row?.paused ? 'resume' : 'pause';
    setBusy(e.key);
    setActionError(null);
    setToast(null);
    try {
      await postJson(`/api/jobs/queues/${encodeURIComponent(e.source)}/${action}`, e.jobType === null ? {} : { jobType: e.jobType });
      const name = `${e.source}${e.jobType === null ? ' (all job types)' : ` / ${e.jobType}`}`;
      setToast(action === 'pause' ? `Paused ${name}: no job of it is claimed until it is resumed; enqueues are still accepted.` : `Resumed ${name}.`);
      await refresh();
    } catch (err) {
      setActionError(err instanceof ApiError ? err : new ApiError(0, 'internal', String(err)));
    } finally {
      setBusy(null);
    }
  };

  const done = async (msg: string) => {
    setToast(msg);
    setEditing(null);
    setCreating(false);
    await refresh();
  };

  return (
    <div className="page" data-testid="queues-page">
      <div className="page-head">
        <div>
          <h1>Queues</h1>
          <div className="sub">
            Flow control per source and job type: pause a queue, or cap its concurrency, claim rate and backlog.
          </div>
        </div>
        <div className="row">
          <RefreshControl intervalMs={REFRESH_MS} paused={paused} onToggle={() => setPaused((p) => !p)} updatedAt={updatedAt} onRefresh={() => void refresh()} busy={queues.isValidating} />
          <button type="button" className="btn btn-primary" onClick={() => { setCreating((c) => !c); setEditing(null); }} data-testid="queue-new">Set limits…</button>
        </div>
      </div>

      {toast ? <div className="toast" style={{ marginBottom: 14 }} data-testid="toast">{toast}</div> : null}
      <ErrorBanner errors={[queues.error, depth.error]} staleSince={loaded ? updatedAt : null} />
      <FormError error={actionError} testId="queue-action-error" />

      {creating ? (
        <section className="panel" style={{ marginBottom: 14 }} data-testid="queue-create">
          <div className="panel-head"><h2>Set limits of a queue</h2><span className="hint">also for a queue without jobs yet</span></div>
          <div className="panel-body">
            <LimitsEditor entry={null} isNew onDone={(m) => void done(m)} onCancel={() => setCreating(false)} />
          </div>
        </section>
      ) : null}

      <section className="panel" data-testid="queues">
        <div className="panel-head">
          <h2>Queues {loaded ? <span className="muted">· {entries.length}{pausedCount ? `, ${pausedCount} paused` : ''}</span> : null}</h2>
          <span className="hint">counts are live; a row without limits is a queue that only has jobs</span>
        </div>
        <div className="panel-body flush table-scroll">
          <table className="table">
            <thead>
              <tr>
                <th>Queue</th>
                <th>State</th>
                <th className="num">Queued</th>
                <th className="num">Processing</th>
                <th className="num" title="processing / max_concurrency">Concurrency</th>
                <th className="num" title="max_concurrency_per_key">Per key</th>
                <th className="num" title="claims in the current window / rate_limit">Rate</th>
                <th className="num" title="queued / max_queued">Backlog</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {failed ? (
                <tr><td colSpan={COLS} className="table-empty">Not loaded: see the error above.</td></tr>
              ) : !loaded ? (
                <SkeletonRows cols={COLS} rows={4} />
              ) : entries.length === 0 ? (
                <tr><td colSpan={COLS}>
                  <Empty title="No queues yet" testId="queues-empty">
                    A queue appears here once it has queued or processing jobs, or limits. Set limits ahead of time with “Set limits…”,
                    or in SQL: <code>SELECT mcp_jobs.set_queue(&apos;odoo&apos;, p_max_concurrency =&gt; 4);</code>
                  </Empty>
                </td></tr>
              ) : (
                entries.map((e) => {
                  const r = e.row;
                  const open = editing === e.key;
                  return (
                    <Fragment key={e.key}>
                      <tr className={open ? 'selected' : undefined} data-testid="queue-row" data-source={e.source} data-job-type={e.jobType ?? ''} data-scope={e.jobType === null ? 'source' : 'queue'} data-paused={r?.paused ? 'true' : 'false'} data-configured={r ? 'true' : 'false'}>
                        <td className="nowrap">
                          <Link className="mono" href={`/jobs?source=${encodeURIComponent(e.source)}${e.jobType !== null ? `&jobType=${encodeURIComponent(e.jobType)}` : ''}`} title="its jobs">
                            {e.source}
                          </Link>
                          {e.jobType === null ? <span className="faint"> · all job types</span> : <span className="muted"> / {e.jobType}</span>}
                        </td>
                        <td className="nowrap"><StatePill e={e} /></td>
                        <td className="num" data-col="queued" data-value={e.queued}>{fmtNumber(e.queued)}</td>
                        <td className="num" data-col="processing" data-value={e.processing}>{fmtNumber(e.processing)}</td>
                        <td className="num nowrap"><Limit used={e.processing} max={r?.max_concurrency ?? null} testId="limit-concurrency" /></td>
                        <td className="num nowrap">{r?.max_concurrency_per_key ? <span data-testid="limit-per-key" data-max={r.max_concurrency_per_key}>{fmtNumber(r.max_concurrency_per_key)}</span> : <span className="faint" data-testid="limit-per-key" data-max="">—</span>}</td>
                        <td className="num nowrap">
                          {r?.rate_limit ? (
                            <span data-testid="limit-rate" data-max={r.rate_limit} data-period={r.rate_period ?? ''} title={r.window_start ? `window from ${fmtTime(r.window_start)}` : undefined}>
                              {fmtNumber(r.claims_in_window)} <span className="faint">/ {fmtNumber(r.rate_limit)} per {fmtPeriod(r.rate_period)}</span>
                            </span>
                          ) : <span className="faint" data-testid="limit-rate" data-max="">—</span>}
                        </td>
                        <td className="num nowrap"><Limit used={e.queued} max={r?.max_queued ?? null} testId="limit-max-queued" /></td>
                        <td className="nowrap actions">
                          {e.sourceRow?.paused && !r?.paused ? null : (
                            <button type="button" className={`btn btn-sm${r?.paused ? ' btn-primary' : ''}`} disabled={busy === e.key} onClick={() => void toggle(e)} data-testid={r?.paused ? 'queue-resume' : 'queue-pause'}>
                              {r?.paused ? 'Resume' : 'Pause'}
                            </button>
                          )}{' '}
                          <button type="button" className="btn btn-sm btn-ghost" onClick={() => { setEditing(open ? null : e.key); setCreating(false); }} aria-expanded={open} data-testid="queue-edit">
                            {open ? 'Close' : r ? 'Edit limits' : 'Set limits'}
                          </button>
                        </td>
                      </tr>
                      {open ? (
                        <tr className="sub-rows">
                          <td colSpan={COLS}>
                            <LimitsEditor entry={e} isNew={false} onDone={(m) => void done(m)} onCancel={() => setEditing(null)} />
                          </td>
                        </tr>
                      ) : null}
                    </Fragment>
                  );
                })
              )}
            </tbody>
          </table>
        </div>
      </section>
      <p className="faint footnote">
        A source&apos;s row (“all job types”) applies to its job types that have no row of their own; its limits are one budget for them together.
        A pause stops claims, not enqueues; a claim already made stands. An enqueue over “max queued” is refused with HTTP 429.
        The limits are exact under concurrency (<span className="mono">mcp_jobs.set_queue</span>).
      </p>
    </div>
  );
}
