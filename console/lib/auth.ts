/**
 * Who may call: with MCP_JOBS_API_TOKEN set, every /api route needs `Authorization: Bearer <token>`
 * or the session cookie the sign-in form sets; the pages need the cookie. Unset, everything is open
 * (the MCP Jobs design's routes have no authentication), and the console says so.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'mcp_jobs_session';
export const SESSION_MAX_AGE_SECONDS = 7 * 24 * 3600;

/** The configured token, or null when the console is open. */
export function apiToken(): string | null {
  const t = process.env.MCP_JOBS_API_TOKEN?.trim() ?? '';
  return t === '' ? null : t;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Compares two secrets in constant time (over their digests, so lengths do not leak). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** The session cookie's value for a token: derived from it, so the cookie does not hold the token
 * itself, and a new token ends every session. */
export function sessionValue(token: string): string {
  return createHmac('sha256', token).update('mcp-jobs-console-session-v1').digest('base64url');
}

export type AuthResult =
  | { ok: true; via: 'open' | 'bearer' | 'cookie' }
  | { ok: false; reason: 'missing' | 'wrong_token' | 'malformed' };

/** Checks a request's Authorization header and session cookie against the token. */
export function checkRequest(authorization: string | null, cookie: string | undefined): AuthResult {
  const token = apiToken();
  if (token === null) return { ok: true, via: 'open' };
  if (authorization !== null && authorization.trim() !== '') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization.trim());
    if (m === null || m[1] === undefined) return { ok: false, reason: 'malformed' };
    return sameSecret(m[1], token) ? { ok: true, via: 'bearer' } : { ok: false, reason: 'wrong_token' };
  }
  if (cookie !== undefined && cookie !== '' && sameSecret(cookie, sessionValue(token))) {
    return { ok: true, via: 'cookie' };
  }
  return { ok: false, reason: 'missing' };
}

/** A same-site path to go back to after signing in (never another origin). */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  return next;
}
