'use client';

import Link from 'next/link';
import { useRouter, useSearchParams } from 'next/navigation';
import { useMemo, useState, type FormEvent } from 'react';
import type { Job, MetricsRow } from 'mcp-jobs';

import { ErrorBanner } from '@/components/ErrorBanner';
import { Empty, SkeletonRows } from '@/components/States';
import { StatusPill } from '@/components/StatusPill';
import { useApi } from '@/lib/fetcher';
import { firstLine, fmtAgo, fmtTime, shortId, UUID_RE } from '@/lib/format';
import { floorHour, HOUR_MS } from '@/lib/metrics';

const STATUSES = ['queued', 'processing', 'completed', 'failed', 'cancelled'] as const;
const PAGE = 50;

/** The page size: ?limit= (1-1000), else 50. */
function pageSize(v: string | null): number {
  const n = v !== null && /^\d{1,4}$/.test(v) ? Number(v) : PAGE;
  return n >= 1 && n <= 1000 ? n : PAGE;
}

export function JobsList() {
  const router = useRouter();
  const sp = useSearchParams();
  const source = sp.get('source') ?? '';
  const jobType = sp.get('jobType') ?? '';
  const status = sp.get('status') ?? '';
  const before = sp.get('before') ?? '';
  const limit = pageSize(sp.get('limit'));
  const limitParam = limit === PAGE ? '' : String(limit);
  const [lookup, setLookup] = useState('');
  const [lookupError, setLookupError] = useState<string | null>(null);
  const [weekFrom] = useState(() => new Date(floorHour(Date.now() - 7 * 24 * HOUR_MS)).toISOString());

  const query = new URLSearchParams();
  if (source) query.set('source', source);
  if (jobType) query.set('jobType', jobType);
  if (status) query.set('status', status);
  query.set('limit', String(limit));
  if (before) query.set('before', before);
  const list = useApi<{ jobs: Job[]; next: string | null }>(`/api/jobs/list?${query.toString()}`);
  const metrics = useApi<{ metrics: MetricsRow[] }>(`/api/jobs/metrics?from=${encodeURIComponent(weekFrom)}`);

  const suggestions = useMemo(() => {
    const sources = new Set<string>();
    const types = new Set<string>();
    metrics.data?.metrics.forEach((r) => {
      sources.add(r.source);
      types.add(r.job_type);
    });
    list.data?.jobs.forEach((j) => {
      sources.add(j.source);
      types.add(j.job_type);
    });
    return { sources: [...sources].sort(), types: [...types].sort() };
  }, [metrics.data, list.data]);

  const go = (params: Record<string, string>) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
    const s = q.toString();
    router.push(s ? `/jobs?${s}` : '/jobs');
  };

  const onFilter = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    go({ source: String(f.get('source') ?? '').trim(), jobType: String(f.get('jobType') ?? '').trim(), status: String(f.get('status') ?? ''), limit: limitParam });
  };

  const onLookup = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const id = lookup.trim();
    if (!UUID_RE.test(id)) {
      setLookupError('Not a job id: ids are uuids like 0190f1c2-7a3b-7c4d-9e5f-0a1b2c3d4e5f.');
      return;
    }
    setLookupError(null);
    router.push(`/jobs/${id.toLowerCase()}`);
  };

  const filtered = Boolean(source || jobType || status);
  const jobs = list.data?.jobs;

  return (
    <div className="page" data-testid="jobs-page">
      <div className="page-head">
        <div>
          <h1>Jobs</h1>
          <div className="sub">Newest first{filtered ? ', filtered' : ''}. The filters are in the URL: share it.</div>
        </div>
        <form className="row" onSubmit={onLookup} data-testid="lookup-form">
          <input className="input mono" style={{ width: 330 }} placeholder="Look up a job by id" value={lookup} onChange={(e) => setLookup(e.target.value)} aria-label="Job id" data-testid="lookup-input" />
          <button type="submit" className="btn">Open</button>
        </form>
      </div>
      {lookupError ? <div className="banner banner-warning" data-testid="lookup-error"><div className="banner-title">{lookupError}</div></div> : null}

      <ErrorBanner errors={[list.error]} />

      <section className="panel">
        <form key={`${source}|${jobType}|${status}`} className="panel-head" onSubmit={onFilter} data-testid="filters">
          <div className="row">
            <input className="input" name="source" placeholder="Source" defaultValue={source} list="sources" aria-label="Source" data-testid="filter-source" />
            <input className="input" name="jobType" placeholder="Job type" defaultValue={jobType} list="job-types" aria-label="Job type" data-testid="filter-job-type" />
            <select className="select" name="status" defaultValue={status} aria-label="Status" data-testid="filter-status">
              <option value="">Any status</option>
              {STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
            </select>
            <button type="submit" className="btn btn-primary" data-testid="filter-apply">Filter</button>
            {filtered ? <button type="button" className="btn btn-ghost" onClick={() => go({})}>Clear</button> : null}
            <datalist id="sources">{suggestions.sources.map((s) => <option key={s} value={s} />)}</datalist>
            <datalist id="job-types">{suggestions.types.map((s) => <option key={s} value={s} />)}</datalist>
          </div>
          <button type="button" className="btn btn-ghost" onClick={() => void list.mutate()} disabled={list.isValidating}>
            {list.isValidating ? 'Refreshing…' : 'Refresh'}
          </button>
        </form>
        <div className="table-scroll">
          <table className="table" data-testid="jobs-table">
            <thead>
              <tr>
                <th>Job</th><th>Source</th><th>Job type</th><th>Status</th><th className="num">Attempts</th><th className="num">Priority</th><th>Created</th><th>Updated</th><th>Last error</th>
              </tr>
            </thead>
            <tbody>
              {jobs === undefined ? (
                list.error ? <tr><td colSpan={9} className="table-empty">Not loaded: see the error above.</td></tr> : <SkeletonRows cols={9} rows={8} />
              ) : jobs.length === 0 ? (
                <tr>
                  <td colSpan={9}>
                    {filtered || before ? (
                      <Empty title="No jobs match these filters" testId="jobs-empty">
                        <button type="button" className="btn" onClick={() => go({})}>Clear the filters</button>
                      </Empty>
                    ) : (
                      <Empty title="No jobs yet" testId="jobs-empty">
                        Jobs appear here once an app enqueues them (<code>POST /api/jobs/enqueue</code> or <code>rpc/enqueue_job</code>).
                      </Empty>
                    )}
                  </td>
                </tr>
              ) : (
                jobs.map((j) => (
                  <tr key={j.id} className="clickable" onClick={() => router.push(`/jobs/${j.id}`)} data-testid="job-row" data-id={j.id} data-status={j.status} data-source={j.source}>
                    <td className="mono nowrap"><Link href={`/jobs/${j.id}`} title={j.id} onClick={(e) => e.stopPropagation()}>{shortId(j.id)}</Link></td>
                    <td className="mono">{j.source}</td>
                    <td className="nowrap">{j.job_type}</td>
                    <td><StatusPill status={j.status} /></td>
                    <td className="num">{j.attempts}/{j.max_attempts}</td>
                    <td className="num">{j.priority}</td>
                    <td className="nowrap" title={fmtTime(j.created_at)}>{fmtAgo(j.created_at)}</td>
                    <td className="nowrap" title={fmtTime(j.updated_at)}>{fmtAgo(j.updated_at)}</td>
                    <td className="error-text" title={j.last_error ?? ''}>{firstLine(j.last_error)}</td>
                  </tr>
                ))
              )}
            </tbody>
          </table>
        </div>
        <div className="pager">
          <span>{jobs ? `${jobs.length} job${jobs.length === 1 ? '' : 's'} on this page` : ' '}</span>
          <div className="row">
            {before ? <button type="button" className="btn btn-sm" onClick={() => go({ source, jobType, status, limit: limitParam })} data-testid="first-page">Newest</button> : null}
            <button type="button" className="btn btn-sm" disabled={!list.data?.next} onClick={() => list.data?.next && go({ source, jobType, status, limit: limitParam, before: list.data.next })} data-testid="next-page">
              Older →
            </button>
          </div>
        </div>
      </section>
    </div>
  );
}
