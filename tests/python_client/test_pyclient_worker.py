"""mcp_jobs.Worker in this process (its threads) against the real stack: results, failures and
retries, failure analysis, missing handlers, heartbeats, a lost lease, batches, stop and its grace."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, ClassVar

import pytest

from mcp_jobs import (
    JSON,
    AuthError,
    ClaimedJob,
    Client,
    CompleteJobsRow,
    FailureAnalysis,
    Id,
    Job,
    McpJobsError,
    RunStats,
    Worker,
    WorkerEvent,
)

from e2e_stack import Stack, mint_jwt
from pgharness import Cluster, wait_until
from pyclient_helpers import (
    DB,
    RETRY_BASE_DELAY_MS,
    Db,
    Row,
    enqueue_many,
    no_waiting_claims,
    outcome_counts,
    row,
    scalar,
    waiting_claims,
)


class Recorder:
    """Collects a worker's events (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[WorkerEvent] = []

    def __call__(self, e: WorkerEvent) -> None:
        with self.lock:
            self.events.append(e)

    def of(self, type_: str) -> list[WorkerEvent]:
        with self.lock:
            return [e for e in self.events if e.type == type_]


class Background:
    """worker.run() in a thread; stop() and join on exit."""

    def __init__(self, worker: Worker, until_idle: bool = False) -> None:
        self.worker = worker
        self.result: RunStats | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(until_idle,), daemon=True)

    def _run(self, until_idle: bool) -> None:
        try:
            self.result = self.worker.run(until_idle=until_idle)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc

    @property
    def stats(self) -> RunStats:
        """What run() returned (after it returned)."""
        assert self.result is not None, f"run() has not returned: {self.error!r}"
        return self.result

    def __enter__(self) -> Background:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.worker.stop()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the worker did not stop"


class CountingClient(Client):
    """A Client that records the worker's claim_next_job and complete_jobs calls."""

    def __init__(self, url: str, key: str) -> None:
        super().__init__(url, key)
        self.claims: list[tuple[float, float, int | None, str | None]] = []  # sent, returned, wait_ms, job id
        self.completions: list[int] = []  # jobs per complete_jobs call

    def claim_next_job(
        self,
        worker_id: str | None = None,
        *,
        sources: Sequence[str] | None = None,
        job_types: Sequence[str] | None = None,
        lease_seconds: int | None = None,
        wait_ms: int | None = None,
    ) -> ClaimedJob | None:
        sent = time.monotonic()
        job = super().claim_next_job(
            worker_id, sources=sources, job_types=job_types, lease_seconds=lease_seconds, wait_ms=wait_ms
        )
        self.claims.append((sent, time.monotonic(), wait_ms, job.id if job else None))
        return job

    def complete_jobs(
        self, job_ids: Sequence[Id], run_ids: Sequence[Id], results: Sequence[JSON] | None = None
    ) -> list[CompleteJobsRow]:
        self.completions.append(len(job_ids))
        return super().complete_jobs(job_ids, run_ids, results)


def _job_state(db: Db, job_id: str) -> Row:
    return row(db, "SELECT status, attempts FROM mcp_jobs.jobs WHERE id = %s", (job_id,))


