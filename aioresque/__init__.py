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
    PayloadTooLarge,
    ResultTimeout,
    SerializationError,
)
from ._handler import JobFunction, Registry, WorkerHook, job, on_shutdown, on_startup
from ._job import Job
from ._metrics import prometheus_metrics
from ._queue import Call, Queue, QueueStatistics, Retention
from ._registry import WorkerInfo, list_workers, prune_workers
from ._retry import Backoff
from ._serializer import JsonSerializer, Serializer
from ._status import JobInfo, JobStatus
from ._typed import JobOptions, use_queue
from ._worker import Worker, WorkerStatistics
from ._worker_metrics import WorkerMetrics
from .dashboard import dashboard

__version__ = "0.1.0"

__all__ = [
    "AioresqueError",
    "Backoff",
    "Call",
    "ConfigurationError",
    "ConnectionLost",
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
    "PayloadTooLarge",
    "Queue",
    "QueueOverview",
    "QueueStatistics",
    "Registry",
    "ResultTimeout",
    "Retention",
    "SerializationError",
    "Serializer",
    "Worker",
    "WorkerHook",
    "WorkerInfo",
    "WorkerMetrics",
    "WorkerStatistics",
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
