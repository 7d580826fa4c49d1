/** GET /api/jobs/list?source=&jobType=&status=&limit=&before= -> {ok: true, jobs: [...], next} */
import { getDefaultClient } from '@/lib/supabaseJobsClient';
import type { JobStatus } from 'mcp-jobs';
import { queryInteger, queryUuid, readQuery, route, methodNotAllowed } from '@/lib/api';

export const GET = route(async (req) => {
  const q = readQuery(req, ['source', 'jobType', 'status', 'limit', 'before']);
  const page = await getDefaultClient().listJobsPage({
    source: q.source,
    jobType: q.jobType,
    // the extension checks the status (and names the valid ones)
    status: q.status as JobStatus | undefined,
    limit: queryInteger(q, 'limit'),
    before: queryUuid(q, 'before'),
  });
  return { jobs: page.items, next: page.next };
});

const notAllowed = methodNotAllowed(['GET']);
export const POST = notAllowed;
export const PUT = notAllowed;
export const PATCH = notAllowed;
export const DELETE = notAllowed;
