"""Helpers of the Python client tests: worker processes and their event files."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import IO, Any

import psycopg

from pgharness import wait_until

HERE = os.path.dirname(os.path.abspath(__file__))

DB = "pyc"  # the test database (conftest.py)

# Retries after a failed attempt wait retry_base_delay * 2^(n-1) (jittered): small, so that a job
# that always fails reaches its dead letter within a second. Set before PostgREST connects.
RETRY_BASE_DELAY_MS = 200
WORKER_PROC = os.path.join(HERE, "pyclient_worker_proc.py")

Row = tuple[Any, ...]
Db = psycopg.Connection[Row]
"""The tests' autocommit connection to the test database (the `db` fixture)."""


def row(db: Db, sql: str, params: Sequence[Any] = ()) -> Row:
    """The one row of a query."""
    got = db.execute(sql, params).fetchone()
    assert got is not None, f"no row: {sql}"
    return got


def scalar(db: Db, sql: str, params: Sequence[Any] = ()) -> Any:
    """The first column of the one row of a query."""
    return row(db, sql, params)[0]


class WorkerProcess:
    """tests/python_client/pyclient_worker_proc.py in a child process, its events in a file."""

    def __init__(self, url: str, key: str, source: str, **cfg: Any) -> None:
        fd, self.events_path = tempfile.mkstemp(prefix="mcp_jobs_pyworker_", suffix=".jsonl")
        os.close(fd)
        self.cfg = {"url": url, "key": key, "source": source, "events": self.events_path, **cfg}
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the process, closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, WORKER_PROC, json.dumps(self.cfg)], stdout=subprocess.DEVNULL, stderr=self.stderr
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
    """Per job of the source: its runs by outcome and its events by type, summarised over all jobs as
    {(runs_completed, other_runs, completed_events, failed_events): number of jobs}."""
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
        key = (int(r[0]), int(r[1]), int(r[2]), int(r[3]))
        summary[key] = summary.get(key, 0) + 1
    return summary


def waiting_claims(db: Db) -> int:
    """Claims waiting in the server for a job (p_wait_ms) in the test database, as pg_stat_activity
    shows them: their backend sleeps in the extension's wait."""
    return int(
        scalar(
            db,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Extension' "
            "AND (query LIKE '%%claim_next_job%%' OR query LIKE '%%claim_jobs%%')",
            (DB,),
        )
    )


def no_waiting_claims(db: Db, timeout: float = 30.0) -> None:
    """Wait until no claim is waiting (a claim left over from an earlier test ends within its wait)."""
    wait_until(lambda: waiting_claims(db) == 0, timeout=timeout, what="no waiting claim")
