#!/usr/bin/env python3
"""Throughput of TypeScript workers (clients/js createWorker) through PostgREST on a no-op handler, and of
graphile-worker's and pg-boss's runners in the same run.

    PG_CONFIG=/path/to/pg_config python3 bench/workers_js.py              # 1 and 4 workers, 20,000 jobs
    PG_CONFIG=... python3 bench/workers_js.py --workers 1,2,4 --jobs 50000 --batch-size 50
    PG_CONFIG=... python3 bench/workers_js.py --smoke                     # < 30 s: checks the harness

Starts a throwaway cluster (Supabase's roles, the extension), PostgREST 12.0.2 and nginx on free ports
(tests/pgharness.py, tests/e2e/e2e_stack.py); graphile-worker and pg-boss get a database each in the same
cluster and connect to it directly (bench/peers.js sets them up and fills them). For each system and
worker count: the jobs are enqueued first, then that many worker processes (bench/workers_js.mjs), each
running `--concurrency` jobs at once, work the queue empty. mcp_jobs' workers use runUntilIdle and exit;
the peers' runners are stopped (SIGTERM) once their queue is empty.

jobs/s is the jobs over the span from the first job's start to the last job's completion. For mcp_jobs
that is the span of the runs in the database (first claim to last completion), and every job is checked
to be completed exactly once. For the peers it runs from the first handler start in any runner (each
reports its wall clock, Date.now()) to when the parent, polling the peer's job table every 20 ms, sees
no job left (graphile-worker deletes a job when it completes; pg-boss marks it completed).
pg-boss's runner (`work()`) waits its polling interval (at least 0.5 s) between fetches of a loop, so it
runs `--concurrency` loops fetching `--pgboss-batch` jobs each. Needs clients/js built (npm run build) and
bench/node_modules (npm ci). Not a test: run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

CHILD = os.path.join(HERE, "workers_js.mjs")
PEERS = os.path.join(HERE, "peers.js")
CLIENT_DIST = os.path.join(ROOT, "clients", "js", "dist", "index.js")

# what is left to do in each peer's queue
PEER_REMAINING = {
    "graphile": "SELECT count(*) FROM graphile_worker._private_jobs",
    "pgboss": "SELECT count(*) FROM pgboss.job WHERE name = 'bench' AND state IN ('created', 'retry', 'active')",
}
PEER_LABEL = {"mcp": "mcp_jobs (TypeScript worker)", "graphile": "graphile-worker run()", "pgboss": "pg-boss work()"}


def node(*args: str, timeout: float = 600) -> str:
    p = subprocess.run(["node", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if p.returncode != 0:
        raise SystemExit(f"node {' '.join(args[:3])} failed:\n{p.stdout}\n{p.stderr}")
    return p.stdout


def spawn(system: str, cfg: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(["node", CHILD, system, json.dumps(cfg)], stdout=subprocess.PIPE, text=True)


def last_json(out: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return doc


def first_start(reports: list[dict[str, Any]]) -> float:
    """The earliest handler start of the processes, in seconds since the epoch."""
    return float(min(r["first_ms"] for r in reports if r["first_ms"] is not None)) / 1000


def run_mcp(url: str, key: str, db: Any, workers: int, jobs: int, concurrency: int, batch: int | None) -> dict[str, Any]:
    source = "bench-" + uuid.uuid4().hex[:8]
    db.execute("SELECT mcp_jobs.enqueue_job(%s, 'noop', '{}') FROM generate_series(1, %s)", (source, jobs))
    db.execute("VACUUM ANALYZE mcp_jobs.jobs")
    t0 = time.monotonic()
    procs = [
        spawn("mcp", {"url": url, "key": key, "source": source, "concurrency": concurrency, "batchSize": batch,
                      "workerId": f"{source}-{i}"})
        for i in range(workers)
    ]
    outs = [p.communicate(timeout=3600)[0] for p in procs]
    wall = time.monotonic() - t0
    if any(p.returncode != 0 for p in procs):
        raise SystemExit(f"an mcp_jobs worker failed: exit codes {[p.returncode for p in procs]}")
    reports = [last_json(o) for o in outs]
    row = db.execute(
        """SELECT count(*) FILTER (WHERE j.status = 'completed'),
                  extract(epoch FROM max(r.finished_at) - min(r.started_at)),
                  count(*) FILTER (WHERE r.outcome IS DISTINCT FROM 'completed'),
                  count(DISTINCT j.id)
             FROM mcp_jobs.jobs j JOIN mcp_jobs.job_runs r ON r.job_id = j.id
            WHERE j.source = %s""",
        (source,),
    ).fetchone()
    completed, db_span, other_runs, distinct = int(row[0]), float(row[1]), int(row[2]), int(row[3])
    done = sum(int(r["completed"]) for r in reports)
    if completed != jobs or distinct != jobs or done != jobs or other_runs:
        raise SystemExit(f"mcp_jobs: not every job completed once: {completed} completed, workers say {done}, "
                         f"{other_runs} other runs")
    span = max(db_span, 0.001)
    return {"system": "mcp", "workers": workers, "concurrency": concurrency, "batch_size": batch, "jobs": jobs,
            "seconds": round(span, 3), "jobs_per_s": round(jobs / span, 1), "wall_s": round(wall, 2)}


def run_peer(system: str, url: str, db: Any, workers: int, jobs: int, concurrency: int, batch: int) -> dict[str, Any]:
    from pgharness import wait_until

    node(PEERS, system, "fill", url, str(jobs))
    t0 = time.monotonic()
    procs = [spawn(system, {"url": url, "concurrency": concurrency, "batchSize": batch}) for _ in range(workers)]
    try:
        wait_until(lambda: int(db.execute(PEER_REMAINING[system]).fetchone()[0]) == 0, timeout=3600, interval=0.02,
                   what=f"{system}'s queue to empty")
        emptied = time.time()
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
    outs = [p.communicate(timeout=60)[0] for p in procs]
    wall = time.monotonic() - t0
    if any(p.returncode != 0 for p in procs):
        raise SystemExit(f"a {system} runner failed: exit codes {[p.returncode for p in procs]}")
    reports = [last_json(o) for o in outs]
    handled = sum(int(r["handled"]) for r in reports)
    if handled != jobs:
        raise SystemExit(f"{system}: the handlers ran {handled} times for {jobs} jobs")
    span = max(emptied - first_start(reports), 0.001)
    return {"system": system, "workers": workers, "concurrency": concurrency,
            "batch_size": batch if system == "pgboss" else None, "jobs": jobs, "seconds": round(span, 3),
            "jobs_per_s": round(jobs / span, 1), "wall_s": round(wall, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--workers", default="1,4", help="worker process counts to measure (default 1,4)")
    ap.add_argument("--jobs", type=int, default=20000, help="jobs per measurement (default 20000)")
    ap.add_argument("--concurrency", type=int, default=4, help="jobs at once per worker process (default 4)")
    ap.add_argument("--batch-size", type=int, default=None,
                    help="mcp_jobs: claim_jobs/complete_jobs batches (default complete_and_claim_next)")
    ap.add_argument("--pgboss-batch", type=int, default=100, help="pg-boss: jobs per fetch of a work() loop (default 100)")
    ap.add_argument("--systems", default="mcp,graphile,pgboss", help="which to measure (default mcp,graphile,pgboss)")
    ap.add_argument("--smoke", action="store_true", help="200 jobs, 1 and 2 workers: checks that the harness works")
    args = ap.parse_args()

    from e2e_stack import (
        SUPABASE_DEFAULT_PRIVILEGES_SQL,
        SUPABASE_ROLES_SQL,
        Stack,
        mint_jwt,
    )
    from pgharness import PG_CONFIG, Cluster

    if not os.path.isfile(CLIENT_DIST):
        raise SystemExit(f"{CLIENT_DIST} is missing: npm run build in clients/js")
    counts = [1, 2] if args.smoke else [int(x) for x in args.workers.split(",")]
    jobs = 200 if args.smoke else args.jobs
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if not set(systems) <= set(PEER_LABEL):
        raise SystemExit(f"--systems: choose from {', '.join(PEER_LABEL)}")
    print(f"PG_CONFIG={PG_CONFIG} jobs={jobs} concurrency={args.concurrency} batch_size={args.batch_size} "
          f"pgboss_batch={args.pgboss_batch} cpus={os.cpu_count()}", flush=True)
    cluster = Cluster(name="mcp_jobs_bench_js", conf={"max_connections": 200}).start()
    try:
        cluster.psql(SUPABASE_ROLES_SQL)
        cluster.psql("CREATE DATABASE bench;")
        cluster.psql(SUPABASE_DEFAULT_PRIVILEGES_SQL, dbname="bench")
        cluster.psql("CREATE EXTENSION mcp_jobs;", dbname="bench")
        peer_db = {"graphile": "peer_graphile", "pgboss": "peer_pgboss"}
        for s, d in peer_db.items():
            if s in systems:
                cluster.psql(f"CREATE DATABASE {d};")
                node(PEERS, s, "setup", cluster.url(d))
        key = mint_jwt("service_role", ttl=24 * 3600)
        with Stack(cluster, "bench") as stack, cluster.connect(dbname="bench") as db:
            print(f"{'system':<30} {'workers':>7} {'conc':>4} {'batch':>5} {'jobs':>7} {'seconds':>8} {'jobs/s':>8} "
                  f"{'wall s':>7}", flush=True)
            results = []
            for system in systems:
                for n in counts:
                    if system == "mcp":
                        r = run_mcp(stack.url, key, db, n, jobs, args.concurrency, args.batch_size)
                    else:
                        with cluster.connect(dbname=peer_db[system]) as pdb:
                            r = run_peer(system, cluster.url(peer_db[system]), pdb, n, jobs, args.concurrency,
                                         args.pgboss_batch)
                    results.append(r)
                    print(f"{PEER_LABEL[system]:<30} {r['workers']:>7} {r['concurrency']:>4} {r['batch_size'] or '-':>5} "
                          f"{r['jobs']:>7} {r['seconds']:>8} {r['jobs_per_s']:>8} {r['wall_s']:>7}", flush=True)
            print(json.dumps(results))
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
