"""Maintenance under volume (issue 21): pruning that works through a backlog round by round, and
metrics rolled forward incrementally that equal a full recomputation.

A cluster of this module gives pruning no time budget (mcp_jobs.prune_budget = 0): each round then
deletes exactly one batch, so a backlog larger than a batch needs several rounds. Each test works in
a database of its own.
"""
from __future__ import annotations

import itertools
import math
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from pgharness import Cluster, wait_until


@pytest.fixture(scope="module")
def mcluster() -> Iterator[Cluster]:
    c = Cluster(conf={"mcp_jobs.prune_budget": "0"}, name="mcp_jobs_maint").start()
    try:
        yield c
    finally:
        c.destroy()


_n = itertools.count()


@pytest.fixture
def db(mcluster: Cluster) -> Iterator[psycopg.Connection[Any]]:
    name = f"maint_{next(_n)}"
    mcluster.psql(f"CREATE DATABASE {name};")
    mcluster.psql("CREATE EXTENSION mcp_jobs;", dbname=name)
    conn = mcluster.connect(name)
    try:
        yield conn
    finally:
        conn.close()


def old_id(i: int) -> str:
    """A UUIDv7 of 1970 (its timestamp bits are small): a job enqueued long before any cutoff."""
    return str(uuid.UUID(f"00000000-{i >> 16:04x}-7{i & 0xfff:03x}-8000-{i:012x}"))


def insert_old_jobs(conn: psycopg.Connection[Any], n: int) -> None:
    """n jobs of source 'old' that completed 29 days ago, without events: prunable at any retention."""
    conn.execute("""INSERT INTO mcp_jobs.jobs (id, source, job_type, status, attempts, created_at, finished_at)
                    SELECT x.id::uuid, 'old', 't', 'completed', 1, now() - interval '30 days',
                           now() - interval '29 days'
                      FROM unnest(%s::text[]) x(id)""", ([old_id(i) for i in range(1, n + 1)],))


def worker_cluster_with_backlog(name: str, n: int, conf: dict[str, str]) -> Cluster:
    """A started cluster with the maintenance worker (interval 60 s, one prune batch per round or
    pass) and n old jobs, restarted so that the worker's first round finds them (before, it found no
    extension and waits for the interval). The caller destroys it."""
    c = Cluster(conf={"shared_preload_libraries": "'mcp_jobs'", "mcp_jobs.maintenance_interval": "'60s'",
                      "mcp_jobs.prune_budget": "0", **conf}, name=name).start()
    try:
        c.psql("CREATE EXTENSION mcp_jobs;")
        with c.connect() as conn:
            insert_old_jobs(conn, n)
        c.stop()
        c.start()
    except BaseException:
        c.destroy()
        raise
    return c


def test_a_backlog_larger_than_a_round_is_pruned_by_the_following_rounds(db: psycopg.Connection[Any]) -> None:
    n = 3500
    db.execute("SET mcp_jobs.retention = '1d'")
    with db.transaction():
        insert_old_jobs(db, n)
        db.execute("""INSERT INTO mcp_jobs.job_events (job_id, event_type, created_at)
                      SELECT id, 'completed', finished_at FROM mcp_jobs.jobs WHERE source = 'old'""")
        # kept whatever their age: an old job with an unresolved dead letter, and unfinished ones
        db.execute("""INSERT INTO mcp_jobs.jobs (id, source, job_type, status, attempts, created_at, finished_at)
                      VALUES (%s, 'keep', 't', 'failed', 3, now() - interval '30 days', now() - interval '29 days')""",
                   (old_id(n + 1),))
        db.execute("""INSERT INTO mcp_jobs.dead_letter_queue (job_id, source, job_type, payload, attempts)
                      VALUES (%s, 'keep', 't', '{}', 3)""", (old_id(n + 1),))
        db.execute("""INSERT INTO mcp_jobs.jobs (id, source, job_type, created_at)
                      VALUES (%s, 'keep', 'queued', now() - interval '30 days')""", (old_id(n + 2),))
    reports = []
    for _ in range(10):
        r = db.execute("SELECT mcp_jobs.run_maintenance()").fetchone()[0]
        reports.append(r)
        if r["prune_done"]:
            break
    pruned = [r["jobs_pruned"] for r in reports]
    # one batch per round (no budget): 1000 the first round, the cursor carries on from there
    assert pruned[0] == 1000 and not reports[0]["prune_done"], reports[0]
    assert len(reports) >= 3 and sum(pruned) == n, pruned
    assert db.execute("SELECT count(*) FROM mcp_jobs.jobs WHERE source = 'old'").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM mcp_jobs.job_events e WHERE NOT EXISTS "
                      "(SELECT 1 FROM mcp_jobs.jobs j WHERE j.id = e.job_id)").fetchone()[0] == 0
    assert sorted(r[0] for r in db.execute("SELECT job_type FROM mcp_jobs.jobs WHERE source = 'keep'")) == \
        ["queued", "t"]
    # a further round starts again from the beginning and finds nothing
    r = db.execute("SELECT mcp_jobs.run_maintenance()").fetchone()[0]
    assert r["jobs_pruned"] == 0 and r["prune_done"]


