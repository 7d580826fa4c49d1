#!/usr/bin/env python3
"""Quick A/B while optimising: the installed mcp_jobs against the plain PL/pgSQL reference (and
optionally pgmq and the ceiling) in one throwaway cluster with bench/run.py's settings, interleaved
rounds. Prints jobs/s, the ratios, server CPU and WAL per job. Not a substitute for bench/run.sh.

    PG_CONFIG=... python3 bench/quick.py [--clients 1 4] [--seconds 24] [--rounds 3] [--sync off|on]
                                         [--also pgmq ceiling] [--drain] [--only-drain]
                                         [--sql "ALTER FUNCTION ..."]
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench

ap = argparse.ArgumentParser()
ap.add_argument("--clients", type=int, nargs="+", default=[1, 4])
ap.add_argument("--seconds", type=float, default=24, help="seconds per entry and client count, over all rounds")
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--sync", choices=("off", "on"), default="off", help="synchronous_commit (default off: CPU-bound)")
ap.add_argument("--also", nargs="*", default=[], choices=("pgmq", "ceiling"), help="more references")
ap.add_argument("--drain", action="store_true", help="also the 4-client drain (one per call, complete+claim, batched)")
ap.add_argument("--only-drain", action="store_true", help="only the 4-client drain")
ap.add_argument("--sql", help="SQL run in the mcp_jobs database after CREATE EXTENSION (an A/B of a setting)")
args = ap.parse_args()

systems = ("mcp_jobs", "plpgsql", *args.also)
b = bench.Bench(bench.tool_args(args.seconds, args.rounds))
try:
    b.setup(systems)
    if args.sql:
        b.sql("mcp", args.sql, fetch=False)
    b.set_sync(args.sync)
    for i, c in enumerate([] if args.only_drain else args.clients):
        res = b.measure("lifecycle", c, [(s, "one") for s in systems], rotate=i)
        m = res[("mcp_jobs", "one")]
        for (s, _), v in res.items():
            print(f"lifecycle clients={c} {bench.entry_label(s, 'one'):20s} {v['jobs_per_s']:7.0f} jobs/s  "
                  f"mcp/this {m['jobs_per_s'] / max(v['jobs_per_s'], 1):.2f}  CPU {v['cpu_ms_per_job']:.3f} ms/job  "
                  f"WAL {v['wal_bytes_per_job']:.0f} B/job  rounds " + "/".join(str(x) for x in v["rounds"]), flush=True)
    if args.drain or args.only_drain:
        entries = [(s, v) for s in systems if s != "ceiling" for v in ("one", "loop", "batch")]
        for e, v in b.measure("drain", 4, entries).items():
            print(f"drain clients=4 {bench.entry_label(*e):36s} {v['jobs_per_s']:7.0f} jobs/s  CPU "
                  f"{v['cpu_ms_per_job']:.4f} ms/job  WAL {v['wal_bytes_per_job']:.0f} B/job  rounds "
                  + "/".join(str(x) for x in v["rounds"]) + ("  (ran dry)" if v["ran_dry"] else ""), flush=True)
finally:
    b.close()
