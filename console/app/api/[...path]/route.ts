/** Any other /api path: a JSON 404 (after the token check, so that it reveals nothing without it). */
import { NextResponse, type NextRequest } from 'next/server';
import { route, RouteError, type RouteContext } from '@/lib/api';

const notFound = route(async (req) => {
  throw new RouteError(404, 'not_found', `no route ${req.method} ${req.nextUrl.pathname}`, null, 'The routes are listed in docs/console.md.');
});

export function GET(req: NextRequest, ctx: RouteContext): Promise<NextResponse> {
  return notFound(req, ctx);
}
export const POST = GET;
export const PUT = GET;
export const PATCH = GET;
export const DELETE = GET;
