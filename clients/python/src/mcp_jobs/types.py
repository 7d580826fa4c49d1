"""Result types of :class:`mcp_jobs.Client`.

Functions that return rows (``RETURNS TABLE``) give frozen dataclasses, with timestamps parsed into
timezone-aware :class:`datetime.datetime` objects and ids as strings. Functions that return a JSON
document (``RETURNS jsonb``) give it as PostgREST sent it, typed as a :class:`typing.TypedDict`
(timestamps stay ISO 8601 strings there). Keys or columns a newer extension adds are ignored by the
dataclasses and kept in the dictionaries.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NotRequired, TypedDict, TypeVar, cast

JSON = Any
"""Any JSON value: dict, list, str, int, float, bool or None."""


def parse_timestamp(value: str | None) -> datetime | None:
    """PostgREST's timestamptz text (``2026-01-01T10:00:00.412+00:00``) as an aware datetime."""
    if value is None:
        return None
    return datetime.fromisoformat(value)


@dataclass(frozen=True)
class ClaimedJob:
    """A job this worker now holds, from claim_next_job / claim_jobs / complete_and_claim_next.
    ``run_id`` is the fencing token that complete_job, fail_job and report_progress need."""

    id: str
    run_id: str
    attempt: int
    max_attempts: int
    source: str
    job_type: str
    payload: dict[str, JSON]
    priority: int
    run_at: datetime
    created_at: datetime
    lease_expires_at: datetime


@dataclass(frozen=True)
class CompleteJobsRow:
    """One row of complete_jobs: whether that (job, run) pair was completed, and if not, why
    (``not found``, ``lease expired``, ``not processing: <status>``, ``stale run``)."""

    job_id: str
    run_id: str
    status: str | None
    completed: bool
    reason: str | None


