"""mcp_jobs with the library preloaded: the MCP Jobs design's monitoring SQL through psql, and the maintenance
background worker in a real cluster (waits for the extension, survives errors, reloads, restarts in
another database, no transaction between rounds, prompt shutdown).

Run: cargo pgrx install --pg-config $PG_CONFIG; PG_CONFIG=... python3 -m pytest tests/metrics -q
"""
import time

import pytest
from pgharness import Cluster, wait_until

# The MCP Jobs design's "Monitoring" block, verbatim.
DESIGN_SQL = """\
-- Job queue depth by source
SELECT source, status, COUNT(*) as count
FROM mcp_jobs.jobs
WHERE status IN ('queued', 'running')
GROUP BY source, status;

-- Success rate by source
SELECT source, job_type,
  COUNT(*) FILTER (WHERE status = 'completed') as completed,
  COUNT(*) FILTER (WHERE status = 'failed') as failed
FROM mcp_jobs.jobs
WHERE created_at > NOW() - INTERVAL '7 days'
GROUP BY source, job_type;

-- Dead letter queue (unresolved failures)
SELECT source, job_type, COUNT(*) as count
FROM mcp_jobs.dead_letter_queue
WHERE NOT resolved
GROUP BY source, job_type;
"""

WORKER = "SELECT pid, datname, xact_start IS NULL AND backend_xid IS NULL AND backend_xmin IS NULL " \
         "FROM pg_stat_activity WHERE backend_type = 'mcp_jobs maintenance'"


@pytest.fixture(scope="module")
def pre():
    c = Cluster(conf={"shared_preload_libraries": "'mcp_jobs'",
                      "mcp_jobs.maintenance_interval": "'500ms'",
                      "mcp_jobs.database": "'postgres'"},
                name="mcp_jobs_metrics").start()
    try:
        yield c
    finally:
        c.destroy()


def worker(conn):
    return conn.execute(WORKER).fetchone()


def test_worker_waits_for_extension_then_maintains(pre):
    with pre.connect() as conn:
        first = wait_until(lambda: worker(conn), timeout=30, what="the maintenance worker")
        assert first[1] == "postgres"
        wait_until(lambda: "extension mcp_jobs is not created" in pre.log_text(), timeout=30,
                   what="the worker to notice the extension is missing")
        # idle rounds without the extension: no error, same process
        assert not [line for line in pre.log_text().splitlines()
                    if "mcp_jobs maintenance" in line and "failed" in line]
        conn.execute("CREATE EXTENSION mcp_jobs")
        wait_until(lambda: "extension found in database" in pre.log_text(), timeout=30,
                   what="the worker to find the extension")
        assert worker(conn)[0] == first[0]

        job = conn.execute("SELECT mcp_jobs.enqueue_job('w_src', 'w_type')").fetchone()[0]
        row = conn.execute("SELECT id FROM mcp_jobs.claim_next_job(p_sources => ARRAY['w_src'], "
                           "p_lease_seconds => 1)").fetchone()
        assert row[0] == job

        def requeued():
            st = conn.execute("SELECT status FROM mcp_jobs.jobs WHERE id = %s", (job,)).fetchone()[0]
            m = conn.execute("SELECT coalesce(sum(lease_expired), 0), coalesce(sum(enqueued), 0) "
                             "FROM mcp_jobs.metrics WHERE source = 'w_src'").fetchone()
            return st == "queued" and m[0] >= 1 and m[1] >= 1
        wait_until(requeued, timeout=30, what="the worker to requeue the job and write metrics")


def test_no_transaction_between_rounds(pre):
    with pre.connect() as conn:
        wait_until(lambda: worker(conn), timeout=30, what="the maintenance worker")
        samples = []
        for _ in range(40):
            samples.append(worker(conn)[2])
            time.sleep(0.05)
        # a round takes milliseconds; between rounds nothing is open
        assert samples.count(True) >= 30, samples


