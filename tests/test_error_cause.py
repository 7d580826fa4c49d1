"""An error PostgreSQL raises inside the extension's own SQL (here a lock timeout) reaches the
client with its own SQLSTATE and message, and no Rust backtrace in its DETAIL, even when the server
runs with RUST_BACKTRACE=1 in its environment."""
import os
import threading

import psycopg
import pytest
from pgharness import Cluster


@pytest.fixture(scope="module")
def bt_cluster():
    old = os.environ.get("RUST_BACKTRACE")
    os.environ["RUST_BACKTRACE"] = "1"  # inherited by the postmaster
    try:
        c = Cluster(name="mcp_jobs_bt").start()
    finally:
        if old is None:
            os.environ.pop("RUST_BACKTRACE")
        else:
            os.environ["RUST_BACKTRACE"] = old
    try:
        c.psql("CREATE EXTENSION mcp_jobs;")
        yield c
    finally:
        c.destroy()


def test_lock_timeout_keeps_its_cause(bt_cluster):
    locked = threading.Event()
    release = threading.Event()

    def hold_lock():
        with psycopg.connect(bt_cluster.dsn()) as conn:
            conn.execute("LOCK TABLE mcp_jobs.jobs IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(30)
            conn.rollback()

    t = threading.Thread(target=hold_lock)
    t.start()
    try:
        assert locked.wait(30)
        with psycopg.connect(bt_cluster.dsn(), autocommit=True) as conn:
            conn.execute("SET lock_timeout = '200ms'")
            with pytest.raises(psycopg.Error) as exc:
                conn.execute("SELECT mcp_jobs.enqueue_job('s', 't')")
    finally:
        release.set()
        t.join(30)
    assert exc.value.sqlstate == "55P03"
    assert "lock timeout" in exc.value.diag.message_primary
    detail = exc.value.diag.message_detail or ""
    assert "pgrx" not in detail and "backtrace" not in detail.lower(), detail