@dataclass(frozen=True)
class JobRow:
    """One job of list_jobs."""

    id: str
    source: str
    job_type: str
    status: str
    priority: int
    attempts: int
    max_attempts: int
    payload: dict[str, JSON]
    result: JSON
    last_error: str | None
    worker_id: str | None
    run_at: datetime
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter of list_dead_letters. ``details`` is what fail_job was given as p_details (the
    worker's traceback and failure analysis)."""

    id: str
    job_id: str
    source: str
    job_type: str
    payload: dict[str, JSON]
    attempts: int
    last_error: str | None
    details: JSON
    failed_at: datetime
    resolved: bool
    resolved_at: datetime | None
    resolution: str | None
    resolution_note: str | None


@dataclass(frozen=True)
class DeadLetterGroup:
    """Dead letters of one source, job type and error (dead_letter_groups)."""

    source: str
    job_type: str
    error: str | None
    dead_letters: int
    first_failed_at: datetime
    last_failed_at: datetime
    ids: list[str]


@dataclass(frozen=True)
class RequeuedDeadLetter:
    """One row of requeue_dead_letters: the dead letter and the job queued again."""

    id: str
    job_id: str


@dataclass(frozen=True)
class MetricsRow:
    """One hour of one source and job type (get_metrics)."""

    hour: datetime
    source: str
    job_type: str
    enqueued: int
    started: int
    completed: int
    failed: int
    retried: int
    dead_lettered: int
    cancelled: int
    lease_expired: int
    success_rate: float | None
    run_ms_avg: float | None
    run_ms_p50: float | None
    run_ms_p95: float | None
    run_ms_max: float | None
    wait_ms_p50: float | None
    wait_ms_p95: float | None


@dataclass(frozen=True)
class Alert:
    """One alert row: a source past a warning or critical threshold."""

    level: str
    metric: str
    source: str
    value: float
    threshold: float
    message: str


@dataclass(frozen=True)
class QueueDepthRow:
    """Queued and in-flight jobs of one source and job type, and what flow control holds back:
    ``paused``, and ``held`` (``paused``, ``max_concurrency``, ``max_queued``, ``rate_limit``, or
    ``None`` when nothing holds the queue back)."""

    source: str
    job_type: str
    queued: int
    processing: int
    due_now: int
    oldest_queued_at: datetime | None
    oldest_queued_age_seconds: float | None
    paused: bool | None
    held: str | None


@dataclass(frozen=True)
class QueueRow:
    """One row of get_queues: the flow-control settings of a queue (``job_type`` ``None``: the whole
    source) with live counts. ``rate_period`` is PostgreSQL's interval text (``"00:01:00"``)."""

    source: str
    job_type: str | None
    paused: bool | None
    max_concurrency: int | None
    max_concurrency_per_key: int | None
    rate_limit: int | None
    rate_period: str | None
    max_queued: int | None
    paused_at: datetime | None
    queued: int | None
    processing: int | None
    claims_in_window: int | None
    window_start: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class ScheduleRow:
    """One row of list_schedules: a recurring job, its next run, and the job it enqueued last."""

    name: str
    cron: str
    timezone: str
    source: str
    job_type: str
    payload: dict[str, JSON]
    priority: int
    next_run_at: datetime
    last_run_at: datetime | None
    last_job_id: str | None
    last_job_status: str | None
    created_at: datetime
    updated_at: datetime


class CompletionResult(TypedDict):
    """complete_job's answer."""

    job_id: str
    run_id: str
    status: str
    attempt: int
    duration_ms: float | None
    finished_at: str


class FailureResult(TypedDict):
    """fail_job's answer: ``status`` is ``queued`` (retried at ``retry_at``) or ``failed`` (dead
    letter ``dead_letter_id``)."""

    job_id: str
    run_id: str
    status: str
    attempt: int
    max_attempts: int
    retry_at: str | None
    dead_letter_id: str | None


class ProgressResult(TypedDict):
    """report_progress's answer: the lease now runs until ``lease_expires_at``."""

    job_id: str
    run_id: str
    status: str
    lease_expires_at: str


class CancelResult(TypedDict):
    """cancel_job's answer."""

    job_id: str
    status: str
    finished_at: str


class ResolveResult(TypedDict):
    """resolve_dead_letter's answer."""

    id: str
    job_id: str
    resolved: bool
    resolution: str
    resolved_at: str
    resolution_note: str | None


class JobStats(TypedDict):
    """get_job_stats's answer: counts by status, the total and unresolved dead letters."""

    source: str | None
    queued: int
    processing: int
    completed: int
    failed: int
    cancelled: int
    total: int
    dead_letter_unresolved: int


class JobDetail(TypedDict):
    """get_job's answer: every column of the job's row, plus its runs, events and dead letters (as
    JSON objects of their table rows)."""

    id: str
    source: str
    job_type: str
    payload: dict[str, JSON]
    priority: int
    status: str
    attempts: int
    max_attempts: int
    run_at: str
    lease_expires_at: str | None
    worker_id: str | None
    current_run_id: str | None
    idempotency_key: str | None
    result: JSON
    last_error: str | None
    created_at: str
    updated_at: str
    started_at: str | None
    finished_at: str | None
    runs: list[dict[str, JSON]]
    events: list[dict[str, JSON]]
    dead_letters: list[dict[str, JSON]]


class JobSpec(TypedDict):
    """One job of enqueue_jobs: enqueue_job's arguments without the ``p_`` prefix. ``run_at`` is
    ISO 8601 text or an aware :class:`~datetime.datetime`."""

    source: str
    job_type: str
    payload: NotRequired[dict[str, JSON]]
    priority: NotRequired[int]
    run_at: NotRequired[str | datetime]
    max_attempts: NotRequired[int]
    idempotency_key: NotRequired[str]
    concurrency_key: NotRequired[str]


class QueueSettings(TypedDict):
    """set_queue / pause_queue / resume_queue's answer: the settings row of the queue (``job_type``
    ``None``: the whole source). ``rate_period`` is PostgreSQL's interval text (``"00:01:00"``)."""

    source: str
    job_type: str | None
    paused: bool | None
    paused_at: str | None
    max_concurrency: int | None
    max_concurrency_per_key: int | None
    rate_limit: int | None
    rate_period: str | None
    max_queued: int | None
    updated_at: str


class Schedule(TypedDict):
    """schedule_job / unschedule_job's answer: the schedule's row."""

    name: str
    cron: str
    timezone: str
    source: str
    job_type: str
    payload: dict[str, JSON]
    priority: int
    next_run_at: str
    last_run_at: str | None
    last_job_id: str | None
    created_at: str
    updated_at: str


class Diagnostics(TypedDict):
    """diagnostics()'s answer: how this installation serves the queue. ``preloaded`` False means
    waiting claims (``wait_ms``) look for work every 100 ms instead of being woken by an enqueue's
    commit (``wakeups`` says which)."""

    library_version: str
    extension_version: str | None
    preloaded: bool
    wakeups: str
    waiting_claims: int
    waiters_woken: int
    maintenance_worker: bool
    lease_sweep_interval_ms: int


class FailureAnalysis(TypedDict):
    """What an ``analyze_failure`` callback returns: whether the failed attempt should be retried
    (when attempts are left), and why. The reason is recorded with the failure."""

    should_retry: bool
    reason: str
    details: NotRequired[JSON]


RowT = TypeVar("RowT")


_TIMESTAMP_FIELDS: dict[type[Any], frozenset[str]] = {}


def _timestamp_fields(cls: type[Any]) -> frozenset[str]:
    fields = _TIMESTAMP_FIELDS.get(cls)
    if fields is None:
        hints = typing.get_type_hints(cls)
        fields = frozenset(
            name for name, hint in hints.items() if hint is datetime or hint == (datetime | None)
        )
        _TIMESTAMP_FIELDS[cls] = fields
    return fields


def from_row(cls: type[RowT], row: dict[str, Any]) -> RowT:
    """Build a result dataclass from one JSON row: known columns only, timestamps parsed."""
    stamps = _timestamp_fields(cast(type[Any], cls))
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        value = row.get(f.name)
        if f.name in stamps and isinstance(value, str):
            value = parse_timestamp(value)
        values[f.name] = value
    return cls(**values)
