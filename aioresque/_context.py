"""The running job's context, reachable from inside a handler."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._progress import ProgressReporter, Reported, checked

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
        reporter: where :meth:`set_progress` records progress (set by the
            worker and the testing queues; None when nothing records it).
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
    reporter: ProgressReporter | None = field(default=None, repr=False)

    def set_progress(self, value: float, message: str | None = None) -> Reported:
        """Report how far the job got: ``value`` from 0 to 1, and an optional short message.

        Call it as often as you like, with or without ``await``
        (``await current_job().set_progress(0.5)`` in ``async def`` handlers,
        ``current_job().set_progress(0.5)`` in plain ``def`` ones): it only
        records the latest value, and the worker writes it to Redis a few
        times a second at most, and once more before the job's outcome. It
        never fails the job because Redis could not be written; followers
        see it through ``Job.events()`` and ``job.info().progress``.

        Args:
            value: the fraction done, 0 to 1.
            message: a short text (cut to ``aioresque._progress.MAX_MESSAGE`` characters).

        Raises:
            ValueError: ``value`` is not a number from 0 to 1, or ``message`` is not a string.
        """
        if self.reporter is None:
            checked(value, message)
            return Reported()
        return self.reporter.report(value, message)


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
