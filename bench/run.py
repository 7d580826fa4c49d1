#!/usr/bin/env python3
"""mcp_jobs throughput benchmark: one throwaway PostgreSQL 15 cluster, one run, every system measured
in the same interleaved rounds.

    PG_CONFIG=/path/to/pg_config python3 bench/run.py            # full run (about 50 minutes)
    PG_CONFIG=/path/to/pg_config python3 bench/run.py --smoke    # seconds; checks the harness works
    python3 bench/run.py --render                                # BENCHMARKS.md from bench/results

The named reference of every ratio is measured in the same run:
- "PL/pgSQL": the MCP Jobs design's functions in plain PL/pgSQL (bench/reference/plpgsql.sql), the
  same rows per job;
- "pgmq": pgmq 1.5.1's send / read / archive, its SQL-only install (bench/pgmq/pgmq.sql);
- "ceiling": the same three writes per job on a minimal table, no history;
- pg-boss and graphile-worker through their Node APIs (bench/peers.js), synchronous_commit = on only.

Measured at synchronous_commit off (CPU-bound) and on: the lifecycle (enqueue -> claim -> complete,
three transactions per job) at 1, 2, 4 and 8 clients with server CPU and WAL per job; enqueue (one
job per call, and mcp_jobs.enqueue_jobs with 100 per call); the drain of a queue (one job per call,
complete+claim in one transaction, batched by 50). Then flow control (claims with no queue settings
against 10 queues with concurrency and rate limits), claim latency from 1k to 1M queued jobs (also
with 90 % of them held back by a pause or a concurrency limit), and per-backend memory.

mcp_jobs must already be installed into $PG_CONFIG's PostgreSQL (bench/run.sh does the release
install first). A full run writes bench/results/run-NNN.json and renders BENCHMARKS.md from
bench/BENCHMARKS.tmpl.md (bench/report.py) unless --no-write.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B
import report

HERE = B.HERE
ROOT = B.ROOT
ZERO = B.ZERO_UUID
Cluster = B.Cluster

# Fixed settings, printed in the output and in BENCHMARKS.md. synchronous_commit is switched per
# phase with ALTER SYSTEM (both values are measured).
SETTINGS = {
    "shared_buffers": "'1GB'",
    "synchronous_commit": "on",
    "fsync": "on",
    "full_page_writes": "on",
    "wal_level": "replica",
    "max_wal_size": "'8GB'",
    "checkpoint_timeout": "'30min'",
    "autovacuum": "off",  # dead tuples / growth per job are read right after each round
    "jit": "off",
    "max_connections": "100",
    # mcp_jobs preloaded as its docs recommend: an enqueue's commit wakes waiting claims through
    # shared memory (the cost is in every enqueue measured here). Its maintenance worker runs in
    # mcp_jobs.database = 'postgres', where the extension is not created: it idles.
    "shared_preload_libraries": "'pg_stat_statements,mcp_jobs'",
    # PostgreSQL's default. `all` also instruments statements run inside functions.
    "pg_stat_statements.track": "top",
}
SYNC_MODES = ("off", "on")
PEERS = ("pg-boss", "graphile-worker")
PEER_NAME = {"pg-boss": "pgboss", "graphile-worker": "graphile"}
BATCH = 50  # jobs per call of the batched drains
ENQUEUE_BATCH = 100  # jobs per call of mcp_jobs.enqueue_jobs


def q(s: str) -> str:
    return s.replace("'", "''")


PAYLOAD = '{"n": 1}'
ENQUEUE_JOBS_ARG = json.dumps([{"source": "bench", "job_type": "noop", "payload": {"n": 1}}] * ENQUEUE_BATCH)


def gset_claim(call: str, have: bool = False) -> str:
    """A claim whose first row's id and run id go into :jid and :rid (the zero uuid for none)."""
    return (f"SELECT coalesce((array_agg(c.id))[1], '{ZERO}') AS jid, "
            f"coalesce((array_agg(c.run_id))[1], '{ZERO}') AS rid" + (", count(*) AS have" if have else "")
            + f" FROM {call} c \\gset\n")


