"""Plumbing shared by bench/run.py, bench/wake.py and bench/soak.py: the throwaway cluster
(tests/pgharness.py), pgbench, CPU and memory of processes from /proc, the machine, and the
metadata and numbering of result documents in bench/results/."""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, os.path.join(ROOT, "tests"))
from pgharness import Cluster, free_port, wait_until

__all__ = ["Cluster", "free_port", "wait_until"]

ZERO_UUID = "00000000-0000-0000-0000-000000000000"
REFERENCE_SQL = os.path.join(HERE, "reference", "plpgsql.sql")
PGMQ_SQL = os.path.join(HERE, "pgmq", "pgmq.sql")
PGMQ_VERSION = "1.5.1"


def log(msg: str) -> None:
    print(msg, flush=True)


def sql(cluster: Cluster, db: str, q: str, params: Any = None, fetch: bool = True) -> list[tuple[Any, ...]] | None:
    """One statement (or several without parameters) in autocommit mode; its rows if it has any."""
    with cluster.connect(db) as conn:
        cur = conn.execute(q, params)
        if fetch and cur.description:
            rows: list[tuple[Any, ...]] = cur.fetchall()
            return rows
    return None


def one(cluster: Cluster, db: str, q: str, params: Any = None) -> Any:
    rows = sql(cluster, db, q, params)
    assert rows, q
    return rows[0][0]


def read_file(path: str) -> str:
    with open(path) as f:
        return f.read()


# ------------------------------------------------------------------ /proc
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def proc_cpu_ms(pid: int) -> float | None:
    """utime + stime of one process, in ms."""
    st = _stat(pid)
    return None if st is None else (int(st[11]) + int(st[12])) * 1000.0 / CLK_TCK


def cluster_cpu_ms(cluster: Cluster) -> float:
    """utime + stime of the postmaster and all its children (backends, walwriter, ...), live ones
    and those that exited (the postmaster's cutime + cstime), in ms."""
    root = cluster.postmaster_pid()
    ticks = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _stat(int(name))
        if st is None:
            continue
        if int(name) == root:
            ticks += sum(int(x) for x in st[11:15])  # utime, stime, cutime, cstime
        elif int(st[1]) == root:  # st[1]: ppid
            ticks += int(st[11]) + int(st[12])
    return ticks * 1000.0 / CLK_TCK


def proc_status_kb(pid: int, field: str = "VmRSS") -> int | None:
    """A field of /proc/PID/status in kB (VmRSS, RssAnon, ...)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def tree_cpu_ms(pid: int) -> float:
    """utime + stime of a process and its live descendants (a client and its workers), in ms."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st is not None:
                children.setdefault(int(st[1]), []).append(int(name))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += proc_cpu_ms(p) or 0.0
        todo += children.get(p, [])
    return total


# ------------------------------------------------------------------ pgbench
class PgBench:
    """pgbench scripts written to a temporary directory, run against one cluster."""

    def __init__(self, cluster: Cluster, tmp: str):
        self.cluster = cluster
        self.tmp = tmp

    def script(self, name: str, text: str) -> str:
        path = os.path.join(self.tmp, re.sub(r"\W+", "_", name) + ".sql")
        with open(path, "w") as f:
            f.write(text)
        return path

    def start(self, db: str, script: str, clients: int, *, seconds: float | None = None,
              transactions: int | None = None, defines: dict[str, str] | None = None,
              log_prefix: str | None = None, sampling: float | None = None, rate: float | None = None,
              options: str | None = None, user: str = "postgres", progress: int | None = None) -> subprocess.Popen[str]:
        cmd = [os.path.join(self.cluster.bindir, "pgbench"), "-n", "-M", "prepared", "-f", script,
               "-c", str(clients), "-j", str(clients), "-h", "127.0.0.1", "-p", str(self.cluster.port),
               "-U", user]
        if seconds is not None:
            cmd += ["-T", str(max(1, round(seconds)))]
        else:
            cmd += ["-t", str(transactions)]
        for k, v in (defines or {}).items():
            cmd += ["-D", f"{k}={v}"]
        if log_prefix:
            cmd += ["-l", "--log-prefix", log_prefix]
            if sampling:
                cmd += ["--sampling-rate", str(sampling)]
        if rate:
            cmd += ["-R", str(rate)]
        if progress:
            cmd += ["-P", str(progress)]
        cmd.append(db)
        env = dict(os.environ, PGOPTIONS=options) if options else None
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.tmp, env=env)

    @staticmethod
    def wait(p: subprocess.Popen[str]) -> int:
        """The number of transactions pgbench completed; raises when it failed or a client aborted."""
        out, err = p.communicate()
        if p.returncode != 0 or "aborted" in out:
            raise RuntimeError(f"pgbench failed ({p.returncode}):\n{out}\n{err}")
        m = re.search(r"number of transactions actually processed: (\d+)", out)
        assert m, out
        return int(m.group(1))

    def run(self, db: str, script: str, clients: int, **kw: Any) -> int:
        return self.wait(self.start(db, script, clients, **kw))

    def logs(self, prefix: str) -> list[str]:
        """The per-transaction log files of a run started with log_prefix (one per thread)."""
        d, base = os.path.split(prefix)
        return sorted(os.path.join(d, f) for f in os.listdir(d) if f.startswith(base + "."))


