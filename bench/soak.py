#!/usr/bin/env python3
"""Soak: the lifecycle (enqueue -> claim_next_job -> complete_job) for a long time, at the highest rate
the machine sustains and at half of it, with maintenance on; and the plain PL/pgSQL reference
(bench/reference/plpgsql.sql) the same way with a cron-like upkeep of its own. Per interval (a minute by
default): throughput, claim latency p50/p99, table and index sizes, dead tuples, WAL, the maintenance
rounds (duration, jobs pruned) and the memory and CPU of the process that runs them.

    PG_CONFIG=/path/to/pg_config python3 bench/soak.py                 # 4 runs of 60 minutes (about 4 h 15 min)
    PG_CONFIG=... python3 bench/soak.py --minutes 60 --systems mcp_jobs --modes max
    PG_CONFIG=... python3 bench/soak.py --smoke                        # seconds; checks the harness works

Each run gets a fresh cluster (bench/run.py's settings, but autovacuum on and synchronous_commit off,
`shared_preload_libraries = 'mcp_jobs'`, `mcp_jobs.database` the soak's database, the maintenance
interval and prune budget at their defaults, `mcp_jobs.retention` short). Runs, in this order:
  1. mcp_jobs, max: `--clients` pgbench clients in a closed loop, as fast as they go;
  2. the reference, max;
  3. mcp_jobs, half: pgbench -R at half of run 1's mean jobs/s (after its first interval);
  4. the reference at the same rate.
Before each run, `--backlog` finished jobs (with their run and three events) that finished three hours
ago are loaded, so that pruning has a backlog to work through from the start; the soak's own jobs
become prunable `--retention` seconds after they finish (once their events are in the metrics,
src/queries/prune_cutoff.sql).

mcp_jobs' maintenance is its background worker, paused (interval 0) while the cluster is prepared and
set to the interval with a reload when the load starts, so that its first round is at the start;
each round's and pass's report is read from the server log (log_min_messages = debug1 for the
worker's role in the soak database only; the load runs as another role), with the durations the worker
measured itself. The reference's upkeep is
what a pg_cron job would run, issued by this script on its own connection every maintenance interval:
`plpgsql_ref.expire_leases()`, then `plpgsql_ref.prune(retention, 10000)` again while it deletes a full
batch, for at most the prune budget, each call its own transaction, the first round when the load
starts, and, like the worker, the pruning alone a second later while it has work (pg_cron runs jobs
every second too); the reference gets an index on its finished jobs for that (`jobs_finished_idx`).

A full run writes bench/results/soak-NNN.json and renders BENCHMARKS.md again (bench/report.py) unless
--no-write.
"""
from __future__ import annotations

import argparse
import bisect
import datetime
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B

HERE = B.HERE
ZERO = B.ZERO_UUID
SETTINGS = {
    "shared_buffers": "'1GB'",
    "synchronous_commit": "off",
    "fsync": "on",
    "full_page_writes": "on",
    "wal_level": "replica",
    "max_wal_size": "'8GB'",
    "checkpoint_timeout": "'30min'",
    "autovacuum": "on",
    "jit": "off",
    "max_connections": "100",
    "log_line_prefix": "'%m [%p] '",
    "mcp_jobs.database": "'soak'",
}
REF_BATCH = 10_000  # jobs per plpgsql_ref.prune call
PASS_PAUSE_S = 1.0  # the worker's pause before a pass while pruning has work (src/worker.rs)
SCHEMA = {"mcp_jobs": "mcp_jobs", "plpgsql": "plpgsql_ref"}
LABEL = {"mcp_jobs": "mcp_jobs", "plpgsql": "PL/pgSQL reference"}


