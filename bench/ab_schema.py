#!/usr/bin/env python3
"""A/B of a schema-only change to mcp_jobs, in one cluster and one run: database `a` has the
extension as installed, database `b` the same plus the DDL in FILE. Interleaved lifecycle rounds
(enqueue, claim, complete), then per-call server time, buffers and WAL from pg_stat_statements.

    PG_CONFIG=... python3 bench/ab_schema.py FILE [--clients 4] [--seconds 8] [--rounds 3]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("ddl")
ap.add_argument("--clients", type=int, default=4)
ap.add_argument("--seconds", type=int, default=8)
ap.add_argument("--rounds", type=int, default=3)
args = ap.parse_args()
ddl = open(args.ddl).read()

b = bench.Bench(argparse.Namespace(smoke=False, seconds=args.seconds, rounds=args.rounds, out="/tmp"))
try:
    b.cluster = bench.Cluster(conf=bench.SETTINGS, name="mcp_ab").start()
    for db in ("a", "b"):
        b.sql("postgres", f"CREATE DATABASE {db}", fetch=False)
        b.sql(db, "CREATE EXTENSION mcp_jobs; CREATE EXTENSION pg_stat_statements", fetch=False)
    if os.environ.get("AB_BASE"):
        for db in ("a", "b"):
            b.sql(db, open(os.environ["AB_BASE"]).read(), fetch=False)
    b.sql("b", ddl, fetch=False)
    acc = {db: [0, 0, 0] for db in ("a", "b")}
    for r in range(args.rounds):
        for db in (("a", "b") if r % 2 == 0 else ("b", "a")):
            b.sql(db, bench.SYSTEMS["mcp_jobs"][2], fetch=False)
            b.sql(db, "SELECT pg_stat_reset()", fetch=False)
            lsn0 = b.sql(db, "SELECT pg_current_wal_lsn()")[0][0]
            b.pgbench(db, "mcp_lifecycle", args.clients, seconds=args.seconds)
            n = b.sql(db, "SELECT count(*) FROM mcp_jobs.jobs WHERE status = 'completed'")[0][0]
            import time; time.sleep(0.6)
            wal = b.sql(db, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)::bigint", (lsn0,))[0][0]
            dead = b.sql(db, "SELECT sum(n_dead_tup)::bigint FROM pg_stat_user_tables WHERE schemaname = 'mcp_jobs'")[0][0]
            acc[db] = [acc[db][0] + n, acc[db][1] + wal, acc[db][2] + dead]
            print(f"round {r} {db}: {n / args.seconds:.0f} jobs/s", flush=True)
    for db in ("a", "b"):
        n, wal, dead = acc[db]
        print(f"{db}: {n / (args.seconds * args.rounds):.0f} jobs/s, WAL {wal / n:.0f} B/job, dead {dead / n:.2f}/job")
    for db in ("a", "b"):
        rows = b.sql(db, """
            SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 40), calls, round(mean_exec_time::numeric, 4),
                   round((shared_blks_hit + shared_blks_read + shared_blks_dirtied)::numeric / calls, 1),
                   round(wal_bytes / calls, 0)
              FROM pg_stat_statements
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = %s) AND toplevel AND calls > 100
             ORDER BY total_exec_time DESC LIMIT 4""", (db,))
        for r in rows:
            print(f"  {db}: {r[0]:40s} calls {r[1]:6d}  mean {r[2]} ms  blocks/call {r[3]}  WAL/call {r[4]} B")
finally:
    b.close()
