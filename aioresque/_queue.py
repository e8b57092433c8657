"""``Queue``: the producer's side — enqueue jobs, look them up, read stats."""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from redis.exceptions import ResponseError

from . import _admin, _decode, _quarantine, _scheduler, _scripts, _workflow
from ._cancel import cancel_job
from ._connect import Client, close_client, connect
from ._errors import ConfigurationError, PayloadTooLarge, SerializationError, translate
from ._events import JobEvent, queue_events
from ._job import Job
from ._keys import DEFAULT_PREFIX, QueueKeys, queue_registry
from ._limits import LimitGroup, check_key, limit_groups
from ._middleware import EnqueueMiddleware, enqueue_chain
from ._names import check_name, is_valid_name
from ._quarantine import QuarantinedItem
from ._recovery import recover_queue
from ._scheduler import ScheduleInfo
from ._serializer import JsonSerializer, Serializer
from ._server import ServerInfo, check_server
from ._status import JobStatus
from ._unique import Unique, lock_args, resolve
from ._workflow import Workflow

DEFAULT_URL = "redis://localhost:6379/0"
DEFAULT_MAX_PAYLOAD = 512 * 1024
DEFAULT_MAX_RESULT = 1024 * 1024
"""The default ``max_result_bytes``: a larger serialized result fails its job instead of being stored."""
MAX_BATCH_BYTES = 32 * 1024 * 1024
"""Most payload bytes one ``enqueue_many`` call sends; a larger batch is refused before anything is written."""


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
    ``Call.of("add", 1, 2, _job_id="x")``. The fields mean what
    :meth:`Queue.enqueue`'s underscored options mean.
    """

    name: str
    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    job_id: str | None = None
    queue: str | None = None
    max_attempts: int | None = None
    timeout: float | None = None
    delay: float | timedelta | None = None
    at: datetime | None = None
    unique: Unique | bool | str | None = None
    meta: Mapping[str, str] | None = None
    """String metadata carried to the worker (``current_job().meta``); set by middleware."""
    limit_key: str | int | None = None
    """The job's limit key, for a handler with ``limit_key=`` (see ``docs/limits.md``)."""

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
        _at: datetime | None = None,
        _unique: Unique | bool | str | None = None,
        _limit_key: str | int | None = None,
        **kwargs: Any,
    ) -> Call:
        """Build a call with the same signature as :meth:`Queue.enqueue`."""
        return cls(
            name, args, kwargs, _job_id, _queue, _max_attempts, _timeout, _delay, _at, _unique, limit_key=_limit_key
        )


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
        max_result_bytes: a worker does not store a larger serialized
            result: the job ends dead with a ``ResultTooLarge`` error instead
            (default 1 MiB).
        retention: how long finished jobs are kept (see :class:`Retention`).
        middleware: async callables wrapped around every enqueue, first
            outermost (see :class:`EnqueueMiddleware`); shared with the
            queue's siblings.
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
        middleware: Sequence[EnqueueMiddleware] = (),
        max_result_bytes: int = DEFAULT_MAX_RESULT,
    ) -> None:
        check_name(name, "queue name")
        check_name(prefix, "prefix")
        self.redis = redis
        self.name = name
        self.prefix = prefix
        self.serializer: Serializer = serializer or JsonSerializer()
        self.max_payload_bytes = max_payload_bytes
        self.max_result_bytes = max_result_bytes
        self.retention = retention or Retention()
        self.keys = QueueKeys(prefix, name)
        self._owns_client = False
        self._registered: set[str] = set()
        self._siblings: dict[str, Queue] = {name: self}
        self._middleware: list[EnqueueMiddleware] = list(middleware)

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
        """The queue called ``name``, sharing this queue's client and settings.

        Raises:
            ConfigurationError: ``name`` breaks the name rule (see :mod:`aioresque._names`).
        """
        check_name(name, "queue name")
        queue = self._siblings.get(name)
        if queue is None:
            queue = Queue(
                self.redis,
                name,
                prefix=self.prefix,
                serializer=self.serializer,
                max_payload_bytes=self.max_payload_bytes,
                retention=self.retention,
                max_result_bytes=self.max_result_bytes,
            )
            queue._middleware = self._middleware  # one chain for the whole family
            queue._siblings = self._siblings
            self._siblings[name] = queue
        return queue

    def add_middleware(self, middleware: EnqueueMiddleware) -> None:
        """Wrap every later enqueue (of this queue and its siblings) in ``middleware``, innermost."""
        self._middleware.append(middleware)

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
        _at: datetime | None = None,
        _unique: Unique | bool | str | None = None,
        _limit_key: str | int | None = None,
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
            _at: run no earlier than this aware datetime (measured against
                this process's clock); not together with ``_delay``.
            _unique: keep the job unique (see :class:`Unique`): True for a
                key derived from ``name`` and the arguments, a string for
                that key, or a :class:`Unique`. While the lock is held,
                enqueuing a duplicate returns the job holding it.
            _limit_key: the job's limit key, for a handler declared with
                ``limit_key=`` (typed enqueues compute it; see ``docs/limits.md``).

        Returns:
            The job's handle (for a duplicate unique job, the existing job's).

        Raises:
            SerializationError: an argument cannot be serialized (it is named).
            PayloadTooLarge: the payload exceeds ``max_payload_bytes``.
            ConfigurationError: a bad option (e.g. a naive ``_at``, or
                ``_at`` with ``_delay``), or a handler name, ``_job_id`` or
                ``_queue`` that breaks the name rule (``docs/concepts.md``).
            ConnectionLost: Redis cannot be reached.
            RedisFull: Redis refused the write (``maxmemory`` reached); nothing was written.
        """
        call = Call(
            name, args, kwargs, _job_id, _queue, _max_attempts, _timeout, _delay, _at, _unique, limit_key=_limit_key
        )
        return (await self.enqueue_many([call]))[0]

    async def enqueue_many(self, calls: Iterable[Call]) -> list[Job]:
        """Enqueue many jobs in one round trip (one script call per queue).

        Each queue's batch is applied atomically. Ids that already exist are
        left alone, as with :meth:`enqueue`; a unique call whose lock is held
        returns the holder's handle.

        With enqueue middleware configured, each call goes through the chain
        and is enqueued on its own (one round trip per call).

        Returns:
            One handle per call, in order.

        Raises:
            PayloadTooLarge: a payload exceeds ``max_payload_bytes``, or the
                payloads together exceed :data:`MAX_BATCH_BYTES` (32 MiB):
                nothing is enqueued; split the batch.
            RedisFull: Redis refused the write (``maxmemory`` reached); a
                queue's batch is written whole or not at all.
            ConnectionLost: Redis cannot be reached.
        """
        if not self._middleware:
            return await self._enqueue_batch(calls)

        async def last(call: Call) -> Job:
            return (await self._enqueue_batch([call]))[0]

        return [await enqueue_chain(self._middleware, call, last) for call in calls]

    async def _enqueue_batch(self, calls: Iterable[Call]) -> list[Job]:
        handler_names: set[str] = set()
        groups: dict[str, list[Any]] = {}
        counts: dict[str, int] = {}
        jobs: list[Job] = []
        total = 0
        for call in calls:
            queue = self if call.queue is None or call.queue == self.name else self.sibling(call.queue)
            # An empty id is refused, not replaced: only None means "make one up".
            job_id = uuid.uuid4().hex if call.job_id is None else check_name(call.job_id, "job id")
            if call.name not in handler_names:  # a batch repeats a few names: check each once
                handler_names.add(check_name(call.name, "handler name"))
            group = groups.setdefault(queue.name, [])
            counts[queue.name] = counts.get(queue.name, 0) + 1
            payload = self.encode_payload(call.name, call.args, call.kwargs, call.meta)
            total += len(payload)
            if total > MAX_BATCH_BYTES:
                raise PayloadTooLarge(
                    f"enqueue_many: the payloads of this batch exceed {MAX_BATCH_BYTES} bytes in all "
                    f"(at call {len(jobs) + 1}); nothing was enqueued: split the batch"
                )
            max_attempts = _max_attempts_arg(call.max_attempts)
            timeout = _timeout_ms(call.timeout)
            delay = _delay_ms(call.delay, call.at)
            ukey, mode, ttl = lock_args(resolve(call.unique, None), self.serializer, call.name, call.args, call.kwargs)
            limit_key = check_key(call.name, call.limit_key) or ""
            if max_attempts == "" and timeout == "" and not delay and not ukey and not limit_key:
                # The common job, in 4 values rather than 11: redis-py's packing
                # costs about a microsecond per argument, most of a bulk enqueue.
                group += ("p", job_id, call.name, payload)
            else:
                group += ("f", job_id, call.name, payload, max_attempts, timeout, delay, ukey, mode, ttl, limit_key)
            jobs.append(Job(queue, job_id))
        if not jobs:
            return []
        script_calls = []
        new_names = [n for n in groups if n not in self._registered]
        for queue_name, values in groups.items():
            keys = self.keys if queue_name == self.name else self.sibling(queue_name).keys
            script_calls.append(("enqueue", list(_enqueue_keys(keys)), [counts[queue_name], *values]))
        async with translate():
            if new_names:
                await self.redis.sadd(queue_registry(self.prefix), *new_names)
            replies = await _scripts.run_many(self.redis, script_calls)
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply  # inside translate(): a full Redis (OOM) is RedisFull
        self._registered.update(new_names)
        # A unique call whose lock was held answers '=<holder id>': hand back the holder.
        positions: dict[str, list[int]] = {}
        for i, job in enumerate(jobs):
            positions.setdefault(job.queue.name, []).append(i)
        for queue_name, reply in zip(groups, replies, strict=True):
            for i, code in zip(positions[queue_name], reply, strict=True):
                text = _decode.text(code)
                if text.startswith("="):
                    jobs[i] = Job(jobs[i].queue, text[1:])
        return jobs

    async def enqueue_chain(self, calls: Sequence[Call], *, workflow_id: str | None = None) -> Workflow:
        """Enqueue a chain: each step runs after the one before completed, with its result first.

        Step ``n + 1`` is called with step ``n``'s result as its first
        positional argument, then its own arguments. A step that fails for
        good, goes dead or is cancelled stops the chain (the rest are recorded
        as cancelled). Every step runs in this queue. See ``docs/workflows.md``.

        Args:
            calls: the steps, in order (``Call.of("name", ...)`` or ``handler.call(...)``).
            workflow_id: the workflow's id (default: a random UUID).

        Returns:
            The workflow's handle (``status()``, ``result()``, ``jobs``).

        Raises:
            ConfigurationError: no steps, a step for another queue or with a
                delay or uniqueness option, or an id already taken.
            ConnectionLost: Redis cannot be reached.
        """
        return await _workflow.enqueue_chain(self, calls, workflow_id=workflow_id)

    async def enqueue_group(
        self, calls: Sequence[Call], then: Call | None = None, *, workflow_id: str | None = None
    ) -> Workflow:
        """Enqueue a group: every member runs at once; ``then`` runs once all have completed.

        The callback ``then`` receives the list of the members' results (in
        member order) as its first positional argument, and runs only if
        every member completed; otherwise it is recorded as cancelled. Every
        job runs in this queue. See ``docs/workflows.md``.

        Args:
            calls: the members.
            then: the callback, or None.
            workflow_id: the workflow's id (default: a random UUID).

        Returns:
            The workflow's handle.

        Raises:
            ConfigurationError: as for :meth:`enqueue_chain`.
            ConnectionLost: Redis cannot be reached.
        """
        return await _workflow.enqueue_group(self, calls, then, workflow_id=workflow_id)

    def encode_payload(
        self, name: str, args: Sequence[Any], kwargs: Mapping[str, Any], meta: Mapping[str, str] | None = None
    ) -> bytes:
        """Serialize a job's arguments (and metadata, if any), checking the size limit.

        Raises:
            SerializationError: naming the first argument that cannot be serialized.
            PayloadTooLarge: the payload exceeds ``max_payload_bytes``.
        """
        body: dict[str, Any] = {"args": list(args), "kwargs": dict(kwargs)}
        if meta:
            # Only when present: payloads without it stay byte-identical to older releases'.
            body["meta"] = {str(k): str(v) for k, v in meta.items()}
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
        args, kwargs, _ = self.decode_body(data)
        return args, kwargs

    def decode_body(self, data: bytes) -> tuple[tuple[Any, ...], dict[str, Any], dict[str, str]]:
        """Decode a payload into ``(args, kwargs, meta)``; ``meta`` is empty for payloads without it.

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
        meta = body.get("meta") or {}
        if not isinstance(meta, dict):
            raise ValueError("payload meta is not a mapping")
        return tuple(args), kwargs, {str(k): str(v) for k, v in meta.items()}

    async def statistics(self) -> QueueStatistics:
        """Read the queue's sizes and counters in one round trip.

        A key holding the wrong Redis type counts as empty, and counters that
        are not integers are left out: reading never fails on what Redis holds.
        """
        s = await _admin.read_sizes(self)
        return QueueStatistics(self.name, s.queued, s.scheduled, s.active, s.done, s.dead, s.counters)

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
        """Every queue name that has been enqueued to under this prefix, sorted.

        Members of the registry that are not valid queue names (written by
        something else) are left out.
        """
        try:
            async with translate():
                names = await self.redis.smembers(queue_registry(self.prefix))
        except ResponseError as exc:  # the registry key holds another type
            if not _decode.wrong_type(exc):
                raise
            return []
        return sorted(n for n in (_decode.strict_text(m) for m in names) if n is not None and is_valid_name(n))

    async def check_server(self) -> ServerInfo:
        """Check that the Redis server (every node of a Cluster) is recent enough.

        Workers run this check when they start; call it from a producer's
        startup to fail early too. It reads ``INFO server``, or ``HELLO``
        when the user's ACL forbids ``INFO`` (a ``-@dangerous`` rule).

        Returns:
            The server's product and version (the oldest node's, on a Cluster).

        Raises:
            ConfigurationError: the server is older than Redis 6.2; the
                message names the version found and the minimum.
            ConnectionLost: Redis cannot be reached.
            AuthenticationFailed: Redis refused the credentials.
        """
        return await check_server(self.redis)

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
        """Sizes, counters, pause flag, quarantine count and the oldest waiting job's latency.

        Never fails on what Redis holds: a key of the wrong Redis type counts
        as empty and is named in :attr:`QueueOverview.unreadable_keys`.
        """
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

        Never fails on what Redis holds: a record that cannot be read is
        listed marked (:attr:`JobInfo.unreadable`), or, when a filter is given,
        counted in :attr:`JobPage.unreadable_skipped`.

        Raises:
            ConfigurationError: an unknown status, or a bad offset/limit.
        """
        return await _admin.list_jobs(self, status, job_filter, offset=offset, limit=limit)

    async def retry_jobs(self, job_ids: Iterable[str]) -> int:
        """Put failed/dead/cancelled (or scheduled/retrying) jobs back on the queue now.

        A unique job takes its uniqueness lock again; if another live job holds
        it now, that job is not retried (a warning names the holder). A job
        whose record cannot be read is left where it is (a warning counts them).

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

    # -- periodic schedules (see aioresque._scheduler) ----------------------------

    async def schedules(self) -> list[ScheduleInfo]:
        """The periodic schedules whose jobs go to this queue, sorted by name.

        A schedule appears once a worker running its handler has started.
        """
        return await _scheduler.list_schedules(self)

    async def pause_schedule(self, name: str) -> bool:
        """Pause the schedule ``name``: its ticks pass without a job until resumed.

        Returns:
            False when this queue has no schedule of that name.
        """
        return await _scheduler.set_paused(self, name, True)

    async def resume_schedule(self, name: str) -> bool:
        """Resume a paused schedule from its next tick (skipped ticks are not made up).

        Returns:
            False when this queue has no schedule of that name.
        """
        return await _scheduler.set_paused(self, name, False)

    async def purge(self) -> int:
        """Delete every job waiting in the queue; returns how many."""
        return await _admin.purge(self)

    # -- the quarantine (see aioresque._quarantine) --------------------------------

    async def quarantined(self, limit: int = _quarantine.LIST_LIMIT) -> list[QuarantinedItem]:
        """What was found in this queue's keys that cannot be a job, kept aside with its raw bytes.

        Workers and scripts quarantine a list entry, set member or id that is
        not valid UTF-8 or not a valid job id, and a record that fails their
        checks, instead of failing on it; the count is in :meth:`overview`.

        Args:
            limit: the most entries returned; past it, which ones is
                arbitrary (the overview has the count).

        Returns:
            The entries, newest first; empty if there are none.

        Raises:
            ConnectionLost: Redis cannot be reached.
        """
        return await _quarantine.quarantined(self, limit)

    async def drop_quarantined(self, raws: Iterable[bytes]) -> int:
        """Remove quarantine entries, given their :attr:`QuarantinedItem.raw` bytes.

        Only the entries go: a job record still stored under such an id is left
        for :meth:`delete_jobs`.

        Returns:
            How many entries were removed.

        Raises:
            ConnectionLost: Redis cannot be reached.
        """
        return await _quarantine.drop(self, raws)

    async def clear_quarantine(self) -> int:
        """Remove every quarantine entry of this queue.

        Returns:
            How many entries there were.

        Raises:
            ConnectionLost: Redis cannot be reached.
        """
        return await _quarantine.clear(self)

    async def limit_groups(self) -> list[LimitGroup]:
        """The live state of this queue's concurrency and rate limits, one entry per limit group.

        Lists the groups with running jobs, recent starts or parked jobs
        (``aioresque limits`` prints it). See ``docs/limits.md``.

        Raises:
            ConnectionLost: Redis cannot be reached.
        """
        return await limit_groups(self)

    def events(self) -> AsyncIterator[JobEvent]:
        """Every event of every job of this queue from now on: ``async for event in queue.events(): ...``.

        Same events as :meth:`Job.events` (without results: read them with
        ``queue.job(event.job_id).result()``), for dashboards and bridges.
        Runs until the caller stops iterating. Events are kept in a capped
        stream (about 10,000 per queue), so a follower that falls that far
        behind misses the oldest; see ``docs/progress.md``.

        Raises:
            ConnectionLost: Redis stayed unreachable for a minute.
        """
        return queue_events(self)

    async def workflow(self, workflow_id: str) -> Workflow:
        """The handle of an existing workflow of this queue (see :meth:`enqueue_chain`).

        Raises:
            JobNotFound: there is no such workflow (or its record was pruned).
            ConnectionLost: Redis cannot be reached.
        """
        return await Workflow.load(self, workflow_id)


@functools.lru_cache(maxsize=1024)
def _enqueue_keys(keys: QueueKeys) -> tuple[bytes, ...]:
    """enqueue.lua's KEYS for one queue, encoded once."""
    k = keys
    return tuple(n.encode() for n in (k.queue, k.scheduled, k.jobs, k.state, k.marker, k.stats, k.unique))


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


def _delay_ms(delay: float | timedelta | None, at: datetime | None = None) -> int:
    if at is not None:
        if delay is not None:
            raise ConfigurationError("give _delay or _at, not both")
        if not isinstance(at, datetime):
            raise ConfigurationError(f"_at must be a datetime, got {type(at).__name__}")
        if at.tzinfo is None or at.utcoffset() is None:
            raise ConfigurationError(
                f"_at must be an aware datetime (with a tzinfo, e.g. datetime.now(UTC) + ...), got naive {at}"
            )
        return max(0, round((at - datetime.now(UTC)).total_seconds() * 1000))
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
