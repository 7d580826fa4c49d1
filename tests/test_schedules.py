"""Recurring jobs under concurrency (issue 18): two maintainers running at the same moment enqueue
each due occurrence once. The rules one at a time (DST, catch-up, bad expressions) are #[pg_test]s
in src/tests/schedule.rs."""
from __future__ import annotations

import threading
import uuid
from typing import Any

from pgharness import Cluster


def test_two_maintainers_at_the_same_moment_enqueue_an_occurrence_once(cluster: Cluster) -> None:
    name, source = "sched-" + uuid.uuid4().hex[:8], "sched-src-" + uuid.uuid4().hex[:8]
    with cluster.connect() as conn, cluster.connect(autocommit=False) as a, cluster.connect(autocommit=False) as b:
        conn.execute("SELECT mcp_jobs.schedule_job(%s, '* * * * *', %s, 'tick')", (name, source))
        # maintainer A takes the due schedule and holds it (its transaction is open)
        assert a.execute("SELECT mcp_jobs.run_schedules(now() + interval '1 minute')").fetchone()[0] == 1
        # maintainer B at the same moment: the schedule is A's, B enqueues nothing and does not wait
        assert b.execute("SELECT mcp_jobs.run_schedules(now() + interval '1 minute')").fetchone()[0] == 0
        b.rollback()
        a.commit()
        # B again after A committed: the occurrence is done
        assert b.execute("SELECT mcp_jobs.run_schedules(now() + interval '1 minute')").fetchone()[0] == 0
        b.commit()
        assert conn.execute("SELECT count(*) FROM mcp_jobs.jobs WHERE source = %s", (source,)).fetchone()[0] == 1


def test_many_maintainers_racing_over_many_occurrences(cluster: Cluster) -> None:
    """8 sessions run run_schedules together for each of 15 minutes (all at the same moment of the
    schedule's time): each minute's occurrence is enqueued exactly once, whoever gets it."""
    name, source = "sched-" + uuid.uuid4().hex[:8], "sched-src-" + uuid.uuid4().hex[:8]
    with cluster.connect() as conn:
        conn.execute("SELECT mcp_jobs.schedule_job(%s, '* * * * *', %s, 'tick')", (name, source))
        start = conn.execute("SELECT now()").fetchone()[0]
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def maintainer() -> None:
        try:
            with cluster.connect() as c:
                for m in range(1, 16):
                    barrier.wait(30)
                    c.execute("SELECT mcp_jobs.run_schedules(%s::timestamptz + make_interval(mins => %s))",
                              (start, m))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=maintainer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with cluster.connect() as conn:
        keys = [r[0] for r in conn.execute("SELECT idempotency_key FROM mcp_jobs.jobs WHERE source = %s "
                                           "ORDER BY run_at", (source,)).fetchall()]
        assert len(keys) == 15 and len(set(keys)) == 15, keys
        row: Any = conn.execute("SELECT last_run_at, next_run_at FROM mcp_jobs.list_schedules() WHERE name = %s",
                                (name,)).fetchone()
        assert row[1] > row[0]
        conn.execute("SELECT mcp_jobs.unschedule_job(%s)", (name,))
