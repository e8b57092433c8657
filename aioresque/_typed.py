"""Typed enqueueing: ``send_email.enqueue(queue, to=...)`` checked against the handler.

``JobFunction.enqueue`` takes the handler's own parameters (through
``ParamSpec``), so mypy and pyright reject a wrong argument where the job is
enqueued, not in a worker's dead set. It returns a ``Job[R]`` whose
``result()`` is typed as the handler's return value (the awaited value for an
``async def`` handler).

Enqueue options cannot share a signature with the handler's arguments, so
they live on a separate object: ``send_email.options(delay=60)`` returns a
:class:`JobOptions` with the same typed ``enqueue`` and ``call``.

Which queue:

* ``enqueue(queue, ...)`` enqueues through ``queue`` (its client and
  settings), onto the handler's home queue (``@job(queue="emails")``) when it
  has one, else onto ``queue`` itself; ``options(queue=...)`` overrides both.
* ``enqueue(None, ...)`` uses the queue bound with :func:`use_queue`, else,
  inside a running job, that job's queue (so follow-up jobs go through the
  worker's connection); otherwise it raises :class:`ConfigurationError`.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from ._context import current_job
from ._errors import ConfigurationError
from ._unique import Unique, resolve

if TYPE_CHECKING:
    from ._handler import JobFunction
    from ._job import Job
    from ._queue import Call, Queue

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R")
T = TypeVar("T")

_bound: ContextVar[Queue | None] = ContextVar("aioresque_bound_queue", default=None)


@contextmanager
def use_queue(queue: Queue) -> Iterator[Queue]:
    """Make ``queue`` the one ``handler.enqueue(None, ...)`` uses, within this block.

    The binding is a context variable: it holds in this task and in the
    tasks it starts inside the block, and ends with the block::

        async with aioresque.Queue.from_url(url) as queue:
            with aioresque.use_queue(queue):
                await send_email.enqueue(None, to="ada@example.com")

    Yields:
        ``queue``.
    """
    token = _bound.set(queue)
    try:
        yield queue
    finally:
        _bound.reset(token)


def resolve_queue(queue: Queue | None) -> Queue:
    """The queue a typed enqueue goes through (see the module docstring).

    Raises:
        ConfigurationError: ``queue`` is None, no queue is bound with
            :func:`use_queue` and no job is running.
    """
    if queue is not None:
        return queue
    bound = _bound.get()
    if bound is not None:
        return bound
    try:
        return current_job().queue
    except LookupError:
        raise ConfigurationError(
            "enqueue(None, ...) needs a queue: pass one, bind one with aioresque.use_queue(queue), "
            "or call it from inside a running job"
        ) from None


@dataclass(frozen=True, slots=True)
class Settings:
    """The enqueue options of a typed call."""

    job_id: str | None = None
    queue: str | None = None
    max_attempts: int | None = None
    timeout: float | None = None
    delay: float | timedelta | None = None
    at: datetime | None = None
    unique: Unique | bool | str | None = None


def make_call(fn: JobFunction[Any, Any], settings: Settings, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
    """Build the by-name :class:`Call` a typed enqueue stands for."""
    from ._queue import Call

    return Call(
        fn.name,
        args,
        kwargs,
        job_id=settings.job_id,
        queue=settings.queue or fn.queue,
        max_attempts=settings.max_attempts,
        timeout=settings.timeout,
        delay=settings.delay,
        at=settings.at,
        unique=resolve(settings.unique, fn.unique),
        limit_key=fn.limits.key_for(fn.name, args, kwargs) if fn.limits is not None else None,
    )


async def enqueue_call(queue: Queue | None, call: Call) -> Job[Any]:
    """Enqueue one call through the resolved queue."""
    return (await resolve_queue(queue).enqueue_many([call]))[0]


class JobOptions(Generic[P, R]):
    """A handler with enqueue options set: ``send_email.options(delay=60)``.

    Its :meth:`enqueue` and :meth:`call` take the handler's own arguments,
    type-checked, and apply the options. Options are checked when the job is
    enqueued, with the same rules (and errors) as ``Queue.enqueue``'s
    ``_job_id``, ``_queue``, ``_max_attempts``, ``_timeout``, ``_delay``,
    ``_at`` and ``_unique``.
    """

    __slots__ = ("_settings", "function")

    def __init__(self, function: JobFunction[P, R], settings: Settings) -> None:
        self.function = function
        self._settings = settings

    def __repr__(self) -> str:
        return f"<JobOptions {self.function.name!r} {self._settings}>"

    @overload
    async def enqueue(
        self: JobOptions[P2, Coroutine[Any, Any, T]], queue: Queue | None, /, *args: P2.args, **kwargs: P2.kwargs
    ) -> Job[T]: ...

    @overload
    async def enqueue(
        self: JobOptions[P2, T], queue: Queue | None, /, *args: P2.args, **kwargs: P2.kwargs
    ) -> Job[T]: ...

    async def enqueue(self, queue: Queue | None, /, *args: Any, **kwargs: Any) -> Job[Any]:
        """Enqueue one job with these options; see ``JobFunction.enqueue``."""
        return await enqueue_call(queue, make_call(self.function, self._settings, args, kwargs))

    def call(self, *args: P.args, **kwargs: P.kwargs) -> Call:
        """A :class:`Call` for ``Queue.enqueue_many``, with these options."""
        return make_call(self.function, self._settings, args, kwargs)
