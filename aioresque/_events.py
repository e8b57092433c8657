"""Following jobs as they run: ``Job.events()`` and ``Queue.events()``.

The scripts that change a job (claim, settle, progress, cancel, recover)
append an event to the queue's capped stream while somebody follows the
queue (``lua/_events.lua``): a follower keeps the queue's ``listening`` flag
alive and reads the stream with blocking XREADs, so nothing polls.

A late follower of one job first gets the job's current state from its
records (``lua/follow.lua`` reads them and the stream's end in one atomic
step, so no event is lost or repeated), then every later event. Iteration
ends after the terminal event; a finished job whose terminal event is not in
the stream (trimmed by the cap, or the job ended before anyone followed) is
recognised by re-reading its state after an empty read, so a follower never
hangs on a finished job.

Event kinds: ``started``, ``progress``, ``retrying``, then one terminal
``completed``, ``failed``, ``dead`` or ``cancelled``. (The job *status*
reads ``complete``; the *event* reads ``completed``.)
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio

from . import _scripts
from ._connect import blocking_limit
from ._decode import MAX_MS, integer, number, strict_text, text
from ._errors import ConnectionLost, JobNotFound, translate
from ._serializer import loads_json
from ._status import JobStatus, ms_to_datetime

if TYPE_CHECKING:
    from ._job import Job
    from ._queue import Queue

__all__ = ["EVENT_KINDS", "TERMINAL_EVENTS", "JobEvent", "job_events", "queue_events"]

EVENT_KINDS = ("started", "progress", "retrying", "completed", "failed", "dead", "cancelled")
"""Every kind of event, in the order a job's life goes through them."""

TERMINAL_EVENTS = frozenset({"completed", "failed", "dead", "cancelled"})
"""The kinds after which a job has no more events."""

FOLLOW_TTL_MS = 30_000
"""How long the queue's ``listening`` flag outlives its last renewal."""

RENEW_EVERY = 10.0
"""Seconds between a follower's renewals of the flag (and re-checks of its job's state)."""

LONGEST_BLOCK = 5.0
"""Longest single blocking read (seconds), below any client's socket timeout cut."""

RECONNECT_FOR = 60.0
"""How long a follower keeps trying while Redis is unreachable before raising ConnectionLost."""

