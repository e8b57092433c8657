"""``Job``: a handle on one job id in one queue."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Generic

from redis.exceptions import ResponseError
from typing_extensions import TypeVar

from . import _decode, _scripts
from ._connect import batch, blocking_limit
from ._errors import (
    JobCancelled,
    JobDead,
    JobFailed,
    JobNotFound,
    ResultTimeout,
    translate,
)
from ._events import JobEvent, job_events, progress_data
from ._resque_import import resque_body
from ._serializer import loads_json
from ._status import JobInfo, JobStatus, ms_to_datetime

if TYPE_CHECKING:
    from ._queue import Queue

R = TypeVar("R", default=Any)


class Job(Generic[R]):
    """A handle on one job. Creating it does not touch Redis.

    Get one from ``Queue.enqueue`` or ``Queue.job(job_id)`` (a ``Job[Any]``),
    or from a handler's typed ``send_email.enqueue(queue, ...)``, whose
    ``result()`` is typed as the handler's return value.
    """

    __slots__ = ("id", "queue")

    def __init__(self, queue: Queue, job_id: str) -> None:
        self.queue = queue
        self.id = job_id

    def __repr__(self) -> str:
        return f"<Job {self.id!r} queue={self.queue.name!r}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Job):
            return NotImplemented
        return (self.id, self.queue.name, self.queue.prefix) == (
            other.id,
            other.queue.name,
            other.queue.prefix,
        )

    def __hash__(self) -> int:
        return hash((self.id, self.queue.name, self.queue.prefix))

    async def _state(self) -> dict[str, Any] | None:
        try:
            async with translate():
                raw = await self.queue.redis.hget(self.queue.keys.state, self.id)
        except ResponseError as exc:  # the state key holds another type: no record can be read
            if not _decode.wrong_type(exc):
                raise
            return None
        return None if raw is None else _parse_state(raw)

    async def status(self) -> JobStatus:
        """Return the job's current status (``NOT_FOUND`` if it has no record)."""
        state = await self._state()
        if state is None:
            return JobStatus.NOT_FOUND
        return _status_of(state)

    async def info(self) -> JobInfo:
        """Return everything recorded about the job.

        Never fails on what the record holds: a state record that cannot be
        read gives a :class:`JobInfo` marked :attr:`~JobInfo.unreadable` (with
        the reason and its size), a payload or result that cannot be decoded
        (or is nested deeper than 64 levels) sets :attr:`~JobInfo.payload_error`.

        Raises:
            JobNotFound: the job has no record (never enqueued, or expired).
        """
        keys = self.queue.keys
        async with translate():
            pipe = batch(self.queue.redis)
            pipe.hget(keys.state, self.id)
            pipe.hget(keys.jobs, self.id)
            pipe.hget(keys.results, self.id)
            pipe.hget(keys.errors, self.id)
            pipe.hget(keys.progress, self.id)
            replies = await pipe.execute(raise_on_error=False)
            _decode.raise_unless_wrong_type(replies)
        if isinstance(replies[0], Exception):  # WRONGTYPE: the state key is not a hash
            reason = f"the queue's state key cannot be read: {_short(replies[0])}"
            return unreadable_info(self.queue.name, self.id, await self._found_in(), reason)
        raw_state, payload, result, error, progress = (None if isinstance(r, Exception) else r for r in replies)
        if raw_state is None:
            raise JobNotFound(f"no job {self.id!r} in queue {self.queue.name!r}")
        found_in = JobStatus.DEAD
        state, why = check_state(raw_state)
        if why is not None and _known_status(state, JobStatus.NOT_FOUND) is JobStatus.NOT_FOUND:
            found_in = await self._found_in()
        return build_info(self.queue, self.id, raw_state, payload, result, error, found_in=found_in, progress=progress)

    def events(self) -> AsyncIterator[JobEvent]:
        """Follow the job as it runs: ``async for event in job.events(): ...``.

        Yields the job's current state first (its ``started`` and latest
        ``progress`` while it runs, or its terminal event at once if it has
        already finished), then each later event as it happens: ``started``,
        ``progress``, ``retrying``, and one terminal ``completed`` (its data
        carries the ``result``), ``failed``, ``dead`` or ``cancelled``, after
        which iteration ends. Blocking reads on Redis; nothing polls.
        See ``docs/progress.md``.

        Raises:
            JobNotFound: there is no such job.
            ConnectionLost: Redis stayed unreachable for a minute.
        """
        return job_events(self)

    async def _found_in(self) -> JobStatus:
        """The status of the collection holding the id (for a record that cannot say); DEAD if none."""
        keys = self.queue.keys
        async with translate():
            pipe = batch(self.queue.redis)
            pipe.lpos(keys.queue, self.id)
            for key in (keys.scheduled, keys.active, keys.done, keys.dead):
                pipe.zscore(key, self.id)
            replies = await pipe.execute(raise_on_error=False)
            _decode.raise_unless_wrong_type(replies)
        found = [r is not None and not isinstance(r, Exception) for r in replies]
        statuses = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.ACTIVE, JobStatus.COMPLETE, JobStatus.DEAD)
        return next((s for s, there in zip(statuses, found, strict=True) if there), JobStatus.DEAD)

    async def cancel(self) -> bool:
        """Cancel the job, from any process: see :meth:`Queue.cancel`.

        Returns:
            True if the job was cancelled now, False if it had already finished.

        Raises:
            JobNotFound: there is no such job.
            ConnectionLost: Redis cannot be reached.
        """
        return await self.queue.cancel(self.id)

    async def result(self, timeout: float | None = None) -> R:
        """Wait for the job to finish and return its handler's return value.

        Waiting does not poll: the caller blocks on a per-job Redis list that
        the finishing script pushes to, registered atomically with the
        status check so the wake-up cannot be missed.

        Args:
            timeout: seconds to wait; None waits as long as it takes.

        Raises:
            ResultTimeout: the job did not finish within ``timeout``.
            JobFailed: the handler failed on its last attempt.
            JobDead: the job could not be run (the error says why).
            JobCancelled: the job was cancelled.
            JobNotFound: there is no such job.
        """
        keys = self.queue.keys
        redis = self.queue.redis
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            async with translate():
                raw = await _scripts.run(redis, "watch", [keys.state, keys.watched, keys.quarantine], [self.id])
            if raw in (b"", ""):
                raise JobNotFound(f"no job {self.id!r} in queue {self.queue.name!r}")
            state = _parse_state(raw)
            if _status_of(state).finished:
                value: R = await self._outcome(state)
                return value
            if deadline is None:
                block = 0.0
            else:
                block = deadline - time.monotonic()
                if block <= 0:
                    raise ResultTimeout(f"job {self.id} did not finish within {timeout} s")
            limit = blocking_limit(redis)  # a longer block would hit the socket timeout (redis-py 8: 5 s)
            if limit is not None and (block == 0 or block > limit):
                block = limit
            notify = keys.notify(self.id)
            async with translate():
                # Same list as source and destination: the element stays, so
                # every waiter (and any later one) is woken.
                await redis.blmove(notify, notify, block, "RIGHT", "LEFT")  # type: ignore[arg-type]  # seconds may be fractional

    async def _outcome(self, state: dict[str, Any]) -> Any:
        status = _status_of(state)
        keys = self.queue.keys
        if status is JobStatus.COMPLETE:
            async with translate():
                data = await self.queue.redis.hget(keys.results, self.id)
            return None if data is None else self.queue.serializer.loads(_as_bytes(data))
        async with translate():
            err = _parse_error(await self.queue.redis.hget(keys.errors, self.id))
        text = err.get("error") or state.get("reason") or status.value
        tb = err.get("traceback")
        if status is JobStatus.FAILED:
            raise JobFailed(self.id, text, tb)
        if status is JobStatus.CANCELLED:
            raise JobCancelled(self.id, text, tb)
        raise JobDead(self.id, text, tb)


