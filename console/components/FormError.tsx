'use client';

import type { ApiError } from '@/lib/fetcher';

/** A refused action, in place: what the route or the extension said (its SQLSTATE, message, detail, hint). */
export function FormError({ error, testId = 'form-error' }: { error: ApiError | string | null; testId?: string }) {
  if (error === null) return null;
  if (typeof error === 'string') {
    return (
      <div className="banner banner-error form-error" role="alert" data-testid={testId} data-code="input">
        <div className="banner-body">{error}</div>
      </div>
    );
  }
  const fromExtension = /^[0-9A-Z]{5}$/.test(error.code);
  return (
    <div className="banner banner-error form-error" role="alert" data-testid={testId} data-code={error.code}>
      <div>
        <div className="banner-title">
          {fromExtension ? 'Refused by mcp_jobs' : error.status === 0 ? 'Not sent' : 'Refused'} <span className="mono faint">({error.code}{error.status ? `, HTTP ${error.status}` : ''})</span>
        </div>
        <div className="banner-body">
          <span data-testid={`${testId}-message`}>{error.message}</span>
          {error.detail ? <div className="mono">{error.detail}</div> : null}
          {error.hint ? <div>{error.hint}</div> : null}
        </div>
      </div>
    </div>
  );
}
