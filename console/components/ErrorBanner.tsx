'use client';

import type { ApiError } from '@/lib/fetcher';
import { fmtClock } from '@/lib/format';

const TITLES: Record<string, string> = {
  upstream_unavailable: 'Supabase is unreachable',
  upstream_auth: "Supabase refused the console's key",
  upstream_schema: 'The database lacks the mcp_jobs functions the console needs',
  upstream_error: 'Supabase answered with an error',
  not_configured: 'The console is not configured',
  console_unreachable: 'The console server does not answer',
  unauthorized: 'Not signed in',
  internal: 'The console failed',
};

/** What went wrong, in words, with the hint; one banner per distinct error. */
export function ErrorBanner({ errors, staleSince }: { errors: (ApiError | undefined | null)[]; staleSince?: number | null }) {
  const seen = new Set<string>();
  const list = errors.filter((e): e is ApiError => {
    if (!e) return false;
    // one banner per kind of failure: five calls failing for one reason is one problem
    const key = e.code;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  if (list.length === 0) return null;
  return (
    <>
      {list.map((e) => (
        <div key={e.code} className="banner banner-error" role="alert" data-testid="error-banner" data-code={e.code}>
          <div>
            <div className="banner-title">{TITLES[e.code] ?? `Request failed (HTTP ${e.status}, ${e.code})`}</div>
            <div className="banner-body">
              {e.message}
              {e.detail ? <> — <span className="mono">{e.detail}</span></> : null}
              {e.hint ? <div>{e.hint}</div> : null}
              {staleSince ? <div>Showing the data of {fmtClock(staleSince)}; retrying on the next refresh.</div> : null}
            </div>
          </div>
        </div>
      ))}
    </>
  );
}
