/** POST /api/jobs/queues/[source]/resume {jobType?} -> {ok: true, queue} (resume_queue: removes the pause (a pause of the source still applies to its job types); `queue` null when no setting is left). The body may be empty. */
import { resumeQueue } from '@/lib/flow';
import { optionalString, pathName, readJsonObject, readQuery, route, methodNotAllowed } from '@/lib/api';

export const POST = route(async (req, params) => {
  readQuery(req, []);
  const source = pathName(params, 'source', 'source');
  const body = await readJsonObject(req, ['jobType'], true);
  return { queue: await resumeQueue(source, optionalString(body, 'jobType')) };
});

const notAllowed = methodNotAllowed(['POST']);
export const GET = notAllowed;
export const PUT = notAllowed;
export const PATCH = notAllowed;
export const DELETE = notAllowed;
