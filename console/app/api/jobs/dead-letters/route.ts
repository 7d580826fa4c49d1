/** GET /api/jobs/dead-letters?source=&jobType=&resolved=false|true|all&limit=&before= -> {ok: true, deadLetters: [...], next} */
import { getDefaultClient } from '@/lib/supabaseJobsClient';
import { queryInteger, queryResolved, queryUuid, readQuery, route, methodNotAllowed } from '@/lib/api';

export const GET = route(async (req) => {
  const q = readQuery(req, ['source', 'jobType', 'resolved', 'limit', 'before']);
  const page = await getDefaultClient().listDeadLettersPage({
    source: q.source,
    jobType: q.jobType,
    resolved: queryResolved(q, 'resolved', false),
    limit: queryInteger(q, 'limit'),
    before: queryUuid(q, 'before'),
  });
  return { deadLetters: page.items, next: page.next };
});

const notAllowed = methodNotAllowed(['GET']);
export const POST = notAllowed;
export const PUT = notAllowed;
export const PATCH = notAllowed;
export const DELETE = notAllowed;
