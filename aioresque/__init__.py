"""aioresque: an asyncio job queue on Redis, in the spirit of Ruby's Resque.

Producers ``await queue.enqueue("name", *args)``; workers
(``python -m aioresque worker app.jobs``) run many jobs at once on one event
loop. Every state change is one Lua script; jobs are held under leases on
Redis's clock, so a job whose worker vanishes runs again (at-least-once).
"""

from ._admin import HistoryPoint, JobFilter, JobPage, QueueOverview
from ._context import JobContext, current_job
from ._errors import (
    AioresqueError,
    ConfigurationError,
    ConnectionLost,
    JobCancelled,
    JobDead,
    JobError,
    JobFailed,
    JobNotFound,
    NonRetryable,
    PayloadTooLarge,
    ResultTimeout,
    Retry,
    SerializationError,
)
from ._handler import JobFunction, Registry, WorkerHook, job, on_shutdown, on_startup
from ._job import Job
from ._limits import LimitGroup, RateLimit
from ._metrics import prometheus_metrics
from ._middleware import EnqueueMiddleware, EnqueueNext, PerformMiddleware, PerformNext
from ._queue import Call, Queue, QueueStatistics, Retention
from ._registry import WorkerInfo, list_workers, prune_workers
from ._retry import Backoff
from ._schedule import Schedule
from ._scheduler import ScheduleInfo
from ._serializer import JsonSerializer, Serializer
from ._server import ServerInfo
from ._status import JobInfo, JobStatus
from ._typed import JobOptions, use_queue
from ._unique import Unique
from ._version import package_version as _package_version
from ._worker import Worker, WorkerStatistics
from ._worker_metrics import WorkerMetrics
from ._workflow import Workflow, WorkflowInfo, WorkflowStatus
from .dashboard import dashboard

__version__ = _package_version()
"""This copy's version, from the installed metadata (pyproject.toml is where it is set)."""

__all__ = [
    "AioresqueError",
    "Backoff",
    "Call",
    "ConfigurationError",
    "ConnectionLost",
    "EnqueueMiddleware",
    "EnqueueNext",
    "HistoryPoint",
    "Job",
    "JobCancelled",
    "JobContext",
    "JobDead",
    "JobError",
    "JobFailed",
    "JobFilter",
    "JobFunction",
    "JobInfo",
    "JobNotFound",
    "JobOptions",
    "JobPage",
    "JobStatus",
    "JsonSerializer",
    "LimitGroup",
    "NonRetryable",
    "PayloadTooLarge",
    "PerformMiddleware",
    "PerformNext",
    "Queue",
    "QueueOverview",
    "QueueStatistics",
    "RateLimit",
    "Registry",
    "ResultTimeout",
    "Retention",
    "Retry",
    "Schedule",
    "ScheduleInfo",
    "SerializationError",
    "Serializer",
    "ServerInfo",
    "Unique",
    "Worker",
    "WorkerHook",
    "WorkerInfo",
    "WorkerMetrics",
    "WorkerStatistics",
    "Workflow",
    "WorkflowInfo",
    "WorkflowStatus",
    "__version__",
    "current_job",
    "dashboard",
    "job",
    "list_workers",
    "on_shutdown",
    "on_startup",
    "prometheus_metrics",
    "prune_workers",
    "use_queue",
]
