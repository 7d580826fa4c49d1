#!/usr/bin/env python3
"""mcp_jobs benchmark: one throwaway PostgreSQL 15 cluster, one run, side by side with pg-boss,
graphile-worker (both through their Node APIs, bench/peers.js) and a bare-write ceiling (pgbench on a
minimal table without the extension).

    PG_CONFIG=/path/to/pg_config python3 bench/run.py            # full run (about 10-15 minutes)
    PG_CONFIG=/path/to/pg_config python3 bench/run.py --smoke    # seconds; checks the harness works

mcp_jobs must already be installed into $PG_CONFIG's PostgreSQL (bench/run.sh does the release
install first). Prints a table of absolute figures and ratios; the full run also writes its figures to
bench/results/run-NNN.json, bench/throughput.png and BENCHMARKS.md (unless --no-write); --render
rewrites BENCHMARKS.md from bench/results without measuring.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
from pgharness import Cluster  # noqa: E402

# Fixed settings, printed in the output and in BENCHMARKS.md.
SETTINGS = {
    "shared_buffers": "'512MB'",
    "synchronous_commit": "on",
    "fsync": "on",
    "full_page_writes": "on",
    "wal_level": "replica",
    "max_wal_size": "'8GB'",
    "checkpoint_timeout": "'30min'",
    "autovacuum": "off",  # dead tuples / growth per job are read right after each run
    "jit": "off",
    "max_connections": "100",
    "shared_preload_libraries": "'pg_stat_statements'",
    # PostgreSQL's default. `all` also instruments every statement run inside a function, which only
    # mcp_jobs does (its SPI statements): at 8 clients that cost it 9-14 % of its server CPU per job
    # and nothing to the others (bench/ANALYSIS.md, "0.6.0"). bench/quick.py switches to `all` for
    # its own profile of the nested statements.
    "pg_stat_statements.track": "top",
}

ZERO_UUID = "00000000-0000-0000-0000-000000000000"

SCRIPTS = {
    "mcp_enqueue": "SELECT mcp_jobs.enqueue_job('bench', 'noop', '{\"n\": 1}');\n",
    "ceiling_enqueue": "INSERT INTO ceiling_jobs (payload) VALUES ('{\"n\": 1}');\n",
    # enqueue, claim, complete: three transactions per job, like a producer and a worker
    "mcp_lifecycle": (
        "SELECT mcp_jobs.enqueue_job('bench', 'noop', '{\"n\": 1}');\n"
        f"SELECT coalesce((array_agg(c.id))[1], '{ZERO_UUID}') AS jid, "
        f"coalesce((array_agg(c.run_id))[1], '{ZERO_UUID}') AS rid "
        "FROM mcp_jobs.claim_next_job('w') c \\gset\n"
        f"SELECT mcp_jobs.complete_job(:jid, :rid) WHERE :jid <> '{ZERO_UUID}';\n"
    ),
    "ceiling_lifecycle": (
        "INSERT INTO ceiling_jobs (payload) VALUES ('{\"n\": 1}') RETURNING id \\gset\n"
        "UPDATE ceiling_jobs SET status = 'processing', started_at = now() WHERE id = :id;\n"
        "UPDATE ceiling_jobs SET status = 'completed', finished_at = now() WHERE id = :id;\n"
    ),
    # claim and complete jobs already queued: two transactions per job
    "mcp_drain": (
        f"SELECT coalesce((array_agg(c.id))[1], '{ZERO_UUID}') AS jid, "
        f"coalesce((array_agg(c.run_id))[1], '{ZERO_UUID}') AS rid "
        "FROM mcp_jobs.claim_next_job('w') c \\gset\n"
        f"SELECT mcp_jobs.complete_job(:jid, :rid) WHERE :jid <> '{ZERO_UUID}';\n"
    ),
    # batched: claim up to 50 due jobs in one statement, complete them in one statement (two
    # transactions per 50 jobs); pgbench passes the \gset arrays back as text parameters
    "mcp_drain_batched": (
        "SELECT coalesce(array_agg(c.id), '{}') AS jids, coalesce(array_agg(c.run_id), '{}') AS rids "
        "FROM mcp_jobs.claim_jobs('w', p_limit => 50) c \\gset\n"
        "SELECT count(*) FILTER (WHERE completed) FROM mcp_jobs.complete_jobs(:jids::uuid[], :rids::uuid[]);\n"
    ),
    # one job per call with complete_and_claim_next: the call that completes a job claims the next
    # (one transaction per job); the first claim of each client is claim_next_job. pgbench keeps
    # each client's variables from one transaction to the next (jid, rid, have start as -D values).
    "mcp_drain_loop": (
        "\\if :have\n"
        f"SELECT coalesce((array_agg(c.id))[1], '{ZERO_UUID}') AS jid, "
        f"coalesce((array_agg(c.run_id))[1], '{ZERO_UUID}') AS rid, count(*) AS have "
        "FROM mcp_jobs.complete_and_claim_next(:jid, :rid, p_worker_id => 'w') c \\gset\n"
        "\\else\n"
        f"SELECT coalesce((array_agg(c.id))[1], '{ZERO_UUID}') AS jid, "
        f"coalesce((array_agg(c.run_id))[1], '{ZERO_UUID}') AS rid, count(*) AS have "
        "FROM mcp_jobs.claim_next_job('w') c \\gset\n"
        "\\endif\n"
    ),
    "ceiling_drain": (
        "WITH c AS (UPDATE ceiling_jobs SET status = 'processing', started_at = now() "
        "WHERE id = (SELECT id FROM ceiling_jobs WHERE status = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) "
        "RETURNING id) SELECT coalesce(max(id), 0) AS id FROM c \\gset\n"
        "UPDATE ceiling_jobs SET status = 'completed', finished_at = now() WHERE id = :id;\n"
    ),
    "mcp_claim": "SELECT * FROM mcp_jobs.claim_next_job('w');\n",
}
# pgbench -D values a script starts from
SCRIPT_DEFINES = {"mcp_drain_loop": {"jid": ZERO_UUID, "rid": ZERO_UUID, "have": "0"}}
# How a drain entry takes its jobs (the second element of an entry): False one job per call (claim,
# then complete: two transactions per job), True batched (claim and complete up to 50 per call),
# "loop" (mcp_jobs only) complete_and_claim_next, one transaction per job. {mode: (script suffix, label)}
DRAIN_MODES = {False: ("", ""), "loop": ("_loop", " (complete+claim)"), True: ("_batched", " (batched)")}


# ------------------------------------------------------------------ "same rows" reference
# mcp_jobs' own statements (src/queries), issued directly by pgbench on plain copies of its three
# tables in schema `rows` of the mcp_jobs database: the same columns, defaults, indexes and
# generated column, no row checks, no history triggers, no function layer. mcp_jobs / "same rows"
# is the cost of the function layer and the row checks; "same rows" / ceiling the cost of the
# history (runs, events) and indexes the API keeps. bench/quick.py --rows measures it.
ROWS_DDL = """
CREATE SCHEMA rows;
CREATE TABLE rows.jobs (LIKE mcp_jobs.jobs INCLUDING DEFAULTS INCLUDING INDEXES);
CREATE TABLE rows.job_runs (LIKE mcp_jobs.job_runs INCLUDING DEFAULTS INCLUDING INDEXES INCLUDING GENERATED)
    WITH (fillfactor = 90);