def slowest(reports: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The longest of an interval's maintenance reports: its kind, duration and per-step times."""
    timed = [r for r in reports if r["ms"] is not None]
    if not timed:
        return None
    r = max(timed, key=lambda r: r["ms"])
    return {"kind": r["kind"], "ms": round(r["ms"], 1), "steps_ms": r.get("steps_ms") or {}}


def phase_script(system: str) -> str:
    """The lifecycle as three pgbench transactions per job (enqueue, claim, complete), one per script
    run, so that the per-transaction log times the claim alone: a client's transaction number n
    (from 1) is phase (n - 1) % 3."""
    if system == "mcp_jobs":
        enq = "SELECT mcp_jobs.enqueue_job('bench', 'noop', '{\"n\": 1}');"
        claim = "mcp_jobs.claim_next_job('w')"
        done = f"SELECT mcp_jobs.complete_job(:jid, :rid) WHERE :jid <> '{ZERO}';"
    else:
        enq = "SELECT plpgsql_ref.enqueue_job('bench', 'noop', '{\"n\": 1}');"
        claim = "plpgsql_ref.claim_next_job('w')"
        done = f"SELECT plpgsql_ref.complete_job(:jid, :rid) WHERE :jid <> '{ZERO}';"
    return ("\\if :phase = 0\n" + enq + "\n\\set phase 1\n"
            "\\elif :phase = 1\n"
            f"SELECT coalesce((array_agg(c.id))[1], '{ZERO}') AS jid, "
            f"coalesce((array_agg(c.run_id))[1], '{ZERO}') AS rid FROM {claim} c \\gset\n"
            "\\set phase 2\n"
            "\\else\n" + done + "\n\\set phase 0\n\\endif\n")


def backlog_sql(system: str) -> str:
    """n (%s) finished jobs, each with its run and its three events, finished three hours ago (ids:
    mcp_jobs' are UUIDv7 made at that time, as an enqueue then would have made them)."""
    if system == "mcp_jobs":
        return """
        WITH j AS (
            INSERT INTO mcp_jobs.jobs (id, source, job_type, payload, status, attempts, current_run_id,
                                       started_at, finished_at, created_at, run_at, updated_at)
            SELECT (lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7'
                    || substr(md5(g::text), 1, 3) || '8' || substr(md5(g::text), 4, 15))::uuid,
                   'bench', 'noop', '{"n": 1}', 'completed', 1, mcp_jobs.uuidv7(), t, t, t, t, t
              FROM generate_series(1, %s) g,
                   LATERAL (SELECT now() - interval '3 hours' + g * interval '1 millisecond' AS t) x
            RETURNING id, current_run_id, started_at
        ), r AS (
            INSERT INTO mcp_jobs.job_runs (id, job_id, attempt, worker_id, started_at, finished_at, outcome,
                                           lease_seconds)
            SELECT current_run_id, id, 1, 'w', started_at, started_at, 'completed', 300 FROM j
        )
        INSERT INTO mcp_jobs.job_events (job_id, run_id, event_type, data, created_at)
        SELECT id, CASE WHEN e > 1 THEN current_run_id END, (ARRAY['enqueued', 'started', 'completed'])[e],
               '{"attempt": 1}', started_at
          FROM j, generate_series(1, 3) e"""
    return """
        WITH j AS (
            INSERT INTO plpgsql_ref.jobs (source, job_type, payload, status, attempts, current_run_id,
                                          started_at, finished_at, created_at, run_at, updated_at)
            SELECT 'bench', 'noop', '{"n": 1}', 'completed', 1, gen_random_uuid(), t, t, t, t, t
              FROM generate_series(1, %s) g,
                   LATERAL (SELECT now() - interval '3 hours' + g * interval '1 millisecond' AS t) x
            RETURNING id, current_run_id, started_at
        ), r AS (
            INSERT INTO plpgsql_ref.job_runs (id, job_id, attempt, worker_id, started_at, finished_at, outcome,
                                              lease_seconds)
            SELECT current_run_id, id, 1, 'w', started_at, started_at, 'completed', 300 FROM j
        )
        INSERT INTO plpgsql_ref.job_events (job_id, run_id, event_type, data, created_at)
        SELECT id, CASE WHEN e > 1 THEN current_run_id END, (ARRAY['enqueued', 'started', 'completed'])[e],
               '{"attempt": 1}', started_at
          FROM j, generate_series(1, 3) e"""


LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) UTC \[(\d+)\] (\w+):\s+(.*)$")


def log_time(s: str) -> float:
    return datetime.datetime.strptime(s, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=datetime.UTC).timestamp()


