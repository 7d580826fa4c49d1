"""mcp_jobs.Worker in separate processes over HTTP (PostgREST 12.0.2 behind nginx): many workers at
once, a worker killed mid-job, a worker stopped by SIGTERM, PostgREST restarted under load. What
happened is read from the database: runs, events and job rows."""

import signal
import time
from typing import Any

from e2e_stack import Stack
from pgharness import wait_until
from pyclient_helpers import (
    Db,
    WorkerProcess,
    enqueue_many,
    no_waiting_claims,
    outcome_counts,
    row,
    scalar,
    terminate_all,
    waiting_claims,
)


def _completed(db: Db, source: str) -> int:
    return int(scalar(db, "SELECT count(*) FROM mcp_jobs.jobs WHERE source = %s AND status = 'completed'", (source,)))


def test_four_worker_processes_complete_8000_jobs_exactly_once(url: str, key: str, db: Db, source: str) -> None:
    n = 8000
    enqueue_many(db, source, n)
    # two take one job per round trip (complete_and_claim_next), two claim and complete in batches; of
    # each kind one runs until nothing is due (claims that do not wait) and one runs until SIGTERM
    # (claims that wait in the server when nothing is due)
    configs: list[dict[str, Any]] = [
        dict(concurrency=4, until_idle=True),
        dict(concurrency=4, claim_wait=2.0),
        dict(concurrency=8, batch_size=16, until_idle=True),
        dict(concurrency=8, batch_size=16, claim_wait=2.0),
    ]
    workers = [WorkerProcess(url, key, source, worker_id=f"{source}-w{i}", **c) for i, c in enumerate(configs)]
    started = time.monotonic()
    try:
        wait_until(lambda: _completed(db, source) == n, timeout=150, interval=0.2, what="every job completed")
        elapsed = time.monotonic() - started
        codes = [workers[0].wait_exit(30), workers[2].wait_exit(30), *terminate_all([workers[1], workers[3]])]
        assert codes == [0, 0, 0, 0], [w.stderr_text() for w in workers]
        # every job: one run, completed; one 'completed' event; no failure, retry or lease expiry
        assert outcome_counts(db, source) == {(1, 0, 1, 0): n}
        bad = scalar(
            db,
            """SELECT count(*) FROM mcp_jobs.jobs
                WHERE source = %s AND (status <> 'completed' OR attempts <> 1
                   OR result <> jsonb_build_object('n', payload->'n', 'double', (payload->>'n')::int * 2))""",
            (source,),
        )
        assert bad == 0
        per_worker: dict[str, int] = dict(
            db.execute(
                """SELECT r.worker_id, count(*) FROM mcp_jobs.job_runs r JOIN mcp_jobs.jobs j ON j.id = r.job_id
                WHERE j.source = %s GROUP BY 1""",
                (source,),
            ).fetchall()
        )
        assert set(per_worker) == {f"{source}-w{i}" for i in range(4)} and sum(per_worker.values()) == n
        # what each process says it did agrees with the database
        exits = [w.events("exit")[0] for w in workers]
        assert [e["completed"] for e in exits] == [per_worker[f"{source}-w{i}"] for i in range(4)]
        assert all(e["failed"] == e["lost"] == e["abandoned"] == 0 for e in exits)
        print(f"\n8000 jobs by 4 worker processes in {elapsed:.1f}s; per worker: {sorted(per_worker.values())}")
    finally:
        for w in workers:
            w.close()


def test_sigkill_mid_job_the_job_is_claimed_again_after_its_lease(url: str, key: str, db: Db, source: str) -> None:
    job_id = scalar(
        db,
        "SELECT mcp_jobs.enqueue_job(%s, 'task', %s::jsonb)::text",
        (source, '{"n": 1, "sleep": 60, "sleep_on_attempts": [1]}'),
    )
    first = WorkerProcess(
        url, key, source, concurrency=1, lease_seconds=2, claim_wait=1.0, worker_id=f"{source}-killed"
    )
    second = None
    try:
        wait_until(
            lambda: scalar(db, "SELECT status = 'processing' FROM mcp_jobs.jobs WHERE id = %s", (job_id,)),
            timeout=30,
            what="the job to be claimed",
        )
        first.signal(signal.SIGKILL)
        assert first.wait_exit(10) == -signal.SIGKILL
        second = WorkerProcess(
            url, key, source, concurrency=1, lease_seconds=2, claim_wait=1.0, worker_id=f"{source}-second"
        )
        wait_until(
            lambda: scalar(db, "SELECT status = 'completed' FROM mcp_jobs.jobs WHERE id = %s", (job_id,)),
            timeout=30,
            what="the job to complete",
        )
        runs = db.execute(
            "SELECT attempt, worker_id, outcome FROM mcp_jobs.job_runs WHERE job_id = %s ORDER BY started_at", (job_id,)
        ).fetchall()
        assert runs == [(1, f"{source}-killed", "lease_expired"), (2, f"{source}-second", "completed")]
        # one completed run and event; the expired run with its lease_expired and retry_scheduled events
        assert outcome_counts(db, source) == {(1, 1, 1, 2): 1}
        assert terminate_all([second]) == [0]
    finally:
        first.close()
        if second is not None:
            second.close()


