"""``Queue``: the producer's side — enqueue jobs, look them up, read stats."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from types import TracebackType
from typing import Any

from . import _admin, _scripts
from ._cancel import cancel_job
from ._connect import Client, batch, close_client, connect
from ._errors import ConfigurationError, PayloadTooLarge, SerializationError, translate
from ._job import Job
from ._keys import DEFAULT_PREFIX, QueueKeys, queue_registry
from ._recovery import recover_queue
from ._serializer import JsonSerializer, Serializer
from ._status import JobStatus

DEFAULT_URL = "redis://localhost:6379/0"
DEFAULT_MAX_PAYLOAD = 512 * 1024


@dataclass(frozen=True, slots=True)
class Retention:
    """How long finished job records stay in Redis.

    Completed jobs (with their results) and dead jobs are pruned oldest first
    once they are older than the ``*_ttl`` or beyond the ``*_max`` count, by
    the scripts that record outcomes, so memory stays bounded under any load.
    """

    completed_ttl: float = 3600.0
    """Seconds a completed job and its result are kept (default 1 hour)."""
    completed_max: int = 50_000
    """Most completed jobs kept per queue."""
    dead_ttl: float = 7 * 24 * 3600.0
    """Seconds a failed or dead job is kept (default 7 days)."""
    dead_max: int = 10_000
    """Most failed or dead jobs kept per queue."""


@dataclass(frozen=True, slots=True)
class Call:
    """One job to enqueue with :meth:`Queue.enqueue_many`.

    ``Call("add", (1, 2))``, or with :meth:`of` the way ``enqueue`` reads:
    ``Call.of("add", 1, 2, _job_id="x")``.
    """

    name: str
    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    job_id: str | None = None
    queue: str | None = None
    max_attempts: int | None = None
    timeout: float | None = None
    delay: float | timedelta | None = None

    @classmethod
    def of(
        cls,
        name: str,
        /,
        *args: Any,
        _job_id: str | None = None,
        _queue: str | None = None,
        _max_attempts: int | None = None,
        _timeout: float | None = None,
        _delay: float | timedelta | None = None,
        **kwargs: Any,
    ) -> Call:
        """Build a call with the same signature as :meth:`Queue.enqueue`."""
        return cls(name, args, kwargs, _job_id, _queue, _max_attempts, _timeout, _delay)


@dataclass(frozen=True, slots=True)
class QueueStatistics:
    """Sizes and counters of one queue, read in one round trip."""

    name: str
    queued: int
    scheduled: int
    active: int
    completed_kept: int
    dead: int
    counters: dict[str, int]
    """Totals since the queue was created: enqueued, completed, failed,
    retried, dead, lost, refused, dropped."""


class Queue:
    """A named queue in Redis, the producer's handle.

    One ``Queue`` holds one ``redis.asyncio`` client (and so one connection
    pool); jobs for other queues can be enqueued through it with ``_queue=``.

    Args:
        redis: the client to use (``redis.asyncio.Redis`` or ``RedisCluster``).
            A queue made with :meth:`from_url` owns and closes its client; one
            given here is left open.
        name: the queue's name (default ``"default"``).
        prefix: the key namespace (default ``"aioresque"``).
        serializer: how arguments and results are encoded (default JSON).
        max_payload_bytes: enqueue refuses larger payloads (default 512 KiB).
        retention: how long finished jobs are kept (see :class:`Retention`).
    """

    def __init__(
        self,
        redis: Client,
        name: str = "default",
        *,
        prefix: str = DEFAULT_PREFIX,
        serializer: Serializer | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD,
        retention: Retention | None = None,
    ) -> None:
        _check_name(name)
        self.redis = redis
        self.name = name
        self.prefix = prefix
        self.serializer: Serializer = serializer or JsonSerializer()
        self.max_payload_bytes = max_payload_bytes
        self.retention = retention or Retention()
        self.keys = QueueKeys(prefix, name)
        self._owns_client = False
        self._registered: set[str] = set()
        self._siblings: dict[str, Queue] = {name: self}

    @classmethod
    def from_url(cls, url: str = DEFAULT_URL, name: str = "default", **options: Any) -> Queue:
        """Create a queue with its own connection pool to ``url``.

        ``url`` may name one node (``redis://``), a Cluster
        (``redis+cluster://host:port,...``) or a Sentinel group
        (``redis+sentinel://host:port,.../service_name/db``); see
        :func:`aioresque._connect.connect`.

        ``options`` are the constructor's keyword arguments. The queue closes
        its client on :meth:`close` or when its ``async with`` block ends.
        """
        queue = cls(connect(url), name, **options)
        queue._owns_client = True
        return queue

    def __repr__(self) -> str:
        return f"<Queue {self.name!r} prefix={self.prefix!r}>"

    async def __aenter__(self) -> Queue:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the client if this queue created it."""
        if self._owns_client:
            await close_client(self.redis)

    def sibling(self, name: str) -> Queue:
        """The queue called ``name``, sharing this queue's client and settings."""
        _check_name(name)
        queue = self._siblings.get(name)
        if queue is None:
            queue = Queue(
                self.redis,
                name,
                prefix=self.prefix,
                serializer=self.serializer,
                max_payload_bytes=self.max_payload_bytes,
                retention=self.retention,
            )
            queue._siblings = self._siblings
            self._siblings[name] = queue
        return queue

    def job(self, job_id: str) -> Job:
        """A handle for an existing job id in this queue (no Redis call)."""
        return Job(self, job_id)

    async def enqueue(
        self,
        name: str,
        /,
        *args: Any,
        _job_id: str | None = None,
        _queue: str | None = None,
        _max_attempts: int | None = None,
        _timeout: float | None = None,
        _delay: float | timedelta | None = None,
        **kwargs: Any,
    ) -> Job:
        """Enqueue one job: the handler ``name`` will be called with ``args`` and ``kwargs``.

        Args:
            name: the job name a worker's handler is registered under.
            _job_id: the job's id; enqueuing an id that already exists
                returns that job and adds nothing (default: a random UUID).
            _queue: enqueue onto this queue instead of this one.
            _max_attempts: attempts before the job is dead (default: the handler's).
            _timeout: seconds an attempt may run (default: the handler's).
            _delay: run no earlier than this many seconds from now.

        Returns:
            The job's handle.

        Raises:
            SerializationError: an argument cannot be serialized (it is named).
            PayloadTooLarge: the payload exceeds ``max_payload_bytes``.
            ConnectionLost: Redis cannot be reached.
        """
        call = Call(name, args, kwargs, _job_id, _queue, _max_attempts, _timeout, _delay)
        return (await self.enqueue_many([call]))[0]

    async def enqueue_many(self, calls: Iterable[Call]) -> list[Job]:
        """Enqueue many jobs in one round trip (one script call per queue).

        Each queue's batch is applied atomically. Ids that already exist are
        left alone, as with :meth:`enqueue`.

        Returns:
            One handle per call, in order.
        """
        groups: dict[str, list[Any]] = {}
        jobs: list[Job] = []
        for call in calls:
            queue = self if call.queue is None or call.queue == self.name else self.sibling(call.queue)
            job_id = call.job_id or uuid.uuid4().hex
            _check_job_id(job_id)
            group = groups.setdefault(queue.name, [])
            group.extend(
                (
                    job_id,
                    call.name,
                    self.encode_payload(call.name, call.args, call.kwargs),
                    _max_attempts_arg(call.max_attempts),
                    _timeout_ms(call.timeout),
                    _delay_ms(call.delay),
                )
            )
            jobs.append(Job(queue, job_id))
        if not jobs:
            return []
        script_calls = []
        new_names = [n for n in groups if n not in self._registered]
        for queue_name, values in groups.items():
            keys = self.sibling(queue_name).keys
            script_calls.append(
                (
                    "enqueue",
                    [keys.queue, keys.scheduled, keys.jobs, keys.state, keys.marker, keys.stats],
                    [len(values) // 6, *values],
                )
            )
        async with translate():
            if new_names:
                await self.redis.sadd(queue_registry(self.prefix), *new_names)
            replies = await _scripts.run_many(self.redis, script_calls)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        self._registered.update(new_names)
        return jobs

    def encode_payload(self, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> bytes:
        """Serialize a job's arguments, checking the size limit.

        Raises:
            SerializationError: naming the first argument that cannot be serialized.
            PayloadTooLarge: the payload exceeds ``max_payload_bytes``.
        """
        body = {"args": list(args), "kwargs": dict(kwargs)}
        try:
            data = self.serializer.dumps(body)
        except Exception as exc:
            raise SerializationError(_find_unserializable(self.serializer, name, args, kwargs, exc)) from exc
        if len(data) > self.max_payload_bytes:
            raise PayloadTooLarge(
                f"job {name!r}: payload is {len(data)} bytes, over the limit of "
                f"{self.max_payload_bytes} (max_payload_bytes)"
            )
        return data

    def decode_payload(self, data: bytes) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Decode a payload into ``(args, kwargs)``.

        Raises:
            ValueError: the payload is not a job payload.
        """
        body = self.serializer.loads(data)
        if not isinstance(body, dict):
            raise ValueError("payload is not a mapping")
        args = body.get("args", [])
        kwargs = body.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise ValueError("payload args/kwargs have the wrong types")
        if not all(isinstance(k, str) for k in kwargs):
            raise ValueError("payload kwargs have non-string names")
        return tuple(args), kwargs

    async def statistics(self) -> QueueStatistics:
        """Read the queue's sizes and counters in one round trip."""
        k = self.keys
        async with translate():
            pipe = batch(self.redis)
            pipe.llen(k.queue)
            pipe.zcard(k.scheduled)
            pipe.zcard(k.active)
            pipe.zcard(k.done)
            pipe.zcard(k.dead)
            pipe.hgetall(k.stats)
            queued, scheduled, active, done, dead, raw = await pipe.execute()
        counters = {_text(key): int(value) for key, value in raw.items()}
        return QueueStatistics(self.name, queued, scheduled, active, done, dead, counters)

    async def cancel(self, job_id: str) -> bool:
        """Cancel a job of this queue, from any process.

        A queued, scheduled or retrying job is removed at once; a running job
        is cancelled on whichever worker holds it, within about a second.
        Either way its status becomes ``cancelled`` at once, ``result()``
        raises :class:`JobCancelled`, and the record is kept with the dead
        set's retention.

        Returns:
            True if the job was cancelled now, False if it had already finished.

        Raises:
            JobNotFound: there is no such job.
            ConnectionLost: Redis cannot be reached.
        """
        return await cancel_job(self, job_id)

    async def recover(self, *, max_lost: int = 3) -> int:
        """Recover this queue's jobs whose lease expired (their worker vanished).

        Each goes back to the head of the queue with its ``lost`` counter
        raised, or to the dead set ("worker lost") once lost ``max_lost``
        times. Workers do this continuously; call it when none runs.

        Returns:
            How many jobs were recovered.

        Raises:
            ConnectionLost: Redis cannot be reached.
        """
        async with translate():
            return await recover_queue(self.redis, self.keys, max_lost=max_lost)

    async def known_queues(self) -> list[str]:
        """Every queue name that has been enqueued to under this prefix, sorted."""
        async with translate():
            names = await self.redis.smembers(queue_registry(self.prefix))
        return sorted(_text(n) for n in names)

    # -- operating the queue (see aioresque._admin) ------------------------------

    async def pause(self) -> None:
        """Pause the queue: no worker claims from it until :meth:`resume`.

        Workers see the flag on their next claim (within a second); running
        jobs go on and enqueues still succeed.
        """
        await _admin.pause(self)

    async def resume(self) -> None:
        """Resume a paused queue and wake its idle workers."""
        await _admin.resume(self)

    async def is_paused(self) -> bool:
        """Whether the queue is paused."""
        return await _admin.is_paused(self)

    async def overview(self) -> _admin.QueueOverview:
        """Sizes, counters, pause flag and the oldest waiting job's latency."""
        return await _admin.overview(self)

    async def history(self, minutes: int = _admin.HISTORY_MINUTES) -> list[_admin.HistoryPoint]:
        """Completed and failed attempts per minute over the last ``minutes`` (at most 60)."""
        return await _admin.history(self, minutes)

    async def list_jobs(
        self,
        status: JobStatus | str | Iterable[JobStatus | str],
        job_filter: _admin.JobFilter | None = None,
        *,
        offset: int = 0,
        limit: int = 50,
    ) -> _admin.JobPage:
        """One page of the jobs with the given status(es) that ``job_filter`` selects.

        Raises:
            ConfigurationError: an unknown status, or a bad offset/limit.
        """
        return await _admin.list_jobs(self, status, job_filter, offset=offset, limit=limit)

    async def retry_jobs(self, job_ids: Iterable[str]) -> int:
        """Put failed/dead/cancelled (or scheduled/retrying) jobs back on the queue now.

        Returns:
            How many were put back; ids in other states are skipped.
        """
        return await _admin.retry_jobs(self, list(job_ids))

    async def delete_jobs(self, job_ids: Iterable[str]) -> int:
        """Delete jobs and all their records; running jobs are skipped (cancel them).

        Returns:
            How many were deleted.
        """
        deleted, _ = await _admin.delete_jobs(self, list(job_ids))
        return deleted

    async def purge(self) -> int:
        """Delete every job waiting in the queue; returns how many."""
        return await _admin.purge(self)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _check_name(name: str) -> None:
    if not name or any(c in name for c in "{}: \t\n"):
        raise ConfigurationError(f"invalid queue name {name!r}: use letters, digits, '-', '_' or '.'")


def _check_job_id(job_id: str) -> None:
    if not job_id or len(job_id) > 256 or any(c in job_id for c in "{}\n"):
        raise ConfigurationError(f"invalid job id {job_id!r}")


def _max_attempts_arg(value: int | None) -> str | int:
    if value is None:
        return ""  # the handler's own setting applies
    if value < 1:
        raise ConfigurationError(f"_max_attempts must be at least 1, got {value}")
    return value


def _timeout_ms(timeout: float | None) -> str:
    if timeout is None:
        return ""
    if not timeout > 0 or math.isinf(timeout):
        raise ConfigurationError(f"_timeout must be a positive number of seconds, got {timeout}")
    return str(max(1, round(timeout * 1000)))


def _delay_ms(delay: float | timedelta | None) -> int:
    if delay is None:
        return 0
    seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
    if seconds < 0 or math.isnan(seconds):
        raise ConfigurationError(f"_delay must not be negative, got {delay}")
    return round(seconds * 1000)


def _find_unserializable(
    serializer: Serializer, name: str, args: Sequence[Any], kwargs: Mapping[str, Any], exc: Exception
) -> str:
    for i, value in enumerate(args):
        try:
            serializer.dumps(value)
        except Exception as inner:  # noqa: BLE001 - probing which argument fails
            return f"job {name!r}: positional argument {i} ({type(value).__name__}) cannot be serialized: {inner}"
    for key, value in kwargs.items():
        try:
            serializer.dumps(value)
        except Exception as inner:  # noqa: BLE001 - probing which argument fails
            return f"job {name!r}: argument {key!r} ({type(value).__name__}) cannot be serialized: {inner}"
    return f"job {name!r}: arguments cannot be serialized: {exc}"