CREATE TABLE rows.job_events (LIKE mcp_jobs.job_events INCLUDING DEFAULTS INCLUDING INDEXES INCLUDING IDENTITY);
"""


def query_text(name):
    """src/queries/<name>.sql without its comment lines, to PREPARE as the library does."""
    with open(os.path.join(ROOT, "src", "queries", name + ".sql")) as f:
        return "\n".join(line for line in f.read().splitlines() if not line.lstrip().startswith("--"))


def rows_statement(name, params, final_select=None, events=True):
    """src/queries/<name>.sql on the `rows` tables, its $n replaced by `params`, comments dropped,
    on one line (a pgbench command); optionally with its final SELECT replaced, or without its
    event insert (the `ev` CTE)."""
    with open(os.path.join(ROOT, "src", "queries", name + ".sql")) as f:
        text = f.read()
    text = "\n".join(re.sub(r"--.*$", "", line) for line in text.splitlines())
    if not events:
        text, n = re.subn(r"\), ev AS \(\n.*?\n\)\n", ")\n", text, flags=re.S)
        assert n == 1, name
    if final_select:
        head, sep, _ = text.rpartition("\nSELECT ")
        assert sep, name
        text = head + "\n" + final_select
    for n in sorted(params, reverse=True):  # $10 before $1
        text = text.replace(f"${n}", params[n])
    for t in ("jobs", "job_runs", "job_events"):
        text = text.replace(f"mcp_jobs.{t} ", f"rows.{t} ").replace(f"mcp_jobs.{t}\n", f"rows.{t}\n")
    assert "mcp_jobs.job" not in text, text
    return " ".join(text.split()) + ";\n"


def rows_lifecycle(events=True):
    """The lifecycle script of the "same rows" reference; without `events`, the same statements
    without their job_events inserts (bench/quick.py --rows-without-events, for the analysis)."""
    enqueue = rows_statement("enqueue_plain", {1: "'bench'", 2: "'noop'", 3: "'{\"n\": 1}'::jsonb", 4: "5",
                                               5: "NULL::timestamptz", 6: "3", 7: "NULL::text"}, events=events)
    claim = rows_statement("claim", {1: "'w'", 2: "NULL::text[]", 3: "NULL::text[]", 4: "300"},
                           final_select=f"SELECT coalesce(max(id::text), '{ZERO_UUID}') AS jid, "
                                        f"coalesce(max(current_run_id::text), '{ZERO_UUID}') AS rid FROM claimed",
                           events=events)
    complete = rows_statement("complete", {1: ":jid::uuid", 2: ":rid::uuid", 3: "NULL::jsonb"}, events=events)
    return enqueue + claim.rstrip(";\n") + " \\gset\n" + complete


SCRIPTS["rows_lifecycle"] = rows_lifecycle()
SCRIPTS["rowsne_lifecycle"] = rows_lifecycle(events=False)  # bench/quick.py --rows-without-events

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

# database, schema holding the system's tables, how to empty them between runs
SYSTEMS = {
    "mcp_jobs": ("mcp", "mcp_jobs", "TRUNCATE mcp_jobs.jobs, mcp_jobs.job_runs, mcp_jobs.job_events, mcp_jobs.dead_letter_queue"),
    "ceiling": ("ceiling", "public", "TRUNCATE ceiling_jobs"),
    "same rows": ("mcp", "rows", "TRUNCATE rows.jobs, rows.job_runs, rows.job_events"),
    "pg-boss": ("pgboss", "pgboss", "TRUNCATE pgboss.job, pgboss.archive"),
    "graphile-worker": ("graphile", "graphile_worker", "TRUNCATE graphile_worker._private_jobs CASCADE"),
}
# systems driven by pgbench: script name prefix (scripts are <prefix>_<kind>[_batched])
PGBENCH_PREFIX = {"mcp_jobs": "mcp", "ceiling": "ceiling", "same rows": "rows"}
PEER_NAME = {"pg-boss": "pgboss", "graphile-worker": "graphile"}


def log(msg):
    print(msg, flush=True)


class Bench:
    def __init__(self, args):
        self.args = args
        self.smoke = args.smoke
        self.T = args.seconds or (1 if self.smoke else 12)
        self.rounds = args.rounds
        self.tmp = tempfile.mkdtemp(prefix="mcp_bench_")
        os.chmod(self.tmp, 0o777)
        self.cluster = None
        self.drained_dry = set()
        self.drain_n = self.drain_n_batched = 0
        self.results = {"enqueue": {}, "lifecycle": {}, "drain": {}, "latency": {}, "footprint": {}, "rss": None}

    # ------------------------------------------------------------------ plumbing
    def sql(self, db, q, params=None, fetch=True):
        with self.cluster.connect(db) as conn:
            cur = conn.execute(q, params)
            if fetch and cur.description:
                return cur.fetchall()
        return None

    def script(self, name):
        path = os.path.join(self.tmp, name + ".sql")
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write(SCRIPTS[name])
        return path

    def pgbench(self, db, name, clients, seconds=None, transactions=None, log_prefix=None, wait=True, options=None):
        cmd = [os.path.join(self.cluster.bindir, "pgbench"), "-n", "-M", "prepared", "-f", self.script(name),
               "-c", str(clients), "-j", str(clients), "-h", "127.0.0.1", "-p", str(self.cluster.port),
               "-U", "postgres"]
        cmd += ["-T", str(seconds)] if seconds else ["-t", str(transactions)]
        for k, v in SCRIPT_DEFINES.get(name, {}).items():
            cmd += ["-D", f"{k}={v}"]
        if log_prefix:
            cmd += ["-l", "--log-prefix", log_prefix]
        cmd.append(db)
        env = dict(os.environ, PGOPTIONS=options) if options else None
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.tmp, env=env)
        if not wait:
            return p
        return self.pgbench_wait(p)

    @staticmethod
    def pgbench_wait(p):
        out, err = p.communicate()
        if p.returncode != 0 or "aborted" in out:
            raise RuntimeError(f"pgbench failed ({p.returncode}):\n{out}\n{err}")
        m = re.search(r"number of transactions actually processed: (\d+)", out)
        return int(m.group(1))

    def node(self, system, mode, *args):
        p = subprocess.run(["node", os.path.join(HERE, "peers.js"), PEER_NAME[system], mode,
                            self.cluster.url(SYSTEMS[system][0]), *map(str, args)],
                           capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            raise RuntimeError(f"peers.js {system} {mode} failed:\n{p.stdout}\n{p.stderr}")
        return json.loads(p.stdout.strip().splitlines()[-1])

    def footprint(self, system):
        db, schema, _ = SYSTEMS[system]
        time.sleep(0.6)  # exited backends have flushed their table statistics by now
        row = self.sql(db, """
            SELECT pg_current_wal_lsn(),
                   coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint,
                   coalesce(sum(s.n_dead_tup), 0)::bigint
              FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
             WHERE c.relnamespace = %s::regnamespace AND c.relkind = 'r'""", (schema,))[0]
        return row

    def reset(self, system):
        db, _, truncate = SYSTEMS[system]
        self.sql(db, truncate, fetch=False)
        self.sql(db, "SELECT pg_stat_reset()", fetch=False)

    def completed(self, system):
        if system == "mcp_jobs":
            return self.sql("mcp", "SELECT count(*) FROM mcp_jobs.jobs WHERE status = 'completed'")[0][0]
        if SYSTEMS[system][1] == "rows":
            return self.sql("mcp", "SELECT count(*) FROM rows.jobs WHERE status = 'completed'")[0][0]
        return self.sql("ceiling", "SELECT count(*) FROM ceiling_jobs WHERE status = 'completed'")[0][0]

    def rss_of(self, pid):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    # ------------------------------------------------------------------ setup
    def setup(self):
        self.cluster = Cluster(conf=SETTINGS, name="mcp_bench").start()
        log(f"cluster: {self.cluster.data} port {self.cluster.port}")
        for db in ("mcp", "ceiling", "pgboss", "graphile"):
            self.sql("postgres", f"CREATE DATABASE {db}", fetch=False)
        self.sql("mcp", "CREATE EXTENSION mcp_jobs; CREATE EXTENSION pg_stat_statements", fetch=False)
        self.sql("ceiling", CEILING_DDL, fetch=False)
        self.sql("mcp", ROWS_DDL, fetch=False)
        self.node("pg-boss", "setup")
        self.node("graphile-worker", "setup")
        self.settings = self.sql("postgres", """
            SELECT name, setting || coalesce(' ' || unit, '') FROM pg_settings
             WHERE name = ANY(%s) ORDER BY name""", ([k for k in SETTINGS],))
        self.version = self.sql("postgres", "SELECT version()")[0][0]

    # ------------------------------------------------------------------ measurements
    def cluster_cpu_ms(self):
        """utime + stime of the postmaster and all its children (backends, walwriter, ...), live ones
        and those that exited (the postmaster's cutime + cstime), in ms."""
        root = self.cluster.postmaster_pid()
        ticks = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    st = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(pid) == root:
                ticks += sum(int(x) for x in st[11:15])  # utime, stime, cutime, cstime
            elif int(st[1]) == root:  # st[1]: ppid
                ticks += int(st[11]) + int(st[12])
        return ticks * 1000.0 / os.sysconf("SC_CLK_TCK")

    def run_one(self, kind, system, clients, seconds, mode=False):
        """One time-bounded run from empty tables: (jobs, seconds, WAL bytes, size growth, dead tuples,
        server CPU ms)."""
        self.reset(system)
        fill_n = 0
        if kind == "drain":
            fill_n = self.drain_n_batched if mode is True else self.drain_n
            self.fill(system, fill_n)
        lsn0, size0, dead0 = self.footprint(system)
        cpu0 = self.cluster_cpu_ms()
        if system in PGBENCH_PREFIX:
            db = SYSTEMS[system][0]
            prefix = PGBENCH_PREFIX[system]
            script = f"{prefix}_{kind}" + DRAIN_MODES[mode][0]
            # the rows statements run as mcp_jobs' hot functions do (SET enable_seqscan = off, sql/finalize.sql)
            opts = "-c enable_seqscan=off" if SYSTEMS[system][1] == "rows" else None
            p = self.pgbench(db, script, clients, seconds=seconds, wait=False, options=opts)
            rss = self.sample_rss(p, seconds) if (system == "mcp_jobs" and kind == "lifecycle" and clients == 1) else None
            n = self.pgbench_wait(p)
            if kind != "enqueue":
                n = self.completed(system)  # tables were emptied (drain: filled with queued jobs only)
            secs = float(seconds)
            if rss:
                rss["calls"] = 3 * n  # enqueue_job + claim_next_job + complete_job per job
                prev = self.results["rss"]
                if prev is None or prev["calls"] < rss["calls"]:
                    self.results["rss"] = rss
        else:
            args = [clients, seconds] + ([1 if mode is True else 0] if kind == "drain" else [])
            r = self.node(system, kind, *args)
            n, secs = r["jobs"], r["seconds"]
        if kind == "drain" and n >= fill_n:
            # the queue ran dry before the time was up: the rate is only a lower bound
            self.drained_dry.add((system, mode))
            log(f"  warning: {system}{DRAIN_MODES[mode][1]} drained all {fill_n} jobs before the end")
        cpu = self.cluster_cpu_ms() - cpu0
        lsn1, size1, dead1 = self.footprint(system)
        wal = self.sql("postgres", "SELECT pg_wal_lsn_diff(%s, %s)::bigint", (lsn1, lsn0))[0][0]
        return n, secs, wal, size1 - size0, dead1 - dead0, cpu

    def measure(self, kind, clients, entries, rotate=0):
        """Interleaved rounds: each entry (system, mode: a key of DRAIN_MODES) runs `rounds` times for
        seconds/rounds, the order rotating every round, so that machine noise spreads over all systems
        alike."""
        rounds = 1 if self.smoke else self.rounds
        per = max(1, round(self.T / rounds))
        acc = {e: [0, 0.0, 0, 0, 0, 0.0] for e in entries}
        per_round = {e: [] for e in entries}
        for r in range(rounds):
            k = (r + rotate) % len(entries)
            for e in entries[k:] + entries[:k]:
                res = self.run_one(kind, e[0], clients, per, mode=e[1])
                acc[e] = [a + b for a, b in zip(acc[e], res)]
                per_round[e].append(res[0] / res[1])
        out = {}
        for e, (n, secs, wal, size, dead, cpu) in acc.items():
            d = max(n, 1)
            out[e] = (n / secs, {"jobs": n, "wal": wal / d, "size": size / d, "dead": dead / d,
                                 "cpu_ms": cpu / d, "rounds": per_round[e]})
        return out

    def sample_rss(self, p, seconds):
        """RssAnon of the pgbench backend of a 1-client mcp_jobs lifecycle run, early and late."""
        first = pid = None
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline - 0.3 and p.poll() is None:
            if pid is None:
                rows = self.sql("mcp", "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' AND datname = 'mcp'")
                if rows:
                    pid = rows[0][0]
                    time.sleep(min(1.0, seconds / 4))
                    first = self.rss_of(pid)
                    continue
            time.sleep(0.05)
        if pid is None or first is None:
            return None
        return {"rss_early_kb": first, "rss_late_kb": self.rss_of(pid)}

    def fill(self, system, n):
        if system == "mcp_jobs":
            self.sql("mcp", "SELECT count(mcp_jobs.enqueue_job('bench', 'noop', '{\"n\": 1}')) FROM generate_series(1, %s)", (n,))
        elif system == "ceiling":
            self.sql("ceiling", "INSERT INTO ceiling_jobs (payload) SELECT '{\"n\": 1}' FROM generate_series(1, %s)", (n,), fetch=False)
        else:
            self.node(system, "fill", n)
        db = SYSTEMS[system][0]
        self.sql(db, "VACUUM ANALYZE", fetch=False)

    def throughput(self):
        order = [(s, False) for s in ("mcp_jobs", "ceiling", "pg-boss", "graphile-worker")]
        enq_clients = [1] if self.smoke else [1, 4]
        for i, c in enumerate(enq_clients):
            for (s, _), (rate, fp) in self.measure("enqueue", c, order, rotate=i).items():
                self.results["enqueue"][(s, c)] = rate
                log(f"  enqueue   {s:16s} clients={c}: {rate:8.0f} jobs/s")
        life_clients = [1] if self.smoke else [1, 2, 4, 8]
        for i, c in enumerate(life_clients):
            for (s, _), (rate, fp) in self.measure("lifecycle", c, order + [("same rows", False)], rotate=i).items():
                self.results["lifecycle"][(s, c)] = rate
                self.results["footprint"].setdefault(s, {})[c] = fp
                self.results.setdefault("rounds", {})[(s, c)] = fp["rounds"]
                log(f"  lifecycle {s:16s} clients={c}: {rate:8.0f} jobs/s  WAL {fp['wal']:7.0f} B/job  "
                    f"growth {fp['size']:6.0f} B/job  dead {fp['dead']:4.2f}/job  rounds "
                    + "/".join(f"{x:.0f}" for x in fp["rounds"]))
        # drain: jobs already queued, workers claim and complete (batched where the library offers it)
        c = 1 if self.smoke else 4
        # queues deep enough not to run dry within a round (run 3 of BENCHMARKS.md used 30 000 for
        # every entry, and the batched runs of mcp_jobs and graphile-worker emptied it: both read
        # 7 500 = 30 000 jobs / 4 s, a bound, not a rate)
        self.drain_n = 300 if self.smoke else 30000
        self.drain_n_batched = 300 if self.smoke else 150000
        entries = [("mcp_jobs", False), ("mcp_jobs", "loop"), ("mcp_jobs", True), ("ceiling", False),
                   ("pg-boss", False), ("pg-boss", True), ("graphile-worker", False), ("graphile-worker", True)]
        for (s, mode), (rate, _) in self.measure("drain", c, entries).items():
            name = s + DRAIN_MODES[mode][1]
            self.results["drain"][(name, c)] = rate
            if (s, mode) in self.drained_dry:
                self.results.setdefault("drain_dry", []).append(name)
            log(f"  drain     {name:26s} clients={c}: {rate:8.0f} jobs/s")

    def load_queue(self, db, queued, finished):
        """A database `db` with the extension and `queued` due jobs, after `finished` completed ones."""
        self.sql("postgres", f'DROP DATABASE IF EXISTS "{db}"', fetch=False)
        self.sql("postgres", f'CREATE DATABASE "{db}"', fetch=False)
        self.sql(db, "CREATE EXTENSION mcp_jobs; CREATE EXTENSION pg_stat_statements", fetch=False)
        if finished:
            self.sql(db, """
                INSERT INTO mcp_jobs.jobs (source, job_type, payload, status, attempts, current_run_id,
                                           started_at, finished_at, result, created_at, run_at)
                SELECT 'bench', 'noop', '{"n": 1}', 'completed', 1, mcp_jobs.uuidv7(),
                       now() - interval '1 day', now() - interval '1 day', '{}', now() - interval '1 day',
                       now() - interval '1 day'
                  FROM generate_series(1, %s)""", (finished,), fetch=False)
        self.sql(db, """
            INSERT INTO mcp_jobs.jobs (source, job_type, payload, priority)
            SELECT 'bench', 'noop', '{"n": 1}', 5 FROM generate_series(1, %s)""", (queued,), fetch=False)
        self.sql(db, "VACUUM ANALYZE", fetch=False)

    def latency(self):
        scenarios = ([("100 queued", 100, 0), ("100 queued + 1k finished", 100, 1000)] if self.smoke else
                     [("1k queued", 1000, 0), ("100k queued", 100_000, 0), ("1M queued", 1_000_000, 0),
                      ("1k queued + 1M finished", 1000, 1_000_000)])
        # at most the smallest queue in all: a claim on an empty queue writes nothing and is cheaper
        # (run 7 took 3000 claims from 1k queued and its 1k figures were those of an empty queue)
        n = 60 if self.smoke else 1000
        rounds = 1 if self.smoke else 4
        # each scenario in its own database, loaded first; then rounds of n / rounds claims per
        # scenario, the order rotating, so that the machine's drift over the minutes this takes
        # spreads over all scenarios alike (runs 1-13 measured them one after the other)
        dbs = {}
        for i, (name, queued, finished) in enumerate(scenarios):
            t0 = time.monotonic()
            dbs[name] = f"lat{i}"
            self.load_queue(dbs[name], queued, finished)
            log(f"  loaded {name} in {time.monotonic() - t0:.0f}s")
            if queued >= 1_000_000 or (self.smoke and not finished):
                self.explain(name, dbs[name])
            self.sql(dbs[name], "SELECT pg_stat_statements_reset()", fetch=False)
        lat = {name: [] for name, _, _ in scenarios}
        for r in range(rounds):
            k = r % len(scenarios)
            for name, _, _ in scenarios[k:] + scenarios[:k]:
                prefix = os.path.join(self.tmp, "lat_" + re.sub(r"\W+", "_", name) + f"_{r}")
                # synchronous_commit=off for this session only: the latency is the claim's own cost,
                # not the WAL flush of its commit (the same for any write and very noisy here)
                self.pgbench(dbs[name], "mcp_claim", 1, transactions=n // rounds, log_prefix=prefix,
                             options="-c synchronous_commit=off")
                for f in os.listdir(self.tmp):
                    path = os.path.join(self.tmp, f)
                    if path.startswith(prefix + "."):
                        with open(path) as fh:
                            # the first 10 claims of a session plan the statements; leave them out
                            lat[name] += [int(line.split()[2]) / 1000.0 for line in fh if line.strip()][10:]
                        os.remove(path)
        for name, _, _ in scenarios:
            xs = sorted(lat[name])
            p50 = statistics.median(xs)
            p99 = xs[min(len(xs) - 1, int(len(xs) * 0.99))]
            # the server's own time per call, as pg_stat_statements counts it (no client, no network)
            server = self.sql(dbs[name], """
                SELECT coalesce(sum(total_exec_time) / nullif(sum(calls), 0), 0) FROM pg_stat_statements
                 WHERE query LIKE '%%claim_next_job%%' AND toplevel
                   AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())""")[0][0]
            self.results["latency"][name] = (p50, p99, len(xs), float(server))
            log(f"  claim latency {name:26s}: p50 {p50:6.3f} ms  p99 {p99:6.3f} ms  server mean {server:6.3f} ms  "
                f"(n={len(xs)})")
        for db in dbs.values():
            self.sql("postgres", f'DROP DATABASE "{db}"', fetch=False)

    def memory(self):
        """Per-backend memory over many calls: one connection makes `calls` claim_next_job calls on an
        empty queue (1000 per statement) and then enqueue_job calls; RssAnon read before and after."""
        calls = 20_000 if self.smoke else 1_000_000
        enq = 2_000 if self.smoke else 100_000
        self.reset("mcp_jobs")
        with self.cluster.connect("mcp") as conn:
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            conn.execute("SELECT count(*) FROM generate_series(1, 1000) g, LATERAL mcp_jobs.claim_next_job(CASE WHEN g > 0 THEN 'w' END) c")
            conn.execute("SELECT count(mcp_jobs.enqueue_job('bench', 'noop', '{}')) FROM generate_series(1, 10)")
            conn.execute("TRUNCATE mcp_jobs.jobs, mcp_jobs.job_runs, mcp_jobs.job_events")
            rss0 = self.rss_of(pid)
            t0 = time.monotonic()
            for _ in range(calls // 1000):
                conn.execute("SELECT count(*) FROM generate_series(1, 1000) g, LATERAL mcp_jobs.claim_next_job(CASE WHEN g > 0 THEN 'w' END) c")
            rss1 = self.rss_of(pid)
            for _ in range(enq // 1000):
                conn.execute("SELECT count(mcp_jobs.enqueue_job('bench', 'noop', '{\"n\": 1}')) FROM generate_series(1, 1000)")
            rss2 = self.rss_of(pid)
        self.results["memory"] = {"claim_calls": calls, "enqueue_calls": enq, "rss0": rss0, "rss1": rss1,
                                  "rss2": rss2, "seconds": time.monotonic() - t0}
        log(f"  memory: RssAnon {rss0} kB -> {rss1} kB after {calls} claim_next_job calls -> {rss2} kB after "
            f"{enq} enqueue_job calls ({time.monotonic() - t0:.0f}s)")

    def explain(self, name, db):
        claim = query_text("claim")
        out = []
        with self.cluster.connect(db, autocommit=False) as conn:
            conn.execute(f"PREPARE c(text, text[], text[], int) AS {claim}")
            for mode in ("force_custom_plan", "force_generic_plan"):
                conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
                rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE c('w', NULL, NULL, 300)").fetchall()
                out.append(f"-- {mode}\n" + "\n".join(r[0] for r in rows))
            conn.rollback()
        text = f"-- claim.sql, {name}\n" + "\n\n".join(out)
        self.results["explain"] = text
        os.makedirs(self.args.out, exist_ok=True)
        with open(os.path.join(self.args.out, "explain_claim.txt"), "w") as f:
            f.write(text + "\n")

    def statements(self):
        rows = self.sql("mcp", """
            SELECT calls, round(total_exec_time::numeric, 1), round(mean_exec_time::numeric, 4),
                   shared_blks_hit + shared_blks_read, wal_bytes, left(regexp_replace(query, '\\s+', ' ', 'g'), 90)
              FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'mcp')
             ORDER BY total_exec_time DESC LIMIT 12""")
        lines = ["calls | total ms | mean ms | blocks | wal bytes | query"]
        lines += [" | ".join(str(x) for x in r) for r in rows]
        self.results["statements"] = "\n".join(lines)

    # ------------------------------------------------------------------ report
    def data(self):
        """This run's figures in the schema of bench/results/README.md (without the run's metadata,
        which main() adds)."""
        r = self.results
        thr = {kind: {} for kind in ("enqueue", "lifecycle")}
        for kind in thr:
            for (s, c), v in r[kind].items():
                thr[kind].setdefault(str(c), {})[s] = round(v)
        rounds = {}
        for (s, c), xs in r.get("rounds", {}).items():
            rounds.setdefault(str(c), {})[s] = [round(x) for x in xs]
        clients = {c for (_, c) in r["drain"]}
        fp = {s: r["footprint"][s][min(r["footprint"][s])] for s in r["footprint"]}
        m, x = r.get("memory"), r["rss"]
        return {
            "throughput": thr,
            "lifecycle_rounds": rounds,
            "drain": {"clients": min(clients) if clients else None,
                      "jobs_per_s": {s: round(v) for (s, c), v in r["drain"].items()},
                      "ran_dry": list(r.get("drain_dry", []))},
            "latency": [{"queue": name, "p50_ms": round(p50, 3), "p99_ms": round(p99, 3), "claims": n,
                         "server_mean_ms": round(server, 3)}
                        for name, (p50, p99, n, server) in r["latency"].items()],
            "footprint": {s: {"wal_bytes": round(f["wal"]), "growth_bytes": round(f["size"]),
                              "dead_tuples": round(f["dead"], 2), "server_cpu_ms": round(f["cpu_ms"], 3)}
                          for s, f in fp.items()},
            "memory": ({"claim_calls": m["claim_calls"], "enqueue_calls": m["enqueue_calls"],
                        "rss_before_kb": m["rss0"], "rss_after_claims_kb": m["rss1"],
                        "rss_after_enqueues_kb": m["rss2"]} if m else None),
            "lifecycle_rss": ({"early_kb": x["rss_early_kb"], "late_kb": x["rss_late_kb"], "calls": x["calls"]}
                              if x else None),
            "explain": r.get("explain", ""),
            "statements": r.get("statements", ""),
        }

    def report(self):
        return render_report(self.data())

    def chart(self, path):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
        for s in SYSTEMS:
            pts = sorted((c, v) for (x, c), v in self.results["lifecycle"].items() if x == s)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=s)
        ax.set_xscale("log", base=2)
        ax.set_xticks([1, 2, 4, 8])
        ax.set_xticklabels(["1", "2", "4", "8"])
        ax.set_xlabel("clients")
        ax.set_ylabel("jobs/s (enqueue + claim + complete)")
        ax.set_title("Lifecycle throughput vs clients (one cluster, one run)")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path)

    def close(self):
        if self.cluster:
            self.cluster.destroy()
        shutil.rmtree(self.tmp, ignore_errors=True)


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    free = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.rstrip()
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return cpu, nproc, free, node


def versions():
    out = {}
    for pkg in ("pg-boss", "graphile-worker"):
        try:
            with open(os.path.join(HERE, "node_modules", pkg, "package.json")) as f:
                out[pkg] = json.load(f)["version"]
        except OSError:
            out[pkg] = "?"
    return out


def main():
    ap = argparse.ArgumentParser(
        description="Benchmark mcp_jobs against pg-boss, graphile-worker and a bare-write ceiling. A full run "
                    "writes its figures to bench/results/run-NNN.json and renders BENCHMARKS.md from "
                    "bench/BENCHMARKS.tmpl.md and bench/results/ (schema: bench/results/README.md).")
    ap.add_argument("--smoke", action="store_true", help="tiny run (seconds) that only checks the harness works")
    ap.add_argument("--seconds", type=int, help="seconds per throughput measurement (default 12; 1 in smoke)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per measurement (default 3)")
    ap.add_argument("--out", default=os.path.join(HERE, "out"), help="directory for raw outputs")
    ap.add_argument("--no-write", action="store_true",
                    help="write nothing to bench/results, BENCHMARKS.md or bench/throughput.png")
    ap.add_argument("--render", nargs="?", const="", metavar="RESULT_JSON",
                    help="measure nothing: rewrite BENCHMARKS.md from bench/results (its report from "
                         "RESULT_JSON, default the newest full run there)")
    args = ap.parse_args()
    if args.render is not None:
        write_md(load_result(args.render) if args.render else latest_full_run(load_results()), load_results())
        return
    b = Bench(args)
    started = time.time()
    try:
        b.setup()
        cpu, nproc, free, node = machine()
        vers = versions()
        log(f"PostgreSQL: {b.version}")
        log("settings: " + ", ".join(f"{k}={v}" for k, v in b.settings))
        log(f"machine: {cpu}, nproc={nproc}; node {node}; pg-boss {vers['pg-boss']}, graphile-worker {vers['graphile-worker']}")
        log("throughput:")
        b.throughput()
        log("claim latency:")
        b.latency()
        log("memory:")
        b.memory()
        b.statements()
        report = b.report()
        print("\n" + report + "\n", flush=True)
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "report.md"), "w") as f:
            f.write(report + "\n")
        with open(os.path.join(args.out, "pg_stat_statements.txt"), "w") as f:
            f.write(b.results["statements"] + "\n")
        result = run_metadata(args, b, started) | b.data()
        result["machine"] = {"cpu": cpu, "nproc": nproc, "node": node, "pg_boss": vers["pg-boss"],
                             "graphile_worker": vers["graphile-worker"], "postgresql": b.version,
                             "elapsed_s": round(time.time() - started), "free": free}
        result["settings"] = [list(s) for s in b.settings]
        with open(os.path.join(args.out, "result.json"), "w") as f:
            json.dump(result, f, indent=1)
        if not args.smoke and not args.no_write:
            path = os.path.join(RESULTS, f"run-{result['run']:03d}.json")
            with open(path, "w") as f:
                json.dump(result, f, indent=1)
                f.write("\n")
            log(f"wrote {os.path.relpath(path, ROOT)}")
            b.chart(os.path.join(HERE, "throughput.png"))
            write_md(result, load_results())
        log(f"done in {time.time() - started:.0f}s")
    finally:
        b.close()