def test_run_until_idle_results_progress_and_concurrency_limit(url: str, key: str, db: Db, source: str) -> None:
    enqueue_many(db, source, 60, job_type="double")
    enqueue_many(db, source, 20, job_type="echo")
    lock = threading.Lock()
    running = [0, 0]  # now, most at once

    def double(job: Job) -> dict[str, int]:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        try:
            assert job.attempt == 1 and job.source == source and job.job_type == "double"
            if job.payload["n"] == 1:
                assert job.progress({"pct": 50}) is True
            time.sleep(0.005)  # the handler's work
            return {"double": job.payload["n"] * 2}
        finally:
            with lock:
                running[0] -= 1

    rec = Recorder()
    counting = CountingClient(url, key)
    worker = Worker(
        url,
        key,
        {"double": double, "echo": lambda job: job.payload},
        concurrency=3,
        sources=[source],
        lease_seconds=30,
        on_event=rec,
        handle_signals=False,
        client=counting,
    )
    stats = worker.run(until_idle=True)
    assert (stats.claimed, stats.completed, stats.failed, stats.lost, stats.abandoned) == (80, 80, 0, 0, 0)
    assert outcome_counts(db, source) == {(1, 0, 1, 0): 80}
    bad = scalar(
        db,
        """SELECT count(*) FROM mcp_jobs.jobs WHERE source = %s AND result IS DISTINCT FROM
                          CASE job_type WHEN 'double' THEN jsonb_build_object('double', (payload->>'n')::int * 2)
                                        ELSE payload END""",
        (source,),
    )
    assert bad == 0
    assert 1 < running[1] <= 3
    progress = db.execute(
        """SELECT e.data FROM mcp_jobs.job_events e JOIN mcp_jobs.jobs j ON j.id = e.job_id
                              WHERE j.source = %s AND e.event_type = 'progress'""",
        (source,),
    ).fetchall()
    assert progress == [({"attempt": 1, "progress": {"pct": 50}},)]
    assert len(rec.of("job:completed")) == 80 and len(rec.of("worker:stopped")) == 1
    # one round trip per job: all but a few jobs came with the completion of the one before
    # (complete_and_claim_next); claim_next_job only fills free slots and finds the queue empty
    assert len(counting.claims) < 10
    assert worker.in_flight == 0


def test_batch_mode_claims_and_completes_in_batches(url: str, key: str, db: Db, source: str) -> None:
    enqueue_many(db, source, 100, job_type="double")
    counting = CountingClient(url, key)
    calls = counting.completions
    worker = Worker(
        url,
        key,
        {"double": lambda job: job.payload["n"] * 2},
        concurrency=10,
        batch_size=10,
        sources=[source],
        handle_signals=False,
        client=counting,
    )
    stats = worker.run(until_idle=True)
    assert stats.completed == 100
    assert outcome_counts(db, source) == {(1, 0, 1, 0): 100}
    assert (
        scalar(
            db,
            "SELECT count(*) FROM mcp_jobs.jobs WHERE source = %s AND result <> to_jsonb((payload->>'n')::int * 2)",
            (source,),
        )
        == 0
    )
    # claimed together: jobs of one claim_jobs call share their run's started_at (one transaction)
    claims = scalar(
        db,
        """SELECT count(DISTINCT r.started_at) FROM mcp_jobs.job_runs r
                            JOIN mcp_jobs.jobs j ON j.id = r.job_id WHERE j.source = %s""",
        (source,),
    )
    assert claims < 50 and sum(calls) == 100 and len(calls) < 50 and max(calls) <= 10


def test_a_handler_that_raises_is_retried_with_backoff_then_dead_lettered(
    url: str, key: str, db: Db, source: str
) -> None:
    job_id = scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'flaky', '{}', p_max_attempts => 3)::text", (source,))

    def flaky(job: Job) -> None:
        raise ValueError(f"upstream said no (attempt {job.attempt})")

    rec = Recorder()
    with Background(
        Worker(url, key, {"flaky": flaky}, sources=[source], on_event=rec, handle_signals=False, claim_wait=1.0)
    ):
        wait_until(lambda: _job_state(db, job_id) == ("failed", 3), timeout=30, what="the dead letter")
    runs = db.execute(
        "SELECT attempt, outcome, error, started_at, finished_at FROM mcp_jobs.job_runs "
        "WHERE job_id = %s ORDER BY started_at",
        (job_id,),
    ).fetchall()
    assert [(r[0], r[1], r[2]) for r in runs] == [
        (n, "failed", f"ValueError: upstream said no (attempt {n})") for n in (1, 2, 3)
    ]
    # each retry waited at least half of retry_base_delay * 2^(n-1) (equal jitter)
    for n in (1, 2):
        waited = runs[n][3] - runs[n - 1][4]
        assert waited >= timedelta(milliseconds=RETRY_BASE_DELAY_MS * 2 ** (n - 1) / 2), (n, waited)
    events = [
        r[0]
        for r in db.execute(
            "SELECT event_type FROM mcp_jobs.job_events WHERE job_id = %s ORDER BY id", (job_id,)
        ).fetchall()
    ]
    assert events == ["enqueued"] + ["started", "failed", "retry_scheduled"] * 2 + [
        "started",
        "failed",
        "dead_lettered",
    ]
    dl = row(db, "SELECT attempts, last_error, details FROM mcp_jobs.dead_letter_queue WHERE job_id = %s", (job_id,))
    assert dl[:2] == (3, "ValueError: upstream said no (attempt 3)")
    assert dl[2]["error_type"] == "builtins.ValueError" and "analysis" not in dl[2]
    tb = dl[2]["traceback"]
    assert "in flaky" in tb and "ValueError: upstream said no (attempt 3)" in tb
    assert "_call_handler" not in tb  # trimmed: the worker's own frame is not part of it
    assert [e.data["retry"] for e in rec.of("job:failed")] == [True, True, True]
    assert [e.data["status"] for e in rec.of("job:failed")] == ["queued", "queued", "failed"]


