#!/usr/bin/env node
/**
 * mcp-jobs-mcp: the mcp_jobs queue as MCP tools over stdio.
 *
 *   SUPABASE_URL=https://<project>.supabase.co SUPABASE_SERVICE_ROLE_KEY=... mcp-jobs-mcp [--read-only]
 *
 * Options: --url URL (default $SUPABASE_URL), --key-env NAME (read the key from that variable instead
 * of SUPABASE_SERVICE_ROLE_KEY), --rest-path PATH (default /rest/v1; '' for a bare PostgREST),
 * --read-only (only the tools that read). stdout carries the protocol; messages go to stderr.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';

import { createClient } from './client.js';
import { McpJobsError } from './errors.js';
import { createMcpServer } from './mcp.js';

const USAGE = `usage: mcp-jobs-mcp [--read-only] [--url URL] [--key-env NAME] [--rest-path PATH]
environment: SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY (or the variable named by --key-env)`;

interface Args {
  readOnly: boolean;
  url: string | undefined;
  keyEnv: string;
  restPath: string | undefined;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { readOnly: false, url: undefined, keyEnv: 'SUPABASE_SERVICE_ROLE_KEY', restPath: undefined };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--read-only':
        a.readOnly = true;
        break;
      case '--url':
        a.url = value();
        break;
      case '--key-env':
        a.keyEnv = value();
        break;
      case '--rest-path':
        a.restPath = value();
        break;
      case '--help':
      case '-h':
        process.stderr.write(USAGE + '\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${JSON.stringify(arg)}`);
    }
  }
  return a;
}

async function main(): Promise<void> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`mcp-jobs-mcp: ${(e as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  let client;
  try {
    client = createClient({
      url: args.url ?? process.env.SUPABASE_URL ?? '',
      key: process.env[args.keyEnv] ?? '',
      ...(args.restPath !== undefined ? { restPath: args.restPath } : {}),
    });
  } catch (e) {
    const msg = e instanceof McpJobsError ? `${e.message}${e.hint ? ` (${e.hint})` : ''}` : String(e);
    process.stderr.write(`mcp-jobs-mcp: ${msg.replace('SUPABASE_SERVICE_ROLE_KEY', args.keyEnv)}\n`);
    process.exit(2);
  }
  const server = createMcpServer({ client, readOnly: args.readOnly });
  const transport = new StdioServerTransport();
  const close = (): void => {
    void server.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', close);
  process.on('SIGINT', close);
  process.stdin.on('end', close);
  await server.connect(transport);
}

main().catch((e: unknown) => {
  process.stderr.write(`mcp-jobs-mcp: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
