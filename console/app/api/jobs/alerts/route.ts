/** GET /api/jobs/alerts -> {ok: true, alerts: [...]} (the sources past a warning or critical threshold) */
import { alerts } from '@/lib/supabaseJobsClient';
import { readQuery, route, methodNotAllowed } from '@/lib/api';

export const GET = route(async (req) => {
  readQuery(req, []);
  return { alerts: await alerts() };
});

const notAllowed = methodNotAllowed(['GET']);
export const POST = notAllowed;
export const PUT = notAllowed;
export const PATCH = notAllowed;
export const DELETE = notAllowed;
