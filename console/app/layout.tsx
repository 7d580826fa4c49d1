import type { Metadata } from 'next';
import { connection } from 'next/server';
import type { ReactNode } from 'react';

import { apiToken } from '@/lib/auth';

import './globals.css';

export const metadata: Metadata = {
  title: 'MCP Jobs',
  description: 'The MCP Jobs console: queue depth, alerts, metrics, jobs and dead letters',
};

export default async function RootLayout({ children }: { children: ReactNode }) {
  // read the environment per request (not at build time)
  await connection();
  const open = apiToken() === null;
  const missing = ['SUPABASE_URL', 'SUPABASE_SERVICE_ROLE_KEY'].filter((n) => (process.env[n]?.trim() ?? '') === '');
  return (
    <html lang="en">
      <body>
        {missing.length > 0 ? (
          <div className="topbar-error" role="alert" data-testid="config-banner">
            Not configured: {missing.map((n, i) => <span key={n}>{i ? ' and ' : ''}<code>{n}</code></span>)} {missing.length > 1 ? 'are' : 'is'} not set on the console&apos;s server, so it cannot reach the queue.
          </div>
        ) : null}
        {open ? (
          <div className="topbar-warning" role="status" data-testid="open-banner">
            <code>MCP_JOBS_API_TOKEN</code> is not set: this console and its <code>/api/jobs</code> routes are open to anyone who can reach this server. Set it to require a token.
          </div>
        ) : null}
        {children}
      </body>
    </html>
  );
}
