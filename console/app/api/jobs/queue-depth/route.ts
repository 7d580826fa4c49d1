/** GET /api/jobs/queue-depth -> {ok: true, queueDepth: [...]} (queued and processing per source and job type) */
import { queueDepth } from '@/lib/supabaseJobsClient';
import { readQuery, route, methodNotAllowed } from '@/lib/api';

export const GET = route(async (req) => {
  readQuery(req, []);
  return { queueDepth: await queueDepth() };
});

const notAllowed = methodNotAllowed(['GET']);
export const POST = notAllowed;
export const PUT = notAllowed;
export const PATCH = notAllowed;
export const DELETE = notAllowed;
