#!/usr/bin/env bash
# Full benchmark run: release-installs mcp_jobs into $PG_CONFIG's PostgreSQL, then runs bench/run.py
# (one throwaway cluster; writes BENCHMARKS.md and bench/throughput.png). Extra arguments go to run.py
# (e.g. --smoke, --seconds N, --no-write).
set -euo pipefail
cd "$(dirname "$0")/.."
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PG_CONFIG
[ -d bench/node_modules ] || (cd bench && npm ci --silent --no-audit --no-fund)
cargo pgrx install --release --pg-config "$PG_CONFIG" >/dev/null
python3 -c "import matplotlib" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check matplotlib
exec python3 bench/run.py "$@"