def work_round(db: psycopg.Connection[Any], source: str, i: int) -> None:
    """Some activity: enqueues, claims, completions, failures (retries, dead letters), a cancel."""
    db.execute("SELECT mcp_jobs.enqueue_job(%s, %s, p_max_attempts => 2) FROM generate_series(1, 12)",
               (source, "a" if i % 2 else "b"))
    for k, (jid, run) in enumerate(db.execute(
            "SELECT id, run_id FROM mcp_jobs.claim_jobs('m', %s, p_limit => 10)", ([source],)).fetchall()):
        if k % 4 == 0:
            db.execute("SELECT mcp_jobs.fail_job(%s, %s, 'boom')", (jid, run))
        else:
            db.execute("SELECT pg_sleep(%s)", ((k % 3) * 0.002,))  # run times that differ
            db.execute("SELECT mcp_jobs.complete_job(%s, %s)", (jid, run))
    left = db.execute("SELECT id FROM mcp_jobs.jobs WHERE source = %s AND status = 'queued' LIMIT 1",
                      (source,)).fetchone()
    if left:
        db.execute("SELECT mcp_jobs.cancel_job(%s)", left)


COLS = ("hour, source, job_type, enqueued, started, completed, failed, retried, dead_lettered, cancelled, "
        "lease_expired, success_rate, run_ms_avg, run_ms_p50, run_ms_p95, run_ms_max, wait_ms_p50, wait_ms_p95, "
        "run_ms_sketch, wait_ms_sketch")


def metrics_rows(db: psycopg.Connection[Any], source: str) -> list[tuple[Any, ...]]:
    return db.execute(f"SELECT {COLS} FROM mcp_jobs.metrics WHERE source = %s ORDER BY hour, job_type",
                      (source,)).fetchall()


def test_metrics_rolled_forward_over_many_rounds_equal_a_recomputation(db: psycopg.Connection[Any]) -> None:
    source = "roll"
    # no lag behind now(): this test's events are all committed before each round (one session)
    db.execute("SET mcp_jobs.metrics_lag = 0")
    for i in range(12):
        work_round(db, source, i)
        report = db.execute("SELECT mcp_jobs.run_maintenance()").fetchone()[0]
        assert report["metrics_to"] is not None
    incremental = metrics_rows(db, source)
    assert incremental and sum(r[3] for r in incremental) == 144
    db.execute("SELECT mcp_jobs.aggregate_metrics(now() - interval '2 hours', now() + interval '1 hour')")
    recomputed = metrics_rows(db, source)
    # counts exactly, sketches' buckets exactly (they merge by adding bucket counts), so the
    # percentiles too; sums of floats (the average) to the last bits of their order of addition
    def exact(r: tuple[Any, ...]) -> tuple[Any, ...]:
        sketches = tuple((sk or {}).get("b") for sk in r[-2:]) + tuple((sk or {}).get("n") for sk in r[-2:])
        return r[:12] + r[13:-2] + sketches

    assert [exact(r) for r in incremental] == [exact(r) for r in recomputed]
    for a, b in zip(incremental, recomputed):
        assert (a[12] is None and b[12] is None) or math.isclose(a[12], b[12], rel_tol=1e-9)
    # and the counts agree with the event log
    events = dict(db.execute("""SELECT e.event_type, count(*) FROM mcp_jobs.job_events e
                                  JOIN mcp_jobs.jobs j ON j.id = e.job_id WHERE j.source = %s
                                 GROUP BY 1""", (source,)).fetchall())
    assert sum(r[5] for r in recomputed) == events["completed"]
    assert sum(r[6] for r in recomputed) == events["failed"]
    assert sum(r[7] for r in recomputed) == events.get("retry_scheduled", 0)


