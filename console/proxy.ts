/**
 * The pages ask for the API token once: with MCP_JOBS_API_TOKEN set, a page request without a valid
 * session cookie goes to /login (and back after signing in). The /api routes check the token
 * themselves (lib/api.ts) and answer 401 as JSON.
 */
import { NextResponse, type NextRequest } from 'next/server';

import { checkRequest, SESSION_COOKIE } from './lib/auth';

export function proxy(req: NextRequest): NextResponse {
  const auth = checkRequest(null, req.cookies.get(SESSION_COOKIE)?.value);
  if (auth.ok) return NextResponse.next();
  const url = req.nextUrl.clone();
  url.pathname = '/login';
  url.search = '';
  url.searchParams.set('next', req.nextUrl.pathname + req.nextUrl.search);
  return NextResponse.redirect(url);
}

export const config = {
  matcher: ['/((?!api/|_next/|login|favicon\\.ico|icon\\.svg).*)'],
};