# ------------------------------------------------------------------ results and the report
# A run's figures are a JSON document in bench/results/ (schema: bench/results/README.md); the report
# tables and BENCHMARKS.md are rendered from those documents only, so that a past run renders as it
# did and a re-render (--render) needs no cluster.
RESULTS = os.path.join(HERE, "results")
PEERS = ("mcp_jobs", "ceiling", "pg-boss", "graphile-worker")
# the lifecycle target of issue 5: mcp_jobs / ceiling at its best client count
CEILING_TARGET = 0.70
# the claim latency target: p50 at 1M queued at most this times p50 at the smallest queue
LATENCY_TARGET = 1.2


def git(*args):
    p = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else None


def load_result(path):
    with open(path) as f:
        return json.load(f)


def load_results():
    """Every run of bench/results, oldest first (full runs before the partial runs made after them)."""
    out = []
    if os.path.isdir(RESULTS):
        for name in sorted(os.listdir(RESULTS)):
            if name.endswith(".json"):
                out.append(load_result(os.path.join(RESULTS, name)))
    return sorted(out, key=lambda r: (r["run"], r.get("kind", "full") != "full", r.get("label", "")))


def latest_full_run(results):
    full = [r for r in results if r.get("kind", "full") == "full" and r.get("complete")]
    if not full:
        raise SystemExit("bench/results holds no complete full run to render")
    return full[-1]