def test_analyze_failure_decides_the_retry_and_its_reason_is_recorded(url: str, key: str, db: Db, source: str) -> None:
    no_retry = scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'call', '{\"kind\": \"auth\"}')::text", (source,))
    retry = scalar(
        db, "SELECT mcp_jobs.enqueue_job(%s, 'call', '{\"kind\": \"timeout\"}', p_max_attempts => 2)::text", (source,)
    )
    broken = scalar(
        db, "SELECT mcp_jobs.enqueue_job(%s, 'call', '{\"kind\": \"broken\"}', p_max_attempts => 2)::text", (source,)
    )
    seen = []

    def call(job: Job) -> None:
        if job.payload["kind"] == "auth":
            raise PermissionError("invalid credentials for erp-1")
        raise TimeoutError("upstream timeout")

    def analyze(job: Job, error: BaseException) -> FailureAnalysis:
        seen.append((job.id, type(error).__name__))
        if job.payload["kind"] == "broken":
            raise RuntimeError("the model is unavailable")
        if isinstance(error, PermissionError):
            return {"should_retry": False, "reason": "credentials were rejected: retrying cannot help"}
        return {"should_retry": True, "reason": "a timeout is transient", "details": {"model": "test"}}

    with Background(
        Worker(
            url,
            key,
            {"call": call},
            sources=[source],
            analyze_failure=analyze,
            handle_signals=False,
            claim_wait=1.0,
        )
    ):
        wait_until(
            lambda: all(_job_state(db, j)[0] == "failed" for j in (no_retry, retry, broken)),
            timeout=30,
            what="all three dead-lettered",
        )
    # no retry: one attempt, dead letter at once, with the analysis' reason
    assert _job_state(db, no_retry) == ("failed", 1)
    details = scalar(db, "SELECT details FROM mcp_jobs.dead_letter_queue WHERE job_id = %s", (no_retry,))
    assert details["analysis"] == {"should_retry": False, "reason": "credentials were rejected: retrying cannot help"}
    failed = scalar(db, "SELECT data FROM mcp_jobs.job_events WHERE job_id = %s AND event_type = 'failed'", (no_retry,))
    assert failed["retry"] is False and failed["details"]["analysis"]["reason"].startswith("credentials were rejected")
    assert (
        scalar(
            db,
            "SELECT data->>'reason' FROM mcp_jobs.job_events WHERE job_id = %s AND event_type = 'dead_lettered'",
            (no_retry,),
        )
        == "no_retry"
    )
    # retry: both attempts used, each failure with the analysis
    assert _job_state(db, retry) == ("failed", 2)
    analyses = [
        r[0]
        for r in db.execute(
            "SELECT data->'details'->'analysis' FROM mcp_jobs.job_events "
            "WHERE job_id = %s AND event_type = 'failed' ORDER BY id",
            (retry,),
        ).fetchall()
    ]
    assert analyses == [{"should_retry": True, "reason": "a timeout is transient", "details": {"model": "test"}}] * 2
    # an analyser that raises: the failure is retried and says why there is no analysis
    assert _job_state(db, broken) == ("failed", 2)
    errs = [
        r[0]
        for r in db.execute(
            "SELECT data->'details'->>'analysis_error' FROM mcp_jobs.job_events "
            "WHERE job_id = %s AND event_type = 'failed'",
            (broken,),
        ).fetchall()
    ]
    assert errs == ["RuntimeError: the model is unavailable"] * 2
    assert sorted(seen) == sorted(
        [(no_retry, "PermissionError")] + [(retry, "TimeoutError")] * 2 + [(broken, "TimeoutError")] * 2
    )


