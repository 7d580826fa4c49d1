"""Item 5 of issue 6: pg_dump / restore keeps every row of every mcp_jobs table, and the queue keeps
working in the restored database.

The source database holds a queued job, a processing job with progress events, a completed job, a
job waiting for its retry, a cancelled job, a failed job with an open dead letter, a failed job whose
dead letter was resolved, and a metrics row. It is dumped in custom format (pg_dump -Fc, restored with
pg_restore) and in plain format (pg_dump -Fp, restored with psql), each into a new database created
empty. Restores are normal ones (no --disable-triggers, no --data-only): CREATE EXTENSION from the dump
recreates the tables, and pg_extension_config_dump makes pg_dump emit their rows.
"""
import os
import subprocess

import pytest
from faultlib import check_invariants, connect, new_cluster

KEYS = {
    "jobs": "id",
    "job_runs": "id",
    "job_events": "id",
    "dead_letter_queue": "id",
    "metrics": "hour, source, job_type",
    "queues": "source, job_type",
    "schedules": "name",
}


@pytest.fixture(scope="module")
def source():
    """A cluster whose database `src` holds a job in every state. Yields (cluster, ids)."""
    c = new_cluster(name="mcp_jobs_backup", dbs=("src",))
    try:
        with connect(c, "src") as conn:
            def one(sql, *args):
                return conn.execute(sql, args).fetchone()[0]
            ids = {}
            ids["queued"] = one("SELECT mcp_jobs.enqueue_job('q', 'mail', '{\"to\": \"ü@example.org\", "
                                "\"nested\": {\"a\": [1, 2.5, null, \"x\"]}}', 7, p_idempotency_key => 'k-1')")
            ids["processing"] = one("SELECT mcp_jobs.enqueue_job('p', 'report', '{\"n\": 1}')")
            ids["processing_run"] = one("SELECT run_id FROM mcp_jobs.claim_next_job('w-p', ARRAY['p'], "
                                        "p_lease_seconds => 3600)")
            for pct in (10, 50):
                one("SELECT mcp_jobs.report_progress(%s, %s, jsonb_build_object('pct', %s))",
                    ids["processing"], ids["processing_run"], pct)
            ids["completed"] = one("SELECT mcp_jobs.enqueue_job('c', 'sync')")
            run = one("SELECT run_id FROM mcp_jobs.claim_next_job('w-c', ARRAY['c'])")
            one("SELECT mcp_jobs.report_progress(%s, %s, '\"half\"')", ids["completed"], run)
            one("SELECT mcp_jobs.complete_job(%s, %s, '{\"rows\": 42}')", ids["completed"], run)
            ids["retrying"] = one("SELECT mcp_jobs.enqueue_job('r', 'sync')")
            run = one("SELECT run_id FROM mcp_jobs.claim_next_job('w-r', ARRAY['r'])")
            one("SELECT mcp_jobs.fail_job(%s, %s, 'timeout, will retry')", ids["retrying"], run)
            ids["cancelled"] = one("SELECT mcp_jobs.enqueue_job('x', 'sync')")
            one("SELECT mcp_jobs.cancel_job(%s)", ids["cancelled"])
            ids["dead"] = one("SELECT mcp_jobs.enqueue_job('d', 'charge', '{\"amount\": 5}')")
            run = one("SELECT run_id FROM mcp_jobs.claim_next_job('w-d', ARRAY['d'])")
            one("SELECT mcp_jobs.fail_job(%s, %s, 'card declined', false)", ids["dead"], run)
            ids["dead_letter"] = one("SELECT id FROM mcp_jobs.dead_letter_queue WHERE job_id = %s", ids["dead"])
            ids["resolved"] = one("SELECT mcp_jobs.enqueue_job('e', 'charge', p_max_attempts => 1)")
            run = one("SELECT run_id FROM mcp_jobs.claim_next_job('w-e', ARRAY['e'])")
            one("SELECT mcp_jobs.fail_job(%s, %s, 'fatal')", ids["resolved"], run)
            ids["resolved_letter"] = one("SELECT id FROM mcp_jobs.dead_letter_queue WHERE job_id = %s",
                                         ids["resolved"])
            one("SELECT mcp_jobs.resolve_dead_letter(%s, 'refunded by hand')", ids["resolved_letter"])
            conn.execute("INSERT INTO mcp_jobs.metrics (hour, source, job_type, enqueued, started, completed, "
                         "failed, success_rate, run_ms_p50, run_ms_p95) VALUES "
                         "(date_trunc('hour', now()), 'c', 'sync', 3, 2, 1, 1, 0.5, 12.5, 99.25)")
            # flow control settings (with a rate window in progress) and a schedule
            one("SELECT mcp_jobs.set_queue('q', p_max_concurrency => 2, p_max_queued => 100)")
            one("SELECT mcp_jobs.set_queue('c', 'sync', p_rate_limit => 60, p_rate_period => interval '1 minute')")
            one("SELECT mcp_jobs.pause_queue('x')")
            one("SELECT mcp_jobs.schedule_job('nightly', '0 3 * * *', 'c', 'sync', '{\"full\": true}', "
                "p_timezone => 'Europe/Berlin')")
            stats = one("SELECT mcp_jobs.get_job_stats()")
            assert stats["queued"] == 2 and stats["processing"] == 1 and stats["completed"] == 1
            assert stats["failed"] == 2 and stats["cancelled"] == 1 and stats["dead_letter_unresolved"] == 1
            assert check_invariants(conn) == {}
        yield c, ids
    finally:
        c.destroy()


