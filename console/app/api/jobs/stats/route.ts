/** GET /api/jobs/stats?source= -> {ok: true, stats} (get_job_stats: counts by status) */
import { getJobStats } from '@/lib/supabaseJobsClient';
import { readQuery, route, methodNotAllowed } from '@/lib/api';

export const GET = route(async (req) => {
  const q = readQuery(req, ['source']);
  return { stats: await getJobStats(q.source) };
});

const notAllowed = methodNotAllowed(['GET']);
export const POST = notAllowed;
export const PUT = notAllowed;
export const PATCH = notAllowed;
export const DELETE = notAllowed;
