/** GET /api/jobs/dead-letters/groups?resolved=false|true|all -> {ok: true, groups: [...]} (by source, job type and error) */
import { deadLetterGroups } from '@/lib/supabaseJobsClient';
import { queryResolved, readQuery, route, methodNotAllowed } from '@/lib/api';

export const GET = route(async (req) => {
  const q = readQuery(req, ['resolved']);
  return { groups: await deadLetterGroups(queryResolved(q, 'resolved', false)) };
});

const notAllowed = methodNotAllowed(['GET']);
export const POST = notAllowed;
export const PUT = notAllowed;
export const PATCH = notAllowed;
export const DELETE = notAllowed;