def snapshot(cluster, db):
    """Every row of every mcp_jobs table as ordered full-row text, and the event id sequence."""
    with connect(cluster, db) as conn:
        out = {t: conn.execute(f"SELECT count(*), coalesce(string_agg(x::text, E'\\n' ORDER BY {k}), '') "
                               f"FROM mcp_jobs.{t} x").fetchone()
               for t, k in KEYS.items()}
        out["job_events_id_seq"] = conn.execute(
            "SELECT last_value, is_called FROM mcp_jobs.job_events_id_seq").fetchone()
    return out


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    return p.returncode, p.stdout, p.stderr


def dump_and_restore(cluster, fmt, target, tmp_path):
    b = cluster.bindir
    path = str(tmp_path / f"src.{fmt}")
    rc, _, err = run([os.path.join(b, "pg_dump"), f"-F{fmt}", "-f", path, "-d", cluster.dsn("src")])
    assert rc == 0, f"pg_dump -F{fmt} failed: {err}"
    cluster.psql(f"CREATE DATABASE {target};")
    if fmt == "c":
        rc, _, err = run([os.path.join(b, "pg_restore"), "--exit-on-error", "-d", cluster.dsn(target), path])
    else:
        rc, _, err = run([os.path.join(b, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", cluster.dsn(target),
                          "-f", path])
    assert rc == 0, f"restore of the -F{fmt} dump failed:\n{err}"
    assert "ERROR" not in err, err
    return path


@pytest.mark.parametrize("fmt", ["c", "p"])
def test_dump_restore_keeps_every_row_and_the_queue_works(source, fmt, tmp_path):
    cluster, ids = source
    target = f"restored_{fmt}"
    before = snapshot(cluster, "src")
    dump_and_restore(cluster, fmt, target, tmp_path)
    after = snapshot(cluster, target)
    for t in list(KEYS) + ["job_events_id_seq"]:
        assert after[t] == before[t], f"{t} differs after a -F{fmt} dump and restore"
    assert before["jobs"][0] == 7 and before["job_events"][0] > 20 and before["metrics"][0] == 1
    assert before["queues"][0] == 3 and before["schedules"][0] == 1

    with connect(cluster, target) as conn:
        def one(sql, *args):
            return conn.execute(sql, args).fetchone()
        assert check_invariants(conn) == {}
        max_event = one("SELECT max(id) FROM mcp_jobs.job_events")[0]
        # the event id sequence continues after the restored rows: an API call inserts a new event
        one("SELECT mcp_jobs.report_progress(%s, %s, '{\"pct\": 90}')", ids["processing"], ids["processing_run"])
        assert one("SELECT max(id) FROM mcp_jobs.job_events")[0] > max_event
        # the idempotency key came back with the row: enqueuing with it again returns the existing job
        assert one("SELECT mcp_jobs.enqueue_job('q', 'mail', p_idempotency_key => 'k-1')")[0] == ids["queued"]
        assert one("SELECT count(*) FROM mcp_jobs.jobs")[0] == 7
        # the queued job is claimed (the retrying one is not due yet)
        job, run_id, attempt = one("SELECT id, run_id, attempt FROM mcp_jobs.claim_next_job('w2')")
        assert (job, attempt) == (ids["queued"], 1)
        assert one("SELECT mcp_jobs.complete_job(%s, %s)", job, run_id)[0]["status"] == "completed"
        # the processing job is completed by its run from before the dump
        out = one("SELECT mcp_jobs.complete_job(%s, %s, '{\"done\": true}')", ids["processing"],
                  ids["processing_run"])[0]
        assert out["status"] == "completed" and out["attempt"] == 1
        # the open dead letter is requeued and runs again; the resolved one stays resolved
        assert one("SELECT mcp_jobs.requeue_dead_letter(%s)", ids["dead_letter"])[0] == ids["dead"]
        job, run_id, attempt = one("SELECT id, run_id, attempt FROM mcp_jobs.claim_next_job('w2', ARRAY['d'])")
        assert (job, attempt) == (ids["dead"], 1)
        one("SELECT mcp_jobs.complete_job(%s, %s)", job, run_id)
        with pytest.raises(Exception) as ei:
            one("SELECT mcp_jobs.requeue_dead_letter(%s)", ids["resolved_letter"])
        assert getattr(ei.value, "sqlstate", None) == "55000"
        # a new job goes through the whole cycle
        new = one("SELECT mcp_jobs.enqueue_job('n', 'new')")[0]
        job, run_id = one("SELECT id, run_id FROM mcp_jobs.claim_next_job('w2', ARRAY['n'])")
        assert job == new
        one("SELECT mcp_jobs.complete_job(%s, %s)", job, run_id)
        stats = one("SELECT mcp_jobs.get_job_stats()")[0]
        assert stats["completed"] == 5 and stats["queued"] == 1 and stats["dead_letter_unresolved"] == 0
        # the restored settings apply: 'x' is paused, 'q' caps its queue, the schedule runs once
        one("SELECT mcp_jobs.enqueue_job('x', 'sync')")
        assert one("SELECT count(*) FROM mcp_jobs.claim_next_job('w2', ARRAY['x'])")[0] == 0
        assert one("SELECT queued, max_queued FROM mcp_jobs.get_queues() WHERE source = 'q'") == (0, 100)
        assert one("SELECT mcp_jobs.run_schedules(now() + interval '1 day')")[0] == 1
        assert one("SELECT mcp_jobs.run_schedules(now() + interval '1 day')")[0] == 0
    # the source database was not changed by the dump
    assert snapshot(cluster, "src") == before
