"""Queue: enqueueing, idempotent ids, options, errors, lookups and statistics."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from aioresque import (
    Call,
    ConfigurationError,
    ConnectionLost,
    JobNotFound,
    JobStatus,
    PayloadTooLarge,
    Queue,
    SerializationError,
)


async def test_enqueue_returns_a_queued_job(queue: Queue) -> None:
    job = await queue.enqueue("add", 1, 2)
    assert await job.status() is JobStatus.QUEUED
    info = await job.info()
    assert (info.name, info.args, info.kwargs, info.queue) == ("add", (1, 2), {}, "default")
    assert info.attempts == 0
    assert info.enqueued_at is not None
    assert info.started_at is None
    assert await queue.redis.llen(queue.keys.queue) == 1


async def test_keyword_arguments_never_collide_with_options(queue: Queue) -> None:
    job = await queue.enqueue("echo", 1, job_id="mine", queue="q", timeout=5)
    info = await job.info()
    assert info.kwargs == {"job_id": "mine", "queue": "q", "timeout": 5}
    assert job.id != "mine"


async def test_job_id_is_idempotent(queue: Queue) -> None:
    first = await queue.enqueue("add", 1, 2, _job_id="order-42")
    second = await queue.enqueue("add", 5, 5, _job_id="order-42")
    assert first == second
    assert first.id == "order-42"
    assert await queue.redis.llen(queue.keys.queue) == 1
    assert (await second.info()).args == (1, 2)
    stats = await queue.statistics()
    assert stats.counters["enqueued"] == 1


async def test_enqueue_to_another_queue(queue: Queue) -> None:
    job = await queue.enqueue("add", 1, 2, _queue="high")
    assert job.queue.name == "high"
    assert await queue.redis.llen(queue.sibling("high").keys.queue) == 1
    assert await queue.redis.llen(queue.keys.queue) == 0
    assert await queue.known_queues() == ["high"]


async def test_delay_schedules_the_job(queue: Queue) -> None:
    job = await queue.enqueue("add", 1, 2, _delay=timedelta(seconds=60))
    assert await job.status() is JobStatus.SCHEDULED
    info = await job.info()
    assert info.due_at is not None and info.enqueued_at is not None
    assert 59 <= (info.due_at - info.enqueued_at).total_seconds() <= 61
    assert await queue.redis.zcard(queue.keys.scheduled) == 1


async def test_job_options_are_recorded(queue: Queue) -> None:
    job = await queue.enqueue("add", 1, 2, _max_attempts=7, _timeout=1.5)
    info = await job.info()
    assert info.max_attempts == 7
    assert info.timeout == 1.5


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"_max_attempts": 0}, "_max_attempts"),
        ({"_timeout": 0}, "_timeout"),
        ({"_delay": -1}, "_delay"),
        ({"_job_id": "a{b}"}, "job id"),
    ],
)
async def test_bad_options_are_refused(queue: Queue, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        await queue.enqueue("add", 1, 2, **options)
    assert await queue.redis.exists(queue.keys.state) == 0


async def test_unserializable_argument_is_named(queue: Queue) -> None:
    with pytest.raises(SerializationError, match=r"argument 'when'.*set"):
        await queue.enqueue("add", 1, when={1, 2})
    with pytest.raises(SerializationError, match="positional argument 1"):
        await queue.enqueue("add", 1, object())
    assert await queue.redis.exists(queue.keys.state) == 0


async def test_payload_size_limit(redis: Redis, prefix: str) -> None:
    queue = Queue(redis, prefix=prefix, max_payload_bytes=1000)
    await queue.enqueue("echo", "x" * 900)
    with pytest.raises(PayloadTooLarge, match="over the limit of 1000"):
        await queue.enqueue("echo", "x" * 1000)
    assert await queue.redis.llen(queue.keys.queue) == 1


async def test_enqueue_many_in_one_call_across_queues(queue: Queue) -> None:
    jobs = await queue.enqueue_many(
        [Call("add", (i, i)) for i in range(100)]
        + [Call.of("add", 1, 1, _queue="low", _job_id="low-1"), Call.of("add", 2, 2, _job_id="dup")]
        + [Call.of("add", 3, 3, _job_id="dup")]
    )
    assert len(jobs) == 103
    assert jobs[100].queue.name == "low" and jobs[100].id == "low-1"
    assert jobs[101] == jobs[102]
    assert await queue.redis.llen(queue.keys.queue) == 101
    assert await queue.redis.llen(queue.sibling("low").keys.queue) == 1
    assert await queue.enqueue_many([]) == []


async def test_unknown_job(queue: Queue) -> None:
    job = queue.job("nope")
    assert await job.status() is JobStatus.NOT_FOUND
    with pytest.raises(JobNotFound):
        await job.info()
    with pytest.raises(JobNotFound):
        await job.result(timeout=0.1)


async def test_invalid_queue_name(redis: Redis) -> None:
    with pytest.raises(ConfigurationError, match="queue name"):
        Queue(redis, "a{b}")


async def test_from_url_owns_and_closes_its_client(redis_url: str, prefix: str) -> None:
    async with Queue.from_url(redis_url, name="mail", prefix=prefix) as queue:
        job = await queue.enqueue("add", 1, 2)
        assert job.queue is queue
        assert repr(queue) == f"<Queue 'mail' prefix='{prefix}'>"
    stats_queue = Queue.from_url(redis_url, name="mail", prefix=prefix)
    assert (await stats_queue.statistics()).queued == 1
    await stats_queue.close()


async def test_producer_gets_a_clear_error_when_redis_is_down(prefix: str) -> None:
    from tests.redis_server import free_port

    async with Queue.from_url(f"redis://127.0.0.1:{free_port()}/0", prefix=prefix) as queue:
        with pytest.raises(ConnectionLost, match="unreachable"):
            await queue.enqueue("add", 1, 2)


async def test_statistics(queue: Queue) -> None:
    await queue.enqueue_many([Call("add", (1, 2)), Call("add", (1, 2), delay=30)])
    stats = await queue.statistics()
    assert (stats.queued, stats.scheduled, stats.active, stats.dead) == (1, 1, 0, 0)
    assert stats.counters == {"enqueued": 2}
