"""Item 3 of issue 6: a stale worker is fenced off by its run id.

A worker's lease expires, another worker claims the job; from then on the first worker's
complete_job, fail_job and report_progress are refused (SQLSTATE 55000, "run ... is not its current
attempt") and change nothing; the second worker's complete succeeds exactly once.
Also: a job whose lease expired but that nobody claimed again can still be completed by its worker.
"""
import psycopg
import pytest
from faultlib import check_invariants, connect, new_cluster
from pgharness import table_fingerprint, wait_until


@pytest.fixture
def conn():
    c = new_cluster(name="mcp_jobs_stale")
    try:
        with connect(c) as conn:
            yield conn
    finally:
        c.destroy()


def lease_passed(conn, job_id):
    return conn.execute("SELECT lease_expires_at < clock_timestamp() FROM mcp_jobs.jobs WHERE id = %s",
                        (job_id,)).fetchone()[0]


def refused(conn, sql, args):
    with pytest.raises(psycopg.Error) as ei:
        conn.execute(sql, args)
    return ei.value


def test_stale_worker_is_refused_and_new_owner_completes_once(conn):
    job = conn.execute("SELECT mcp_jobs.enqueue_job('stale', 'work')").fetchone()[0]
    j1, run1, att1 = conn.execute(
        "SELECT id, run_id, attempt FROM mcp_jobs.claim_next_job('w1', p_lease_seconds => 1)").fetchone()
    assert (j1, att1) == (job, 1)

    wait_until(lambda: lease_passed(conn, job), timeout=10, what="the first lease to expire")
    j2, run2, att2 = conn.execute(
        "SELECT id, run_id, attempt FROM mcp_jobs.claim_next_job('w2', p_lease_seconds => 300)").fetchone()
    assert (j2, att2) == (job, 2) and run2 != run1

    before = table_fingerprint(conn)
    calls = {
        "complete": ("SELECT mcp_jobs.complete_job(%s, %s, '{\"by\": \"w1\"}')", (job, run1)),
        "fail": ("SELECT mcp_jobs.fail_job(%s, %s, 'w1 failed')", (job, run1)),
        "fail without retry": ("SELECT mcp_jobs.fail_job(%s, %s, 'w1 failed', false)", (job, run1)),
        "report progress on": ("SELECT mcp_jobs.report_progress(%s, %s, '{\"pct\": 50}')", (job, run1)),
    }
    for action, (sql, args) in calls.items():
        err = refused(conn, sql, args)
        assert err.sqlstate == "55000", (action, err.sqlstate, str(err))
        msg = err.diag.message_primary
        assert "is not its current attempt" in msg and str(run1) in msg, (action, msg)
        assert str(run2) in (err.diag.message_detail or ""), (action, err.diag.message_detail)
        assert table_fingerprint(conn) == before, f"a refused {action} changed a table"

    out = conn.execute("SELECT mcp_jobs.complete_job(%s, %s, '{\"by\": \"w2\"}')", (job, run2)).fetchone()[0]
    assert out["status"] == "completed" and out["run_id"] == str(run2) and out["attempt"] == 2

    # the new owner's second complete, and the stale worker after the job finished, are refused too
    after = table_fingerprint(conn)
    err = refused(conn, "SELECT mcp_jobs.complete_job(%s, %s)", (job, run2))
    assert err.sqlstate == "55000", str(err)
    assert "it is completed" in err.diag.message_primary
    # the stale worker is told what happened to it, not only the job's state
    err = refused(conn, "SELECT mcp_jobs.complete_job(%s, %s)", (job, run1))
    assert err.sqlstate == "55000", str(err)
    assert "its lease expired" in err.diag.message_primary
    err = refused(conn, "SELECT mcp_jobs.fail_job(%s, %s, 'late')", (job, run1))
    assert err.sqlstate == "55000"
    err = refused(conn, "SELECT mcp_jobs.report_progress(%s, %s)", (job, run1))
    assert err.sqlstate == "55000"
    assert table_fingerprint(conn) == after

    runs = conn.execute("SELECT id, attempt, outcome, worker_id FROM mcp_jobs.job_runs WHERE job_id = %s "
                        "ORDER BY attempt", (job,)).fetchall()
    assert runs == [(run1, 1, "lease_expired", "w1"), (run2, 2, "completed", "w2")]
    status, result, current = conn.execute(
        "SELECT status, result, current_run_id FROM mcp_jobs.jobs WHERE id = %s", (job,)).fetchone()
    assert (status, result, current) == ("completed", {"by": "w2"}, run2)
    events = [r[0] for r in conn.execute(
        "SELECT event_type FROM mcp_jobs.job_events WHERE job_id = %s ORDER BY id", (job,))]
    assert events == ["enqueued", "started", "lease_expired", "retry_scheduled", "started", "completed"]
    assert check_invariants(conn) == {}


