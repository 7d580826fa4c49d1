/**
 * Every failure of a client call is an McpJobsError: PostgREST's answer with its HTTP status,
 * SQLSTATE, message, detail and hint; or, with `kind` telling them apart, a network failure, a
 * non-PostgREST HTTP answer (a gateway's 502 page) or a missing configuration.
 */

/**
 * - `postgrest`: PostgREST answered with its JSON error (`code` is a SQLSTATE, `PTnnn` or `PGRSTnnn`).
 * - `http`: an HTTP error that is not PostgREST's (a gateway page, a proxy error); `code` is `HTTP_<status>`.
 * - `network`: no HTTP answer at all (connection refused, DNS, TLS, timeout); `status` is 0.
 * - `response`: an answer that is not the JSON PostgREST sends (wrong URL?); `code` is `BAD_RESPONSE`.
 * - `config`: the client is not configured (no URL or key); `code` is `CONFIG`.
 */
export type McpJobsErrorKind = 'postgrest' | 'http' | 'network' | 'response' | 'config';

export interface McpJobsErrorInit {
  kind: McpJobsErrorKind;
  status: number;
  code: string;
  message: string;
  details?: string | null;
  hint?: string | null;
  fn?: string | null;
  cause?: unknown;
}

/** The wrappers raise three standard SQLSTATEs as PostgREST's PTnnn codes (HTTP nnn). */
const PT_TO_SQLSTATE: Record<string, string> = { PT404: 'P0002', PT409: '55000', PT413: '54000' };

export class McpJobsError extends Error {
  override readonly name: string = 'McpJobsError';
  readonly kind: McpJobsErrorKind;
  /** The HTTP status of the answer; 0 when there was none (network, config). */
  readonly status: number;
  /** PostgREST's `code`: a SQLSTATE (`22023`), `PT404`/`PT409`/`PT413`, `PGRST…`; or the kind's code. */
  readonly code: string;
  /** The SQLSTATE behind `code` (`PT404` -> `P0002`, `PT409` -> `55000`, `PT413` -> `54000`); null when not a database error. */
  readonly sqlstate: string | null;
  readonly details: string | null;
  readonly hint: string | null;
  /** The function called (`enqueue_job`), when the error comes from a call. */
  readonly fn: string | null;
  /**
   * For a full queue (PostgREST's HTTP 429, SQLSTATE `53400`): the seconds to wait before enqueueing
   * again, the figure of the wrapper's `Retry-After` header (postgrest-js gives no headers; the
   * extension's detail carries it). Null for every other error, a gateway's 429 included.
   */
  readonly retryAfter: number | null;

  constructor(init: McpJobsErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.kind = init.kind;
    this.status = init.status;
    this.code = init.code;
    this.details = init.details ?? null;
    this.hint = init.hint ?? null;
    this.fn = init.fn ?? null;
    this.retryAfter = init.kind === 'postgrest' && init.status === 429 ? retryAfterOf(this.details) : null;
    // PostgREST's own errors (PGRST…) have no SQLSTATE; the database's are five characters
    const mapped = PT_TO_SQLSTATE[init.code];
    this.sqlstate = init.kind !== 'postgrest' ? null : mapped !== undefined ? mapped : /^[0-9A-Z]{5}$/.test(init.code) ? init.code : null;
  }

  /** True for a failure to get any HTTP answer (the request may or may not have been applied). */
  get isNetworkError(): boolean {
    return this.kind === 'network';
  }

  /** A plain object for logs and JSON answers (no stack). */
  toJSON(): { kind: McpJobsErrorKind; status: number; code: string; message: string; details: string | null; hint: string | null; fn: string | null } {
    return {
      kind: this.kind,
      status: this.status,
      code: this.code,
      message: this.message,
      details: this.details,
      hint: this.hint,
      fn: this.fn,
    };
  }
}

/** The extension's detail of a full queue says "retry after about N s"; 1 s when it does not (as the wrapper's header). */
function retryAfterOf(details: string | null): number {
  const m = details === null ? null : /retry after about (\d+) s/.exec(details);
  return m?.[1] !== undefined ? Number(m[1]) : 1;
}

/** No HTTP answer: connection refused, DNS, TLS, or the timeout (`code` `TIMEOUT`). */
export class McpJobsNetworkError extends McpJobsError {
  override readonly name: string = 'McpJobsNetworkError';

  constructor(init: Omit<McpJobsErrorInit, 'kind' | 'status'>) {
    super({ ...init, kind: 'network', status: 0 });
  }
}

export function isMcpJobsError(e: unknown): e is McpJobsError {
  return e instanceof McpJobsError;
}
