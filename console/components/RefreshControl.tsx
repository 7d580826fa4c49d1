'use client';

import { fmtClock } from '@/lib/format';

/** "Auto-refresh every 10 s · updated 12:00:03 · Pause" */
export function RefreshControl({ intervalMs, paused, onToggle, updatedAt, onRefresh, busy }: {
  intervalMs: number;
  paused: boolean;
  onToggle: () => void;
  updatedAt: number | null;
  onRefresh: () => void;
  busy?: boolean;
}) {
  return (
    <div className="refresh" data-testid="refresh-control" data-paused={paused ? 'true' : 'false'}>
      <span className={`live-dot${paused ? ' paused' : ''}`} />
      <span>{paused ? 'Auto-refresh paused' : `Auto-refresh every ${Math.round(intervalMs / 1000)} s`}</span>
      {updatedAt ? <span className="faint">· updated {fmtClock(updatedAt)}</span> : null}
      <button type="button" className="btn btn-sm" onClick={onToggle} data-testid="refresh-toggle">
        {paused ? 'Resume' : 'Pause'}
      </button>
      <button type="button" className="btn btn-sm btn-ghost" onClick={onRefresh} disabled={busy} title="Refresh now">
        Refresh
      </button>
    </div>
  );
}
