"""Handlers for the crash tests: each run of a job is counted in Redis."""

from __future__ import annotations

import asyncio

import aioresque

RUNS_SUFFIX = "crash-runs"
"""The hash (under the test's prefix) counting how often each job id ran."""


@aioresque.job
async def tracked(seconds: float) -> int:
    """Sleep, then count this run of the job in the runs hash."""
    ctx = aioresque.current_job()
    await asyncio.sleep(seconds)
    runs: int = await ctx.queue.redis.hincrby(f"{ctx.queue.prefix}:{RUNS_SUFFIX}", ctx.job_id, 1)  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
    return runs


@aioresque.job
async def sleep(seconds: float) -> float:
    """Sleep for ``seconds`` and return them."""
    await asyncio.sleep(seconds)
    return seconds
