"""Item 1 of issue 6: a worker whose backend dies is replaced after its lease.

The worker's backend is terminated (pg_terminate_backend) while its job is processing: once right
inside an uncommitted complete_job (the work was done, the acknowledgement was lost), once idle after
the claim, once in the middle of a statement after report_progress. Each time, after the lease, another
worker's claim_next_job gets the same job with the next attempt number; the dead run is closed as
'lease_expired' with a 'lease_expired' event. After max_attempts the job is failed and in the
dead-letter queue, and no job stays 'processing'.
"""
import threading

import psycopg
import pytest
from faultlib import check_invariants, connect, new_cluster
from pgharness import wait_until

LEASE = 1


@pytest.fixture
def cluster():
    c = new_cluster(name="mcp_jobs_wcrash")
    try:
        yield c
    finally:
        c.destroy()


class Worker:
    """One worker session whose backend the test kills; a statement may run in a background thread."""

    def __init__(self, cluster, name):
        self.name = name
        self.conn = psycopg.connect(cluster.dsn(), autocommit=True)
        self.pid = self.conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        self.thread = None
        self.error = None

    def claim(self):
        return self.conn.execute(
            "SELECT id, run_id, attempt, lease_expires_at FROM mcp_jobs.claim_next_job(%s, p_lease_seconds => %s)",
            (self.name, LEASE)).fetchone()

    def run_in_background(self, sql, args=()):
        def target():
            try:
                self.conn.execute(sql, args)
            except psycopg.Error as exc:
                self.error = exc

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def close(self):
        if self.thread is not None:
            self.thread.join(timeout=30)
            assert not self.thread.is_alive()
        self.conn.close()


def terminate(admin, pid):
    assert admin.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,)).fetchone()[0] is True
    wait_until(lambda: admin.execute("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = %s",
                                     (pid,)).fetchone()[0], timeout=10, what=f"backend {pid} to exit")


def wait_active(admin, pid, text):
    wait_until(lambda: admin.execute(
        "SELECT state = 'active' AND query LIKE %s FROM pg_stat_activity WHERE pid = %s",
        (f"%{text}%", pid)).fetchone()[0], timeout=10, what=f"backend {pid} to run {text}")


def sweep(admin):
    """What any worker's claim does first: requeue / dead-letter expired leases (claims nothing here)."""
    admin.execute("SELECT count(*) FROM mcp_jobs.claim_next_job('sweeper', ARRAY['no-such-source'])")