def build_info(
    queue: Queue,
    job_id: str,
    raw_state: object,
    payload: object,
    result: object,
    error: object,
    *,
    found_in: JobStatus = JobStatus.DEAD,
    id_problem: str | None = None,
    progress: object = None,
) -> JobInfo:
    """Assemble a :class:`JobInfo` from a job's raw records (as read from Redis); never raises.

    Used by :meth:`Job.info` and by the admin listings, which read many jobs'
    records in one pipeline. A state record that cannot be read (not JSON, not
    an object, nested too deep, a field of the wrong type or out of range) gives
    a :class:`JobInfo` marked :attr:`~JobInfo.unreadable` with the reason and the
    record's size; its status is the record's own if that much is readable,
    else ``found_in`` (the collection the id was found in).

    Args:
        found_in: the status of the collection the id was read from.
        id_problem: why the id itself is unusable (not valid UTF-8, say):
            the job is then marked unreadable whatever its records hold.
    """
    state, why = check_state(raw_state)
    if why is not None or id_problem is not None or state is None:
        status = _known_status(state, found_in)
        return unreadable_info(queue.name, job_id, status, f"{id_problem or why} ({_size(raw_state)} bytes)")
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    payload_error = None
    if payload is not None:
        try:
            # A job imported from Ruby Resque holds Resque's JSON entry, whatever the queue's serializer.
            if isinstance(state, dict) and state.get("resque"):
                args, kwargs, _ = resque_body(_as_bytes(payload))
            else:
                args, kwargs = queue.decode_payload(_as_bytes(payload))
            if _decode.too_deep(args) or _decode.too_deep(kwargs):
                args, kwargs = (), {}
                payload_error = f"payload nested deeper than {_decode.MAX_DEPTH} levels ({_size(payload)} bytes)"
        except Exception as exc:  # noqa: BLE001 - a bad payload (any serializer's error) is reported, not raised
            payload_error = f"{type(exc).__name__}: {_short(exc)} ({_size(payload)} bytes)"
    value = None
    if result is not None:
        try:
            value = queue.serializer.loads(_as_bytes(result))
            if _decode.too_deep(value):
                value = None
                payload_error = f"result: nested deeper than {_decode.MAX_DEPTH} levels ({_size(result)} bytes)"
        except Exception as exc:  # noqa: BLE001 - reported like a bad payload
            payload_error = f"result: {type(exc).__name__}: {_short(exc)} ({_size(result)} bytes)"
    err = _parse_error(error)
    reported = progress_data(progress if isinstance(progress, bytes | str) else None)
    timeout_ms = state.get("timeout")
    return JobInfo(
        id=job_id,
        queue=queue.name,
        name=state.get("name") or "",
        status=_status_of(state),
        args=args,
        kwargs=kwargs,
        attempts=state.get("attempts", 0),
        failures=state.get("failures", 0),
        lost=state.get("lost", 0),
        max_attempts=state.get("max_attempts"),
        timeout=None if timeout_ms is None else float(timeout_ms) / 1000,
        enqueued_at=ms_to_datetime(state.get("enqueued_at")),
        started_at=ms_to_datetime(state.get("started_at")),
        finished_at=ms_to_datetime(state.get("finished_at")),
        due_at=ms_to_datetime(state.get("due_at")),
        worker=state.get("worker"),
        result=value,
        error=err.get("error") or state.get("reason"),
        traceback=err.get("traceback"),
        payload_error=payload_error,
        progress=None if reported is None else reported["value"],
        progress_message=None if reported is None else reported["message"],
    )