# (system, kind, variant) -> pgbench script. kind: enqueue | lifecycle | drain; variant: "one" (one
# job per call; drain: claim, then complete: two transactions per job), "loop" (complete the job the
# client holds and claim the next in one transaction), "batch" (BATCH jobs per call), "x100"
# (enqueue_jobs of ENQUEUE_BATCH jobs).
SCRIPTS: dict[tuple[str, str, str], str] = {
    ("mcp_jobs", "enqueue", "one"): f"SELECT mcp_jobs.enqueue_job('bench', 'noop', '{PAYLOAD}');\n",
    ("mcp_jobs", "enqueue", "x100"): f"SELECT cardinality(mcp_jobs.enqueue_jobs('{q(ENQUEUE_JOBS_ARG)}'));\n",
    ("mcp_jobs", "lifecycle", "one"): (
        f"SELECT mcp_jobs.enqueue_job('bench', 'noop', '{PAYLOAD}');\n"
        + gset_claim("mcp_jobs.claim_next_job('w')")
        + f"SELECT mcp_jobs.complete_job(:jid, :rid) WHERE :jid <> '{ZERO}';\n"),
    ("mcp_jobs", "drain", "one"): (
        gset_claim("mcp_jobs.claim_next_job('w')")
        + f"SELECT mcp_jobs.complete_job(:jid, :rid) WHERE :jid <> '{ZERO}';\n"),
    ("mcp_jobs", "drain", "loop"): (
        "\\if :have\n"
        + gset_claim("mcp_jobs.complete_and_claim_next(:jid, :rid, p_worker_id => 'w')", have=True)
        + "\\else\n"
        + gset_claim("mcp_jobs.claim_next_job('w')", have=True)
        + "\\endif\n"),
    ("mcp_jobs", "drain", "batch"): (
        "SELECT coalesce(array_agg(c.id), '{}') AS jids, coalesce(array_agg(c.run_id), '{}') AS rids "
        f"FROM mcp_jobs.claim_jobs('w', p_limit => {BATCH}) c \\gset\n"
        "SELECT count(*) FILTER (WHERE completed) FROM mcp_jobs.complete_jobs(:jids::uuid[], :rids::uuid[]);\n"),
    ("plpgsql", "enqueue", "one"): f"SELECT plpgsql_ref.enqueue_job('bench', 'noop', '{PAYLOAD}');\n",
    ("plpgsql", "lifecycle", "one"): (
        f"SELECT plpgsql_ref.enqueue_job('bench', 'noop', '{PAYLOAD}');\n"
        + gset_claim("plpgsql_ref.claim_next_job('w')")
        + f"SELECT plpgsql_ref.complete_job(:jid, :rid) WHERE :jid <> '{ZERO}';\n"),
    ("plpgsql", "drain", "one"): (
        gset_claim("plpgsql_ref.claim_next_job('w')")
        + f"SELECT plpgsql_ref.complete_job(:jid, :rid) WHERE :jid <> '{ZERO}';\n"),
    ("plpgsql", "drain", "loop"): (
        "\\if :have\n"
        "BEGIN;\n"
        "SELECT plpgsql_ref.complete_job(:jid, :rid);\n"
        + gset_claim("plpgsql_ref.claim_next_job('w')", have=True)
        + "COMMIT;\n"
        "\\else\n"
        + gset_claim("plpgsql_ref.claim_next_job('w')", have=True)
        + "\\endif\n"),
    ("plpgsql", "drain", "batch"): (
        "SELECT coalesce(array_agg(c.id), '{}') AS jids, coalesce(array_agg(c.run_id), '{}') AS rids "
        f"FROM plpgsql_ref.claim_jobs('w', {BATCH}) c \\gset\n"
        "SELECT plpgsql_ref.complete_jobs(:jids::uuid[], :rids::uuid[]);\n"),
    ("pgmq", "enqueue", "one"): f"SELECT pgmq.send('bench', '{PAYLOAD}');\n",
    ("pgmq", "lifecycle", "one"): (
        f"SELECT pgmq.send('bench', '{PAYLOAD}');\n"
        "SELECT coalesce(max(msg_id), 0) AS mid FROM pgmq.read('bench', 300, 1) \\gset\n"
        "SELECT pgmq.archive('bench', :mid::bigint) WHERE :mid::bigint <> 0;\n"),
    ("pgmq", "drain", "one"): (
        "SELECT coalesce(max(msg_id), 0) AS mid FROM pgmq.read('bench', 300, 1) \\gset\n"
        "SELECT pgmq.archive('bench', :mid::bigint) WHERE :mid::bigint <> 0;\n"),
    ("pgmq", "drain", "loop"): (
        "\\if :mid\n"
        "BEGIN;\n"
        "SELECT pgmq.archive('bench', :mid::bigint);\n"
        "SELECT coalesce(max(msg_id), 0) AS mid FROM pgmq.read('bench', 300, 1) \\gset\n"
        "COMMIT;\n"
        "\\else\n"
        "SELECT coalesce(max(msg_id), 0) AS mid FROM pgmq.read('bench', 300, 1) \\gset\n"
        "\\endif\n"),
    ("pgmq", "drain", "batch"): (
        f"SELECT coalesce(array_agg(msg_id), '{{}}') AS mids FROM pgmq.read('bench', 300, {BATCH}) \\gset\n"
        "SELECT count(*) FROM pgmq.archive('bench', :mids::bigint[]);\n"),
    ("ceiling", "enqueue", "one"): f"INSERT INTO ceiling_jobs (payload) VALUES ('{PAYLOAD}');\n",
    ("ceiling", "lifecycle", "one"): (
        f"INSERT INTO ceiling_jobs (payload) VALUES ('{PAYLOAD}') RETURNING id \\gset\n"
        "UPDATE ceiling_jobs SET status = 'processing', started_at = now() WHERE id = :id;\n"
        "UPDATE ceiling_jobs SET status = 'completed', finished_at = now() WHERE id = :id;\n"),
    ("ceiling", "drain", "one"): (
        "WITH c AS (UPDATE ceiling_jobs SET status = 'processing', started_at = now() "
        "WHERE id = (SELECT id FROM ceiling_jobs WHERE status = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) "
        "RETURNING id) SELECT coalesce(max(id), 0) AS id FROM c \\gset\n"
        "UPDATE ceiling_jobs SET status = 'completed', finished_at = now() WHERE id = :id;\n"),
}
# pgbench -D values a script starts from (the loops keep each client's variables between transactions)
DEFINES = {"loop": {"jid": ZERO, "rid": ZERO, "have": "0", "mid": "0"}}
# jobs per pgbench transaction of an enqueue script
JOBS_PER_TX = {"x100": ENQUEUE_BATCH}
VARIANT_LABEL = {"one": "", "loop": " (complete+claim)", "batch": " (batched)", "x100": " (enqueue_jobs x100)"}

