"""FastAPI (and Starlette) integration: a lifespan that opens the queue, and a dependency.

Install with ``pip install 'aioresque[fastapi]'``. ::

    from fastapi import FastAPI
    import aioresque.fastapi
    from app import jobs

    app = FastAPI(lifespan=aioresque.fastapi.lifespan("redis://localhost:6379/0", worker=jobs))

    @app.post("/signup")
    async def signup(email: str, queue: aioresque.fastapi.QueueDep) -> dict[str, str]:
        job = await jobs.send_email.enqueue(queue, to=email)
        return {"job_id": job.id}

The lifespan opens the queue when the app starts and closes it when the app
stops; with ``worker=`` it also runs a :class:`aioresque.Worker` inside the
web process for the app's lifetime (its shutdown is graceful); with
``dashboard_path=`` it mounts the web dashboard. The queue is
put in the lifespan state, where :func:`get_queue` finds it for each request.

In tests, replace the queue with a fake one — no Redis needed::

    app.dependency_overrides[aioresque.fastapi.get_queue] = lambda: fake_queue

To run your own startup code too, enter this lifespan from yours::

    @asynccontextmanager
    async def lifespan(app):
        async with aioresque.fastapi.lifespan(url)(app) as state:
            yield {**state, "db": ...}
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends
from starlette.requests import Request
from starlette.routing import Mount

from ._errors import ConfigurationError
from ._keys import DEFAULT_PREFIX
from ._queue import DEFAULT_URL, Queue
from ._serializer import Serializer
from ._worker import Worker

if TYPE_CHECKING:
    from .dashboard._security import Auth

__all__ = ["Lifespan", "QUEUE_STATE_KEY", "QueueDep", "WORKER_STATE_KEY", "get_queue", "lifespan"]

QUEUE_STATE_KEY = "aioresque_queue"
"""The lifespan state key (``request.state.aioresque_queue``) holding the queue."""
WORKER_STATE_KEY = "aioresque_worker"
"""The lifespan state key holding the in-process worker, or None."""

Lifespan = Callable[[Any], AbstractAsyncContextManager[dict[str, Any]]]
"""What :func:`lifespan` returns: a function of the app, as ``FastAPI(lifespan=...)`` takes."""


def lifespan(
    queue: str | Queue | None = None,
    *,
    name: str = "default",
    prefix: str = DEFAULT_PREFIX,
    serializer: Serializer | None = None,
    worker: ModuleType | Callable[[Queue], Worker] | None = None,
    dashboard_path: str | None = None,
    dashboard_auth: Auth | None = None,
    dashboard_read_only: bool = False,
) -> Lifespan:
    """A lifespan for ``FastAPI(lifespan=...)`` or ``Starlette(lifespan=...)``.

    Args:
        queue: a Redis URL (default: ``$AIORESQUE_REDIS_URL``, else
            ``redis://localhost:6379/0``), or a :class:`aioresque.Queue` you
            made (a test can pass an :class:`aioresque.testing.FakeQueue`);
            a queue opened from a URL is closed when the app stops, one passed
            in is left open.
        name, prefix, serializer: the queue's settings, when it is opened
            from a URL.
        worker: run jobs inside the web process too: a jobs module (a
            :class:`aioresque.Worker` with default settings on the ``default``
            queue), or a function that makes the worker from the queue, e.g.
            ``lambda q: aioresque.Worker(q, jobs, queues=["high", "default"],
            concurrency=20)``. On shutdown the worker stops claiming and waits
            up to its ``grace`` for running jobs.
        dashboard_path: mount :func:`aioresque.dashboard` for the queue's
            prefix at this path (e.g. ``"/admin/jobs"``) while the app runs
            (needs the ``dashboard`` extra).
        dashboard_auth: required with ``dashboard_path``: called with each
            dashboard request, a false answer gets 403 (see
            ``docs/dashboard.md``); ``lambda request: True`` opens it to
            anyone who reaches the app.
        dashboard_read_only: hide the dashboard's actions and refuse its POSTs.

    Raises:
        ConfigurationError: ``worker`` is neither a module nor callable, or
            ``dashboard_path`` is given without ``dashboard_auth``.

    Returns:
        A function of the app returning an async context manager that yields
        the lifespan state: ``{"aioresque_queue": queue, "aioresque_worker":
        worker_or_None}``.
    """
    if worker is not None and not (isinstance(worker, ModuleType) or callable(worker)):
        raise ConfigurationError(f"worker must be a jobs module or a function of the queue, not {worker!r}")
    if dashboard_path is not None and dashboard_auth is None:
        # The dashboard shows job arguments and can retry, cancel and delete jobs.
        raise ConfigurationError(
            "dashboard_path needs dashboard_auth (a function of the request); "
            "pass `lambda request: True` to open it to anyone who reaches the app"
        )

    @asynccontextmanager
    async def app_lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
        async with AsyncExitStack() as stack:
            if isinstance(queue, Queue):
                opened = queue
            else:
                url = queue or os.environ.get("AIORESQUE_REDIS_URL", DEFAULT_URL)
                opened = Queue.from_url(url, name, prefix=prefix, serializer=serializer)
                stack.push_async_callback(opened.close)
            running: Worker | None = None
            if worker is not None:
                made = Worker(opened, worker) if isinstance(worker, ModuleType) else worker(opened)
                running = await stack.enter_async_context(made)
            if dashboard_path is not None:
                from .dashboard import dashboard

                mount = Mount(
                    dashboard_path,
                    app=dashboard(opened, read_only=dashboard_read_only, auth=dashboard_auth),
                    name="aioresque_dashboard",
                )
                app.router.routes.append(mount)
                stack.callback(app.router.routes.remove, mount)
            yield {QUEUE_STATE_KEY: opened, WORKER_STATE_KEY: running}

    return app_lifespan


def get_queue(request: Request) -> Queue:
    """The FastAPI dependency that hands an endpoint the app's queue.

    Override it in tests: ``app.dependency_overrides[get_queue] = lambda: fake``.

    Raises:
        ConfigurationError: the app was not started with :func:`lifespan`.
    """
    queue = getattr(request.state, QUEUE_STATE_KEY, None)
    if not isinstance(queue, Queue):
        raise ConfigurationError(
            "no aioresque queue in the app's state: start the app with "
            "FastAPI(lifespan=aioresque.fastapi.lifespan(...)), or override aioresque.fastapi.get_queue"
        )
    return queue


QueueDep = Annotated[Queue, Depends(get_queue)]
"""An endpoint parameter annotated ``queue: QueueDep`` receives the app's queue."""
