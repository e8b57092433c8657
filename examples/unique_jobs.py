"""Unique jobs: a duplicate enqueue returns the job that is already there."""

from __future__ import annotations

import aioresque
from aioresque import Unique


@aioresque.job(unique=True)  # typed enqueues of this handler are unique by name + arguments
async def rebuild_index(user_id: int) -> str:
    return f"index of {user_id} rebuilt"


async def main(redis_url: str, prefix: str = "aioresque") -> list[bool]:
    async with aioresque.Queue.from_url(redis_url, prefix=prefix) as queue:
        first = await rebuild_index.enqueue(queue, 7)
        again = await rebuild_index.enqueue(queue, 7)  # still queued: the same job comes back
        # By name, with an explicit key, held only while the job waits:
        a = await queue.enqueue("rebuild_index", 8, _unique=Unique(key="user-8", until="queued"))
        b = await queue.enqueue("rebuild_index", 8, _unique="user-8")
        # At most once per hour, whatever happens to the job:
        hourly = Unique(key="digest", until="ttl", ttl=3600)
        c = await queue.enqueue("rebuild_index", 9, _unique=hourly)
        async with aioresque.Worker(queue, [rebuild_index], burst=True):
            pass
        later = await rebuild_index.enqueue(queue, 7)  # the first one finished: a new job
        d = await queue.enqueue("rebuild_index", 9, _unique=hourly)  # within the hour: the old one
        return [first.id == again.id, a.id == b.id, later.id != first.id, c.id == d.id]
