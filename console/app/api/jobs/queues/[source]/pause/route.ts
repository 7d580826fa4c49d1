/** POST /api/jobs/queues/[source]/pause {jobType?} -> {ok: true, queue} (pause_queue: from now on no job of the queue (or of the whole source, without jobType) is claimed). The body may be empty. */
import { pauseQueue } from '@/lib/flow';
import { optionalString, pathName, readJsonObject, readQuery, route, methodNotAllowed } from '@/lib/api';

export const POST = route(async (req, params) => {
  readQuery(req, []);
  const source = pathName(params, 'source', 'source');
  const body = await readJsonObject(req, ['jobType'], true);
  return { queue: await pauseQueue(source, optionalString(body, 'jobType')) };
});

const notAllowed = methodNotAllowed(['POST']);
export const GET = notAllowed;
export const PUT = notAllowed;
export const PATCH = notAllowed;
export const DELETE = notAllowed;
