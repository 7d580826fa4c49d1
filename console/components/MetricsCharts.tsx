'use client';

import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';

import { fmtDuration } from '@/lib/format';
import type { ChartPoint } from '@/lib/metrics';

const C = {
  grid: '#2a2a2a',
  axis: '#6b6b6b',
  completed: '#3ecf8e',
  failed: '#f26b6b',
  dead: '#b392f0',
  p50: '#6ba4f8',
  p95: '#f5b849',
  rate: '#3ecf8e',
};

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

function tickLabel(range: '24h' | '7d') {
  return (t: number) => {
    const d = new Date(t);
    return range === '24h' ? `${pad(d.getHours())}:00` : `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  };
}

function tooltipLabel(t: unknown): string {
  const d = new Date(Number(t));
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:00 – ${pad((d.getHours() + 1) % 24)}:00`;
}

const axisProps = { stroke: C.axis, tick: { fill: C.axis, fontSize: 11 }, tickLine: false, axisLine: { stroke: C.grid } } as const;
const tooltipStyle = { contentStyle: { background: '#1e1e1e', border: '1px solid #3a3a3a', borderRadius: 6, fontSize: 12 }, labelStyle: { color: '#9a9a9a' } } as const;

function ticks(points: ChartPoint[], range: '24h' | '7d'): number[] {
  if (range === '24h') return points.filter((_, i) => i % 4 === 0).map((p) => p.t);
  return points.filter((p) => new Date(p.t).getHours() === 0).map((p) => p.t);
}

/** Dots where a line alone would not show much: every point when there are few of them. */
function dots(points: ChartPoint[], key: keyof ChartPoint): { r: number } | false {
  const n = points.filter((p) => p[key] !== null).length;
  return n > 0 && n <= 48 ? { r: 2 } : false;
}

function ChartPanel({ title, hint, children, testId, empty }: { title: string; hint?: string; children: React.ReactElement; testId: string; empty: string | null }) {
  return (
    <section className="panel" data-testid={testId}>
      <div className="panel-head">
        <h2>{title}</h2>
        {hint ? <span className="hint">{hint}</span> : null}
      </div>
      {empty ? (
        <div className="chart-empty" data-testid={`${testId}-empty`}>{empty}</div>
      ) : (
        <div className="chart-box">
          <ResponsiveContainer width="100%" height="100%">
            {children}
          </ResponsiveContainer>
        </div>
      )}
    </section>
  );
}

export function MetricsCharts({ points, range, series, noMetrics }: { points: ChartPoint[]; range: '24h' | '7d'; series: number; noMetrics: string | null }) {
  const fmt = tickLabel(range);
  const t = ticks(points, range);
  const anyEnded = points.some((p) => p.successPct !== null);
  const anyRun = points.some((p) => p.runP50 !== null);
  const anyWait = points.some((p) => p.waitP50 !== null);
  const combined = series > 1 ? `${series} job types: the slowest of each hour` : undefined;
  const ms = (v: unknown) => fmtDuration(Number(v));
  return (
    <div className="grid grid-2">
      <ChartPanel title="Jobs per hour" hint="attempts that completed or failed; jobs dead-lettered" testId="chart-throughput" empty={noMetrics}>
        <BarChart data={points} margin={{ left: 0, right: 8 }} barCategoryGap={range === '24h' ? '20%' : 1}>
          <CartesianGrid stroke={C.grid} vertical={false} />
          <XAxis dataKey="t" {...axisProps} ticks={t} tickFormatter={fmt} />
          <YAxis {...axisProps} allowDecimals={false} width={40} />
          <Tooltip {...tooltipStyle} labelFormatter={tooltipLabel} cursor={{ fill: 'rgba(255,255,255,0.04)' }} />
          <Legend wrapperStyle={{ fontSize: 12 }} iconType="circle" iconSize={8} />
          <Bar dataKey="completed" name="completed" stackId="a" fill={C.completed} isAnimationActive={false} />
          <Bar dataKey="failed" name="failed" stackId="a" fill={C.failed} isAnimationActive={false} />
          <Bar dataKey="deadLettered" name="dead-lettered" fill={C.dead} isAnimationActive={false} />
        </BarChart>
      </ChartPanel>
      <ChartPanel title="Success rate" hint="completed / attempts ended, per hour" testId="chart-success" empty={noMetrics ?? (anyEnded ? null : 'No attempt ended in this range.')}>
        <LineChart data={points} margin={{ left: 0, right: 8 }}>
          <CartesianGrid stroke={C.grid} vertical={false} />
          <XAxis dataKey="t" {...axisProps} ticks={t} tickFormatter={fmt} />
          <YAxis {...axisProps} domain={[0, 100]} tickFormatter={(v: number) => `${v}%`} width={44} />
          <Tooltip {...tooltipStyle} labelFormatter={tooltipLabel} formatter={(v: unknown) => (v === null || v === undefined ? '—' : `${Number(v).toFixed(1)}%`)} />
          <Line dataKey="successPct" name="success rate" stroke={C.rate} strokeWidth={2} dot={dots(points, 'successPct')} connectNulls isAnimationActive={false} />
        </LineChart>
      </ChartPanel>
      <ChartPanel title="Run time" hint={combined ?? 'p50 and p95 of attempts, per hour'} testId="chart-run" empty={noMetrics ?? (anyRun ? null : 'No attempt ended in this range.')}>
        <LineChart data={points} margin={{ left: 0, right: 8 }}>
          <CartesianGrid stroke={C.grid} vertical={false} />
          <XAxis dataKey="t" {...axisProps} ticks={t} tickFormatter={fmt} />
          <YAxis {...axisProps} tickFormatter={ms} width={56} />
          <Tooltip {...tooltipStyle} labelFormatter={tooltipLabel} formatter={ms} />
          <Legend wrapperStyle={{ fontSize: 12 }} iconType="circle" iconSize={8} />
          <Line dataKey="runP50" name="p50" stroke={C.p50} strokeWidth={2} dot={dots(points, 'runP50')} connectNulls isAnimationActive={false} />
          <Line dataKey="runP95" name="p95" stroke={C.p95} strokeWidth={2} dot={dots(points, 'runP95')} connectNulls isAnimationActive={false} />
        </LineChart>
      </ChartPanel>
      <ChartPanel title="Wait time" hint={combined ?? 'enqueue to first start, p50 and p95'} testId="chart-wait" empty={noMetrics ?? (anyWait ? null : 'No job started in this range.')}>
        <LineChart data={points} margin={{ left: 0, right: 8 }}>
          <CartesianGrid stroke={C.grid} vertical={false} />
          <XAxis dataKey="t" {...axisProps} ticks={t} tickFormatter={fmt} />
          <YAxis {...axisProps} tickFormatter={ms} width={56} />
          <Tooltip {...tooltipStyle} labelFormatter={tooltipLabel} formatter={ms} />
          <Legend wrapperStyle={{ fontSize: 12 }} iconType="circle" iconSize={8} />
          <Line dataKey="waitP50" name="p50" stroke={C.p50} strokeWidth={2} dot={dots(points, 'waitP50')} connectNulls isAnimationActive={false} />
          <Line dataKey="waitP95" name="p95" stroke={C.p95} strokeWidth={2} dot={dots(points, 'waitP95')} connectNulls isAnimationActive={false} />
        </LineChart>
      </ChartPanel>
    </div>
  );
}
