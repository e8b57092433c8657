"""SAQ jobs; worker: ``saq benchmarks.peers.saq_jobs.settings``."""

from __future__ import annotations

from typing import Any

from saq import Queue

from ._body import body, sleepy_body
from ._env import QUEUE, concurrency, redis_url


async def noop(ctx: dict[str, Any], *, i: int) -> None:
    """Count one completion."""
    await body(i)


async def sleepy(ctx: dict[str, Any], *, i: int) -> None:
    """Sleep 10 ms, then count one completion."""
    await sleepy_body(i)


settings: dict[str, Any] = {
    "queue": Queue.from_url(redis_url(), name=QUEUE),
    "functions": [noop, sleepy],
}
if (_c := concurrency()) is not None:
    settings["concurrency"] = _c
