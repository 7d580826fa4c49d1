"""Start a local mcp_jobs stack (see scripts/run.sh) and keep it up until interrupted: PostgreSQL with
the extension (and its maintenance worker), PostgREST behind nginx, and the console (`next start`)."""
import os
import signal
import sys
import threading

import requests

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
sys.path.insert(0, os.path.join(REPO, "tests", "console"))

from console_stack import ConsoleServer, ensure_built
from e2e_stack import (
    SUPABASE_DEFAULT_PRIVILEGES_SQL,
    SUPABASE_ROLES_SQL,
    Stack,
    mint_jwt,
)
from pgharness import Cluster

# The maintenance background worker aggregates the hourly metrics the console draws (and requeues
# expired leases) every 10 seconds.
CLUSTER_CONF = {
    "shared_preload_libraries": "'mcp_jobs'",
    "mcp_jobs.database": "'postgres'",
    "mcp_jobs.maintenance_interval": "'10s'",
}


def main() -> int:
    smoke = "--smoke" in sys.argv  # start, print, check, stop (used by the tests)
    if ensure_built() is None:
        print("== console: build up to date", flush=True)
    cluster = Cluster(conf=CLUSTER_CONF, name="mcp_jobs_run").start()
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        cluster.psql(SUPABASE_ROLES_SQL)
        cluster.psql(SUPABASE_DEFAULT_PRIVILEGES_SQL)
        cluster.psql("CREATE EXTENSION mcp_jobs;")
        with Stack(cluster, "postgres") as stack:
            key = mint_jwt("service_role", ttl=7 * 24 * 3600)
            env = {"SUPABASE_URL": stack.url, "SUPABASE_SERVICE_ROLE_KEY": key}
            token = os.environ.get("MCP_JOBS_API_TOKEN", "").strip()
            if token:
                env["MCP_JOBS_API_TOKEN"] = token
            port = int(os.environ.get("MCP_JOBS_CONSOLE_PORT", "0")) or None
            with ConsoleServer(env, port=port) as console:
                auth = "" if not token else ' -H "Authorization: Bearer $MCP_JOBS_API_TOKEN"'
                print(f"""
mcp_jobs is running.

  psql:       psql "{cluster.url()}"
  REST:       {stack.url}/rest/v1/rpc/enqueue_job   (Supabase-style, via nginx)
  console:    {console.url}/
  service key (SUPABASE_SERVICE_ROLE_KEY, a service_role JWT valid 7 days):
              {key}
  console API token: {"MCP_JOBS_API_TOKEN (from your environment)" if token else "none: the console is open (set MCP_JOBS_API_TOKEN to require one)"}

  try:
    curl -X POST "{console.url}/api/jobs/enqueue"{auth} \\
      -H "Content-Type: application/json" \\
      -d '{{"source": "test", "jobType": "discovery", "payload": {{"test": true}}}}'
    curl -s -X POST "{stack.url}/rest/v1/rpc/enqueue_job" \\
      -H "Authorization: Bearer {key}" -H "Content-Type: application/json" \\
      -d '{{"p_source": "test", "p_job_type": "discovery", "p_payload": {{"test": true}}}}'
    psql "{cluster.url()}" -c "SELECT * FROM mcp_jobs.claim_next_job('worker-1')"

Press Ctrl-C to stop (the cluster in {cluster.dir} is removed).""", flush=True)
                if smoke:
                    return run_smoke(stack.url, key, console.url, token)
                stop.wait()
    finally:
        cluster.destroy()
    return 0


def run_smoke(rest: str, key: str, console: str, token: str) -> int:
    r = requests.post(f"{rest}/rest/v1/rpc/enqueue_job",
                      headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                      json={"p_source": "test", "p_job_type": "discovery", "p_payload": {"test": True}},
                      timeout=30)
    r.raise_for_status()
    job = r.json()
    print(f"smoke: enqueued job {job} through {rest}/rest/v1", flush=True)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    listed = requests.get(f"{console}/api/jobs/list?limit=10", headers=headers, timeout=30)
    listed.raise_for_status()
    body = listed.json()
    assert body["ok"] is True and job in [j["id"] for j in body["jobs"]], body
    page = requests.get(f"{console}/", headers={"Cookie": ""}, timeout=30, allow_redirects=False)
    assert page.status_code in (200, 307), page.status_code
    print(f"smoke: the console at {console}/ lists job {job}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