def pgbench_log_lines(paths: list[str]) -> list[tuple[int, int, int, int, float, float]]:
    """(client, transaction_no, script_no, epoch_us, latency_ms, lag_ms) of each logged transaction
    (pgbench -l format: client_id transaction_no time script_no time_epoch time_us [schedule_lag])."""
    out = []
    for path in paths:
        with open(path) as f:
            for line in f:
                x = line.split()
                if len(x) < 6 or x[2] == "skipped":
                    continue
                lag = int(x[6]) / 1000.0 if len(x) > 6 else 0.0
                out.append((int(x[0]), int(x[1]), int(x[3]), int(x[4]) * 1_000_000 + int(x[5]),
                            int(x[2]) / 1000.0, lag))
    return out


def percentile(xs: list[float], q: float) -> float | None:
    """The q-quantile (0..1) of xs by the nearest-rank method; None for no values."""
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


# ------------------------------------------------------------------ the machine and the run
def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def cmd(*a: str) -> str:
        try:
            return subprocess.run(list(a), check=False, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"

    return {"cpu": cpu, "nproc": cmd("nproc"), "free": cmd("free", "-h"), "node": cmd("node", "--version"),
            "loadavg_at_start": read_file("/proc/loadavg").split()[:3]}


def node_versions() -> dict[str, str]:
    out = {}
    for pkg in ("pg-boss", "graphile-worker"):
        try:
            with open(os.path.join(HERE, "node_modules", pkg, "package.json")) as f:
                out[pkg] = json.load(f)["version"]
        except OSError:
            out[pkg] = "?"
    return out


def git(*args: str) -> str | None:
    p = subprocess.run(["git", *args], cwd=ROOT, check=False, capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else None


def code_description() -> str:
    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return "not a git checkout"
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    subject = git("log", "-1", "--format=%s")
    return f"commit {head}" + (" with uncommitted changes" if dirty else "") + f" \"{subject}\""


def command_line(script: str) -> str:
    argv = " ".join(sys.argv[1:])
    return f"PG_CONFIG={os.environ.get('PG_CONFIG', '/usr/lib/postgresql/15/bin/pg_config')} python3 {script} {argv}".rstrip()


def next_number(prefix: str) -> int:
    """One more than the highest NNN of bench/results/<prefix>-NNN*.json."""
    nums = [0]
    if os.path.isdir(RESULTS):
        for name in os.listdir(RESULTS):
            m = re.match(re.escape(prefix) + r"-(\d+)(?:-[^.]*)?\.json$", name)
            if m:
                nums.append(int(m.group(1)))
    return max(nums) + 1


def write_result(prefix: str, doc: dict[str, Any]) -> str:
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, f"{prefix}-{doc['run']:03d}.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    return path


def now_utc(t: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(t))


def extension_version(cluster: Cluster, db: str) -> str:
    return str(one(cluster, db, "SELECT extversion FROM pg_extension WHERE extname = 'mcp_jobs'"))
