/** Hourly metrics rows -> chart points and the 7-day success table (pure functions). */
import type { MetricsRow } from 'mcp-jobs';

export const HOUR_MS = 3600_000;

export interface ChartPoint {
  t: number;
  completed: number;
  failed: number;
  deadLettered: number;
  enqueued: number;
  /** 0-100, null when no attempt ended in the hour */
  successPct: number | null;
  runP50: number | null;
  runP95: number | null;
  waitP50: number | null;
  waitP95: number | null;
}

export function floorHour(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}

function maxOrNull(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}

/**
 * One point per UTC hour of [from, to], every hour present (zeros where nothing happened), for one
 * source or all. Counts are summed over the job types of the hour; the success rate is recomputed
 * from the sums; a percentile of several job types is the highest of theirs (the slowest job type),
 * since percentiles cannot be added. Returns the points and how many (source, job type) series
 * were combined.
 */
export function chartPoints(rows: MetricsRow[], fromMs: number, toMs: number, source: string | null): { points: ChartPoint[]; series: number } {
  const byHour = new Map<number, { p: ChartPoint; ended: number }>();
  const start = floorHour(fromMs);
  const end = floorHour(toMs);
  for (let t = start; t <= end; t += HOUR_MS) {
    byHour.set(t, {
      p: { t, completed: 0, failed: 0, deadLettered: 0, enqueued: 0, successPct: null, runP50: null, runP95: null, waitP50: null, waitP95: null },
      ended: 0,
    });
  }
  const series = new Set<string>();
  for (const r of rows) {
    if (source !== null && r.source !== source) continue;
    const t = floorHour(new Date(r.hour).getTime());
    const slot = byHour.get(t);
    if (!slot) continue;
    series.add(`${r.source}\u0000${r.job_type}`);
    const p = slot.p;
    p.completed += r.completed;
    p.failed += r.failed;
    p.deadLettered += r.dead_lettered;
    p.enqueued += r.enqueued;
    slot.ended += r.completed + r.failed + r.lease_expired;
    p.runP50 = maxOrNull(p.runP50, r.run_ms_p50);
    p.runP95 = maxOrNull(p.runP95, r.run_ms_p95);
    p.waitP50 = maxOrNull(p.waitP50, r.wait_ms_p50);
    p.waitP95 = maxOrNull(p.waitP95, r.wait_ms_p95);
  }
  const points = [...byHour.values()].map(({ p, ended }) => ({ ...p, successPct: ended > 0 ? (100 * p.completed) / ended : null }));
  return { points, series: series.size };
}

export interface SuccessRow {
  source: string;
  jobType: string;
  completed: number;
  failed: number;
  leaseExpired: number;
  deadLettered: number;
  rate: number | null;
}

/** Attempts that ended per source and job type over the rows' range, with the success rate. */
export function successTable(rows: MetricsRow[]): SuccessRow[] {
  const m = new Map<string, SuccessRow>();
  for (const r of rows) {
    const k = `${r.source}\u0000${r.job_type}`;
    let s = m.get(k);
    if (!s) {
      s = { source: r.source, jobType: r.job_type, completed: 0, failed: 0, leaseExpired: 0, deadLettered: 0, rate: null };
      m.set(k, s);
    }
    s.completed += r.completed;
    s.failed += r.failed;
    s.leaseExpired += r.lease_expired;
    s.deadLettered += r.dead_lettered;
  }
  const out = [...m.values()];
  for (const s of out) {
    const ended = s.completed + s.failed + s.leaseExpired;
    s.rate = ended > 0 ? s.completed / ended : null;
  }
  return out.sort((a, b) => a.source.localeCompare(b.source) || a.jobType.localeCompare(b.jobType));
}
