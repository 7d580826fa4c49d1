import Link from 'next/link';

import { apiToken, safeNext } from '@/lib/auth';

import { SignInForm } from './SignInForm';

export default async function LoginPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const sp = await searchParams;
  const next = safeNext(sp.next);
  return (
    <div className="login-wrap">
      <div className="login-card">
        <div className="brand" style={{ padding: 0 }}>
          <span className="brand-mark">MJ</span>
          <span>MCP Jobs console</span>
        </div>
        {apiToken() === null ? (
          <>
            <p className="muted" style={{ margin: 0 }}>
              No token is needed: <code>MCP_JOBS_API_TOKEN</code> is not set on this server.
            </p>
            <Link className="btn btn-primary" href={next}>Open the console</Link>
          </>
        ) : (
          <SignInForm next={next} />
        )}
      </div>
    </div>
  );
}
