"""Waiting claims (p_wait_ms, issue 18): woken by the commit of an enqueue, not by polling.

A cluster of this module preloads the library (shared_preload_libraries = 'mcp_jobs'): waiting
claims sleep on their latch and a commit that made a job claimable sets it. The session cluster of
the other tests does not preload it: the last tests check the polling fallback there.

The tests wait on conditions (pg_stat_activity, diagnostics()), never on sleeps.
"""
from __future__ import annotations

import statistics
import threading
import time
import uuid
from typing import Any

import psycopg
import pytest
from pgharness import Cluster, wait_until


@pytest.fixture(scope="module")
def pre() -> Any:
    c = Cluster(conf={"shared_preload_libraries": "'mcp_jobs'",
                      # no maintenance worker rounds: nothing else enqueues or wakes
                      "mcp_jobs.maintenance_interval": "0"}, name="mcp_jobs_wake").start()
    try:
        c.psql("CREATE EXTENSION mcp_jobs;")
        yield c
    finally:
        c.destroy()


def src() -> str:
    return "wake-" + uuid.uuid4().hex[:8]


def diag(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    return dict(conn.execute("SELECT mcp_jobs.diagnostics()").fetchone()[0])


class Waiter(threading.Thread):
    """A claim_next_job with p_wait_ms in a thread of its own; result, error and the server clock
    when the claim returned."""

    def __init__(self, cluster: Cluster, sources: list[str], wait_ms: int, sql_prefix: str = "") -> None:
        super().__init__(daemon=True)
        self.conn = cluster.connect()
        self.pid = int(self.conn.execute("SELECT pg_backend_pid()").fetchone()[0])
        if sql_prefix:
            self.conn.execute(sql_prefix)
        self.sources, self.wait_ms = sources, wait_ms
        self.row: tuple[Any, ...] | None = None
        self.error: psycopg.Error | None = None

    def run(self) -> None:
        try:
            self.row = self.conn.execute(
                "SELECT c.id, clock_timestamp() FROM mcp_jobs.claim_next_job('waiter', %s, p_wait_ms => %s) c",
                (self.sources, self.wait_ms)).fetchone()
        except psycopg.Error as exc:
            self.error = exc
        finally:
            self.conn.close()


def sleeping(conn: psycopg.Connection[Any], pid: int) -> bool:
    """Whether backend `pid` sleeps in the claim's wait (wait event of an extension)."""
    row = conn.execute("SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    return row is not None and row[0] == "Extension"


def start_waiting(cluster: Cluster, conn: psycopg.Connection[Any], sources: list[str], wait_ms: int = 20_000,
                  sql_prefix: str = "") -> Waiter:
    w = Waiter(cluster, sources, wait_ms, sql_prefix)
    w.start()
    wait_until(lambda: sleeping(conn, w.pid), timeout=10, interval=0.005, what="the claim to wait")
    return w


def test_diagnostics_say_latch_mode(pre: Cluster) -> None:
    with pre.connect() as conn:
        d = diag(conn)
        assert d["preloaded"] is True and d["wakeups"] == "latch", d


def test_diagnostics_see_the_maintenance_worker_from_any_role(pre: Cluster) -> None:
    """pg_stat_activity hides the (superuser) worker from other roles; diagnostics() must not."""
    with pre.connect() as conn:
        wait_until(lambda: conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                                        "'mcp_jobs maintenance'").fetchone()[0] == 1,
                   timeout=20, interval=0.05, what="the maintenance worker")
        conn.execute("DROP ROLE IF EXISTS diag_reader")
        conn.execute("CREATE ROLE diag_reader")
        conn.execute("SELECT mcp_jobs.grant_access('diag_reader')")
        try:
            with conn.transaction():
                conn.execute("SET LOCAL ROLE diag_reader")
                hidden = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                                      "'mcp_jobs maintenance'").fetchone()[0]
                seen = diag(conn)["maintenance_worker"]
            assert hidden == 0, "the role sees the worker in pg_stat_activity: the test proves nothing"
            assert seen is True, seen
            # and false once the worker is gone (SIGTERM: it exits cleanly and is not restarted)
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE backend_type = 'mcp_jobs maintenance'")
            wait_until(lambda: diag(conn)["maintenance_worker"] is False, timeout=20, interval=0.02,
                       what="diagnostics to see the worker gone")
        finally:
            conn.execute("DROP OWNED BY diag_reader")
            conn.execute("DROP ROLE diag_reader")


def test_a_waiting_claim_is_woken_within_50_ms_of_the_commit(pre: Cluster) -> None:
    latencies = []
    with pre.connect() as conn:
        for _ in range(5):
            s = src()
            w = start_waiting(pre, conn, [s])
            with conn.transaction():
                jid = conn.execute("SELECT mcp_jobs.enqueue_job(%s, 't')", (s,)).fetchone()[0]
                committing = conn.execute("SELECT clock_timestamp()").fetchone()[0]
            w.join(10)
            assert w.row is not None and w.row[0] == jid, w.error
            latencies.append((w.row[1] - committing).total_seconds() * 1000)
    print("wake latencies (ms):", [round(x, 1) for x in latencies])
    assert statistics.median(latencies) < 50, latencies
    assert max(latencies) < 250, latencies  # one slow wake-up on a loaded machine, not a poll


