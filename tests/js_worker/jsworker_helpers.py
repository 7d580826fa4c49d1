"""Helpers of the TypeScript worker tests: the client's build, worker processes and their event files."""

import fcntl
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import IO, Any

import psycopg

from pgharness import wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
CLIENT_DIR = os.path.join(REPO, "clients", "js")
WORKER_PROC = os.path.join(HERE, "jsworker_proc.mjs")
MCP_CHECK = os.path.join(HERE, "jsworker_mcp.mjs")

DB = "jsw"  # the test database (conftest.py)

# Retries after a failed attempt wait retry_base_delay * 2^(n-1) (jittered): small, so that a job
# that always fails reaches its dead letter within a second. Set before PostgREST connects.
RETRY_BASE_DELAY_MS = 200

Row = tuple[Any, ...]
Db = psycopg.Connection[Row]


def _sources() -> Iterator[str]:
    yield os.path.join(CLIENT_DIR, "package.json")
    yield os.path.join(CLIENT_DIR, "tsconfig.json")
    for root, _dirs, files in os.walk(os.path.join(CLIENT_DIR, "src")):
        for f in files:
            yield os.path.join(root, f)


def ensure_client_built() -> None:
    """`npm run build` in clients/js unless dist/ is newer than every source (one build at a time)."""
    if not os.path.isdir(os.path.join(CLIENT_DIR, "node_modules")):
        raise RuntimeError(f"{CLIENT_DIR}/node_modules is missing: run scripts/setup.sh (npm ci there)")
    with open(os.path.join(tempfile.gettempdir(), "mcp_jobs_clients_js_build.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = [os.path.join(CLIENT_DIR, "dist", f) for f in ("index.js", "worker.js", "mcp-cli.js")]
        if all(os.path.isfile(b) for b in built):
            oldest = min(os.path.getmtime(b) for b in built)
            if all(os.path.getmtime(s) <= oldest for s in _sources()):
                return
        p = subprocess.run(
            ["npm", "run", "build"], cwd=CLIENT_DIR, capture_output=True, text=True, timeout=300, check=False
        )
        if p.returncode != 0:
            raise RuntimeError("npm run build in clients/js failed:\n" + p.stdout + p.stderr)


def row(db: Db, sql: str, params: Sequence[Any] = ()) -> Row:
    got = db.execute(sql, params).fetchone()
    assert got is not None, f"no row: {sql}"
    return got


def scalar(db: Db, sql: str, params: Sequence[Any] = ()) -> Any:
    return row(db, sql, params)[0]


class WorkerProcess:
    """tests/js_worker/jsworker_proc.mjs in a node process, its events in a file."""

    def __init__(self, url: str, key: str, source: str, **cfg: Any) -> None:
        fd, self.events_path = tempfile.mkstemp(prefix="mcp_jobs_jsworker_", suffix=".jsonl")
        os.close(fd)
        self.cfg = {"url": url, "key": key, "source": source, "events": self.events_path, **cfg}
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - open for the process, closed in close()
        self.proc = subprocess.Popen(
            ["node", WORKER_PROC, json.dumps(self.cfg)], stdout=subprocess.DEVNULL, stderr=self.stderr
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        with open(self.events_path) as f:
            lines: list[dict[str, Any]] = [json.loads(line) for line in f if line.endswith("\n")]
        return [e for e in lines if type_ is None or e["type"] == type_]

    def wait_event(self, type_: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        return wait_until(lambda: self.events(type_), timeout=timeout, what=f"worker event {type_}")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = 60.0) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"worker {self.pid} did not exit within {timeout}s:\n{self.stderr_text()}") from None

    def stderr_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.stderr.close()
        os.unlink(self.events_path)


def terminate_all(workers: Sequence[WorkerProcess], timeout: float = 60.0) -> list[int]:
    """SIGTERM every worker still running and wait for them."""
    for w in workers:
        if w.proc.poll() is None:
            w.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    return [w.wait_exit(max(0.1, deadline - time.monotonic())) for w in workers]


def enqueue_many(
    db: Db, source: str, n: int, payload_sql: str = "jsonb_build_object('n', g)", job_type: str = "task"
) -> None:
    """n jobs in one statement, through mcp_jobs.enqueue_job (as the API does)."""
    db.execute(
        f"SELECT mcp_jobs.enqueue_job(%s, %s, {payload_sql}) FROM generate_series(1, %s) g", (source, job_type, n)
    )


def outcome_counts(db: Db, source: str) -> dict[tuple[int, int, int, int], int]:
    """Per job of the source, summarised over all jobs as {(runs_completed, other_runs,
    completed_events, failure_events): number of jobs}."""
    rows = db.execute(
        """
        SELECT (SELECT count(*) FROM mcp_jobs.job_runs r WHERE r.job_id = j.id AND r.outcome = 'completed'),
               (SELECT count(*) FROM mcp_jobs.job_runs r WHERE r.job_id = j.id
                  AND r.outcome IS DISTINCT FROM 'completed'),
               (SELECT count(*) FROM mcp_jobs.job_events e WHERE e.job_id = j.id AND e.event_type = 'completed'),
               (SELECT count(*) FROM mcp_jobs.job_events e WHERE e.job_id = j.id
                  AND e.event_type IN ('failed', 'lease_expired', 'dead_lettered', 'retry_scheduled'))
          FROM mcp_jobs.jobs j WHERE j.source = %s
        """,
        (source,),
    ).fetchall()
    summary: dict[tuple[int, int, int, int], int] = {}
    for r in rows:
        k = (int(r[0]), int(r[1]), int(r[2]), int(r[3]))
        summary[k] = summary.get(k, 0) + 1
    return summary


def waiting_claims(db: Db) -> int:
    """Claims waiting in the server (p_wait_ms) in the test database."""
    return int(
        scalar(
            db,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Extension' "
            "AND (query LIKE '%%claim_next_job%%' OR query LIKE '%%claim_jobs%%')",
            (DB,),
        )
    )


def no_waiting_claims(db: Db, timeout: float = 30.0) -> None:
    wait_until(lambda: waiting_claims(db) == 0, timeout=timeout, what="no waiting claim")


def job_state(db: Db, job_id: str) -> tuple[str, int]:
    r = row(db, "SELECT status, attempts FROM mcp_jobs.jobs WHERE id = %s", (job_id,))
    return str(r[0]), int(r[1])
