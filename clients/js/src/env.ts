/**
 * The MCP Jobs design's helpers (`enqueueJob(source, jobType, payload)`, `listJobs()`, `getJob()`,
 * `getJobStats()`, ...), on a client made from the environment the design uses: SUPABASE_URL and
 * SUPABASE_SERVICE_ROLE_KEY. Server side only.
 */
import { createClient, type McpJobsClient } from './client.js';
import type {
  Alert,
  CancelResult,
  DeadLetter,
  DeadLetterFilters,
  DeadLetterGroup,
  EnqueueOptions,
  Job,
  JobDetail,
  JobStats,
  Json,
  ListJobsFilters,
  MetricsFilters,
  MetricsRow,
  QueueDepth,
  RequeuedDeadLetter,
  ResolveResult,
  Uuid,
} from './types.js';

let cached: { url: string; key: string; client: McpJobsClient } | null = null;

function env(name: string): string {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return p?.env?.[name] ?? '';
}

/**
 * The client of SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY as they are now (made again when they
 * change). Throws an McpJobsError of kind `config` when one is missing.
 */
export function getDefaultClient(): McpJobsClient {
  const url = env('SUPABASE_URL');
  const key = env('SUPABASE_SERVICE_ROLE_KEY');
  if (cached === null || cached.url !== url || cached.key !== key) {
    cached = { url, key, client: createClient({ url, key }) };
  }
  return cached.client;
}

export const enqueueJob = (source: string, jobType: string, payload?: Json, options?: EnqueueOptions): Promise<Uuid> =>
  getDefaultClient().enqueueJob(source, jobType, payload, options);
export const listJobs = (filters?: ListJobsFilters): Promise<Job[]> => getDefaultClient().listJobs(filters);
export const getJob = (id: Uuid): Promise<JobDetail> => getDefaultClient().getJob(id);
export const getJobStats = (source?: string): Promise<JobStats> => getDefaultClient().getJobStats(source);
export const cancelJob = (id: Uuid): Promise<CancelResult> => getDefaultClient().cancelJob(id);
export const queueDepth = (): Promise<QueueDepth[]> => getDefaultClient().queueDepth();
export const alerts = (): Promise<Alert[]> => getDefaultClient().alerts();
export const getMetrics = (filters?: MetricsFilters): Promise<MetricsRow[]> => getDefaultClient().getMetrics(filters);
export const listDeadLetters = (filters?: DeadLetterFilters): Promise<DeadLetter[]> => getDefaultClient().listDeadLetters(filters);
export const deadLetterGroups = (resolved?: boolean | null): Promise<DeadLetterGroup[]> => getDefaultClient().deadLetterGroups(resolved);
export const requeueDeadLetter = (id: Uuid): Promise<Uuid> => getDefaultClient().requeueDeadLetter(id);
export const requeueDeadLetters = (ids: Uuid[]): Promise<RequeuedDeadLetter[]> => getDefaultClient().requeueDeadLetters(ids);
export const resolveDeadLetter = (id: Uuid, note?: string): Promise<ResolveResult> => getDefaultClient().resolveDeadLetter(id, note);
export const resolveDeadLetters = (ids: Uuid[], note?: string): Promise<number> => getDefaultClient().resolveDeadLetters(ids, note);
