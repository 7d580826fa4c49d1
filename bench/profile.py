#!/usr/bin/env python3
"""perf profile of one backend running the mcp_jobs lifecycle (enqueue, claim, complete) from one
pgbench client, in a throwaway cluster with bench/run.py's settings (synchronous_commit=off for the
client session so that the profile shows CPU, not WAL flush waits).

    PG_CONFIG=... python3 bench/profile.py [seconds]     # writes /tmp/mcp_jobs_perf.data, prints a summary
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402

secs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
data = "/tmp/mcp_jobs_perf.data"
b = bench.Bench(argparse.Namespace(smoke=False, seconds=5, rounds=1, out="/tmp"))
try:
    b.cluster = bench.Cluster(conf=bench.SETTINGS, name="mcp_perf").start()
    b.sql("postgres", "CREATE DATABASE mcp", fetch=False)
    b.sql("mcp", "CREATE EXTENSION mcp_jobs", fetch=False)
    p = b.pgbench("mcp", "mcp_lifecycle", 1, seconds=secs + 4, wait=False, options="-c synchronous_commit=off")
    time.sleep(2)
    pid = b.sql("mcp", "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench'")[0][0]
    subprocess.run(["perf", "record", "-F", "2000", "-g", "-p", str(pid), "-o", data, "--", "sleep", str(secs)],
                   capture_output=True, check=True)
    b.pgbench_wait(p)
finally:
    b.close()
for args in (["--sort", "dso"], ["--children", "--sort", "symbol"]):
    out = subprocess.run(["perf", "report", "-i", data, "--stdio", "-g", "none", *args],
                         capture_output=True, text=True).stdout
    print("\n".join([l[:110] for l in out.splitlines() if "%" in l and not l.startswith("#")][:40]))