def test_a_rolled_back_enqueue_wakes_nobody(pre: Cluster) -> None:
    s = src()
    with pre.connect() as conn:
        w = start_waiting(pre, conn, [s], wait_ms=30_000)
        before = diag(conn)["waiters_woken"]
        with pytest.raises(psycopg.errors.RaiseException), conn.transaction():
            conn.execute("SELECT mcp_jobs.enqueue_job(%s, 't')", (s,))
            conn.execute("DO $$ BEGIN RAISE EXCEPTION 'roll back'; END $$")
        # and an enqueue that is never committed: still open while we look
        other = pre.connect()
        other.execute("BEGIN")
        other.execute("SELECT mcp_jobs.enqueue_job(%s, 't')", (s,))
        assert diag(conn)["waiters_woken"] == before
        assert sleeping(conn, w.pid) and w.is_alive()
        other.execute("ROLLBACK")
        other.close()
        assert diag(conn)["waiters_woken"] == before
        # a committed one wakes it
        jid = conn.execute("SELECT mcp_jobs.enqueue_job(%s, 't')", (s,)).fetchone()[0]
        w.join(10)
        assert w.row is not None and w.row[0] == jid
        assert diag(conn)["waiters_woken"] == before + 1


def test_one_job_wakes_one_of_three_waiters(pre: Cluster) -> None:
    s = src()
    with pre.connect() as conn:
        waiters = [start_waiting(pre, conn, [s], wait_ms=30_000) for _ in range(3)]
        before = diag(conn)["waiters_woken"]
        jid = conn.execute("SELECT mcp_jobs.enqueue_job(%s, 't')", (s,)).fetchone()[0]
        done = wait_until(lambda: [w for w in waiters if not w.is_alive()], timeout=10, what="one waiter to return")
        assert len(done) == 1 and done[0].row is not None and done[0].row[0] == jid
        assert diag(conn)["waiters_woken"] == before + 1, "one wake-up for one job"
        rest = [w for w in waiters if w.is_alive()]
        assert len(rest) == 2 and all(sleeping(conn, w.pid) for w in rest)
        # two more jobs in one transaction: two wake-ups
        with conn.transaction():
            conn.execute("SELECT mcp_jobs.enqueue_job(%s, 't') FROM generate_series(1, 2)", (s,))
        for w in rest:
            w.join(10)
            assert w.row is not None
        assert diag(conn)["waiters_woken"] == before + 3


def test_a_waiter_of_another_source_stays_asleep(pre: Cluster) -> None:
    mine, other = src(), src()
    with pre.connect() as conn:
        w = start_waiting(pre, conn, [mine], wait_ms=30_000)
        before = diag(conn)["waiters_woken"]
        conn.execute("SELECT mcp_jobs.enqueue_job(%s, 't')", (other,))
        assert diag(conn)["waiters_woken"] == before and sleeping(conn, w.pid)
        conn.execute("SELECT mcp_jobs.enqueue_job(%s, 't')", (mine,))
        w.join(10)
        assert w.row is not None


def test_no_snapshot_is_held_while_waiting(pre: Cluster) -> None:
    s = src()
    with pre.connect() as conn:
        w = start_waiting(pre, conn, [s], wait_ms=30_000)
        row = conn.execute("SELECT backend_xmin, backend_xid, state FROM pg_stat_activity WHERE pid = %s",
                           (w.pid,)).fetchone()
        assert row[0] is None and row[1] is None, row  # vacuum is not held back by a waiting worker
        conn.execute("SELECT mcp_jobs.enqueue_job(%s, 't')", (s,))
        w.join(10)
        assert w.row is not None


def test_cancel_and_statement_timeout_end_the_wait(pre: Cluster) -> None:
    s = src()
    with pre.connect() as conn:
        w = start_waiting(pre, conn, [s], wait_ms=60_000)
        t0 = time.monotonic()
        assert conn.execute("SELECT pg_cancel_backend(%s)", (w.pid,)).fetchone()[0]
        w.join(10)
        assert not w.is_alive() and time.monotonic() - t0 < 5
        assert isinstance(w.error, psycopg.errors.QueryCanceled), w.error
        w = start_waiting(pre, conn, [s], wait_ms=60_000, sql_prefix="SET statement_timeout = '300ms'")
        w.join(10)
        assert isinstance(w.error, psycopg.errors.QueryCanceled), w.error
        # nothing was claimed, and the backends are usable (the slot was freed)
        assert diag(conn)["waiting_claims"] == 0


