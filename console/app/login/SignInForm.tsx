'use client';

import { useActionState } from 'react';

import { signIn, type SignInState } from './actions';

export function SignInForm({ next }: { next: string }) {
  const [state, action, pending] = useActionState<SignInState, FormData>(signIn, { error: null });
  return (
    <form action={action} className="stack" style={{ gap: 12 }} data-testid="sign-in-form">
      <p className="muted" style={{ margin: 0 }}>
        This console is protected by an API token (<code>MCP_JOBS_API_TOKEN</code>). Enter it once; it is kept in an
        httpOnly cookie for 7 days.
      </p>
      <input type="hidden" name="next" value={next} />
      <div className="field">
        <label htmlFor="token">API token</label>
        <input id="token" name="token" type="password" className="input mono" autoComplete="current-password" autoFocus required />
      </div>
      {state.error ? <div className="error" role="alert" data-testid="sign-in-error">{state.error}</div> : null}
      <button type="submit" className="btn btn-primary" disabled={pending} data-testid="sign-in">
        {pending ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}
