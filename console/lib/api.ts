/**
 * What every /api route shares: the token check, reading and checking input, and the JSON answers
 * `{ok: true, ...}` / `{ok: false, error: {code, message, detail, hint}}`. Bad input is a 400 with
 * a precise error, the extension's errors keep PostgREST's status (400, 404, 409, 413), a failing or
 * misconfigured Supabase is a 502/503 that says what is wrong, and nothing answers with a stack.
 */
import 'server-only';

import { NextResponse, type NextRequest } from 'next/server';
import { isMcpJobsError, type McpJobsError } from 'mcp-jobs';

import { checkRequest, SESSION_COOKIE } from './auth';

export interface ApiErrorBody {
  code: string;
  message: string;
  detail: string | null;
  hint: string | null;
}

/** An error a route answers with as it is. */
export class RouteError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string | null;
  readonly hint: string | null;

  constructor(status: number, code: string, message: string, detail: string | null = null, hint: string | null = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.hint = hint;
  }
}

const NO_STORE = { 'Cache-Control': 'no-store' };

export function ok(body: Record<string, unknown>, status = 200): NextResponse {
  return NextResponse.json({ ok: true, ...body }, { status, headers: NO_STORE });
}

export function fail(status: number, error: ApiErrorBody, headers: Record<string, string> = {}): NextResponse {
  return NextResponse.json({ ok: false, error }, { status, headers: { ...NO_STORE, ...headers } });
}

function upstreamDescription(e: McpJobsError): string {
  if (e.kind === 'postgrest') return `PostgREST answered HTTP ${e.status} ${e.code}: ${e.message}`;
  return e.details ? `the answer: ${e.details}` : `HTTP ${e.status}`;
}

/** The answer for an error of the client (a PostgREST error, a network failure, no configuration). */
export function clientErrorResponse(e: McpJobsError): NextResponse {
  if (e.kind === 'config') {
    return fail(503, { code: 'not_configured', message: `the console is not configured: ${e.message}`, detail: null, hint: e.hint });
  }
  if (e.kind === 'network') {
    return fail(503, {
      code: 'upstream_unavailable',
      message: e.code === 'TIMEOUT' ? `Supabase did not answer in time: ${e.message}` : `cannot reach Supabase: ${e.message}`,
      detail: e.code,
      hint: 'Check that PostgREST (Supabase) is running and that SUPABASE_URL points to it.',
    });
  }
  if (e.status === 401 || e.status === 403) {
    return fail(502, {
      code: 'upstream_auth',
      message: `Supabase refused the console's key (HTTP ${e.status}${e.kind === 'postgrest' ? ' ' + e.code : ''}: ${e.message})`,
      detail: e.kind === 'postgrest' ? null : upstreamDescription(e),
      hint: 'Set SUPABASE_SERVICE_ROLE_KEY to the project\'s service_role key (a key of a role with access to mcp_jobs).',
    });
  }
  if (e.kind === 'postgrest' && e.code === 'PGRST202') {
    return fail(502, {
      code: 'upstream_schema',
      message: `the database has no function public.${e.fn ?? '?'} that the console calls`,
      detail: e.message,
      hint: 'Install mcp_jobs 0.7.0 or later in the database behind SUPABASE_URL (CREATE EXTENSION mcp_jobs, or ALTER EXTENSION mcp_jobs UPDATE).',
    });
  }
  if (e.kind === 'postgrest' && e.status >= 400 && e.status < 500) {
    // the extension's own errors: bad input 400, unknown id 404, wrong state 409, too large 413,
    // a full queue 429 (with Retry-After, as PostgREST answered it)
    const headers: Record<string, string> = e.retryAfter === null ? {} : { 'Retry-After': String(e.retryAfter) };
    return fail(e.status, { code: e.code, message: e.message, detail: e.details, hint: e.hint }, headers);
  }
  if (e.status === 502 || e.status === 503 || e.status === 504) {
    return fail(503, {
      code: 'upstream_unavailable',
      message: `Supabase is unavailable: ${e.message}`,
      detail: upstreamDescription(e),
      hint: 'PostgREST behind the gateway is down or restarting; check it and SUPABASE_URL.',
    });
  }
  return fail(502, {
    code: e.kind === 'postgrest' ? e.code : 'upstream_error',
    message: `Supabase answered with an error: ${e.message}`,
    detail: upstreamDescription(e),
    hint: e.hint,
  });
}