CEILING_DDL = """
CREATE TABLE ceiling_jobs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    status      text NOT NULL DEFAULT 'queued',
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz
);
CREATE INDEX ceiling_claim_idx ON ceiling_jobs (id) WHERE status = 'queued';
"""


@dataclass
class System:
    db: str
    schema: str  # holding the system's tables (footprint)
    truncate: str
    completed: str  # SQL: jobs completed since the truncate
    fill: str | None = None  # SQL with one %s: n queued jobs


SYSTEMS = {
    "mcp_jobs": System("mcp", "mcp_jobs",
                       "TRUNCATE mcp_jobs.jobs, mcp_jobs.job_runs, mcp_jobs.job_events, mcp_jobs.dead_letter_queue",
                       "SELECT count(*) FROM mcp_jobs.jobs WHERE status = 'completed'"),
    "plpgsql": System("ref", "plpgsql_ref", "TRUNCATE plpgsql_ref.jobs, plpgsql_ref.job_runs, plpgsql_ref.job_events",
                      "SELECT count(*) FROM plpgsql_ref.jobs WHERE status = 'completed'",
                      # the rows plpgsql_ref.enqueue_job writes, set-based
                      """WITH j AS (INSERT INTO plpgsql_ref.jobs (source, job_type, payload)
                                    SELECT 'bench', 'noop', '{"n": 1}' FROM generate_series(1, %s)
                                    RETURNING id, priority, run_at, max_attempts)
                         INSERT INTO plpgsql_ref.job_events (job_id, event_type, data)
                         SELECT id, 'enqueued', jsonb_build_object('priority', priority, 'run_at', run_at,
                                                                   'max_attempts', max_attempts) FROM j"""),
    "pgmq": System("pgmq", "pgmq", "TRUNCATE pgmq.q_bench, pgmq.a_bench", "SELECT count(*) FROM pgmq.a_bench",
                   """SELECT count(*) FROM pgmq.send_batch('bench', ARRAY(SELECT '{"n": 1}'::jsonb
                                                                       FROM generate_series(1, %s)))"""),
    "ceiling": System("ceiling", "public", "TRUNCATE ceiling_jobs",
                      "SELECT count(*) FROM ceiling_jobs WHERE status = 'completed'",
                      """INSERT INTO ceiling_jobs (payload) SELECT '{"n": 1}' FROM generate_series(1, %s)"""),
    "pg-boss": System("pgboss", "pgboss", "TRUNCATE pgboss.job, pgboss.archive", ""),
    "graphile-worker": System("graphile", "graphile_worker", "TRUNCATE graphile_worker._private_jobs CASCADE", ""),
}
REFERENCES = ("plpgsql", "pgmq", "ceiling")  # what mcp_jobs' ratios are taken against, in this order
SYSTEM_LABEL = {"plpgsql": "PL/pgSQL reference"}


def entry_label(system: str, variant: str) -> str:
    return SYSTEM_LABEL.get(system, system) + VARIANT_LABEL[variant]


Entry = tuple[str, str]  # (system, variant)