def test_a_job_type_without_handler_fails_without_retry(url: str, key: str, db: Db, source: str) -> None:
    other = scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'other', '{}')::text", (source,))
    # by default a worker claims only the types it has handlers for
    stats = Worker(url, key, {"known": lambda job: None}, sources=[source], handle_signals=False).run(until_idle=True)
    assert stats.claimed == 0 and _job_state(db, other) == ("queued", 0)
    # claiming every type, a type without a handler fails at once, saying so
    stats = Worker(url, key, {"known": lambda job: None}, sources=[source], job_types="all", handle_signals=False).run(
        until_idle=True
    )
    assert (stats.claimed, stats.failed) == (1, 1) and _job_state(db, other) == ("failed", 1)
    err, details = row(db, "SELECT last_error, details FROM mcp_jobs.dead_letter_queue WHERE job_id = %s", (other,))
    assert err == "no handler for job type 'other' in this worker (it handles: known)"
    assert details["reason"] == "no_handler" and details["handlers"] == ["known"]


def test_heartbeats_keep_a_job_three_times_longer_than_its_lease(
    url: str, key: str, db: Db, pyc_cluster: Cluster, source: str
) -> None:
    job_id = scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'long', '{}')::text", (source,))
    finished = threading.Event()

    def long(job: Job) -> str:
        assert not job.lost.wait(6.0)  # three leases
        finished.set()
        return "done"

    rec = Recorder()
    with Background(
        Worker(
            url,
            key,
            {"long": long},
            sources=[source],
            lease_seconds=2,
            on_event=rec,
            handle_signals=False,
            claim_wait=1.0,
        )
    ):
        # meanwhile the lease sweep runs again and again: it would take the job if its lease ran out
        def swept_until_done() -> bool:
            pyc_cluster.psql("SELECT mcp_jobs.run_maintenance();", dbname=DB)
            return bool(_job_state(db, job_id)[0] == "completed")

        wait_until(swept_until_done, timeout=30, interval=0.2, what="the long job to complete")
    assert finished.is_set()
    runs = db.execute("SELECT attempt, outcome FROM mcp_jobs.job_runs WHERE job_id = %s", (job_id,)).fetchall()
    assert runs == [(1, "completed")]
    beats = scalar(
        db, "SELECT count(*) FROM mcp_jobs.job_events WHERE job_id = %s AND event_type = 'progress'", (job_id,)
    )
    assert beats >= 4 and len(rec.of("job:heartbeat")) == beats
    assert not rec.of("job:lost")


