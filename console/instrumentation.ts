/** Runs once when the server starts: says in the server log what the console is open to. */
export function register(): void {
  if (process.env.NEXT_RUNTIME !== 'nodejs') return;
  const token = process.env.MCP_JOBS_API_TOKEN?.trim() ?? '';
  if (token === '') {
    console.warn(
      '[mcp-jobs console] WARNING: MCP_JOBS_API_TOKEN is not set: the /api/jobs routes and the dashboard are open to anyone who can reach this server. Set it to require "Authorization: Bearer <token>".',
    );
  } else {
    console.log('[mcp-jobs console] the /api routes require Authorization: Bearer <MCP_JOBS_API_TOKEN>; the dashboard asks for the token once.');
  }
  for (const name of ['SUPABASE_URL', 'SUPABASE_SERVICE_ROLE_KEY']) {
    if ((process.env[name]?.trim() ?? '') === '') {
      console.warn(`[mcp-jobs console] WARNING: ${name} is not set: every route will answer 503 not_configured.`);
    }
  }
}
