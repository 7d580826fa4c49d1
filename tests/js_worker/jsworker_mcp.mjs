// An MCP client of the same SDK: starts clients/js/dist/mcp-cli.js over stdio, lists its tools and
// calls them. `node jsworker_mcp.mjs '<plan JSON>'` with plan {args: [...], env: {...}, calls:
// [{name, arguments}]}; prints {tools: [{name, inputSchema, annotations}], results: [CallToolResult]}.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const here = path.dirname(new URL(import.meta.url).pathname);
const clientDir = path.join(here, '..', '..', 'clients', 'js');
const sdk = (p) => import(pathToFileURL(path.join(clientDir, 'node_modules', '@modelcontextprotocol', 'sdk', 'dist', 'esm', p)).href);
const { Client } = await sdk('client/index.js');
const { StdioClientTransport } = await sdk('client/stdio.js');

const plan = JSON.parse(process.argv[2]);
const transport = new StdioClientTransport({
  command: process.execPath,
  args: [path.join(clientDir, 'dist', 'mcp-cli.js'), ...(plan.args ?? [])],
  env: { PATH: process.env.PATH ?? '', ...plan.env },
  stderr: 'inherit',
});
const client = new Client({ name: 'mcp-jobs-test', version: '1.0.0' });
await client.connect(transport);
const { tools } = await client.listTools();
const results = [];
for (const call of plan.calls ?? []) results.push(await client.callTool(call));
await client.close();
process.stdout.write(JSON.stringify({ tools: tools.map((t) => ({ name: t.name, inputSchema: t.inputSchema, annotations: t.annotations ?? null })), results }));
