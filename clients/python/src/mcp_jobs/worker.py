"""A threaded worker: claims jobs over PostgREST, runs their handlers, keeps their leases alive and
reports each outcome once.

Threads: one claimer thread claims jobs, waiting in the server for work when nothing is due (a long
poll, ``claim_wait``); ``concurrency`` handler threads run the handlers and report each outcome (a
completion claims the next job in the same request); one heartbeat thread extends the lease of every
job in flight; the thread that calls :meth:`Worker.run` supervises the stop and its grace and, with
``batch_size``, completes finished jobs in batches. Handlers are plain synchronous functions (Odoo
code is synchronous).
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType, TracebackType
from typing import Any, Literal, TypeAlias

from .client import DEFAULT_TIMEOUT, MAX_WAIT_MS, Client
from .errors import (
    BadRequestError,
    ConflictError,
    LeaseLostError,
    McpJobsError,
    NotFoundError,
    PayloadTooLargeError,
    TooManyRequestsError,
    TransientError,
)
from .types import JSON, ClaimedJob, FailureAnalysis

logger = logging.getLogger("mcp_jobs.worker")

Handler: TypeAlias = Callable[["Job"], JSON]
"""A job handler: takes the :class:`Job`, returns the job's result (any JSON value, or None)."""

AnalyzeFailure: TypeAlias = Callable[["Job", BaseException], FailureAnalysis | Mapping[str, Any]]
"""Decides whether a failed attempt is retried: returns ``{"should_retry": bool, "reason": str}``."""

EventCallback: TypeAlias = Callable[["WorkerEvent"], None]

MAX_TRACEBACK_CHARS = 8000
MAX_TRACEBACK_FRAMES = 20

DEFAULT_CLAIM_WAIT = 5.0
"""Seconds a claim waits in the server for a job by default: below Supabase's 8 s statement timeout
of API requests, and short enough that stopping an idle worker takes at most that long."""

MIN_CLAIM_WAIT_MS = 250
STATEMENT_TIMEOUT = "57014"  # SQLSTATE query_canceled: the statement_timeout ended a waiting claim
UNKNOWN_ARGUMENT = "PGRST202"  # PostgREST: no function with these argument names


@dataclass(frozen=True)
class WorkerEvent:
    """Something the worker did, for logs and metrics.

    ``type`` is one of ``worker:started``, ``worker:stopping``, ``worker:stopped``, ``job:claimed``,
    ``job:completed``, ``job:failed`` (``data``: ``retry``, ``status``, ``dead_letter_id``),
    ``job:lost`` (its lease was lost: the outcome is not reported; ``data["reason"]``),
    ``job:abandoned`` (still running when the shutdown grace ran out: left to its lease),
    ``job:heartbeat``, ``idle`` (a claim found nothing due; once per idle spell; ``data``:
    ``wait_ms`` of a waiting claim, or ``next_claim_in`` seconds without one), ``claim_wait`` (a
    waiting claim ran into the statement timeout: ``data["wait_ms"]`` is the shorter wait used from
    then on) and ``error`` (a call failed; ``data``: ``operation``, ``retry_in`` seconds or None
    when it is not retried).
    """

    type: str
    worker_id: str
    job: Job | None = None
    error: BaseException | None = None
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)


@dataclass
class RunStats:
    """What one :meth:`Worker.run` did."""

    claimed: int = 0
    completed: int = 0
    failed: int = 0
    lost: int = 0
    abandoned: int = 0


class Job:
    """The job a handler runs.

    Attributes:
        id, run_id, source, job_type, payload, attempt, max_attempts, priority, run_at, created_at:
            as claimed (``attempt`` is 1 for the first attempt).
        worker_id: this worker's id.
        lost: a :class:`threading.Event` set when this worker will not report the attempt's outcome:
            a heartbeat was refused (the lease was lost and the job may already run elsewhere), or
            the worker stopped and the shutdown grace ran out. A long handler should check it
            (``job.lost.is_set()`` or ``job.lost.wait(timeout)``) and give up.
    """

    def __init__(self, claimed: ClaimedJob, worker: Worker) -> None:
        self.claimed = claimed
        self.id = claimed.id
        self.run_id = claimed.run_id
        self.source = claimed.source
        self.job_type = claimed.job_type
        self.payload: dict[str, JSON] = claimed.payload
        self.attempt = claimed.attempt
        self.max_attempts = claimed.max_attempts
        self.priority = claimed.priority
        self.run_at: datetime = claimed.run_at
        self.created_at: datetime = claimed.created_at
        self.worker_id = worker.worker_id
        self.lost = threading.Event()
        self._worker = worker

    def progress(self, data: JSON = None) -> bool:
        """Record progress (any JSON value) and extend the lease. Returns False when PostgREST could
        not be reached (reported as an ``error`` event; the heartbeat keeps retrying the lease).

        Raises:
            LeaseLostError: the lease was lost; stop working on the job (``lost`` is set).
            PayloadTooLargeError, BadRequestError: ``data`` was refused.
        """
        return self._worker._progress_from_handler(self, data)

    def __repr__(self) -> str:
        return (
            f"Job(id={self.id!r}, job_type={self.job_type!r}, source={self.source!r}, attempt={self.attempt})"
        )