def test_terminated_worker_job_is_reclaimed_then_dead_lettered(cluster):
    with connect(cluster) as admin:
        job = admin.execute("SELECT mcp_jobs.enqueue_job('crash', 'work', '{\"n\": 1}', p_max_attempts => 3)"
                            ).fetchone()[0]
        prev = None  # (run id, lease_expires_at) of the attempt whose worker was killed
        for attempt in (1, 2, 3):
            w = Worker(cluster, f"worker-{attempt}")
            try:
                if prev is None:
                    row = w.claim()
                else:
                    # claims by the replacement worker find nothing until the dead worker's lease is over
                    row = wait_until(w.claim, timeout=15, what=f"attempt {attempt} to be claimable")
                job_id, run_id, got_attempt, lease_end = row
                assert (job_id, got_attempt) == (job, attempt)
                if prev is not None:
                    prev_run, prev_lease = prev
                    # not handed out before the previous lease ended
                    started = admin.execute("SELECT started_at FROM mcp_jobs.job_runs WHERE id = %s",
                                            (run_id,)).fetchone()[0]
                    assert started >= prev_lease
                    outcome, finished, err = admin.execute(
                        "SELECT outcome, finished_at, error FROM mcp_jobs.job_runs WHERE id = %s",
                        (prev_run,)).fetchone()
                    assert outcome == "lease_expired" and finished is not None and "lease expired" in err
                    evs = [r[0] for r in admin.execute(
                        "SELECT event_type FROM mcp_jobs.job_events WHERE run_id = %s ORDER BY id", (prev_run,))]
                    assert evs == ["started", "lease_expired", "retry_scheduled"], evs

                if attempt == 1:
                    # the work is done and complete_job ran, but the worker dies before COMMIT
                    w.conn.execute("BEGIN")
                    w.conn.execute("SELECT mcp_jobs.complete_job(%s, %s)", (job, run_id))
                    w.run_in_background("SELECT pg_sleep(60)")
                    wait_active(admin, w.pid, "pg_sleep")
                elif attempt == 2:
                    pass  # idle after the committed claim: the worker process is busy outside the database
                else:
                    w.conn.execute("SELECT mcp_jobs.report_progress(%s, %s, '{\"pct\": 10}')", (job, run_id))
                    w.run_in_background("SELECT pg_sleep(60)")
                    wait_active(admin, w.pid, "pg_sleep")
                terminate(admin, w.pid)
                if w.thread is not None:
                    w.thread.join(timeout=30)
                    assert isinstance(w.error, psycopg.OperationalError), w.error
                status = admin.execute("SELECT status FROM mcp_jobs.jobs WHERE id = %s", (job,)).fetchone()[0]
                assert status == "processing", "the kill itself must not change the job (the lease does)"
                lease_end = admin.execute("SELECT lease_expires_at FROM mcp_jobs.jobs WHERE id = %s",
                                          (job,)).fetchone()[0]
                prev = (run_id, lease_end)
            finally:
                w.close()

        # the last lease expires: the next sweep fails the job into the dead-letter queue
        def dead():
            sweep(admin)
            return admin.execute("SELECT status = 'failed' FROM mcp_jobs.jobs WHERE id = %s", (job,)).fetchone()[0]

        wait_until(dead, timeout=15, what="the job to be dead-lettered")
        status, attempts, last_error = admin.execute(
            "SELECT status, attempts, last_error FROM mcp_jobs.jobs WHERE id = %s", (job,)).fetchone()
        assert (status, attempts) == ("failed", 3) and last_error.startswith("lease expired")
        dl = admin.execute("SELECT attempts, resolved, payload FROM mcp_jobs.dead_letter_queue WHERE job_id = %s",
                           (job,)).fetchall()
        assert dl == [(3, False, {"n": 1})]
        runs = admin.execute("SELECT attempt, outcome FROM mcp_jobs.job_runs WHERE job_id = %s ORDER BY attempt",
                             (job,)).fetchall()
        assert runs == [(1, "lease_expired"), (2, "lease_expired"), (3, "lease_expired")]
        events = [r[0] for r in admin.execute(
            "SELECT event_type FROM mcp_jobs.job_events WHERE job_id = %s ORDER BY id", (job,))]
        assert events == ["enqueued",
                          "started", "lease_expired", "retry_scheduled",
                          "started", "lease_expired", "retry_scheduled",
                          "started", "progress", "lease_expired", "dead_lettered"], events
        assert admin.execute("SELECT count(*) FROM mcp_jobs.jobs WHERE status = 'processing'").fetchone()[0] == 0
        assert check_invariants(admin) == {}


