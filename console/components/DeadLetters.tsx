'use client';

import Link from 'next/link';
import { useRouter, useSearchParams } from 'next/navigation';
import { Fragment, useEffect, useMemo, useRef, useState } from 'react';
import type { DeadLetter, DeadLetterGroup } from 'mcp-jobs';

import { ErrorBanner } from '@/components/ErrorBanner';
import { Empty, SkeletonRows } from '@/components/States';
import { ApiError, postJson, useApi } from '@/lib/fetcher';
import { fmtAgo, fmtNumber, fmtTime, shortId } from '@/lib/format';

function groupKey(g: DeadLetterGroup): string {
  return `${g.source}\u0000${g.job_type}\u0000${g.error}`;
}

function GroupCheckbox({ ids, selected, onChange, label }: { ids: string[]; selected: Set<string>; onChange: (ids: string[], on: boolean) => void; label: string }) {
  const ref = useRef<HTMLInputElement>(null);
  const n = ids.filter((id) => selected.has(id)).length;
  useEffect(() => {
    if (ref.current) ref.current.indeterminate = n > 0 && n < ids.length;
  }, [n, ids.length]);
  return <input ref={ref} type="checkbox" className="checkbox" checked={n > 0 && n === ids.length} onChange={(e) => onChange(ids, e.target.checked)} aria-label={label} onClick={(e) => e.stopPropagation()} data-testid="group-select" />;
}

function GroupMembers({ group, selected, onToggle }: { group: DeadLetterGroup; selected: Set<string>; onToggle: (ids: string[], on: boolean) => void }) {
  const q = new URLSearchParams({ source: group.source, jobType: group.job_type, limit: '1000' });
  const list = useApi<{ deadLetters: DeadLetter[] }>(`/api/jobs/dead-letters?${q.toString()}`);
  const ids = useMemo(() => new Set(group.ids), [group.ids]);
  const rows = (list.data?.deadLetters ?? []).filter((d) => ids.has(d.id));
  if (list.error) {
    return <tr className="sub-rows"><td colSpan={8}><ErrorBanner errors={[list.error]} /></td></tr>;
  }
  if (!list.data) return <SkeletonRows cols={8} rows={2} />;
  return (
    <>
      {rows.map((d) => (
        <tr key={d.id} className="sub-rows" data-testid="dl-row" data-id={d.id} data-job-id={d.job_id}>
          <td><input type="checkbox" className="checkbox" checked={selected.has(d.id)} onChange={(e) => onToggle([d.id], e.target.checked)} aria-label={`Select dead letter ${d.id}`} data-testid="dl-select" /></td>
          <td className="mono" colSpan={2}>
            <Link className="link" href={`/jobs/${d.job_id}`} title={`job ${d.job_id}`}>job {shortId(d.job_id)}</Link>
            <span className="faint"> · dead letter {shortId(d.id)}</span>
          </td>
          <td className="group-error wrap">{d.last_error}</td>
          <td className="num">{d.attempts} attempt{d.attempts === 1 ? '' : 's'}</td>
          <td className="nowrap" colSpan={2} title={fmtTime(d.failed_at)}>failed {fmtAgo(d.failed_at)}</td>
          <td />
        </tr>
      ))}
      {group.dead_letters > group.ids.length ? (
        <tr className="sub-rows"><td /><td colSpan={7} className="faint">Showing the {group.ids.length} newest of {fmtNumber(group.dead_letters)}; act on them, then the next ones appear.</td></tr>
      ) : null}
    </>
  );
}