_State = Literal["running", "reporting", "done", "lost", "abandoned"]


class _Flight:
    """A job in flight: claimed by this worker and not yet finished with."""

    __slots__ = ("handler_done", "job", "lease_deadline", "pending_since", "renew_at", "state")

    def __init__(self, job: Job, sent_at: float, lease: float) -> None:
        self.job = job
        self.state: _State = "running"
        self.handler_done = False
        # the lease is counted from when the claim was sent: on the safe side of the server's clock
        self.renew_at = sent_at + lease / 2
        self.lease_deadline = sent_at + lease
        self.pending_since = 0.0


@dataclass
class _Outcome:
    ok: bool
    result: JSON = None
    error: str = ""
    retry: bool = True
    details: dict[str, Any] | None = None


class _WorkQueue:
    """Jobs claimed for the handler threads of one run; ``None`` tells a thread to end."""

    def __init__(self) -> None:
        self._items: list[_Flight | None] = []
        self._cv = threading.Condition(threading.Lock())

    def put(self, flights: list[_Flight]) -> None:
        if flights:
            with self._cv:
                self._items.extend(flights)
                self._cv.notify(len(flights))

    def close(self, threads: int) -> None:
        with self._cv:
            self._items.extend([None] * threads)
            self._cv.notify_all()

    def get(self) -> _Flight | None:
        with self._cv:
            while not self._items:
                self._cv.wait()
            return self._items.pop(0)


def _default_worker_id() -> str:
    host = socket.gethostname()[:120] or "host"
    return f"py:{host}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _jittered(base: float, cap: float, streak: int) -> float:
    """Exponential backoff with equal jitter: between half and all of min(cap, base * 2^streak)."""
    delay = min(cap, base * (2.0 ** min(streak, 30)))
    return delay * (0.5 + 0.5 * random.random())


