import type { ReactNode } from 'react';

import { Nav } from '@/components/Nav';
import { apiToken } from '@/lib/auth';

import { signOut } from '../login/actions';

export default function ConsoleLayout({ children }: { children: ReactNode }) {
  const protectedByToken = apiToken() !== null;
  return (
    <div className="shell">
      <aside className="sidebar">
        <div className="brand">
          <span className="brand-mark">MJ</span>
          <span>MCP Jobs</span>
        </div>
        <Nav />
        <div className="sidebar-foot">
          {protectedByToken ? (
            <form action={signOut}>
              <button type="submit" className="btn btn-sm btn-ghost" data-testid="sign-out">Sign out</button>
            </form>
          ) : (
            <span>open (no API token)</span>
          )}
          <span>mcp_jobs console</span>
        </div>
      </aside>
      <main className="main">{children}</main>
    </div>
  );
}
