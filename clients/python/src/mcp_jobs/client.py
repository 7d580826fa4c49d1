"""A typed client of the mcp_jobs API over PostgREST (Supabase's ``/rest/v1/rpc/<function>``)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
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
    FailureResult,
    JobDetail,
    JobRow,
    JobStats,
    MetricsRow,
    ProgressResult,
    QueueDepthRow,
    RequeuedDeadLetter,
    ResolveResult,
    from_row,
)

Id = str | uuid.UUID
"""A job, run or dead-letter id: a string or a :class:`uuid.UUID`."""

Timestamp = str | datetime
"""A timestamptz argument: an aware :class:`~datetime.datetime` or ISO 8601 text."""

RowT = TypeVar("RowT")

DEFAULT_TIMEOUT = 30.0


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
            raise error_from_response(function, response.status_code, body, response.text)
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
    ) -> str:
        """Add a job to the queue; returns its id. ``payload`` is a JSON object (or a JSON string that
        holds one, as n8n sends it); ``priority`` 0-10 (default 5, higher first); ``run_at`` not
        before this time; ``max_attempts`` 1-1000 (default ``mcp_jobs.default_max_attempts``); a
        second enqueue with the same source and ``idempotency_key`` returns the first job's id.

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
        )
        # required arguments are sent even when None, so that the server names them (22004)
        body.setdefault("p_source", source)
        body.setdefault("p_job_type", job_type)
        return cast(str, self.rpc("enqueue_job", body))

    # -- work -------------------------------------------------------------------------------------

    def claim_next_job(
        self,
        worker_id: str | None = None,
        *,
        sources: Sequence[str] | None = None,
        job_types: Sequence[str] | None = None,
        lease_seconds: int | None = None,
    ) -> ClaimedJob | None:
        """Claim the next due job (priority, then run_at, then enqueue order), or ``None`` when nothing
        is due. The job is held for ``lease_seconds`` (default 300); report_progress extends it."""
        return self._one_or_none(
            ClaimedJob,
            "claim_next_job",
            _args(
                worker_id=worker_id,
                sources=_strings("sources", sources),
                job_types=_strings("job_types", job_types),
                lease_seconds=lease_seconds,
            ),
        )

    def claim_jobs(
        self,
        worker_id: str | None = None,
        *,
        sources: Sequence[str] | None = None,
        job_types: Sequence[str] | None = None,
        lease_seconds: int | None = None,
        limit: int | None = None,
    ) -> list[ClaimedJob]:
        """Claim up to ``limit`` (1-1000, default 10) due jobs at once, in claim order, each with its
        own run id; an empty list when nothing is due."""
        return self._rows(
            ClaimedJob,
            "claim_jobs",
            _args(
                worker_id=worker_id,
                sources=_strings("sources", sources),
                job_types=_strings("job_types", job_types),
                lease_seconds=lease_seconds,
                limit=limit,
            ),
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
        """Queued and in-flight jobs per source and job type."""
        return self._rows(QueueDepthRow, "queue_depth", {})
