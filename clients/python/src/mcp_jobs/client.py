"""A typed client of the mcp_jobs API over PostgREST (Supabase's ``/rest/v1/rpc/<function>``)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

import requests

from .errors import McpJobsError, NetworkError, error_from_response
from .types import (
    JSON,
    Alert,
    CancelResult,
    ClaimedJob,
    CompleteJobsRow,
    CompletionResult,
    DeadLetter,
    DeadLetterGroup,
    Diagnostics,
    FailureResult,
    JobDetail,
    JobRow,
    JobSpec,
    JobStats,
    MetricsRow,
    ProgressResult,
    QueueDepthRow,
    QueueRow,
    QueueSettings,
    RequeuedDeadLetter,
    ResolveResult,
    Schedule,
    ScheduleRow,
    from_row,
    parse_timestamp,
)

Id = str | uuid.UUID
"""A job, run or dead-letter id: a string or a :class:`uuid.UUID`."""

Timestamp = str | datetime
"""A timestamptz argument: an aware :class:`~datetime.datetime` or ISO 8601 text."""

RowT = TypeVar("RowT")

DEFAULT_TIMEOUT = 30.0

MAX_WAIT_MS = 60_000
"""The longest wait a claim may ask for (``p_wait_ms``)."""

QUEUE_SETTINGS = frozenset(
    ("paused", "max_concurrency", "max_concurrency_per_key", "rate_limit", "rate_period", "max_queued")
)
"""The settings set_queue's ``clear`` may name."""


def _id(value: Id) -> str:
    return str(value)


def _ids(values: Sequence[Id]) -> list[str]:
    if isinstance(values, str | uuid.UUID):
        raise TypeError("pass a sequence of ids, not a single id")
    return [str(v) for v in values]


def _strings(name: str, values: Sequence[str] | None) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        raise TypeError(f"{name} must be a sequence of strings, not a string")
    return list(values)


