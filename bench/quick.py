#!/usr/bin/env python3
"""Quick A/B while optimising: mcp_jobs as installed against the bare-write ceiling only, in one
throwaway cluster with bench/run.py's settings, interleaved rounds. Prints jobs/s, the ratio and the
mean server time per top-level call (pg_stat_statements). Not a substitute for bench/run.sh.

    PG_CONFIG=... python3 bench/quick.py [--clients 2 8] [--seconds 8] [--rounds 2] [--drain] [--only-drain]
                                         [--rows] [--rows-without-events] [--cpu] [--sql "ALTER FUNCTION ..."]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--clients", type=int, nargs="+", default=[2, 8])
ap.add_argument("--seconds", type=int, default=8, help="seconds per system and client count, over all rounds")
ap.add_argument("--rounds", type=int, default=2)
ap.add_argument("--drain", action="store_true", help="also the 4-client drain (one job per call, complete+claim and batched)")
ap.add_argument("--only-drain", action="store_true", help="only the 4-client drain")
ap.add_argument("--rows", action="store_true",
                help='also the "same rows" reference: mcp_jobs\' statements on plain copies of its tables (bench/run.py)')
ap.add_argument("--rows-without-events", action="store_true",
                help='also "same rows" without its job_events inserts (what the event log costs)')
ap.add_argument("--cpu", action="store_true",
                help="also the server CPU ms per job of each lifecycle entry (all processes of the cluster, "
                     "from /proc; bench/run.py measures it for every run)")
ap.add_argument("--sql", help="SQL run in the mcp_jobs database after CREATE EXTENSION (an A/B of a setting)")
args = ap.parse_args()

b = bench.Bench(argparse.Namespace(smoke=False, seconds=args.seconds, rounds=args.rounds, out="/tmp"))
try:
    b.cluster = bench.Cluster(conf=bench.SETTINGS, name="mcp_quick").start()
    for db in ("mcp", "ceiling"):
        b.sql("postgres", f"CREATE DATABASE {db}", fetch=False)
    b.sql("mcp", "CREATE EXTENSION mcp_jobs; CREATE EXTENSION pg_stat_statements", fetch=False)
    b.sql("ceiling", bench.CEILING_DDL, fetch=False)
    if args.sql:
        b.sql("mcp", args.sql, fetch=False)
    order = [("mcp_jobs", False), ("ceiling", False)]
    if args.rows_without_events:
        bench.SYSTEMS["same rows, no events"] = bench.SYSTEMS["same rows"]
        bench.PGBENCH_PREFIX["same rows, no events"] = "rowsne"
        order.append(("same rows, no events", False))
    if args.rows or args.rows_without_events:
        b.sql("mcp", bench.ROWS_DDL, fetch=False)
        order.append(("same rows", False))
    for i, c in enumerate([] if args.only_drain else args.clients):
        res = b.measure("lifecycle", c, order, rotate=i)
        m, ce = res[("mcp_jobs", False)], res[("ceiling", False)]
        print(f"lifecycle clients={c}: mcp {m[0]:6.0f}  ceiling {ce[0]:6.0f}  ratio {m[0] / ce[0]:.2f}  "
              f"mcp WAL {m[1]['wal']:.0f} B/job  rounds " + "/".join(f"{x:.0f}" for x in m[1]["rounds"]), flush=True)
        if args.rows_without_events:
            r = res[("same rows, no events", False)]
            print(f"  same rows without events {r[0]:6.0f} (WAL {r[1]['wal']:.0f} B/job): / ceiling {r[0] / ce[0]:.2f}  "
                  "rounds " + "/".join(f"{x:.0f}" for x in r[1]["rounds"]), flush=True)
        if args.rows:
            r = res[("same rows", False)]
            print(f"  same rows {r[0]:6.0f} (WAL {r[1]['wal']:.0f} B/job): mcp / same rows {m[0] / r[0]:.2f}, "
                  f"same rows / ceiling {r[0] / ce[0]:.2f}  rounds " + "/".join(f"{x:.0f}" for x in r[1]["rounds"]), flush=True)
        if args.cpu:
            print(f"  server CPU per job, lifecycle clients={c}: "
                  + "  ".join(f"{s}: {fp['cpu_ms']:.3f} ms" for (s, _), (_, fp) in res.items()), flush=True)
    if args.drain or args.only_drain:
        b.drain_n, b.drain_n_batched = 30000, 150000
        res = b.measure("drain", 4, [("mcp_jobs", False), ("mcp_jobs", "loop"), ("mcp_jobs", True), ("ceiling", False)])
        for (s, mode), (rate, fp) in res.items():
            print(f"drain clients=4: {s}{bench.DRAIN_MODES[mode][1]} {rate:.0f} jobs/s  server CPU {fp['cpu_ms']:.3f} "
                  f"ms/job  WAL {fp['wal']:.0f} B/job  rounds " + "/".join(f"{x:.0f}" for x in fp["rounds"]), flush=True)
    # the profile below shows the statements mcp_jobs' functions run, too
    b.sql("postgres", "ALTER SYSTEM SET pg_stat_statements.track = 'all'", fetch=False)
    b.sql("postgres", "SELECT pg_reload_conf()")
    b.sql("mcp", "SELECT pg_stat_statements_reset()", fetch=False)
    b.reset("mcp_jobs")
    b.pgbench("mcp", "mcp_lifecycle", 1, seconds=4)
    for r in b.sql("mcp", """
            SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 60), calls,
                   round(mean_exec_time::numeric, 4), round(wal_bytes / calls, 0), toplevel
              FROM pg_stat_statements WHERE calls > 100 ORDER BY toplevel DESC, total_exec_time DESC LIMIT 12"""):
        print(f"  {'top ' if r[4] else '    '}{r[0]:60s} calls {r[1]:6d}  mean {r[2]} ms  WAL/call {r[3]} B")
finally:
    b.close()
