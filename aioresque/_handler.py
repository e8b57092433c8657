"""Declaring job handlers and worker hooks, and finding them in a module.

A jobs module is plain Python::

    import aioresque

    @aioresque.job
    async def add(a: int, b: int) -> int:
        return a + b

    @aioresque.on_startup
    async def open_pool(resources: dict[str, Any]) -> None:
        resources["db"] = await create_pool()

The worker registers every :class:`JobFunction` and :class:`WorkerHook`
found among the module's globals.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import TYPE_CHECKING, Any, Generic, Literal, ParamSpec, TypeVar, overload

from . import _typed
from ._errors import ConfigurationError, NonRetryable, Retry
from ._limits import LimitKey, Limits, RateLimit
from ._names import MAX_NAME_LENGTH, check_name, is_valid_name
from ._retry import Backoff
from ._schedule import Schedule
from ._scheduler import job_id_for
from ._unique import Unique

if TYPE_CHECKING:
    from ._context import JobContext
    from ._job import Job
    from ._queue import Call, Queue

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R")
T = TypeVar("T")

DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_TIMEOUT = 300.0

BeforeHook = Callable[["JobContext"], Awaitable[None]]
"""``async def before(ctx)``: runs before each attempt; raising fails the attempt."""
AfterHook = Callable[["JobContext", Any], Awaitable[None]]
"""``async def after(ctx, result)``: runs after a successful attempt; raising fails it."""
FailureHook = Callable[["JobContext", BaseException], Awaitable[None]]
"""``async def on_failure(ctx, exc)``: runs after each failed attempt; its errors are logged."""


class JobFunction(Generic[P, R]):
    """A function registered as a job handler by :func:`job`.

    It stays callable as the plain function it wraps, so handlers can be
    unit-tested and reused directly.

    Attributes:
        fn: the wrapped function.
        name: the name jobs are enqueued under (the function's ``__name__``
            unless given).
        queue: the queue the handler belongs to, used by ``*`` workers and
            typed enqueueing; enqueue-by-name picks the queue explicitly.
        max_attempts: attempts before a failing job goes to the dead set.
        timeout: seconds an attempt may run before it is cancelled, or None.
        is_async: whether ``fn`` is a coroutine function (else it runs in a
            worker thread).
        backoff: the retry delays after a failed attempt, or None for the
            worker's.
        retry_on: the exception types that are retried, or None for all
            (others fail the job at once).
        schedule: when the handler runs periodically, or None.
        unique: the uniqueness typed enqueues get by default, or None.
        before, after, on_failure: per-attempt callbacks (see :func:`job`).
        limits: the handler's concurrency and rate limits, or None (see
            :mod:`aioresque._limits`).
    """

    __slots__ = (
        "__dict__",
        "after",
        "backoff",
        "before",
        "fn",
        "is_async",
        "limits",
        "max_attempts",
        "name",
        "on_failure",
        "queue",
        "retry_on",
        "schedule",
        "timeout",
        "unique",
    )

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        queue: str | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        timeout: float | None = DEFAULT_TIMEOUT,
        backoff: Backoff | None = None,
        retry_on: tuple[type[BaseException], ...] | None = None,
        cron: str | None = None,
        every: timedelta | float | None = None,
        tz: str | None = None,
        unique: Unique | bool | None = None,
        before: BeforeHook | None = None,
        after: AfterHook | None = None,
        on_failure: FailureHook | None = None,
        concurrency: int | None = None,
        rate: RateLimit | tuple[int, float] | None = None,
        limit_key: LimitKey | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ConfigurationError(f"max_attempts must be at least 1, got {max_attempts}")
        if timeout is not None and timeout <= 0:
            raise ConfigurationError(f"timeout must be positive or None, got {timeout}")
        self.fn = fn
        self.name = check_name(getattr(fn, "__name__", "") if name is None else name, "handler name")
        self.queue = None if queue is None else check_name(queue, "queue name")
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.is_async = inspect.iscoroutinefunction(fn)
        if backoff is not None and not isinstance(backoff, Backoff):
            raise ConfigurationError(f"backoff must be an aioresque.Backoff, got {type(backoff).__name__}")
        self.backoff = backoff
        self.retry_on = _check_retry_on(retry_on)
        self.schedule: Schedule | None = None
        if cron is not None or every is not None:
            self.schedule = Schedule.of(cron=cron, every=every, tz=tz)
            if not _callable_without_arguments(fn):
                raise ConfigurationError(f"{self.name}: a scheduled handler is called without arguments")
            # Its jobs' ids embed the name (job_id_for) and must follow the name rule too.
            longest = job_id_for(self.name, datetime(9999, 12, 31, 23, 59, tzinfo=UTC))
            if not is_valid_name(longest):
                room = MAX_NAME_LENGTH - (len(longest) - len(self.name))
                raise ConfigurationError(
                    f"{self.name[:60]!r}: a scheduled handler's name is at most {room} characters, "
                    f"so that its job ids ({longest[:5]}<name>:<ms>) follow the name rule"
                )
        elif tz is not None:
            raise ConfigurationError("tz= needs cron=")
        if unique is True:
            unique = Unique()
        self.unique: Unique | None = unique or None
        for label, hook in (("before", before), ("after", after), ("on_failure", on_failure)):
            if hook is not None and not inspect.iscoroutinefunction(hook):
                raise ConfigurationError(f"{label}= must be an async function")
        self.before = before
        self.after = after
        self.on_failure = on_failure
        self.limits = Limits.of(concurrency, rate, limit_key)
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the wrapped function directly, outside any queue."""
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<JobFunction {self.name!r} queue={self.queue!r} max_attempts={self.max_attempts}>"

    # The two overloads unwrap an ``async def`` handler's coroutine, so
    # ``Job[R].result()`` is typed as the awaited value.
    @overload
    async def enqueue(
        self: JobFunction[P2, Coroutine[Any, Any, T]], queue: Queue | None, /, *args: P2.args, **kwargs: P2.kwargs
    ) -> Job[T]: ...

    @overload
    async def enqueue(
        self: JobFunction[P2, T], queue: Queue | None, /, *args: P2.args, **kwargs: P2.kwargs
    ) -> Job[T]: ...

    async def enqueue(self, queue: Queue | None, /, *args: Any, **kwargs: Any) -> Job[Any]:
        """Enqueue a job for this handler; its arguments are type-checked against the handler's.

        ``await send_email.enqueue(queue, to="ada@example.com")`` is
        ``await queue.enqueue("send_email", to="ada@example.com")`` (onto the
        handler's home queue when it has one), checked by the type checker.
        For enqueue options use :meth:`options`.

        Args:
            queue: the queue to enqueue through; None means the queue bound
                with :func:`aioresque.use_queue`, else the running job's queue.

        Returns:
            The job's handle; its ``result()`` is typed as this handler's
            return value.

        Raises:
            SerializationError: an argument cannot be serialized (it is named).
            PayloadTooLarge: the payload exceeds the queue's ``max_payload_bytes``.
            ConfigurationError: ``queue`` is None and none can be found.
            ConnectionLost: Redis cannot be reached.
        """
        return await _typed.enqueue_call(queue, _typed.make_call(self, _typed.Settings(), args, kwargs))

    def options(
        self,
        *,
        job_id: str | None = None,
        queue: str | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,
        delay: float | timedelta | None = None,
        at: datetime | None = None,
        unique: Unique | bool | str | None = None,
    ) -> _typed.JobOptions[P, R]:
        """This handler with enqueue options: ``send_email.options(delay=60).enqueue(queue, ...)``.

        Args:
            job_id: the job's id; enqueuing an id that already exists returns
                that job and adds nothing (default: a random UUID).
            queue: the queue name to enqueue onto (default: the handler's
                home queue, else the queue passed to ``enqueue``).
            max_attempts: attempts before the job is dead (default: the handler's).
            timeout: seconds an attempt may run (default: the handler's).
            delay: run no earlier than this many seconds from now.
            at: run no earlier than this aware datetime.
            unique: keep the job unique (default: the handler's ``unique``);
                see ``Queue.enqueue``'s ``_unique``.
        """
        return _typed.JobOptions(self, _typed.Settings(job_id, queue, max_attempts, timeout, delay, at, unique))

    def call(self, *args: P.args, **kwargs: P.kwargs) -> Call:
        """A type-checked :class:`Call` for ``Queue.enqueue_many``: ``add.call(1, 2)``."""
        return _typed.make_call(self, _typed.Settings(), args, kwargs)


