"""What a fake queue remembers about each job, and the ``Job`` handle on it."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio

from .._errors import JobCancelled, JobDead, JobFailed, JobNotFound, ResultTimeout
from .._events import JobEvent
from .._job import Job, R
from .._progress import Progress, ProgressReporter, Reported
from .._status import JobInfo, JobStatus

if TYPE_CHECKING:
    from .._handler import JobFunction
    from ._fake import FakeQueue


@dataclass(slots=True, eq=False)
class EnqueuedJob:
    """One job a fake queue received, and what became of it.

    ``args`` and ``kwargs`` are what the handler will be called with: they
    went through the queue's serializer, so with JSON a tuple argument reads
    back as a list, as it would in a worker.
    """

    id: str
    name: str
    queue: str
    """The name of the queue the job was enqueued onto."""
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    max_attempts: int | None
    """The job's own ``_max_attempts``, or None for the handler's."""
    timeout: float | None
    """The job's own ``_timeout`` in seconds, or None for the handler's."""
    delay: float
    """Seconds the job asked to wait (fake and inline modes do not wait)."""
    enqueued_at: datetime
    status: JobStatus = JobStatus.QUEUED
    attempts: int = 0
    failures: int = 0
    result: Any = None
    """The handler's return value after a serializer round trip, once complete."""
    error: str | None = None
    """``"Type: message"`` of the last failure, or why the job is dead."""
    traceback: str | None = None
    exception: BaseException | None = None
    """The exception the last attempt raised, if any."""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    meta: dict[str, str] = field(default_factory=dict)
    """The string metadata enqueue middleware attached (``current_job().meta``)."""
    unique_key: str | None = None
    """The uniqueness key the job was enqueued with (its lock's name), or None."""
    progress: list[Progress] = field(default_factory=list)
    """Every progress report of the job, in order (a worker writes only the latest few)."""
    events: list[JobEvent] = field(default_factory=list)
    """The job's events as ``Job.events()`` would yield them (started, progress, retrying, then the end)."""
    _waiters: list[anyio.Event] = field(default_factory=list, repr=False)

    def info(self) -> JobInfo:
        """The record as the :class:`aioresque.JobInfo` a real ``Job.info()`` returns."""
        return JobInfo(
            id=self.id,
            queue=self.queue,
            name=self.name,
            status=self.status,
            args=self.args,
            kwargs=dict(self.kwargs),
            attempts=self.attempts,
            failures=self.failures,
            lost=0,
            max_attempts=self.max_attempts,
            timeout=self.timeout,
            enqueued_at=self.enqueued_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            due_at=self.enqueued_at + timedelta(seconds=self.delay) if self.delay else None,
            worker=None,
            result=self.result,
            error=self.error,
            traceback=self.traceback,
            progress=self.progress[-1].value if self.progress else None,
            progress_message=self.progress[-1].message if self.progress else None,
        )

    def event(self, kind: str, **data: Any) -> None:
        """Record one of the job's events, now."""
        self.events.append(JobEvent(kind, self.id, datetime.now(UTC), data))

    def finish(self, status: JobStatus) -> None:
        """Record a final status and wake every ``result()`` waiting on the job."""
        self.status = status
        self.finished_at = datetime.now(UTC)
        if status is JobStatus.COMPLETE:
            self.event("completed", attempt=self.attempts, result=self.result)
        else:
            self.event(
                {JobStatus.FAILED: "failed", JobStatus.CANCELLED: "cancelled"}.get(status, "dead"), error=self.error
            )
        for event in self._waiters:
            event.set()
        self._waiters.clear()

    def matches(self, function: JobFunction[Any, Any] | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """Whether the job was called with these arguments.

        With the handler at hand both calls are bound to its signature (with
        defaults filled in), so ``f("a", subject="b")`` matches
        ``f(to="a", subject="b")``.
        """
        if (self.args, self.kwargs) == (args, kwargs):
            return True
        if function is None:
            return False
        try:
            signature = inspect.signature(function.fn)
            mine = signature.bind(*self.args, **self.kwargs)
            theirs = signature.bind(*args, **kwargs)
        except TypeError:
            return False
        mine.apply_defaults()
        theirs.apply_defaults()
        return mine.arguments == theirs.arguments

    def describe(self) -> str:
        """``name(args, kwargs) [status]``, for assertion messages."""
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.name}({', '.join(parts)}) on {self.queue!r} [{self.status.value}]"


class RecordingReporter(ProgressReporter):
    """A progress reporter that records each report on the fake's job record at once."""

    __slots__ = ("record",)

    def __init__(self, queue: FakeQueue, record: EnqueuedJob) -> None:
        super().__init__(queue, record.id, record.attempts)
        self.record = record

    def report(self, value: float, message: str | None = None) -> Reported:
        """Record the report on the job (validated as a worker would)."""
        reported = super().report(value, message)
        progress = self.take()
        assert progress is not None
        self.record.progress.append(progress)
        self.record.event("progress", value=progress.value, message=progress.message)
        return reported


class FakeJob(Job[R]):
    """The ``Job`` handle a fake or inline queue returns: it reads the fake's records.

    ``status()``, ``info()`` and ``result()`` behave as on a real job;
    ``result()`` waits until ``drain()`` or ``run_one()`` runs the job.
    """

    __slots__ = ()

    queue: FakeQueue

    def _record(self) -> EnqueuedJob | None:
        return self.queue.record(self.id)

    async def status(self) -> JobStatus:
        """The job's status, ``NOT_FOUND`` if the fake has no such job."""
        record = self._record()
        return JobStatus.NOT_FOUND if record is None else record.status

    async def info(self) -> JobInfo:
        """Everything the fake recorded about the job.

        Raises:
            JobNotFound: the fake has no such job (never enqueued, or cleared).
        """
        record = self._record()
        if record is None:
            raise JobNotFound(f"no job {self.id!r} in queue {self.queue.name!r}")
        return record.info()

    async def events(self) -> AsyncIterator[JobEvent]:
        """The job's recorded events, then (if it has not finished) the rest as it runs, until its end.

        Raises:
            JobNotFound: the fake has no such job.
        """
        record = self._record()
        if record is None:
            raise JobNotFound(f"no job {self.id!r} in queue {self.queue.name!r}")
        seen = 0
        while True:
            for event in record.events[seen:]:
                seen += 1
                yield event
                if event.terminal:
                    return
            waiter = anyio.Event()
            record._waiters.append(waiter)
            await waiter.wait()

    async def result(self, timeout: float | None = None) -> R:
        """Wait for the job to finish and return its result, as ``Job.result`` does.

        Raises:
            ResultTimeout: the job did not finish within ``timeout``.
            JobFailed: the handler failed on its last attempt.
            JobDead: the job could not be run.
            JobNotFound: the fake has no such job.
        """
        record = self._record()
        if record is None:
            raise JobNotFound(f"no job {self.id!r} in queue {self.queue.name!r}")
        if not record.status.finished:
            event = anyio.Event()
            record._waiters.append(event)
            with anyio.move_on_after(timeout):
                await event.wait()
            if not record.status.finished:
                raise ResultTimeout(f"job {self.id} did not finish within {timeout} s (run it with drain())")
        if record.status is JobStatus.COMPLETE:
            value: R = record.result
            return value
        text = record.error or record.status.value
        if record.status is JobStatus.FAILED:
            raise JobFailed(self.id, text, record.traceback)
        if record.status is JobStatus.CANCELLED:
            raise JobCancelled(self.id, text, record.traceback)
        raise JobDead(self.id, text, record.traceback)
