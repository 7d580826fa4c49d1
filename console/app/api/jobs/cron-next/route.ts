/** GET /api/jobs/cron-next?cron=&timezone=&count= -> {ok: true, runs: [...]} (cron_next: the next occurrences, 1-1000; default 1) */
import { cronNext } from '@/lib/flow';
import { queryInteger, readQuery, route, RouteError, methodNotAllowed } from '@/lib/api';

export const GET = route(async (req) => {
  const q = readQuery(req, ['cron', 'timezone', 'count']);
  if (q.cron === undefined) throw new RouteError(400, 'missing_parameter', 'cron is required', null, 'For example ?cron=0 3 * * *&timezone=Europe/Berlin&count=3.');
  return { runs: await cronNext(q.cron, q.timezone, queryInteger(q, 'count')) };
});

const notAllowed = methodNotAllowed(['GET']);
export const POST = notAllowed;
export const PUT = notAllowed;
export const PATCH = notAllowed;
export const DELETE = notAllowed;