@overload
def job(fn: Callable[P, R], /) -> JobFunction[P, R]: ...


@overload
def job(
    *,
    name: str | None = None,
    queue: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    timeout: float | None = DEFAULT_TIMEOUT,
    backoff: Backoff | None = None,
    retry_on: tuple[type[BaseException], ...] | None = None,
    cron: str | None = None,
    every: timedelta | float | None = None,
    tz: str | None = None,
    unique: Unique | bool | None = None,
    before: BeforeHook | None = None,
    after: AfterHook | None = None,
    on_failure: FailureHook | None = None,
    concurrency: int | None = None,
    rate: RateLimit | tuple[int, float] | None = None,
    limit_key: LimitKey | None = None,
) -> Callable[[Callable[P, R]], JobFunction[P, R]]: ...


def job(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    queue: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    timeout: float | None = DEFAULT_TIMEOUT,
    backoff: Backoff | None = None,
    retry_on: tuple[type[BaseException], ...] | None = None,
    cron: str | None = None,
    every: timedelta | float | None = None,
    tz: str | None = None,
    unique: Unique | bool | None = None,
    before: BeforeHook | None = None,
    after: AfterHook | None = None,
    on_failure: FailureHook | None = None,
    concurrency: int | None = None,
    rate: RateLimit | tuple[int, float] | None = None,
    limit_key: LimitKey | None = None,
) -> JobFunction[P, R] | Callable[[Callable[P, R]], JobFunction[P, R]]:
    """Register a function as a job handler: ``@job`` or ``@job(name=...)``.

    ``async def`` handlers run on the worker's event loop; plain ``def``
    handlers run in a worker thread (through anyio), so blocking code works.
    A handler receives exactly the arguments it was enqueued with; it reads
    its context (job id, attempt, shared resources) with
    :func:`aioresque.current_job`.

    Args:
        fn: the handler, when used without parentheses.
        name: the job name (default: the function's ``__name__``).
        queue: the handler's home queue (informational for enqueue-by-name).
        max_attempts: how many attempts may fail before the job is dead
            (default 3).
        timeout: seconds an attempt may run before it is cancelled and counted
            as failed (default 300); None for no limit.
        backoff: delays between attempts for this handler (default: the
            worker's, ``Backoff()``: 1 s doubling per failure, half jitter,
            capped at 300 s).
        retry_on: retry only these exception types (and timeouts); any other
            error fails the job at once. Default: retry every error.
            :class:`NonRetryable` is never retried; :class:`Retry` always is.
        cron: run periodically on this cron expression (five fields, see
            ``docs/cron.md``); the handler takes no arguments.
        every: run periodically at this interval (a ``timedelta`` or
            seconds, at least 1 s), aligned to the Unix epoch.
        tz: the IANA time zone ``cron`` is read in (default UTC).
        unique: the uniqueness typed enqueues (``handler.enqueue``) get by
            default: True or a :class:`Unique`; see ``Queue.enqueue``'s ``_unique``.
        before: ``async def before(ctx)``, run before each attempt; raising
            fails the attempt.
        after: ``async def after(ctx, result)``, run after a successful
            attempt; raising fails it.
        on_failure: ``async def on_failure(ctx, exc)``, run after each failed
            attempt (errors and timeouts); what it raises is logged.
        concurrency: most jobs of this handler running at once across all
            workers of a queue (per key with ``limit_key``); see ``docs/limits.md``.
        rate: most job starts per window across all workers, as
            ``RateLimit(n, per=seconds)`` or ``(n, seconds)``.
        limit_key: ``fn(*args, **kwargs) -> str | int | None`` run on the
            job's arguments at enqueue: ``concurrency`` and ``rate`` then
            apply per key.

    Raises:
        ConfigurationError: for a non-positive ``max_attempts`` or
            ``timeout``, a bad schedule, ``retry_on`` or hook, or a ``name``
            (the function's name by default) or ``queue`` that breaks the
            name rule (``docs/concepts.md``; a lambda needs ``name=``).
    """

    def wrap(f: Callable[P, R]) -> JobFunction[P, R]:
        return JobFunction(
            f,
            name=name,
            queue=queue,
            max_attempts=max_attempts,
            timeout=timeout,
            backoff=backoff,
            retry_on=retry_on,
            cron=cron,
            every=every,
            tz=tz,
            unique=unique,
            before=before,
            after=after,
            on_failure=on_failure,
            concurrency=concurrency,
            rate=rate,
            limit_key=limit_key,
        )

    if fn is not None:
        return wrap(fn)
    return wrap