def test_expired_lease_not_yet_reclaimed_can_still_be_completed(conn):
    """Expiry is lazy: until another claim sweeps the job, its worker still owns it (documented)."""
    job = conn.execute("SELECT mcp_jobs.enqueue_job('slow', 'work')").fetchone()[0]
    run = conn.execute("SELECT run_id FROM mcp_jobs.claim_next_job('w1', p_lease_seconds => 1)").fetchone()[0]
    wait_until(lambda: lease_passed(conn, job), timeout=10, what="the lease to expire")
    # progress after expiry renews the lease of the still-current run
    out = conn.execute("SELECT mcp_jobs.report_progress(%s, %s, '{\"pct\": 90}')", (job, run)).fetchone()[0]
    assert out["status"] == "processing"
    assert not lease_passed(conn, job)
    out = conn.execute("SELECT mcp_jobs.complete_job(%s, %s)", (job, run)).fetchone()[0]
    assert out["status"] == "completed" and out["attempt"] == 1
    # a later claim finds nothing to re-deliver
    assert conn.execute("SELECT * FROM mcp_jobs.claim_next_job('w2')").fetchall() == []
    assert conn.execute("SELECT count(*) FROM mcp_jobs.job_runs WHERE job_id = %s", (job,)).fetchone()[0] == 1
    assert check_invariants(conn) == {}


def _swept_stale_run(conn, max_attempts):
    """A run whose lease expired and whose job was then swept by another worker's claim (requeued, or
    dead-lettered on its last attempt) but not claimed again. Returns (job id, stale run id)."""
    job = conn.execute("SELECT mcp_jobs.enqueue_job('swept', 'work', p_max_attempts => %s)",
                       (max_attempts,)).fetchone()[0]
    run = conn.execute("SELECT run_id FROM mcp_jobs.claim_next_job('w1', ARRAY['swept'], p_lease_seconds => 1)"
                       ).fetchone()[0]
    wait_until(lambda: lease_passed(conn, job), timeout=10, what="the lease to expire")
    # a worker for another source sweeps the expired lease and claims nothing
    assert conn.execute("SELECT * FROM mcp_jobs.claim_next_job('w2', ARRAY['other'])").fetchall() == []
    return job, run


@pytest.mark.parametrize("max_attempts,status", [(3, "queued"), (1, "failed")])
def test_stale_worker_after_sweep_before_reclaim_is_refused(conn, max_attempts, status):
    job, run = _swept_stale_run(conn, max_attempts)
    assert conn.execute("SELECT status FROM mcp_jobs.jobs WHERE id = %s", (job,)).fetchone()[0] == status
    before = table_fingerprint(conn)
    for sql in ("SELECT mcp_jobs.complete_job(%s, %s)", "SELECT mcp_jobs.fail_job(%s, %s, 'late')",
                "SELECT mcp_jobs.report_progress(%s, %s)"):
        err = refused(conn, sql, (job, run))
        assert err.sqlstate == "55000", str(err)
    assert table_fingerprint(conn) == before
    assert check_invariants(conn) == {}


def test_stale_worker_after_sweep_is_told_its_run_lost_the_lease(conn):
    job, run = _swept_stale_run(conn, 3)
    err = refused(conn, "SELECT mcp_jobs.complete_job(%s, %s)", (job, run))
    assert err.sqlstate == "55000"
    text = " ".join(filter(None, [err.diag.message_primary, err.diag.message_detail, err.diag.message_hint]))
    assert "not its current attempt" in text and "lease expired" in text, text
