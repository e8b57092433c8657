"""Workflows: a chain passes each result on; a group calls back with every result."""

from __future__ import annotations

import aioresque
from aioresque import Call


@aioresque.job
async def fetch(url: str) -> str:
    return f"<html>{url}</html>"


@aioresque.job
async def measure(page: str, unit: int = 1) -> int:  # a chain step: the previous result comes first
    return len(page) // unit


@aioresque.job
async def square(n: int) -> int:
    return n * n


@aioresque.job
async def total(results: list[int], label: str) -> str:  # a group's callback: the list comes first
    return f"{label}: {sum(results)}"


async def main(redis_url: str, prefix: str = "aioresque") -> list[object]:
    async with aioresque.Queue.from_url(redis_url, prefix=prefix) as queue:
        # fetch("example.com"), then measure(<its result>, unit=2)
        chain = await queue.enqueue_chain([fetch.call("example.com"), Call.of("measure", unit=2)])
        # square(1), square(2), square(3) at once, then total([1, 4, 9], "squares")
        group = await queue.enqueue_group([square.call(n) for n in (1, 2, 3)], then=Call.of("total", "squares"))

        async with aioresque.Worker(queue, [fetch, measure, square, total]):
            results = [await chain.result(timeout=10), await group.result(timeout=10)]
        results.append(await group.status())
        return results