def _callable_without_arguments(fn: Callable[..., Any]) -> bool:
    try:
        inspect.signature(fn).bind()
    except TypeError:
        return False
    except ValueError:  # no signature to read (a builtin): let it be
        return True
    return True


def _check_retry_on(value: tuple[type[BaseException], ...] | None) -> tuple[type[BaseException], ...] | None:
    if value is None:
        return None
    if isinstance(value, type):
        value = (value,)
    if not all(isinstance(t, type) and issubclass(t, BaseException) for t in value):
        raise ConfigurationError(f"retry_on must be a tuple of exception types, got {value!r}")
    return tuple(value)


def retry_verdict(handler: JobFunction[Any, Any] | None, exc: BaseException | None) -> bool:
    """Whether a failed attempt may be retried (pure): False means fail the job now.

    ``exc`` is None for a timeout, which is retried like an error of a listed type.
    """
    if isinstance(exc, Retry):
        return True
    if isinstance(exc, NonRetryable):
        return False
    if handler is None or handler.retry_on is None or exc is None:
        return True
    return isinstance(exc, handler.retry_on)


HookFn = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class WorkerHook:
    """A startup or shutdown hook found in a jobs module."""

    when: Literal["startup", "shutdown"]
    fn: HookFn

    async def __call__(self, resources: dict[str, Any]) -> None:
        """Run the hook with the worker's shared resources."""
        await self.fn(resources)


