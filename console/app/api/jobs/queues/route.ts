/** GET /api/jobs/queues -> {ok: true, queues: [...]} (get_queues: every flow-control row with live counts) */
import { getQueues } from '@/lib/flow';
import { readQuery, route, methodNotAllowed } from '@/lib/api';

export const GET = route(async (req) => {
  readQuery(req, []);
  return { queues: await getQueues() };
});

const notAllowed = methodNotAllowed(['GET']);
export const POST = notAllowed;
export const PUT = notAllowed;
export const PATCH = notAllowed;
export const DELETE = notAllowed;
