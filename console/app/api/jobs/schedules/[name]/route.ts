/** DELETE /api/jobs/schedules/[name] -> {ok: true, schedule} (unschedule_job: the removed row; the jobs it enqueued stay) */
import { unscheduleJob } from '@/lib/flow';
import { pathName, readQuery, route, methodNotAllowed } from '@/lib/api';

export const DELETE = route(async (req, params) => {
  readQuery(req, []);
  return { schedule: await unscheduleJob(pathName(params, 'name', 'schedule name')) };
});

const notAllowed = methodNotAllowed(['DELETE']);
export const GET = notAllowed;
export const POST = notAllowed;
export const PUT = notAllowed;
export const PATCH = notAllowed;
