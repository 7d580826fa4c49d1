#!/usr/bin/env python3
"""Wake-up latency: how long a job waits between its enqueue and a waiting worker's claim, and what idle
waiting workers cost.

    PG_CONFIG=/path/to/pg_config python3 bench/wake.py            # full run (about 15 minutes)
    PG_CONFIG=/path/to/pg_config python3 bench/wake.py --smoke    # seconds; checks the harness works

Two throwaway clusters: A with `shared_preload_libraries = 'mcp_jobs'` (an enqueue's commit wakes a
waiting claim through shared memory), B without it (waiting claims look every 100 ms). On A, also
PostgREST 12.0.2 behind nginx, as Supabase serves it (tests/e2e/e2e_stack.py), and graphile-worker.

Latency, one worker at a time, in interleaved rounds (the order rotating): the producer enqueues one job,
a random 50-1000 ms after the previous job reached the worker, with its send time (CLOCK_MONOTONIC) in
the payload; the worker reads the clock when its claim returns the job. Workers:
- mcp_jobs long poll (preloaded): `claim_next_job(p_wait_ms => 30000)` in a loop, psycopg (libpq);
- mcp_jobs long poll over PostgREST: the same call as POST /rest/v1/rpc/claim_next_job (requests);
- mcp_jobs long poll, not preloaded: the same as the first on cluster B;
- polling once a second: `claim_next_job()`, and a 1 s sleep whenever it returns no job;
- graphile-worker: its runner (`run()`, concurrency 1), woken by LISTEN/NOTIFY (bench/peers.js).
Idle CPU: 50 workers waiting on an empty queue in each of those ways, server and client CPU over a
fixed time, and the cluster with no client as the baseline.

mcp_jobs must be installed into $PG_CONFIG's PostgreSQL; PostgREST is found at $POSTGREST_BIN (default
.tools/postgrest/package/postgrest, scripts/setup.sh), nginx on PATH. A full run writes
bench/results/wake-NNN.json and renders BENCHMARKS.md again (bench/report.py) unless --no-write.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import select
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B

sys.path.insert(0, os.path.join(B.ROOT, "tests", "e2e"))

HERE = B.HERE
WAIT_MS = 30_000  # p_wait_ms of the long polls (the most is 60 000)
POLL_S = 1.0  # the polling worker's sleep when it finds nothing
CONF_A = {"shared_preload_libraries": "'mcp_jobs'", "max_connections": "200"}
CONF_B = {"max_connections": "200"}


# ------------------------------------------------------------------ workers (child processes)
def worker_libpq(dsn: str, source: str, wait_ms: int, poll_s: float) -> None:
    import psycopg
    conn = psycopg.connect(dsn, autocommit=True)
    print("ready", flush=True)
    while True:
        row = conn.execute("SELECT id, run_id, payload FROM mcp_jobs.claim_next_job('w', p_sources => %s, "
                           "p_wait_ms => %s)", ([source], wait_ms)).fetchone()
        t = time.monotonic_ns()
        if row is None:
            if poll_s:
                time.sleep(poll_s)
            continue
        conn.execute("SELECT mcp_jobs.complete_job(%s, %s)", (row[0], row[1]))
        print(json.dumps({"k": row[2]["k"], "lat_ms": (t - int(row[2]["t"])) / 1e6}), flush=True)


def worker_http(rest: str, token: str, source: str, wait_ms: int) -> None:
    import requests
    s = requests.Session()
    s.headers.update({"Authorization": f"Bearer {token}", "apikey": token, "Content-Type": "application/json"})
    s.post(f"{rest}/rpc/get_job_stats", json={}, timeout=30).raise_for_status()  # connected
    print("ready", flush=True)
    while True:
        r = s.post(f"{rest}/rpc/claim_next_job", json={"p_worker_id": "w", "p_sources": [source], "p_wait_ms": wait_ms},
                   timeout=wait_ms / 1000 + 30)
        t = time.monotonic_ns()
        r.raise_for_status()
        rows = r.json()
        if not rows:
            continue
        job = rows[0]
        s.post(f"{rest}/rpc/complete_job", json={"p_job_id": job["id"], "p_run_id": job["run_id"]},
               timeout=30).raise_for_status()
        print(json.dumps({"k": job["payload"]["k"], "lat_ms": (t - int(job["payload"]["t"])) / 1e6}), flush=True)


def idle_workers(dsn: str, n: int, wait_ms: int, poll_s: float) -> None:
    """n connections, each in a loop of claims on a source that gets no jobs (long polls when wait_ms,
    else a claim and a poll_s sleep)."""
    import psycopg
    conns = [psycopg.connect(dsn, autocommit=True) for _ in range(n)]

    def loop(conn: Any) -> None:
        while True:
            conn.execute("SELECT * FROM mcp_jobs.claim_next_job('idle', p_sources => ARRAY['idle'], p_wait_ms => %s)",
                         (wait_ms,)).fetchall()
            if not wait_ms:
                time.sleep(poll_s)

    for c in conns:
        threading.Thread(target=loop, args=(c,), daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()


# ------------------------------------------------------------------ the driver
class Proc:
    """A worker child process printing one line per job; stdout read with a deadline."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None):
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.buf = ""

    def line(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        assert self.p.stdout
        fd = self.p.stdout.fileno()
        while "\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or self.p.poll() is not None and not select.select([fd], [], [], 0)[0]:
                err = self.p.stderr.read() if self.p.poll() is not None and self.p.stderr else ""
                raise RuntimeError(f"worker {' '.join(self.p.args)} gave no line within {timeout} s "  # type: ignore[arg-type]
                                   f"(exit {self.p.poll()}):\n{err}")
            if select.select([fd], [], [], min(left, 0.5))[0]:
                chunk = os.read(fd, 65536).decode()
                if not chunk and self.p.poll() is not None:
                    continue
                self.buf += chunk
        line, self.buf = self.buf.split("\n", 1)
        return line

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=10)


