"""Item 2 of issue 6: kill -9 of the postmaster during concurrent enqueue, claim, fail and complete.

Three enqueuers and three workers run on their own connections; once enough work has been
acknowledged the postmaster is killed with SIGKILL (its backends exit on their own), the cluster is
restarted (crash recovery replays the WAL). Then:
  - every enqueue whose call returned is present (ids recorded only after the call returned, i.e.
    after its autocommit COMMIT was acknowledged; synchronous_commit is on, the default);
  - every claim_next_job, complete_job and fail_job that returned is durable;
  - every job's status agrees with its runs and events (faultlib.INVARIANTS);
  - the queue keeps working: the jobs left processing by dead workers are reclaimed after their lease
    and everything drains to 'completed', still satisfying the invariants.
"""
import threading
import time

import psycopg
import pytest
from faultlib import check_invariants, connect, crash, new_cluster, restart
from pgharness import wait_until

N_ENQUEUERS = 3
N_WORKERS = 3
LEASE = 3


@pytest.fixture
def cluster():
    c = new_cluster(name="mcp_jobs_scrash", conf={"mcp_jobs.retry_base_delay": "0", "synchronous_commit": "on"})
    try:
        yield c
    finally:
        c.destroy()


class Load:
    def __init__(self, cluster):
        self.cluster = cluster
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.enqueued = []        # job ids whose enqueue_job returned
        self.completed = {}       # job id -> run id whose complete_job returned
        self.failed = {}          # (job id, run id) whose fail_job (retry) returned
        self.claimed = []         # (job id, attempt) returned by claim_next_job
        self.lost_leases = 0      # complete refused because the lease ran out (slow machine)
        self.disconnects = 0
        self.errors = []
        self.threads = []

    def _guard(self, body):
        try:
            with psycopg.connect(self.cluster.dsn(), autocommit=True) as conn:
                body(conn)
        except psycopg.OperationalError:
            with self.lock:
                self.disconnects += 1   # the crash: expected, stop this client
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(exc))

    def enqueuer(self, k):
        def body(conn):
            i = 0
            while not self.stop.is_set():
                i += 1
                job = conn.execute("SELECT mcp_jobs.enqueue_job('crash', 'work', jsonb_build_object('k', %s, 'i', %s))",
                                   (k, i)).fetchone()[0]
                with self.lock:
                    self.enqueued.append(job)
        self._guard(body)

    def worker(self, k):
        def body(conn):
            n = 0
            while not self.stop.is_set():
                row = conn.execute("SELECT id, run_id, attempt, (payload->>'i')::int FROM "
                                   "mcp_jobs.claim_next_job(%s, p_lease_seconds => %s)", (f"w{k}", LEASE)).fetchone()
                if row is None:
                    time.sleep(0.005)   # nothing due: a real worker would wait for work
                    continue
                job, run, attempt, i = row
                with self.lock:
                    self.claimed.append((job, attempt))
                n += 1
                try:
                    if attempt == 1 and i % 5 == 0:
                        conn.execute("SELECT mcp_jobs.fail_job(%s, %s, 'transient')", (job, run))
                        with self.lock:
                            self.failed[(job, run)] = True
                    elif n % 2:
                        conn.execute("SELECT mcp_jobs.complete_job(%s, %s, '{\"ok\": true}')", (job, run))
                        with self.lock:
                            self.completed[job] = run
                    else:
                        # report progress and complete in one transaction
                        with conn.transaction():
                            conn.execute("SELECT mcp_jobs.report_progress(%s, %s, '{\"pct\": 99}')", (job, run))
                            conn.execute("SELECT mcp_jobs.complete_job(%s, %s, '{\"ok\": true}')", (job, run))
                        with self.lock:
                            self.completed[job] = run
                except psycopg.errors.ObjectNotInPrerequisiteState:
                    with self.lock:
                        self.lost_leases += 1
        self._guard(body)

    def start(self):
        for k in range(N_ENQUEUERS):
            self.threads.append(threading.Thread(target=self.enqueuer, args=(k,), daemon=True))
        for k in range(N_WORKERS):
            self.threads.append(threading.Thread(target=self.worker, args=(k,), daemon=True))
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in self.threads), "a client thread did not stop"


def drain(conn, timeout=90):
    """Claim and complete until nothing is queued or processing (expired leases are swept by claims)."""
    def done():
        while True:
            row = conn.execute("SELECT id, run_id FROM mcp_jobs.claim_next_job('drain', p_lease_seconds => 60)"
                               ).fetchone()
            if row is None:
                break
            conn.execute("SELECT mcp_jobs.complete_job(%s, %s)", row)
        return conn.execute("SELECT count(*) = 0 FROM mcp_jobs.jobs WHERE status IN ('queued', 'processing')"
                            ).fetchone()[0]
    wait_until(done, timeout=timeout, interval=0.2, what="the queue to drain")


def test_kill_9_postmaster_loses_no_acknowledged_work(cluster):
    load = Load(cluster)
    load.start()
    try:
        wait_until(lambda: load.errors or (len(load.enqueued) >= 600 and len(load.completed) >= 200),
                   timeout=90, what="enough acknowledged work before the crash")
        assert not load.errors, load.errors
        killed = crash(cluster)
    finally:
        load.join()
    assert not load.errors, load.errors
    assert load.disconnects == N_ENQUEUERS + N_WORKERS, "every client should have lost its connection"

    restart(cluster)
    assert "database system was interrupted" in cluster.log_text() or "not properly shut down" in cluster.log_text()
    with connect(cluster) as conn:
        present = {r[0] for r in conn.execute("SELECT id FROM mcp_jobs.jobs")}
        missing = [j for j in load.enqueued if j not in present]
        assert not missing, f"{len(missing)} acknowledged enqueues lost, e.g. {missing[:5]}"
        assert len(set(load.enqueued)) == len(load.enqueued)

        bad = [(j, r) for j, r in load.completed.items()
               if conn.execute("SELECT status = 'completed' AND current_run_id = %s FROM mcp_jobs.jobs WHERE id = %s",
                               (r, j)).fetchone() != (True,)]
        assert not bad, f"{len(bad)} acknowledged completes lost, e.g. {bad[:5]}"
        bad = [(j, r) for (j, r) in load.failed
               if conn.execute("SELECT outcome FROM mcp_jobs.job_runs WHERE id = %s AND job_id = %s",
                               (r, j)).fetchone() != ("failed",)]
        assert not bad, f"{len(bad)} acknowledged fails lost, e.g. {bad[:5]}"

        # each claim returned a distinct (job, attempt): no attempt was handed out twice
        assert len(set(load.claimed)) == len(load.claimed)
        # every claim that returned is durable: its run is there
        runs = {(j, a) for j, a in conn.execute("SELECT job_id, attempt FROM mcp_jobs.job_runs")}
        lost = [c for c in load.claimed if c not in runs]
        assert not lost, f"{len(lost)} acknowledged claims lost, e.g. {lost[:5]}"
        violations = check_invariants(conn)
        assert violations == {}, violations
        stats = conn.execute("SELECT mcp_jobs.get_job_stats()").fetchone()[0]
        print(f"\ncrash: killed {len(killed)} processes; acknowledged {len(load.enqueued)} enqueues, "
              f"{len(load.completed)} completes, {len(load.failed)} fails, {load.lost_leases} lost leases; "
              f"after restart: {stats}")

        drain(conn)
        assert conn.execute("SELECT count(*) FROM mcp_jobs.jobs WHERE status <> 'completed'").fetchone()[0] == 0
        violations = check_invariants(conn)
        assert violations == {}, violations