def test_a_lost_lease_signals_the_handler_and_its_outcome_is_not_reported(
    url: str, key: str, db: Db, pyc_cluster: Cluster, source: str
) -> None:
    job_id = scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'slow', '{}')::text", (source,))
    outcomes = {}

    def slow(job: Job) -> str:
        if job.attempt == 1:
            outcomes[1] = job.lost.wait(30)
            return "attempt 1 result, never reported"
        return "attempt 2 result"

    rec = Recorder()
    with Background(
        Worker(
            url,
            key,
            {"slow": slow},
            sources=[source],
            lease_seconds=2,
            concurrency=2,
            on_event=rec,
            handle_signals=False,
            claim_wait=1.0,
        )
    ):
        wait_until(lambda: _job_state(db, job_id) == ("processing", 1), timeout=30, what="the first claim")
        # the lease runs out (as if the worker had hung) and the sweep requeues the job
        db.execute("UPDATE mcp_jobs.jobs SET lease_expires_at = now() - interval '1 second' WHERE id = %s", (job_id,))
        pyc_cluster.psql("SELECT mcp_jobs.run_maintenance();", dbname=DB)
        wait_until(lambda: _job_state(db, job_id)[0] == "completed", timeout=30, what="the second attempt")
        wait_until(lambda: 1 in outcomes, timeout=10, what="the first handler to return")
        wait_until(lambda: rec.of("job:lost"), timeout=10, what="the job:lost event")
    assert outcomes[1] is True  # the handler saw job.lost
    runs = db.execute(
        "SELECT attempt, outcome FROM mcp_jobs.job_runs WHERE job_id = %s ORDER BY started_at", (job_id,)
    ).fetchall()
    assert runs == [(1, "lease_expired"), (2, "completed")]
    assert scalar(db, "SELECT result FROM mcp_jobs.jobs WHERE id = %s", (job_id,)) == "attempt 2 result"
    assert outcome_counts(db, source) == {(1, 1, 1, 2): 1}
    lost = rec.of("job:lost")
    assert len(lost) == 1 and lost[0].job is not None and lost[0].job.attempt == 1
    assert "lease expired" in lost[0].data["reason"]


def test_stop_waits_for_jobs_in_flight_within_the_grace(url: str, key: str, db: Db, source: str) -> None:
    finishing = scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'sleep', '{\"s\": 0.5}')::text", (source,))
    stuck = scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'sleep', '{\"s\": 30}')::text", (source,))
    returned = threading.Event()

    def sleep(job: Job) -> float:
        job.lost.wait(job.payload["s"])
        if job.payload["s"] > 1:
            returned.set()
        return float(job.payload["s"])

    rec = Recorder()
    worker = Worker(
        url,
        key,
        {"sleep": sleep},
        sources=[source],
        concurrency=2,
        lease_seconds=60,
        shutdown_grace=2.0,
        claim_wait=1.0,
        on_event=rec,
        handle_signals=False,
    )
    bg = Background(worker)
    with bg:
        wait_until(lambda: worker.in_flight == 2, timeout=30, what="both jobs claimed")
        t0 = time.monotonic()
        worker.stop()
        bg.thread.join(timeout=30)
        took = time.monotonic() - t0
    assert 1.5 < took < 10
    assert (bg.stats.completed, bg.stats.abandoned) == (1, 1)
    assert _job_state(db, finishing) == ("completed", 1)
    # the one still running when the grace ran out is left to its lease: not completed, not failed
    assert returned.wait(10)
    assert [e.job.id for e in rec.of("job:abandoned") if e.job is not None] == [stuck]
    assert _job_state(db, stuck) == ("processing", 1)
    assert scalar(db, "SELECT count(*) FROM mcp_jobs.job_runs WHERE job_id = %s AND outcome IS NOT NULL", (stuck,)) == 0


def test_a_refused_claim_stops_the_worker_with_the_error(url: str, source: str) -> None:
    worker = Worker(url, mint_jwt("authenticated"), {"x": lambda job: None}, sources=[source], handle_signals=False)
    with pytest.raises(AuthError) as ei:
        worker.run()
    assert ei.value.status == 403


def test_worker_arguments_are_checked(url: str, key: str) -> None:
    ok = {"x": lambda job: None}
    kwargs: dict[str, Any]
    for kwargs in (
        {"handlers": {}},
        {"concurrency": 0},
        {"lease_seconds": 0},
        {"batch_size": 1001},
        {"job_types": "x"},
        {"handlers": {"x": 1}},
        {"idle_delay": (0, 1)},
        {"claim_wait": -1},
        {"claim_wait": 60.5},
    ):
        args: dict[str, Any] = {"handlers": ok, **kwargs}
        with pytest.raises(ValueError):
            Worker(url, key, **args)