export function DeadLetters() {
  const router = useRouter();
  const sp = useSearchParams();
  const source = sp.get('source') || null;
  const open = useApi<{ groups: DeadLetterGroup[] }>('/api/jobs/dead-letters/groups');
  const [showClosed, setShowClosed] = useState(false);
  const closed = useApi<{ groups: DeadLetterGroup[] }>(showClosed ? '/api/jobs/dead-letters/groups?resolved=true' : null);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [toast, setToast] = useState<string | null>(null);
  const [actionError, setActionError] = useState<ApiError | null>(null);

  const groups = useMemo(() => (open.data?.groups ?? []).filter((g) => source === null || g.source === source), [open.data, source]);
  const closedGroups = useMemo(() => (closed.data?.groups ?? []).filter((g) => source === null || g.source === source), [closed.data, source]);
  const total = groups.reduce((n, g) => n + g.dead_letters, 0);

  // keep only selected ids that are still open
  const openIds = useMemo(() => new Set(groups.flatMap((g) => g.ids)), [groups]);
  const selection = [...selected].filter((id) => openIds.has(id));

  const toggle = (ids: string[], on: boolean) => {
    setSelected((prev) => {
      const next = new Set(prev);
      for (const id of ids) {
        if (on) next.add(id);
        else next.delete(id);
      }
      return next;
    });
  };

  const act = async (kind: 'requeue' | 'resolve', ids: string[]) => {
    if (ids.length === 0) return;
    setBusy(true);
    setActionError(null);
    setToast(null);
    try {
      if (kind === 'requeue') {
        const r = await postJson<{ requeued: { id: string; job_id: string }[] }>('/api/jobs/dead-letters/requeue', { ids });
        setToast(`Requeued ${r.requeued.length} dead letter${r.requeued.length === 1 ? '' : 's'}: their jobs are queued again.`);
      } else {
        const r = await postJson<{ resolved: number }>('/api/jobs/dead-letters/resolve', { ids, note: note.trim() || null });
        setToast(`Resolved ${r.resolved} dead letter${r.resolved === 1 ? '' : 's'}${note.trim() ? ` with the note “${note.trim()}”` : ''}.`);
        setNote('');
      }
      toggle(ids, false);
      await Promise.all([open.mutate(), showClosed ? closed.mutate() : Promise.resolve(undefined)]);
    } catch (e) {
      setActionError(e instanceof ApiError ? e : new ApiError(0, 'internal', String(e)));
    } finally {
      setBusy(false);
    }
  };

  const toggleExpand = (k: string) =>
    setExpanded((prev) => {
      const next = new Set(prev);
      if (next.has(k)) next.delete(k);
      else next.add(k);
      return next;
    });

  return (
    <div className="page" data-testid="dead-letters-page">
      <div className="page-head">
        <div>
          <h1>Dead letters</h1>
          <div className="sub">
            Jobs that failed for good, grouped by source, job type and error.{' '}
            {source ? <>Source <span className="mono">{source}</span> · <Link className="link" href="/dead-letters">all sources</Link></> : null}
          </div>
        </div>
        <button type="button" className="btn btn-ghost" onClick={() => void open.mutate()} disabled={open.isValidating}>Refresh</button>
      </div>

      {toast ? <div className="toast" style={{ marginBottom: 14 }} data-testid="toast">{toast}</div> : null}
      <ErrorBanner errors={[open.error, closed.error, actionError]} />

      <section className="panel" data-testid="open-groups">
        <div className="panel-head">
          <h2>Unresolved {open.data ? <span className="muted">· {fmtNumber(total)}</span> : null}</h2>
          <span className="hint">select groups or single dead letters, then requeue or resolve them</span>
        </div>
        <div className="panel-body flush table-scroll">
          <table className="table">
            <thead>
              <tr><th style={{ width: 28 }} /><th>Source</th><th>Job type</th><th>Error</th><th className="num">Dead letters</th><th>First failed</th><th>Last failed</th><th /></tr>
            </thead>
            <tbody>
              {open.data === undefined ? (
                open.error ? <tr><td colSpan={8} className="table-empty">Not loaded: see the error above.</td></tr> : <SkeletonRows cols={8} rows={4} />
              ) : groups.length === 0 ? (
                <tr><td colSpan={8}><Empty title="No unresolved dead letters" testId="dl-empty">Jobs that run out of attempts (or fail with <code>p_retry =&gt; false</code>) land here.</Empty></td></tr>
              ) : (
                groups.map((g) => {
                  const k = groupKey(g);
                  const isOpen = expanded.has(k);
                  return (
                    <Fragment key={k}>
                      <tr className={`clickable${isOpen ? ' selected' : ''}`} onClick={() => toggleExpand(k)} data-testid="dl-group" data-source={g.source} data-job-type={g.job_type} data-count={g.dead_letters}>
                        <td><GroupCheckbox ids={g.ids} selected={selected} onChange={toggle} label={`Select the group ${g.source} ${g.job_type}`} /></td>
                        <td className="mono">{g.source}</td>
                        <td>{g.job_type}</td>
                        <td className="group-error wrap">{g.error}</td>
                        <td className="num">{fmtNumber(g.dead_letters)}</td>
                        <td className="nowrap" title={fmtTime(g.first_failed_at)}>{fmtAgo(g.first_failed_at)}</td>
                        <td className="nowrap" title={fmtTime(g.last_failed_at)}>{fmtAgo(g.last_failed_at)}</td>
                        <td className="nowrap" onClick={(e) => e.stopPropagation()}>
                          <button type="button" className="btn btn-sm" disabled={busy} onClick={() => void act('requeue', g.ids)} data-testid="group-requeue" title={g.dead_letters > g.ids.length ? `Requeues the ${g.ids.length} newest` : undefined}>
                            {g.ids.length === 1 ? 'Requeue' : `Requeue ${g.ids.length}`}
                          </button>{' '}
                          <button type="button" className="btn btn-sm btn-ghost" onClick={() => toggleExpand(k)} aria-expanded={isOpen} data-testid="group-expand">{isOpen ? 'Hide' : 'Show'}</button>
                        </td>
                      </tr>
                      {isOpen ? <GroupMembers group={g} selected={selected} onToggle={toggle} /> : null}
                    </Fragment>
                  );
                })
              )}
            </tbody>
          </table>
        </div>
      </section>

      {selection.length > 0 ? (
        <div className="bulkbar" data-testid="bulkbar">
          <strong>{selection.length} selected</strong>
          <button type="button" className="btn btn-primary" disabled={busy} onClick={() => void act('requeue', selection)} data-testid="bulk-requeue">Requeue</button>
          <span className="faint">or</span>
          <input className="input" style={{ flex: 1, minWidth: 220 }} placeholder="Note for resolving (optional)" value={note} onChange={(e) => setNote(e.target.value)} data-testid="bulk-note" />
          <button type="button" className="btn" disabled={busy} onClick={() => void act('resolve', selection)} data-testid="bulk-resolve">Resolve</button>
          <button type="button" className="btn btn-ghost" onClick={() => setSelected(new Set())}>Clear</button>
        </div>
      ) : null}

      <section className="panel" style={{ marginTop: 14 }} data-testid="closed-groups">
        <div className="panel-head">
          <h2>Closed <span className="muted">· requeued or resolved</span></h2>
          <button type="button" className="btn btn-sm btn-ghost" onClick={() => setShowClosed((s) => !s)} data-testid="toggle-closed">{showClosed ? 'Hide' : 'Show'}</button>
        </div>
        {showClosed ? (
          <div className="panel-body flush table-scroll">
            <table className="table">
              <thead><tr><th>Source</th><th>Job type</th><th>Error</th><th className="num">Dead letters</th><th>Last failed</th></tr></thead>
              <tbody>
                {closed.data === undefined ? <SkeletonRows cols={5} rows={2} /> : closedGroups.length === 0 ? (
                  <tr><td colSpan={5} className="table-empty">None closed yet.</td></tr>
                ) : closedGroups.map((g) => (
                  <tr key={groupKey(g)} className="clickable" onClick={() => router.push(`/jobs?source=${encodeURIComponent(g.source)}&jobType=${encodeURIComponent(g.job_type)}`)}>
                    <td className="mono">{g.source}</td>
                    <td>{g.job_type}</td>
                    <td className="group-error wrap">{g.error}</td>
                    <td className="num">{fmtNumber(g.dead_letters)}</td>
                    <td className="nowrap" title={fmtTime(g.last_failed_at)}>{fmtAgo(g.last_failed_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
      </section>
    </div>
  );
}
