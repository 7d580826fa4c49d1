"""The TypeScript worker (clients/js createWorker) in node processes over HTTP (PostgREST 12.0.2 behind
nginx): many workers at once, failures, retries and dead letters, a worker killed mid-job, SIGTERM,
heartbeats, a lost lease, PostgREST restarted under load. What happened is read from the database."""

import signal
import time
from datetime import timedelta
from typing import Any

from e2e_stack import Stack
from jsworker_helpers import (
    DB,
    RETRY_BASE_DELAY_MS,
    Db,
    WorkerProcess,
    enqueue_many,
    job_state,
    no_waiting_claims,
    outcome_counts,
    row,
    scalar,
    terminate_all,
    waiting_claims,
)
from pgharness import Cluster, wait_until


def _completed(db: Db, source: str) -> int:
    return int(scalar(db, "SELECT count(*) FROM mcp_jobs.jobs WHERE source = %s AND status = 'completed'", (source,)))


def _events(db: Db, job_id: str) -> list[str]:
    rows = db.execute("SELECT event_type FROM mcp_jobs.job_events WHERE job_id = %s ORDER BY id", (job_id,)).fetchall()
    return [str(r[0]) for r in rows]


def test_four_worker_processes_complete_2000_jobs_each_exactly_once(url: str, key: str, db: Db, source: str) -> None:
    n = 8000
    enqueue_many(db, source, n)
    # two take one job per round trip (complete_and_claim_next), two claim and complete in batches; of
    # each kind one runs until nothing is due (runUntilIdle) and one until SIGTERM (waiting claims)
    configs: list[dict[str, Any]] = [
        dict(concurrency=4, untilIdle=True),
        dict(concurrency=4, waitMs=2000),
        dict(concurrency=8, batchSize=16, untilIdle=True),
        dict(concurrency=8, batchSize=16, waitMs=2000),
    ]
    workers = [WorkerProcess(url, key, source, workerId=f"{source}-w{i}", **c) for i, c in enumerate(configs)]
    started = time.monotonic()
    try:
        wait_until(lambda: _completed(db, source) == n, timeout=120, interval=0.2, what="every job completed")
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
        # what each process says it did agrees with the database; never more in flight than concurrency
        exits = [w.events("exit")[0] for w in workers]
        assert [e["completed"] for e in exits] == [per_worker[f"{source}-w{i}"] for i in range(4)]
        assert all(e["failed"] == e["lost"] == e["abandoned"] == 0 for e in exits)
        assert [e["max_in_flight"] <= c["concurrency"] for e, c in zip(exits, configs, strict=True)] == [True] * 4
        print(
            f"\n{n} jobs by 4 TypeScript worker processes in {elapsed:.1f}s; per worker: {sorted(per_worker.values())}"
        )
    finally:
        for w in workers:
            w.close()


def test_a_throwing_handler_is_retried_with_backoff_then_dead_lettered(url: str, key: str, db: Db, source: str) -> None:
    job_id = scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'flaky', '{}', p_max_attempts => 3)::text", (source,))
    w = WorkerProcess(url, key, source, concurrency=2, waitMs=1000)
    try:
        wait_until(lambda: job_state(db, job_id) == ("failed", 3), timeout=30, what="the dead letter")
        runs = db.execute(
            "SELECT attempt, outcome, error, started_at, finished_at FROM mcp_jobs.job_runs "
            "WHERE job_id = %s ORDER BY started_at",
            (job_id,),
        ).fetchall()
        assert [(r[0], r[1], r[2]) for r in runs] == [
            (k, "failed", f"Error: upstream said no (attempt {k})") for k in (1, 2, 3)
        ]
        # each retry waited at least half of retry_base_delay * 2^(n-1) (equal jitter)
        for k in (1, 2):
            waited = runs[k][3] - runs[k - 1][4]
            assert waited >= timedelta(milliseconds=RETRY_BASE_DELAY_MS * 2 ** (k - 1) / 2), (k, waited)
        assert _events(db, job_id) == ["enqueued"] + ["started", "failed", "retry_scheduled"] * 2 + [
            "started",
            "failed",
            "dead_lettered",
        ]
        dl = row(
            db, "SELECT attempts, last_error, details FROM mcp_jobs.dead_letter_queue WHERE job_id = %s", (job_id,)
        )
        assert dl[:2] == (3, "Error: upstream said no (attempt 3)")
        assert dl[2]["error_type"] == "Error" and "analysis" not in dl[2]
        stack = dl[2]["stack"]
        assert "at flaky" in stack and "jsworker_proc.mjs" in stack
        assert "worker.js" not in stack  # trimmed: the worker's own frames are not part of it
        wait_until(lambda: len(w.events("job:failed")) == 3, timeout=10, what="three job:failed events")
        failed = w.events("job:failed")
        assert [e["retry"] for e in failed] == [True, True, True]
        assert [e["status"] for e in failed] == ["queued", "queued", "failed"]
        assert terminate_all([w]) == [0]
    finally:
        w.close()