def tool_args(seconds: float, rounds: int) -> argparse.Namespace:
    """Bench's arguments for the smaller tools (bench/quick.py, bench/profile.py, bench/ab_schema.py)."""
    return argparse.Namespace(smoke=False, seconds=seconds, rounds=rounds, no_peers=True, clients=[1, 2, 4, 8])


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.smoke = bool(args.smoke)
        self.rounds = 1 if self.smoke else args.rounds
        # seconds per entry and measurement, over all rounds
        self.T = args.seconds or (1 if self.smoke else 24)
        self.tmp = tempfile.mkdtemp(prefix="mcp_bench_")
        os.chmod(self.tmp, 0o777)
        self.cluster: B.Cluster | None = None
        self.pg: B.PgBench | None = None
        self.sync = "on"
        self.last_rate: dict[tuple[Any, ...], float] = {}
        self.data: dict[str, Any] = {"lifecycle": {}, "enqueue": {}, "drain": {}}
        self.lifecycle_rss: dict[str, Any] | None = None
        self.settings: list[tuple[Any, ...]] = []
        self.version = "?"

    # ------------------------------------------------------------------ plumbing
    def sql(self, db: str, query: str, params: Any = None, fetch: bool = True) -> list[tuple[Any, ...]] | None:
        assert self.cluster
        return B.sql(self.cluster, db, query, params, fetch)

    def one(self, db: str, query: str, params: Any = None) -> Any:
        rows = self.sql(db, query, params)
        assert rows
        return rows[0][0]

    def script(self, key: tuple[str, str, str]) -> str:
        assert self.pg
        return self.pg.script("_".join(key), SCRIPTS[key])

    def node(self, system: str, mode: str, *args: Any) -> dict[str, Any]:
        assert self.cluster
        p = subprocess.run(["node", os.path.join(HERE, "peers.js"), PEER_NAME[system], mode,
                            self.cluster.url(SYSTEMS[system].db), *map(str, args)],
                           check=False, capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"peers.js {system} {mode} failed:\n{p.stdout}\n{p.stderr}")
        out: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
        return out

    def set_sync(self, value: str) -> None:
        self.sql("postgres", f"ALTER SYSTEM SET synchronous_commit = {value}", fetch=False)
        self.sql("postgres", "SELECT pg_reload_conf()")
        B.wait_until(lambda: self.one("postgres", "SHOW synchronous_commit") == value, timeout=10,
                     what=f"synchronous_commit = {value}")
        self.sync = value

    def footprint(self, system: str) -> tuple[str, int, int]:
        s = SYSTEMS[system]
        if not self.smoke:
            time.sleep(0.6)  # exited backends have flushed their table statistics by now
        rows = self.sql(s.db, """
            SELECT pg_current_wal_lsn()::text,
                   coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint,
                   coalesce(sum(s.n_dead_tup), 0)::bigint
              FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
             WHERE c.relnamespace = %s::regnamespace AND c.relkind = 'r'""", (s.schema,))
        assert rows
        return rows[0]

    def reset(self, system: str) -> None:
        s = SYSTEMS[system]
        self.sql(s.db, s.truncate, fetch=False)
        self.sql(s.db, "SELECT pg_stat_reset()", fetch=False)

    # ------------------------------------------------------------------ setup
    def setup(self, systems: tuple[str, ...] = ("mcp_jobs", "plpgsql", "pgmq", "ceiling", *PEERS),
              conf: dict[str, str] | None = None) -> None:
        """The cluster (SETTINGS, overridden by `conf`) and one database per system."""
        self.cluster = Cluster(conf=SETTINGS | (conf or {}), name="mcp_bench").start()
        self.pg = B.PgBench(self.cluster, self.tmp)
        B.log(f"cluster: {self.cluster.data} port {self.cluster.port}")
        for system in systems:
            if system in PEERS and self.args.no_peers:
                continue
            db = SYSTEMS[system].db
            self.sql("postgres", f"CREATE DATABASE {db}", fetch=False)
            if system == "mcp_jobs":
                self.sql(db, "CREATE EXTENSION mcp_jobs; CREATE EXTENSION pg_stat_statements", fetch=False)
            elif system == "plpgsql":
                self.sql(db, B.read_file(B.REFERENCE_SQL), fetch=False)
            elif system == "pgmq":
                self.sql(db, B.read_file(B.PGMQ_SQL), fetch=False)
                self.sql(db, "SELECT pgmq.create('bench')", fetch=False)
            elif system == "ceiling":
                self.sql(db, CEILING_DDL, fetch=False)
            else:
                self.node(system, "setup")
        self.settings = self.sql("postgres", """
            SELECT name, setting || coalesce(' ' || unit, '') FROM pg_settings
             WHERE name = ANY(%s) ORDER BY name""", ([k for k in SETTINGS],)) or []
        self.version = self.one("postgres", "SELECT version()")

    # ------------------------------------------------------------------ one round of one entry
    def fill_size(self, kind: str, entry: Entry, per: float) -> int:
        """Queued jobs for a drain round: 1.5x what the entry drained in its last round (at least a
        floor), so that the queue does not run dry before the round ends."""
        if self.smoke:
            return 2 * BATCH * 30 if entry[1] == "batch" else 200
        floor = (40_000 if entry[1] == "batch" else 12_000) * per
        last = self.last_rate.get((kind, entry, self.sync))
        return int(min(3_000_000, max(floor if last is None else 0, 1.5 * (last or 0) * per, 20_000)))

    def fill(self, system: str, n: int) -> None:
        s = SYSTEMS[system]
        if system == "mcp_jobs":
            arg = json.dumps([{"source": "bench", "job_type": "noop", "payload": {"n": 1}}] * 1000)
            with self.cluster.connect(s.db) as conn:  # type: ignore[union-attr]
                for i in range(0, n, 1000):
                    conn.execute("SELECT cardinality(mcp_jobs.enqueue_jobs(%s::jsonb))",
                                 (arg if n - i >= 1000 else json.dumps(json.loads(arg)[: n - i]),))
        elif s.fill:
            self.sql(s.db, s.fill, (n,), fetch=False)
        else:
            self.node(system, "fill", n)
        self.sql(s.db, "VACUUM ANALYZE", fetch=False)

    def run_one(self, kind: str, entry: Entry, clients: int, per: float) -> dict[str, Any]:
        """One round of one entry from empty tables: jobs, seconds, WAL bytes, size growth, dead
        tuples, server CPU ms, and whether a drain's queue ran dry."""
        assert self.cluster and self.pg
        system, variant = entry
        self.reset(system)
        fill_n = 0
        if kind == "drain":
            fill_n = self.fill_size(kind, entry, per)
            self.fill(system, fill_n)
        lsn0, size0, dead0 = self.footprint(system)
        cpu0 = B.cluster_cpu_ms(self.cluster)
        if system in PEERS:
            args: list[Any] = [clients, per] + ([1 if variant == "batch" else 0] if kind == "drain" else [])
            r = self.node(system, kind, *args)
            n, secs = int(r["jobs"]), float(r["seconds"])
        else:
            key = (system, kind, variant)
            t0 = time.monotonic()
            p = self.pg.start(SYSTEMS[system].db, self.script(key), clients,
                              seconds=None if self.smoke else per,
                              transactions=30 if self.smoke else None, defines=DEFINES.get(variant))
            rss = None
            if system == "mcp_jobs" and kind == "lifecycle" and clients == 1 and not self.smoke:
                rss = self.sample_rss(p, per)
            tx = self.pg.wait(p)
            secs = time.monotonic() - t0 if self.smoke else float(round(per))
            n = tx * JOBS_PER_TX.get(variant, 1) if kind == "enqueue" else self.one(SYSTEMS[system].db,
                                                                                     SYSTEMS[system].completed)
            if rss:
                rss["calls"] = 3 * n  # enqueue_job + claim_next_job + complete_job per job
                if self.lifecycle_rss is None or self.lifecycle_rss["calls"] < rss["calls"]:
                    self.lifecycle_rss = rss
        cpu = B.cluster_cpu_ms(self.cluster) - cpu0
        lsn1, size1, dead1 = self.footprint(system)
        wal = self.one("postgres", "SELECT pg_wal_lsn_diff(%s, %s)::bigint", (lsn1, lsn0))
        dry = kind == "drain" and n >= fill_n
        if dry:
            B.log(f"  warning: {entry_label(*entry)} drained all {fill_n} jobs before the round ended")
        self.last_rate[(kind, entry, self.sync)] = n / secs
        return {"jobs": n, "seconds": secs, "wal": wal, "growth": size1 - size0, "dead": dead1 - dead0,
                "cpu_ms": cpu, "dry": dry}

    def measure(self, kind: str, clients: int, entries: list[Entry], rotate: int = 0,
                share: float = 1.0) -> dict[Entry, dict[str, Any]]:
        """Interleaved rounds: each entry runs `rounds` times for share * T / rounds seconds, the order
        rotating every round, so that the machine's noise spreads over all entries alike."""
        per = max(1.0, share * self.T / self.rounds)
        acc: dict[Entry, list[dict[str, Any]]] = {e: [] for e in entries}
        for r in range(self.rounds):
            k = (r + rotate) % len(entries)
            for e in entries[k:] + entries[:k]:
                acc[e].append(self.run_one(kind, e, clients, per))
        out = {}
        for e, rs in acc.items():
            n = sum(x["jobs"] for x in rs)
            secs = sum(x["seconds"] for x in rs)
            d = max(n, 1)
            out[e] = {"jobs_per_s": round(n / secs, 1) if secs else 0.0, "jobs": n,
                      "rounds": [round(x["jobs"] / x["seconds"]) for x in rs],
                      "cpu_ms_per_job": round(sum(x["cpu_ms"] for x in rs) / d, 4),
                      "wal_bytes_per_job": round(sum(x["wal"] for x in rs) / d, 1),
                      "growth_bytes_per_job": round(sum(x["growth"] for x in rs) / d, 1),
                      "dead_tuples_per_job": round(sum(x["dead"] for x in rs) / d, 3),
                      "ran_dry": any(x["dry"] for x in rs)}
        return out

    def sample_rss(self, p: subprocess.Popen[str], seconds: float) -> dict[str, Any] | None:
        """RssAnon of the pgbench backend of a 1-client mcp_jobs lifecycle round, early and late."""
        first = pid = None
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline - 0.3 and p.poll() is None:
            if pid is None:
                rows = self.sql("mcp", "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' "
                                       "AND datname = 'mcp'")
                if rows:
                    pid = rows[0][0]
                    time.sleep(min(1.0, seconds / 4))
                    first = B.proc_status_kb(pid, "RssAnon")
                    continue
            time.sleep(0.05)
        if pid is None or first is None:
            return None
        return {"early_kb": first, "late_kb": B.proc_status_kb(pid, "RssAnon")}

    # ------------------------------------------------------------------ the measurements
    def systems(self, with_peers: bool) -> list[str]:
        return ["mcp_jobs", *REFERENCES] + (list(PEERS) if with_peers and not self.args.no_peers else [])

    def throughput(self) -> None:
        life_clients = [1] if self.smoke else self.args.clients
        enq_clients = [1] if self.smoke else [1, 4]
        drain_clients = 1 if self.smoke else 4
        for sync in SYNC_MODES:
            self.set_sync(sync)
            peers = sync == "on"
            B.log(f"synchronous_commit = {sync}:")
            life: dict[str, Any] = self.data["lifecycle"].setdefault(sync, {})
            for i, c in enumerate(life_clients):
                res = self.measure("lifecycle", c, [(s, "one") for s in self.systems(peers)], rotate=i)
                life[str(c)] = {s: v for (s, _), v in res.items()}
                for (s, _), v in res.items():
                    B.log(f"  lifecycle {s:16s} clients={c}: {v['jobs_per_s']:8.0f} jobs/s  CPU "
                          f"{v['cpu_ms_per_job']:.3f} ms/job  WAL {v['wal_bytes_per_job']:6.0f} B/job  rounds "
                          + "/".join(str(x) for x in v["rounds"]))
            # (the smoke run drives the peers in the lifecycle only: each of their entries costs seconds)
            peers = peers and not self.smoke
            enq: dict[str, Any] = self.data["enqueue"].setdefault(sync, {})
            entries = [("mcp_jobs", "one"), ("mcp_jobs", "x100")] + [(s, "one") for s in self.systems(peers)[1:]]
            for i, c in enumerate(enq_clients):
                res = self.measure("enqueue", c, entries, rotate=i, share=0.5)
                enq[str(c)] = {entry_label(*e): v for e, v in res.items()}
                for e, v in res.items():
                    B.log(f"  enqueue   {entry_label(*e):32s} clients={c}: {v['jobs_per_s']:8.0f} jobs/s  CPU "
                          f"{v['cpu_ms_per_job']:.3f} ms/job")
            entries = [(s, v) for s in ("mcp_jobs", "plpgsql", "pgmq") for v in ("one", "loop", "batch")]
            entries += [("ceiling", "one")]
            if peers and not self.args.no_peers:
                entries += [(p, v) for p in PEERS for v in ("one", "batch")]
            res = self.measure("drain", drain_clients, entries, share=0.5)
            self.data["drain"][sync] = {"clients": drain_clients, "entries": {entry_label(*e): v for e, v in res.items()}}
            for e, v in res.items():
                B.log(f"  drain     {entry_label(*e):32s} clients={drain_clients}: {v['jobs_per_s']:8.0f} jobs/s  "
                      f"CPU {v['cpu_ms_per_job']:.3f} ms/job" + ("  (ran dry: a lower bound)" if v["ran_dry"] else ""))

    # ------------------------------------------------------------------ flow control
    FLOW_QUEUES = 10

    def flow_control(self) -> None:
        """Claims (claim_next_job + complete_job, 4 clients) from jobs spread over 10 sources, in a
        database without queue settings and one where each of the 10 sources has a concurrency limit
        and a rate limit (set so as not to bind: what is measured is their bookkeeping)."""
        self.set_sync("off")
        clients = 1 if self.smoke else 4
        max_conc, rate, period = 100, 1_000_000, "1 minute"
        for db in ("fc_none", "fc_limits"):
            self.sql("postgres", f"CREATE DATABASE {db}", fetch=False)
            self.sql(db, "CREATE EXTENSION mcp_jobs", fetch=False)
            SYSTEMS[db] = System(db, "mcp_jobs", SYSTEMS["mcp_jobs"].truncate, SYSTEMS["mcp_jobs"].completed,
                                 f"""SELECT count(*) FROM generate_series(1, %s) g,
                                       LATERAL (SELECT mcp_jobs.enqueue_job('q' || mod(g, {self.FLOW_QUEUES}), 'noop',
                                                                            '{{"n": 1}}')) e""")
            SCRIPTS[(db, "drain", "one")] = SCRIPTS[("mcp_jobs", "drain", "one")]
        for i in range(self.FLOW_QUEUES):
            self.sql("fc_limits", "SELECT mcp_jobs.set_queue(%s, p_max_concurrency => %s, p_rate_limit => %s, "
                                  "p_rate_period => %s::interval)", (f"q{i}", max_conc, rate, period))
        res = self.measure("drain", clients, [("fc_none", "one"), ("fc_limits", "one")])
        none, lim = res[("fc_none", "one")], res[("fc_limits", "one")]
        self.data["flow_control"] = {
            "clients": clients, "queues": self.FLOW_QUEUES, "synchronous_commit": "off",
            "limits": {"max_concurrency": max_conc, "rate_limit": rate, "rate_period": period},
            "entries": {"no queue settings": none, "10 queues with limits": lim},
        }
        B.log(f"  flow control: no settings {none['jobs_per_s']:.0f} jobs/s, 10 queues with limits "
              f"{lim['jobs_per_s']:.0f} jobs/s ({lim['jobs_per_s'] / max(none['jobs_per_s'], 1):.2f}x)")

    # ------------------------------------------------------------------ claim latency
    def load_queue(self, db: str, free: int, finished: int, held: int) -> None:
        """Database `db` with the extension and `free` claimable jobs of source 'free' (after
        `finished` completed ones); `held` more are held back: half in source 'paused' (paused),
        half in source 'limited' (max_concurrency 1, with one of its jobs processing)."""
        self.sql("postgres", f'DROP DATABASE IF EXISTS "{db}"', fetch=False)
        self.sql("postgres", f'CREATE DATABASE "{db}"', fetch=False)
        self.sql(db, "CREATE EXTENSION mcp_jobs; CREATE EXTENSION pg_stat_statements", fetch=False)
        ins = """INSERT INTO mcp_jobs.jobs (source, job_type, payload, priority)
                 SELECT %s, 'noop', '{"n": 1}', 5 FROM generate_series(1, %s)"""
        if finished:
            self.sql(db, """
                INSERT INTO mcp_jobs.jobs (source, job_type, payload, status, attempts, current_run_id,
                                           started_at, finished_at, result, created_at, run_at)
                SELECT 'free', 'noop', '{"n": 1}', 'completed', 1, mcp_jobs.uuidv7(),
                       now() - interval '1 day', now() - interval '1 day', '{}', now() - interval '1 day',
                       now() - interval '1 day'
                  FROM generate_series(1, %s)""", (finished,), fetch=False)
        if held:
            self.sql(db, "SELECT mcp_jobs.set_queue('limited', p_max_concurrency => 1)", fetch=False)
            self.sql(db, "SELECT mcp_jobs.enqueue_job('limited', 'noop', '{}')", fetch=False)
            self.sql(db, "SELECT * FROM mcp_jobs.claim_next_job('holder', p_sources => ARRAY['limited'], "
                         "p_lease_seconds => 86400)", fetch=False)
            self.sql(db, ins, ("limited", held // 2), fetch=False)
            self.sql(db, ins, ("paused", held - held // 2), fetch=False)
            self.sql(db, "SELECT mcp_jobs.pause_queue('paused')", fetch=False)
        self.sql(db, ins, ("free", free), fetch=False)
        self.sql(db, "VACUUM ANALYZE", fetch=False)

    def latency(self) -> None:
        """Claim latency, one client: a claim (claim_next_job, its own transaction), then the job
        completed and one new claimable job enqueued (one transaction), so the queue keeps its size
        and shape. Each queue in its own database, interleaved rounds."""
        self.set_sync("off")
        # (name, claimable, finished, held back)
        scenarios = ([("100 queued", 100, 0, 0), ("100 queued + 1k finished", 100, 1000, 0),
                      ("100 queued, 90% held back", 10, 0, 90)] if self.smoke else
                     [("1k queued", 1000, 0, 0), ("100k queued", 100_000, 0, 0), ("1M queued", 1_000_000, 0, 0),
                      ("1k queued + 1M finished", 1000, 1_000_000, 0),
                      ("1k queued, 90% held back", 100, 0, 900),
                      ("1M queued, 90% held back", 100_000, 0, 900_000)])
        n = 40 if self.smoke else 2000  # claims per scenario, over all rounds
        rounds = 1 if self.smoke else 4
        script = self.pg.script("latency", (  # type: ignore[union-attr]
            "\\if :phase = 0\n"
            + gset_claim("mcp_jobs.claim_next_job('w')")
            + "\\set phase 1\n"
            "\\else\n"
            f"SELECT mcp_jobs.complete_job(:jid, :rid), mcp_jobs.enqueue_job('free', 'noop', '{PAYLOAD}');\n"
            "\\set phase 0\n"
            "\\endif\n"))
        dbs = {}
        for i, (name, free, finished, held) in enumerate(scenarios):
            t0 = time.monotonic()
            dbs[name] = f"lat{i}"
            self.load_queue(dbs[name], free, finished, held)
            self.sql(dbs[name], "SELECT pg_stat_statements_reset()", fetch=False)
            B.log(f"  loaded {name} in {time.monotonic() - t0:.0f}s")
        lat: dict[str, list[float]] = {s[0]: [] for s in scenarios}
        for r in range(rounds):
            k = r % len(scenarios)
            for name, *_ in scenarios[k:] + scenarios[:k]:
                prefix = os.path.join(self.tmp, f"lat{list(dbs).index(name)}_{r}")
                self.pg.run(dbs[name], script, 1, transactions=2 * n // rounds,  # type: ignore[union-attr]
                            defines={"phase": "0"}, log_prefix=prefix)
                paths = self.pg.logs(prefix)  # type: ignore[union-attr]
                # pgbench numbers a client's transactions from 1: the claims are the odd ones
                claims = [x[4] for x in sorted(B.pgbench_log_lines(paths), key=lambda x: x[1]) if x[1] % 2 == 1]
                lat[name] += claims[10:]  # the first claims of a session plan its statements
                for path in paths:
                    os.remove(path)
        out = []
        for name, free, finished, held in scenarios:
            if held:  # the held-back jobs stayed held: only the holder of 'limited' ever left the queue
                moved = self.one(dbs[name], "SELECT count(*) FROM mcp_jobs.jobs WHERE source IN ('paused', 'limited') "
                                            "AND status <> 'queued'")
                if moved != 1:
                    raise RuntimeError(f"{name}: {moved} held-back jobs were claimed (expected only the holder)")
            xs = lat[name]
            server = self.one(dbs[name], """
                SELECT coalesce(sum(total_exec_time) / nullif(sum(calls), 0), 0) FROM pg_stat_statements
                 WHERE query LIKE '%%claim_next_job%%' AND toplevel
                   AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())""")
            e = {"queue": name, "claimable": free, "finished": finished, "held_back": held,
                 "p50_ms": round(statistics.median(xs), 4), "p99_ms": round(B.percentile(xs, 0.99) or 0, 4),
                 "claims": len(xs), "server_mean_ms": round(float(server), 4)}
            out.append(e)
            B.log(f"  claim latency {name:28s}: p50 {e['p50_ms']:6.3f} ms  p99 {e['p99_ms']:6.3f} ms  "
                  f"server mean {e['server_mean_ms']:6.3f} ms  (n={len(xs)})")
        self.data["latency"] = out
        for db in dbs.values():
            self.sql("postgres", f'DROP DATABASE "{db}"', fetch=False)

    # ------------------------------------------------------------------ memory and statements
    def memory(self) -> None:
        """Per-backend memory over many calls: one connection makes `calls` claim_next_job calls on an
        empty queue (1000 per statement) and then enqueue_job calls; RssAnon read before and after."""
        calls = 20_000 if self.smoke else 1_000_000
        enq = 2_000 if self.smoke else 100_000
        self.reset("mcp_jobs")
        claim = ("SELECT count(*) FROM generate_series(1, 1000) g, "
                 "LATERAL mcp_jobs.claim_next_job(CASE WHEN g > 0 THEN 'w' END) c")
        with self.cluster.connect("mcp") as conn:  # type: ignore[union-attr]
            pid = conn.execute("SELECT pg_backend_pid()").fetchall()[0][0]
            conn.execute(claim)
            conn.execute("SELECT count(mcp_jobs.enqueue_job('bench', 'noop', '{}')) FROM generate_series(1, 10)")
            conn.execute("TRUNCATE mcp_jobs.jobs, mcp_jobs.job_runs, mcp_jobs.job_events")
            rss0 = B.proc_status_kb(pid, "RssAnon")
            for _ in range(calls // 1000):
                conn.execute(claim)
            rss1 = B.proc_status_kb(pid, "RssAnon")
            for _ in range(enq // 1000):
                conn.execute("SELECT count(mcp_jobs.enqueue_job('bench', 'noop', '{\"n\": 1}')) "
                             "FROM generate_series(1, 1000)")
            rss2 = B.proc_status_kb(pid, "RssAnon")
        self.data["memory"] = {"claim_calls": calls, "enqueue_calls": enq, "rss_before_kb": rss0,
                               "rss_after_claims_kb": rss1, "rss_after_enqueues_kb": rss2}
        B.log(f"  memory: RssAnon {rss0} kB -> {rss1} kB after {calls} claim_next_job calls -> {rss2} kB after "
              f"{enq} enqueue_job calls")

    def statements(self) -> str:
        rows = self.sql("mcp", """
            SELECT calls, round(total_exec_time::numeric, 1), round(mean_exec_time::numeric, 4),
                   shared_blks_hit + shared_blks_read, wal_bytes, left(regexp_replace(query, '\\s+', ' ', 'g'), 90)
              FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'mcp')
             ORDER BY total_exec_time DESC LIMIT 12""") or []
        return "\n".join(["calls | total ms | mean ms | blocks | wal bytes | query"]
                         + [" | ".join(str(x) for x in r) for r in rows])

    def chart(self, path: str) -> None:
        try:
            import matplotlib
        except ImportError:
            B.log("matplotlib is not installed: no chart (bench/run.sh installs it)")
            return
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110, sharey=True)
        for ax, sync in zip(axes, SYNC_MODES):
            life = self.data["lifecycle"].get(sync, {})
            cs = sorted(life, key=int)
            for i, s in enumerate(["mcp_jobs", *REFERENCES, *PEERS]):
                pts = [(int(c), life[c][s]["jobs_per_s"]) for c in cs if s in life[c]]
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=f"C{i}",
                            label=SYSTEM_LABEL.get(s, s))
            ax.set_xscale("log", base=2)
            ax.set_xticks([int(c) for c in cs])
            ax.set_xticklabels(cs)
            ax.set_xlabel("clients")
            ax.set_title(f"synchronous_commit = {sync}")
            ax.grid(True, alpha=0.3)
        axes[0].set_ylabel("jobs/s (enqueue + claim + complete)")
        axes[-1].legend(fontsize=8)
        fig.suptitle("Lifecycle throughput vs clients (one cluster, one run)")
        fig.tight_layout()
        fig.savefig(path)

    def close(self) -> None:
        if self.cluster:
            self.cluster.destroy()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(
        description="Benchmark mcp_jobs against a plain PL/pgSQL implementation of the same functions, pgmq, "
                    "a bare-write ceiling, pg-boss and graphile-worker. A full run writes bench/results/run-NNN.json "
                    "and renders BENCHMARKS.md (bench/report.py).")
    ap.add_argument("--smoke", action="store_true", help="tiny run (seconds) that only checks the harness works")
    ap.add_argument("--seconds", type=float, help="seconds per entry and measurement over all rounds (default 24)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per measurement (default 3)")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4, 8], help="lifecycle client counts")
    ap.add_argument("--no-peers", action="store_true", help="leave out pg-boss and graphile-worker")
    ap.add_argument("--out", default=os.path.join(HERE, "out"), help="directory for raw outputs")
    ap.add_argument("--no-write", action="store_true",
                    help="write nothing to bench/results, BENCHMARKS.md or bench/throughput.png")
    ap.add_argument("--render", action="store_true",
                    help="measure nothing: rewrite BENCHMARKS.md from bench/results")
    args = ap.parse_args()
    if args.render:
        report.write_md()
        return
    b = Bench(args)
    started = time.time()
    try:
        b.setup()
        mach = B.machine()
        vers = B.node_versions()
        B.log(f"PostgreSQL: {b.version}")
        B.log("settings: " + ", ".join(f"{k}={v}" for k, v in b.settings))
        B.log(f"machine: {mach['cpu']}, nproc={mach['nproc']}, load {' '.join(mach['loadavg_at_start'])}; "
              f"node {mach['node']}; pg-boss {vers['pg-boss']}, graphile-worker {vers['graphile-worker']}")
        B.log("throughput:")
        b.throughput()
        B.log("flow control:")
        b.flow_control()
        B.log("claim latency:")
        b.latency()
        B.log("memory:")
        b.memory()
        mach.update({"pg_boss": vers["pg-boss"], "graphile_worker": vers["graphile-worker"], "postgresql": b.version,
                     "pgmq": B.PGMQ_VERSION, "elapsed_s": round(time.time() - started)})
        assert b.cluster
        doc: dict[str, Any] = {
            "schema_version": 2, "run": B.next_number("run"), "kind": "full", "started_utc": B.now_utc(started),
            "mcp_jobs_version": B.extension_version(b.cluster, "mcp"), "code": B.code_description(),
            "command": B.command_line("bench/run.py"), "source": "bench/run.py", "complete": not b.smoke,
            "smoke": b.smoke, "notes": [],
            "method": {"rounds": b.rounds, "round_seconds": round(max(1.0, b.T / b.rounds), 2),
                       "seconds_per_entry": b.T, "enqueue_drain_share": 0.5, "sync_modes": list(SYNC_MODES),
                       "pg_stat_statements_track": SETTINGS["pg_stat_statements.track"],
                       "drain_batch": BATCH, "enqueue_batch": ENQUEUE_BATCH,
                       "peers": "none" if args.no_peers else "synchronous_commit = on only"},
            **b.data,
            "lifecycle_rss": b.lifecycle_rss,
            "machine": mach,
            "settings": [list(s) for s in b.settings],
            "statements": b.statements(),
        }
        text = report.render_run(doc)
        print("\n" + text + "\n", flush=True)
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "report.md"), "w") as f:
            f.write(text + "\n")
        with open(os.path.join(args.out, "result.json"), "w") as f:
            json.dump(doc, f, indent=1)
        if not b.smoke and not args.no_write:
            B.log(f"wrote {os.path.relpath(B.write_result('run', doc), ROOT)}")
            b.chart(os.path.join(HERE, "throughput.png"))
            report.write_md()
        B.log(f"done in {time.time() - started:.0f}s; reproduce with: {doc['command']}")
    finally:
        b.close()


if __name__ == "__main__":
    main()