def test_a_result_that_cannot_be_stored_fails_without_retry(url: str, key: str, db: Db, source: str) -> None:
    not_json = scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'r', '{\"kind\": \"set\"}')::text", (source,))
    too_big = scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'r', '{\"kind\": \"big\"}')::text", (source,))

    def r(job: Job) -> object:
        return {1, 2} if job.payload["kind"] == "set" else {"blob": "x" * (1024 * 1024 + 10)}

    stats = Worker(url, key, {"r": r}, sources=[source], handle_signals=False).run(until_idle=True)
    assert (stats.completed, stats.failed) == (0, 2)
    rows = {
        r[0]: r[1:]
        for r in db.execute(
            "SELECT job_id::text, attempts, last_error, details->>'reason' FROM mcp_jobs.dead_letter_queue "
            "WHERE source = %s",
            (source,),
        ).fetchall()
    }
    assert rows[not_json][0] == 1 and rows[not_json][1].startswith("the result is not JSON: ")
    assert rows[not_json][2] == "result_not_json"
    assert rows[too_big][0] == 1 and rows[too_big][1].startswith("the result was refused: ")
    assert rows[too_big][2] == "result_refused"


def test_a_waiting_worker_takes_a_new_job_at_once(url: str, key: str, db: Db, source: str) -> None:
    """Long polling: with nothing due the worker's claim waits in the server (claim_wait, 5 s by
    default) and returns as soon as a job is enqueued, not at the next poll."""
    no_waiting_claims(db)
    release = threading.Event()

    def ping(job: Job) -> str:
        release.wait(30)
        return "pong"

    counting = CountingClient(url, key)
    calls = counting.claims
    worker = Worker(url, key, {"ping": ping}, sources=[source], handle_signals=False, client=counting)
    with Background(worker) as bg:
        wait_until(lambda: waiting_claims(db) == 1, timeout=30, what="the worker's claim to wait")
        enqueued = time.monotonic()
        job_id = scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'ping', '{}')::text", (source,))
        wait_until(lambda: worker.in_flight == 1, timeout=10, what="the job taken")
        # the job is running: stop now, so that no other claim is waiting when the worker stops
        worker.stop()
        release.set()
        bg.thread.join(timeout=30)
    assert (bg.stats.claimed, bg.stats.completed) == (1, 1)
    assert _job_state(db, job_id) == ("completed", 1)
    # the claim that took the job had been sent before the enqueue, waiting 5 s, and returned at once
    taking = [c for c in calls if c[3] == job_id]
    assert len(taking) == 1 and len(calls) == 1, calls
    sent, returned, wait_ms, _ = taking[0]
    assert wait_ms == 5000 and sent < enqueued and returned - enqueued < 1.0, (sent, returned, enqueued)
    latency = scalar(
        db,
        "SELECT extract(epoch FROM r.started_at - j.created_at) FROM mcp_jobs.jobs j "
        "JOIN mcp_jobs.job_runs r ON r.job_id = j.id WHERE j.id = %s",
        (job_id,),
    )
    assert 0 <= latency < 0.5, latency
    print(f"\nenqueue to claim by a waiting worker: {float(latency) * 1000:.0f} ms")


def test_a_claim_waiting_when_the_worker_stops_still_runs_its_job(url: str, key: str, db: Db, source: str) -> None:
    """A claim waiting in the server cannot be withdrawn (PostgREST does not cancel a query whose
    client goes away): when stop() comes during the wait, the worker waits for the claim's answer and
    runs the job it brings, within the grace, instead of leaving it to its lease."""
    no_waiting_claims(db)
    rec = Recorder()
    worker = Worker(url, key, {"late": lambda job: "done"}, sources=[source], on_event=rec, handle_signals=False)
    with Background(worker) as bg:
        wait_until(lambda: waiting_claims(db) == 1, timeout=30, what="the worker's claim to wait")
        worker.stop()
        wait_until(lambda: rec.of("worker:stopping"), timeout=10, what="worker:stopping")
        job_id = scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'late', '{}')::text", (source,))
        bg.thread.join(timeout=30)
    assert (bg.stats.claimed, bg.stats.completed, bg.stats.abandoned) == (1, 1, 0)
    assert _job_state(db, job_id) == ("completed", 1)
    types = [e.type for e in rec.events]
    assert types.index("worker:stopping") < types.index("job:claimed") < types.index("job:completed")
    assert types[-1] == "worker:stopped" and types.count("job:claimed") == 1


