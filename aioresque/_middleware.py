"""Middleware: async callables wrapped around every enqueue and every job run.

Two chains, each a list of async callables that receive what is being done
and a ``call_next`` to do it (or not)::

    async def log_enqueues(call: Call, call_next: EnqueueNext) -> Job:
        job = await call_next(call)          # may pass a changed call on
        log.info("enqueued %s as %s", call.name, job.id)
        return job

    async def time_jobs(ctx: JobContext, call_next: PerformNext) -> Any:
        started = time.perf_counter()
        try:
            return await call_next()
        finally:
            metrics.observe(ctx.name, time.perf_counter() - started)

``Queue(..., middleware=[log_enqueues])`` (or ``queue.add_middleware``) wraps
enqueues; ``Worker(..., middleware=[time_jobs])`` wraps each attempt of each
job, inside its timeout and around the handler only (``before``/``after``
hooks run outside it). The first middleware in the list is the outermost.

Enqueue middleware may attach string metadata with
``dataclasses.replace(call, meta={...})``; it travels in the job's payload
and the worker hands it to the job as ``current_job().meta`` — the way to
carry a request id or trace context from producer to worker.

With no middleware configured nothing is wrapped: the hot paths are unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._context import JobContext
    from ._job import Job
    from ._queue import Call


class EnqueueNext(Protocol):
    """What enqueue middleware calls to go on: ``await call_next(call)`` enqueues and returns the job."""

    def __call__(self, call: Call, /) -> Awaitable[Job[Any]]:
        """Enqueue ``call`` through the rest of the chain."""
        ...


class PerformNext(Protocol):
    """What perform middleware calls to go on: ``await call_next()`` returns the handler's result."""

    def __call__(self) -> Awaitable[Any]:
        """Run the rest of the chain and the handler."""
        ...


class EnqueueMiddleware(Protocol):
    """``async def mw(call, call_next) -> Job``: wraps each enqueue of a :class:`Queue`."""

    async def __call__(self, call: Call, call_next: EnqueueNext, /) -> Job[Any]:
        """Enqueue ``call`` through ``call_next`` (possibly changed), return the job."""
        ...


class PerformMiddleware(Protocol):
    """``async def mw(ctx, call_next) -> result``: wraps each attempt a :class:`Worker` runs."""

    async def __call__(self, ctx: JobContext, call_next: PerformNext, /) -> Any:
        """Run the job through ``call_next()`` and return its result."""
        ...


async def enqueue_chain(chain: Sequence[EnqueueMiddleware], call: Call, last: EnqueueNext) -> Job[Any]:
    """Run ``call`` through ``chain`` (first is outermost), ending in ``last``."""

    def step(i: int) -> EnqueueNext:
        if i == len(chain):
            return last

        async def call_next(c: Call) -> Job[Any]:
            return await chain[i](c, step(i + 1))

        return call_next

    return await step(0)(call)


async def perform_chain(chain: Sequence[PerformMiddleware], ctx: JobContext, last: PerformNext) -> Any:
    """Run a job through ``chain`` (first is outermost), ending in ``last``."""

    def step(i: int) -> PerformNext:
        if i == len(chain):
            return last

        async def call_next() -> Any:
            return await chain[i](ctx, step(i + 1))

        return call_next

    return await step(0)()
