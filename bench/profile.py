#!/usr/bin/env python3
"""perf profile of one backend running the lifecycle (enqueue, claim, complete) from one pgbench client,
in a throwaway cluster with bench/run.py's settings and synchronous_commit = off (the profile shows CPU,
not WAL flush waits). The system is mcp_jobs, or the plain PL/pgSQL reference with --reference. With
--drain one|loop|batch it profiles bench/run.py's drain of that variant from a queue filled beforehand.

    PG_CONFIG=... python3 bench/profile.py [seconds] [--reference] [--drain batch]   # writes /tmp/mcp_jobs_perf.data
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench

ap = argparse.ArgumentParser()
ap.add_argument("seconds", nargs="?", type=int, default=7)
ap.add_argument("--reference", action="store_true", help="profile the PL/pgSQL reference instead")
ap.add_argument("--drain", choices=("one", "loop", "batch"), help="profile this drain instead of the lifecycle")
args = ap.parse_args()
system = "plpgsql" if args.reference else "mcp_jobs"
data = "/tmp/mcp_jobs_perf.data"
b = bench.Bench(bench.tool_args(5, 1))
try:
    b.setup((system,), conf={"synchronous_commit": "off"})
    db = bench.SYSTEMS[system].db
    assert b.pg
    key = (system, "drain", args.drain) if args.drain else (system, "lifecycle", "one")
    if args.drain:
        # enough for the whole run at well above the rate measured in bench/run.py's drains
        b.fill(system, (25_000 if args.drain == "batch" else 8_000) * (args.seconds + 4))
    p = b.pg.start(db, b.script(key), 1, seconds=args.seconds + 4, defines=bench.DEFINES.get(key[2]))
    time.sleep(2)
    pid = b.one(db, "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench'")
    subprocess.run(["perf", "record", "-F", "2000", "-g", "-p", str(pid), "-o", data, "--", "sleep", str(args.seconds)],
                   capture_output=True, check=True)
    b.pg.wait(p)
finally:
    b.close()
for extra in (["--sort", "dso"], ["--children", "--sort", "symbol"]):
    out = subprocess.run(["perf", "report", "-i", data, "--stdio", "-g", "none", *extra],
                         check=True, capture_output=True, text=True).stdout
    print("\n".join([line[:110] for line in out.splitlines() if "%" in line and not line.startswith("#")][:40]))
