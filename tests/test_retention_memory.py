"""Retention keeps Redis memory flat: many jobs through a queue, memory measured per round."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import aioresque
from aioresque import Call, Queue, Retention, Worker
from aioresque._connect import close_client, connect
from tests.redis_server import RedisServer

ROUNDS = 6
PER_ROUND = 5000
RETENTION = Retention(completed_ttl=3600, completed_max=1000, dead_ttl=3600, dead_max=200)


@aioresque.job(max_attempts=1)
async def work(n: int) -> str:
    if n % 10 == 0:
        raise ValueError(f"job {n} fails")  # some go to the dead set, which is bounded too
    return "x" * 100


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own: nothing else's keys move its memory figure."""
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


async def test_memory_stays_bounded_as_jobs_flow_through(server: RedisServer) -> None:
    client = connect(server.url)
    try:
        queue = Queue(client, retention=RETENTION)
        used: list[int] = []
        for r in range(ROUNDS):
            await queue.enqueue_many(Call("work", (r * PER_ROUND + i,)) for i in range(PER_ROUND))
            async with Worker(queue, [work], concurrency=100, burst=True):
                pass
            stats = await queue.statistics()
            assert (stats.queued, stats.active) == (0, 0)
            assert stats.completed_kept <= RETENTION.completed_max
            assert stats.dead <= RETENTION.dead_max
            used.append(int((await client.info("memory"))["used_memory"]))
        counters = (await queue.statistics()).counters
        assert counters["completed"] + counters["failed"] == ROUNDS * PER_ROUND
        # Every job record beyond the retention counts is gone: the hashes hold
        # about completed_max + dead_max jobs, not 30 000.
        assert await client.hlen(queue.keys.state) <= RETENTION.completed_max + RETENTION.dead_max
        assert await client.hlen(queue.keys.jobs) <= RETENTION.completed_max + RETENTION.dead_max
        # After the first round (allocator warm-up), memory stays within 1 MiB
        # plus 10 % of where it was, however many jobs follow.
        print("used_memory per round:", used)
        bound = used[0] * 1.1 + 1024 * 1024
        assert max(used[1:]) <= bound, used
    finally:
        await close_client(client)