def test_worker_survives_errors(pre):
    with pre.connect() as conn:
        wait_until(lambda: worker(conn), timeout=30, what="the maintenance worker")
        conn.execute("CREATE EXTENSION IF NOT EXISTS mcp_jobs")
        pid = worker(conn)[0]
        # make every aggregation fail (check violation on the metrics upsert)
        conn.execute("SELECT mcp_jobs.enqueue_job('err_src', 't')")
        conn.execute("ALTER TABLE mcp_jobs.metrics ADD CONSTRAINT mcp_test_break CHECK (source <> 'err_src')")
        try:
            wait_until(lambda: "mcp_jobs maintenance: the metrics failed" in pre.log_text(), timeout=30,
                       what="a WARNING for the failed step")
            # the worker goes on: same process
            assert worker(conn)[0] == pid
        finally:
            conn.execute("ALTER TABLE mcp_jobs.metrics DROP CONSTRAINT mcp_test_break")
        wait_until(lambda: conn.execute("SELECT count(*) FROM mcp_jobs.metrics WHERE source = 'err_src'")
                   .fetchone()[0] == 1, timeout=30, what="metrics once the error is gone")
        assert worker(conn)[0] == pid


def test_reload_moves_worker_to_other_database(pre):
    with pre.connect() as conn:
        wait_until(lambda: worker(conn), timeout=30, what="the maintenance worker")
        conn.execute("CREATE DATABASE mcp_other")
        conn.execute("ALTER SYSTEM SET mcp_jobs.database = 'mcp_other'")
        conn.execute("SELECT pg_reload_conf()")
        try:
            wait_until(lambda: (worker(conn) or (0, None))[1] == "mcp_other", timeout=30,
                       what="the worker to restart in mcp_other")
        finally:
            conn.execute("ALTER SYSTEM RESET mcp_jobs.database")
            conn.execute("SELECT pg_reload_conf()")
        wait_until(lambda: (worker(conn) or (0, None))[1] == "postgres", timeout=30,
                   what="the worker back in postgres")


def test_design_queries_in_psql(pre):
    pre.psql("CREATE EXTENSION IF NOT EXISTS mcp_jobs;")
    pre.psql("""
        INSERT INTO mcp_jobs.jobs (source, job_type) SELECT 'psql_a', 'sync' FROM generate_series(1, 3);
        INSERT INTO mcp_jobs.jobs (source, job_type, status, lease_expires_at, current_run_id, attempts)
          SELECT 'psql_a', 'sync', 'processing', now() + interval '1 hour', mcp_jobs.uuidv7(), 1
            FROM generate_series(1, 2);
        INSERT INTO mcp_jobs.jobs (source, job_type, status, finished_at, attempts)
          SELECT 'psql_a', 'sync', 'completed', now(), 1 FROM generate_series(1, 4);
        INSERT INTO mcp_jobs.jobs (source, job_type, status, finished_at, attempts)
          VALUES ('psql_a', 'sync', 'failed', now(), 3);
        INSERT INTO mcp_jobs.dead_letter_queue (job_id, source, job_type, payload, attempts)
          SELECT mcp_jobs.uuidv7(), 'psql_a', 'sync', '{}', 3 FROM generate_series(1, 2);
    """)
    rc, out, err = pre.psql(DESIGN_SQL, extra=("-A", "-t"))
    assert rc == 0 and "ERROR" not in err, err
    lines = [l for l in out.splitlines() if l.startswith("psql_a")]
    assert sorted(lines) == sorted(["psql_a|queued|3", "psql_a|sync|4|1", "psql_a|sync|2"]), out


def test_fast_shutdown_is_prompt():
    c = Cluster(conf={"shared_preload_libraries": "'mcp_jobs'",
                      "mcp_jobs.maintenance_interval": "'1h'"},
                name="mcp_jobs_stop").start()
    try:
        with c.connect() as conn:
            wait_until(lambda: worker(conn), timeout=30, what="the maintenance worker")
        t0 = time.monotonic()
        c.stop("fast")
        assert time.monotonic() - t0 < 10
        assert "mcp_jobs maintenance worker stopping" in c.log_text()
    finally:
        c.destroy()