class Worker:
    """Runs handlers for the jobs of an mcp_jobs queue over PostgREST.

    Args:
        url, key: the Supabase URL and a service_role key (as for :class:`mcp_jobs.Client`).
        handlers: ``{job_type: handler}``; a handler takes a :class:`Job` and returns the job's
            result (JSON). An exception fails the attempt.
        concurrency: jobs run at once (handler threads); never more jobs are in flight.
        lease_seconds: the lease of each claim (1-604800). The worker renews it (``report_progress``)
            when half of it has passed, so a handler may run much longer than the lease.
        analyze_failure: ``(job, error) -> {"should_retry": bool, "reason": str}``, called when a
            handler raises (e.g. an LLM's failure analysis); ``should_retry`` False dead-letters the
            job at once. The analysis is recorded in the failure's details. Without it every failure
            is retried while attempts are left. If it raises, the failure is retried.
        sources: claim only jobs of these sources (default: any).
        job_types: the job types to claim. Default: the keys of ``handlers``. ``"all"`` claims every
            type; a job whose type has no handler then fails without retry, saying so.
        batch_size: claim up to this many jobs per request (``claim_jobs``) and complete them in
            batches (``complete_jobs``). Default: one job per request, completing each job and
            claiming the next in one round trip (``complete_and_claim_next``).
        worker_id: recorded on the job, its run and events (default ``py:<host>:<pid>:<random>``).
        shutdown_grace: seconds :meth:`stop` (or SIGTERM) lets the jobs in flight finish.
        claim_wait: seconds (0-60) a claim waits in the server for a job when nothing is due (a long
            poll: ``p_wait_ms``); it returns as soon as a job can be claimed. Default 5. The HTTP
            timeout of a claim is ``timeout`` plus this. If the database's statement timeout cuts
            a waiting claim short (SQLSTATE 57014), the worker waits less from then on. 0: no
            waiting claims; the worker sleeps ``idle_delay`` between claims instead.
        idle_delay: with ``claim_wait=0``, (first, longest) seconds between claims while nothing is
            due; doubles, jittered.
        error_delay: (first, longest) seconds before retrying a call that failed with a network error
            or a 5xx; doubles, jittered.
        batch_flush_delay: with ``batch_size``, how long a finished job may wait for others to be
            completed with it.
        on_event: called with every :class:`WorkerEvent` (in the worker's threads; keep it quick).
            Events are also logged to the ``mcp_jobs.worker`` logger (DEBUG; errors as WARNING).
        handle_signals: let :meth:`run` stop on SIGTERM / SIGINT (only when run in the main thread).
        client, timeout: an existing :class:`Client` to use, or the HTTP timeout of a new one.
    """

    def __init__(
        self,
        url: str,
        key: str,
        handlers: Mapping[str, Handler],
        *,
        concurrency: int = 1,
        lease_seconds: int = 60,
        analyze_failure: AnalyzeFailure | None = None,
        sources: Collection[str] | None = None,
        job_types: Collection[str] | Literal["all"] | None = None,
        batch_size: int | None = None,
        worker_id: str | None = None,
        shutdown_grace: float = 30.0,
        claim_wait: float = DEFAULT_CLAIM_WAIT,
        idle_delay: tuple[float, float] = (0.1, 5.0),
        error_delay: tuple[float, float] = (0.25, 10.0),
        batch_flush_delay: float = 0.02,
        on_event: EventCallback | None = None,
        handle_signals: bool = True,
        client: Client | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not handlers:
            raise ValueError("handlers must map at least one job type to a function")
        for job_type, fn in handlers.items():
            if not isinstance(job_type, str) or not job_type:
                raise ValueError(f"handler keys must be job type names, got {job_type!r}")
            if not callable(fn):
                raise ValueError(f"the handler of {job_type!r} is not callable")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not 1 <= lease_seconds <= 604800:
            raise ValueError("lease_seconds must be between 1 and 604800")
        if batch_size is not None and not 1 <= batch_size <= 1000:
            raise ValueError("batch_size must be between 1 and 1000")
        if shutdown_grace < 0:
            raise ValueError("shutdown_grace must not be negative")
        if not 0 <= claim_wait <= MAX_WAIT_MS / 1000:
            raise ValueError(f"claim_wait must be between 0 and {MAX_WAIT_MS // 1000} seconds")
        for name, (lo, hi) in (("idle_delay", idle_delay), ("error_delay", error_delay)):
            if lo <= 0 or hi < lo:
                raise ValueError(f"{name} must be (first, longest) with 0 < first <= longest")
        self.client = client or Client(url, key, timeout=timeout)
        self.handlers: dict[str, Handler] = dict(handlers)
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.analyze_failure = analyze_failure
        self.sources = sorted(sources) if sources is not None else None
        if job_types == "all":
            self.job_types: list[str] | None = None
        elif job_types is None:
            self.job_types = sorted(self.handlers)
        else:
            if isinstance(job_types, str):
                raise ValueError('job_types must be a collection of names, or "all"')
            self.job_types = sorted(job_types)
        self.batch_size = batch_size
        self.worker_id = worker_id or _default_worker_id()
        self.shutdown_grace = shutdown_grace
        self.claim_wait = claim_wait
        self.idle_delay = idle_delay
        self.error_delay = error_delay
        self.batch_flush_delay = batch_flush_delay
        self.on_event = on_event
        self.handle_signals = handle_signals

        self._cv = threading.Condition()  # an RLock inside: stop() may run in a signal handler
        self._flights: dict[str, _Flight] = {}  # by run id
        self._pending: list[tuple[_Flight, JSON]] = []  # batch mode: finished, to be completed
        self._stopping = False
        self._stop_deadline = 0.0
        self._stop_announced = False
        self._hard_stop = threading.Event()
        self._running = False
        self._fatal: McpJobsError | None = None
        self._last_finish = 0.0
        self._stats = RunStats()
        self._generation = 0  # of run(): a claimer of an earlier run admits nothing
        self._claiming = False  # a claim request is in flight
        self._empty_claim_sent_at: float | None = None  # until_idle: when a claim that found nothing was sent
        self._claim_wait_ms = int(claim_wait * 1000)  # shortened after a statement timeout

    # -- public -----------------------------------------------------------------------------------

    def run(self, *, until_idle: bool = False) -> RunStats:
        """Claim and run jobs until :meth:`stop` (or SIGTERM / SIGINT), or with ``until_idle`` until
        a claim finds nothing due while no job is in flight (claims then do not wait). Then returns,
        once the jobs in flight have finished or the shutdown grace has run out (those still running
        are left to their lease: another worker gets them when it expires).

        Raises the :class:`McpJobsError` of a claim refused with a 4xx (a bad key, bad filters),
        after the jobs in flight have finished.
        """
        with self._cv:
            if self._running:
                raise RuntimeError("this worker is already running")
            self._running = True
            self._stopping = False
            self._stop_announced = False
            self._hard_stop = threading.Event()  # a claimer of an earlier run keeps its own
            self._fatal = None
            self._stats = RunStats()
            self._generation += 1
            self._claiming = False
            self._empty_claim_sent_at = None
            self._last_finish = time.monotonic()
            generation = self._generation
        work = _WorkQueue()
        restore = self._install_signal_handlers()
        threads = [
            threading.Thread(
                target=self._handler_loop,
                args=(work, self._hard_stop),
                name=f"mcp_jobs-handler-{i}",
                daemon=True,
            )
            for i in range(self.concurrency)
        ]
        heartbeat = threading.Thread(
            target=self._heartbeat_loop, args=(self._hard_stop,), name="mcp_jobs-heartbeat", daemon=True
        )
        claimer = threading.Thread(
            target=self._claim_loop,
            args=(generation, until_idle, work, self._hard_stop),
            name="mcp_jobs-claimer",
            daemon=True,
        )
        try:
            for t in threads:
                t.start()
            heartbeat.start()
            self._emit(
                "worker:started",
                concurrency=self.concurrency,
                batch_size=self.batch_size,
                lease_seconds=self.lease_seconds,
                claim_wait=self.claim_wait,
                job_types=self.job_types,
                sources=self.sources,
            )
            claimer.start()
            self._supervise(until_idle)
        finally:
            self._hard_stop.set()
            work.close(len(threads))
            with self._cv:
                self._cv.notify_all()
                self._running = False
            heartbeat.join(timeout=5)
            restore()
            self._emit("worker:stopped", **vars(self._stats))
        if self._fatal is not None:
            raise self._fatal
        return self._stats

    def stop(self, grace: float | None = None) -> None:
        """Stop claiming; :meth:`run` returns when the jobs in flight have finished, or after
        ``grace`` seconds (default ``shutdown_grace``), leaving those still running to their lease.
        May be called from any thread or a signal handler; calling it again can shorten the grace."""
        with self._cv:
            deadline = time.monotonic() + (self.shutdown_grace if grace is None else max(0.0, grace))
            if not self._stopping or deadline < self._stop_deadline:
                self._stop_deadline = deadline
            self._stopping = True
            self._cv.notify_all()

    @property
    def in_flight(self) -> int:
        """Jobs claimed and not yet finished with."""
        with self._cv:
            return len(self._flights)

    # -- claiming ---------------------------------------------------------------------------------

    def _claim(self, limit: int, wait_ms: int) -> list[ClaimedJob]:
        """The worker's one claim call (all claims but the chained ones of complete_and_claim_next)."""
        if self.batch_size is None:
            job = self.client.claim_next_job(
                self.worker_id,
                sources=self.sources,
                job_types=self.job_types,
                lease_seconds=self.lease_seconds,
                wait_ms=wait_ms,
            )
            return [job] if job is not None else []
        return self.client.claim_jobs(
            self.worker_id,
            sources=self.sources,
            job_types=self.job_types,
            lease_seconds=self.lease_seconds,
            limit=limit,
            wait_ms=wait_ms,
        )

    def _admit(self, claimed: ClaimedJob, sent_at: float) -> _Flight:
        """Register a claimed job as in flight (caller holds self._cv)."""
        flight = _Flight(Job(claimed, self), sent_at, float(self.lease_seconds))
        self._flights[claimed.run_id] = flight
        self._stats.claimed += 1
        self._cv.notify_all()  # the heartbeat thread recomputes its next renewal
        return flight

    def _claim_loop(
        self, generation: int, until_idle: bool, work: _WorkQueue, hard_stop: threading.Event
    ) -> None:
        """The claimer thread: claims while slots are free, waiting in the server (a long poll) when
        nothing is due. It is the only thread that adds jobs in flight (a chained claim only
        replaces the job just completed), so a claim for the free slots never overfills them."""
        idle_streak = 0
        error_streak = 0
        next_claim = 0.0
        while True:
            with self._cv:
                while True:
                    if self._stopping or hard_stop.is_set() or generation != self._generation:
                        return
                    now = time.monotonic()
                    free = self.concurrency - len(self._flights)
                    may_claim = free > 0
                    if until_idle and self._empty_claim_sent_at is not None:
                        # nothing was due: claim again only once the jobs in flight are done, and
                        # only if one of them finished after that claim (a retry may be due)
                        may_claim = (
                            may_claim and not self._flights and self._empty_claim_sent_at < self._last_finish
                        )
                    if may_claim and now >= next_claim:
                        limit = min(self.batch_size or 1, free)
                        self._claiming = True
                        break
                    self._cv.wait(timeout=max(0.001, next_claim - now) if may_claim else None)
            wait_ms = 0 if until_idle else self._claim_wait_ms
            sent_at = time.monotonic()
            try:
                claimed = self._claim(limit, wait_ms)
            except TransientError as exc:
                with self._cv:
                    self._claiming = False
                    self._cv.notify_all()
                if wait_ms and exc.code == STATEMENT_TIMEOUT:
                    # the database's statement_timeout is shorter than our wait: wait less
                    took_ms = (time.monotonic() - sent_at) * 1000
                    shorter = max(MIN_CLAIM_WAIT_MS, int(min(wait_ms / 2, took_ms * 0.75)))
                    if shorter < wait_ms:
                        self._claim_wait_ms = shorter
                        self._emit("claim_wait", error=exc, wait_ms=shorter, was_ms=wait_ms)
                        continue
                delay = _jittered(self.error_delay[0], self.error_delay[1], error_streak)
                if isinstance(exc, TooManyRequestsError) and exc.retry_after is not None:
                    delay = max(delay, exc.retry_after)
                error_streak += 1
                self._emit("error", error=exc, operation="claim", retry_in=delay)
                next_claim = time.monotonic() + delay
                continue
            except McpJobsError as exc:
                with self._cv:
                    self._claiming = False
                    self._cv.notify_all()
                if wait_ms and isinstance(exc, NotFoundError) and exc.code == UNKNOWN_ARGUMENT:
                    # an extension older than 0.7.0 has no p_wait_ms: claim without waiting
                    self._claim_wait_ms = 0
                    self._emit("claim_wait", error=exc, wait_ms=0, was_ms=wait_ms)
                    continue
                if generation == self._generation:
                    self._emit("error", error=exc, operation="claim", retry_in=None)
                    self._fatal = exc
                    self.stop()
                return
            error_streak = 0
            late: list[ClaimedJob] = []
            flights: list[_Flight] = []
            with self._cv:
                self._claiming = False
                if hard_stop.is_set() or generation != self._generation:
                    late = claimed  # the run is over: left to their lease
                else:
                    flights = [self._admit(c, sent_at) for c in claimed]
                    if until_idle:
                        self._empty_claim_sent_at = None if claimed else sent_at
                self._cv.notify_all()
            for c in late:
                self._emit("job:abandoned", job=Job(c, self), reason="claimed after the worker stopped")
            if late:
                return
            for flight in flights:
                self._emit("job:claimed", job=flight.job, attempt=flight.job.attempt)
            work.put(flights)
            if flights:
                idle_streak = 0
                continue
            answered_early = wait_ms and time.monotonic() - sent_at < wait_ms / 2000
            if (not wait_ms or answered_early) and not until_idle:
                # no waiting claims, or the server did not wait: do not ask again at once
                delay = _jittered(self.idle_delay[0], self.idle_delay[1], idle_streak)
                next_claim = time.monotonic() + delay
                if idle_streak == 0:
                    self._emit("idle", next_claim_in=delay)
            elif idle_streak == 0:
                self._emit("idle", wait_ms=wait_ms)
            idle_streak += 1

    def _supervise(self, until_idle: bool) -> None:
        """The thread of run(): the stop and its grace, until_idle's end, batch completions."""
        while True:
            flush: list[tuple[_Flight, JSON]] = []
            announce = False
            in_flight = 0
            abandoned: list[_Flight] = []
            with self._cv:
                while True:
                    now = time.monotonic()
                    if self._stopping and not self._stop_announced:
                        self._stop_announced = announce = True
                        in_flight = len(self._flights)
                        break
                    if self._stopping and not self._flights and not self._pending and not self._claiming:
                        return
                    if self._stopping and now >= self._stop_deadline:
                        abandoned = self._abandon_all()
                        break
                    if (
                        until_idle
                        and not self._flights
                        and not self._claiming
                        and self._empty_claim_sent_at is not None
                        and self._empty_claim_sent_at >= self._last_finish
                    ):
                        return
                    waits: list[float] = []
                    if self._pending:
                        running = sum(1 for f in self._flights.values() if f.state == "running")
                        oldest = min(f.pending_since for f, _ in self._pending)
                        if (
                            self._stopping
                            or running == 0
                            or len(self._pending) >= (self.batch_size or 1)
                            or now >= oldest + self.batch_flush_delay
                        ):
                            flush, self._pending = self._pending, []
                            break
                        waits.append(oldest + self.batch_flush_delay - now)
                    if self._stopping:
                        waits.append(self._stop_deadline - now)
                    self._cv.wait(timeout=max(0.001, min(waits)) if waits else None)
            if announce:
                self._emit("worker:stopping", in_flight=in_flight, claiming=self._claiming)
                continue
            if abandoned or self._hard_stop.is_set():
                for flight in abandoned:
                    self._emit("job:abandoned", job=flight.job, reason="shutdown grace ran out")
                return
            if flush:
                self._flush(flush)

    # -- running handlers -------------------------------------------------------------------------

    def _handler_loop(self, work: _WorkQueue, hard_stop: threading.Event) -> None:
        while True:
            flight = work.get()
            if flight is None:
                return
            while flight is not None:
                if hard_stop.is_set():
                    self._give_up(flight, None)
                    break
                flight = self._execute(flight)

    def _execute(self, flight: _Flight) -> _Flight | None:
        """Run one job's handler and report its outcome; returns the next job when the completion
        claimed one (complete_and_claim_next)."""
        job = flight.job
        outcome = self._call_handler(job)
        with self._cv:
            flight.handler_done = True
            if flight.state != "running":  # lost or abandoned while the handler ran
                self._finish(flight)
                return None
            flight.state = "reporting"
        if not outcome.ok:
            self._report_failure(flight, outcome)
            return None
        if self.batch_size is not None:
            with self._cv:
                flight.pending_since = time.monotonic()
                self._pending.append((flight, outcome.result))
                self._cv.notify_all()
            return None
        return self._report_success(flight, outcome.result)

    def _call_handler(self, job: Job) -> _Outcome:
        handler = self.handlers.get(job.job_type)
        if handler is None:
            return _Outcome(
                ok=False,
                error=f"no handler for job type {job.job_type!r} in this worker "
                f"(it handles: {', '.join(sorted(self.handlers))})",
                retry=False,
                details={
                    "reason": "no_handler",
                    "worker_id": self.worker_id,
                    "handlers": sorted(self.handlers),
                },
            )
        try:
            result = handler(job)
        except Exception as exc:  # noqa: BLE001 - any handler error fails the attempt
            return self._failure_outcome(job, exc)
        try:
            json.dumps(result, allow_nan=False)  # what PostgREST would refuse
        except (TypeError, ValueError) as exc:
            # the same input would give the same result: no retry
            return _Outcome(
                ok=False,
                error=f"the result is not JSON: {exc}",
                retry=False,
                details={"reason": "result_not_json", "worker_id": self.worker_id},
            )
        return _Outcome(ok=True, result=result)

    def _failure_outcome(self, job: Job, exc: BaseException) -> _Outcome:
        message = str(exc).strip()
        error = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
        details: dict[str, Any] = {
            "error_type": f"{type(exc).__module__}.{type(exc).__qualname__}",
            "traceback": _trimmed_traceback(exc),
            "worker_id": self.worker_id,
        }
        retry = True
        if self.analyze_failure is not None:
            try:
                analysis = self.analyze_failure(job, exc)
                should_retry = analysis["should_retry"]
                if not isinstance(should_retry, bool):
                    raise TypeError(f"should_retry must be a bool, got {should_retry!r}")
                retry = should_retry
                recorded: dict[str, Any] = {
                    "should_retry": should_retry,
                    "reason": str(analysis.get("reason", "")),
                }
                if analysis.get("details") is not None:
                    recorded["details"] = analysis["details"]
                details["analysis"] = recorded
            except Exception as aexc:  # noqa: BLE001 - a broken analyser must not lose the failure
                details["analysis_error"] = f"{type(aexc).__name__}: {aexc}"
                self._emit("error", job=job, error=aexc, operation="analyze_failure", retry_in=None)
        return _Outcome(ok=False, error=error, retry=retry, details=details)

    # -- reporting outcomes -----------------------------------------------------------------------

    def _report_success(self, flight: _Flight, result: JSON, *, chain: bool = True) -> _Flight | None:
        job = flight.job
        chain = chain and not self._stopping
        sent_at = time.monotonic()

        def call() -> ClaimedJob | None:
            if chain:
                return self.client.complete_and_claim_next(
                    job.id,
                    job.run_id,
                    result,
                    self.worker_id,
                    sources=self.sources,
                    job_types=self.job_types,
                    lease_seconds=self.lease_seconds,
                )
            self.client.complete_job(job.id, job.run_id, result)
            return None

        status, value, ambiguous = self._with_retries(flight, "complete_job", call)
        if status == "ok":
            # the next job replaces this one in the same critical section: the dispatcher never
            # sees the slot free in between (never more than `concurrency` jobs in flight)
            return self._done(flight, "job:completed", next_claimed=value, sent_at=sent_at)
        if status == "refused":
            if ambiguous and self._confirm(flight, "completed"):
                self._done(flight, "job:completed", confirmed=True)
            else:
                self._lose(flight, value, when_reporting=True)
            return None
        if status == "error" and isinstance(value, PayloadTooLargeError | BadRequestError):
            # the result itself was refused: fail the attempt, a retry would produce it again
            self._report_failure(
                flight,
                _Outcome(
                    ok=False,
                    error=f"the result was refused: {value.message}",
                    retry=False,
                    details={"reason": "result_refused", "code": value.code, "worker_id": self.worker_id},
                ),
            )
            return None
        self._give_up(flight, value)
        return None

    def _report_failure(self, flight: _Flight, outcome: _Outcome) -> None:
        job = flight.job
        details: dict[str, Any] | None = outcome.details

        def call() -> Any:
            return self.client.fail_job(job.id, job.run_id, outcome.error, outcome.retry, details)

        status, value, ambiguous = self._with_retries(flight, "fail_job", call)
        if status == "error" and isinstance(value, PayloadTooLargeError | BadRequestError) and details:
            details = {"worker_id": self.worker_id, "details_refused": value.message}
            status, value, again = self._with_retries(flight, "fail_job", call)
            ambiguous = ambiguous or again
        if status == "ok":
            self._done(
                flight,
                "job:failed",
                retry=outcome.retry,
                status=value.get("status"),
                dead_letter_id=value.get("dead_letter_id"),
                error_message=outcome.error,
            )
        elif status == "refused":
            if ambiguous and self._confirm(flight, "failed"):
                self._done(
                    flight, "job:failed", retry=outcome.retry, confirmed=True, error_message=outcome.error
                )
            else:
                self._lose(flight, value, when_reporting=True)
        else:
            self._give_up(flight, value)

    def _flush(self, batch: list[tuple[_Flight, JSON]]) -> None:
        """Complete finished jobs together (batch mode)."""
        flights = [f for f, _ in batch]
        lead = flights[0]

        def call() -> Any:
            return self.client.complete_jobs(
                [f.job.id for f in flights], [f.job.run_id for f in flights], [r for _, r in batch]
            )

        status, value, ambiguous = self._with_retries(lead, "complete_jobs", call, any_abandoned=flights)
        if status == "ok":
            for flight, row in zip(flights, value, strict=True):
                if row.completed:
                    self._done(flight, "job:completed")
                elif ambiguous and self._confirm(flight, "completed"):
                    self._done(flight, "job:completed", confirmed=True)
                else:
                    self._lose(
                        flight,
                        ConflictError(row.reason or "not completed", function="complete_jobs"),
                        when_reporting=True,
                    )
        elif status == "error" and isinstance(value, PayloadTooLargeError | BadRequestError):
            for flight, result in batch:  # one of the results was refused: find it one by one
                self._report_success(flight, result, chain=False)
        else:
            for flight in flights:
                self._give_up(flight, value)

    def _with_retries(
        self,
        flight: _Flight,
        operation: str,
        call: Callable[[], Any],
        *,
        any_abandoned: list[_Flight] | None = None,
    ) -> tuple[str, Any, bool]:
        """Make an outcome call, retrying network errors and 5xx with backoff until it gets an
        answer or the worker gives up (shutdown grace over). Returns (status, value, ambiguous):
        ("ok", result), ("refused", 404/409 error), ("error", other error) or ("gave_up", error);
        ambiguous is True when an earlier try may have taken effect."""
        streak = 0
        ambiguous = False
        last: McpJobsError | None = None
        group = any_abandoned or [flight]
        while True:
            if self._hard_stop.is_set() or any(f.state == "abandoned" for f in group):
                return "gave_up", last, ambiguous
            try:
                return "ok", call(), ambiguous
            except TransientError as exc:
                last = exc
                ambiguous = True
                delay = _jittered(self.error_delay[0], self.error_delay[1], streak)
                if isinstance(exc, TooManyRequestsError) and exc.retry_after is not None:
                    delay = max(delay, exc.retry_after)
                streak += 1
                self._emit("error", job=flight.job, error=exc, operation=operation, retry_in=delay)
                if self._hard_stop.wait(delay):
                    return "gave_up", exc, ambiguous
            except (ConflictError, NotFoundError) as exc:
                return "refused", exc, ambiguous
            except McpJobsError as exc:
                self._emit("error", job=flight.job, error=exc, operation=operation, retry_in=None)
                return "error", exc, ambiguous

    def _confirm(self, flight: _Flight, outcome: str) -> bool:
        """After a retried call was refused: did the first try take effect (our run has `outcome`)?"""
        try:
            detail = self.client.get_job(flight.job.id)
        except McpJobsError:
            return False
        for run in detail.get("runs", []):
            if run.get("id") == flight.job.run_id:
                return bool(run.get("outcome") == outcome)
        return False

    # -- bookkeeping ------------------------------------------------------------------------------

    def _finish(self, flight: _Flight) -> None:
        """Drop a flight whose handler has returned and whose outcome is settled (holds self._cv)."""
        if self._flights.pop(flight.job.run_id, None) is not None:
            self._last_finish = time.monotonic()
            self._cv.notify_all()

    def _done(
        self,
        flight: _Flight,
        event: str,
        *,
        next_claimed: ClaimedJob | None = None,
        sent_at: float = 0.0,
        **data: Any,
    ) -> _Flight | None:
        """The outcome is recorded; admit the job complete_and_claim_next claimed, if any."""
        new: _Flight | None = None
        with self._cv:
            flight.state = "done"
            if event == "job:completed":
                self._stats.completed += 1
            else:
                self._stats.failed += 1
            self._flights.pop(flight.job.run_id, None)
            if next_claimed is not None:
                new = self._admit(next_claimed, sent_at)
            self._last_finish = time.monotonic()
            self._cv.notify_all()
        self._emit(event, job=flight.job, attempt=flight.job.attempt, **data)
        if new is not None:
            self._emit("job:claimed", job=new.job, attempt=new.job.attempt)
        return new

    def _lose(self, flight: _Flight, error: BaseException | None, *, when_reporting: bool) -> None:
        """The lease is gone: the outcome of this attempt will not be reported."""
        with self._cv:
            if flight.state == "reporting" and not when_reporting:
                return  # a heartbeat raced the outcome call, which will tell
            if flight.state not in ("running", "reporting"):
                return
            flight.state = "lost"
            self._stats.lost += 1
            flight.job.lost.set()
            if flight.handler_done:
                self._finish(flight)
        reason = error.message if isinstance(error, McpJobsError) else str(error or "")
        self._emit("job:lost", job=flight.job, error=error, reason=reason)

    def _give_up(self, flight: _Flight, error: BaseException | None) -> None:
        """The outcome could not be reported (shutdown, or an error no retry fixes): the job's lease
        will run out and it will be claimed again."""
        with self._cv:
            if flight.state in ("done", "lost"):
                return
            first = flight.state != "abandoned"
            flight.state = "abandoned"
            flight.job.lost.set()
            if first:
                self._stats.abandoned += 1
            if flight.handler_done:
                self._finish(flight)
        if first:
            self._emit("job:abandoned", job=flight.job, error=error)

    def _abandon_all(self) -> list[_Flight]:
        """The shutdown grace ran out (holds self._cv)."""
        abandoned = []
        for flight in list(self._flights.values()):
            if flight.state in ("running", "reporting"):
                flight.state = "abandoned"
                flight.job.lost.set()
                self._stats.abandoned += 1
                abandoned.append(flight)
        self._flights.clear()
        self._pending.clear()
        self._hard_stop.set()
        return abandoned

    # -- heartbeats -------------------------------------------------------------------------------

    def _heartbeat_loop(self, hard_stop: threading.Event) -> None:
        lease = float(self.lease_seconds)
        retry = min(1.0, lease / 10)
        while not hard_stop.is_set():
            with self._cv:
                now = time.monotonic()
                live = [f for f in self._flights.values() if f.state in ("running", "reporting")]
                due = [f for f in live if f.renew_at <= now]
                if not due:
                    if not self._running:
                        return
                    nxt = min((f.renew_at for f in live), default=now + 5.0)
                    self._cv.wait(timeout=max(0.001, min(nxt - now, 5.0)))
                    continue
                for f in due:  # not again before this try has an answer
                    f.renew_at = now + retry
            for f in due:
                if hard_stop.is_set():
                    return
                self._heartbeat(f, None)

    def _heartbeat(self, flight: _Flight, data: JSON) -> bool:
        job = flight.job
        sent_at = time.monotonic()
        try:
            answer = self.client.report_progress(job.id, job.run_id, data)
        except (ConflictError, NotFoundError) as exc:
            self._lose(flight, exc, when_reporting=False)
            return False
        except McpJobsError as exc:
            self._emit(
                "error",
                job=job,
                error=exc,
                operation="report_progress",
                retry_in=min(1.0, self.lease_seconds / 10),
            )
            return False
        with self._cv:
            flight.renew_at = sent_at + self.lease_seconds / 2
            flight.lease_deadline = sent_at + self.lease_seconds
        self._emit("job:heartbeat", job=job, lease_expires_at=answer.get("lease_expires_at"))
        return True

    def _progress_from_handler(self, job: Job, data: JSON) -> bool:
        with self._cv:
            flight = self._flights.get(job.run_id)
        if flight is None or job.lost.is_set():
            raise LeaseLostError(f"job {job.id} is no longer held by this worker", function="report_progress")
        sent_at = time.monotonic()
        try:
            self.client.report_progress(job.id, job.run_id, data)
        except (ConflictError, NotFoundError) as exc:
            self._lose(flight, exc, when_reporting=False)
            raise LeaseLostError(
                exc.message,
                status=exc.status,
                code=exc.code,
                details=exc.details,
                hint=exc.hint,
                function="report_progress",
            ) from exc
        except TransientError as exc:
            self._emit("error", job=job, error=exc, operation="report_progress", retry_in=None)
            return False
        with self._cv:
            flight.renew_at = sent_at + self.lease_seconds / 2
            flight.lease_deadline = sent_at + self.lease_seconds
        return True

    # -- signals and events -----------------------------------------------------------------------

    def _install_signal_handlers(self) -> Callable[[], None]:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous: dict[int, Any] = {}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            # first signal: graceful stop; second: give up on the jobs still running
            self.stop(grace=0.0 if self._stopping else None)

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def _emit(
        self, type_: str, *, job: Job | None = None, error: BaseException | None = None, **data: Any
    ) -> None:
        event = WorkerEvent(type=type_, worker_id=self.worker_id, job=job, error=error, data=data)
        if type_ == "error":
            logger.warning("%s: %s failed: %s", self.worker_id, data.get("operation"), error)
        elif logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s: %s %s %s", self.worker_id, type_, job.id if job else "", data or "")
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # a broken callback must not stop the worker
                logger.exception("mcp_jobs worker on_event callback failed")


def _trimmed_traceback(exc: BaseException) -> str:
    """The handler's traceback without the worker's own frame, its last frames only, capped."""
    tb: TracebackType | None = exc.__traceback__
    if tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb, limit=-MAX_TRACEBACK_FRAMES))
    if len(text) > MAX_TRACEBACK_CHARS:
        text = "… [trimmed]\n" + text[-MAX_TRACEBACK_CHARS:]
    return text