export function errorResponse(e: unknown): NextResponse {
  if (e instanceof RouteError) {
    return fail(e.status, { code: e.code, message: e.message, detail: e.detail, hint: e.hint });
  }
  if (isMcpJobsError(e)) {
    if (e.kind !== 'postgrest' || e.status >= 500 || e.status === 401 || e.status === 403) {
      console.error(`[mcp-jobs console] ${e.fn ?? 'call'} failed: ${e.kind} ${e.status} ${e.code}: ${e.message}`);
    }
    return clientErrorResponse(e);
  }
  console.error('[mcp-jobs console] internal error:', e);
  return fail(500, { code: 'internal', message: 'internal error of the console (see its server log)', detail: null, hint: null });
}

type Params = Record<string, string | string[] | undefined>;
export interface RouteContext {
  params: Promise<Params>;
}

/**
 * Wraps a route handler: checks the token first, then answers every error as JSON. The handler
 * returns the fields of the `{ok: true}` answer.
 */
export function route(handler: (req: NextRequest, params: Params) => Promise<Record<string, unknown>>) {
  return async (req: NextRequest, ctx: RouteContext): Promise<NextResponse> => {
    try {
      const auth = checkRequest(req.headers.get('authorization'), req.cookies.get(SESSION_COOKIE)?.value);
      if (!auth.ok) {
        const messages = {
          missing: 'this route needs Authorization: Bearer <MCP_JOBS_API_TOKEN>',
          malformed: 'the Authorization header must be "Bearer <token>"',
          wrong_token: 'the bearer token is not MCP_JOBS_API_TOKEN',
        } as const;
        return fail(
          401,
          { code: 'unauthorized', message: messages[auth.reason], detail: null, hint: 'Send the console\'s API token (MCP_JOBS_API_TOKEN) as a bearer token, or sign in to the console.' },
          { 'WWW-Authenticate': 'Bearer realm="mcp-jobs"' },
        );
      }
      const params = ctx?.params ? await ctx.params : {};
      return ok(await handler(req, params));
    } catch (e) {
      return errorResponse(e);
    }
  };
}

// ------------------------------------------------------------------------------------------------
// Input
// ------------------------------------------------------------------------------------------------

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The largest request body a route reads (the extension's own limit on payloads is lower). */
export const MAX_BODY_BYTES = 2 * 1024 * 1024;

function tooLarge(): RouteError {
  return new RouteError(413, 'body_too_large', `the request body is larger than ${MAX_BODY_BYTES} bytes`, null, 'Send a smaller payload.');
}

/** Reads the body as a JSON object whose keys are all in `allowed`; with `emptyIsObject`, an empty
 * body is `{}` (a route whose fields are all optional). */
export async function readJsonObject(req: NextRequest, allowed: readonly string[], emptyIsObject = false): Promise<Record<string, unknown>> {
  const declared = Number(req.headers.get('content-length') ?? '0');
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) throw tooLarge();
  let text = '';
  if (req.body !== null) {
    const reader = req.body.getReader();
    const decoder = new TextDecoder('utf-8', { fatal: true });
    let size = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > MAX_BODY_BYTES) {
          await reader.cancel();
          throw tooLarge();
        }
        text += decoder.decode(value, { stream: true });
      }
      text += decoder.decode();
    } catch (e) {
      if (e instanceof RouteError) throw e;
      throw new RouteError(400, 'invalid_json', 'the request body is not valid UTF-8', null, 'Send a JSON object in UTF-8.');
    }
  }
  if (text.trim() === '') {
    if (emptyIsObject) return {};
    throw new RouteError(400, 'invalid_json', 'the request body is empty', null, `Send a JSON object with the fields ${allowed.join(', ')}.`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw new RouteError(400, 'invalid_json', 'the request body is not valid JSON', e instanceof Error ? e.message : null, 'Send a JSON object (Content-Type: application/json).');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    const what = body === null ? 'null' : Array.isArray(body) ? 'an array' : `a ${typeof body}`;
    throw new RouteError(400, 'invalid_body', `the request body must be a JSON object, not ${what}`, null, `Send a JSON object with the fields ${allowed.join(', ')}.`);
  }
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw new RouteError(
      400,
      'unknown_field',
      `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')}`,
      `The fields are ${allowed.join(', ')}.`,
      'Field names are camelCase, as in the MCP Jobs design (jobType, maxAttempts, ...).',
    );
  }
  return body as Record<string, unknown>;
}

