"""``Job``: a handle on one job id in one queue."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Generic

from typing_extensions import TypeVar

from . import _scripts
from ._connect import batch, blocking_limit
from ._errors import (
    JobCancelled,
    JobDead,
    JobFailed,
    JobNotFound,
    ResultTimeout,
    translate,
)
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
        async with translate():
            raw = await self.queue.redis.hget(self.queue.keys.state, self.id)
        return None if raw is None else _parse_state(raw)

    async def status(self) -> JobStatus:
        """Return the job's current status (``NOT_FOUND`` if it has no record)."""
        state = await self._state()
        if state is None:
            return JobStatus.NOT_FOUND
        return _status_of(state)

    async def info(self) -> JobInfo:
        """Return everything recorded about the job.

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
            raw_state, payload, result, error = await pipe.execute()
        if raw_state is None:
            raise JobNotFound(f"no job {self.id!r} in queue {self.queue.name!r}")
        return build_info(self.queue, self.id, raw_state, payload, result, error)

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
                raw = await _scripts.run(redis, "watch", [keys.state, keys.watched], [self.id])
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
    raw_state: bytes | str,
    payload: bytes | None,
    result: bytes | None,
    error: bytes | str | None,
) -> JobInfo:
    """Assemble a :class:`JobInfo` from a job's raw records (as read from Redis).

    Used by :meth:`Job.info` and by the admin listings, which read many jobs'
    records in one pipeline.
    """
    state = _parse_state(raw_state)
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    payload_error = None
    if payload is not None:
        try:
            # A job imported from Ruby Resque holds Resque's JSON entry, whatever the queue's serializer.
            args, kwargs, _ = (resque_body if state.get("resque") else queue.decode_body)(payload)
        except Exception as exc:  # noqa: BLE001 - a bad payload is reported, not raised
            payload_error = f"{type(exc).__name__}: {exc}"
    value = None
    if result is not None:
        try:
            value = queue.serializer.loads(result)
        except Exception as exc:  # noqa: BLE001 - reported like a bad payload
            payload_error = f"result: {type(exc).__name__}: {exc}"
    err = _parse_error(error)
    timeout_ms = state.get("timeout")
    return JobInfo(
        id=job_id,
        queue=queue.name,
        name=str(state.get("name", "")),
        status=_status_of(state),
        args=args,
        kwargs=kwargs,
        attempts=int(state.get("attempts", 0)),
        failures=int(state.get("failures", 0)),
        lost=int(state.get("lost", 0)),
        max_attempts=None if state.get("max_attempts") is None else int(state["max_attempts"]),
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
    )


def _parse_state(raw: bytes | str) -> dict[str, Any]:
    try:
        state = loads_json(raw)
    except ValueError:
        return {"status": "dead", "reason": "corrupt state record"}
    return state if isinstance(state, dict) else {"status": "dead", "reason": "corrupt state record"}


def _status_of(state: dict[str, Any]) -> JobStatus:
    try:
        return JobStatus(str(state.get("status")))
    except ValueError:
        return JobStatus.DEAD


def _parse_error(raw: bytes | str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        value = loads_json(raw)
    except ValueError:
        return {"error": "unreadable error record"}
    return value if isinstance(value, dict) else {}


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value
