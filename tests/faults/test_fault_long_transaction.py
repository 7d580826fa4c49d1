"""Item 8 of issue 6: a long transaction that holds back vacuum does not block claims or corrupt
anything; what it costs is measured (printed with -s; numbers in docs/guarantees.md).

One session opens a REPEATABLE READ transaction, reads the queue and stays idle in transaction (its
snapshot pins the xmin horizon). Meanwhile an enqueuer and three workers push MCP_JOBS_FAULTS_LONGTX_JOBS
jobs (default 5000) through enqueue, claim and complete. Then:
  - every job was claimed once and completed, with bounded latency (generous bound);
  - the invariants hold and the old snapshot still reads the old state;
  - the dead row versions of mcp_jobs.jobs pile up and VACUUM cannot remove them while the snapshot
    is held (pgstattuple and VACUUM VERBOSE's own count);
  - after the transaction ends, VACUUM removes them.
The same workload is then run again without the long transaction, for comparison.
"""
import os
import re
import statistics
import threading
import time

import psycopg
import pytest
from faultlib import check_invariants, connect, new_cluster
from pgharness import wait_until

N_JOBS = int(os.environ.get("MCP_JOBS_FAULTS_LONGTX_JOBS", "5000"))
N_WORKERS = 3


@pytest.fixture
def cluster():
    # autovacuum off: the test runs VACUUM itself and counts what it removes; an autovacuum run right
    # after the long transaction ends would remove the dead tuples first and leave nothing to count
    c = new_cluster(name="mcp_jobs_longtx", conf={"autovacuum": "off"})
    try:
        c.psql("CREATE EXTENSION pgstattuple;")
        yield c
    finally:
        c.destroy()


