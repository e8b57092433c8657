"""taskiq tasks on taskiq-redis's stream broker (acknowledged delivery).

Worker: ``taskiq worker benchmarks.peers.taskiq_jobs:broker --workers 1``.
"""

from __future__ import annotations

from taskiq_redis import RedisStreamBroker

from ._body import body, sleepy_body
from ._env import QUEUE, redis_url

broker = RedisStreamBroker(redis_url(), queue_name=QUEUE)


@broker.task(task_name="noop")
async def noop(i: int) -> None:
    """Count one completion."""
    await body(i)


@broker.task(task_name="sleepy")
async def sleepy(i: int) -> None:
    """Sleep 10 ms, then count one completion."""
    await sleepy_body(i)
