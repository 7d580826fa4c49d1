'use client';

import Link from 'next/link';
import { Fragment, useEffect, useMemo, useState, type FormEvent } from 'react';

import { ErrorBanner } from '@/components/ErrorBanner';
import { FormError } from '@/components/FormError';
import { Empty, SkeletonRows } from '@/components/States';
import { StatusPill } from '@/components/StatusPill';
import { ApiError, fetchJson, postJson, useApi } from '@/lib/fetcher';
import { fmtAgo, fmtTime, shortId } from '@/lib/format';
import type { QueueRow, ScheduleRow } from '@/lib/types';

const REFRESH_MS = 10_000;
const COLS = 7;

const PRESETS: { label: string; cron: string }[] = [
  { label: 'every hour', cron: '@hourly' },
  { label: 'every 15 minutes', cron: '*/15 * * * *' },
  { label: 'daily at 03:00', cron: '0 3 * * *' },
  { label: 'weekdays at 08:30', cron: '30 8 * * 1-5' },
  { label: 'Mondays at 06:00', cron: '0 6 * * 1' },
  { label: 'first of the month', cron: '@monthly' },
];

interface Draft {
  name: string;
  cron: string;
  timezone: string;
  source: string;
  jobType: string;
  priority: string;
  payload: string;
}

const EMPTY: Draft = { name: '', cron: '', timezone: 'UTC', source: '', jobType: '', priority: '5', payload: '{}' };

/** The value after the user stopped typing for `ms`. */
function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

function CronPreview({ cron, timezone }: { cron: string; timezone: string }) {
  const c = useDebounced(cron.trim(), 400);
  const tz = useDebounced(timezone.trim(), 400);
  const key = c === '' ? null : `/api/jobs/cron-next?${new URLSearchParams({ cron: c, timezone: tz || 'UTC', count: '3' }).toString()}`;
  const runs = useApi<{ runs: string[] }>(key, { keepPreviousData: false });
  if (key === null) return <div className="faint cron-preview">Five fields (minute hour day month weekday) or @hourly, @daily, @weekly, @monthly, @yearly.</div>;
  if (runs.error) return <div className="cron-preview cron-bad" data-testid="cron-preview-error">{runs.error.message}</div>;
  if (!runs.data) return <div className="faint cron-preview">…</div>;
  return (
    <div className="cron-preview" data-testid="cron-preview">
      <span className="faint">Next runs: </span>
      {runs.data.runs.map((r, i) => (
        <span key={r} className="mono" title={r}>{i > 0 ? ' · ' : ''}{fmtTime(r)}</span>
      ))}
      <span className="faint"> (your local time)</span>
    </div>
  );
}