def workload(cluster, tag, n):
    """One enqueuer (n jobs, one call each) and N_WORKERS claim+complete workers, concurrently.
    Returns (claim latencies in ms in claim order, claimed job ids, wall seconds)."""
    latencies, claimed, errors = [], [], []
    lock = threading.Lock()
    enqueued_all = threading.Event()

    def enqueuer():
        try:
            with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
                for i in range(n):
                    conn.execute("SELECT mcp_jobs.enqueue_job(%s, 'work', jsonb_build_object('i', %s))", (tag, i))
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))
        finally:
            enqueued_all.set()

    def worker(k):
        try:
            with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
                while True:
                    t = time.perf_counter()
                    row = conn.execute("SELECT id, run_id FROM mcp_jobs.claim_next_job(%s, ARRAY[%s])",
                                       (f"{tag}-w{k}", tag)).fetchone()
                    ms = (time.perf_counter() - t) * 1000
                    if row is None:
                        # the enqueuer is done: one more empty claim means the queue is drained
                        if enqueued_all.is_set() and conn.execute(
                                "SELECT count(*) = 0 FROM mcp_jobs.jobs WHERE source = %s AND status = 'queued'",
                                (tag,)).fetchone()[0]:
                            return
                        time.sleep(0.002)  # nothing queued yet
                        continue
                    with lock:
                        latencies.append(ms)
                        claimed.append(row[0])
                    conn.execute("SELECT mcp_jobs.complete_job(%s, %s)", row)
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))

    t0 = time.monotonic()
    threads = [threading.Thread(target=enqueuer, daemon=True)]
    threads += [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(N_WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "the workload did not finish within 5 minutes"
    assert not errors, errors[:5]
    return latencies, claimed, time.monotonic() - t0


def summary(lat):
    q = statistics.quantiles(lat, n=100)
    tenth = max(1, len(lat) // 10)
    return {"p50": q[49], "p95": q[94], "max": max(lat),
            "first10%_p50": statistics.median(lat[:tenth]), "last10%_p50": statistics.median(lat[-tenth:])}


def vacuum_verbose(conn, table="mcp_jobs.jobs"):
    """VACUUM VERBOSE; returns (removed, remain, dead but not yet removable) from its report."""
    notes = []

    def handler(diag):
        notes.append(diag.message_primary or "")

    conn.add_notice_handler(handler)
    try:
        conn.execute(f"VACUUM (VERBOSE) {table}")
    finally:
        conn.remove_notice_handler(handler)
    text = "\n".join(notes)
    m = re.search(r"tuples: (\d+) removed, (\d+) remain, (\d+) are dead but not yet removable", text)
    assert m, text
    return tuple(int(x) for x in m.groups())


def dead_tuples(conn):
    return conn.execute("SELECT dead_tuple_count, tuple_count, table_len FROM pgstattuple('mcp_jobs.jobs')").fetchone()


def test_long_repeatable_read_transaction_does_not_block_claims(cluster):
    with connect(cluster) as admin, psycopg.connect(cluster.dsn(), autocommit=False) as holder:
        admin.execute("SELECT mcp_jobs.enqueue_job('old', 'work') FROM generate_series(1, 10)")
        holder.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        seen = holder.execute("SELECT count(*) FROM mcp_jobs.jobs WHERE status = 'queued'").fetchone()[0]
        assert seen == 10
        hpid = holder.info.backend_pid
        state, xmin = admin.execute("SELECT state, backend_xmin FROM pg_stat_activity WHERE pid = %s",
                                    (hpid,)).fetchone()
        assert state == "idle in transaction" and xmin is not None
        before = dead_tuples(admin)

        lat, claimed, wall = workload(cluster, "held", N_JOBS)
        assert len(claimed) == N_JOBS and len(set(claimed)) == N_JOBS
        held = summary(lat)
        assert held["max"] < 30_000, f"a claim took {held['max']:.0f} ms"

        # the holder is still idle in transaction, with its snapshot
        assert admin.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", (hpid,)).fetchone()[0] \
            == "idle in transaction"
        assert holder.execute("SELECT count(*) FROM mcp_jobs.jobs WHERE status = 'queued'").fetchone()[0] == 10
        assert holder.execute("SELECT count(*) FROM mcp_jobs.jobs").fetchone()[0] == 10
        assert admin.execute("SELECT count(*) FROM mcp_jobs.jobs WHERE source = 'held' AND status = 'completed'"
                             ).fetchone()[0] == N_JOBS
        assert check_invariants(admin) == {}

        # the cost: dead versions of the job rows (queued and processing versions of each job) stay
        wait_until(lambda: admin.execute("SELECT n_tup_upd >= %s FROM pg_stat_user_tables "
                                         "WHERE relid = 'mcp_jobs.jobs'::regclass", (2 * N_JOBS,)).fetchone()[0],
                   timeout=30, what="table statistics to be flushed")
        n_dead_held = admin.execute("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'mcp_jobs.jobs'::regclass"
                                    ).fetchone()[0]
        dead_held = dead_tuples(admin)
        removed_held, remain_held, not_removable = vacuum_verbose(admin)
        dead_after_vacuum_held = dead_tuples(admin)
        assert not_removable >= 2 * N_JOBS, (removed_held, remain_held, not_removable)
        assert dead_after_vacuum_held[0] >= 2 * N_JOBS, "VACUUM removed tuples the old snapshot can still see"
        sizes_held = admin.execute("SELECT pg_relation_size('mcp_jobs.jobs'), pg_relation_size('mcp_jobs.jobs_claim_idx'), "
                                   "pg_relation_size('mcp_jobs.jobs_busy_idx')").fetchone()

        holder.rollback()   # the long transaction ends
        wait_until(lambda: admin.execute("SELECT state = 'idle' FROM pg_stat_activity WHERE pid = %s",
                                         (hpid,)).fetchone()[0], timeout=10, what="the holder to be idle")
        removed, remain, not_removable_after = vacuum_verbose(admin)
        dead_released = dead_tuples(admin)
        assert removed >= 2 * N_JOBS and not_removable_after == 0, (removed, remain, not_removable_after)
        assert dead_released[0] < N_JOBS // 10, dead_released

        # the same workload without a long transaction, for comparison
        lat2, claimed2, wall2 = workload(cluster, "free", N_JOBS)
        assert len(claimed2) == N_JOBS and len(set(claimed2)) == N_JOBS
        free = summary(lat2)
        assert check_invariants(admin) == {}

    fmt = lambda s: ", ".join(f"{k} {v:.2f} ms" for k, v in s.items())
    print(f"\nlong transaction, {N_JOBS} jobs, {N_WORKERS} workers + 1 enqueuer:\n"
          f"  held:  wall {wall:.1f}s, claim latency {fmt(held)}\n"
          f"  free:  wall {wall2:.1f}s, claim latency {fmt(free)}\n"
          f"  jobs table before: dead {before[0]}, live {before[1]}, {before[2]} bytes\n"
          f"  held, before VACUUM: pgstattuple dead {dead_held[0]}, live {dead_held[1]}, {dead_held[2]} bytes; "
          f"n_dead_tup {n_dead_held}\n"
          f"  held, VACUUM: {removed_held} removed, {remain_held} remain, {not_removable} dead but not yet removable; "
          f"pgstattuple dead after {dead_after_vacuum_held[0]}\n"
          f"  held sizes: jobs {sizes_held[0]} B, jobs_claim_idx {sizes_held[1]} B, jobs_busy_idx {sizes_held[2]} B\n"
          f"  released, VACUUM: {removed} removed, {remain} remain, {not_removable_after} not removable; "
          f"pgstattuple dead after {dead_released[0]}")
