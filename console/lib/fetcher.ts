/**
 * The browser side of the /api routes: fetchJson throws an ApiError with the route's JSON error
 * (or, when the console itself cannot be reached, code `console_unreachable`); useApi is SWR on it.
 */

import useSWR, { type SWRConfiguration, type SWRResponse } from 'swr';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string | null;
  readonly hint: string | null;

  constructor(status: number, code: string, message: string, detail: string | null = null, hint: string | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.hint = hint;
  }
}

interface ErrorBody {
  ok: false;
  error: { code: string; message: string; detail: string | null; hint: string | null };
}

function signInAgain(): void {
  if (typeof window === 'undefined') return;
  const next = window.location.pathname + window.location.search;
  // a full load: the server sends the sign-in page and drops every cached answer
  // eslint-disable-next-line @next/next/no-location-assign-relative-destination
  window.location.assign(`/login?next=${encodeURIComponent(next)}`);
}

export async function fetchJson<T>(url: string, init?: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, headers: { Accept: 'application/json', ...(init?.body ? { 'Content-Type': 'application/json' } : {}), ...init?.headers }, cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'console_unreachable', 'the console server does not answer', e instanceof Error ? e.message : null, 'Check that the console (next start) is running.');
  }
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    throw new ApiError(res.status, 'bad_answer', `the console answered HTTP ${res.status} without JSON`, null, null);
  }
  if (!res.ok) {
    const err = (body as ErrorBody | null)?.error;
    if (res.status === 401 && err?.code === 'unauthorized') signInAgain();
    throw new ApiError(res.status, err?.code ?? `http_${res.status}`, err?.message ?? `HTTP ${res.status}`, err?.detail ?? null, err?.hint ?? null);
  }
  return body as T;
}

/** SWR on an /api route (null: do not fetch). Keeps the last data while refreshing or failing. */
export function useApi<T>(url: string | null, config?: SWRConfiguration<T, ApiError>): SWRResponse<T, ApiError> {
  return useSWR<T, ApiError>(url, (u: string) => fetchJson<T>(u), {
    keepPreviousData: true,
    revalidateOnFocus: false,
    shouldRetryOnError: false,
    ...config,
  });
}

export function postJson<T>(url: string, body: unknown): Promise<T> {
  return fetchJson<T>(url, { method: 'POST', body: JSON.stringify(body) });
}
