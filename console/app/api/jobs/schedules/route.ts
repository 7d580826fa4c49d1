/**
 * GET /api/jobs/schedules -> {ok: true, schedules: [...]} (list_schedules)
 * POST /api/jobs/schedules {name, cron, source, jobType, payload?, priority?, timezone?} -> {ok: true, schedule}
 *   (schedule_job: creates or replaces the schedule `name`)
 */
import type { Json } from 'mcp-jobs';

import { listSchedules, scheduleJob } from '@/lib/flow';
import { optionalInteger, optionalString, readJsonObject, readQuery, requiredString, route, methodNotAllowed } from '@/lib/api';

const FIELDS = ['name', 'cron', 'source', 'jobType', 'payload', 'priority', 'timezone'] as const;

export const GET = route(async (req) => {
  readQuery(req, []);
  return { schedules: await listSchedules() };
});

export const POST = route(async (req) => {
  readQuery(req, []);
  const body = await readJsonObject(req, FIELDS);
  const schedule = await scheduleJob({
    name: requiredString(body, 'name'),
    cron: requiredString(body, 'cron'),
    source: requiredString(body, 'source'),
    jobType: requiredString(body, 'jobType'),
    // the extension checks the payload (a JSON object; null: {}) and its size
    payload: body.payload as Json | undefined,
    priority: optionalInteger(body, 'priority'),
    timezone: optionalString(body, 'timezone'),
  });
  return { schedule };
});

const notAllowed = methodNotAllowed(['GET', 'POST']);
export const PUT = notAllowed;
export const PATCH = notAllowed;
export const DELETE = notAllowed;