def unreadable_info(queue: str, job_id: str, status: JobStatus, why: str) -> JobInfo:
    """A :class:`JobInfo` for a job whose record cannot be read: only id, queue and status mean anything."""
    return JobInfo(
        id=job_id,
        queue=queue,
        name="",
        status=status,
        args=(),
        kwargs={},
        attempts=0,
        failures=0,
        lost=0,
        max_attempts=None,
        timeout=None,
        enqueued_at=None,
        started_at=None,
        finished_at=None,
        due_at=None,
        worker=None,
        result=None,
        error=None,
        traceback=None,
        unreadable=why,
    )


# The common fields of a state record (see _format.py) and what each must hold.
_COUNTS = ("attempts", "failures", "lost")
_TIMES = ("enqueued_at", "started_at", "finished_at", "due_at", "revived_at")
_TEXTS = ("name", "worker", "reason")
_LISTED = frozenset(JobStatus) - {JobStatus.NOT_FOUND}


def check_state(raw: object) -> tuple[dict[str, Any] | None, str | None]:
    """Decode and check a job's state record; never raises.

    Returns:
        ``(record, None)`` when every common field holds what it should
        (counts are bounded integers, times finite and before year 10000,
        texts are strings, the status is known), else ``(record or None, why)``:
        the record is still returned when it is a JSON object, so its status
        can be shown.
    """
    if raw is None:
        return None, "no state record"
    if not isinstance(raw, bytes | str):
        return None, f"state record is a {type(raw).__name__}"
    try:
        state = loads_json(raw)
    except Exception as exc:  # noqa: BLE001 - RecursionError, MemoryError, ValueError: all unreadable
        return None, f"state record is not JSON ({type(exc).__name__})"
    if not isinstance(state, dict):
        return None, "state record is not a JSON object"
    if any(isinstance(v, dict | list) for v in state.values()) and _decode.too_deep(state, 8):
        return state, "state record is nested too deep"
    status = state.get("status")
    if not isinstance(status, str) or status not in _LISTED:
        return state, f"unknown status {_decode.text(status)[:40]!r}"
    # The same rules as check_state() in lua/_guard.lua: numbers are JSON
    # numbers (not text), a field set to null counts as absent.
    for name in _COUNTS:
        if state.get(name) is not None and _number(state[name], 0, integral=True) is None:
            return state, f"{name!r} is not a count: {_preview(state[name])}"
        state[name] = int(state.get(name) or 0)
    if state.get("max_attempts") is not None:
        if _number(state["max_attempts"], 0, integral=True) is None:
            return state, f"'max_attempts' is not a count: {_preview(state['max_attempts'])}"
        state["max_attempts"] = int(state["max_attempts"])
    if state.get("timeout") is not None and _number(state["timeout"], 0) is None:
        return state, f"'timeout' is not a number of ms: {_preview(state['timeout'])}"
    for name in _TIMES:
        value = state.get(name)
        if value is not None and _number(value, 0, _decode.MAX_MS) is None:
            return state, f"{name!r} is not a time: {_preview(value)}"
    for name in _TEXTS:
        value = state.get(name)
        if value is not None and not isinstance(value, str):
            return state, f"{name!r} is not text: {_preview(value)}"
    return state, None