function fieldError(name: string, expected: string, value: unknown): RouteError {
  const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'string' ? `the string ${JSON.stringify(value).slice(0, 80)}` : `${typeof value} ${JSON.stringify(value)?.slice(0, 80) ?? ''}`;
  return new RouteError(400, 'invalid_field', `${name} must be ${expected}`, `${name} was ${got}.`, null);
}

/** A required string field. */
export function requiredString(body: Record<string, unknown>, name: string): string {
  const v = body[name];
  if (v === undefined) throw new RouteError(400, 'missing_field', `${name} is required`, null, `Send ${name} as a string.`);
  if (typeof v !== 'string') throw fieldError(name, 'a string', v);
  return v;
}

/** An optional string field (absent or null: undefined). */
export function optionalString(body: Record<string, unknown>, name: string): string | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw fieldError(name, 'a string', v);
  return v;
}

/** An optional integer field (absent or null: undefined). Range checks are the extension's. */
export function optionalInteger(body: Record<string, unknown>, name: string): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw fieldError(name, 'an integer', v);
  return v;
}

/** An optional boolean field (absent or null: undefined). */
export function optionalBoolean(body: Record<string, unknown>, name: string): boolean | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw fieldError(name, 'true or false', v);
  return v;
}

/** An optional array of strings (absent or null: undefined). */
export function optionalStringArray(body: Record<string, unknown>, name: string): string[] | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw fieldError(name, 'an array of strings', v);
  v.forEach((x, i) => {
    if (typeof x !== 'string') throw fieldError(`${name}[${i}]`, 'a string', x);
  });
  return v as string[];
}

/** An optional timestamp field: an ISO 8601 string (absent or null: undefined). */
export function optionalTimestamp(body: Record<string, unknown>, name: string): string | undefined {
  const v = optionalString(body, name);
  if (v !== undefined && Number.isNaN(Date.parse(v))) {
    throw new RouteError(400, 'invalid_field', `${name} must be an ISO 8601 timestamp`, `${name} was ${JSON.stringify(v).slice(0, 80)}.`, 'For example 2026-01-31T12:00:00Z.');
  }
  return v;
}

/** A required array of 1-1000 distinct uuids. */
export function uuidList(body: Record<string, unknown>, name: string): string[] {
  const v = body[name];
  if (v === undefined) throw new RouteError(400, 'missing_field', `${name} is required`, null, `Send ${name} as an array of dead letter ids.`);
  if (!Array.isArray(v)) throw fieldError(name, 'an array of ids', v);
  if (v.length === 0 || v.length > 1000) {
    throw new RouteError(400, 'invalid_field', `${name} must hold 1 to 1000 ids`, `${name} has ${v.length}.`, 'Split larger batches.');
  }
  v.forEach((id, i) => {
    if (typeof id !== 'string' || !UUID_RE.test(id)) {
      throw new RouteError(400, 'invalid_field', `${name}[${i}] is not a uuid`, `${name}[${i}] was ${JSON.stringify(id)?.slice(0, 80)}.`, null);
    }
  });
  return v as string[];
}