class RefUpkeep(threading.Thread):
    """The reference's cron job: every `interval` s, expire_leases(), then prune(retention, REF_BATCH)
    while it deletes a full batch and the budget lasts; as mcp_jobs' worker, while pruning has work,
    the pruning again a second later. Records each round's and pass's end time, duration, pruning
    time, jobs pruned and whether it reached the cutoff."""

    def __init__(self, cluster: B.Cluster, interval: float, retention_s: int, budget_s: float):
        super().__init__(daemon=True)
        self.cluster, self.interval, self.retention_s, self.budget_s = cluster, interval, retention_s, budget_s
        self.rounds: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.stop_ev = threading.Event()
        self.go = threading.Event()  # the first round when set, then every interval
        self.pid: int | None = None

    def run(self) -> None:
        import psycopg
        with psycopg.connect(self.cluster.dsn("soak", "bench"), autocommit=True) as conn:
            self.pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
            while not self.go.wait(0.1):
                if self.stop_ev.is_set():
                    return
            nxt = next_round = time.monotonic()
            while not self.stop_ev.wait(max(0.0, nxt - time.monotonic())):
                t0 = time.monotonic()
                kind = "round" if t0 >= next_round else "pass"
                pruned, done, prune_ms = 0, False, 0.0
                try:
                    if kind == "round":
                        conn.execute("SELECT plpgsql_ref.expire_leases()")
                    p0 = time.monotonic()
                    while time.monotonic() - p0 < self.budget_s:
                        n = conn.execute("SELECT plpgsql_ref.prune(make_interval(secs => %s), %s)",
                                         (self.retention_s, REF_BATCH)).fetchone()[0]  # type: ignore[index]
                        pruned += n
                        if n < REF_BATCH:
                            done = True
                            break
                    prune_ms = (time.monotonic() - p0) * 1000
                except Exception as e:  # noqa: BLE001 - recorded and reported, the soak goes on
                    self.errors.append(str(e))
                end = time.monotonic()
                self.rounds.append({"t": time.time(), "kind": kind, "ms": (end - t0) * 1000, "prune_ms": prune_ms,
                                    "pruned": pruned, "done": done})
                # like the worker: the interval after a round, and while pruning has work a pass a
                # second later
                if kind == "round":
                    next_round = end + self.interval
                nxt = min(next_round, end + PASS_PAUSE_S) if (pruned > 0 or not done) else next_round


