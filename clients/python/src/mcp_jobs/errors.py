"""Exceptions raised by :class:`mcp_jobs.Client` (and so by the worker's calls).

PostgREST answers a refused call with an HTTP 4xx and a JSON body ``{"code", "message", "details",
"hint"}``; ``code`` is the SQLSTATE the extension raised (``22023``, ``22004``, ...) or PostgREST's
own code (``PT404``, ``PT409``, ``PT413``, ``PGRST202``, ...). Each status has its class:

============================  ======================================================================
class                         when
============================  ======================================================================
:class:`BadRequestError`      400: bad input (``22004``, ``22023``, ``22P02``, ...)
:class:`AuthError`            401 / 403: no key, a bad or expired key, a role without access
:class:`NotFoundError`        404: unknown job or dead letter (``PT404``), unknown function (``PGRST202``)
:class:`ConflictError`        409: wrong state, or a run id that is not the job's current run (``PT409``)
:class:`PayloadTooLargeError` 413: a payload, result or progress over ``mcp_jobs.max_payload_bytes``
:class:`TooManyRequestsError` 429: the queue is full (``53400``, over its ``max_queued``) or a gateway
                              limits requests; ``retry_after`` seconds (the Retry-After header)
:class:`TransientError`       5xx, 429 and :class:`NetworkError` (no answer): worth retrying
:class:`McpJobsError`         the base class; any other status
============================  ======================================================================

A call that raised a 4xx changed nothing. A :class:`TransientError` is ambiguous: the call may or
may not have taken effect (a connection that broke after the commit), which is why the worker checks
the job's state before it reports an outcome a second time.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


class McpJobsError(Exception):
    """A call of the mcp_jobs API failed.

    Attributes:
        status: the HTTP status (``None`` when no response came back).
        code: the SQLSTATE or PostgREST code (``"22023"``, ``"PT409"``, ``"PGRST202"``), if any.
        message: the error message.
        details: the error's detail text, if any.
        hint: the error's hint, if any.
        function: the RPC that was called.
    """

    retriable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: str | None = None,
        hint: str | None = None,
        function: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint
        self.function = function

    def __str__(self) -> str:
        parts = []
        if self.function:
            parts.append(f"{self.function}:")
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(f"[{self.code}]")
        parts.append(self.message)
        text = " ".join(parts)
        if self.details:
            text += f" (detail: {self.details})"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, function={self.function!r})"
        )


class BadRequestError(McpJobsError):
    """HTTP 400: an argument was refused (NULL where required, out of its domain, malformed)."""


class AuthError(McpJobsError):
    """HTTP 401 or 403: no key, an invalid or expired key, or a role without access to the queue."""


class NotFoundError(McpJobsError):
    """HTTP 404: no job or dead letter with that id (``PT404``), or an unknown function or argument
    name (``PGRST202``: the extension is older than this client, or not installed)."""


class ConflictError(McpJobsError):
    """HTTP 409: the job or dead letter is in the wrong state, or the run id is not the job's
    current run (another worker has it, or its lease expired and it was requeued)."""


class PayloadTooLargeError(McpJobsError):
    """HTTP 413: a payload, result or progress document over ``mcp_jobs.max_payload_bytes``."""


class TransientError(McpJobsError):
    """HTTP 5xx or 429, or no answer at all (:class:`NetworkError`): PostgREST, the gateway or the
    database is unavailable for now. Retry with a backoff. The call may have taken effect."""

    retriable = True


class TooManyRequestsError(TransientError):
    """HTTP 429: the queue is full (``code`` ``53400``: an enqueue over the queue's ``max_queued``;
    nothing was stored) or a gateway in front of PostgREST limits requests.

    Attributes:
        retry_after: seconds to wait before trying again, from the ``Retry-After`` header (``None``
            when the answer had none). For a full queue the extension estimates it from the queue's
            rate limit (at least 1 s).
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after

    def __str__(self) -> str:
        text = super().__str__()
        if self.retry_after is not None:
            text += f" (retry after {self.retry_after:g} s)"
        return text


class NetworkError(TransientError):
    """No HTTP answer: the connection was refused or broke, or the request timed out."""


class LeaseLostError(McpJobsError):
    """Raised by :meth:`mcp_jobs.Job.progress` when the heartbeat was refused: the job's lease was
    lost (another worker may run it now). The worker will not report this attempt's outcome."""


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: a number of seconds, or an HTTP date (RFC 9110).
    ``None`` when absent or unreadable; never negative."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def error_from_response(
    function: str, status: int, body: Any, text: str, headers: Mapping[str, str] | None = None
) -> McpJobsError:
    """The exception for an HTTP error answer of PostgREST (or of a proxy in front of it);
    ``headers`` (case-insensitive, as ``requests`` gives them) for ``Retry-After``."""
    code: str | None = None
    message = ""
    details: str | None = None
    hint: str | None = None
    if isinstance(body, dict):
        raw_code = body.get("code")
        code = str(raw_code) if raw_code is not None else None
        message = str(body.get("message") or "")
        raw_details = body.get("details")
        details = str(raw_details) if raw_details is not None else None
        raw_hint = body.get("hint")
        hint = str(raw_hint) if raw_hint is not None else None
    if not message:
        snippet = " ".join(text.split())[:200]
        message = f"HTTP {status}" + (f": {snippet}" if snippet else "")
    if status == 429:
        retry_after = parse_retry_after(headers.get("Retry-After") if headers is not None else None)
        return TooManyRequestsError(
            message,
            retry_after=retry_after,
            status=status,
            code=code,
            details=details,
            hint=hint,
            function=function,
        )
    cls: type[McpJobsError]
    if status == 400:
        cls = BadRequestError
    elif status in (401, 403):
        cls = AuthError
    elif status == 404:
        cls = NotFoundError
    elif status == 409:
        cls = ConflictError
    elif status == 413:
        cls = PayloadTooLargeError
    elif status >= 500:
        cls = TransientError
    else:
        cls = McpJobsError
    return cls(message, status=status, code=code, details=details, hint=hint, function=function)
