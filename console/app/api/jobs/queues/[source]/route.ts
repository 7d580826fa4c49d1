/**
 * POST /api/jobs/queues/[source] {jobType?, paused?, maxConcurrency?, maxConcurrencyPerKey?, rateLimit?,
 * ratePeriod?, maxQueued?, clear?} -> {ok: true, queue} (set_queue; `queue` null when no setting is
 * left). Absent or null leaves a setting as it is; `clear` names settings to remove (camelCase:
 * paused, maxConcurrency, maxConcurrencyPerKey, rateLimit, maxQueued). jobType absent: the source's row.
 */
import { setQueue } from '@/lib/flow';
import { CLEARABLE, type Clearable } from '@/lib/types';
import {
  optionalBoolean,
  optionalInteger,
  optionalString,
  optionalStringArray,
  pathName,
  readJsonObject,
  readQuery,
  route,
  RouteError,
  methodNotAllowed,
} from '@/lib/api';

const FIELDS = ['jobType', 'paused', 'maxConcurrency', 'maxConcurrencyPerKey', 'rateLimit', 'ratePeriod', 'maxQueued', 'clear'] as const;

export const POST = route(async (req, params) => {
  readQuery(req, []);
  const source = pathName(params, 'source', 'source');
  const body = await readJsonObject(req, FIELDS);
  const clear = optionalStringArray(body, 'clear')?.map((name, i) => {
    if (!Object.hasOwn(CLEARABLE, name)) {
      throw new RouteError(400, 'invalid_field', `clear[${i}] is not a setting`, `It was ${JSON.stringify(name).slice(0, 80)}; the settings are ${Object.keys(CLEARABLE).join(', ')}.`, 'clear removes rateLimit and its period together.');
    }
    return CLEARABLE[name as Clearable];
  });
  const queue = await setQueue(source, {
    jobType: optionalString(body, 'jobType'),
    paused: optionalBoolean(body, 'paused'),
    maxConcurrency: optionalInteger(body, 'maxConcurrency'),
    maxConcurrencyPerKey: optionalInteger(body, 'maxConcurrencyPerKey'),
    rateLimit: optionalInteger(body, 'rateLimit'),
    // an interval as PostgreSQL reads it ("1 minute", "00:00:30"); the extension checks its range
    ratePeriod: optionalString(body, 'ratePeriod'),
    maxQueued: optionalInteger(body, 'maxQueued'),
    clear,
  });
  return { queue };
});

const notAllowed = methodNotAllowed(['POST']);
export const GET = notAllowed;
export const PUT = notAllowed;
export const PATCH = notAllowed;
export const DELETE = notAllowed;