def test_percentiles_are_within_one_percent_of_percentile_disc(db: psycopg.Connection[Any]) -> None:
    """Run times with a wide spread, written as the API writes them (duration_ms of 'completed'
    events); the metrics' p50/p95 against percentile_disc over the same values."""
    with db.transaction():
        db.execute("""INSERT INTO mcp_jobs.jobs (id, source, job_type, status, attempts, finished_at)
                      SELECT mcp_jobs.uuidv7(), 'pct', 't', 'completed', 1, now() FROM generate_series(1, 2000)""")
        db.execute("""INSERT INTO mcp_jobs.job_events (job_id, event_type, data)
                      SELECT id, 'completed', jsonb_build_object('duration_ms', exp(random() * 12))
                        FROM mcp_jobs.jobs WHERE source = 'pct'""")
    db.execute("SELECT mcp_jobs.aggregate_metrics()")
    p50, p95, n = db.execute("SELECT run_ms_p50, run_ms_p95, completed FROM mcp_jobs.metrics "
                             "WHERE source = 'pct'").fetchone()
    assert n == 2000
    e50, e95 = db.execute("""SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY (data->>'duration_ms')::float8),
                                    percentile_disc(0.95) WITHIN GROUP (ORDER BY (data->>'duration_ms')::float8)
                               FROM mcp_jobs.job_events e JOIN mcp_jobs.jobs j ON j.id = e.job_id
                              WHERE j.source = 'pct'""").fetchone()
    assert math.isclose(p50, e50, rel_tol=0.01), (p50, e50)
    assert math.isclose(p95, e95, rel_tol=0.01), (p95, e95)


def test_a_recomputation_and_the_next_rounds_count_each_event_once(db: psycopg.Connection[Any]) -> None:
    """aggregate_metrics() between rounds counts the events up to the watermark only; the rounds
    after it add the rest, once."""
    db.execute("SET mcp_jobs.metrics_lag = 0")
    db.execute("SELECT mcp_jobs.enqueue_job('once', 't') FROM generate_series(1, 20)")
    db.execute("SELECT mcp_jobs.run_maintenance()")
    db.execute("SELECT mcp_jobs.enqueue_job('once', 't') FROM generate_series(1, 5)")
    db.execute("SELECT mcp_jobs.aggregate_metrics()")  # the 5 are after the watermark
    assert db.execute("SELECT sum(enqueued) FROM mcp_jobs.metrics WHERE source = 'once'").fetchone()[0] == 20
    for _ in range(3):
        db.execute("SELECT mcp_jobs.run_maintenance()")
        db.execute("SELECT mcp_jobs.aggregate_metrics()")
    assert db.execute("SELECT sum(enqueued) FROM mcp_jobs.metrics WHERE source = 'once'").fetchone()[0] == 25


def test_the_worker_follows_a_backlog_round_with_another_after_a_second() -> None:
    """A backlog larger than a round's pruning (here: one batch per round) is worked off by rounds a
    second apart, not one per maintenance_interval (60 s here)."""
    c = worker_cluster_with_backlog("mcp_jobs_backlog", 4000, {"mcp_jobs.retention": "'1h'"})
    try:
        with c.connect() as conn:
            wait_until(lambda: conn.execute("SELECT count(*) FROM mcp_jobs.jobs").fetchone()[0] == 0,
                       timeout=45, interval=0.2, what="the backlog pruned by rounds a second apart")
    finally:
        c.destroy()


