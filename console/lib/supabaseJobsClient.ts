/**
 * The MCP Jobs design's `lib/supabaseJobsClient.ts`: the typed client of the queue (package
 * `mcp-jobs`, clients/js), configured from SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY. Server side
 * only: the service-role key must never reach a browser, and importing this module from a client
 * component fails the build (server-only).
 */
import 'server-only';

export {
  enqueueJob,
  listJobs,
  getJob,
  getJobStats,
  cancelJob,
  queueDepth,
  alerts,
  getMetrics,
  listDeadLetters,
  deadLetterGroups,
  requeueDeadLetter,
  requeueDeadLetters,
  resolveDeadLetter,
  resolveDeadLetters,
  getDefaultClient,
  createClient,
  McpJobsClient,
  McpJobsError,
  McpJobsNetworkError,
  isMcpJobsError,
} from 'mcp-jobs';

export type {
  Job,
  JobRun,
  JobEvent,
  JobDetail,
  JobStats,
  JobStatus,
  DeadLetter,
  DeadLetterGroup,
  QueueDepth,
  Alert,
  MetricsRow,
  EnqueueOptions,
  ListJobsFilters,
  Page,
} from 'mcp-jobs';