def test_analyze_failure_no_retry_dead_letters_at_once_with_its_reason(url: str, key: str, db: Db, source: str) -> None:
    auth = scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'flaky', '{\"kind\": \"auth\"}')::text", (source,))
    other = scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'flaky', '{}', p_max_attempts => 2)::text", (source,))
    # a job type without a handler (claimed because the worker takes every type): failed without retry
    orphan = scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'nobody', '{}')::text", (source,))
    w = WorkerProcess(url, key, source, concurrency=3, waitMs=1000, analyze="no_retry_on_auth", jobTypes="all")
    try:
        wait_until(
            lambda: [job_state(db, j) for j in (auth, other, orphan)] == [("failed", 1), ("failed", 2), ("failed", 1)],
            timeout=30,
            what="three dead letters",
        )
        assert _events(db, auth) == ["enqueued", "started", "failed", "dead_lettered"]
        reason = scalar(
            db,
            "SELECT data->>'reason' FROM mcp_jobs.job_events WHERE job_id = %s AND event_type = 'dead_lettered'",
            (auth,),
        )
        assert reason == "no_retry"
        details = scalar(db, "SELECT details FROM mcp_jobs.dead_letter_queue WHERE job_id = %s", (auth,))
        assert details["analysis"] == {
            "should_retry": False,
            "reason": "credentials rejected: upstream said no (attempt 1)",
        }
        failed_event = scalar(
            db, "SELECT data FROM mcp_jobs.job_events WHERE job_id = %s AND event_type = 'failed'", (auth,)
        )
        assert failed_event["retry"] is False and failed_event["details"]["analysis"]["should_retry"] is False
        # analyzeFailure said retry for the other: retried until its attempts ran out
        assert (
            scalar(
                db, "SELECT details->'analysis'->>'reason' FROM mcp_jobs.dead_letter_queue WHERE job_id = %s", (other,)
            )
            == "transient"
        )
        orphan_dl = row(
            db, "SELECT attempts, last_error, details FROM mcp_jobs.dead_letter_queue WHERE job_id = %s", (orphan,)
        )
        assert orphan_dl[0] == 1
        assert orphan_dl[1] == 'no handler for job type "nobody" in this worker (it handles: flaky, task)'
        assert orphan_dl[2]["reason"] == "no_handler"
        assert terminate_all([w]) == [0]
    finally:
        w.close()


def test_sigkill_mid_job_the_job_is_claimed_again_after_its_lease(url: str, key: str, db: Db, source: str) -> None:
    job_id = scalar(
        db,
        "SELECT mcp_jobs.enqueue_job(%s, 'task', %s::jsonb)::text",
        (source, '{"n": 1, "sleep": 60, "sleep_on_attempts": [1]}'),
    )
    first = WorkerProcess(url, key, source, concurrency=1, leaseSeconds=2, waitMs=1000, workerId=f"{source}-killed")
    second = None
    try:
        wait_until(lambda: job_state(db, job_id)[0] == "processing", timeout=30, what="the job to be claimed")
        first.signal(signal.SIGKILL)
        assert first.wait_exit(10) == -signal.SIGKILL
        second = WorkerProcess(
            url, key, source, concurrency=1, leaseSeconds=2, waitMs=1000, workerId=f"{source}-second"
        )
        wait_until(lambda: job_state(db, job_id)[0] == "completed", timeout=30, what="the job to complete")
        runs = db.execute(
            "SELECT attempt, worker_id, outcome FROM mcp_jobs.job_runs WHERE job_id = %s ORDER BY started_at", (job_id,)
        ).fetchall()
        assert runs == [(1, f"{source}-killed", "lease_expired"), (2, f"{source}-second", "completed")]
        assert outcome_counts(db, source) == {(1, 1, 1, 2): 1}
        assert terminate_all([second]) == [0]
    finally:
        first.close()
        if second is not None:
            second.close()


