#!/usr/bin/env python3
"""The claims' plans on a jobs table that holds rows but was never analyzed (after a restore or a
bulk load, before autovacuum's first ANALYZE).

1. claim.sql and claim_many.sql prepared as the library prepares them, planned once (generic plan)
   and executed on the queue, under 0.6.0's settings (enable_seqscan = off) and under 0.6.1's (also
   enable_bitmapscan = off). Prints the plan's shape, the buffers the queue scan read and the median
   execution time of 5 runs (each rolled back).
2. How often claim.sql is planned in 20 claims of a new session (pg_stat_statements, track_planning):
   prepared by the client under 0.6.0's settings and the default plan_cache_mode, and inside the
   installed library's claim_next_job.

    PG_CONFIG=... python3 bench/unanalyzed.py [--queued 150000]
"""
import argparse
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--queued", type=int, default=150000)
args = ap.parse_args()


CLAIMS = {
    "claim_next_job (claim.sql)": ("(text, text[], text[], int)", "('w', NULL, NULL, 300)",
                                   bench.query_text("claim")),
    "claim_jobs, 50 (claim_many.sql)": ("(text, text[], text[], int, int)", "('w', NULL, NULL, 300, 50)",
                                        bench.query_text("claim_many")),
}
SETTINGS = {"0.6.0": ["SET enable_seqscan = off"],
            "0.6.1": ["SET enable_seqscan = off", "SET enable_bitmapscan = off"]}
# (label, finished jobs in the table, queue loaded before the plan is made (else after), ANALYZE
# before the plan is made)
STATES = [
    ("queue loaded, never analyzed (a restore)", 0, True, False),
    ("8 000 finished, never analyzed; then the queue", 8000, False, False),
    ("queue loaded, analyzed (control)", 0, True, True),
]


FILL = "INSERT INTO mcp_jobs.jobs (source, job_type{}) SELECT 'p', 't'{} FROM generate_series(1, %s)"


def new_database(b, db, finished):
    """Database `db` with the extension, pg_stat_statements and `finished` completed jobs, never
    analyzed (bench.SETTINGS turns autovacuum off)."""
    b.sql("postgres", f"DROP DATABASE IF EXISTS {db}", fetch=False)
    b.sql("postgres", f"CREATE DATABASE {db}", fetch=False)
    b.sql(db, "CREATE EXTENSION mcp_jobs; CREATE EXTENSION pg_stat_statements", fetch=False)
    if finished:
        b.sql(db, FILL.format(", status, finished_at", ", 'completed', now()"), (finished,), fetch=False)


def add_queue(b, db, queued):
    b.sql(db, FILL.format("", ""), (queued,), fetch=False)


def run_claim(conn, types, call, sql, settings, before_plan):
    """PREPARE and plan (generic) in the state `before_plan` leaves, then grow the queue and time it."""
    conn.execute("RESET ALL")
    for s in settings:
        conn.execute(s)
    conn.execute("SET plan_cache_mode = force_generic_plan")
    conn.execute(f"PREPARE c{types} AS {sql}")
    conn.execute("BEGIN")
    conn.execute(f"EXPLAIN (COSTS OFF) EXECUTE c{call}")  # makes and caches the generic plan
    conn.execute("ROLLBACK")
    before_plan()
    times, shape, buffers = [], "", ""
    for _ in range(5):
        conn.execute("BEGIN")
        text = "\n".join(r[0] for r in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) EXECUTE c{call}"))
        conn.execute("ROLLBACK")
        times.append(float(re.search(r"Execution Time: ([\d.]+)", text).group(1)))
        nxt = text.split("CTE next")[1].split("CTE claimed")[0]
        shape = "bitmap scan + sort of the queue" if "Sort" in nxt else "claim index in claim order"
        buffers = re.search(r"Buffers: shared hit=(\d+)", nxt).group(1)
    conn.execute("DEALLOCATE c")
    return shape, buffers, statistics.median(times)


