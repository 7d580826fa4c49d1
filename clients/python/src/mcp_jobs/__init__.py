"""mcp_jobs: a client and a threaded worker for the mcp_jobs job queue, over PostgREST / Supabase.

from mcp_jobs import Client, Worker

client = Client(SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY)
job_id = client.enqueue_job("odoo", "discovery", {"host": "erp-1"}, priority=5)

Worker(SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY, handlers={"discovery": discover}).run()

Version 0.2.0 speaks mcp_jobs 0.7.0 (batch enqueue, waiting claims, flow control, schedules); against
an older extension the new functions answer 404 and the worker claims without waiting.
"""

from .client import Client, Id, Timestamp
from .errors import (
    AuthError,
    BadRequestError,
    ConflictError,
    LeaseLostError,
    McpJobsError,
    NetworkError,
    NotFoundError,
    PayloadTooLargeError,
    TooManyRequestsError,
    TransientError,
)
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
    FailureAnalysis,
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
)
from .worker import AnalyzeFailure, Handler, Job, RunStats, Worker, WorkerEvent

__version__ = "0.2.0"

__all__ = [
    "JSON",
    "Alert",
    "AnalyzeFailure",
    "AuthError",
    "BadRequestError",
    "CancelResult",
    "ClaimedJob",
    "Client",
    "CompleteJobsRow",
    "CompletionResult",
    "ConflictError",
    "DeadLetter",
    "DeadLetterGroup",
    "Diagnostics",
    "FailureAnalysis",
    "FailureResult",
    "Handler",
    "Id",
    "Job",
    "JobDetail",
    "JobRow",
    "JobSpec",
    "JobStats",
    "LeaseLostError",
    "McpJobsError",
    "MetricsRow",
    "NetworkError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ProgressResult",
    "QueueDepthRow",
    "QueueRow",
    "QueueSettings",
    "RequeuedDeadLetter",
    "ResolveResult",
    "RunStats",
    "Schedule",
    "ScheduleRow",
    "Timestamp",
    "TooManyRequestsError",
    "TransientError",
    "Worker",
    "WorkerEvent",
    "__version__",
]
