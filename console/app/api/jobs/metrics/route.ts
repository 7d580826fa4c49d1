/** GET /api/jobs/metrics?from=&to=&source=&jobType= -> {ok: true, metrics: [...]} (hourly rows, at most 31 days; default the last 24 hours) */
import { getMetrics } from '@/lib/supabaseJobsClient';
import { queryTimestamp, readQuery, route, methodNotAllowed } from '@/lib/api';

export const GET = route(async (req) => {
  const q = readQuery(req, ['from', 'to', 'source', 'jobType']);
  const metrics = await getMetrics({
    from: queryTimestamp(q, 'from'),
    to: queryTimestamp(q, 'to'),
    source: q.source,
    jobType: q.jobType,
  });
  return { metrics };
});

const notAllowed = methodNotAllowed(['GET']);
export const POST = notAllowed;
export const PUT = notAllowed;
export const PATCH = notAllowed;
export const DELETE = notAllowed;
