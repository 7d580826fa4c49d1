#!/usr/bin/env python3
"""Quick A/B while optimising: mcp_jobs as installed against the bare-write ceiling only, in one
throwaway cluster with bench/run.py's settings, interleaved rounds. Prints jobs/s, the ratio and the
mean server time per top-level call (pg_stat_statements). Not a substitute for bench/run.sh.

    PG_CONFIG=... python3 bench/quick.py [--clients 2 8] [--seconds 8] [--rounds 2] [--drain] [--only-drain]
                                         [--sql "ALTER FUNCTION ..."]
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
ap.add_argument("--drain", action="store_true", help="also the 4-client drain (one job per call and batched)")
ap.add_argument("--only-drain", action="store_true", help="only the 4-client drain")
ap.add_argument("--rows", action="store_true",
                help='also the "same rows" reference: mcp_jobs\' statements on plain copies of its tables (bench/run.py)')
ap.add_argument("--rows-without-events", action="store_true",
                help='also "same rows" without its job_events inserts (what the event log costs)')
ap.add_argument("--cpu", type=int, default=0, metavar="ROUNDS",
                help="instead of throughput: server CPU ms per job (all processes of the cluster, from /proc), "
                     "which machine noise moves far less than jobs/s; ROUNDS interleaved rounds per system")
ap.add_argument("--sql", help="SQL run in the mcp_jobs database after CREATE EXTENSION (an A/B of a setting)")
args = ap.parse_args()



def cluster_cpu_ms(cluster):
    """utime + stime of the postmaster and all its children (backends, walwriter, ...), live ones and
    those that exited (the postmaster's cutime + cstime), in ms."""
    tick = os.sysconf("SC_CLK_TCK")
    root = cluster.postmaster_pid()
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(pid) == root:
            total += sum(int(x) for x in st[11:15])  # utime, stime, cutime, cstime
        elif int(st[1]) == root:  # st[1]: ppid
            total += int(st[11]) + int(st[12])
    return total * 1000.0 / tick


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
    if args.cpu:
        for c in args.clients:
            acc = {e: [0.0, 0] for e in order}
            for r in range(args.cpu):
                for e in order[r % len(order):] + order[:r % len(order)]:
                    b.reset(e[0])
                    cpu0 = cluster_cpu_ms(b.cluster)
                    run = b.run_one("lifecycle", e[0], c, max(1, args.seconds // args.cpu))
                    acc[e][0] += cluster_cpu_ms(b.cluster) - cpu0
                    acc[e][1] += run[0]
            line = "  ".join(f"{s}: {cpu / max(n, 1):.3f} ms" for (s, _), (cpu, n) in acc.items())
            print(f"server CPU per job, lifecycle clients={c}: {line}", flush=True)
    for i, c in enumerate([] if args.only_drain or args.cpu else args.clients):
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
    if (args.drain or args.only_drain) and not args.cpu:
        b.drain_n, b.drain_n_batched = 30000, 150000
        res = b.measure("drain", 4, [("mcp_jobs", False), ("mcp_jobs", True), ("ceiling", False)])
        for (s, batched), (rate, _) in res.items():
            print(f"drain clients=4: {s}{' (batched)' if batched else ''} {rate:.0f} jobs/s", flush=True)
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