_TERMINAL_OF_STATUS = {
    JobStatus.COMPLETE: "completed",
    JobStatus.FAILED: "failed",
    JobStatus.DEAD: "dead",
    JobStatus.CANCELLED: "cancelled",
}


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One thing that happened to a job.

    Attributes:
        kind: one of :data:`EVENT_KINDS`.
        job_id: the job's id.
        at: when it happened, on Redis's clock (aware UTC).
        data: what goes with it: ``attempt`` and ``worker`` (started);
            ``value`` and ``message`` (progress); ``error`` and ``due_at``
            (retrying: an aware datetime); ``error`` (failed, dead); ``result``
            (completed, in ``Job.events()`` only: ``Queue.events()`` leaves
            reading results to ``queue.job(id).result()``).
    """

    kind: str
    job_id: str
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        """True for the last event of a job (completed, failed, dead, cancelled)."""
        return self.kind in TERMINAL_EVENTS


def parse_entry(entry_id: object, fields: object) -> JobEvent | None:
    """A stream entry as a :class:`JobEvent`; None when it is not one (never raises)."""
    if not isinstance(fields, dict):
        return None
    values = {text(k): v for k, v in fields.items()}
    kind = strict_text(values.get("k"))
    job_id = strict_text(values.get("j"))
    at_ms = integer(text(entry_id).split("-", 1)[0], 0, MAX_MS)
    if kind not in EVENT_KINDS or job_id is None or at_ms is None:
        return None
    data = _json_object(values.get("d"))
    if "due_at" in data:
        due = integer(data["due_at"], 0, MAX_MS)
        data["due_at"] = ms_to_datetime(due) if due is not None else None
    if kind == "progress":
        data["value"] = number(data.get("value"), 0, 1)
        message = data.get("message")
        data["message"] = message if isinstance(message, str) else None
    return JobEvent(kind, job_id, _when(at_ms), data)


def _json_object(raw: object) -> dict[str, Any]:
    if not isinstance(raw, bytes | str) or len(raw) > 1_000_000:
        return {}
    try:
        value = loads_json(raw)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _when(ms: int) -> datetime:
    at = ms_to_datetime(ms)
    assert at is not None  # ms is an int in range
    return at


class _Outage:
    """How long a follower has not reached Redis; it gives up after :data:`RECONNECT_FOR` seconds."""

    __slots__ = ("since",)

    def __init__(self) -> None:
        self.since: float | None = None

    @property
    def active(self) -> bool:
        """True between a failed read and the next successful one."""
        return self.since is not None

    async def wait_or_raise(self, exc: ConnectionLost) -> None:
        """Wait a little before the next try, or raise ``exc`` once the outage lasted too long."""
        self.since = self.since or time.monotonic()
        if time.monotonic() - self.since > RECONNECT_FOR:
            raise exc
        await anyio.sleep(0.5)

    def clear(self) -> None:
        """Redis answered again."""
        self.since = None


async def _follow(queue: Queue, job_id: str) -> tuple[str, bytes | str, bytes | str]:
    k = queue.keys
    async with translate():
        last, state, progress = await _scripts.run(
            queue.redis, "follow", [k.events, k.listening, k.state, k.progress], [FOLLOW_TTL_MS, job_id]
        )
    return text(last), state, progress


async def _renew(queue: Queue) -> None:
    async with translate():
        await queue.redis.set(queue.keys.listening, "1", px=FOLLOW_TTL_MS)


async def _read(queue: Queue, last: str, *, wait: bool = True) -> list[tuple[str, JobEvent | None]]:
    """One read of the stream after ``last`` (blocking unless ``wait`` is False): (entry id, event or None) pairs."""
    block_ms = None
    if wait:
        limit = blocking_limit(queue.redis)
        block_ms = max(1, int((LONGEST_BLOCK if limit is None else min(LONGEST_BLOCK, limit)) * 1000))
    async with translate():
        reply = await queue.redis.xread({queue.keys.events: last}, count=100, block=block_ms)
    entries: list[Any] = []
    if isinstance(reply, dict):  # RESP3
        for value in reply.values():
            entries += value[0] if value and isinstance(value[0], list) else value
    elif reply:
        for _stream, items in reply:
            entries += items
    return [(text(entry_id), parse_entry(entry_id, fields)) for entry_id, fields in entries]


def progress_data(raw: bytes | str | None) -> dict[str, Any] | None:
    """The stored progress record as event data (``value``, ``message``); None when absent or unreadable."""
    if not raw:
        return None
    record = _json_object(raw)
    value = number(record.get("v"), 0, 1)
    if value is None:
        return None
    message = record.get("m")
    return {"value": value, "message": message if isinstance(message, str) else None}


async def _terminal(job: Job[Any], state: dict[str, Any], status: JobStatus) -> JobEvent:
    """The terminal event of a finished job, built from its records."""
    at = ms_to_datetime(integer(state.get("finished_at"), 0, MAX_MS)) or _when(0)
    data: dict[str, Any] = {}
    if status is JobStatus.COMPLETE:
        try:
            data["result"] = await job.result(timeout=0.001)
        except Exception as exc:  # noqa: BLE001 - an unreadable result is reported in the event, not raised
            data["result_error"] = f"{type(exc).__name__}: {exc}"
    else:
        info = await job.info()
        data["error"] = info.error
    return JobEvent(_TERMINAL_OF_STATUS[status], job.id, at, data)


async def _with_result(job: Job[Any], event: JobEvent) -> JobEvent:
    if event.kind != "completed":
        return event
    try:
        result = await job.result(timeout=0.001)
    except Exception as exc:  # noqa: BLE001 - reported in the event
        return JobEvent(event.kind, event.job_id, event.at, {**event.data, "result_error": f"{exc}"})
    return JobEvent(event.kind, event.job_id, event.at, {**event.data, "result": result})


def _state_of(raw: bytes | str) -> tuple[dict[str, Any], JobStatus] | None:
    if not raw:
        return None
    state = _json_object(raw)
    try:
        status = JobStatus(str(state.get("status")))
    except ValueError:
        status = JobStatus.DEAD
    return state, status


async def job_events(job: Job[Any]) -> AsyncIterator[JobEvent]:
    """Follow one job: its current state first, then its events until the terminal one.

    Raises:
        JobNotFound: there is no such job.
        ConnectionLost: Redis stayed unreachable for :data:`RECONNECT_FOR` seconds.
    """
    queue = job.queue
    last, raw_state, raw_progress = await _follow(queue, job.id)
    parsed = _state_of(raw_state)
    if parsed is None:
        raise JobNotFound(f"no job {job.id!r} in queue {queue.name!r}")
    state, status = parsed
    if status.finished:
        yield await _terminal(job, state, status)
        return
    if status is JobStatus.ACTIVE:
        started = ms_to_datetime(integer(state.get("started_at"), 0, MAX_MS)) or _when(0)
        attempt = integer(state.get("attempts"), 0)
        yield JobEvent("started", job.id, started, {"attempt": attempt, "worker": strict_text(state.get("worker"))})
        progress = progress_data(raw_progress)
        if progress is not None:
            yield JobEvent("progress", job.id, started, progress)
    checked = time.monotonic()
    outage = _Outage()
    while True:
        try:
            entries = await _read(queue, last)
            if outage.active:  # back after an outage: the flag may be gone with Redis's data
                outage.clear()
                await _follow(queue, job.id)
        except ConnectionLost as exc:
            await outage.wait_or_raise(exc)
            continue
        for entry_id, event in entries:
            last = entry_id
            if event is None or event.job_id != job.id:
                continue
            yield await _with_result(job, event)
            if event.terminal:
                return
        if not entries or time.monotonic() - checked > RENEW_EVERY:
            checked = time.monotonic()
            _, raw_state, _ = await _follow(queue, job.id)
            parsed = _state_of(raw_state)
            if parsed is None:
                raise JobNotFound(f"job {job.id!r} of queue {queue.name!r} was deleted while followed")
            if parsed[1].finished:
                # Read what the stream holds up to now first: the terminal event may be there.
                for entry_id, event in await _read(queue, last, wait=False):
                    last = entry_id
                    if event is not None and event.job_id == job.id:
                        yield await _with_result(job, event)
                        if event.terminal:
                            return
                yield await _terminal(job, *parsed)
                return


async def queue_events(queue: Queue) -> AsyncIterator[JobEvent]:
    """Every event of every job of ``queue`` from now on; runs until the caller stops iterating.

    Raises:
        ConnectionLost: Redis stayed unreachable for :data:`RECONNECT_FOR` seconds.
    """
    last, _, _ = await _follow(queue, "")
    renewed = time.monotonic()
    outage = _Outage()
    while True:
        try:
            if time.monotonic() - renewed > RENEW_EVERY or outage.active:
                await _renew(queue)
                renewed = time.monotonic()
            entries = await _read(queue, last)
            outage.clear()
        except ConnectionLost as exc:
            await outage.wait_or_raise(exc)
            continue
        for entry_id, event in entries:
            last = entry_id
            if event is not None:
                yield event