def test_a_job_coming_due_wakes_the_waiter_at_its_time(pre: Cluster) -> None:
    s = src()
    with pre.connect() as conn:
        due = conn.execute("SELECT clock_timestamp() + interval '400 ms'").fetchone()[0]
        jid = conn.execute("SELECT mcp_jobs.enqueue_job(%s, 't', p_run_at => %s)", (s, due)).fetchone()[0]
        w = start_waiting(pre, conn, [s], wait_ms=20_000)
        w.join(10)
        assert w.row is not None and w.row[0] == jid, (w.is_alive(), w.error)
        late = (w.row[1] - due).total_seconds() * 1000
        assert 0 <= late < 250, late


def test_a_freed_slot_of_a_limited_queue_wakes_a_waiter(pre: Cluster) -> None:
    s = src()
    with pre.connect() as conn:
        conn.execute("SELECT mcp_jobs.set_queue(%s, p_max_concurrency => 1)", (s,))
        conn.execute("SELECT mcp_jobs.enqueue_job(%s, 't') FROM generate_series(1, 2)", (s,))
        first = conn.execute("SELECT id, run_id FROM mcp_jobs.claim_next_job('a', %s)", ([s],)).fetchone()
        w = start_waiting(pre, conn, [s], wait_ms=20_000)
        assert w.is_alive() and w.row is None  # held back by the limit
        conn.execute("SELECT mcp_jobs.complete_job(%s, %s)", first)
        w.join(10)
        assert w.row is not None and w.row[0] != first[0]


def test_bad_wait_values_are_refused(pre: Cluster) -> None:
    with pre.connect() as conn:
        for bad in (-1, 60_001):
            with pytest.raises(psycopg.errors.InvalidParameterValue):
                conn.execute("SELECT * FROM mcp_jobs.claim_next_job('w', p_wait_ms => %s)", (bad,))


# --- without the preload: the session cluster --------------------------------------------------

def test_without_preload_waiting_claims_poll(cluster: Cluster) -> None:
    s = src()
    with cluster.connect() as conn:
        d = diag(conn)
        assert d["preloaded"] is False and d["wakeups"].startswith("polling"), d
        w = start_waiting(cluster, conn, [s], wait_ms=20_000)
        jid = conn.execute("SELECT mcp_jobs.enqueue_job(%s, 't')", (s,)).fetchone()[0]
        committed = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        w.join(10)
        assert w.row is not None and w.row[0] == jid
        assert (w.row[1] - committed).total_seconds() < 0.5  # within a polling period or so
        # nothing due: the claim returns empty after its wait
        t0 = time.monotonic()
        assert conn.execute("SELECT count(*) FROM mcp_jobs.claim_next_job('w', %s, p_wait_ms => 300)",
                            ([s],)).fetchone()[0] == 0
        assert 0.25 < time.monotonic() - t0 < 3


def test_a_lease_that_ends_during_the_wait_puts_its_job_back_to_the_waiter(pre: Cluster) -> None:
    s = src()
    with pre.connect() as conn:
        conn.execute("SET mcp_jobs.lease_sweep_interval = 0")
        jid = conn.execute("SELECT mcp_jobs.enqueue_job(%s, 't')", (s,)).fetchone()[0]
        # a worker takes it on a one-second lease and dies
        conn.execute("SELECT * FROM mcp_jobs.claim_next_job('dead', %s, p_lease_seconds => 1)", ([s],))
        until = conn.execute("SELECT lease_expires_at FROM mcp_jobs.jobs WHERE id = %s", (jid,)).fetchone()[0]
        w = start_waiting(pre, conn, [s], wait_ms=20_000, sql_prefix="SET mcp_jobs.lease_sweep_interval = 0")
        w.join(10)
        assert w.row is not None and w.row[0] == jid, w.error
        late = (w.row[1] - until).total_seconds() * 1000
        assert 0 <= late < 500, late  # at the lease's end, not at the end of the wait


def test_a_claim_that_took_back_a_lease_does_not_hold_it_through_a_wait(pre: Cluster) -> None:
    mine, other = src(), src()
    with pre.connect() as conn:
        jid = conn.execute("SELECT mcp_jobs.enqueue_job(%s, 't')", (other,)).fetchone()[0]
        conn.execute("SELECT * FROM mcp_jobs.claim_next_job('dead', %s, p_lease_seconds => 1)", ([other],))
        conn.execute("UPDATE mcp_jobs.jobs SET lease_expires_at = now() - interval '1 second' WHERE id = %s",
                     (jid,))
        conn.execute("SET mcp_jobs.lease_sweep_interval = 0")
        t0 = time.monotonic()
        rows = conn.execute("SELECT count(*) FROM mcp_jobs.claim_next_job('w', %s, p_wait_ms => 10000)",
                            ([mine],)).fetchone()
        # it returned at once (nothing of its own to claim), committing the requeue
        assert rows[0] == 0 and time.monotonic() - t0 < 5
        assert conn.execute("SELECT status, attempts FROM mcp_jobs.jobs WHERE id = %s", (jid,)).fetchone() == \
            ("queued", 1)