/** The query parameters, all in `allowed`, each at most once; empty values count as absent. */
export function readQuery(req: NextRequest, allowed: readonly string[]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  const seen = new Set<string>();
  for (const [k, v] of req.nextUrl.searchParams) {
    if (!allowed.includes(k)) {
      throw new RouteError(
        400,
        'unknown_parameter',
        `unknown query parameter ${JSON.stringify(k)}`,
        allowed.length ? `The parameters are ${allowed.join(', ')}.` : 'This route takes no parameters.',
        'Parameter names are camelCase (jobType).',
      );
    }
    if (seen.has(k)) throw new RouteError(400, 'invalid_parameter', `query parameter ${k} is given twice`, null, null);
    seen.add(k);
    out[k] = v === '' ? undefined : v;
  }
  return out;
}

export function queryInteger(q: Record<string, string | undefined>, name: string): number | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (!/^-?\d{1,9}$/.test(v)) throw new RouteError(400, 'invalid_parameter', `${name} must be an integer`, `${name} was ${JSON.stringify(v).slice(0, 80)}.`, null);
  return Number(v);
}

export function queryUuid(q: Record<string, string | undefined>, name: string): string | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (!UUID_RE.test(v)) throw new RouteError(400, 'invalid_parameter', `${name} must be a uuid`, `${name} was ${JSON.stringify(v).slice(0, 80)}.`, 'Pass the last id of the previous page (the answer\'s next).');
  return v;
}

export function queryTimestamp(q: Record<string, string | undefined>, name: string): string | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (Number.isNaN(Date.parse(v))) {
    throw new RouteError(400, 'invalid_parameter', `${name} must be an ISO 8601 timestamp`, `${name} was ${JSON.stringify(v).slice(0, 80)}.`, 'For example 2026-01-31T12:00:00Z.');
  }
  return v;
}

/** `true`, `false` or `all` (null); absent: the default. */
export function queryResolved(q: Record<string, string | undefined>, name: string, dflt: boolean | null): boolean | null {
  const v = q[name];
  if (v === undefined) return dflt;
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (v === 'all') return null;
  throw new RouteError(400, 'invalid_parameter', `${name} must be true, false or all`, `${name} was ${JSON.stringify(v).slice(0, 80)}.`, null);
}

/** A uuid path segment. */
export function pathUuid(params: Params, name: string): string {
  const v = params[name];
  if (typeof v !== 'string' || !UUID_RE.test(v)) {
    throw new RouteError(400, 'invalid_id', 'the job id in the path is not a uuid', `It was ${JSON.stringify(String(v)).slice(0, 80)}.`, 'Job ids look like 0190f1c2-7a3b-7c4d-9e5f-0a1b2c3d4e5f.');
  }
  return v.toLowerCase();
}

/** A name in the path (a source, a schedule's name): the extension checks it further (blank, too
 * long, control characters: 22023). */
export function pathName(params: Params, name: string, what: string): string {
  const v = params[name];
  if (typeof v !== 'string' || v === '') {
    throw new RouteError(400, 'invalid_path', `the ${what} in the path is missing`, null, null);
  }
  return v;
}

/** The answer to a method a route does not have: 405 with Allow, as JSON. */
export function methodNotAllowed(allowed: readonly string[]) {
  return async (req: NextRequest): Promise<NextResponse> =>
    fail(
      405,
      { code: 'method_not_allowed', message: `${req.method} is not allowed on ${req.nextUrl.pathname}`, detail: `Allowed: ${allowed.join(', ')}.`, hint: null },
      { Allow: allowed.join(', ') },
    );
}
