/** POST /api/jobs/enqueue {source, jobType, payload?, priority?, runAt?, maxAttempts?, idempotencyKey?} -> {ok: true, jobId} */
import { enqueueJob } from '@/lib/supabaseJobsClient';
import type { Json } from 'mcp-jobs';
import { optionalInteger, optionalString, optionalTimestamp, readJsonObject, requiredString, route, methodNotAllowed } from '@/lib/api';

const FIELDS = ['source', 'jobType', 'payload', 'priority', 'runAt', 'maxAttempts', 'idempotencyKey'] as const;

export const POST = route(async (req) => {
  const body = await readJsonObject(req, FIELDS);
  const source = requiredString(body, 'source');
  const jobType = requiredString(body, 'jobType');
  // the payload is checked by the extension (a JSON object, or a string holding one; null: {})
  const payload = body.payload as Json | undefined;
  const jobId = await enqueueJob(source, jobType, payload, {
    priority: optionalInteger(body, 'priority'),
    runAt: optionalTimestamp(body, 'runAt'),
    maxAttempts: optionalInteger(body, 'maxAttempts'),
    idempotencyKey: optionalString(body, 'idempotencyKey'),
  });
  return { jobId };
});

const notAllowed = methodNotAllowed(['POST']);
export const GET = notAllowed;
export const PUT = notAllowed;
export const PATCH = notAllowed;
export const DELETE = notAllowed;
