"""Handlers for the limit and workflow tests, run by real worker processes.

Every limited handler records its run as a span, start and end taken from
Redis ``TIME``, in a sorted set of the test's own (:func:`spans_key`), so a
test can check how many ran at once across processes.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import aioresque
from aioresque import Queue, RateLimit


def spans_key(queue: Queue) -> str:
    """The test's sorted set of spans (in the queue's slot, for Cluster)."""
    return f"{queue.keys.tag}:test-spans"


async def _now_ms(queue: Queue) -> int:
    seconds, micros = await queue.redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def _span(label: str, seconds: float) -> None:
    ctx = aioresque.current_job()
    start = await _now_ms(ctx.queue)
    await asyncio.sleep(seconds)
    end = await _now_ms(ctx.queue)
    await ctx.queue.redis.zadd(spans_key(ctx.queue), {f"{label}|{ctx.job_id}|{start}|{end}|{os.getpid()}": start})


@aioresque.job(concurrency=2)
async def limited(seconds: float) -> None:
    await _span("limited", seconds)


@aioresque.job(rate=RateLimit(5, per=1.0))
async def rated() -> None:
    await _span("rated", 0.0)


@aioresque.job(concurrency=1, limit_key=lambda customer, seconds: customer)
async def per_customer(customer: str, seconds: float) -> None:
    await _span(f"customer-{customer}", seconds)


@aioresque.job
async def free(seconds: float) -> None:
    await _span("free", seconds)


@aioresque.job(concurrency=1)
async def killer(seconds: float, kill: bool) -> None:
    """With ``kill``, the first attempt SIGKILLs its own worker while holding the slot."""
    if kill and aioresque.current_job().attempt == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    await _span("killer", seconds)


@aioresque.job
async def double(x: int) -> int:
    return 2 * x


@aioresque.job
async def add(x: int, y: int) -> int:
    return x + y


@aioresque.job
async def total(results: list[int], offset: int = 0) -> int:
    return sum(results) + offset


@aioresque.job(max_attempts=1)
async def boom(*args: Any) -> None:
    raise RuntimeError("boom")


@aioresque.job
async def die_once(x: int) -> int:
    """Kills its worker on the first attempt; returns x + 1 after that."""
    if aioresque.current_job().attempt == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return x + 1