def test_a_retention_of_minutes_prunes_only_jobs_whose_events_are_in_the_metrics(
        db: psycopg.Connection[Any]) -> None:
    # ten jobs finished two minutes ago: older than a one-minute retention, younger than the hour
    with db.transaction():
        db.execute("""INSERT INTO mcp_jobs.jobs (id, source, job_type, status, attempts, created_at, finished_at)
                      SELECT x.id::uuid, 'ret', 't', 'completed', 1, now() - interval '3 minutes',
                             now() - interval '2 minutes'
                        FROM unnest(%s::text[]) x(id)""", ([old_id(i) for i in range(1, 11)],))
        db.execute("""INSERT INTO mcp_jobs.job_events (job_id, event_type, created_at)
                      SELECT id, 'completed', finished_at FROM mcp_jobs.jobs WHERE source = 'ret'""")
    db.execute("SET mcp_jobs.retention = '1min'")
    # the metrics trail an hour behind: the jobs' events are not in them, the jobs stay
    db.execute("SET mcp_jobs.metrics_lag = '1h'")
    r = db.execute("SELECT mcp_jobs.run_maintenance()").fetchone()[0]
    assert db.execute("SELECT count(*) FROM mcp_jobs.jobs WHERE source = 'ret'").fetchone()[0] == 10, r
    # once the metrics hold them, the jobs go
    db.execute("SET mcp_jobs.metrics_lag = 0")
    r = db.execute("SELECT mcp_jobs.run_maintenance()").fetchone()[0]
    assert r["jobs_pruned"] == 10, r
    assert db.execute("SELECT sum(completed) FROM mcp_jobs.metrics WHERE source = 'ret'").fetchone()[0] == 10


def test_the_worker_prunes_jobs_as_they_become_prunable_between_rounds() -> None:
    """While pruning has work, a pass of the metrics and pruning follows a second after the last:
    jobs finished under load leave seconds after their retention, not once per maintenance_interval
    (60 s here; the test ends long before a second round). A trickle of jobs is completed while the
    passes run; a backlog of old jobs, one batch per pass (prune_budget 0), keeps the first passes
    busy until the trickle's jobs become prunable. (Before passes, the rounds a second apart ended
    with the backlog, and the trickle's jobs piled up until the next round.)"""
    # one batch of 1000 per round or pass (each starts at 1000): five passes of backlog
    c = worker_cluster_with_backlog("mcp_jobs_passes", 5000, {"mcp_jobs.retention": "'1s'",
                                                              "mcp_jobs.metrics_lag": "0"})
    try:
        started = time.monotonic()
        stop = threading.Event()
        done: list[str] = []

        def trickle() -> None:
            with c.connect() as w:
                w.autocommit = True
                while not stop.wait(0.1):  # the load's pace: ten jobs a second
                    w.execute("SELECT mcp_jobs.enqueue_job('trickle', 't')")
                    row = w.execute("SELECT id, run_id FROM mcp_jobs.claim_next_job(p_sources => '{trickle}')").fetchone()
                    assert row is not None
                    w.execute("SELECT mcp_jobs.complete_job(%s, %s)", row)
                    done.append(str(row[0]))

        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        try:
            with c.connect() as conn:
                conn.autocommit = True

                def trickle_pruned() -> bool:
                    left = conn.execute("SELECT count(*) FROM mcp_jobs.jobs WHERE source = 'trickle'").fetchone()[0]
                    # pruning keeps pace: what is left is the last seconds' jobs (ten a second)
                    return len(done) >= 120 and left <= 40
                wait_until(trickle_pruned, timeout=40, interval=0.2,
                           what="the trickle's jobs pruned by passes between rounds")
                assert conn.execute("SELECT count(*) FROM mcp_jobs.jobs WHERE source = 'old'").fetchone()[0] == 0
        finally:
            stop.set()
            t.join(timeout=10)
        # all within the first interval: a second round (60 s on) did not do it
        assert time.monotonic() - started < 55
    finally:
        c.destroy()
