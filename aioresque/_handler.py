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
from datetime import timedelta
from types import ModuleType
from typing import TYPE_CHECKING, Any, Generic, Literal, ParamSpec, TypeVar, overload

from . import _typed
from ._errors import ConfigurationError

if TYPE_CHECKING:
    from ._job import Job
    from ._queue import Call, Queue

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R")
T = TypeVar("T")

DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_TIMEOUT = 300.0


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
    """

    __slots__ = ("__dict__", "fn", "is_async", "max_attempts", "name", "queue", "timeout")

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        queue: str | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        if max_attempts < 1:
            raise ConfigurationError(f"max_attempts must be at least 1, got {max_attempts}")
        if timeout is not None and timeout <= 0:
            raise ConfigurationError(f"timeout must be positive or None, got {timeout}")
        self.fn = fn
        self.name = name or fn.__name__
        self.queue = queue
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.is_async = inspect.iscoroutinefunction(fn)
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
        """
        return _typed.JobOptions(self, _typed.Settings(job_id, queue, max_attempts, timeout, delay))

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
) -> Callable[[Callable[P, R]], JobFunction[P, R]]: ...


def job(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    queue: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    timeout: float | None = DEFAULT_TIMEOUT,
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

    Raises:
        ConfigurationError: for a non-positive ``max_attempts`` or ``timeout``.
    """

    def wrap(f: Callable[P, R]) -> JobFunction[P, R]:
        return JobFunction(f, name=name, queue=queue, max_attempts=max_attempts, timeout=timeout)

    if fn is not None:
        return wrap(fn)
    return wrap


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
