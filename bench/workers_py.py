#!/usr/bin/env python3
"""Throughput of Python workers (clients/python, mcp_jobs.Worker) through PostgREST on a no-op handler.

    PG_CONFIG=/path/to/pg_config python3 bench/workers_py.py                  # 1 and 4 workers, 20,000 jobs
    PG_CONFIG=... python3 bench/workers_py.py --workers 1,2,4 --jobs 50000 --batch-size 50
    PG_CONFIG=... python3 bench/workers_py.py --smoke                         # seconds: checks the harness
    PG_CONFIG=... python3 bench/workers_py.py --latency 200 [--preload]       # enqueue -> claim of an idle worker

Starts a throwaway cluster (Supabase's roles, the extension), PostgREST 12.0.2 and nginx on free ports
(tests/pgharness.py, tests/e2e/e2e_stack.py), then for each worker count: enqueues the jobs, starts that
many worker processes (`until_idle`, each with --concurrency handler threads) and waits for them to exit.
jobs/s is the number of jobs over the time from the first claim to the last completion, read from the
runs in the database; the wall time also counts the processes' start. --latency N measures instead how
soon an idle worker (its claim waiting in the server, claim_wait) takes a new job: N jobs enqueued one
at a time, each once the worker's claim waits, from the job's created_at to its run's started_at (both
the database's clock); --preload starts the cluster with shared_preload_libraries = 'mcp_jobs' (an
enqueue's commit wakes the waiting claim) instead of the waiting claim looking every 100 ms.

mcp_jobs must be installed into $PG_CONFIG's PostgreSQL and the `mcp_jobs` package importable
(scripts/setup.sh). Not a test: run it on an otherwise idle machine.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))


def child(cfg):
    """One worker process: no-op handler, until nothing is due (or until SIGTERM with until_idle
    false); prints its RunStats as JSON."""
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
        claim_wait=cfg.get("claim_wait", 5.0),
    )
    stats = worker.run(until_idle=cfg.get("until_idle", True))
    print(json.dumps(vars(stats)))


def waiting_claims(db):
    return db.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Extension' "
                      "AND query LIKE '%%claim_next_job%%'").fetchone()[0]


def latency(stack_url, key, db, n, claim_wait):
    """Enqueue n jobs one at a time, each once the idle worker's claim waits in the server; returns
    the enqueue -> claim latencies in ms (job created_at to run started_at)."""
    from pgharness import wait_until

    source = "bench-lat-" + uuid.uuid4().hex[:8]
    cfg = {"url": stack_url, "key": key, "source": source, "concurrency": 1, "batch_size": None,
           "worker_id": f"{source}-0", "until_idle": False, "claim_wait": claim_wait}
    proc = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(cfg)], stdout=subprocess.PIPE,
                            text=True)
    try:
        for i in range(n):
            wait_until(lambda: waiting_claims(db) == 1, timeout=60, interval=0.005, what="the claim to wait")
            job_id = db.execute("SELECT mcp_jobs.enqueue_job(%s, 'noop', '{}')", (source,)).fetchone()[0]
            wait_until(lambda job_id=job_id: db.execute("SELECT status = 'completed' FROM mcp_jobs.jobs "
                                                        "WHERE id = %s", (job_id,)).fetchone()[0],
                       timeout=60, interval=0.005, what=f"job {i} completed")
        ms = [float(r[0]) for r in db.execute(
            """SELECT extract(epoch FROM r.started_at - j.created_at) * 1000 FROM mcp_jobs.jobs j
                 JOIN mcp_jobs.job_runs r ON r.job_id = j.id WHERE j.source = %s ORDER BY 1""",
            (source,)).fetchall()]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
    if len(ms) != n:
        raise SystemExit(f"{len(ms)} runs for {n} jobs")
    return ms


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
    ap.add_argument("--latency", type=int, metavar="N",
                    help="instead of throughput: enqueue -> claim latency of an idle worker over N jobs")
    ap.add_argument("--claim-wait", type=float, default=5.0, help="the worker's claim_wait with --latency (default 5)")
    ap.add_argument("--preload", action="store_true", help="shared_preload_libraries = 'mcp_jobs' (latch wake-ups)")
    args = ap.parse_args()
    if args.child:
        child(json.loads(args.child))
        return

    from e2e_stack import (
        SUPABASE_DEFAULT_PRIVILEGES_SQL,
        SUPABASE_ROLES_SQL,
        Stack,
        mint_jwt,
    )
    from pgharness import PG_CONFIG, Cluster

    counts = [1, 2] if args.smoke else [int(x) for x in args.workers.split(",")]
    jobs = 200 if args.smoke else args.jobs
    print(f"PG_CONFIG={PG_CONFIG} jobs={jobs} concurrency={args.concurrency} batch_size={args.batch_size} "
          f"cpus={os.cpu_count()}", flush=True)
    conf = {"max_connections": 200}
    if args.preload:
        conf["shared_preload_libraries"] = "'mcp_jobs'"
    cluster = Cluster(name="mcp_jobs_bench_py", conf=conf).start()
    try:
        cluster.psql(SUPABASE_ROLES_SQL)
        cluster.psql("CREATE DATABASE bench;")
        cluster.psql(SUPABASE_DEFAULT_PRIVILEGES_SQL, dbname="bench")
        cluster.psql("CREATE EXTENSION mcp_jobs;", dbname="bench")
        key = mint_jwt("service_role", ttl=24 * 3600)
        with Stack(cluster, "bench") as stack, cluster.connect(dbname="bench") as db:
            if args.latency:
                mode = db.execute("SELECT mcp_jobs.diagnostics()->>'wakeups'").fetchone()[0]
                ms = latency(stack.url, key, db, args.latency, args.claim_wait)
                pct = {p: ms[min(len(ms) - 1, int(p / 100 * len(ms)))] for p in (50, 95, 99)}
                print(f"enqueue -> claim by an idle worker (claim_wait {args.claim_wait} s, wake-ups: {mode}), "
                      f"{len(ms)} jobs: p50 {pct[50]:.1f} ms, p95 {pct[95]:.1f} ms, p99 {pct[99]:.1f} ms, "
                      f"max {ms[-1]:.1f} ms", flush=True)
                print(json.dumps({"jobs": len(ms), "claim_wait": args.claim_wait, "wakeups": mode,
                                  "p50_ms": round(pct[50], 1), "p95_ms": round(pct[95], 1),
                                  "p99_ms": round(pct[99], 1), "max_ms": round(ms[-1], 1)}))
                return
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