def on_startup(fn: HookFn) -> WorkerHook:
    """Run ``fn(resources)`` once when a worker starts, before it claims jobs.

    ``resources`` is a dict the worker shares with every job (through
    ``current_job().resources``); put database pools and clients in it.
    """
    return WorkerHook("startup", fn)


def on_shutdown(fn: HookFn) -> WorkerHook:
    """Run ``fn(resources)`` once when a worker stops, after its last job."""
    return WorkerHook("shutdown", fn)


@dataclass(frozen=True, slots=True)
class Registry:
    """The handlers and hooks a worker runs."""

    functions: dict[str, JobFunction[Any, Any]]
    startup: tuple[WorkerHook, ...] = ()
    shutdown: tuple[WorkerHook, ...] = ()

    @classmethod
    def build(cls, items: Iterable[JobFunction[Any, Any] | WorkerHook]) -> Registry:
        """Build a registry, refusing two handlers with one name."""
        functions: dict[str, JobFunction[Any, Any]] = {}
        startup: list[WorkerHook] = []
        shutdown: list[WorkerHook] = []
        for item in items:
            if isinstance(item, WorkerHook):
                (startup if item.when == "startup" else shutdown).append(item)
                continue
            other = functions.get(item.name)
            if other is not None and other is not item:
                raise ConfigurationError(f"two handlers are named {item.name!r}")
            functions[item.name] = item
        return cls(functions, tuple(startup), tuple(shutdown))

    @classmethod
    def from_module(cls, module: ModuleType) -> Registry:
        """Collect every handler and hook among a module's globals.

        Raises:
            ConfigurationError: when the module defines no handler.
        """
        items = [v for v in vars(module).values() if isinstance(v, JobFunction | WorkerHook)]
        registry = cls.build(items)
        if not registry.functions:
            raise ConfigurationError(f"module {module.__name__!r} defines no @aioresque.job handler")
        return registry