def _number(value: object, lo: float, hi: float = _decode.MAX_INT, *, integral: bool = False) -> float | None:
    """A JSON number in ``[lo, hi]`` (an integer if ``integral``), else None; text is not a number here.

    The hot path of every listing (several calls per record), so it checks
    types exactly instead of calling :func:`aioresque._decode.number`.
    """
    if type(value) is int:
        return float(value) if lo <= value <= hi else None
    if type(value) is float and lo <= value <= hi:  # NaN fails the comparison, infinities the bounds
        return None if integral and not value.is_integer() else value
    return None


def _preview(value: object) -> str:
    try:
        shown = repr(value)
    except Exception:  # noqa: BLE001 - a value nested too deep for repr
        shown = f"<{type(value).__name__}>"
    return shown if len(shown) <= 40 else shown[:39] + "…"


def _short(exc: BaseException) -> str:
    text = _decode.text(exc)
    return text if len(text) <= 200 else text[:199] + "…"


def _size(raw: object) -> int:
    if isinstance(raw, bytes | bytearray):
        return len(raw)
    if isinstance(raw, str):
        return len(raw.encode("utf-8", "surrogatepass"))
    return 0


def _known_status(state: dict[str, Any] | None, default: JobStatus) -> JobStatus:
    """The record's status when it names one, else ``default``."""
    status = None if state is None else state.get("status")
    return JobStatus(status) if isinstance(status, str) and status in _LISTED else default


def _parse_state(raw: bytes | str) -> dict[str, Any]:
    state, why = check_state(raw)
    if state is None:
        return {"status": "dead", "reason": f"corrupt state record: {why}"}
    return state


def _status_of(state: dict[str, Any]) -> JobStatus:
    status = state.get("status")
    if isinstance(status, str) and status in _LISTED:
        return JobStatus(status)
    return JobStatus.DEAD


def _parse_error(raw: object) -> dict[str, str]:
    """The error record's ``error`` and ``traceback`` texts (empty when unreadable); never raises."""
    if raw is None:
        return {}
    try:
        value = loads_json(raw)  # type: ignore[arg-type]  # anything else raises, and is caught
    except Exception:  # noqa: BLE001 - any unreadable error record reads as one
        return {"error": "unreadable error record"}
    if not isinstance(value, dict):
        return {}
    return {k: _decode.text(value[k]) for k in ("error", "traceback") if isinstance(value.get(k), str | bytes)}


def _as_bytes(value: object) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else b""