class Soak:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.smoke = bool(args.smoke)
        self.seconds = args.seconds or (6 if self.smoke else args.minutes * 60)
        self.interval = args.interval or (2.0 if self.smoke else 60.0)
        self.maint_s = 2.0 if self.smoke else args.maintenance_interval
        self.retention_s = args.retention
        self.budget_s = args.prune_budget
        self.backlog = args.backlog if args.backlog is not None else (3000 if self.smoke else 1_000_000)
        self.clients = args.clients
        self.sampling = 1.0 if self.smoke else args.sampling
        self.tmp = tempfile.mkdtemp(prefix="mcp_soak_")
        os.chmod(self.tmp, 0o777)
        self.cluster: B.Cluster | None = None
        self.version = "?"
        self.mcp_version: str | None = None

    # ------------------------------------------------------------------ one run
    def start_cluster(self, system: str) -> B.Cluster:
        conf = dict(SETTINGS)
        conf["mcp_jobs.retention"] = f"'{self.retention_s}s'"
        conf["mcp_jobs.prune_budget"] = f"'{int(self.budget_s * 1000)}ms'"
        # paused until the load starts (Soak.run sets the interval and reloads: the worker's first
        # round is then at the start of the measured time, as the reference's upkeep's)
        conf["mcp_jobs.maintenance_interval"] = "0"
        c = B.Cluster(conf=conf, name="mcp_soak").start()
        self.cluster = c
        B.sql(c, "postgres", "CREATE DATABASE soak", fetch=False)
        B.sql(c, "postgres", "CREATE ROLE bench LOGIN SUPERUSER", fetch=False)
        if system == "mcp_jobs":
            B.sql(c, "soak", "CREATE EXTENSION mcp_jobs", fetch=False)
            self.mcp_version = B.extension_version(c, "soak")
        else:
            B.sql(c, "soak", B.read_file(B.REFERENCE_SQL), fetch=False)
            # the reference's pruning finds finished jobs by this index (only the soak has it)
            B.sql(c, "soak", "CREATE INDEX jobs_finished_idx ON plpgsql_ref.jobs (finished_at) "
                             "WHERE status IN ('completed', 'failed', 'cancelled')", fetch=False)
        # the maintenance worker connects as the bootstrap superuser (postgres): its DEBUG1 round reports
        # go to the log; the load and this script connect as `bench`
        B.sql(c, "soak", "ALTER ROLE postgres IN DATABASE soak SET log_min_messages = debug1", fetch=False)
        B.sql(c, "postgres", "ALTER SYSTEM SET shared_preload_libraries = 'mcp_jobs'", fetch=False)
        c.stop()
        c.start()
        self.version = B.one(c, "postgres", "SELECT version()")
        return c

    def sample(self, c: B.Cluster, schema: str, worker_pid: int | None) -> dict[str, Any]:
        rows = B.sql(c, "soak", """
            SELECT s.relname, pg_table_size(s.relid), pg_indexes_size(s.relid), s.n_live_tup, s.n_dead_tup,
                   s.autovacuum_count, pg_current_wal_lsn()::text
              FROM pg_stat_user_tables s WHERE s.schemaname = %s""", (schema,)) or []
        tables = {r[0]: {"table_bytes": r[1], "index_bytes": r[2], "total_bytes": r[1] + r[2], "live": r[3],
                         "dead": r[4], "autovacuums": r[5]} for r in rows}
        lsn = rows[0][6] if rows else B.one(c, "soak", "SELECT pg_current_wal_lsn()::text")
        return {"t": time.time(), "tables": tables, "lsn": lsn,
                "worker_rss_kb": B.proc_status_kb(worker_pid, "VmRSS") if worker_pid else None,
                "worker_rss_anon_kb": B.proc_status_kb(worker_pid, "RssAnon") if worker_pid else None,
                "worker_cpu_ms": B.proc_cpu_ms(worker_pid) if worker_pid else None}

    def worker_rounds(self, c: B.Cluster, started: float) -> tuple[list[dict[str, Any]], int]:
        """mcp_jobs' maintenance from the server log: each report of a round (every step) or a pass
        (metrics and pruning, a second after one that pruned), with its end time, its own duration
        and that of its pruning step; and the number of WARNINGs the worker logged."""
        rounds: list[dict[str, Any]] = []
        warnings = 0
        for line in c.log_text().splitlines():
            m = LOG_LINE.match(line)
            if not m:
                continue
            if m.group(3) == "WARNING" and "mcp_jobs maintenance" in m.group(4):
                warnings += 1
            if m.group(3) == "DEBUG" and m.group(4).startswith("mcp_jobs maintenance: {"):
                t = log_time(m.group(1))
                if t < started:
                    continue
                rep = json.loads(m.group(4).split(": ", 1)[1])
                steps = rep.get("steps_ms") or {}
                rounds.append({"t": t, "kind": rep.get("kind", "round"), "ms": rep.get("round_ms"),
                               "prune_ms": steps.get("pruning"), "pruned": rep.get("jobs_pruned", 0),
                               "done": rep.get("prune_done"), "metrics_written": rep.get("metrics_written"),
                               "steps_ms": steps})
        return rounds, warnings

    def run(self, system: str, mode: str, rate: float | None) -> dict[str, Any]:
        B.log(f"{LABEL[system]}, {mode}" + (f" at {rate:.0f} jobs/s" if rate else "") + f", {self.seconds:.0f} s:")
        c = self.start_cluster(system)
        pg = B.PgBench(c, self.tmp)
        try:
            t = time.monotonic()
            if self.backlog:
                B.sql(c, "soak", backlog_sql(system), (self.backlog,), fetch=False)
            B.sql(c, "soak", "VACUUM ANALYZE", fetch=False)
            B.log(f"  loaded a backlog of {self.backlog:,} finished jobs in {time.monotonic() - t:.0f}s")
            if system == "mcp_jobs":
                worker_pid = B.wait_until(lambda: B.one(c, "soak", "SELECT pid FROM pg_stat_activity "
                                                                   "WHERE backend_type = 'mcp_jobs maintenance'"),
                                          timeout=30, what="the maintenance worker")
                upkeep = None
            else:
                upkeep = RefUpkeep(c, self.maint_s, self.retention_s, self.budget_s)
                upkeep.start()
                worker_pid = B.wait_until(lambda: upkeep.pid, timeout=30, what="the upkeep connection")
            script = pg.script(f"soak_{system}", phase_script(system))
            prefix = os.path.join(self.tmp, f"soak_{system}_{mode}")
            s0 = self.sample(c, SCHEMA[system], worker_pid)
            t0 = time.time()
            if upkeep:
                upkeep.go.set()
            else:
                B.sql(c, "postgres", f"ALTER SYSTEM SET mcp_jobs.maintenance_interval = '{int(self.maint_s * 1000)}ms'",
                      fetch=False)
                B.sql(c, "postgres", "SELECT pg_reload_conf()")
            s0["t"] = t0
            p = pg.start("soak", script, self.clients, seconds=self.seconds, defines={"phase": "0"},
                         log_prefix=prefix, sampling=self.sampling if self.sampling < 1 else None,
                         rate=3 * rate if rate else None, user="bench", progress=int(self.interval))
            # pgbench's progress report every interval (-P): transactions per second of that interval,
            # exact; three transactions per job
            progress: list[float] = []
            err_lines: list[str] = []

            def read_progress() -> None:
                assert p.stderr
                for line in p.stderr:
                    m = re.match(r"progress: [\d.]+ s, ([\d.]+) tps", line)
                    if m:
                        progress.append(float(m.group(1)))
                    else:
                        err_lines.append(line)

            reader = threading.Thread(target=read_progress, daemon=True)
            reader.start()
            samples = [s0]
            k = 1
            while p.poll() is None:
                wake = t0 + k * self.interval
                while time.time() < wake and p.poll() is None:
                    time.sleep(min(0.5, max(0.0, wake - time.time())))
                if p.poll() is not None and time.time() < wake - 0.5:
                    break
                samples.append(self.sample(c, SCHEMA[system], worker_pid))
                k += 1
            assert p.stdout
            out = p.stdout.read()
            p.wait()
            reader.join(timeout=10)
            err = "".join(err_lines)
            if p.returncode != 0 or "aborted" in out:
                raise RuntimeError(f"pgbench failed ({p.returncode}):\n{out}\n{err}")
            samples.append(self.sample(c, SCHEMA[system], worker_pid))
            if upkeep:
                upkeep.stop_ev.set()
                upkeep.join(timeout=120)
                rounds, warnings = upkeep.rounds, len(upkeep.errors)
            else:
                rounds, warnings = self.worker_rounds(c, t0)
            lines = B.pgbench_log_lines(pg.logs(prefix))
            res = self.summarise(system, mode, rate, t0, samples, lines, progress, rounds, warnings, c)
            for path in pg.logs(prefix):
                os.remove(path)
            return res
        finally:
            c.destroy()
            self.cluster = None

    def summarise(self, system: str, mode: str, rate: float | None, t0: float, samples: list[dict[str, Any]],
                  lines: list[tuple[Any, ...]], progress: list[float], rounds: list[dict[str, Any]], warnings: int,
                  c: B.Cluster) -> dict[str, Any]:
        scale = 1.0 / self.sampling
        minutes: list[dict[str, Any]] = []
        # the logged transactions by the interval their end falls in
        bounds = [x["t"] * 1e6 for x in samples]
        buckets: list[list[tuple[Any, ...]]] = [[] for _ in samples]
        for x in lines:
            i = bisect.bisect_right(bounds, x[3])
            if 0 < i < len(samples):
                buckets[i].append(x)
        for i in range(1, len(samples)):
            a, b = samples[i - 1], samples[i]
            sel = buckets[i]
            done = sum(1 for x in sel if (x[1] - 1) % 3 == 2)  # complete transactions
            claims = [x[4] - x[5] for x in sel if (x[1] - 1) % 3 == 1]
            lags = [x[5] for x in sel]
            secs = b["t"] - a["t"]
            if secs < 0.5 * self.interval:
                continue  # the stub after the load ended
            rs = [r for r in rounds if a["t"] <= r["t"] < b["t"]]
            full = [r for r in rs if r["kind"] == "round" and r["ms"] is not None]
            passes = [r for r in rs if r["kind"] == "pass"]
            pms = [r["ms"] for r in passes if r["ms"] is not None]
            wal = B.one(c, "postgres", "SELECT pg_wal_lsn_diff(%s, %s)::bigint", (b["lsn"], a["lsn"]))
            cpu = None if a["worker_cpu_ms"] is None or b["worker_cpu_ms"] is None else b["worker_cpu_ms"] - a["worker_cpu_ms"]
            n = len(minutes)
            jobs_per_s = progress[n] / 3 if n < len(progress) else done * scale / secs
            minutes.append({
                "minute": n + 1, "seconds": round(secs, 2),
                "jobs_per_s": round(jobs_per_s, 1),
                "claim_p50_ms": round(B.percentile(claims, 0.5) or 0, 3) if claims else None,
                "claim_p99_ms": round(B.percentile(claims, 0.99) or 0, 3) if claims else None,
                "claim_samples": len(claims), "lag_p99_ms": round(B.percentile(lags, 0.99) or 0, 3) if lags else None,
                "tables": b["tables"], "total_bytes": sum(t["total_bytes"] for t in b["tables"].values()),
                "dead_tuples": sum(t["dead"] for t in b["tables"].values()),
                "wal_bytes": wal,
                "maintenance": {"rounds": len(full),
                                "round_ms": [round(r["ms"], 1) for r in full],
                                "backlog_left": [r["done"] is False for r in full],
                                "passes": len(passes),
                                "pass_ms_mean": round(sum(pms) / len(pms), 1) if pms else None,
                                "pass_ms_max": round(max(pms), 1) if pms else None,
                                "prune_ms": round(sum(r["prune_ms"] or 0 for r in rs), 1),
                                "pruned": sum(r["pruned"] for r in rs),
                                "cpu_ms": None if cpu is None else round(cpu, 1),
                                # the interval's longest round or pass, step by step: what a spike spent its time on
                                "slowest": slowest(rs)},
                "worker_rss_kb": b["worker_rss_kb"], "worker_rss_anon_kb": b["worker_rss_anon_kb"],
            })
            m = minutes[-1]
            B.log(f"  {m['minute']:3d}: {m['jobs_per_s']:7.0f} jobs/s  claim p99 {B_fmt(m['claim_p99_ms'])} ms  "
                  f"{m['total_bytes'] / 1048576:7.0f} MB  dead {m['dead_tuples']:9,}  rounds "
                  f"{m['maintenance']['round_ms']} pruned {m['maintenance']['pruned']:,}  upkeep RssAnon {m['worker_rss_anon_kb']} kB")
        # pruning capacity: while a backlog lasted (the reports that stopped at the budget with prunable
        # jobs left), jobs pruned per second of wall clock: each such round or pass, and the worker's
        # pause before the next one
        with_backlog = [r for r in rounds if r["done"] is False and r["t"] >= t0 and r["ms"] is not None]
        prune_rate = None
        if with_backlog:
            wall_s = sum(r["ms"] / 1000 + PASS_PAUSE_S for r in with_backlog)
            prune_rate = {"jobs_per_s": round(sum(r["pruned"] for r in with_backlog) / wall_s, 1),
                          "prune_step_jobs_per_s": round(sum(r["pruned"] for r in with_backlog)
                                                         / (sum(r["prune_ms"] or 0 for r in with_backlog) / 1000), 1),
                          "rounds": len(with_backlog), "basis": "wall_seconds"}
        mean = sum(m["jobs_per_s"] for m in minutes) / len(minutes) if minutes else 0.0
        return {"system": system, "mode": mode, "target_rate": rate, "clients": self.clients,
                "minutes": minutes, "enqueue_jobs_per_s": round(mean, 1), "prune_rate": prune_rate,
                "maintenance_rounds": len([r for r in rounds if r["t"] >= t0]), "maintenance_warnings": warnings}

    def close(self) -> None:
        if self.cluster:
            self.cluster.destroy()
        shutil.rmtree(self.tmp, ignore_errors=True)


