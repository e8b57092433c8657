"""``JobTasks``: the worker's job tasks, cheap to start and never outliving the worker.

A worker starts one task per job. Starting a task through an anyio task
group costs about 30 µs of CPU on this project's benchmark machine (its
cancel-scope bookkeeping and completion callback), a native asyncio task
about 5: at thousands of jobs a second that difference was a fifth of the
worker's own CPU per job. So on asyncio the job tasks are native tasks that
this class tracks itself, with the guarantees of a task group kept:

* leaving the ``async with`` block waits for every job task to end;
* if the block is left by an exception or a cancellation, the job tasks
  still running are cancelled and waited for first (shielded);
* an exception escaping a job task (the worker's job runner catches
  everything a handler raises, so only a bug) is re-raised from the block.

On any other event loop (trio), an anyio task group does the work. Each job
task still copies the current ``contextvars`` context when it starts, so
what one handler binds in a context variable never leaks into another job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup


class JobTasks:
    """A task group for job tasks (see the module docstring)."""

    def __init__(self) -> None:
        self._group: TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None

    async def __aenter__(self) -> JobTasks:
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio)
            self._group = anyio.create_task_group()
            await self._group.__aenter__()
        return self

    def start(self, fn: Callable[[Any], Coroutine[Any, Any, None]], arg: Any) -> None:
        """Run ``fn(arg)`` in a new task."""
        if self._loop is None:
            assert self._group is not None
            self._group.start_soon(fn, arg)
            return
        task = self._loop.create_task(fn(arg))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and self._error is None:
            self._error = task.exception()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        if self._group is not None:
            return await self._group.__aexit__(exc_type, exc, tb)
        try:
            if exc is None:
                while self._tasks:
                    await asyncio.wait(set(self._tasks))
        finally:
            if self._tasks:  # left by an error or a cancellation (ours or the block's)
                for task in self._tasks:
                    task.cancel()
                with anyio.CancelScope(shield=True):
                    while self._tasks:
                        await asyncio.wait(set(self._tasks))
        if self._error is not None and exc is None:
            raise self._error
        return None
