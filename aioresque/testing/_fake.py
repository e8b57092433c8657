"""``FakeQueue`` and ``InlineQueue``: a ``Queue`` that keeps jobs in memory."""

from __future__ import annotations

import contextlib
import functools
import inspect
import time
import traceback
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, NoReturn, cast

import anyio

from .._connect import Client
from .._context import JobContext, _current
from .._errors import ConfigurationError, SerializationError
from .._handler import JobFunction, Registry, WorkerHook, retry_verdict
from .._job import Job
from .._keys import DEFAULT_PREFIX
from .._limits import check_key
from .._middleware import EnqueueMiddleware, PerformMiddleware, perform_chain
from .._names import check_name
from .._queue import (
    DEFAULT_MAX_PAYLOAD,
    Call,
    Queue,
    QueueStatistics,
    _delay_ms,
    _max_attempts_arg,
    _timeout_ms,
)
from .._serializer import Serializer
from .._status import JobStatus
from .._unique import Unique, derive_key, resolve
from ._records import EnqueuedJob, FakeJob, RecordingReporter

Functions = ModuleType | Registry | Iterable[JobFunction[Any, Any] | WorkerHook]
"""What a fake queue runs: a jobs module, a Registry, or handlers and hooks."""

MAX_DRAIN = 10_000
"""Most jobs one ``drain()`` runs before it decides jobs keep enqueueing jobs."""


class _NoRedis:
    """Stands in for the client: any Redis use in fake mode fails loudly."""

    def __getattr__(self, attr: str) -> NoReturn:
        raise ConfigurationError(
            f"a fake queue has no Redis ({attr!r} was asked for): aioresque.testing supports enqueue, "
            "enqueue_many, job, statistics and known_queues; test the rest against a real Redis"
        )

    def __repr__(self) -> str:
        return "<no Redis: aioresque.testing fake>"


@dataclass(frozen=True, slots=True)
class _Lock:
    """A uniqueness lock of a fake queue: who holds it, how, until when (``time.monotonic()``)."""

    holder: str
    until: str
    expires: float | None

    def holds(self, record: EnqueuedJob | None, now: float) -> bool:
        """Whether the lock still keeps duplicates out: the test ``enqueue.lua`` applies."""
        if self.expires is not None and now >= self.expires:
            return False
        if self.until == "ttl":
            return True
        if record is None:
            return False
        if record.status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.RETRYING):
            return True
        return self.until == "finished" and record.status is JobStatus.ACTIVE


class _Store:
    """The state every sibling of one fake queue shares."""

    def __init__(
        self,
        registry: Registry,
        resources: dict[str, Any],
        raise_errors: bool,
        inline: bool,
        perform_middleware: Sequence[PerformMiddleware],
    ) -> None:
        self.registry = registry
        self.resources = resources
        self.raise_errors = raise_errors
        self.inline = inline
        self.perform_middleware = tuple(perform_middleware)
        self.records: dict[tuple[str, str], EnqueuedJob] = {}
        self.waiting: list[EnqueuedJob] = []
        self.counters: dict[str, dict[str, int]] = {}
        self.locks: dict[tuple[str, str], _Lock] = {}
        self.started = False

    def holder(self, queue: str, key: str) -> str | None:
        """The id of the job whose lock on ``key`` in ``queue`` keeps duplicates out, or None."""
        lock = self.locks.get((queue, key))
        if lock is None or not lock.holds(self.records.get((queue, lock.holder)), time.monotonic()):
            return None
        return lock.holder

    def take(self, queue: str, key: str, job_id: str, unique: Unique) -> None:
        expires = None if unique.ttl is None else time.monotonic() + unique.ttl
        self.locks[(queue, key)] = _Lock(job_id, unique.until, expires)

    def count(self, queue: str, counter: str) -> None:
        counters = self.counters.setdefault(queue, {})
        counters[counter] = counters.get(counter, 0) + 1


def _registry(functions: Functions) -> Registry:
    if isinstance(functions, Registry):
        return functions
    if isinstance(functions, ModuleType):
        return Registry.from_module(functions)
    return Registry.build(functions)


