'use client';

import Link from 'next/link';
import { usePathname, useRouter, useSearchParams } from 'next/navigation';
import { useCallback, useEffect, useMemo, useState } from 'react';
import { useSWRConfig } from 'swr';
import type { Alert, DeadLetterGroup, JobStats, MetricsRow } from 'mcp-jobs';

import { ErrorBanner } from '@/components/ErrorBanner';
import { MetricsCharts } from '@/components/MetricsCharts';
import { RefreshControl } from '@/components/RefreshControl';
import { Empty, SkeletonRows } from '@/components/States';
import { useApi } from '@/lib/fetcher';
import { fmtAgo, fmtDuration, fmtNumber, fmtPct, fmtTime } from '@/lib/format';
import { chartPoints, floorHour, HOUR_MS, successTable } from '@/lib/metrics';
import type { JobStats070, QueueDepth070 } from '@/lib/types';

export const REFRESH_MS = 10_000;
const PAUSE_KEY = 'mcp-jobs.overview.paused';

const STAT_TILES: { key: keyof JobStats; label: string; color: string; href: string }[] = [
  { key: 'queued', label: 'Queued', color: 'var(--blue)', href: '/jobs?status=queued' },
  { key: 'processing', label: 'Processing', color: 'var(--amber)', href: '/jobs?status=processing' },
  { key: 'completed', label: 'Completed', color: 'var(--accent)', href: '/jobs?status=completed' },
  { key: 'failed', label: 'Failed', color: 'var(--red)', href: '/jobs?status=failed' },
  { key: 'cancelled', label: 'Cancelled', color: 'var(--text-faint)', href: '/jobs?status=cancelled' },
  { key: 'total', label: 'Total jobs', color: 'var(--text-muted)', href: '/jobs' },
  { key: 'dead_letter_unresolved', label: 'Dead letters', color: 'var(--violet)', href: '/dead-letters' },
];

/** The design's thresholds: below 80 % critical, below 90 % warning. */
function rateColor(r: number | null): string | undefined {
  if (r === null) return undefined;
  if (r < 0.8) return 'var(--red)';
  if (r < 0.9) return 'var(--amber)';
  return 'var(--accent)';
}

function usePaused(): [boolean, () => void] {
  const [paused, setPaused] = useState(false);
  useEffect(() => {
    // the saved choice is read after mounting (the server renders "running")
    // eslint-disable-next-line react-hooks/set-state-in-effect
    if (window.localStorage.getItem(PAUSE_KEY) === '1') setPaused(true);
  }, []);
  const toggle = useCallback(() => {
    setPaused((p) => {
      window.localStorage.setItem(PAUSE_KEY, p ? '0' : '1');
      return !p;
    });
  }, []);
  return [paused, toggle];
}