class Wake:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.smoke = bool(args.smoke)
        self.jobs = args.jobs or (4 if self.smoke else 200)
        self.rounds = 1 if self.smoke else args.rounds
        self.gap = (0.05, 0.2 if self.smoke else 1.0)
        self.idle_n = 5 if self.smoke else 50
        self.idle_s = 1.0 if self.smoke else 30.0
        self.a: B.Cluster | None = None
        self.b: B.Cluster | None = None
        self.stack: Any = None
        self.procs: list[Proc] = []

    def setup(self) -> None:
        from e2e_stack import (
            SUPABASE_DEFAULT_PRIVILEGES_SQL,
            SUPABASE_ROLES_SQL,
            Stack,
            mint_jwt,
        )
        self.a = B.Cluster(conf=CONF_A, name="mcp_wake_a").start()
        self.b = B.Cluster(conf=CONF_B, name="mcp_wake_b").start()
        self.a.psql(SUPABASE_ROLES_SQL)
        for c in (self.a, self.b):
            c.psql("CREATE DATABASE mcp;")
        self.a.psql(SUPABASE_DEFAULT_PRIVILEGES_SQL, dbname="mcp")
        for c in (self.a, self.b):
            c.psql("CREATE EXTENSION mcp_jobs;", dbname="mcp")
        self.a.psql("CREATE DATABASE graphile;")
        node = subprocess.run(["node", os.path.join(HERE, "peers.js"), "graphile", "setup", self.a.url("graphile")],
                              check=False, capture_output=True, text=True, timeout=300)
        if node.returncode:
            raise RuntimeError(f"graphile-worker setup failed:\n{node.stdout}\n{node.stderr}")
        self.stack = Stack(self.a, "mcp").__enter__()
        self.token = mint_jwt("service_role")
        diag = B.one(self.a, "mcp", "SELECT mcp_jobs.diagnostics()")
        assert diag["preloaded"] and diag["wakeups"] == "latch", diag
        diag = B.one(self.b, "mcp", "SELECT mcp_jobs.diagnostics()")
        assert not diag["preloaded"], diag
        self.version = B.one(self.a, "postgres", "SELECT version()")

    # ------------------------------------------------------------------ latency
    def scenarios(self) -> list[dict[str, Any]]:
        assert self.a and self.b
        me = [sys.executable, os.path.abspath(__file__), "--worker"]
        return [
            {"scenario": "mcp_jobs long poll (preloaded)", "transport": "libpq (psycopg)", "cluster": self.a,
             "source": "wake_lp", "argv": me + ["libpq", self.a.dsn("mcp") + " application_name=wake", "wake_lp", str(WAIT_MS), "0"]},
            {"scenario": "mcp_jobs long poll over PostgREST (preloaded)", "transport": "HTTP: nginx, PostgREST 12.0.2",
             "cluster": self.a, "source": "wake_http",
             "argv": me + ["http", self.stack.rest, self.token, "wake_http", str(WAIT_MS)]},
            {"scenario": "mcp_jobs long poll, not preloaded (100 ms polling)", "transport": "libpq (psycopg)",
             "cluster": self.b, "source": "wake_np",
             "argv": me + ["libpq", self.b.dsn("mcp") + " application_name=wake", "wake_np", str(WAIT_MS), "0"]},
            {"scenario": "polling once a second", "transport": "libpq (psycopg)", "cluster": self.a, "source": "wake_poll",
             "argv": me + ["libpq", self.a.dsn("mcp") + " application_name=wake", "wake_poll", "0", str(POLL_S)]},
            {"scenario": "graphile-worker runner (LISTEN/NOTIFY)", "transport": "node-postgres", "cluster": self.a,
             "source": None, "argv": ["node", os.path.join(HERE, "peers.js"), "graphile", "wake", self.a.url("graphile")]},
        ]

    def waiting(self, sc: dict[str, Any]) -> bool:
        """The scenario's worker is waiting for a job (not merely connected)."""
        c = sc["cluster"]
        if sc["source"] is None:  # graphile-worker: its LISTEN is issued
            return bool(B.one(c, "graphile", "SELECT count(*) FROM pg_stat_activity WHERE datname = 'graphile' "
                                             "AND query ILIKE 'listen%%'"))
        if sc["source"] == "wake_poll":
            return True  # polls on its own clock
        if c is self.a:
            return int(B.one(c, "mcp", "SELECT (mcp_jobs.diagnostics() ->> 'waiting_claims')::int")) >= 1
        return bool(B.one(c, "mcp", "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                                   "AND query LIKE '%%claim_next_job%%' AND pid <> pg_backend_pid()"))

    def cancel_claims(self, c: B.Cluster) -> None:
        """End the claims a stopped worker left waiting in the server (a backend in a long poll notices
        its client is gone only when the wait ends)."""
        B.sql(c, "mcp", "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%%claim_next_job%%' "
                        "AND state = 'active' AND pid <> pg_backend_pid()")
        B.wait_until(lambda: not B.one(c, "mcp", "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                                                 "AND query LIKE '%%claim_next_job%%' AND pid <> pg_backend_pid()"),
                     timeout=30, what="no claim left running")

    def batch(self, sc: dict[str, Any], n: int, k0: int) -> list[float]:
        """Start the scenario's worker, enqueue n jobs one at a time, return their latencies in ms."""
        import psycopg
        w = Proc(sc["argv"])
        self.procs.append(w)
        out = []
        try:
            assert w.line(60) == "ready"
            B.wait_until(lambda: self.waiting(sc), timeout=60, what=f"{sc['scenario']} waiting")
            c = sc["cluster"]
            db = "graphile" if sc["source"] is None else "mcp"
            with psycopg.connect(c.dsn(db), autocommit=True) as conn:
                for i in range(n):
                    time.sleep(random.uniform(*self.gap))
                    k = k0 + i
                    t = time.monotonic_ns()
                    payload = json.dumps({"k": k, "t": str(t)})
                    if sc["source"] is None:
                        conn.execute("SELECT graphile_worker.add_job('wake', %s::json)", (payload,))
                    else:
                        conn.execute("SELECT mcp_jobs.enqueue_job(%s, 'noop', %s::jsonb)", (sc["source"], payload))
                    got = json.loads(w.line(WAIT_MS / 1000 + 30))
                    assert got["k"] == k, (got, k)
                    out.append(float(got["lat_ms"]))
        finally:
            w.stop()
            self.procs.remove(w)
            if sc["source"] is not None:
                self.cancel_claims(sc["cluster"])
            else:
                self.no_listener()
        return out

    def no_listener(self) -> None:
        """The stopped graphile-worker runner's LISTEN connection is gone (the next runner's readiness is
        its own LISTEN)."""
        assert self.a
        B.wait_until(lambda: not B.one(self.a, "graphile", "SELECT count(*) FROM pg_stat_activity "
                                                          "WHERE datname = 'graphile' AND query ILIKE 'listen%%'"),
                     timeout=30, what="no graphile-worker listener left")

    def latency(self) -> list[dict[str, Any]]:
        scs = self.scenarios()
        lat: dict[str, list[float]] = {s["scenario"]: [] for s in scs}
        per = max(1, self.jobs // self.rounds)
        k = 0
        for r in range(self.rounds):
            j = r % len(scs)
            for sc in scs[j:] + scs[:j]:
                xs = self.batch(sc, per, k)
                k += per
                lat[sc["scenario"]] += xs
                B.log(f"  round {r + 1}: {sc['scenario']:52s} p50 {statistics.median(xs):8.1f} ms  max {max(xs):8.1f} ms")
        out = []
        for sc in scs:
            xs = lat[sc["scenario"]]
            out.append({"scenario": sc["scenario"], "transport": sc["transport"], "jobs": len(xs),
                        "p50_ms": round(statistics.median(xs), 2), "p99_ms": round(B.percentile(xs, 0.99) or 0, 2),
                        "mean_ms": round(statistics.fmean(xs), 2), "max_ms": round(max(xs), 2),
                        "min_ms": round(min(xs), 2)})
            B.log(f"  {sc['scenario']:52s} p50 {out[-1]['p50_ms']:8.1f} ms  p99 {out[-1]['p99_ms']:8.1f} ms  (n={len(xs)})")
        return out

    # ------------------------------------------------------------------ idle CPU
    def idle(self) -> list[dict[str, Any]]:
        assert self.a and self.b
        me = [sys.executable, os.path.abspath(__file__), "--worker"]
        n = self.idle_n
        cases: list[tuple[str, B.Cluster, list[str] | None, Any]] = [
            ("no client (the cluster's own processes)", self.a, None, None),
            (f"{n} long polls, preloaded", self.a, me + ["idle", self.a.dsn("mcp"), str(n), str(WAIT_MS), "0"],
             lambda: B.one(self.a, "mcp", "SELECT (mcp_jobs.diagnostics() ->> 'waiting_claims')::int") >= n),
            (f"{n} long polls, not preloaded (100 ms polling)", self.b,
             me + ["idle", self.b.dsn("mcp"), str(n), str(WAIT_MS), "0"],
             lambda: B.one(self.b, "mcp", "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                                          "AND query LIKE '%%claim_next_job%%' AND pid <> pg_backend_pid()") >= n),
            (f"{n} workers polling once a second", self.a, me + ["idle", self.a.dsn("mcp"), str(n), "0", str(POLL_S)],
             lambda: B.one(self.a, "mcp", "SELECT count(*) FROM pg_stat_activity WHERE datname = 'mcp' "
                                          "AND backend_type = 'client backend'") >= n + 1),
            (f"graphile-worker runner, concurrency {n}", self.a,
             ["node", os.path.join(HERE, "peers.js"), "graphile", "idle", self.a.url("graphile"), str(n)],
             lambda: B.one(self.a, "graphile", "SELECT count(*) FROM pg_stat_activity WHERE datname = 'graphile' "
                                               "AND query ILIKE 'listen%%'") >= 1),
        ]
        out = []
        for name, c, argv, ready in cases:
            w = None
            try:
                if argv:
                    w = Proc(argv)
                    self.procs.append(w)
                    assert w.line(120) == "ready"
                    B.wait_until(ready, timeout=60, what=name)
                    time.sleep(min(2.0, self.idle_s / 2))  # past the start-up of the connections
                s0, c0, t0 = B.cluster_cpu_ms(c), B.tree_cpu_ms(w.p.pid) if w else 0.0, time.monotonic()
                time.sleep(self.idle_s)
                s1, c1, t1 = B.cluster_cpu_ms(c), B.tree_cpu_ms(w.p.pid) if w else 0.0, time.monotonic()
            finally:
                if w:
                    w.stop()
                    self.procs.remove(w)
            if argv and "graphile" not in name:
                self.cancel_claims(c)
            elif argv:
                self.no_listener()
            e = {"scenario": name, "workers": n if argv else 0, "seconds": round(t1 - t0, 2),
                 "server_cpu_ms_per_s": round((s1 - s0) / (t1 - t0), 2),
                 "client_cpu_ms_per_s": round((c1 - c0) / (t1 - t0), 2) if argv else None}
            out.append(e)
            client = "-" if e["client_cpu_ms_per_s"] is None else f"{e['client_cpu_ms_per_s']:.1f}"
            B.log(f"  idle: {name:48s} server {e['server_cpu_ms_per_s']:7.1f} ms/s  client {client} ms/s")
        return out

    def close(self) -> None:
        for w in list(self.procs):
            w.stop()
        if self.stack:
            self.stack.close()
        for c in (self.a, self.b):
            if c:
                c.destroy()


def main() -> None:
    ap = argparse.ArgumentParser(description="Enqueue-to-claim latency of waiting workers, and the CPU of idle ones.")
    ap.add_argument("--smoke", action="store_true", help="a few jobs per worker: checks the harness works")
    ap.add_argument("--jobs", type=int, help="jobs per worker over all rounds (default 200)")
    ap.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    ap.add_argument("--no-write", action="store_true", help="write nothing to bench/results")
    ap.add_argument("--out", default=os.path.join(HERE, "out"), help="directory for the raw result")
    ap.add_argument("--worker", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "libpq":
            worker_libpq(rest[0], rest[1], int(rest[2]), float(rest[3]))
        elif kind == "http":
            worker_http(rest[0], rest[1], rest[2], int(rest[3]))
        elif kind == "idle":
            idle_workers(rest[0], int(rest[1]), int(rest[2]), float(rest[3]))
        return
    w = Wake(args)
    started = time.time()
    try:
        w.setup()
        assert w.a
        B.log(f"PostgreSQL: {w.version}")
        B.log("wake-up latency:")
        latency = w.latency()
        B.log("idle workers:")
        idle = w.idle()
        doc = {
            "schema_version": 1, "kind": "wake", "run": B.next_number("wake"), "started_utc": B.now_utc(started),
            "mcp_jobs_version": B.extension_version(w.a, "mcp"), "code": B.code_description(),
            "command": B.command_line("bench/wake.py"), "source": "bench/wake.py", "complete": not w.smoke,
            "smoke": w.smoke, "notes": [],
            "method": {"jobs": w.jobs, "rounds": w.rounds, "gap_ms": [round(1000 * g) for g in w.gap],
                       "wait_ms": WAIT_MS, "poll_interval_s": POLL_S, "idle_workers": w.idle_n,
                       "idle_seconds": w.idle_s, "synchronous_commit": "on"},
            "latency": latency, "idle_cpu": idle,
            "machine": B.machine() | {"postgresql": w.version, "graphile_worker": B.node_versions()["graphile-worker"],
                                      "elapsed_s": round(time.time() - started)},
        }
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "wake.json"), "w") as f:
            json.dump(doc, f, indent=1)
        import report
        print("\n" + report.render_wake(doc) + "\n", flush=True)
        if not w.smoke and not args.no_write:
            B.log(f"wrote {os.path.relpath(B.write_result('wake', doc), B.ROOT)}")
            report.write_md()
        B.log(f"done in {time.time() - started:.0f}s; reproduce with: {doc['command']}")
    finally:
        w.close()


if __name__ == "__main__":
    main()
