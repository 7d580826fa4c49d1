/** Formatting shared by the pages (plain functions, no server or browser API). */

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function shortId(id: string): string {
  return id.length > 13 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id;
}

export function fmtNumber(n: number | null | undefined): string {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  return n.toLocaleString('en-US');
}

export function fmtPct(r: number | null | undefined, digits = 1): string {
  if (r === null || r === undefined || Number.isNaN(r)) return '—';
  return `${(r * 100).toFixed(digits)}%`;
}

/** 812 ms, 4.2 s, 3 min 10 s, 2 h 5 min, 3 d 4 h */
export function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms === 0) return '0';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m - h * 60} min`;
  const d = Math.floor(h / 24);
  return `${d} d ${h - d * 24} h`;
}

/** A timestamp as local date and time, to the second. */
export function fmtTime(ts: string | null | undefined): string {
  if (!ts) return '—';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return ts;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "5 s ago", "3 min ago", "in 2 h" */
export function fmtAgo(ts: string | null | undefined, now: number = Date.now()): string {
  if (!ts) return '—';
  const t = new Date(ts).getTime();
  if (Number.isNaN(t)) return ts;
  const diff = now - t;
  const s = Math.abs(diff) / 1000;
  let text: string;
  if (s < 1) return 'just now';
  if (s < 60) text = `${Math.round(s)} s`;
  else if (s < 3600) text = `${Math.round(s / 60)} min`;
  else if (s < 172800) text = `${Math.round(s / 3600)} h`;
  else text = `${Math.round(s / 86400)} d`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

export function fmtClock(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** The first line of an error text. */
export function firstLine(s: string | null | undefined): string {
  if (!s) return '';
  const i = s.indexOf('\n');
  return i < 0 ? s : s.slice(0, i);
}

/** An interval as PostgreSQL prints it ("00:01:00", "1 day", "2 days 01:00:00") in seconds; null if unreadable. */
export function intervalSeconds(v: string | null | undefined): number | null {
  if (!v) return null;
  const m = /^(?:(\d+) days? ?)?(?:(\d+):(\d{2}):(\d{2})(?:\.\d+)?)?$/.exec(v.trim());
  if (m === null || (m[1] === undefined && m[2] === undefined)) return null;
  return Number(m[1] ?? 0) * 86400 + Number(m[2] ?? 0) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
}

/** "minute", "30 s", "day": the window of a rate limit ("60 per minute"). */
export function fmtPeriod(v: string | null | undefined): string {
  const s = intervalSeconds(v);
  if (s === null) return v ?? '—';
  if (s === 1) return 'second';
  if (s === 60) return 'minute';
  if (s === 3600) return 'hour';
  if (s === 86400) return 'day';
  return fmtDuration(s * 1000);
}

/** An interval as the words PostgreSQL reads back ("1 minute", "90 seconds"), for a form. */
export function intervalInput(v: string | null | undefined): string {
  const s = intervalSeconds(v);
  if (s === null) return v ?? '';
  const unit = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  if (s > 0 && s % 86400 === 0) return unit(s / 86400, 'day');
  if (s > 0 && s % 3600 === 0) return unit(s / 3600, 'hour');
  if (s > 0 && s % 60 === 0) return unit(s / 60, 'minute');
  return unit(s, 'second');
}