def _timestamp(value: Timestamp | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("pass a timezone-aware datetime (e.g. datetime.now(timezone.utc))")
        return value.isoformat()
    return value


def _interval(value: timedelta | str | None) -> str | None:
    """An interval argument: a :class:`~datetime.timedelta` or PostgreSQL interval text."""
    if value is None or isinstance(value, str):
        return value
    return f"{value.total_seconds()!r} seconds"


def _wait_ms(value: int | None) -> int | None:
    """p_wait_ms, left out when 0 (its default): a claim that does not wait works with an extension
    older than 0.7.0, which has no p_wait_ms."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"wait_ms must be an int (milliseconds), got {value!r}")
    return value or None


def _job_spec(index: int, job: JobSpec | Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(job, Mapping):
        raise TypeError(f"jobs[{index}] must be a mapping (source, job_type, ...), got {type(job).__name__}")
    item = {k: v for k, v in job.items() if v is not None}
    run_at = item.get("run_at")
    if isinstance(run_at, datetime):
        item["run_at"] = _timestamp(run_at)
    payload = item.get("payload")
    if isinstance(payload, Mapping):
        item["payload"] = dict(payload)
    return item


def _args(**kwargs: Any) -> dict[str, Any]:
    """The JSON body of an RPC: ``p_<name>`` for every argument given (None: left to its default)."""
    return {f"p_{k.rstrip('_')}": v for k, v in kwargs.items() if v is not None}


class Client:
    """Calls the mcp_jobs functions through PostgREST.

    Args:
        url: the Supabase (or gateway) URL, e.g. ``https://<project>.supabase.co``; requests go to
            ``{url}/rest/v1/rpc/<function>``.
        key: a ``service_role`` key (or any JWT of a role granted the queue); sent as ``apikey`` and
            ``Authorization: Bearer``.
        timeout: seconds to wait for an answer (connect and read).
        rest_path: the path of the REST API under ``url`` (``/rest/v1`` on Supabase).

    Every method raises a subclass of :class:`mcp_jobs.McpJobsError` when the call is refused (see
    :mod:`mcp_jobs.errors`). The client makes no retries of its own: a :class:`~mcp_jobs.TransientError`
    may be retried by the caller (the :class:`~mcp_jobs.Worker` does). A client may be shared between
    threads: each thread uses its own HTTP session (connection pool).
    """

    def __init__(
        self,
        url: str,
        key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        rest_path: str = "/rest/v1",
    ) -> None:
        if not url:
            raise ValueError("url is required (the Supabase URL, e.g. https://<project>.supabase.co)")
        if not key:
            raise ValueError("key is required (a service_role key)")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.url = url.rstrip("/")
        self.rest_url = self.url + "/" + rest_path.strip("/")
        self.timeout = timeout
        self._headers = {
            "apikey": key,
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    # -- transport --------------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(self._headers)
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        """Close the HTTP sessions of every thread that used this client."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for s in sessions:
            s.close()
        self._local = threading.local()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rpc(
        self, function: str, args: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> Any:
        """POST ``/rpc/<function>`` with ``args`` (the JSON body, keys ``p_...``); returns the decoded
        JSON answer (``None`` for an empty one). The typed methods below all go through here; use it
        for a function this client does not know yet."""
        url = f"{self.rest_url}/rpc/{function}"
        try:
            response = self._session().post(url, json=dict(args or {}), timeout=timeout or self.timeout)
        except requests.RequestException as exc:
            raise NetworkError(f"{type(exc).__name__}: {exc}", function=function) from exc
        if response.status_code >= 300:
            try:
                body = response.json()
            except ValueError:
                body = None
            raise error_from_response(function, response.status_code, body, response.text, response.headers)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise McpJobsError(
                f"the answer is not JSON: {response.text[:200]!r}",
                status=response.status_code,
                function=function,
            ) from exc

    def _rows(
        self, cls: type[RowT], function: str, args: Mapping[str, Any], *, timeout: float | None = None
    ) -> list[RowT]:
        data = self.rpc(function, args, timeout=timeout)
        if not isinstance(data, list):
            raise McpJobsError(f"expected a JSON array of rows, got {type(data).__name__}", function=function)
        return [from_row(cls, row) for row in data]

    def _wait_timeout(self, wait_ms: int | None) -> float | None:
        """The HTTP timeout of a claim that may wait ``wait_ms`` in the server: longer than the wait.
        A value out of range is left to the server to refuse (22023)."""
        if not wait_ms or not 0 < wait_ms <= MAX_WAIT_MS:
            return None
        return self.timeout + wait_ms / 1000.0

    def _one_or_none(self, cls: type[RowT], function: str, args: Mapping[str, Any]) -> RowT | None:
        rows = self._rows(cls, function, args)
        return rows[0] if rows else None

    # -- produce ----------------------------------------------------------------------------------

    def enqueue_job(
        self,
        source: str,
        job_type: str,
        payload: Mapping[str, JSON] | str | None = None,
        priority: int | None = None,
        *,
        run_at: Timestamp | None = None,
        max_attempts: int | None = None,
        idempotency_key: str | None = None,
        concurrency_key: str | None = None,
    ) -> str:
        """Add a job to the queue; returns its id. ``payload`` is a JSON object (or a JSON string that
        holds one, as n8n sends it); ``priority`` 0-10 (default 5, higher first); ``run_at`` not
        before this time; ``max_attempts`` 1-1000 (default ``mcp_jobs.default_max_attempts``); a
        second enqueue with the same source and ``idempotency_key`` returns the first job's id;
        ``concurrency_key`` names a tenant or resource that the queue's ``max_concurrency_per_key``
        limits.

        Raises :class:`~mcp_jobs.TooManyRequestsError` (HTTP 429, ``retry_after``) when the queue is
        at its ``max_queued``: nothing is stored.

        The MCP Jobs design's Odoo call: ``client.enqueue_job(source, 'discovery', payload, priority=5)``.
        """
        body = _args(
            source=source,
            job_type=job_type,
            payload=dict(payload) if isinstance(payload, Mapping) else payload,
            priority=priority,
            run_at=_timestamp(run_at),
            max_attempts=max_attempts,
            idempotency_key=idempotency_key,
            concurrency_key=concurrency_key,
        )
        # required arguments are sent even when None, so that the server names them (22004)
        body.setdefault("p_source", source)
        body.setdefault("p_job_type", job_type)
        return cast(str, self.rpc("enqueue_job", body))

    def enqueue_jobs(self, jobs: Sequence[JobSpec | Mapping[str, Any]]) -> list[str]:
        """Enqueue 1-1000 jobs in one call and one transaction, all or nothing; returns their ids in
        input order. Each job is a mapping of enqueue_job's arguments without ``p_`` (``source``,
        ``job_type``, ``payload``, ``priority``, ``run_at``, ``max_attempts``, ``idempotency_key``,
        ``concurrency_key``); ``None`` values are left out. A bad job raises
        :class:`~mcp_jobs.BadRequestError` whose message names its 0-based index (``p_jobs[5]``);
        a queue over its ``max_queued`` raises :class:`~mcp_jobs.TooManyRequestsError`."""
        if isinstance(jobs, Mapping | str):
            raise TypeError("jobs must be a sequence of mappings, not a single job")
        items = [_job_spec(i, job) for i, job in enumerate(jobs)]
        return cast(list[str], self.rpc("enqueue_jobs", {"p_jobs": items}))

    # -- work -------------------------------------------------------------------------------------

    def claim_next_job(
        self,
        worker_id: str | None = None,
        *,
        sources: Sequence[str] | None = None,
        job_types: Sequence[str] | None = None,
        lease_seconds: int | None = None,
        wait_ms: int | None = None,
    ) -> ClaimedJob | None:
        """Claim the next due job (priority, then run_at, then enqueue order), or ``None`` when nothing
        is due. The job is held for ``lease_seconds`` (default 300); report_progress extends it.

        ``wait_ms`` (0-60000, default 0) makes it a long poll: with nothing due the call waits up to
        that long and returns as soon as a job can be claimed (woken by the commit of an enqueue
        when the library is preloaded, else by polling every 100 ms in the server). The HTTP
        timeout of the call is the client's ``timeout`` plus the wait."""
        wait = _wait_ms(wait_ms)
        rows = self._rows(
            ClaimedJob,
            "claim_next_job",
            _args(
                worker_id=worker_id,
                sources=_strings("sources", sources),
                job_types=_strings("job_types", job_types),
                lease_seconds=lease_seconds,
                wait_ms=wait,
            ),
            timeout=self._wait_timeout(wait),
        )
        return rows[0] if rows else None

    def claim_jobs(
        self,
        worker_id: str | None = None,
        *,
        sources: Sequence[str] | None = None,
        job_types: Sequence[str] | None = None,
        lease_seconds: int | None = None,
        limit: int | None = None,
        wait_ms: int | None = None,
    ) -> list[ClaimedJob]:
        """Claim up to ``limit`` (1-1000, default 10) due jobs at once, in claim order, each with its
        own run id; an empty list when nothing is due. ``wait_ms`` as for :meth:`claim_next_job`:
        the call returns as soon as at least one job can be claimed."""
        wait = _wait_ms(wait_ms)
        return self._rows(
            ClaimedJob,
            "claim_jobs",
            _args(
                worker_id=worker_id,
                sources=_strings("sources", sources),
                job_types=_strings("job_types", job_types),
                lease_seconds=lease_seconds,
                limit=limit,
                wait_ms=wait,
            ),
            timeout=self._wait_timeout(wait),
        )

    def report_progress(self, job_id: Id, run_id: Id, progress: JSON = None) -> ProgressResult:
        """Heartbeat of a running attempt: extends its lease and records a ``progress`` event with
        ``progress`` (any JSON value). :class:`~mcp_jobs.ConflictError` when the run is no longer
        the job's current run (its lease was lost)."""
        body: dict[str, Any] = {"p_job_id": _id(job_id), "p_run_id": _id(run_id)}
        if progress is not None:
            body["p_progress"] = progress
        return cast(ProgressResult, self.rpc("report_progress", body))

    def complete_job(self, job_id: Id, run_id: Id, result: JSON = None) -> CompletionResult:
        """Mark the job completed with ``result`` (any JSON value); only its current run may."""
        body: dict[str, Any] = {"p_job_id": _id(job_id), "p_run_id": _id(run_id)}
        if result is not None:
            body["p_result"] = result
        return cast(CompletionResult, self.rpc("complete_job", body))

    def complete_and_claim_next(
        self,
        job_id: Id,
        run_id: Id,
        result: JSON = None,
        worker_id: str | None = None,
        *,
        sources: Sequence[str] | None = None,
        job_types: Sequence[str] | None = None,
        lease_seconds: int | None = None,
    ) -> ClaimedJob | None:
        """complete_job, then claim_next_job, in one call and one transaction; returns the next job or
        ``None``. When the completion is refused nothing is completed and nothing is claimed."""
        body = _args(
            worker_id=worker_id,
            sources=_strings("sources", sources),
            job_types=_strings("job_types", job_types),
            lease_seconds=lease_seconds,
        )
        body["p_job_id"] = _id(job_id)
        body["p_run_id"] = _id(run_id)
        if result is not None:
            body["p_result"] = result
        return self._one_or_none(ClaimedJob, "complete_and_claim_next", body)

    def complete_jobs(
        self, job_ids: Sequence[Id], run_ids: Sequence[Id], results: Sequence[JSON] | None = None
    ) -> list[CompleteJobsRow]:
        """Complete many (job, run) pairs in one call; one row per pair, in input order, with
        ``completed`` and the reason when not. A pair that cannot complete does not stop the others."""
        body: dict[str, Any] = {"p_job_ids": _ids(job_ids), "p_run_ids": _ids(run_ids)}
        if results is not None:
            body["p_results"] = list(results)
        return self._rows(CompleteJobsRow, "complete_jobs", body)

    def fail_job(
        self,
        job_id: Id,
        run_id: Id,
        error: str,
        retry: bool | None = None,
        details: JSON = None,
    ) -> FailureResult:
        """Record a failed attempt with ``error``. With ``retry`` (default true) and attempts left the
        job is queued again after the backoff; otherwise it is dead-lettered. ``details`` (any JSON: a
        traceback, a failure analysis) is kept in the ``failed`` event and the dead letter."""
        body: dict[str, Any] = {"p_job_id": _id(job_id), "p_run_id": _id(run_id), "p_error": error}
        if retry is not None:
            body["p_retry"] = retry
        if details is not None:
            body["p_details"] = details
        return cast(FailureResult, self.rpc("fail_job", body))

    # -- manage -----------------------------------------------------------------------------------

    def cancel_job(self, job_id: Id) -> CancelResult:
        """Cancel a queued job (also one waiting for a retry)."""
        return cast(CancelResult, self.rpc("cancel_job", {"p_job_id": _id(job_id)}))

    def requeue_dead_letter(self, dead_letter_id: Id) -> str:
        """Run a dead job again with fresh attempts; returns the job id."""
        return cast(str, self.rpc("requeue_dead_letter", {"p_id": _id(dead_letter_id)}))

    def resolve_dead_letter(self, dead_letter_id: Id, note: str | None = None) -> ResolveResult:
        """Close a dead letter without running the job again."""
        body = _args(id=_id(dead_letter_id), note=note)
        return cast(ResolveResult, self.rpc("resolve_dead_letter", body))

    def requeue_dead_letters(self, dead_letter_ids: Sequence[Id]) -> list[RequeuedDeadLetter]:
        """requeue_dead_letter for many dead letters, all or nothing; one row per dead letter."""
        return self._rows(RequeuedDeadLetter, "requeue_dead_letters", {"p_ids": _ids(dead_letter_ids)})

    def resolve_dead_letters(self, dead_letter_ids: Sequence[Id], note: str | None = None) -> int:
        """resolve_dead_letter for many dead letters with one note, all or nothing; returns how many."""
        body = _args(ids=_ids(dead_letter_ids), note=note)
        return int(self.rpc("resolve_dead_letters", body))

    # -- read -------------------------------------------------------------------------------------

    def list_jobs(
        self,
        *,
        source: str | None = None,
        job_type: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        before: Id | None = None,
    ) -> list[JobRow]:
        """Jobs newest first, filtered; pass the last id of a page as ``before`` for the next page."""
        body = _args(
            source=source,
            job_type=job_type,
            status=status,
            limit=limit,
            before=_id(before) if before is not None else None,
        )
        return self._rows(JobRow, "list_jobs", body)

    def get_job(self, job_id: Id) -> JobDetail:
        """One job with its runs, events and dead letters."""
        return cast(JobDetail, self.rpc("get_job", {"p_job_id": _id(job_id)}))

    def get_job_stats(self, source: str | None = None) -> JobStats:
        """Counts of jobs by status, the total and unresolved dead letters (of one source or all)."""
        return cast(JobStats, self.rpc("get_job_stats", _args(source=source)))

    def list_dead_letters(
        self,
        *,
        source: str | None = None,
        job_type: str | None = None,
        resolved: bool | None = None,
        limit: int | None = None,
        before: Id | None = None,
    ) -> list[DeadLetter]:
        """Dead letters newest first (default: unresolved only); ``before`` pages."""
        body = _args(
            source=source,
            job_type=job_type,
            resolved=resolved,
            limit=limit,
            before=_id(before) if before is not None else None,
        )
        return self._rows(DeadLetter, "list_dead_letters", body)

    def dead_letter_groups(self, resolved: bool | None = None) -> list[DeadLetterGroup]:
        """Dead letters grouped by source, job type and error (default: unresolved only)."""
        return self._rows(DeadLetterGroup, "dead_letter_groups", _args(resolved=resolved))

    def get_metrics(
        self,
        *,
        from_: Timestamp | None = None,
        to: Timestamp | None = None,
        source: str | None = None,
        job_type: str | None = None,
    ) -> list[MetricsRow]:
        """Hourly metrics of ``[from_, to)`` (at most 31 days; default the last 24 hours)."""
        body = _args(from_=_timestamp(from_), to=_timestamp(to), source=source, job_type=job_type)
        return self._rows(MetricsRow, "get_metrics", body)

    def alerts(self) -> list[Alert]:
        """The sources past a warning or critical threshold (queue depth, dead letters, success rate)."""
        return self._rows(Alert, "alerts", {})

    def queue_depth(self) -> list[QueueDepthRow]:
        """Queued and in-flight jobs per source and job type, with whether the queue is paused and
        what flow control holds back (``held``)."""
        return self._rows(QueueDepthRow, "queue_depth", {})

    def diagnostics(self) -> Diagnostics:
        """How the installation serves the queue: versions, whether the library is preloaded (waiting
        claims woken by an enqueue's commit) or not (they poll every 100 ms), waiting claims, the
        maintenance worker."""
        return cast(Diagnostics, self.rpc("diagnostics", {}))

    # -- flow control -----------------------------------------------------------------------------

    def set_queue(
        self,
        source: str,
        job_type: str | None = None,
        *,
        paused: bool | None = None,
        max_concurrency: int | None = None,
        rate_limit: int | None = None,
        rate_period: timedelta | str | None = None,
        max_queued: int | None = None,
        max_concurrency_per_key: int | None = None,
        clear: Sequence[str] | None = None,
    ) -> QueueSettings | None:
        """Set the flow control of the queue (``source``, ``job_type``), or of the whole source with
        ``job_type`` ``None`` (its values apply to the source's job types that set none; a limit set
        there is one budget for them together): ``paused``, ``max_concurrency`` jobs processing at
        once, ``rate_limit`` claims per ``rate_period`` (a :class:`~datetime.timedelta` or interval
        text such as ``"1 minute"``), ``max_queued`` jobs waiting (an enqueue over it raises
        :class:`~mcp_jobs.TooManyRequestsError`), ``max_concurrency_per_key`` jobs processing at
        once per concurrency key. ``None`` leaves a setting as it is; ``clear`` names settings to
        remove (``rate_limit`` removes ``rate_period`` too). Returns the queue's settings, or
        ``None`` when no setting is left."""
        if clear is not None:
            clear = _strings("clear", clear)
        body = _args(
            job_type=job_type,
            paused=paused,
            max_concurrency=max_concurrency,
            rate_limit=rate_limit,
            rate_period=_interval(rate_period),
            max_queued=max_queued,
            max_concurrency_per_key=max_concurrency_per_key,
            clear=clear,
        )
        body["p_source"] = source
        return cast(QueueSettings | None, self.rpc("set_queue", body))

    def pause_queue(self, source: str, job_type: str | None = None) -> QueueSettings:
        """Pause a queue (or the whole source with ``job_type`` ``None``): none of its jobs is claimed
        until :meth:`resume_queue`; enqueues are still accepted."""
        body = _args(job_type=job_type)
        body["p_source"] = source
        return cast(QueueSettings, self.rpc("pause_queue", body))

    def resume_queue(self, source: str, job_type: str | None = None) -> QueueSettings | None:
        """Remove the pause of a queue (or source); a pause of the source still applies to its types.
        Returns the queue's settings, or ``None`` when no setting is left."""
        body = _args(job_type=job_type)
        body["p_source"] = source
        return cast(QueueSettings | None, self.rpc("resume_queue", body))

    def get_queues(self) -> list[QueueRow]:
        """Every queue with flow-control settings, with live counts (queued, processing, claims in the
        current rate window)."""
        return self._rows(QueueRow, "get_queues", {})

    # -- schedules --------------------------------------------------------------------------------

    def schedule_job(
        self,
        name: str,
        cron: str,
        source: str,
        job_type: str,
        payload: Mapping[str, JSON] | None = None,
        priority: int | None = None,
        *,
        timezone: str | None = None,
    ) -> Schedule:
        """Create or replace the schedule ``name``: a job (``source``, ``job_type``, ``payload``,
        ``priority``) enqueued at each occurrence of ``cron`` (five fields, or ``@hourly``-style
        names) in ``timezone`` (default UTC). A bad expression or time zone raises
        :class:`~mcp_jobs.BadRequestError` and stores nothing."""
        body = _args(
            payload=dict(payload) if payload is not None else None, priority=priority, timezone=timezone
        )
        body.update({"p_name": name, "p_cron": cron, "p_source": source, "p_job_type": job_type})
        return cast(Schedule, self.rpc("schedule_job", body))

    def unschedule_job(self, name: str) -> Schedule:
        """Remove the schedule ``name`` and return it (:class:`~mcp_jobs.NotFoundError` when there is
        none); the jobs it enqueued stay."""
        return cast(Schedule, self.rpc("unschedule_job", {"p_name": name}))

    def list_schedules(self) -> list[ScheduleRow]:
        """Every schedule with its next run time and the job it enqueued last (id and status)."""
        return self._rows(ScheduleRow, "list_schedules", {})

    def cron_next(
        self,
        cron: str,
        timezone: str | None = None,
        *,
        after: Timestamp | None = None,
        count: int | None = None,
    ) -> list[datetime]:
        """The next ``count`` (1-1000, default 1) occurrences of ``cron`` after ``after`` (default now)
        in ``timezone`` (default UTC), as aware datetimes."""
        body = _args(timezone=timezone, after=_timestamp(after), count=count)
        body["p_cron"] = cron
        data = self.rpc("cron_next", body)
        if not isinstance(data, list):
            raise McpJobsError(f"expected a JSON array, got {type(data).__name__}", function="cron_next")
        return [t for t in (parse_timestamp(str(v)) for v in data) if t is not None]