def test_sigterm_lets_the_slow_job_finish_and_claims_nothing_after(url: str, key: str, db: Db, source: str) -> None:
    no_waiting_claims(db)
    slow = scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'task', %s::jsonb)::text", (source, '{"n": 7, "sleep": 3}'))
    w = WorkerProcess(url, key, source, concurrency=2, leaseSeconds=10, waitMs=1000, workerId=f"{source}-w")
    try:
        # the slow job runs and the free slot's claim waits in the server for another job
        wait_until(
            lambda: job_state(db, slow)[0] == "processing" and waiting_claims(db) == 1,
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


def test_heartbeats_keep_a_job_three_times_longer_than_its_lease(url: str, key: str, db: Db, source: str) -> None:
    job_id = scalar(
        db, 'SELECT mcp_jobs.enqueue_job(%s, \'task\', \'{"n": 2, "sleep": 6, "progress": true}\')::text', (source,)
    )
    w = WorkerProcess(url, key, source, concurrency=1, leaseSeconds=2, waitMs=1000)
    try:
        wait_until(lambda: job_state(db, job_id) == ("completed", 1), timeout=30, what="the long job to complete")
        runs = db.execute("SELECT outcome, duration_ms FROM mcp_jobs.job_runs WHERE job_id = %s", (job_id,)).fetchall()
        assert len(runs) == 1 and runs[0][0] == "completed" and runs[0][1] >= 6000
        progress = db.execute(
            "SELECT data FROM mcp_jobs.job_events WHERE job_id = %s AND event_type = 'progress' ORDER BY id", (job_id,)
        ).fetchall()
        # ctx.progress({step: 1}) first, then a heartbeat before each lease ran out (6 s / 2 s leases)
        assert progress[0][0]["progress"] == {"step": 1}
        assert len(progress) >= 1 + 3, progress
        assert "lease_expired" not in _events(db, job_id)
        assert terminate_all([w]) == [0]
        assert len(w.events("job:heartbeat")) >= 3
    finally:
        w.close()


def test_a_lost_lease_aborts_the_handler_and_its_outcome_is_not_reported(
    url: str, key: str, db: Db, jsw_cluster: Cluster, source: str
) -> None:
    job_id = scalar(
        db,
        "SELECT mcp_jobs.enqueue_job(%s, 'task', %s::jsonb)::text",
        (source, '{"n": 5, "sleep": 30, "sleep_on_attempts": [1]}'),
    )
    w = WorkerProcess(url, key, source, concurrency=2, leaseSeconds=2, waitMs=1000)
    try:
        wait_until(lambda: job_state(db, job_id) == ("processing", 1), timeout=30, what="the first claim")
        # the lease runs out (as if the worker had hung) and the sweep requeues the job; the worker's
        # next heartbeat is refused, and its free slot claims the job again as attempt 2
        db.execute("UPDATE mcp_jobs.jobs SET lease_expires_at = now() - interval '1 second' WHERE id = %s", (job_id,))
        jsw_cluster.psql("SELECT mcp_jobs.run_maintenance();", dbname=DB)
        wait_until(lambda: job_state(db, job_id)[0] == "completed", timeout=30, what="the second attempt")
        lost = w.wait_event("job:lost", timeout=10)
        slept = w.wait_event("handler:slept", timeout=10)
        assert [(e["attempt"], e["aborted"]) for e in slept] == [(1, True)]  # ctx.signal aborted the handler
        assert len(lost) == 1 and lost[0]["attempt"] == 1
        runs = db.execute(
            "SELECT attempt, outcome FROM mcp_jobs.job_runs WHERE job_id = %s ORDER BY started_at", (job_id,)
        ).fetchall()
        assert runs == [(1, "lease_expired"), (2, "completed")]
        assert outcome_counts(db, source) == {(1, 1, 1, 2): 1}
        assert terminate_all([w]) == [0]
        assert len(w.events("job:completed")) == 1
    finally:
        w.close()


def test_postgrest_restart_while_workers_run(url: str, key: str, db: Db, source: str, jsw_stack: Stack) -> None:
    n = 1500
    enqueue_many(db, source, n, payload_sql="jsonb_build_object('n', g, 'sleep', 0.002)")
    workers = [
        WorkerProcess(url, key, source, concurrency=4, leaseSeconds=5, workerId=f"{source}-single"),
        WorkerProcess(url, key, source, concurrency=4, leaseSeconds=5, batchSize=8, workerId=f"{source}-batch"),
    ]
    pgrst = jsw_stack.postgrest
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
        # nothing lost, nothing done twice: one completed run and one completed event per job; a claim
        # whose answer was lost in the restart comes back after its lease (lease_expired, then done)
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


def test_a_refused_claim_stops_the_worker_with_the_error(url: str, source: str) -> None:
    w = WorkerProcess(url, "not-a-jwt", source, waitMs=1000)
    try:
        assert w.wait_exit(30) == 3, w.stderr_text()
        exit_ = w.events("exit")[0]
        assert exit_["code"] == "PGRST301", exit_
        assert [e["operation"] for e in w.events("error")] == ["claim"]
        assert w.events("error")[0]["status"] == 401
    finally:
        w.close()
