"""Job states and the typed record ``Job.info()`` returns."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ._decode import MAX_MS, number


class JobStatus(enum.StrEnum):
    """Where a job is in its life.

    ``queued`` → ``active`` → ``complete``; a failed attempt with attempts left
    goes to ``retrying`` (waiting out its backoff) and back to ``queued``.
    ``failed`` (the handler's errors used up its attempts) and ``dead`` (the
    system gave up: worker lost too often, unknown handler, bad payload) are
    both kept in the queue's dead set.
    """

    SCHEDULED = "scheduled"
    """Waiting for its delay to pass."""
    QUEUED = "queued"
    """Waiting for a worker."""
    ACTIVE = "active"
    """Held by a worker under a lease."""
    RETRYING = "retrying"
    """An attempt failed; waiting out the backoff before the next one."""
    COMPLETE = "complete"
    """The handler returned; the result is stored."""
    FAILED = "failed"
    """The handler failed on its last attempt; kept in the dead set."""
    DEAD = "dead"
    """The job could not be run; kept in the dead set with the reason."""
    CANCELLED = "cancelled"
    """Cancelled before it finished."""
    NOT_FOUND = "not_found"
    """No record: never enqueued, or removed by retention."""

    @property
    def finished(self) -> bool:
        """True for states a job never leaves on its own."""
        return self in _FINISHED


_FINISHED = frozenset({JobStatus.COMPLETE, JobStatus.FAILED, JobStatus.DEAD, JobStatus.CANCELLED})


def ms_to_datetime(value: Any) -> datetime | None:
    """Convert a Redis-clock millisecond timestamp to an aware UTC datetime; never raises.

    Returns:
        The time, or None for None and for anything that is not a finite
        number between 1970 and the end of year 9999 (:data:`aioresque._decode.MAX_MS`).
    """
    ms = number(value, 0.0, float(MAX_MS))
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True, slots=True)
class JobInfo:
    """Everything recorded about one job, as ``Job.info()`` returns it.

    Times come from Redis's clock, as aware UTC datetimes.
    """

    id: str
    queue: str
    name: str
    status: JobStatus
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    attempts: int
    """How many times a worker claimed the job (attempts given back on shutdown excluded)."""
    failures: int
    """How many attempts ended in a handler error or timeout."""
    lost: int
    """How many attempts ended because the worker holding the job vanished."""
    max_attempts: int | None
    """The job's own attempt limit, or None when the handler's applies."""
    timeout: float | None
    """Seconds an attempt may run, or None for no limit."""
    enqueued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    due_at: datetime | None
    """When a scheduled or retrying job becomes due."""
    worker: str | None
    """The id of the worker holding the lease, while active."""
    result: Any
    error: str | None
    """``"Type: message"`` of the last failure, or the reason the job died."""
    traceback: str | None
    payload_error: str | None = None
    """Set when the stored payload could not be decoded."""
    unreadable: str | None = None
    """Set when the job's state record could not be read: why, with its raw size.

    Only ``id``, ``queue`` and ``status`` (the set the id was found in) are
    then meaningful; every other field holds its empty default. Listings show
    such a record marked instead of failing on it.
    """
