#!/usr/bin/env python3
"""A/B of a schema-only change to mcp_jobs, in one cluster and one run: database `mcp` has the
extension as installed, database `b` the same plus the DDL in FILE. Interleaved lifecycle rounds
(enqueue, claim, complete) with server CPU and WAL per job, then per-call server time, buffers and
WAL from pg_stat_statements.

    PG_CONFIG=... python3 bench/ab_schema.py FILE [--clients 4] [--seconds 24] [--rounds 3] [--sync off|on]
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B
import run as bench

ap = argparse.ArgumentParser()
ap.add_argument("ddl")
ap.add_argument("--clients", type=int, default=4)
ap.add_argument("--seconds", type=float, default=24)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--sync", choices=("off", "on"), default="off")
args = ap.parse_args()
ddl = B.read_file(args.ddl)

b = bench.Bench(bench.tool_args(args.seconds, args.rounds))
try:
    b.setup(("mcp_jobs",))
    b.sql("postgres", "CREATE DATABASE b", fetch=False)
    b.sql("b", "CREATE EXTENSION mcp_jobs; CREATE EXTENSION pg_stat_statements", fetch=False)
    b.sql("b", ddl, fetch=False)
    m = bench.SYSTEMS["mcp_jobs"]
    bench.SYSTEMS["b"] = bench.System("b", m.schema, m.truncate, m.completed)
    bench.SCRIPTS[("b", "lifecycle", "one")] = bench.SCRIPTS[("mcp_jobs", "lifecycle", "one")]
    b.set_sync(args.sync)
    res = b.measure("lifecycle", args.clients, [("mcp_jobs", "one"), ("b", "one")])
    for (name, _), v in res.items():
        print(f"{'a' if name == 'mcp_jobs' else 'b'}: {v['jobs_per_s']:.0f} jobs/s, CPU {v['cpu_ms_per_job']:.3f} ms/job, "
              f"WAL {v['wal_bytes_per_job']:.0f} B/job, dead {v['dead_tuples_per_job']:.2f}/job, rounds "
              + "/".join(str(x) for x in v["rounds"]))
    for label, db in (("a", "mcp"), ("b", "b")):
        for r in b.sql(db, """
                SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 40), calls, round(mean_exec_time::numeric, 4),
                       round((shared_blks_hit + shared_blks_read + shared_blks_dirtied)::numeric / calls, 1),
                       round(wal_bytes / calls, 0)
                  FROM pg_stat_statements
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND toplevel
                   AND calls > 100
                 ORDER BY total_exec_time DESC LIMIT 4""") or []:
            print(f"  {label}: {r[0]:40s} calls {r[1]:6d}  mean {r[2]} ms  blocks/call {r[3]}  WAL/call {r[4]} B")
finally:
    b.close()
