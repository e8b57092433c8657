"""Example producer: enqueue a few jobs and wait for their results.

Run a worker first (``python -m aioresque worker examples.jobs``), then
``python -m examples.producer``.
"""

from __future__ import annotations

import asyncio
import os

import aioresque


async def main(url: str, *, prefix: str = "aioresque") -> list[object]:
    """Enqueue one job of each kind and return their results."""
    async with aioresque.Queue.from_url(url, prefix=prefix) as queue:
        jobs = [
            await queue.enqueue("add", 2, 3),
            await queue.enqueue("send_email", to="ada@example.com", subject="Welcome"),
            await queue.enqueue("checksum", "aioresque"),
            await queue.enqueue("fan_out", 3),
        ]
        jobs += await queue.enqueue_many([aioresque.Call("add", (i, 10 * i)) for i in range(16)])
        return [await job.result(timeout=30) for job in jobs]


if __name__ == "__main__":
    for value in asyncio.run(main(os.environ.get("AIORESQUE_REDIS_URL", "redis://localhost:6379/0"))):
        print(value)
