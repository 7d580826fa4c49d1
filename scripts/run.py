"""Start a local mcp_jobs stack (see scripts/run.sh) and keep it up until interrupted."""
import os
import signal
import sys
import threading

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

from pgharness import Cluster  # noqa: E402
from e2e_stack import SUPABASE_DEFAULT_PRIVILEGES_SQL, SUPABASE_ROLES_SQL, Stack, mint_jwt  # noqa: E402


def main():
    smoke = "--smoke" in sys.argv  # start, print, stop (used by the tests)
    cluster = Cluster(name="mcp_jobs_run").start()
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        cluster.psql(SUPABASE_ROLES_SQL)
        cluster.psql(SUPABASE_DEFAULT_PRIVILEGES_SQL)
        cluster.psql("CREATE EXTENSION mcp_jobs;")
        with Stack(cluster, "postgres") as stack:
            key = mint_jwt("service_role", ttl=7 * 24 * 3600)
            print(f"""
mcp_jobs is running.

  psql:       psql "{cluster.url()}"
  REST:       {stack.url}/rest/v1/rpc/enqueue_job   (Supabase-style, via nginx)
  service key (SUPABASE_SERVICE_ROLE_KEY, a service_role JWT valid 7 days):
              {key}

  try:
    curl -s -X POST "{stack.url}/rest/v1/rpc/enqueue_job" \\
      -H "Authorization: Bearer {key}" -H "Content-Type: application/json" \\
      -d '{{"p_source": "test", "p_job_type": "discovery", "p_payload": {{"test": true}}}}'
    psql "{cluster.url()}" -c "SELECT * FROM mcp_jobs.claim_next_job('worker-1')"

Press Ctrl-C to stop (the cluster in {cluster.dir} is removed).""", flush=True)
            if smoke:
                import requests
                r = requests.post(f"{stack.url}/rest/v1/rpc/enqueue_job",
                                  headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                                  json={"p_source": "test", "p_job_type": "discovery", "p_payload": {"test": True}},
                                  timeout=30)
                r.raise_for_status()
                print(f"smoke: enqueued job {r.json()} through {stack.url}/rest/v1", flush=True)
                return 0
            stop.wait()
    finally:
        cluster.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