def test_sigterm_lets_the_slow_job_finish_and_claims_nothing_after(url: str, key: str, db: Db, source: str) -> None:
    no_waiting_claims(db)
    slow = scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'task', %s::jsonb)::text", (source, '{"n": 7, "sleep": 3}'))
    w = WorkerProcess(url, key, source, concurrency=2, lease_seconds=10, claim_wait=1.0, worker_id=f"{source}-w")
    try:
        # the slow job runs and the free slot's claim waits in the server for another job
        wait_until(
            lambda: (
                scalar(db, "SELECT status = 'processing' FROM mcp_jobs.jobs WHERE id = %s", (slow,))
                and waiting_claims(db) == 1
            ),
            timeout=30,
            what="the slow job claimed and a claim waiting",
        )
        signalled_at = scalar(db, "SELECT clock_timestamp()")
        w.signal(signal.SIGTERM)
        w.wait_event("worker:stopping", timeout=10)
        # the claim that was waiting when the signal came ends after its wait (1 s) with nothing; the
        # worker sends no other. Due jobs it would claim at once (a slot is free) if it claimed:
        no_waiting_claims(db, timeout=10)
        later = [scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'task', '{\"n\": 1}')::text", (source,)) for _ in range(3)]
        assert w.wait_exit(timeout=30) == 0, w.stderr_text()
        assert row(db, "SELECT status, attempts, result FROM mcp_jobs.jobs WHERE id = %s", (slow,)) == (
            "completed",
            1,
            {"n": 7, "double": 14},
        )
        # the later jobs were enqueued while the worker still ran the slow job, and stayed queued
        assert scalar(
            db,
            "SELECT bool_and(l.created_at < s.finished_at) FROM mcp_jobs.jobs l, mcp_jobs.jobs s "
            "WHERE l.id = ANY(%s) AND s.id = %s",
            (later, slow),
        )
        assert (
            scalar(
                db,
                "SELECT count(*) FROM mcp_jobs.job_runs r JOIN mcp_jobs.jobs j ON j.id = r.job_id "
                "WHERE j.source = %s AND r.started_at > %s",
                (source, signalled_at),
            )
            == 0
        )
        assert row(
            db, "SELECT array_agg(DISTINCT status), sum(attempts) FROM mcp_jobs.jobs WHERE id = ANY(%s)", (later,)
        ) == (["queued"], 0)
        types = [e["type"] for e in w.events()]
        assert types.index("worker:stopping") < types.index("job:completed") < types.index("worker:stopped")
        assert types.count("job:claimed") == 1
    finally:
        w.close()


def test_postgrest_restart_while_workers_run(url: str, key: str, db: Db, source: str, pyc_stack: Stack) -> None:
    n = 1500
    enqueue_many(db, source, n, payload_sql="jsonb_build_object('n', g, 'sleep', 0.002)")
    workers = [
        WorkerProcess(url, key, source, concurrency=4, lease_seconds=5, worker_id=f"{source}-single"),
        WorkerProcess(url, key, source, concurrency=4, lease_seconds=5, batch_size=8, worker_id=f"{source}-batch"),
    ]
    pgrst = pyc_stack.postgrest
    try:
        wait_until(lambda: _completed(db, source) >= 200, timeout=60, what="200 jobs done before the restart")
        pgrst.proc.terminate()
        pgrst.proc.wait(timeout=10)
        # both workers see the outage (nginx answers 502) and keep retrying
        for w in workers:
            wait_until(
                lambda w=w: [e for e in w.events("error") if e.get("status") == 502],  # type: ignore[misc]
                timeout=30,
                what="the worker to report the outage",
            )
        done_during_outage = _completed(db, source)
        pgrst.start()
        wait_until(lambda: _completed(db, source) == n, timeout=90, what="every job completed after the restart")
        assert done_during_outage < n
        assert terminate_all(workers) == [0, 0]
        summary = outcome_counts(db, source)
        # nothing lost, nothing done twice: every job has exactly one completed run and one completed event;
        # a claim whose answer was lost in the restart comes back after its lease (lease_expired, then done)
        assert {k[0] for k in summary} == {1} and {k[2] for k in summary} == {1}, summary
        assert sum(summary.values()) == n
        failed = scalar(
            db,
            "SELECT count(*) FROM mcp_jobs.job_events e JOIN mcp_jobs.jobs j ON j.id = e.job_id "
            "WHERE j.source = %s AND e.event_type = 'failed'",
            (source,),
        )
        assert failed == 0
        errors = sum(len(w.events("error")) for w in workers)
        print(f"\nrestart: {done_during_outage} of {n} done before, {errors} error events, outcomes {summary}")
    finally:
        if not pgrst.alive():
            pgrst.start()
        for w in workers:
            w.close()


def test_the_example_worker_runs_as_written(url: str, key: str, db: Db, source: str) -> None:
    """clients/python/examples/worker.py: enqueue as the MCP Jobs design's Odoo code does, run the example
    with SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY, stop it with SIGTERM."""
    import os
    import subprocess
    import sys

    from mcp_jobs import Client

    example = os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python", "examples", "worker.py")
    with Client(url, key) as client:
        job_id = client.enqueue_job(source, "discovery", {"host": "erp-1"}, priority=5)
        env = {**os.environ, "SUPABASE_URL": url, "SUPABASE_SERVICE_ROLE_KEY": key}
        proc = subprocess.Popen([sys.executable, example], env=env, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        try:
            wait_until(lambda: client.get_job(job_id)["status"] == "completed", timeout=30, what="the example's job")
            detail = client.get_job(job_id)
            assert detail["result"] == {"host": "erp-1", "found": 0}
            progress = [e["data"]["progress"] for e in detail["events"] if e["event_type"] == "progress"]
            assert progress[0] == {"host": "erp-1", "step": "scanning"}
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0, proc.stderr.read().decode()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stderr.close()
