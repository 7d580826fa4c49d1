#!/usr/bin/env bash
# The main job: builds and installs mcp_jobs into the local PostgreSQL 15, starts a throwaway cluster
# on a free port with the extension created (and Supabase's API roles), PostgREST 12.0.2 behind nginx
# serving /rest/v1 like Supabase's gateway, and the console (console/, built with `next build` when its
# sources changed, run with `next start`), and prints how to reach them. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
echo "== cargo pgrx install --release"
cargo pgrx install --release --pg-config "$PG_CONFIG" >/dev/null
exec python3 scripts/run.py "$@"
