"""arq jobs; worker: ``arq benchmarks.peers.arq_jobs.WorkerSettings``."""

from __future__ import annotations

from typing import Any

from arq.connections import RedisSettings

from ._body import body, sleepy_body
from ._env import QUEUE, concurrency, redis_url

LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "WARNING"},
}
"""Passed with ``--custom-log-dict``: arq's CLI has no quiet flag."""


async def noop(ctx: dict[str, Any], i: int) -> None:
    """Count one completion."""
    await body(i)


async def sleepy(ctx: dict[str, Any], i: int) -> None:
    """Sleep 10 ms, then count one completion."""
    await sleepy_body(i)


class WorkerSettings:
    """arq reads its worker settings from a class's attributes."""

    functions = [noop, sleepy]  # noqa: RUF012 - arq's settings are class attributes
    redis_settings = RedisSettings.from_dsn(redis_url())
    queue_name = QUEUE


_c = concurrency()
if _c is not None:
    WorkerSettings.max_jobs = _c  # type: ignore[attr-defined]
