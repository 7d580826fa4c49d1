"""Several sessions claim and complete one queue at the same time: every job is claimed exactly once,
completed exactly once, and none is lost (pgmq-style multi-session test, with real connections)."""
import threading

import psycopg


def queue_of(cluster, db, n):
    """A fresh database `db` with the extension and n queued jobs, payload {"i": 1..n}, priorities 0..10."""
    cluster.psql(f"DROP DATABASE IF EXISTS {db};")
    cluster.psql(f"CREATE DATABASE {db};")
    cluster.psql("CREATE EXTENSION mcp_jobs;", dbname=db)
    with psycopg.connect(cluster.dsn(db), autocommit=True) as conn:
        conn.execute(
            "SELECT mcp_jobs.enqueue_job('conc', 'work', jsonb_build_object('i', i), (i %% 11)) "
            "FROM generate_series(1, %s) i", (n,))


def run_workers(n, worker):
    """worker(k) for k in 0..n-1, each in its own thread; every one must finish without an error."""
    errors = []

    def target(k):
        try:
            worker(k)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads), "a worker did not finish"


def assert_drained_exactly_once(cluster, db, claimed, n):
    """`claimed[k]` lists the payload numbers worker k claimed and completed, with result {"by": k}:
    every job claimed once and by several sessions, and the tables hold one completed attempt, run,
    'started' and 'completed' event per job, each job recording the worker that completed it."""
    seen = [i for part in claimed for i in part]
    assert len(seen) == n, f"claimed {len(seen)} times for {n} jobs"
    assert sorted(seen) == list(range(1, n + 1)), "each job claimed exactly once"
    assert sum(1 for part in claimed if part) >= 2, "the work was shared by several sessions"

    with psycopg.connect(cluster.dsn(db), autocommit=True) as conn:
        q = lambda sql: conn.execute(sql).fetchone()[0]
        assert q("SELECT count(*) FROM mcp_jobs.jobs WHERE status = 'completed'") == n
        assert q("SELECT count(*) FROM mcp_jobs.jobs WHERE attempts <> 1") == 0
        assert q("SELECT count(*) FROM mcp_jobs.job_runs") == n
        assert q("SELECT count(*) FROM mcp_jobs.job_runs WHERE outcome = 'completed'") == n
        assert q("SELECT count(*) FROM mcp_jobs.job_events WHERE event_type = 'started'") == n
        assert q("SELECT count(*) FROM mcp_jobs.job_events WHERE event_type = 'completed'") == n
        # the worker recorded in each job is the one that completed it
        assert q("SELECT count(*) FROM mcp_jobs.jobs WHERE worker_id <> 'w' || (result->>'by')") == 0


N_JOBS = 10_000
N_WORKERS = 8


def test_eight_sessions_drain_ten_thousand_jobs_exactly_once(cluster):
    queue_of(cluster, "conc", N_JOBS)
    claimed = [[] for _ in range(N_WORKERS)]

    def worker(k):
        with psycopg.connect(cluster.dsn("conc"), autocommit=True) as conn:
            while True:
                with conn.transaction():
                    row = conn.execute(
                        "SELECT id, run_id, (payload->>'i')::int FROM mcp_jobs.claim_next_job(%s)",
                        (f"w{k}",)).fetchone()
                    if row is None:
                        return
                    conn.execute("SELECT mcp_jobs.complete_job(%s, %s, jsonb_build_object('by', %s))",
                                 (row[0], row[1], k))
                claimed[k].append(row[2])

    run_workers(N_WORKERS, worker)
    assert_drained_exactly_once(cluster, "conc", claimed, N_JOBS)