def run_metadata(args, b, started):
    """Who, what and when of a new run: the next run number, the code measured, the command."""
    runs = [r["run"] for r in load_results()]
    version = b.sql("mcp", "SELECT extversion FROM pg_extension WHERE extname = 'mcp_jobs'")[0][0]
    head = git("rev-parse", "--short", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    subject = git("log", "-1", "--format=%s")
    argv = " ".join(sys.argv[1:])
    return {
        "schema_version": 1,
        "run": max(runs, default=0) + 1,
        "started_utc": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(started)),
        "mcp_jobs_version": version,
        "code": (f"commit {head}" + (" with uncommitted changes" if dirty else "") + f" \"{subject}\"") if head else
                "not a git checkout",
        "command": f"PG_CONFIG={os.environ.get('PG_CONFIG', '')} python3 bench/run.py {argv}".rstrip(),
        "source": "bench/run.py",
        "kind": "full",
        "complete": True,
        "notes": [],
        "method": {"rounds": 1 if b.smoke else b.rounds, "round_seconds": max(1, round(b.T / (1 if b.smoke else b.rounds))),
                   "pg_stat_statements_track": SETTINGS["pg_stat_statements.track"],
                   "latency": f"one database per queue, {1 if b.smoke else 4} interleaved rounds"},
    }