def B_fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description="Soak: the lifecycle at a fixed rate for a long time, with maintenance, "
                                             "against the plain PL/pgSQL reference.")
    ap.add_argument("--smoke", action="store_true", help="seconds: checks the harness works")
    ap.add_argument("--minutes", type=float, default=60, help="duration of each run (default 60)")
    ap.add_argument("--seconds", type=float, help="duration of each run in seconds (overrides --minutes)")
    ap.add_argument("--interval", type=float, help="seconds per reported interval (default 60)")
    ap.add_argument("--clients", type=int, default=4, help="pgbench clients (default 4)")
    ap.add_argument("--systems", default="mcp_jobs,plpgsql", help="comma-separated: mcp_jobs, plpgsql")
    ap.add_argument("--modes", default="max,half", help="comma-separated: max (closed loop), half (pgbench -R)")
    ap.add_argument("--rate", type=float, help="jobs/s of the half-rate runs (default: half of the first max run's)")
    ap.add_argument("--retention", type=int, default=120, help="mcp_jobs.retention and the reference's, s (default 120)")
    ap.add_argument("--maintenance-interval", type=float, default=60.0,
                    help="s between maintenance rounds (default 60: mcp_jobs' default)")
    ap.add_argument("--prune-budget", type=float, default=2.0, help="s of pruning per round (default 2: mcp_jobs' default)")
    ap.add_argument("--backlog", type=int, help="finished jobs past the cutoff loaded before each run (default 1,000,000)")
    ap.add_argument("--sampling", type=float, default=0.02,
                    help="pgbench --sampling-rate of the transaction log (default 0.02)")
    ap.add_argument("--no-write", action="store_true", help="write nothing to bench/results")
    ap.add_argument("--out", default=os.path.join(HERE, "out"), help="directory for the raw result")
    args = ap.parse_args()
    s = Soak(args)
    systems = [x for x in args.systems.split(",") if x]
    modes = [x for x in args.modes.split(",") if x]
    if s.smoke:
        plan = [("mcp_jobs", "max"), ("plpgsql", "half")]
    else:
        plan = [(sy, mo) for mo in modes for sy in systems]
    bad = [p for p in plan if p[0] not in SCHEMA or p[1] not in ("max", "half")]
    if bad:
        ap.error(f"unknown system or mode: {bad}")
    started = time.time()
    runs: list[dict[str, Any]] = []
    half = args.rate
    try:
        for system, mode in plan:
            rate = None
            if mode == "half":
                if half is None:
                    maxed = [r for r in runs if r["mode"] == "max" and r["system"] == "mcp_jobs"] or \
                            [r for r in runs if r["mode"] == "max"]
                    if not maxed:
                        ap.error("a half-rate run needs --rate or a max run before it")
                    ms = maxed[0]["minutes"][1:] or maxed[0]["minutes"]
                    half = sum(m["jobs_per_s"] for m in ms) / len(ms) / 2
                rate = half
            runs.append(s.run(system, mode, rate))
        doc = {
            "schema_version": 1, "kind": "soak", "run": B.next_number("soak"), "started_utc": B.now_utc(started),
            "mcp_jobs_version": s.mcp_version or "?", "code": B.code_description(),
            "command": B.command_line("bench/soak.py"), "source": "bench/soak.py", "complete": not s.smoke,
            "smoke": s.smoke, "notes": [],
            "method": {"minutes": round(s.seconds / 60, 2), "interval_s": s.interval, "clients": s.clients,
                       "synchronous_commit": "off", "maintenance_interval": f"{s.maint_s:g} s",
                       "retention": f"{s.retention_s} s", "prune_budget": f"{s.budget_s:g} s", "backlog_jobs": s.backlog,
                       "log_sampling": s.sampling, "half_rate": half,
                       "reference_upkeep": f"expire_leases(), then prune(retention, {REF_BATCH:,}) while a batch is "
                                           f"full, for at most {s.budget_s:g} s; while pruning has work, the pruning "
                                           f"again a second later",
                       "worker_passes": True},
            "runs": runs,
            "settings": [[k, v] for k, v in SETTINGS.items()],
            "machine": B.machine() | {"postgresql": s.version, "elapsed_s": round(time.time() - started)},
        }
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "soak.json"), "w") as f:
            json.dump(doc, f, indent=1)
        import report
        print("\n" + report.render_soak(doc) + "\n", flush=True)
        if not s.smoke and not args.no_write:
            B.log(f"wrote {os.path.relpath(B.write_result('soak', doc), B.ROOT)}")
            report.write_md()
        B.log(f"done in {time.time() - started:.0f}s; reproduce with: {doc['command']}")
    finally:
        s.close()


if __name__ == "__main__":
    main()
