"""Progress reports of running jobs: coalesced in the worker, written in batches.

A handler calls ``current_job().set_progress(value, message)`` as often as it
likes; that only records the latest value in the job's
:class:`ProgressReporter` (thread-safe, so plain ``def`` handlers can call it
from their worker thread). The worker writes what is pending with
``lua/progress.lua``: every :data:`FLUSH_INTERVAL` seconds for jobs still
running, and in the same round trip as the settle call for jobs that just
finished, so the last value is never lost and a job that never reports
progress costs no Redis command at all. Writing never fails a job.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._queue import Queue

__all__ = ["FLUSH_INTERVAL", "MAX_MESSAGE", "Progress", "ProgressReporter", "Reported", "progress_calls"]

FLUSH_INTERVAL = 0.5
"""Seconds between two writes of a running job's progress, at most."""

MAX_MESSAGE = 500
"""The longest progress message kept (characters); a longer one is cut, with "…"."""


@dataclass(frozen=True, slots=True)
class Progress:
    """A job's latest progress: ``value`` from 0 to 1 and an optional short ``message``."""

    value: float
    message: str | None = None


class Reported:
    """What ``set_progress()`` returns: awaitable (``await`` is optional and never blocks)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # pragma: no cover - makes this a generator


REPORTED = Reported()


def checked(value: float, message: str | None) -> Progress:
    """Validate a progress report.

    Raises:
        ValueError: ``value`` is not a finite number from 0 to 1, or ``message`` is not a string.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or not 0 <= value <= 1:
        raise ValueError(f"progress must be a number from 0 to 1, got {value!r}")
    if message is not None and not isinstance(message, str):
        raise ValueError(f"a progress message must be a string, got {type(message).__name__}")
    if message is not None and len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return Progress(float(value), message)


class ProgressReporter:
    """The latest progress of one running job, waiting to be written.

    The job's handler reports (any thread); the worker takes what is pending
    and writes it. Only the latest report is kept between two writes.
    """

    __slots__ = ("_lock", "_pending", "attempt", "job_id", "queue")

    def __init__(self, queue: Queue, job_id: str, attempt: int) -> None:
        self.queue = queue
        self.job_id = job_id
        self.attempt = attempt
        self._lock = threading.Lock()
        self._pending: Progress | None = None

    def __repr__(self) -> str:
        return f"<ProgressReporter job={self.job_id!r} pending={self._pending!r}>"

    def report(self, value: float, message: str | None = None) -> Reported:
        """Record the latest progress (validated); the worker writes it soon.

        Raises:
            ValueError: as :func:`checked`.
        """
        progress = checked(value, message)
        with self._lock:
            self._pending = progress
        return REPORTED

    @property
    def pending(self) -> bool:
        """True while a report waits to be written."""
        return self._pending is not None

    def take(self) -> Progress | None:
        """The report waiting to be written, if any; it is no longer pending afterwards."""
        with self._lock:
            progress, self._pending = self._pending, None
        return progress


def progress_calls(worker_id: str, reporters: Iterable[ProgressReporter]) -> list[tuple[str, list[str], list[Any]]]:
    """``progress.lua`` calls (one per queue) writing every pending report; empty when none is pending."""
    by_queue: dict[str, tuple[Queue, list[Any]]] = {}
    for reporter in reporters:
        if not reporter.pending:
            continue
        progress = reporter.take()
        if progress is None:
            continue
        _, args = by_queue.setdefault(reporter.queue.name, (reporter.queue, []))
        args += [reporter.job_id, reporter.attempt, repr(progress.value), progress.message or ""]
    calls = []
    for queue, args in by_queue.values():
        k = queue.keys
        calls.append(("progress", [k.state, k.progress, k.events, k.listening], [worker_id, *args]))
    return calls