def ratio(a, b):
    return a / b if a and b else None


def fmt(x, spec=".2f", none="-"):
    return none if x is None else format(x, spec)


def key_ratios(r):
    """The ratios runs are compared by: from a run's figures where it has them, else as recorded in its
    `ratios` (runs of which only ratios were kept). Missing: None, or absent from a dict."""
    given = r.get("ratios", {})
    life = r.get("throughput", {}).get("lifecycle", {})
    drain = r.get("drain", {}).get("jobs_per_s", {})
    lat = r.get("latency") or []
    cs = sorted(life, key=int)

    def per_clients(a, b):
        return {c: ratio(life[c].get(a), life[c].get(b)) for c in cs if life[c].get(a) and life[c].get(b)}

    out = {
        "lifecycle_over_ceiling": {**given.get("lifecycle_over_ceiling", {}), **per_clients("mcp_jobs", "ceiling")},
        "same_rows_over_ceiling": {**given.get("same_rows_over_ceiling", {}), **per_clients("same rows", "ceiling")},
        "mcp_over_same_rows": {**given.get("mcp_over_same_rows", {}), **per_clients("mcp_jobs", "same rows")},
    }
    for key, peer in (("lifecycle_over_pg_boss", "pg-boss"), ("lifecycle_over_graphile", "graphile-worker")):
        xs = list(per_clients("mcp_jobs", peer).values())
        out[key] = [min(xs), max(xs)] if xs else given.get(key)
    for key, a, b in (("drain_over_graphile", "mcp_jobs", "graphile-worker"),
                      ("drain_loop_over_graphile", "mcp_jobs (complete+claim)", "graphile-worker"),
                      ("drain_batched_over_graphile_batched", "mcp_jobs (batched)", "graphile-worker (batched)")):
        out[key] = ratio(drain.get(a), drain.get(b)) or given.get(key)
    for key, field in (("claim_p50_over_smallest", "p50_ms"), ("claim_server_mean_over_smallest", "server_mean_ms")):
        base = lat[0].get(field) if lat else None
        out[key] = {**given.get(key, {}),
                    **({e["queue"]: ratio(e.get(field), base) for e in lat[1:] if e.get(field)} if base else {})}
    return out