function CreateForm({ onDone, onCancel, known }: { onDone: (s: ScheduleRow) => void; onCancel: () => void; known: Set<string> }) {
  const [d, setD] = useState<Draft>(EMPTY);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | string | null>(null);
  const [zones, setZones] = useState<string[]>([]);
  useEffect(() => {
    // the browser's list of IANA names, for the suggestions (after mounting: not on the server)
    // eslint-disable-next-line react-hooks/set-state-in-effect
    setZones(typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : []);
  }, []);
  const set = (k: keyof Draft) => (e: { target: { value: string } }) => setD((prev) => ({ ...prev, [k]: e.target.value }));

  const submit = async (ev: FormEvent) => {
    ev.preventDefault();
    setError(null);
    let payload: unknown;
    try {
      payload = d.payload.trim() === '' ? {} : JSON.parse(d.payload);
    } catch (e) {
      setError(`The payload is not JSON: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    if (d.priority.trim() !== '' && !/^-?\d{1,9}$/.test(d.priority.trim())) {
      setError('The priority must be a whole number (0-10).');
      return;
    }
    setBusy(true);
    try {
      const r = await postJson<{ schedule: ScheduleRow }>('/api/jobs/schedules', {
        name: d.name.trim(),
        cron: d.cron.trim(),
        source: d.source.trim(),
        jobType: d.jobType.trim(),
        timezone: d.timezone.trim() || 'UTC',
        priority: d.priority.trim() === '' ? null : Number(d.priority.trim()),
        payload,
      });
      setD(EMPTY);
      onDone(r.schedule);
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, 'internal', String(e)));
    } finally {
      setBusy(false);
    }
  };

  const replacing = d.name.trim() !== '' && known.has(d.name.trim());
  return (
    <form onSubmit={(e) => void submit(e)} data-testid="schedule-form" className="schedule-form">
      <div className="form-grid form-grid-wide">
        <div className="field">
          <label htmlFor="s-name">Name</label>
          <input id="s-name" className="input mono" value={d.name} onChange={set('name')} placeholder="nightly-report" data-testid="schedule-name" autoFocus />
        </div>
        <div className="field">
          <label htmlFor="s-cron">Cron expression</label>
          <div className="row nowrap-row">
            <input id="s-cron" className="input mono" style={{ flex: 1, minWidth: 0 }} value={d.cron} onChange={set('cron')} placeholder="0 3 * * *" data-testid="schedule-cron" />
            <select className="select" style={{ width: 104, flex: 'none' }} value="" onChange={(e) => e.target.value && setD((p) => ({ ...p, cron: e.target.value }))} aria-label="Common schedules" data-testid="schedule-preset">
              <option value="">Presets…</option>
              {PRESETS.map((p) => <option key={p.cron} value={p.cron}>{p.label}</option>)}
            </select>
          </div>
        </div>
        <div className="field">
          <label htmlFor="s-tz">Time zone</label>
          <input id="s-tz" className="input mono" list="s-tz-list" value={d.timezone} onChange={set('timezone')} placeholder="UTC" data-testid="schedule-timezone" />
          <datalist id="s-tz-list">{zones.map((z) => <option key={z} value={z} />)}</datalist>
        </div>
      </div>
      <CronPreview cron={d.cron} timezone={d.timezone} />
      <div className="form-grid form-grid-wide">
        <div className="field">
          <label htmlFor="s-source">Source</label>
          <input id="s-source" className="input mono" value={d.source} onChange={set('source')} placeholder="vercel" data-testid="schedule-source" />
        </div>
        <div className="field">
          <label htmlFor="s-type">Job type</label>
          <input id="s-type" className="input mono" value={d.jobType} onChange={set('jobType')} placeholder="report" data-testid="schedule-job-type" />
        </div>
        <div className="field">
          <label htmlFor="s-prio">Priority <span className="faint">(0-10)</span></label>
          <input id="s-prio" className="input" inputMode="numeric" value={d.priority} onChange={set('priority')} data-testid="schedule-priority" />
        </div>
      </div>
      <div className="field" style={{ marginTop: 10 }}>
        <label htmlFor="s-payload">Payload <span className="faint">(a JSON object)</span></label>
        <textarea id="s-payload" className="textarea mono" value={d.payload} onChange={set('payload')} rows={3} spellCheck={false} data-testid="schedule-payload" />
      </div>
      <FormError error={error} testId="schedule-error" />
      <div className="row" style={{ marginTop: 10 }}>
        <button type="submit" className="btn btn-primary" disabled={busy} data-testid="schedule-save">{busy ? 'Saving…' : replacing ? 'Replace schedule' : 'Create schedule'}</button>
        <button type="button" className="btn btn-ghost" onClick={onCancel}>Cancel</button>
        {replacing ? <span className="faint">A schedule of this name exists: saving replaces it (its next run is recomputed).</span> : null}
      </div>
    </form>
  );
}

export function Schedules() {
  const list = useApi<{ schedules: ScheduleRow[] }>('/api/jobs/schedules', { refreshInterval: REFRESH_MS });
  const queues = useApi<{ queues: QueueRow[] }>('/api/jobs/queues', { refreshInterval: REFRESH_MS });
  const [creating, setCreating] = useState(false);
  const [confirm, setConfirm] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [toast, setToast] = useState<string | null>(null);
  const [actionError, setActionError] = useState<ApiError | null>(null);

  const rows = useMemo(() => list.data?.schedules ?? [], [list.data]);
  const names = useMemo(() => new Set(rows.map((s) => s.name)), [rows]);
  const pausedQueues = useMemo(() => {
    const p = new Set<string>();
    for (const q of queues.data?.queues ?? []) if (q.paused) p.add(`${q.source}\u0000${q.job_type ?? ''}`);
    return p;
  }, [queues.data]);
  const isPaused = (s: ScheduleRow) => pausedQueues.has(`${s.source}\u0000${s.job_type}`) || pausedQueues.has(`${s.source}\u0000`);

  const remove = async (name: string) => {
    setBusy(true);
    setActionError(null);
    setToast(null);
    try {
      await fetchJson(`/api/jobs/schedules/${encodeURIComponent(name)}`, { method: 'DELETE' });
      setToast(`Deleted the schedule ${name}; the jobs it enqueued stay.`);
      setConfirm(null);
      await list.mutate();
    } catch (e) {
      setActionError(e instanceof ApiError ? e : new ApiError(0, 'internal', String(e)));
      setConfirm(null);
      await list.mutate();
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="page" data-testid="schedules-page">
      <div className="page-head">
        <div>
          <h1>Schedules</h1>
          <div className="sub">Recurring jobs: maintenance enqueues each schedule&apos;s job at every occurrence of its cron expression, once.</div>
        </div>
        <div className="row">
          <button type="button" className="btn btn-ghost" onClick={() => void list.mutate()} disabled={list.isValidating}>Refresh</button>
          <button type="button" className="btn btn-primary" onClick={() => setCreating((c) => !c)} data-testid="schedule-new">New schedule</button>
        </div>
      </div>

      {toast ? <div className="toast" style={{ marginBottom: 14 }} data-testid="toast">{toast}</div> : null}
      <ErrorBanner errors={[list.error, queues.error]} />
      <FormError error={actionError} testId="schedule-action-error" />

      {creating ? (
        <section className="panel" style={{ marginBottom: 14 }} data-testid="schedule-create">
          <div className="panel-head"><h2>New schedule</h2><span className="hint">mcp_jobs.schedule_job</span></div>
          <div className="panel-body">
            <CreateForm
              known={names}
              onCancel={() => setCreating(false)}
              onDone={(s) => {
                setCreating(false);
                setToast(`Schedule ${s.name} saved; next run ${fmtTime(s.next_run_at)}.`);
                void list.mutate();
              }}
            />
          </div>
        </section>
      ) : null}

      <section className="panel" data-testid="schedules">
        <div className="panel-head">
          <h2>Schedules {list.data ? <span className="muted">· {rows.length}</span> : null}</h2>
          <span className="hint">times in your local time; hover for the exact moment</span>
        </div>
        <div className="panel-body flush table-scroll">
          <table className="table">
            <thead>
              <tr><th>Name</th><th>When</th><th>Job</th><th>Next run</th><th>Last run</th><th>State</th><th /></tr>
            </thead>
            <tbody>
              {list.data === undefined ? (
                list.error ? <tr><td colSpan={COLS} className="table-empty">Not loaded: see the error above.</td></tr> : <SkeletonRows cols={COLS} rows={3} />
              ) : rows.length === 0 ? (
                <tr><td colSpan={COLS}>
                  <Empty title="No schedules" testId="schedules-empty">
                    Create one with “New schedule”, or in SQL:{' '}
                    <code>SELECT mcp_jobs.schedule_job(&apos;nightly-report&apos;, &apos;0 3 * * *&apos;, &apos;vercel&apos;, &apos;report&apos;);</code>
                  </Empty>
                </td></tr>
              ) : rows.map((s) => (
                <Fragment key={s.name}>
                  <tr data-testid="schedule-row" data-name={s.name}>
                    <td className="mono nowrap">{s.name}</td>
                    <td className="nowrap">
                      <span className="mono" data-testid="schedule-cron-text">{s.cron}</span>
                      {s.timezone !== 'UTC' ? <span className="faint"> · {s.timezone}</span> : <span className="faint"> · UTC</span>}
                    </td>
                    <td className="nowrap">
                      <span className="mono">{s.source}</span><span className="muted"> / {s.job_type}</span>
                      {s.priority !== 5 ? <span className="faint"> · priority {s.priority}</span> : null}
                    </td>
                    <td className="nowrap" title={s.next_run_at} data-testid="schedule-next" data-value={s.next_run_at}>
                      {fmtTime(s.next_run_at)} <span className="faint">{fmtAgo(s.next_run_at)}</span>
                    </td>
                    <td className="nowrap" data-testid="schedule-last" data-value={s.last_run_at ?? ''}>
                      {s.last_run_at ? (
                        <>
                          <span title={s.last_run_at}>{fmtAgo(s.last_run_at)}</span>{' '}
                          {s.last_job_id ? (
                            <Link className="link mono" href={`/jobs/${s.last_job_id}`} title={`job ${s.last_job_id}`}>{shortId(s.last_job_id)}</Link>
                          ) : null}{' '}
                          {s.last_job_status ? <StatusPill status={s.last_job_status} /> : s.last_job_id ? <span className="faint">(pruned)</span> : null}
                        </>
                      ) : <span className="faint">never</span>}
                    </td>
                    <td className="nowrap">
                      {isPaused(s) ? (
                        <Link href="/queues" title="its queue is paused: the jobs are enqueued but not claimed"><span className="pill pill-paused" data-testid="schedule-state" data-state="queue-paused">queue paused</span></Link>
                      ) : <span className="pill pill-running" data-testid="schedule-state" data-state="active">active</span>}
                    </td>
                    <td className="nowrap actions">
                      <button type="button" className="btn btn-sm btn-danger" onClick={() => setConfirm(confirm === s.name ? null : s.name)} data-testid="schedule-delete">Delete</button>
                    </td>
                  </tr>
                  {confirm === s.name ? (
                    <tr className="sub-rows">
                      <td colSpan={COLS}>
                        <div className="confirm" data-testid="schedule-delete-confirm">
                          <span>Delete the schedule <span className="mono">{s.name}</span>? No more jobs are enqueued for it; the jobs it enqueued stay.</span>
                          <span className="spacer" />
                          <button type="button" className="btn btn-sm btn-danger-solid" disabled={busy} onClick={() => void remove(s.name)} data-testid="schedule-delete-yes">Delete</button>
                          <button type="button" className="btn btn-sm btn-ghost" onClick={() => setConfirm(null)}>Keep</button>
                        </div>
                      </td>
                    </tr>
                  ) : null}
                </Fragment>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <p className="faint footnote">
        After downtime only the latest missed occurrence runs. A schedule whose queue is full (max queued) is skipped with a warning and stays due.
        Schedules have no on/off switch: pause the queue to hold their jobs, or delete the schedule.
      </p>
    </div>
  );
}
