"""Handlers named after Ruby Resque classes, for the Resque interop tests.

Each run appends ``[job id, args]`` as JSON to the list ``<prefix>:resque-runs``
so a test can check what ran, with which arguments, and how often.
"""

from __future__ import annotations

import json
from typing import Any

import aioresque

RUNS_SUFFIX = "resque-runs"
"""The list (under the test's prefix) each run is appended to."""


async def record(*args: Any) -> None:
    """Append this run (job id, args) to the runs list."""
    ctx = aioresque.current_job()
    entry = json.dumps([ctx.job_id, list(args)], ensure_ascii=False)
    await ctx.queue.redis.rpush(f"{ctx.queue.prefix}:{RUNS_SUFFIX}", entry)  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T


@aioresque.job(name="SendEmail")
async def send_email(*args: Any) -> str:
    """Record the run; return the first argument."""
    await record(*args)
    return str(args[0]) if args else ""


@aioresque.job(name="Mailers::Digest")
async def digest(user_id: int, options: dict[str, Any]) -> None:
    """A namespaced Ruby class name; records the run."""
    await record(user_id, options)


@aioresque.job(name="Explode", max_attempts=1)
async def explode(message: str) -> None:
    """Fail with ``ValueError(message)`` unless the list ``<prefix>:defused`` holds the message."""
    ctx = aioresque.current_job()
    defused = await ctx.queue.redis.lrange(f"{ctx.queue.prefix}:defused", 0, -1)  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
    if message.encode() not in defused:
        raise ValueError(message)
    await record(message)