def render_report(d):
    """The report tables of one run (a bench/results document)."""
    L = []
    thr = d["throughput"]
    L.append("### Throughput (jobs/s; higher is better)\n")
    L.append("| measurement | clients | mcp_jobs | ceiling | pg-boss | graphile-worker | mcp/ceiling | mcp/pg-boss | mcp/graphile |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for kind in ("enqueue", "lifecycle"):
        for c in sorted(thr.get(kind, {}), key=int):
            v = thr[kind][c]
            m = v["mcp_jobs"]
            L.append(f"| {kind} | {c} | " + " | ".join(f"{v[s]:.0f}" for s in PEERS) + " | "
                     + " | ".join(fmt(ratio(m, v[s])) for s in PEERS[1:]) + " |")
    rounds = d.get("lifecycle_rounds") or {}
    if rounds:
        systems = [s for s in SYSTEMS if any(s in rounds[c] for c in rounds)]
        L.append("\nLifecycle jobs/s of each interleaved round (the spread shows the machine's noise):\n")
        L.append("| clients | " + " | ".join(systems) + " |")
        L.append("|---:|" + "---|" * len(systems))
        for c in sorted(rounds, key=int):
            L.append(f"| {c} | " + " | ".join("/".join(f"{x:.0f}" for x in rounds[c].get(s, [])) for s in systems) + " |")
    life = thr.get("lifecycle", {})
    if life:
        best = max(v["mcp_jobs"] for v in life.values())
        best_ceiling = max(v["ceiling"] for v in life.values())
        ratios = {c: life[c]["mcp_jobs"] / life[c]["ceiling"] for c in life}
        best_c = max(ratios, key=ratios.get)
        L.append(f"\nBest lifecycle throughput: mcp_jobs {best:.0f} jobs/s, ceiling {best_ceiling:.0f} jobs/s "
                 f"(each at its best client count: ratio {best / best_ceiling:.2f}); best ratio at one client "
                 f"count: {ratios[best_c]:.2f} at {best_c} clients (target >= {CEILING_TARGET:.2f}).\n")
    rows = [c for c in sorted(life, key=int) if life[c].get("same rows")]
    if rows:
        L.append("**Same rows** (a reference, not a peer): mcp_jobs' own statements (src/queries) issued "
                 "directly by pgbench on plain copies of its tables: the same rows, indexes and history, "
                 "without the function layer and the row checks. mcp_jobs / same rows is what the "
                 "extension's code costs; same rows / ceiling is what the history and indexes cost.\n")
        L.append("| clients | same rows jobs/s | mcp_jobs / same rows | same rows / ceiling |")
        L.append("|---:|---:|---:|---:|")
        for c in rows:
            x = life[c]["same rows"]
            L.append(f"| {c} | {x:.0f} | {life[c]['mcp_jobs'] / x:.2f} | {x / life[c]['ceiling']:.2f} |")
        L.append("")
    drain = d["drain"]["jobs_per_s"]
    L.append("### Drain: claim + complete of jobs already queued (jobs/s)\n")
    L.append("mcp_jobs takes jobs three ways: one per call (`claim_next_job`, then `complete_job`: two "
             "transactions per job), **complete+claim** (`complete_and_claim_next` completes a job and "
             "claims the next in one call: one transaction per job) and batched (`claim_jobs` / "
             "`complete_jobs` of up to 50). Each ratio column is one of them against each row.\n")
    labels = [label for _, label in DRAIN_MODES.values() if "mcp_jobs" + label in drain]
    L.append("| system | clients | jobs/s | " + " | ".join(f"mcp_jobs{label} / this" for label in labels) + " |")
    L.append("|---|---:|---:|" + "---:|" * len(labels))
    dry = set(d["drain"].get("ran_dry", []))
    for s, v in drain.items():
        mark = ">= " if s in dry else ""
        L.append(f"| {s} | {d['drain']['clients']} | {mark}{v:.0f} | "
                 + " | ".join(fmt(ratio(drain["mcp_jobs" + label], v)) for label in labels) + " |")
    if dry:
        L.append("\n`>=`: the queue ran dry before the round ended, so the figure is a lower bound.")
    L.append("\n### Claim latency (mcp_jobs.claim_next_job, 1 client, committed claims)\n")
    L.append("Each queue in its own database, measured in interleaved rounds (the order rotating; the first 10 "
             "claims of each round left out). Latency as pgbench sees it; server mean is pg_stat_statements' "
             "execution time of the call.\n")
    L.append("| jobs in table | p50 ms | p99 ms | claims | p50 / p50 at smallest queue | server mean ms | "
             "server mean / smallest queue's |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    lat = d["latency"]
    for e in lat:
        L.append(f"| {e['queue']} | {e['p50_ms']:.3f} | {e['p99_ms']:.3f} | {e['claims']} | "
                 f"{fmt(ratio(e['p50_ms'], lat[0]['p50_ms']))} | {fmt(e.get('server_mean_ms'), '.3f')} | "
                 f"{fmt(ratio(e.get('server_mean_ms'), lat[0].get('server_mean_ms')))} |")
    L.append("\n### Per job lifecycle footprint (1-client lifecycle run, from empty tables)\n")
    fp = d["footprint"]
    cpu = all("server_cpu_ms" in f for f in fp.values())
    L.append("| system | WAL bytes/job | table+index growth bytes/job | dead tuples/job | mcp WAL ratio |"
             + (" server CPU ms/job |" if cpu else ""))
    L.append("|---|---:|---:|---:|---:|" + ("---:|" if cpu else ""))
    for s in [s for s in SYSTEMS if s in fp]:
        f = fp[s]
        L.append(f"| {s} | {f['wal_bytes']:.0f} | {f['growth_bytes']:.0f} | {f['dead_tuples']:.2f} | "
                 f"{fp['mcp_jobs']['wal_bytes'] / f['wal_bytes']:.2f} |" + (f" {f['server_cpu_ms']:.3f} |" if cpu else ""))
    m = d.get("memory")
    if m:
        L.append(f"\nBackend memory over many calls (one connection, RssAnon): {m['rss_before_kb']} kB before, "
                 f"{m['rss_after_claims_kb']} kB after {m['claim_calls']:,} claim_next_job calls (empty queue, 1000 "
                 f"per statement, the argument correlated so that each row calls it), {m['rss_after_enqueues_kb']} kB "
                 f"after a further {m['enqueue_calls']:,} enqueue_job calls.")
    x = d.get("lifecycle_rss")
    if x:
        L.append(f"\nBackend memory (RssAnon of the pgbench backend in the 1-client mcp_jobs lifecycle run): "
                 f"{x['early_kb']} kB after ~1 s, {x['late_kb']} kB at the end, "
                 f"over {x['calls']} function calls in that backend.\n")
    return "\n".join(L)


def render_targets(d):
    """Issue 5's targets against one run."""
    k = key_ratios(d)
    lc = k["lifecycle_over_ceiling"]
    best_c = max(lc, key=lambda c: lc[c] or 0)
    pb, gw = k["lifecycle_over_pg_boss"], k["lifecycle_over_graphile"]
    drain = d["drain"]["jobs_per_s"]
    lat = {e["queue"]: e for e in d["latency"]}
    q1m = k["claim_p50_over_smallest"].get("1M queued")
    f1m = k["claim_p50_over_smallest"].get("1k queued + 1M finished")
    s1m = k["claim_server_mean_over_smallest"]
    m = d.get("memory")

    def met(ok):
        return "met" if ok else "**not met**"

    rows = [
        ("lifecycle >= 0.70 of the bare-write ceiling at the best client count",
         f"{met(lc[best_c] >= CEILING_TARGET)}: {lc[best_c]:.2f} at {best_c} clients; at 1, 2, 4, 8 clients "
         + ", ".join(fmt(lc.get(c)) for c in ("1", "2", "4", "8"))),
        ("ahead of pg-boss", f"{met(pb[0] > 1)}: lifecycle {pb[0]:.2f}-{pb[1]:.2f}x over client counts; "
         f"drain {fmt(k_ratio(drain, 'mcp_jobs', 'pg-boss'))}x, batched "
         f"{fmt(k_ratio(drain, 'mcp_jobs (batched)', 'pg-boss (batched)'))}x"),
        ("ahead of graphile-worker's unbatched path",
         f"{met(gw[0] > 1)} for the lifecycle: {gw[0]:.2f}-{gw[1]:.2f}x; one job at a time in a drain: complete+claim "
         f"{fmt(k['drain_loop_over_graphile'])}x, claim + complete {fmt(k['drain_over_graphile'])}x"),
        ("a batch API ahead of graphile-worker's batched path",
         f"{met((k['drain_batched_over_graphile_batched'] or 0) > 1)}: "
         f"{fmt(k['drain_batched_over_graphile_batched'])}x ({drain.get('mcp_jobs (batched)', 0):.0f} against "
         f"{drain.get('graphile-worker (batched)', 0):.0f} jobs/s)"),
        (f"claim p50 at 1M queued <= {LATENCY_TARGET}x p50 at 1k; no growth with finished history",
         f"{met(q1m is not None and q1m <= LATENCY_TARGET)} at 1M queued: {fmt(q1m)}x "
         f"({fmt(lat.get('1M queued', {}).get('p50_ms'), '.3f')} ms); {met(f1m is not None and f1m <= LATENCY_TARGET)} "
         f"with 1M finished: {fmt(f1m)}x; "
         f"server mean {fmt(s1m.get('1M queued'))}x and {fmt(s1m.get('1k queued + 1M finished'))}x"),
        ("no per-backend memory growth over 1M calls",
         f"RssAnon {m['rss_before_kb']} kB -> {m['rss_after_claims_kb']} kB after {m['claim_calls']:,} "
         f"claim_next_job calls -> {m['rss_after_enqueues_kb']} kB after {m['enqueue_calls']:,} enqueue_job calls"
         if m else "-"),
    ]
    return "| target | run " + str(d["run"]) + " |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)


def k_ratio(drain, a, b):
    return ratio(drain.get(a), drain.get(b))


def render_history(results):
    """One line per run of bench/results: the ratios runs are compared by. `~`: one of the two entries
    ran dry (a lower bound)."""
    L = ["| run | date | version | lifecycle / ceiling at 1, 2, 4, 8 clients | same rows / ceiling at 8 | "
         "lifecycle / pg-boss, / graphile-worker | drain / graphile-worker: claim + complete, complete+claim, "
         "batched / batched | claim p50, x of the smallest queue: 1M queued, 1M finished |",
         "|---|---|---|---|---|---|---|---|"]
    for r in results:
        k = key_ratios(r)
        lc = k["lifecycle_over_ceiling"]
        pb, gw = k["lifecycle_over_pg_boss"], k["lifecycle_over_graphile"]
        lat = k["claim_p50_over_smallest"]
        dry = set(r.get("drain", {}).get("ran_dry", []))
        name = str(r["run"]) + ("" if r.get("kind", "full") == "full" else f", {r['kind']}")
        name += "" if r.get("complete") else " (partial)"
        drains = []
        for key, entries in (("drain_over_graphile", ("mcp_jobs", "graphile-worker")),
                             ("drain_loop_over_graphile", ("mcp_jobs (complete+claim)", "graphile-worker")),
                             ("drain_batched_over_graphile_batched",
                              ("mcp_jobs (batched)", "graphile-worker (batched)"))):
            drains.append(("~" if dry & set(entries) else "") + fmt(k[key]))
        L.append(f"| [{name}](bench/results/{result_file(r)}) | {(r.get('started_utc') or '-')[:10]} | "
                 f"{r['mcp_jobs_version']} | "
                 + (", ".join(fmt(lc.get(c)) for c in ("1", "2", "4", "8")) if lc else "-") + " | "
                 + fmt(k["same_rows_over_ceiling"].get("8")) + " | "
                 + (f"{pb[0]:.1f}-{pb[1]:.1f}x, {gw[0]:.1f}-{gw[1]:.1f}x" if pb and gw else "-") + " | "
                 + ", ".join(drains) + " | "
                 + ", ".join(fmt(lat.get(q)) for q in ("1M queued", "1k queued + 1M finished")) + " |")
    return "\n".join(L)


def result_file(r):
    if r.get("kind", "full") == "full":
        return f"run-{r['run']:03d}.json"
    return f"run-{r['run']:03d}-latency-{r['label'].rsplit('-', 1)[1]}.json"


def write_md(d, results):
    """BENCHMARKS.md: bench/BENCHMARKS.tmpl.md with the report of run `d` and the table of all runs."""
    with open(os.path.join(HERE, "BENCHMARKS.tmpl.md")) as f:
        tmpl = f.read()
    mach = d["machine"]
    settings = "\n".join(f"    {k} = {v}" for k, v in d["settings"])
    text = (tmpl.replace("{{RUN}}", f"run {d['run']} ({d['started_utc']}, mcp_jobs {d['mcp_jobs_version']}, "
                                    f"{d['code']}): `{d['command']}`")
            .replace("{{REPORT}}", render_report(d))
            .replace("{{TARGETS}}", render_targets(d))
            .replace("{{HISTORY}}", render_history(results))
            .replace("{{MACHINE}}", f"- CPU: {mach['cpu']}\n- nproc: {mach['nproc']}\n- node {mach['node']}, pg-boss "
                     f"{mach['pg_boss']}, graphile-worker {mach['graphile_worker']}\n- {mach['postgresql']}\n"
                     f"- run took {mach['elapsed_s']} s\n\n`free -h`:\n\n"
                     + "\n".join("    " + line for line in mach["free"].splitlines()))
            .replace("{{SETTINGS}}", settings)
            .replace("{{EXPLAIN}}", "\n".join("    " + line for line in d["explain"].splitlines()))
            .replace("{{STATEMENTS}}", "\n".join("    " + line for line in d["statements"].splitlines())))
    with open(os.path.join(ROOT, "BENCHMARKS.md"), "w") as f:
        f.write(text)
    log(f"wrote BENCHMARKS.md (run {d['run']}, {len(results)} runs in bench/results)")


if __name__ == "__main__":
    main()
