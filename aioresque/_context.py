"""The running job's context, reachable from inside a handler."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._queue import Queue


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler may want to know about the job it runs.

    Attributes:
        job_id: the job's id.
        name: the job name it was enqueued under.
        queue: the job's queue, on the worker's connection; enqueue follow-up
            jobs with it (``_queue=`` reaches other queues).
        attempt: 1 for the first attempt, 2 for the first retry, ...
        worker_id: the id of the worker running the job.
        resources: the dict the worker's startup hooks filled (database
            pools, clients), shared by every job of the worker.
        args, kwargs: the arguments the job was enqueued with.
        meta: the string metadata enqueue middleware attached to the job
            (request ids, trace context); empty when none.
    """

    job_id: str
    name: str
    queue: Queue
    attempt: int
    worker_id: str
    resources: dict[str, Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, str] = field(default_factory=dict)


_current: ContextVar[JobContext] = ContextVar("aioresque_current_job")


def current_job() -> JobContext:
    """Return the context of the job being run.

    Works in ``async def`` handlers and in plain ``def`` handlers (which run
    in a worker thread with the context copied).

    Raises:
        LookupError: called outside a running job.
    """
    try:
        return _current.get()
    except LookupError:
        raise LookupError("aioresque.current_job() called outside a running job") from None


def set_current(ctx: JobContext) -> None:
    """Bind ``ctx`` for the current task (the worker calls this per job)."""
    _current.set(ctx)