def plans_per_call(b, db, finished, queued, analyze):
    """(plans, calls, mean plan ms) of claim.sql over 20 claims of a new session on `db` loaded with
    `finished` finished and `queued` queued jobs: a client's own prepared claim.sql under 0.6.0's
    settings, then claim_next_job as installed."""
    new_database(b, db, finished)
    add_queue(b, db, queued)
    if analyze:
        b.sql(db, "ANALYZE mcp_jobs.jobs", fetch=False)
    out = []
    for prepare, call in ((["SET enable_seqscan = off", "PREPARE c(text, text[], text[], int) AS " + CLAIMS[
                                "claim_next_job (claim.sql)"][2]], "EXECUTE c('w', NULL, NULL, 300)"),
                          ([], "SELECT * FROM mcp_jobs.claim_next_job('w')")):
        with b.cluster.connect(db) as conn:
            conn.autocommit = True
            for q in prepare:
                conn.execute(q)
            conn.execute("SELECT pg_stat_statements_reset()")
            for _ in range(20):
                conn.execute(call).fetchall()
            out.append(conn.execute("""
                SELECT plans, calls, mean_plan_time FROM pg_stat_statements
                 WHERE query LIKE '%%FOR UPDATE SKIP LOCKED%%' AND query NOT LIKE '%%LIMIT $5%%'
                   AND query NOT LIKE '%%EXPLAIN%%' AND toplevel = %s""", (bool(prepare),)).fetchone())
    return out


b = bench.Bench(argparse.Namespace(smoke=False, seconds=1, rounds=1, out="/tmp"))
try:
    b.cluster = bench.Cluster(conf=bench.SETTINGS, name="mcp_unanalyzed").start()
    print(f"{'state':48s} {'claim':32s} {'settings':8s} {'plan of the queue scan':32s} {'buffers':>8s} {'ms':>9s}")
    for i, (label, finished, load_first, analyze) in enumerate(STATES):
        for name, (types, call, sql) in CLAIMS.items():
            for version, settings in SETTINGS.items():
                db = f"u{i}"
                new_database(b, db, finished)
                if load_first:
                    add_queue(b, db, args.queued)
                if analyze:
                    b.sql(db, "ANALYZE mcp_jobs.jobs", fetch=False)
                with b.cluster.connect(db) as conn:
                    conn.autocommit = True
                    shape, buffers, ms = run_claim(conn, types, call, sql, settings,
                                                   lambda: None if load_first else add_queue(b, db, args.queued))
                print(f"{label:48s} {name:32s} {version:8s} {shape:32s} {buffers:>8s} {ms:9.3f}", flush=True)

    b.sql("postgres", "ALTER SYSTEM SET pg_stat_statements.track = 'all'", fetch=False)
    b.sql("postgres", "ALTER SYSTEM SET pg_stat_statements.track_planning = on", fetch=False)
    b.sql("postgres", "SELECT pg_reload_conf()", fetch=False)
    print()
    print(f"{'state when the session plans':48s} {'0.6.0 settings: plans/calls, ms':>32s} "
          f"{'installed claim_next_job: plans/calls, ms':>42s}")
    for i, (label, finished, queued, analyze) in enumerate([
            ("1 000 queued, never analyzed", 0, 1000, False),
            ("8 000 finished + 1 000 queued, never analyzed", 8000, 1000, False),
            ("50 000 finished + 1 000 queued, never analyzed", 50000, 1000, False),
            ("20 000 queued, never analyzed", 0, 20000, False),
            ("50 000 finished + 1 000 queued, analyzed", 50000, 1000, True)]):
        (p0, c0, t0), (p1, c1, t1) = plans_per_call(b, f"p{i}", finished, queued, analyze)
        print(f"{label:48s} {f'{p0}/{c0}, {t0:.3f}':>32s} {f'{p1}/{c1}, {t1:.3f}':>42s}", flush=True)
finally:
    b.close()