def test_many_jobs_of_killed_workers_all_end_dead_lettered(cluster):
    """Four workers each hold several jobs and are killed, twice; every job ends failed + dead-lettered,
    none stays processing (the sweep handles 8 expired leases per claim, so this takes several claims)."""
    n_jobs, per_worker = 24, 6
    with connect(cluster) as admin:
        admin.execute("SELECT mcp_jobs.enqueue_job('many', 'work', jsonb_build_object('i', i), "
                      "p_max_attempts => 2) FROM generate_series(1, %s) i", (n_jobs,))
        for round_ in (1, 2):
            workers = [Worker(cluster, f"r{round_}w{k}") for k in range(n_jobs // per_worker)]
            try:
                for w in workers:
                    for _ in range(per_worker):
                        row = wait_until(w.claim, timeout=15, what="a claimable job")
                        assert row[2] == round_
                assert admin.execute("SELECT count(*) FROM mcp_jobs.jobs WHERE status = 'processing'"
                                     ).fetchone()[0] == n_jobs
                for w in workers:
                    terminate(admin, w.pid)
            finally:
                for w in workers:
                    w.close()

        def none_processing():
            sweep(admin)
            return admin.execute("SELECT count(*) = 0 FROM mcp_jobs.jobs WHERE status = 'processing'").fetchone()[0]

        wait_until(none_processing, timeout=20, what="no job left processing")
        assert admin.execute("SELECT count(*) FROM mcp_jobs.jobs WHERE status = 'failed' AND attempts = 2"
                             ).fetchone()[0] == n_jobs
        assert admin.execute("SELECT count(*) FROM mcp_jobs.dead_letter_queue WHERE NOT resolved").fetchone()[0] \
            == n_jobs
        assert admin.execute("SELECT count(*) FROM mcp_jobs.job_runs WHERE outcome = 'lease_expired'"
                             ).fetchone()[0] == 2 * n_jobs
        assert check_invariants(admin) == {}


def test_worker_killed_inside_complete_and_claim_next_strands_nothing(cluster):
    """complete_and_claim_next completes one job and claims the next in one transaction. A worker that
    dies before that transaction commits leaves both as they were: the job it held is still its
    processing job (its lease brings it back), and the next job is still queued, with no run and no
    'started' event, so another worker claims it at once instead of after a lease."""
    with connect(cluster) as admin:
        held = admin.execute("SELECT mcp_jobs.enqueue_job('loop', 'work', '{\"n\": 1}', 9)").fetchone()[0]
        nxt = admin.execute("SELECT mcp_jobs.enqueue_job('loop', 'work', '{\"n\": 2}', 1)").fetchone()[0]
        w = Worker(cluster, "looper")
        try:
            job_id, run_id = w.conn.execute(
                "SELECT id, run_id FROM mcp_jobs.claim_next_job('looper', p_lease_seconds => 3600)").fetchone()
            assert job_id == held
            w.conn.execute("BEGIN")
            handed = w.conn.execute(
                "SELECT id FROM mcp_jobs.complete_and_claim_next(%s, %s, '{\"ok\": true}', 'looper', "
                "p_lease_seconds => 3600)", (held, run_id)).fetchone()
            assert handed == (nxt,)
            w.run_in_background("SELECT pg_sleep(60)")
            wait_active(admin, w.pid, "pg_sleep")
            terminate(admin, w.pid)
            w.thread.join(timeout=30)
            assert isinstance(w.error, psycopg.OperationalError), w.error
        finally:
            w.close()

        row = admin.execute("SELECT status, current_run_id, result FROM mcp_jobs.jobs WHERE id = %s",
                            (held,)).fetchone()
        assert row == ("processing", run_id, None), "the completion died with the transaction"
        assert admin.execute("SELECT outcome FROM mcp_jobs.job_runs WHERE id = %s", (run_id,)).fetchone()[0] is None
        row = admin.execute("SELECT status, attempts, current_run_id FROM mcp_jobs.jobs WHERE id = %s",
                            (nxt,)).fetchone()
        assert row == ("queued", 0, None), "the claim died with the transaction"
        assert admin.execute("SELECT count(*) FROM mcp_jobs.job_runs WHERE job_id = %s", (nxt,)).fetchone()[0] == 0
        assert [r[0] for r in admin.execute(
            "SELECT event_type FROM mcp_jobs.job_events WHERE job_id = %s ORDER BY id", (nxt,))] == ["enqueued"]

        # another worker gets the next job at once (no lease to wait for), as attempt 1
        other = admin.execute("SELECT id, attempt FROM mcp_jobs.claim_next_job('other')").fetchone()
        assert other == (nxt, 1)
        # and the dead worker's own job is still its run's to complete (the lease has not expired)
        done = admin.execute("SELECT mcp_jobs.complete_job(%s, %s)", (held, run_id)).fetchone()[0]
        assert done["status"] == "completed"
        assert check_invariants(admin) == {}