export function Overview({ tokenRequired }: { tokenRequired: boolean }) {
  const router = useRouter();
  const pathname = usePathname();
  const sp = useSearchParams();
  const source = sp.get('source') || null;
  const range: '24h' | '7d' = sp.get('range') === '7d' ? '7d' : '24h';
  const [paused, togglePaused] = usePaused();
  const [updatedAt, setUpdatedAt] = useState<number | null>(null);
  const [now, setNow] = useState<number>(() => Date.now());
  const [origin, setOrigin] = useState('http://localhost:3000');
  const { mutate } = useSWRConfig();

  useEffect(() => {
    // eslint-disable-next-line react-hooks/set-state-in-effect
    setOrigin(window.location.origin);
  }, []);

  const cfg = useMemo(
    () => ({
      refreshInterval: paused ? 0 : REFRESH_MS,
      onSuccess: () => {
        const t = Date.now();
        setUpdatedAt(t);
        setNow(t);
      },
    }),
    [paused],
  );

  // one metrics read for the charts (either range, any source) and the 7-day table; its start moves
  // with the hour, so the key stays the same between refreshes
  const weekFrom = floorHour(now - 7 * 24 * HOUR_MS);
  const stats = useApi<{ stats: JobStats070 }>(`/api/jobs/stats${source ? `?source=${encodeURIComponent(source)}` : ''}`, cfg);
  const depth = useApi<{ queueDepth: QueueDepth070[] }>('/api/jobs/queue-depth', cfg);
  const alerts = useApi<{ alerts: Alert[] }>('/api/jobs/alerts', cfg);
  const groups = useApi<{ groups: DeadLetterGroup[] }>('/api/jobs/dead-letters/groups', cfg);
  const metrics = useApi<{ metrics: MetricsRow[] }>(`/api/jobs/metrics?from=${encodeURIComponent(new Date(weekFrom).toISOString())}`, cfg);

  const setParam = (k: string, v: string | null) => {
    // from the address bar, not this render's params: two quick changes must both stay
    const next = new URLSearchParams(window.location.search);
    if (v === null || v === '') next.delete(k);
    else next.set(k, v);
    const q = next.toString();
    router.replace(q ? `${pathname}?${q}` : pathname, { scroll: false });
  };

  const sources = useMemo(() => {
    const s = new Set<string>();
    depth.data?.queueDepth.forEach((r) => s.add(r.source));
    metrics.data?.metrics.forEach((r) => s.add(r.source));
    groups.data?.groups.forEach((r) => s.add(r.source));
    alerts.data?.alerts.forEach((r) => s.add(r.source));
    if (source) s.add(source);
    return [...s].sort();
  }, [depth.data, metrics.data, groups.data, alerts.data, source]);

  const rows = useMemo(() => metrics.data?.metrics ?? [], [metrics.data]);
  const chart = useMemo(() => chartPoints(rows, range === '24h' ? now - 24 * HOUR_MS : now - 7 * 24 * HOUR_MS, now, source), [rows, range, now, source]);
  const success = useMemo(() => successTable(rows.filter((r) => source === null || r.source === source)), [rows, source]);
  const dlq = useMemo(() => {
    const m = new Map<string, { source: string; jobType: string; count: number; last: string }>();
    for (const g of groups.data?.groups ?? []) {
      if (source !== null && g.source !== source) continue;
      const k = `${g.source}\u0000${g.job_type}`;
      const e = m.get(k);
      if (e) {
        e.count += g.dead_letters;
        if (g.last_failed_at > e.last) e.last = g.last_failed_at;
      } else m.set(k, { source: g.source, jobType: g.job_type, count: g.dead_letters, last: g.last_failed_at });
    }
    return [...m.values()].sort((a, b) => b.count - a.count || a.source.localeCompare(b.source));
  }, [groups.data, source]);
  const depthRows = useMemo(
    () => (depth.data?.queueDepth ?? []).filter((r) => source === null || r.source === source).sort((a, b) => a.source.localeCompare(b.source) || a.job_type.localeCompare(b.job_type)),
    [depth.data, source],
  );
  const alertRows = useMemo(() => (alerts.data?.alerts ?? []).filter((a) => source === null || a.source === source), [alerts.data, source]);

  const errors = [stats.error, depth.error, alerts.error, groups.error, metrics.error];
  // a read that failed before it ever loaded: its place says so instead of loading forever
  const failed = (h: { data: unknown; error: unknown }) => h.data === undefined && h.error !== undefined;
  const NOT_LOADED = 'Not loaded: see the error above.';
  const hasData = stats.data !== undefined;
  const fresh = stats.data !== undefined && stats.data.stats.total === 0 && (groups.data?.groups.length ?? 0) === 0 && source === null;
  const noMetrics =
    metrics.data && rows.length === 0
      ? stats.data && stats.data.stats.total > 0
        ? 'No hourly metrics yet. mcp_jobs.run_maintenance() (the background worker or pg_cron) aggregates them every round.'
        : 'No activity in the last 7 days.'
      : null;

  return (
    <div className="page" data-testid="overview">
      <div className="page-head">
        <div>
          <h1>Overview</h1>
          <div className="sub">Queue depth, alerts and hourly metrics{source ? ` of ${source}` : ' of every source'}</div>
        </div>
        <div className="row">
          <select className="select" value={source ?? ''} onChange={(e) => setParam('source', e.target.value || null)} aria-label="Source" data-testid="source-select">
            <option value="">All sources</option>
            {sources.map((s) => (
              <option key={s} value={s}>{s}</option>
            ))}
          </select>
          <div className="segmented" role="group" aria-label="Range">
            <button type="button" className={range === '24h' ? 'on' : ''} onClick={() => setParam('range', null)} data-testid="range-24h">24 h</button>
            <button type="button" className={range === '7d' ? 'on' : ''} onClick={() => setParam('range', '7d')} data-testid="range-7d">7 days</button>
          </div>
          <RefreshControl intervalMs={REFRESH_MS} paused={paused} onToggle={togglePaused} updatedAt={updatedAt} onRefresh={() => void mutate(() => true)} />
        </div>
      </div>

      <ErrorBanner errors={errors} staleSince={hasData ? updatedAt : null} />

      <div className="stack">
        <section className="panel" data-testid="alerts">
          <div className="panel-head">
            <h2>Alerts</h2>
            <span className="hint">thresholds: the mcp_jobs.alert_* settings</span>
          </div>
          {failed(alerts) ? (
            <div className="all-clear">{NOT_LOADED}</div>
          ) : alerts.data === undefined ? (
            <div className="panel-body"><div className="skeleton" style={{ width: '50%' }} /></div>
          ) : alertRows.length === 0 ? (
            <div className="all-clear" data-testid="alerts-clear"><span className="dot" style={{ background: 'var(--accent)' }} /> No alerts: every source is within its thresholds.</div>
          ) : (
            <div>
              {alertRows.map((a) => (
                <div key={`${a.source}|${a.metric}`} className={`alert-row ${a.level}`} data-testid="alert" data-level={a.level} data-metric={a.metric} data-source={a.source}>
                  <span className={`pill pill-${a.level}`}>{a.level}</span>
                  <span className="mono">{a.source}</span>
                  <span>{a.message.replace(/^(critical|warning): /, '')}</span>
                </div>
              ))}
            </div>
          )}
        </section>

        <div className="tiles" data-testid="stats">
          {STAT_TILES.map((t) => (
            <Link key={t.key} href={t.key === 'dead_letter_unresolved' ? '/dead-letters' : source ? `${t.href}${t.href.includes('?') ? '&' : '?'}source=${encodeURIComponent(source)}` : t.href} className="tile" data-testid={`stat-${t.key}`}>
              <div className="tile-label"><span className="dot" style={{ background: t.color }} />{t.label}</div>
              <div className="tile-value" data-value={stats.data ? String(stats.data.stats[t.key]) : ''}>
                {stats.data ? fmtNumber(stats.data.stats[t.key] as number) : failed(stats) ? <span className="faint">—</span> : <div className="skeleton" style={{ width: '50%', height: 20, marginTop: 4 }} />}
              </div>
            </Link>
          ))}
        </div>

        {stats.data && ((stats.data.stats.queues_paused ?? 0) > 0 || (stats.data.stats.queues_limited ?? 0) > 0) ? (
          <Link href="/queues" className="panel flow-summary" data-testid="flow-summary" data-paused={stats.data.stats.queues_paused ?? 0} data-limited={stats.data.stats.queues_limited ?? 0}>
            <span className="dot" style={{ background: (stats.data.stats.queues_paused ?? 0) > 0 ? 'var(--amber)' : 'var(--violet)' }} />
            <span>
              Flow control{source ? ` of ${source}` : ''}: {fmtNumber(stats.data.stats.queues_paused ?? 0)} paused, {fmtNumber(stats.data.stats.queues_limited ?? 0)} limited
              <span className="faint"> (rows of mcp_jobs.queues)</span>
            </span>
            <span className="spacer" />
            <span className="link">Queues →</span>
          </Link>
        ) : null}

        {fresh ? (
          <section className="panel">
            <Empty title="No jobs yet" testId="fresh-install">
              <div>The queue is empty. Enqueue a first job through this console&apos;s API (the MCP Jobs design&apos;s route):</div>
              <pre>{`curl -X POST "${origin}/api/jobs/enqueue" \\${tokenRequired ? '\n  -H "Authorization: Bearer $MCP_JOBS_API_TOKEN" \\' : ''}
  -H "Content-Type: application/json" \\
  -d '{"source": "test", "jobType": "discovery", "payload": {"test": true}}'`}</pre>
            </Empty>
          </section>
        ) : null}

        {fresh ? null : <MetricsCharts points={chart.points} range={range} series={chart.series} noMetrics={failed(metrics) ? NOT_LOADED : metrics.data === undefined ? 'Loading…' : noMetrics} />}

        <div className="grid grid-3">
          <section className="panel" data-testid="queue-depth">
            <div className="panel-head"><h2>Queue depth</h2><span className="hint">queued and processing, by source</span></div>
            <div className="panel-body flush table-scroll">
              <table className="table">
                <thead>
                  <tr><th>Source</th><th>Job type</th><th className="num" title="queued jobs (of which due now: claimable now)">Queued</th><th className="num">Processing</th><th className="num" title="age of the oldest queued job">Oldest</th></tr>
                </thead>
                <tbody>
                  {failed(depth) ? (
                    <tr><td colSpan={5} className="table-empty">{NOT_LOADED}</td></tr>
                  ) : depth.data === undefined ? <SkeletonRows cols={5} rows={3} /> : depthRows.length === 0 ? (
                    <tr><td colSpan={5} className="table-empty">Nothing queued or processing.</td></tr>
                  ) : depthRows.map((r) => (
                    <tr key={`${r.source}|${r.job_type}`} className="clickable" onClick={() => router.push(`/jobs?source=${encodeURIComponent(r.source)}&jobType=${encodeURIComponent(r.job_type)}`)} data-testid="depth-row" data-source={r.source} data-job-type={r.job_type}>
                      <td className="mono nowrap">{r.source}</td>
                      <td className="nowrap">
                        {r.job_type}
                        {r.paused ? <> <span className="pill pill-paused" data-testid="depth-held" title="paused by flow control (Queues)">paused</span></>
                          : r.held ? <> <span className="pill pill-held" data-testid="depth-held" title="held back by flow control (Queues)">{r.held.replace(/_/g, ' ')}</span></> : null}
                      </td>
                      <td className="num nowrap" data-col="queued" data-value={r.queued}>
                        {fmtNumber(r.queued)}
                        {r.due_now !== r.queued ? <span className="faint"> ({fmtNumber(r.due_now)} due)</span> : null}
                      </td>
                      <td className="num" data-col="processing" data-value={r.processing}>{fmtNumber(r.processing)}</td>
                      <td className="num nowrap" title={fmtTime(r.oldest_queued_at)}>{r.oldest_queued_age_seconds === null ? '—' : fmtDuration(r.oldest_queued_age_seconds * 1000)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>

          <section className="panel" data-testid="success">
            <div className="panel-head"><h2>Success, last 7 days</h2><span className="hint">attempts, from hourly metrics</span></div>
            <div className="panel-body flush table-scroll">
              <table className="table">
                <thead>
                  <tr><th>Source</th><th>Job type</th><th className="num">Completed</th><th className="num">Failed</th><th className="num">Rate</th></tr>
                </thead>
                <tbody>
                  {failed(metrics) ? (
                    <tr><td colSpan={5} className="table-empty">{NOT_LOADED}</td></tr>
                  ) : metrics.data === undefined ? <SkeletonRows cols={5} rows={3} /> : success.length === 0 ? (
                    <tr><td colSpan={5} className="table-empty">{noMetrics ?? 'No attempt ended in the last 7 days.'}</td></tr>
                  ) : success.map((r) => (
                    <tr key={`${r.source}|${r.jobType}`} data-testid="success-row" data-source={r.source} data-job-type={r.jobType}>
                      <td className="mono nowrap">{r.source}</td>
                      <td className="nowrap">{r.jobType}</td>
                      <td className="num" data-col="completed">{fmtNumber(r.completed)}</td>
                      <td className="num" data-col="failed">{fmtNumber(r.failed + r.leaseExpired)}</td>
                      <td className="num" style={{ color: rateColor(r.rate), fontWeight: 600 }}>{fmtPct(r.rate)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>

          <section className="panel" data-testid="dlq-summary">
            <div className="panel-head"><h2>Unresolved dead letters</h2><Link className="link" href="/dead-letters">Open</Link></div>
            <div className="panel-body flush table-scroll">
              <table className="table">
                <thead>
                  <tr><th>Source</th><th>Job type</th><th className="num">Count</th><th className="num">Last failed</th></tr>
                </thead>
                <tbody>
                  {failed(groups) ? (
                    <tr><td colSpan={4} className="table-empty">{NOT_LOADED}</td></tr>
                  ) : groups.data === undefined ? <SkeletonRows cols={4} rows={3} /> : dlq.length === 0 ? (
                    <tr><td colSpan={4} className="table-empty">No unresolved dead letters.</td></tr>
                  ) : dlq.map((r) => (
                    <tr key={`${r.source}|${r.jobType}`} className="clickable" onClick={() => router.push(`/dead-letters?source=${encodeURIComponent(r.source)}`)} data-testid="dlq-row" data-source={r.source} data-job-type={r.jobType}>
                      <td className="mono nowrap">{r.source}</td>
                      <td className="nowrap">{r.jobType}</td>
                      <td className="num" data-col="count">{fmtNumber(r.count)}</td>
                      <td className="num nowrap" title={fmtTime(r.last)}>{fmtAgo(r.last, now)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>
        </div>
      </div>
    </div>
  );
}
