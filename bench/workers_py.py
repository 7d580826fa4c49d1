#!/usr/bin/env python3
"""Throughput of Python workers (clients/python, mcp_jobs.Worker) through PostgREST on a no-op handler.

    PG_CONFIG=/path/to/pg_config python3 bench/workers_py.py                  # 1 and 4 workers, 20,000 jobs
    PG_CONFIG=... python3 bench/workers_py.py --workers 1,2,4 --jobs 50000 --batch-size 50
    PG_CONFIG=... python3 bench/workers_py.py --smoke                         # seconds: checks the harness

Starts a throwaway cluster (Supabase's roles, the extension), PostgREST 12.0.2 and nginx on free ports
(tests/pgharness.py, tests/e2e/e2e_stack.py), then for each worker count: enqueues the jobs, starts that
many worker processes (`until_idle`, each with --concurrency handler threads) and waits for them to exit.
jobs/s is the number of jobs over the time from the first claim to the last completion, read from the
runs in the database; the wall time also counts the processes' start. mcp_jobs must be installed into
$PG_CONFIG's PostgreSQL and the `mcp_jobs` package importable (scripts/setup.sh). Not a test: run it on
an otherwise idle machine.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))


def child(cfg):
    """One worker process: no-op handler, until nothing is due; prints its RunStats as JSON."""
    from mcp_jobs import Worker

    worker = Worker(
        cfg["url"],
        cfg["key"],
        handlers={"noop": lambda job: None},
        sources=[cfg["source"]],
        concurrency=cfg["concurrency"],
        batch_size=cfg["batch_size"],
        lease_seconds=60,
        worker_id=cfg["worker_id"],
    )
    stats = worker.run(until_idle=True)
    print(json.dumps(vars(stats)))


def run_once(stack_url, key, db, workers, jobs, concurrency, batch_size):
    source = "bench-" + uuid.uuid4().hex[:8]
    db.execute("SELECT mcp_jobs.enqueue_job(%s, 'noop', '{}') FROM generate_series(1, %s)", (source, jobs))
    db.execute("VACUUM ANALYZE mcp_jobs.jobs")
    t0 = time.monotonic()
    procs = []
    for i in range(workers):
        cfg = {"url": stack_url, "key": key, "source": source, "concurrency": concurrency,
               "batch_size": batch_size, "worker_id": f"{source}-{i}"}
        procs.append(subprocess.Popen([sys.executable, __file__, "--child", json.dumps(cfg)],
                                      stdout=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=3600)[0] for p in procs]
    wall = time.monotonic() - t0
    if any(p.returncode != 0 for p in procs):
        raise SystemExit(f"a worker failed: exit codes {[p.returncode for p in procs]}")
    done = sum(json.loads(o.strip().splitlines()[-1])["completed"] for o in outs)
    row = db.execute(
        """SELECT count(*) FILTER (WHERE j.status = 'completed'),
                  extract(epoch FROM max(r.finished_at) - min(r.started_at)),
                  count(*) FILTER (WHERE r.outcome IS DISTINCT FROM 'completed')
             FROM mcp_jobs.jobs j JOIN mcp_jobs.job_runs r ON r.job_id = j.id
            WHERE j.source = %s""", (source,)).fetchone()
    completed, span, other_runs = row[0], float(row[1]), row[2]
    if completed != jobs or done != jobs or other_runs:
        raise SystemExit(f"not every job completed once: {completed} completed, workers say {done}, "
                         f"{other_runs} other runs")
    return {"workers": workers, "concurrency": concurrency, "batch_size": batch_size, "jobs": jobs,
            "seconds": round(span, 3), "jobs_per_s": round(jobs / span, 1), "wall_s": round(wall, 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--workers", default="1,4", help="worker process counts to measure (default 1,4)")
    ap.add_argument("--jobs", type=int, default=20000, help="jobs per measurement (default 20000)")
    ap.add_argument("--concurrency", type=int, default=4, help="handler threads per worker (default 4)")
    ap.add_argument("--batch-size", type=int, default=None,
                    help="claim_jobs/complete_jobs batches (default: complete_and_claim_next, one job per request)")
    ap.add_argument("--smoke", action="store_true", help="200 jobs, 1 and 2 workers: checks that the harness works")
    args = ap.parse_args()
    if args.child:
        child(json.loads(args.child))
        return

    from e2e_stack import SUPABASE_DEFAULT_PRIVILEGES_SQL, SUPABASE_ROLES_SQL, Stack, mint_jwt
    from pgharness import PG_CONFIG, Cluster

    counts = [1, 2] if args.smoke else [int(x) for x in args.workers.split(",")]
    jobs = 200 if args.smoke else args.jobs
    print(f"PG_CONFIG={PG_CONFIG} jobs={jobs} concurrency={args.concurrency} batch_size={args.batch_size} "
          f"cpus={os.cpu_count()}", flush=True)
    cluster = Cluster(name="mcp_jobs_bench_py", conf={"max_connections": 200}).start()
    try:
        cluster.psql(SUPABASE_ROLES_SQL)
        cluster.psql("CREATE DATABASE bench;")
        cluster.psql(SUPABASE_DEFAULT_PRIVILEGES_SQL, dbname="bench")
        cluster.psql("CREATE EXTENSION mcp_jobs;", dbname="bench")
        key = mint_jwt("service_role", ttl=24 * 3600)
        with Stack(cluster, "bench") as stack, cluster.connect(dbname="bench") as db:
            print(f"{'workers':>7} {'threads':>7} {'batch':>5} {'jobs':>7} {'seconds':>8} {'jobs/s':>8} {'wall s':>7}")
            results = []
            for n in counts:
                r = run_once(stack.url, key, db, n, jobs, args.concurrency, args.batch_size)
                results.append(r)
                print(f"{r['workers']:>7} {r['concurrency']:>7} {r['batch_size'] or '-':>5} {r['jobs']:>7} "
                      f"{r['seconds']:>8} {r['jobs_per_s']:>8} {r['wall_s']:>7}", flush=True)
            print(json.dumps(results))
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
