"""streaq tasks; worker: ``streaq run benchmarks.peers.streaq_jobs:worker``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from streaq import Worker

from ._body import body, sleepy_body
from ._env import QUEUE, concurrency, redis_url


@asynccontextmanager
async def _quiet_logs() -> AsyncIterator[None]:
    # streaq's CLI configures INFO logging after importing this module and has
    # no quiet flag; lower it once the worker starts, as a user could.
    logging.getLogger("streaq").setLevel(logging.WARNING)
    yield


_options: dict[str, Any] = {}
if (_c := concurrency()) is not None:
    _options["concurrency"] = _c

worker: Worker[None] = Worker(redis_url=redis_url(), queue_name=QUEUE, lifespan=_quiet_logs, **_options)


@worker.task
async def noop(i: int) -> None:
    """Count one completion."""
    await body(i)


@worker.task
async def sleepy(i: int) -> None:
    """Sleep 10 ms, then count one completion."""
    await sleepy_body(i)