def test_a_statement_timeout_shorter_than_the_wait_shortens_it(url: str, db: Db, pyc_stack: Stack, source: str) -> None:
    """On Supabase API requests run under a statement timeout (8 s by default): a waiting claim that
    runs into it (SQLSTATE 57014, HTTP 500) makes the worker wait less, once, instead of failing
    every claim. Here a role whose statement_timeout is 1 s."""
    db.execute(
        """DO $$ BEGIN
             IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'py_short') THEN
               CREATE ROLE py_short NOLOGIN NOINHERIT BYPASSRLS;
               GRANT py_short TO authenticator;
               PERFORM mcp_jobs.grant_access('py_short');
               ALTER ROLE py_short SET statement_timeout = '1s';
             END IF;
           END $$"""
    )
    db.execute("NOTIFY pgrst, 'reload config'")
    key = mint_jwt("py_short")
    with Client(url, key) as probe:

        def times_out() -> bool:
            try:
                probe.claim_next_job("probe", sources=[source + "-none"], wait_ms=1500)
            except McpJobsError as exc:
                return exc.code == "57014"
            return False

        wait_until(times_out, timeout=30, interval=0.1, what="PostgREST to apply the role's statement_timeout")
    rec = Recorder()
    worker = Worker(url, key, {"t": lambda job: "ok"}, sources=[source], on_event=rec, handle_signals=False)
    with Background(worker):
        # the first claim times out; the next ones wait less and end without an error
        wait_until(lambda: rec.of("claim_wait") and rec.of("idle"), timeout=30, what="a shorter wait")
        job_id = scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 't', '{}')::text", (source,))
        wait_until(lambda: _job_state(db, job_id) == ("completed", 1), timeout=30, what="the job done")
        wait_until(lambda: len(rec.of("idle")) >= 2, timeout=10, what="an idle wait after the job")
    [shortened] = rec.of("claim_wait")
    assert shortened.data["was_ms"] == 5000 and 250 <= shortened.data["wait_ms"] < 1000, shortened.data
    assert isinstance(shortened.error, McpJobsError)
    assert shortened.error.code == "57014" and shortened.error.status == 500
    assert not rec.of("error"), [str(e.error) for e in rec.of("error")]


class _ServerWithoutWaits(http.server.BaseHTTPRequestHandler):
    """PostgREST over an extension older than 0.7.0: claim_next_job has no p_wait_ms (PGRST202)."""

    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.bodies.append(body)
        answer: object = []
        status = 200
        if "p_wait_ms" in body:
            status, answer = 404, {"code": "PGRST202", "message": "Could not find the function", "details": None}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def test_without_waiting_claims_in_the_server_the_worker_polls() -> None:
    """Against an extension without p_wait_ms (before 0.7.0) the worker claims without waiting and
    sleeps idle_delay between claims, instead of stopping with the 404."""
    _ServerWithoutWaits.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ServerWithoutWaits)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        rec = Recorder()
        worker = Worker(
            f"http://127.0.0.1:{server.server_address[1]}",
            "k",
            {"x": lambda job: None},
            on_event=rec,
            handle_signals=False,
            idle_delay=(0.01, 0.05),
        )
        with Background(worker) as bg:
            wait_until(lambda: len(_ServerWithoutWaits.bodies) >= 4, timeout=10, what="claims without a wait")
    finally:
        server.shutdown()
        server.server_close()
    assert bg.error is None and bg.stats.claimed == 0
    bodies = _ServerWithoutWaits.bodies
    assert bodies[0]["p_wait_ms"] == 5000 and all("p_wait_ms" not in b for b in bodies[1:]), bodies
    [fallback] = rec.of("claim_wait")
    assert fallback.data == {"wait_ms": 0, "was_ms": 5000}
    assert not rec.of("error") and len(rec.of("idle")) == 1
