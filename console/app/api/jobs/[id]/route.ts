/**
 * GET /api/jobs/[id] -> {ok: true, job} (the job with its runs, events and dead_letters)
 * DELETE /api/jobs/[id] -> {ok: true, jobId, status: "cancelled", finishedAt}: cancels a queued job
 */
import { cancelJob, getJob } from '@/lib/supabaseJobsClient';
import { pathUuid, readQuery, route, methodNotAllowed } from '@/lib/api';

export const GET = route(async (req, params) => {
  readQuery(req, []);
  const job = await getJob(pathUuid(params, 'id'));
  return { job };
});

export const DELETE = route(async (req, params) => {
  readQuery(req, []);
  const r = await cancelJob(pathUuid(params, 'id'));
  return { jobId: r.job_id, status: r.status, finishedAt: r.finished_at };
});

const notAllowed = methodNotAllowed(['GET', 'DELETE']);
export const POST = notAllowed;
export const PUT = notAllowed;
export const PATCH = notAllowed;
