/**
 * The queue as MCP tools (the official @modelcontextprotocol/sdk): enqueue, list and read jobs, stats,
 * queue depth, alerts, dead letters, cancel. `createMcpServer` builds the server; `mcp-cli.ts` runs
 * it over stdio. Bad arguments and refused calls are tool results with `isError`, never crashes.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

import { CLIENT_VERSION, type McpJobsClient } from './client.js';
import { McpJobsError } from './errors.js';
import { JOB_STATUSES, type Json, type JsonObject } from './types.js';

export interface McpServerOptions {
  client: McpJobsClient;
  /** Only the tools that read (no enqueue, cancel, requeue or resolve). */
  readOnly?: boolean;
}

/** The tools that only read, in the order they are listed. */
export const READ_TOOLS = ['list_jobs', 'get_job', 'get_job_stats', 'queue_depth', 'alerts', 'list_dead_letters', 'dead_letter_groups'] as const;
/** The tools that change the queue (left out with readOnly). */
export const WRITE_TOOLS = ['enqueue_job', 'cancel_job', 'requeue_dead_letter', 'resolve_dead_letter'] as const;

const name = z.string().min(1).max(200);
const uuid = z.string().uuid();
const limit = z.number().int().min(1).max(1000).optional().describe('page size, 1-1000 (default 50)');
const before = uuid.optional().describe('keyset paging: the last id of the previous page');

function ok(value: unknown): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value ?? null, null, 2) }] };
}

function failure(e: unknown): CallToolResult {
  let text: string;
  if (e instanceof McpJobsError) {
    const lines = [`${e.message} (${e.kind === 'postgrest' ? `HTTP ${e.status}, code ${e.code}` : e.code})`];
    if (e.details) lines.push(`detail: ${e.details}`);
    if (e.hint) lines.push(`hint: ${e.hint}`);
    text = lines.join('\n');
  } else {
    text = e instanceof Error ? e.message : String(e);
  }
  return { content: [{ type: 'text', text }], isError: true };
}

async function run(fn: () => Promise<unknown>): Promise<CallToolResult> {
  try {
    return ok(await fn());
  } catch (e) {
    return failure(e);
  }
}

/** An MCP server exposing the queue of `client` as tools. */
export function createMcpServer(options: McpServerOptions): McpServer {
  const { client } = options;
  const server = new McpServer({ name: 'mcp-jobs', version: CLIENT_VERSION });
  const readOnly = { readOnlyHint: true, openWorldHint: false } as const;

  server.registerTool(
    'list_jobs',
    {
      description: 'Jobs of the mcp_jobs queue, newest first, filtered by source, job type and status.',
      inputSchema: {
        source: name.optional(),
        job_type: name.optional(),
        status: z.enum(JOB_STATUSES).optional(),
        limit,
        before,
      },
      annotations: readOnly,
    },
    (a) => run(() => client.listJobs({ source: a.source, jobType: a.job_type, status: a.status, limit: a.limit, before: a.before })),
  );
  server.registerTool(
    'get_job',
    {
      description: 'One job with its history: every run (attempt), its event log and its dead letters.',
      inputSchema: { job_id: uuid },
      annotations: readOnly,
    },
    (a) => run(() => client.getJob(a.job_id)),
  );
  server.registerTool(
    'get_job_stats',
    {
      description: 'Job counts by status, the total, unresolved dead letters and paused/limited queues, for one source or all.',
      inputSchema: { source: name.optional() },
      annotations: readOnly,
    },
    (a) => run(() => client.getJobStats(a.source)),
  );
  server.registerTool(
    'queue_depth',
    {
      description: 'Queued and in-flight jobs per source and job type, the oldest queued age, and what holds a queue back.',
      inputSchema: {},
      annotations: readOnly,
    },
    () => run(() => client.queueDepth()),
  );
  server.registerTool(
    'alerts',
    {
      description: 'Sources and metrics past their warning or critical threshold (queue depth, dead letters, success rate), critical first.',
      inputSchema: {},
      annotations: readOnly,
    },
    () => run(() => client.alerts()),
  );
  server.registerTool(
    'list_dead_letters',
    {
      description: 'Dead letters (jobs that failed for good) newest first; unresolved ones unless resolved is given.',
      inputSchema: {
        source: name.optional(),
        job_type: name.optional(),
        resolved: z.enum(['unresolved', 'resolved', 'all']).optional().describe('default unresolved'),
        limit,
        before,
      },
      annotations: readOnly,
    },
    (a) =>
      run(() =>
        client.listDeadLetters({
          source: a.source,
          jobType: a.job_type,
          resolved: a.resolved === 'all' ? null : a.resolved === 'resolved',
          limit: a.limit,
          before: a.before,
        }),
      ),
  );
  server.registerTool(
    'dead_letter_groups',
    {
      description: 'Dead letters grouped by source, job type and error, largest group first, with up to 100 ids each.',
      inputSchema: { resolved: z.enum(['unresolved', 'resolved', 'all']).optional().describe('default unresolved') },
      annotations: readOnly,
    },
    (a) => run(() => client.deadLetterGroups(a.resolved === 'all' ? null : a.resolved === 'resolved')),
  );
  if (options.readOnly) return server;

  server.registerTool(
    'enqueue_job',
    {
      description: 'Adds a job to the queue; returns its id. With an idempotency key, a second enqueue returns the first job.',
      inputSchema: {
        source: name.describe('who enqueues it (odoo, n8n, ...)'),
        job_type: name.describe('what kind of work it is'),
        payload: z.record(z.string(), z.unknown()).optional().describe('a JSON object (default {})'),
        priority: z.number().int().min(0).max(10).optional().describe('0-10, higher first (default 5)'),
        run_at: z.string().datetime({ offset: true }).optional().describe('not claimed before this ISO 8601 time'),
        max_attempts: z.number().int().min(1).max(1000).optional(),
        idempotency_key: name.optional(),
      },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    (a) =>
      run(async () => ({
        job_id: await client.enqueueJob(a.source, a.job_type, (a.payload ?? {}) as JsonObject, {
          priority: a.priority,
          runAt: a.run_at,
          maxAttempts: a.max_attempts,
          idempotencyKey: a.idempotency_key,
        }),
      })),
  );
  server.registerTool(
    'cancel_job',
    {
      description: 'Cancels a queued job (also one waiting for a retry); refused for a job in any other state.',
      inputSchema: { job_id: uuid },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    },
    (a) => run(() => client.cancelJob(a.job_id)),
  );
  server.registerTool(
    'requeue_dead_letter',
    {
      description: 'Runs a dead job again with fresh attempts and closes its dead letter; returns the job id.',
      inputSchema: { dead_letter_id: uuid },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    (a) => run(async () => ({ job_id: await client.requeueDeadLetter(a.dead_letter_id) })),
  );
  server.registerTool(
    'resolve_dead_letter',
    {
      description: 'Closes a dead letter without running the job again, with an optional note.',
      inputSchema: { dead_letter_id: uuid, note: z.string().max(10000).optional() },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    (a) => run(() => client.resolveDeadLetter(a.dead_letter_id, a.note)),
  );
  return server;
}

export type { Json };