class FakeQueue(Queue):
    """A :class:`aioresque.Queue` that keeps jobs in memory, for your test suite.

    Enqueued jobs are collected, not run: look at :attr:`jobs`, assert with
    :meth:`assert_enqueued`, run them with :meth:`drain` or :meth:`run_one`.
    Enqueueing goes through the same checks as a real queue (the serializer,
    ``max_payload_bytes``, job ids and options), so a test catches an
    argument a worker could never receive. Jobs run on the caller's event
    loop with a real :func:`aioresque.current_job` context whose ``queue`` is
    this fake. No Redis server is needed; methods that need one raise
    :class:`aioresque.ConfigurationError`.

    Unique jobs (``_unique=``, a handler's ``unique=`` default) are kept
    unique as on a real queue, per the same modes: while the lock is held,
    enqueuing a duplicate returns the existing job and records nothing. A
    lock is held while its job waits (and, for ``until="finished"``, runs),
    or for its ttl; cancelling is not modelled, :meth:`clear` drops every
    lock.

    Enqueue middleware (``middleware=``, :meth:`add_middleware`) wraps every
    enqueue as on a real queue, and perform middleware
    (``perform_middleware=``, what a :class:`aioresque.Worker` takes as
    ``middleware=``) wraps every attempt the fake runs, around the handler
    only, inside its timeout, as in a worker.

    It is a ``Queue``, so code that takes a ``Queue`` takes it as it is, and a
    FastAPI app's queue dependency is replaced with
    ``app.dependency_overrides[aioresque.fastapi.get_queue] = lambda: fake``.

    Args:
        functions: the handlers jobs run with: a jobs module, a
            :class:`aioresque.Registry`, or ``@job`` handlers and hooks
            (default none: jobs are collected and asserted, not run).
        name: the queue's name (default ``"default"``).
        prefix, serializer, max_payload_bytes: as for :class:`aioresque.Queue`.
        resources: the dict jobs see as ``current_job().resources``; startup
            hooks fill it before the first job runs, shutdown hooks run on
            :meth:`close` (or at the end of ``async with``).
        raise_errors: re-raise a handler's exception from ``drain()``,
            ``run_one()`` (and, inline, from ``enqueue``) after recording it
            (default True). When False, a failure is recorded as a worker
            would: retried (at once, without backoff) until the job's
            attempts are used up, then ``failed``.
        middleware: enqueue middleware, as for :class:`aioresque.Queue`.
        perform_middleware: middleware wrapped around each attempt, as a
            :class:`aioresque.Worker`'s ``middleware``.
    """

    _store: _Store

    def __init__(
        self,
        functions: Functions = (),
        *,
        name: str = "default",
        prefix: str = DEFAULT_PREFIX,
        serializer: Serializer | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD,
        resources: dict[str, Any] | None = None,
        raise_errors: bool = True,
        middleware: Sequence[EnqueueMiddleware] = (),
        perform_middleware: Sequence[PerformMiddleware] = (),
    ) -> None:
        super().__init__(
            cast(Client, _NoRedis()),
            name,
            prefix=prefix,
            serializer=serializer,
            max_payload_bytes=max_payload_bytes,
            middleware=middleware,
        )
        inline = isinstance(self, InlineQueue)
        self._store = _Store(
            _registry(functions), {} if resources is None else resources, raise_errors, inline, perform_middleware
        )

    def __repr__(self) -> str:
        mode = "inline" if self._store.inline else "fake"
        return f"<{type(self).__name__} {self.name!r} ({mode}) jobs={len(self._store.waiting)}>"

    async def __aenter__(self) -> FakeQueue:
        return self

    # -- the Queue API ------------------------------------------------------------

    async def close(self) -> None:
        """Run the shutdown hooks if a job ran (and so the startup hooks did)."""
        store = self._store
        if store.started:
            store.started = False
            for hook in store.registry.shutdown:
                await hook(store.resources)

    def sibling(self, name: str) -> FakeQueue:
        """The fake queue called ``name``, sharing this one's jobs and settings."""
        check_name(name, "queue name")
        queue = self._siblings.get(name)
        if queue is None:
            queue = object.__new__(type(self))
            Queue.__init__(
                queue,
                self.redis,
                name,
                prefix=self.prefix,
                serializer=self.serializer,
                max_payload_bytes=self.max_payload_bytes,
            )
            queue._store = self._store
            queue._siblings = self._siblings
            queue._middleware = self._middleware  # one chain for the whole family
            self._siblings[name] = queue
        return cast(FakeQueue, queue)

    def job(self, job_id: str) -> FakeJob[Any]:
        """A handle for a job id in this queue."""
        return FakeJob(self, job_id)

    async def enqueue_many(self, calls: Iterable[Call]) -> list[Job[Any]]:
        """Record jobs as ``Queue.enqueue_many`` would enqueue them (inline: and run them).

        Every call is checked before any is recorded. An id that already
        exists returns that job and adds nothing, and so does a unique call
        whose lock a live job holds (that job is returned). With enqueue
        middleware, each call goes through the chain on its own.
        """
        return await super().enqueue_many(calls)

    async def _enqueue_batch(self, calls: Iterable[Call]) -> list[Job[Any]]:
        prepared: list[tuple[FakeQueue, str, Call, bytes, float, Unique | None]] = []
        for call in calls:
            queue = self if call.queue is None or call.queue == self.name else self.sibling(call.queue)
            # As Queue: an empty id is refused, not replaced.
            job_id = uuid.uuid4().hex if call.job_id is None else check_name(call.job_id, "job id")
            check_name(call.name, "handler name")
            payload = self.encode_payload(call.name, call.args, call.kwargs, call.meta)
            _max_attempts_arg(call.max_attempts)
            _timeout_ms(call.timeout)
            check_key(call.name, call.limit_key)  # limits themselves do not apply in a fake
            unique = resolve(call.unique, None)
            prepared.append((queue, job_id, call, payload, _delay_ms(call.delay, call.at) / 1000, unique))
        store = self._store
        handles: list[Job[Any]] = []
        added: list[tuple[FakeQueue, EnqueuedJob]] = []
        for queue, job_id, call, payload, delay, unique in prepared:
            if (queue.name, job_id) in store.records:
                handles.append(FakeJob(queue, job_id))
                continue
            args, kwargs, meta = self.decode_body(payload)
            key = None
            if unique is not None:
                key = (
                    unique.key
                    if unique.key is not None
                    else derive_key(self.serializer, call.name, call.args, call.kwargs)
                )
                holder = store.holder(queue.name, key)
                if holder is not None:
                    handles.append(FakeJob(queue, holder))
                    continue
                store.take(queue.name, key, job_id, unique)
            handles.append(FakeJob(queue, job_id))
            record = EnqueuedJob(
                id=job_id,
                name=call.name,
                queue=queue.name,
                args=args,
                kwargs=kwargs,
                max_attempts=call.max_attempts,
                timeout=call.timeout,
                delay=delay,
                enqueued_at=datetime.now(UTC),
                status=JobStatus.SCHEDULED if delay > 0 else JobStatus.QUEUED,
                meta=meta,
                unique_key=key,
            )
            store.records[(queue.name, job_id)] = record
            store.waiting.append(record)
            store.count(queue.name, "enqueued")
            added.append((queue, record))
        if store.inline:
            for queue, record in added:
                while record in store.waiting:
                    store.waiting.remove(record)
                    await queue._run(record)
        return handles

    async def statistics(self) -> QueueStatistics:
        """Sizes and counters of this queue, from the fake's records."""
        mine = [r for (q, _), r in self._store.records.items() if q == self.name]

        def count(*statuses: JobStatus) -> int:
            return sum(1 for r in mine if r.status in statuses)

        return QueueStatistics(
            self.name,
            queued=count(JobStatus.QUEUED),
            scheduled=count(JobStatus.SCHEDULED, JobStatus.RETRYING),
            active=count(JobStatus.ACTIVE),
            completed_kept=count(JobStatus.COMPLETE),
            dead=count(JobStatus.FAILED, JobStatus.DEAD),
            counters=dict(self._store.counters.get(self.name, {})),
        )

    async def known_queues(self) -> list[str]:
        """Every queue name a job was enqueued to, sorted."""
        return sorted({q for q, _ in self._store.records})

    # -- looking at jobs ------------------------------------------------------------

    @property
    def jobs(self) -> list[EnqueuedJob]:
        """The jobs waiting to run (queued, scheduled or retrying), oldest first, in every queue."""
        return list(self._store.waiting)

    @property
    def all_jobs(self) -> list[EnqueuedJob]:
        """Every job enqueued since the fake was made (or cleared), whatever became of it."""
        return list(self._store.records.values())

    def record(self, job_id: str) -> EnqueuedJob | None:
        """The record of job ``job_id`` in this queue, or None."""
        return self._store.records.get((self.name, job_id))

    def enqueued(self, job: str | JobFunction[Any, Any] | None = None) -> list[EnqueuedJob]:
        """Every job enqueued since the fake was made (or cleared), optionally only one handler's."""
        name = job if isinstance(job, str) or job is None else job.name
        return [r for r in self._store.records.values() if name is None or r.name == name]

    def assert_enqueued(self, job: str | JobFunction[Any, Any], /, *args: Any, **kwargs: Any) -> EnqueuedJob:
        """Assert that ``job`` was enqueued (with these arguments, when any are given).

        Arguments are compared as the handler receives them (after the
        serializer), bound to the handler's signature when the fake knows it.

        Returns:
            The last matching job.

        Raises:
            AssertionError: no job matches; the message lists what was enqueued.
        """
        function = job if isinstance(job, JobFunction) else self._store.registry.functions.get(job)
        name = job if isinstance(job, str) else job.name
        candidates = self.enqueued(name)
        if args or kwargs:
            expected_args, expected_kwargs = self.decode_payload(self.encode_payload(name, args, kwargs))
            candidates = [r for r in candidates if r.matches(function, expected_args, expected_kwargs)]
        if not candidates:
            wanted = name if not (args or kwargs) else _describe_call(name, args, kwargs)
            raise AssertionError(f"no job {wanted} was enqueued; enqueued: {self._listing()}")
        return candidates[-1]

    def assert_not_enqueued(self, job: str | JobFunction[Any, Any], /) -> None:
        """Assert that no ``job`` was enqueued.

        Raises:
            AssertionError: one was; the message lists them.
        """
        found = self.enqueued(job)
        if found:
            raise AssertionError(f"expected no {found[0].name} job, found: {', '.join(r.describe() for r in found)}")

    def _listing(self) -> str:
        return ", ".join(r.describe() for r in self._store.records.values()) or "nothing"

    def clear(self) -> None:
        """Forget every job (waiting or finished) in every queue of this fake."""
        self._store.records.clear()
        self._store.waiting.clear()
        self._store.counters.clear()
        self._store.locks.clear()

    # -- running jobs ---------------------------------------------------------------

    async def run_one(self) -> EnqueuedJob | None:
        """Run one attempt of the oldest waiting job, in any queue.

        Delays are not waited for. Returns the job (its ``status`` says how
        the attempt ended), or None when no job waits.

        Raises:
            ConfigurationError: the fake has no handler for the job's name.
            Exception: the handler's own exception, when ``raise_errors``.
        """
        store = self._store
        if not store.waiting:
            return None
        record = store.waiting.pop(0)
        await self.sibling(record.queue)._run(record)
        return record

    async def drain(self) -> list[EnqueuedJob]:
        """Run waiting jobs until none is left, including jobs they enqueue and retries.

        Returns:
            The jobs run, once per attempt, in order.

        Raises:
            ConfigurationError: the fake has no handler for a job's name, or
                more than 10,000 attempts ran (jobs keep enqueueing jobs).
            Exception: a handler's own exception, when ``raise_errors``.
        """
        ran: list[EnqueuedJob] = []
        while self._store.waiting:
            if len(ran) >= MAX_DRAIN:
                raise ConfigurationError(
                    f"drain() ran {MAX_DRAIN} jobs and more keep coming: does a job enqueue itself?"
                )
            record = await self.run_one()
            assert record is not None
            ran.append(record)
        return ran

    async def _start(self) -> None:
        store = self._store
        if not store.started:
            store.started = True
            for hook in store.registry.startup:
                await hook(store.resources)

    async def _run(self, record: EnqueuedJob) -> None:
        """Run one attempt of ``record`` on this (its own) queue."""
        store = self._store
        handler = store.registry.functions.get(record.name)
        if handler is None:
            store.waiting.insert(0, record)
            known = ", ".join(sorted(store.registry.functions)) or "none"
            raise ConfigurationError(
                f"no handler named {record.name!r} in this {type(self).__name__} (it has: {known}); "
                "pass your jobs module or handlers as its first argument"
            )
        await self._start()
        record.attempts += 1
        record.status = JobStatus.ACTIVE
        record.started_at = datetime.now(UTC)
        record.event("started", attempt=record.attempts, worker="inline" if store.inline else "fake")
        timeout = record.timeout if record.timeout is not None else handler.timeout
        worker_id = "inline" if store.inline else "fake"
        ctx = JobContext(
            record.id,
            record.name,
            self,
            record.attempts,
            worker_id,
            store.resources,
            record.args,
            record.kwargs,
            record.meta,
            RecordingReporter(self, record),
        )
        token = _current.set(ctx)
        error: Exception | None = None
        result: Any = None
        try:
            with anyio.move_on_after(timeout) as deadline:
                try:
                    # The handler's before/after hooks run as in a worker.
                    if handler.before is not None:
                        await handler.before(ctx)
                    if store.perform_middleware:
                        result = await perform_chain(
                            store.perform_middleware, ctx, lambda: _call(handler, record.args, record.kwargs)
                        )
                    else:
                        result = await _call(handler, record.args, record.kwargs)
                    if handler.after is not None:
                        await handler.after(ctx, result)
                except Exception as exc:  # noqa: BLE001 - recorded as the job's failure, re-raised below
                    error = exc
            if deadline.cancelled_caught:
                error = TimeoutError(f"the attempt exceeded its timeout of {timeout} s")
            if error is not None and handler.on_failure is not None:
                # A worker logs what on_failure raises and goes on; so does the fake.
                with contextlib.suppress(Exception):
                    await handler.on_failure(ctx, error)
        finally:
            _current.reset(token)
        if error is not None:
            self._failed(record, handler, error)
            return
        try:
            record.result = self.serializer.loads(self.serializer.dumps(result))
        except Exception as exc:  # noqa: BLE001 - any serializer error: the job is dead, as in a worker
            message = f"the result ({type(result).__name__}) cannot be serialized: {exc}"
            self._dead(record, SerializationError(f"job {record.name!r}: {message}"), f"SerializationError: {message}")
            return
        store.count(self.name, "completed")
        record.finish(JobStatus.COMPLETE)

    def _failed(self, record: EnqueuedJob, handler: JobFunction[Any, Any], error: Exception) -> None:
        if isinstance(error, TypeError) and not _fits(handler, record.args, record.kwargs):
            self._dead(record, error, f"BadArguments: {_describe(error)}")
            return
        record.failures += 1
        record.exception = error
        record.error = _describe(error)
        record.traceback = "".join(traceback.format_exception(error))
        self._store.count(self.name, "failed")
        # retry_on=, NonRetryable and Retry decide as in a worker (delays are not kept).
        if record.attempts < (record.max_attempts or handler.max_attempts) and retry_verdict(handler, error):
            record.status = JobStatus.RETRYING
            record.event("retrying", attempt=record.attempts, error=record.error, due_at=None)
            self._store.waiting.append(record)
            self._store.count(self.name, "retried")
        else:
            record.finish(JobStatus.FAILED)
        if self._store.raise_errors:
            raise error

    def _dead(self, record: EnqueuedJob, error: Exception, message: str) -> None:
        record.exception = error
        record.error = message
        record.traceback = "".join(traceback.format_exception(error))
        self._store.count(self.name, "dead")
        record.finish(JobStatus.DEAD)
        if self._store.raise_errors:
            raise error


class InlineQueue(FakeQueue):
    """A fake queue that runs each job as it is enqueued, in the caller's event loop.

    ``await queue.enqueue(...)`` returns once the job has finished (delays
    are not waited for; retries, with ``raise_errors=False``, run at once), so
    a test sees the job's effects right after the code under test enqueued
    it. Jobs that jobs enqueue run inline too. With ``raise_errors`` (the
    default) a handler's exception propagates out of ``enqueue``.
    Takes the same arguments as :class:`FakeQueue`.
    """

    async def __aenter__(self) -> InlineQueue:
        return self


async def _call(handler: JobFunction[Any, Any], args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    if handler.is_async:
        return await handler.fn(*args, **kwargs)
    # As in a worker: a plain def handler runs in a thread, with the context copied.
    return await anyio.to_thread.run_sync(functools.partial(handler.fn, *args, **kwargs), abandon_on_cancel=True)


def _fits(handler: JobFunction[Any, Any], args: Sequence[Any], kwargs: dict[str, Any]) -> bool:
    try:
        inspect.signature(handler.fn).bind(*args, **kwargs)
    except TypeError:
        return False
    return True


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _describe_call(name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"
