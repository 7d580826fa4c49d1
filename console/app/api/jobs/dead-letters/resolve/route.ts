/** POST /api/jobs/dead-letters/resolve {ids: [...], note?} -> {ok: true, resolved: n}: all or nothing */
import { resolveDeadLetters } from '@/lib/supabaseJobsClient';
import { optionalString, readJsonObject, route, uuidList, methodNotAllowed } from '@/lib/api';

export const POST = route(async (req) => {
  const body = await readJsonObject(req, ['ids', 'note']);
  return { resolved: await resolveDeadLetters(uuidList(body, 'ids'), optionalString(body, 'note')) };
});

const notAllowed = methodNotAllowed(['POST']);
export const GET = notAllowed;
export const PUT = notAllowed;
export const PATCH = notAllowed;
export const DELETE = notAllowed;
