/** POST /api/jobs/dead-letters/requeue {ids: [...]} -> {ok: true, requeued: [{id, job_id}]}: all or nothing */
import { requeueDeadLetters } from '@/lib/supabaseJobsClient';
import { readJsonObject, route, uuidList, methodNotAllowed } from '@/lib/api';

export const POST = route(async (req) => {
  const body = await readJsonObject(req, ['ids']);
  return { requeued: await requeueDeadLetters(uuidList(body, 'ids')) };
});

const notAllowed = methodNotAllowed(['POST']);
export const GET = notAllowed;
export const PUT = notAllowed;
export const PATCH = notAllowed;
export const DELETE = notAllowed;
