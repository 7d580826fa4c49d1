'use client';

import Link from 'next/link';
import { useState } from 'react';
import type { DeadLetter, JobDetail, JobEvent } from 'mcp-jobs';

import { ErrorBanner } from '@/components/ErrorBanner';
import { JsonView } from '@/components/JsonView';
import { Empty, Loading } from '@/components/States';
import { StatusPill } from '@/components/StatusPill';
import { ApiError, fetchJson, postJson, useApi } from '@/lib/fetcher';
import { fmtAgo, fmtDuration, fmtTime, shortId, UUID_RE } from '@/lib/format';

const EVENT_COLORS: Record<string, string> = {
  enqueued: 'var(--blue)',
  started: 'var(--amber)',
  progress: 'var(--text-muted)',
  completed: 'var(--accent)',
  failed: 'var(--red)',
  retry_scheduled: 'var(--amber)',
  dead_lettered: 'var(--violet)',
  cancelled: 'var(--text-faint)',
  lease_expired: 'var(--red)',
  requeued: 'var(--violet)',
  resolved: 'var(--text-muted)',
};

function eventSummary(e: JobEvent): string {
  const d = e.data ?? {};
  const parts: string[] = [];
  for (const [k, v] of Object.entries(d)) {
    if (k === 'duration_ms' && typeof v === 'number') parts.push(`${k}=${fmtDuration(v)}`);
    else parts.push(`${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  }
  return parts.join('  ');
}

function DeadLetterRow({ dl, onDone }: { dl: DeadLetter; onDone: (msg: string) => void }) {
  const [mode, setMode] = useState<'idle' | 'resolve'>('idle');
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const act = async (kind: 'requeue' | 'resolve') => {
    setBusy(true);
    setError(null);
    try {
      if (kind === 'requeue') await postJson('/api/jobs/dead-letters/requeue', { ids: [dl.id] });
      else await postJson('/api/jobs/dead-letters/resolve', { ids: [dl.id], note: note.trim() || null });
      setMode('idle');
      onDone(kind === 'requeue' ? 'Dead letter requeued: the job is queued again.' : 'Dead letter resolved.');
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, 'internal', String(e)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <tr data-testid="job-dead-letter" data-id={dl.id} data-resolved={String(dl.resolved)}>
        <td className="mono nowrap" title={dl.id}>{shortId(dl.id)}</td>
        <td className="nowrap" title={fmtTime(dl.failed_at)}>{fmtAgo(dl.failed_at)}</td>
        <td className="num">{dl.attempts}</td>
        <td className="wrap group-error">{dl.last_error}</td>
        <td>
          {dl.resolved ? (
            <span title={dl.resolution_note ?? ''}>
              <span className={`pill pill-${dl.resolution ?? 'resolved'}`}>{dl.resolution}</span>{' '}
              <span className="faint">{fmtAgo(dl.resolved_at)}</span>
              {dl.resolution_note ? <div className="muted">“{dl.resolution_note}”</div> : null}
            </span>
          ) : (
            <div className="row">
              <button type="button" className="btn btn-sm btn-primary" disabled={busy} onClick={() => void act('requeue')} data-testid="dl-requeue">Requeue</button>
              <button type="button" className="btn btn-sm" disabled={busy} onClick={() => setMode(mode === 'resolve' ? 'idle' : 'resolve')} data-testid="dl-resolve-open">Resolve…</button>
            </div>
          )}
        </td>
      </tr>
      {mode === 'resolve' || error ? (
        <tr className="sub-rows">
          <td colSpan={5}>
            {error ? <ErrorBanner errors={[error]} /> : null}
            {mode === 'resolve' ? (
              <div className="row">
                <input className="input" style={{ flex: 1 }} placeholder="Note (why it is resolved without running again)" value={note} onChange={(e) => setNote(e.target.value)} data-testid="dl-note" />
                <button type="button" className="btn btn-sm btn-primary" disabled={busy} onClick={() => void act('resolve')} data-testid="dl-resolve">Resolve</button>
                <button type="button" className="btn btn-sm btn-ghost" onClick={() => setMode('idle')}>Cancel</button>
              </div>
            ) : null}
          </td>
        </tr>
      ) : null}
    </>
  );
}

export function JobView({ id }: { id: string }) {
  const valid = UUID_RE.test(id);
  const job = useApi<{ job: JobDetail }>(valid ? `/api/jobs/${id}` : null, {
    refreshInterval: (d) => (d && (d.job.status === 'queued' || d.job.status === 'processing') ? 5000 : 0),
  });
  const [confirming, setConfirming] = useState(false);
  const [cancelling, setCancelling] = useState(false);
  const [actionError, setActionError] = useState<ApiError | null>(null);
  const [toast, setToast] = useState<string | null>(null);

  const cancel = async () => {
    setCancelling(true);
    setActionError(null);
    try {
      await fetchJson(`/api/jobs/${id}`, { method: 'DELETE' });
      setConfirming(false);
      setToast('Job cancelled.');
      await job.mutate();
    } catch (e) {
      setActionError(e instanceof ApiError ? e : new ApiError(0, 'internal', String(e)));
      setConfirming(false);
      await job.mutate();
    } finally {
      setCancelling(false);
    }
  };

  const crumbs = (
    <div className="crumbs"><Link href="/jobs">Jobs</Link> / <span className="mono">{id}</span></div>
  );

  if (!valid) {
    return (
      <div className="page">
        {crumbs}
        <section className="panel"><Empty title="Not a job id" testId="job-invalid">Job ids are uuids like 0190f1c2-7a3b-7c4d-9e5f-0a1b2c3d4e5f.</Empty></section>
      </div>
    );
  }
  if (job.error?.status === 404 && !job.data) {
    return (
      <div className="page">
        {crumbs}
        <section className="panel">
          <Empty title="No job with this id" testId="job-not-found">
            It never existed, or it finished longer ago than <code>mcp_jobs.retention</code> and was pruned. <Link className="link" href="/jobs">Back to the jobs</Link>
          </Empty>
        </section>
      </div>
    );
  }
  const j = job.data?.job;
  return (
    <div className="page" data-testid="job-page" data-status={j?.status ?? ''}>
      {crumbs}
      <div className="page-head">
        <div>
          <div className="row">
            <h1>{j ? `${j.job_type}` : 'Job'}</h1>
            {j ? <StatusPill status={j.status} /> : null}
          </div>
          <div className="sub">{j ? <>from <span className="mono">{j.source}</span> · enqueued {fmtAgo(j.created_at)} · <span className="mono">{j.id}</span></> : ' '}</div>
        </div>
        <div className="row">
          {j?.status === 'queued' ? (
            confirming ? (
              <div className="confirm" data-testid="cancel-confirm">
                <span>Cancel this job? It will not run.</span>
                <button type="button" className="btn btn-sm btn-danger-solid" disabled={cancelling} onClick={() => void cancel()} data-testid="cancel-confirm-yes">
                  {cancelling ? 'Cancelling…' : 'Cancel job'}
                </button>
                <button type="button" className="btn btn-sm btn-ghost" onClick={() => setConfirming(false)}>Keep it</button>
              </div>
            ) : (
              <button type="button" className="btn btn-danger" onClick={() => setConfirming(true)} data-testid="cancel-job">Cancel</button>
            )
          ) : null}
          <button type="button" className="btn btn-ghost" onClick={() => void job.mutate()} disabled={job.isValidating}>Refresh</button>
        </div>
      </div>

      {toast ? <div className="toast" style={{ marginBottom: 14 }} data-testid="toast">{toast}</div> : null}
      <ErrorBanner errors={[job.error, actionError]} />

      {!j ? (
        job.error ? null : <section className="panel"><Loading /></section>
      ) : (
        <div className="stack">
          <div className="grid grid-2">
            <section className="panel">
              <div className="panel-head"><h2>Details</h2></div>
              <div className="panel-body">
                <dl className="kv" data-testid="job-details">
                  <dt>Status</dt><dd><StatusPill status={j.status} /></dd>
                  <dt>Attempts</dt><dd>{j.attempts} of {j.max_attempts}</dd>
                  <dt>Priority</dt><dd>{j.priority}</dd>
                  <dt>Run at</dt><dd>{fmtTime(j.run_at)} <span className="faint">({fmtAgo(j.run_at)})</span></dd>
                  <dt>Created</dt><dd>{fmtTime(j.created_at)}</dd>
                  <dt>Started</dt><dd>{fmtTime(j.started_at)}</dd>
                  <dt>Finished</dt><dd>{fmtTime(j.finished_at)}</dd>
                  <dt>Updated</dt><dd>{fmtTime(j.updated_at)}</dd>
                  <dt>Worker</dt><dd className="mono">{j.worker_id ?? '—'}</dd>
                  <dt>Lease expires</dt><dd>{j.lease_expires_at ? `${fmtTime(j.lease_expires_at)} (${fmtAgo(j.lease_expires_at)})` : '—'}</dd>
                  <dt>Idempotency key</dt><dd className="mono">{j.idempotency_key ?? '—'}</dd>
                  <dt>Last error</dt><dd className="group-error">{j.last_error ?? <span className="muted">—</span>}</dd>
                </dl>
              </div>
            </section>
            <div className="stack">
              <section className="panel">
                <div className="panel-head"><h2>Payload</h2></div>
                <JsonView value={j.payload} testId="job-payload" />
              </section>
              <section className="panel">
                <div className="panel-head"><h2>Result</h2></div>
                {j.result === null ? <div className="panel-body muted">No result{j.status === 'completed' ? ' (completed without one)' : ' yet'}.</div> : <JsonView value={j.result} testId="job-result" />}
              </section>
            </div>
          </div>

          <section className="panel" data-testid="job-runs">
            <div className="panel-head"><h2>Runs</h2><span className="hint">one per attempt</span></div>
            <div className="panel-body flush table-scroll">
              <table className="table">
                <thead><tr><th className="num">Attempt</th><th>Run</th><th>Worker</th><th>Started</th><th className="num">Duration</th><th>Outcome</th><th>Error</th></tr></thead>
                <tbody>
                  {j.runs.length === 0 ? (
                    <tr><td colSpan={7} className="table-empty">Not started yet.</td></tr>
                  ) : j.runs.map((r) => (
                    <tr key={r.id} data-testid="run-row" data-outcome={r.outcome ?? 'running'}>
                      <td className="num">{r.attempt}</td>
                      <td className="mono" title={r.id}>{shortId(r.id)}</td>
                      <td className="mono">{r.worker_id ?? '—'}</td>
                      <td className="nowrap">{fmtTime(r.started_at)}</td>
                      <td className="num">{r.duration_ms === null ? 'running' : fmtDuration(r.duration_ms)}</td>
                      <td>{r.outcome ? <StatusPill status={r.outcome === 'lease_expired' ? 'failed' : r.outcome} /> : <StatusPill status="processing" />}{r.outcome === 'lease_expired' ? <span className="faint"> lease expired</span> : null}</td>
                      <td className="wrap group-error">{r.error ?? ''}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>

          <div className="grid grid-2">
            <section className="panel" data-testid="job-events">
              <div className="panel-head"><h2>Events</h2><span className="hint">{j.events.length} in order</span></div>
              <ol className="timeline">
                {j.events.map((e) => (
                  <li key={e.id} data-testid="event" data-type={e.event_type}>
                    <span className="tl-dot" style={{ background: EVENT_COLORS[e.event_type] ?? 'var(--text-muted)' }} />
                    <div className="tl-head">
                      <span className="tl-type">{e.event_type.replace(/_/g, ' ')}</span>
                      <span className="faint" title={e.created_at}>{fmtTime(e.created_at)}</span>
                      {e.run_id ? <span className="faint mono" title={e.run_id}>run {shortId(e.run_id)}</span> : null}
                    </div>
                    {Object.keys(e.data ?? {}).length ? <div className="tl-data">{eventSummary(e)}</div> : null}
                  </li>
                ))}
              </ol>
            </section>
            <section className="panel" data-testid="job-dead-letters">
              <div className="panel-head"><h2>Dead letters</h2><Link className="link" href="/dead-letters">All dead letters</Link></div>
              <div className="panel-body flush table-scroll">
                <table className="table">
                  <thead><tr><th>Id</th><th>Failed</th><th className="num">Attempts</th><th>Error</th><th></th></tr></thead>
                  <tbody>
                    {j.dead_letters.length === 0 ? (
                      <tr><td colSpan={5} className="table-empty">This job was never dead-lettered.</td></tr>
                    ) : j.dead_letters.map((dl) => (
                      <DeadLetterRow key={dl.id} dl={dl} onDone={(m) => { setToast(m); void job.mutate(); }} />
                    ))}
                  </tbody>
                </table>
              </div>
            </section>
          </div>
        </div>
      )}
    </div>
  );
}
