#!/usr/bin/env python3
"""mcp_jobs benchmark: one throwaway PostgreSQL 15 cluster, one run, side by side with pg-boss,
graphile-worker (both through their Node APIs, bench/peers.js) and a bare-write ceiling (pgbench on a
minimal table without the extension).

    PG_CONFIG=/path/to/pg_config python3 bench/run.py            # full run (about 10-15 minutes)
    PG_CONFIG=/path/to/pg_config python3 bench/run.py --smoke    # seconds; checks the harness works

mcp_jobs must already be installed into $PG_CONFIG's PostgreSQL (bench/run.sh does the release
install first). Prints a table of absolute figures and ratios; the full run also writes
BENCHMARKS.md and bench/throughput.png (unless --no-write).
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
    def report(self):
        r = self.results
        L = []
        L.append("## Throughput (jobs/s; higher is better)\n")
        L.append("| measurement | clients | mcp_jobs | ceiling | pg-boss | graphile-worker | mcp/ceiling | mcp/pg-boss | mcp/graphile |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for kind in ("enqueue", "lifecycle"):
            for c in sorted({k[1] for k in r[kind]}):
                v = {s: r[kind].get((s, c)) for s in SYSTEMS}
                m = v["mcp_jobs"]
                L.append(f"| {kind} | {c} | {m:.0f} | {v['ceiling']:.0f} | {v['pg-boss']:.0f} | {v['graphile-worker']:.0f} | "
                         f"{m / v['ceiling']:.2f} | {m / v['pg-boss']:.2f} | {m / v['graphile-worker']:.2f} |")
        if r.get("rounds"):
            L.append("\nLifecycle jobs/s of each interleaved round (the spread shows the machine's noise):\n")
            L.append("| clients | " + " | ".join(SYSTEMS) + " |")
            L.append("|---:|" + "---|" * len(SYSTEMS))
            for c in sorted({k[1] for k in r["rounds"]}):
                L.append(f"| {c} | " + " | ".join("/".join(f"{x:.0f}" for x in r["rounds"].get((s, c), []))
                                               for s in SYSTEMS) + " |")
        best = max(r["lifecycle"][(s, c)] for (s, c) in r["lifecycle"] if s == "mcp_jobs")
        best_ceiling = max(r["lifecycle"][(s, c)] for (s, c) in r["lifecycle"] if s == "ceiling")
        ratios = {c: r["lifecycle"][("mcp_jobs", c)] / r["lifecycle"][("ceiling", c)]
                  for (s, c) in r["lifecycle"] if s == "mcp_jobs" and ("ceiling", c) in r["lifecycle"]}
        best_c = max(ratios, key=ratios.get)
        L.append(f"\nBest lifecycle throughput: mcp_jobs {best:.0f} jobs/s, ceiling {best_ceiling:.0f} jobs/s "
                 f"(each at its best client count: ratio {best / best_ceiling:.2f}); best ratio at one client "
                 f"count: {ratios[best_c]:.2f} at {best_c} clients (target >= 0.70).\n")
        if any(s == "same rows" for (s, c) in r["lifecycle"]):
            L.append("**Same rows** (a reference, not a peer): mcp_jobs' own statements (src/queries) issued "
                     "directly by pgbench on plain copies of its tables: the same rows, indexes and history, "
                     "without the function layer and the row checks. mcp_jobs / same rows is what the "
                     "extension's code costs; same rows / ceiling is what the history and indexes cost.\n")
            L.append("| clients | same rows jobs/s | mcp_jobs / same rows | same rows / ceiling |")
            L.append("|---:|---:|---:|---:|")
            for c in sorted(c for (s, c) in r["lifecycle"] if s == "same rows"):
                x = r["lifecycle"][("same rows", c)]
                L.append(f"| {c} | {x:.0f} | {r['lifecycle'][('mcp_jobs', c)] / x:.2f} | "
                         f"{x / r['lifecycle'][('ceiling', c)]:.2f} |")
            L.append("")
        L.append("## Drain: claim + complete of jobs already queued (jobs/s)\n")
        L.append("mcp_jobs takes jobs three ways: one per call (`claim_next_job`, then `complete_job`: two "
                 "transactions per job), **complete+claim** (`complete_and_claim_next` completes a job and "
                 "claims the next in one call: one transaction per job) and batched (`claim_jobs` / "
                 "`complete_jobs` of up to 50). Each ratio column is one of them against each row.\n")
        labels = [label for _, label in DRAIN_MODES.values()]
        L.append("| system | clients | jobs/s | " + " | ".join(f"mcp_jobs{label} / this" for label in labels) + " |")
        L.append("|---|---:|---:|" + "---:|" * len(labels))
        mcp_of = {label: next((v for (s, c), v in r["drain"].items() if s == "mcp_jobs" + label), None)
                  for label in labels}
        dry = set(r.get("drain_dry", []))
        for (s, c), v in r["drain"].items():
            cols = [f"{mcp_of[label] / v:.2f}" if mcp_of[label] else "-" for label in labels]
            mark = ">= " if s in dry else ""
            L.append(f"| {s} | {c} | {mark}{v:.0f} | " + " | ".join(cols) + " |")
        if dry:
            L.append("\n`>=`: the queue ran dry before the round ended, so the figure is a lower bound.")
        L.append("\n## Claim latency (mcp_jobs.claim_next_job, 1 client, committed claims)\n")
        L.append("Each queue in its own database, measured in interleaved rounds (the order rotating; the first 10 "
                 "claims of each round left out). Latency as pgbench sees it; server mean is pg_stat_statements' "
                 "execution time of the call.\n")
        L.append("| jobs in table | p50 ms | p99 ms | claims | p50 / p50 at smallest queue | server mean ms | "
                 "server mean / smallest queue's |")
        L.append("|---|---:|---:|---:|---:|---:|---:|")
        first = next(iter(r["latency"].values()))
        base, base_server = first[0], first[3]
        for name, (p50, p99, n, server) in r["latency"].items():
            ratio = f"{server / base_server:.2f}" if base_server else "-"
            L.append(f"| {name} | {p50:.3f} | {p99:.3f} | {n} | {p50 / base:.2f} | {server:.3f} | {ratio} |")
        L.append("\n## Per job lifecycle footprint (1-client lifecycle run, from empty tables)\n")
        L.append("| system | WAL bytes/job | table+index growth bytes/job | dead tuples/job | mcp WAL ratio |")
        L.append("|---|---:|---:|---:|---:|")
        fp = {s: r["footprint"][s][min(r["footprint"][s])] for s in r["footprint"]}
        for s in [s for s in SYSTEMS if s in fp]:
            f = fp[s]
            L.append(f"| {s} | {f['wal']:.0f} | {f['size']:.0f} | {f['dead']:.2f} | {fp['mcp_jobs']['wal'] / f['wal']:.2f} |")
        if r.get("memory"):
            m = r["memory"]
            L.append(f"\nBackend memory over many calls (one connection, RssAnon): {m['rss0']} kB before, "
                     f"{m['rss1']} kB after {m['claim_calls']:,} claim_next_job calls (empty queue, 1000 per "
                     f"statement, the argument correlated so that each row calls it), {m['rss2']} kB after a further {m['enqueue_calls']:,} enqueue_job calls.")
        if r["rss"]:
            x = r["rss"]
            L.append(f"\nBackend memory (RssAnon of the pgbench backend in the 1-client mcp_jobs lifecycle run): "
                     f"{x['rss_early_kb']} kB after ~1 s, {x['rss_late_kb']} kB at the end, "
                     f"over {x['calls']} function calls in that backend.\n")
        return "\n".join(L)

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
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="tiny run (seconds) that only checks the harness works")
    ap.add_argument("--seconds", type=int, help="seconds per throughput measurement (default 10; 1 in smoke)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per measurement (default 3)")
    ap.add_argument("--out", default=os.path.join(HERE, "out"), help="directory for raw outputs")
    ap.add_argument("--no-write", action="store_true", help="do not write BENCHMARKS.md and bench/throughput.png")
    ap.add_argument("--render", metavar="RENDER_JSON",
                    help="only rewrite BENCHMARKS.md from a previous run's out/render.json")
    args = ap.parse_args()
    if args.render:
        with open(args.render) as f:
            write_md(json.load(f))
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
        render = {"report": report, "cpu": cpu, "nproc": nproc, "free": free, "node": node, "versions": vers,
                  "elapsed": time.time() - started, "version": b.version, "settings": b.settings,
                  "explain": b.results.get("explain", ""), "statements": b.results["statements"]}
        with open(os.path.join(args.out, "render.json"), "w") as f:
            json.dump(render, f, indent=1)
        if not args.smoke and not args.no_write:
            b.chart(os.path.join(HERE, "throughput.png"))
            write_md(render)
        log(f"done in {time.time() - started:.0f}s")
    finally:
        b.close()


def read_section(name):
    path = os.path.join(HERE, name)
    if not os.path.exists(path):
        return "(not written yet)"
    with open(path) as f:
        return f.read().strip()


def write_md(r):
    report, cpu, nproc, free, node, vers, elapsed = (r["report"], r["cpu"], r["nproc"], r["free"], r["node"],
                                                     r["versions"], r["elapsed"])
    tmpl_path = os.path.join(HERE, "BENCHMARKS.tmpl.md")
    with open(tmpl_path) as f:
        tmpl = f.read()
    settings = "\n".join(f"    {k} = {v}" for k, v in r["settings"])
    text = (tmpl.replace("{{REPORT}}", report)
            .replace("{{MACHINE}}", f"- CPU: {cpu}\n- nproc: {nproc}\n- node {node}, pg-boss {vers['pg-boss']}, "
                     f"graphile-worker {vers['graphile-worker']}\n- {r['version']}\n- run took {elapsed:.0f} s\n\n"
                     f"`free -h`:\n\n" + "\n".join("    " + l for l in free.splitlines()))
            .replace("{{SETTINGS}}", settings)
            .replace("{{METHOD}}", read_section("METHOD.md"))
            .replace("{{ANALYSIS}}", read_section("ANALYSIS.md"))
            .replace("{{EXPLAIN}}", "\n".join("    " + l for l in r["explain"].splitlines()))
            .replace("{{STATEMENTS}}", "\n".join("    " + l for l in r["statements"].splitlines())))
    with open(os.path.join(ROOT, "BENCHMARKS.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
