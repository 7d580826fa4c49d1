#!/usr/bin/env bash
# The whole test suite: installs what is missing (scripts/setup.sh), then runs
#   1. the pgrx tests (#[pg_test] logic tests and multi-session tests) in a throwaway cluster,
#   2. the pytest suites in tests/ (SQL regression files, end-to-end through PostgREST and nginx,
#      faults, benchmark smoke) against the extension installed into $PG_CONFIG's PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PGDATA_BASE=${MCP_JOBS_TEST_PGDATA:-/tmp/mcp_jobs_pgrx_test}

# The tests install into the system PostgreSQL ($PG_CONFIG); two checkouts testing at once on one
# machine would overwrite each other's files, so the whole run holds this lock.
exec 9>/tmp/mcp_jobs_system_pg.lock
flock 9
export MCP_JOBS_SYSTEM_PG_LOCK_HELD=1

echo "== lint"
cargo fmt --check
cargo clippy --quiet -- -D warnings
cargo clippy --quiet --features pg_test --tests -- -D warnings
python3 -m ruff check tests scripts clients/python bench --exclude bench/workers_py.py
python3 -m mypy --strict --ignore-missing-imports bench/benchlib.py bench/run.py bench/wake.py bench/soak.py \
    bench/report.py bench/quick.py bench/profile.py bench/ab_schema.py bench/workers_js.py \
    tests/bench/test_bench_smoke.py
(cd clients/python && python3 -m mypy --strict src examples)
(cd tests/python_client && python3 -m mypy)
(cd tests/js_worker && python3 -m mypy)
(cd clients/js && npx tsc --noEmit -p . && npx eslint .)
(cd console && npx tsc --noEmit && npx eslint .)

echo "== cargo pgrx test"
cargo pgrx test pg15 --runas postgres --pgdata "$PGDATA_BASE"

echo "== install into $($PG_CONFIG --sharedir)"
cargo pgrx install --pg-config "$PG_CONFIG" >/dev/null

echo "== pytest"
python3 -m pytest -q tests "$@"
