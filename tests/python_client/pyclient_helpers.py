"""Helpers of the Python client tests: worker processes and their event files."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from pgharness import wait_until

HERE = os.path.dirname(os.path.abspath(__file__))

DB = "pyc"  # the test database (conftest.py)

# Retries after a failed attempt wait retry_base_delay * 2^(n-1) (jittered): small, so that a job
# that always fails reaches its dead letter within a second. Set before PostgREST connects.
RETRY_BASE_DELAY_MS = 200
WORKER_PROC = os.path.join(HERE, "pyclient_worker_proc.py")


class WorkerProcess:
    """tests/python_client/pyclient_worker_proc.py in a child process, its events in a file."""

    def __init__(self, url, key, source, **cfg):
        fd, self.events_path = tempfile.mkstemp(prefix="mcp_jobs_pyworker_", suffix=".jsonl")
        os.close(fd)
        self.cfg = {"url": url, "key": key, "source": source, "events": self.events_path, **cfg}
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the process, closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, WORKER_PROC, json.dumps(self.cfg)], stdout=subprocess.DEVNULL, stderr=self.stderr
        )

    @property
    def pid(self):
        return self.proc.pid

    def events(self, type_=None):
        with open(self.events_path) as f:
            lines = [json.loads(line) for line in f if line.endswith("\n")]
        return [e for e in lines if type_ is None or e["type"] == type_]

    def wait_event(self, type_, timeout=30.0):
        return wait_until(lambda: self.events(type_), timeout=timeout, what=f"worker event {type_}")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=60.0):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"worker {self.pid} did not exit within {timeout}s:\n{self.stderr_text()}") from None

    def stderr_text(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.stderr.close()
        os.unlink(self.events_path)


def terminate_all(workers, timeout=60.0):
    """SIGTERM every worker still running and wait for them."""
    for w in workers:
        if w.proc.poll() is None:
            w.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    return [w.wait_exit(max(0.1, deadline - time.monotonic())) for w in workers]


def enqueue_many(db, source, n, payload_sql="jsonb_build_object('n', g)", job_type="task"):
    """n jobs in one statement, through mcp_jobs.enqueue_job (as the API does)."""
    db.execute(
        f"SELECT mcp_jobs.enqueue_job(%s, %s, {payload_sql}) FROM generate_series(1, %s) g", (source, job_type, n)
    )


def outcome_counts(db, source):
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
    summary = {}
    for r in rows:
        summary[tuple(r)] = summary.get(tuple(r), 0) + 1
    return summary


def waiting_claims(db):
    """Claims waiting in the server for a job (p_wait_ms) in the test database, as pg_stat_activity
    shows them: their backend sleeps in the extension's wait."""
    return db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Extension' "
        "AND (query LIKE '%%claim_next_job%%' OR query LIKE '%%claim_jobs%%')",
        (DB,),
    ).fetchone()[0]


def no_waiting_claims(db, timeout=30.0):
    """Wait until no claim is waiting (a claim left over from an earlier test ends within its wait)."""
    wait_until(lambda: waiting_claims(db) == 0, timeout=timeout, what="no waiting claim")