def test_concurrent_enqueues_with_one_idempotency_key_make_one_job(cluster):
    """16 sessions enqueue with the same (source, idempotency key) at the same moment, in open
    transactions that commit together: all get the same job id; one job and one 'enqueued' event exist."""
    cluster.psql("DROP DATABASE IF EXISTS idem;")
    cluster.psql("CREATE DATABASE idem;")
    cluster.psql("CREATE EXTENSION mcp_jobs;", dbname="idem")
    n = 16
    start = threading.Barrier(n)
    ids, errors = [None] * n, []

    def enqueue(k):
        try:
            with psycopg.connect(cluster.dsn("idem")) as conn:  # one transaction per session
                start.wait(timeout=60)
                ids[k] = conn.execute(
                    "SELECT mcp_jobs.enqueue_job('odoo', 'invoice', jsonb_build_object('by', %s), "
                    "p_idempotency_key => 'invoice-42')", (k,)).fetchone()[0]
                conn.commit()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=enqueue, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(set(ids)) == 1 and ids[0] is not None, ids
    with psycopg.connect(cluster.dsn("idem"), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM mcp_jobs.jobs").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM mcp_jobs.job_events").fetchone()[0] == 1
        assert conn.execute("SELECT id FROM mcp_jobs.jobs").fetchone()[0] == ids[0]


N_BATCH_JOBS = 5_000
N_BATCH_WORKERS = 4
BATCH = 50


def test_four_sessions_drain_five_thousand_jobs_in_batches_exactly_once(cluster):
    """claim_jobs(p_limit => 50) + complete_jobs: every job claimed and completed exactly once."""
    queue_of(cluster, "conc_batch", N_BATCH_JOBS)
    claimed = [[] for _ in range(N_BATCH_WORKERS)]
    batches = [0] * N_BATCH_WORKERS

    def worker(k):
        with psycopg.connect(cluster.dsn("conc_batch"), autocommit=True) as conn:
            while True:
                rows = conn.execute(
                    "SELECT id, run_id, (payload->>'i')::int FROM mcp_jobs.claim_jobs(%s, p_limit => %s)",
                    (f"w{k}", BATCH)).fetchall()
                if not rows:
                    return
                assert len(rows) <= BATCH
                batches[k] += 1
                out = conn.execute(
                    "SELECT job_id, completed, reason FROM mcp_jobs.complete_jobs(%s::uuid[], %s::uuid[], "
                    "(SELECT array_agg(jsonb_build_object('by', %s)) FROM generate_series(1, %s)))",
                    ([r[0] for r in rows], [r[1] for r in rows], k, len(rows))).fetchall()
                assert [o[0] for o in out] == [r[0] for r in rows], "one outcome per pair, in order"
                assert all(o[1] for o in out), [o for o in out if not o[1]]
                claimed[k].extend(r[2] for r in rows)

    run_workers(N_BATCH_WORKERS, worker)
    assert sum(batches) < N_BATCH_JOBS / 10, f"{sum(batches)} batches: claim_jobs took few jobs at a time"
    assert_drained_exactly_once(cluster, "conc_batch", claimed, N_BATCH_JOBS)


N_LOOP_JOBS = 5_000
N_LOOP_WORKERS = 6


def test_six_sessions_drain_with_complete_and_claim_next_exactly_once(cluster):
    """Workers that complete each job and claim the next in one call (complete_and_claim_next): every
    job claimed once, completed once with its own worker's result, none lost or left in flight."""
    queue_of(cluster, "conc_loop", N_LOOP_JOBS)
    claimed = [[] for _ in range(N_LOOP_WORKERS)]

    def worker(k):
        with psycopg.connect(cluster.dsn("conc_loop"), autocommit=True) as conn:
            row = conn.execute("SELECT id, run_id, (payload->>'i')::int FROM mcp_jobs.claim_next_job(%s)",
                               (f"w{k}",)).fetchone()
            while row is not None:
                claimed[k].append(row[2])
                row = conn.execute(
                    "SELECT id, run_id, (payload->>'i')::int FROM mcp_jobs.complete_and_claim_next("
                    "%s, %s, jsonb_build_object('by', %s), %s)", (row[0], row[1], k, f"w{k}")).fetchone()

    run_workers(N_LOOP_WORKERS, worker)
    assert_drained_exactly_once(cluster, "conc_loop", claimed, N_LOOP_JOBS)
