export { createClient, McpJobsClient, CLIENT_VERSION, MAX_PAGE, MAX_WAIT_MS } from './client.js';
export type { McpJobsClientOptions, RpcOptions } from './client.js';
export { McpJobsError, McpJobsNetworkError, isMcpJobsError } from './errors.js';
export type { McpJobsErrorInit, McpJobsErrorKind } from './errors.js';
export {
  getDefaultClient,
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
} from './env.js';
export { createWorker, Worker, McpJobsLeaseLostError, isTransientError } from './worker.js';
export type { WorkerOptions, JobHandler, JobContext, FailureAnalysis, AnalyzeFailure, WorkerEvent, WorkerEventType, RunStats } from './worker.js';
export { JOB_STATUSES, JOB_EVENT_TYPES } from './types.js';
export type * from './types.js';
