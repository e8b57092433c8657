"""Bad data never stops a worker: garbage in any of a queue's keys, bad records."""

from __future__ import annotations

import asyncio
import logging

import anyio
import pytest
from redis.asyncio import Redis

import aioresque
from aioresque import Call, JobDead, JobFailed, JobStatus, Queue, Worker
from aioresque._decode import text
from aioresque._keys import QueueKeys
from tests import jobs_for_tests
from tests.cli_helpers import run, worker_command

# Keys that hold the waiting jobs themselves: garbage there replaces them.
HOLDS_THE_JOBS = {"queue", "jobs", "state"}
KEY_NAMES = ["queue", "scheduled", "active", "jobs", "state", "marker", "dead", "stats"]
KEY_NAMES += ["results", "errors", "done", "watched", "cancelled"]
KEY_NAMES += ["limits", "waiting", "reopen", "flows", "quarantine", "history", "unique"]


def burst(queue: Queue, queues: list[str]) -> Worker:
    return Worker(queue, jobs_for_tests, queues=queues, burst=True, concurrency=4)


@pytest.mark.parametrize("key", KEY_NAMES)
async def test_garbage_in_a_queue_key_does_not_stop_the_worker(
    key: str, redis: Redis, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    good = Queue(redis, "good", prefix=prefix)
    bad = good.sibling("bad")
    waiting = [] if key in HOLDS_THE_JOBS else await bad.enqueue_many([Call("add", (i, 1)) for i in range(3)])
    jobs = await good.enqueue_many([Call("add", (i, i)) for i in range(5)])
    garbage = getattr(QueueKeys(prefix, "bad"), key)
    await redis.delete(garbage)
    await redis.set(garbage, "garbage")  # a string where a list/zset/hash/set belongs
    caplog.set_level(logging.ERROR, "aioresque.worker")
    with anyio.fail_after(15):
        async with burst(good, ["bad", "good"]):
            pass
    assert [await j.result(timeout=1) for j in jobs] == [0, 2, 4, 6, 8]
    errors = [r.getMessage() for r in caplog.records if "queue bad" in r.getMessage()]
    assert errors and all(garbage in e for e in errors), errors  # each names the key...
    assert len([e for e in errors if "leaving it alone" in e]) == 1, errors  # ...and the claim's, once
    # Nothing of the bad queue was half-moved: with the garbage gone, its jobs run.
    await redis.delete(garbage)
    with anyio.fail_after(15):
        async with burst(good, ["bad"]):
            pass
    assert [await j.result(timeout=1) for j in waiting] == [i + 1 for i in range(len(waiting))]


async def test_a_long_running_worker_comes_back_to_a_repaired_queue(redis: Redis, prefix: str) -> None:
    queue = Queue(redis, "default", prefix=prefix)
    job = await queue.enqueue("add", 20, 22)
    await redis.set(queue.keys.done, "garbage")
    async with Worker(queue, jobs_for_tests):
        await anyio.sleep(0.3)
        assert await job.status() is JobStatus.QUEUED  # left alone, not run
        await redis.delete(queue.keys.done)
        assert await job.result(timeout=10) == 42


async def test_bad_records_end_with_reasons_and_good_jobs_behind_them_run(queue: Queue) -> None:
    r = queue.redis
    k = queue.keys
    first = await queue.enqueue("add", 1, 1)
    not_a_record = await queue.enqueue("add", 1, 1)
    await r.hset(k.jobs, not_a_record.id, "[1, 2]")
    no_payload = await queue.enqueue("add", 1, 1)
    await r.hdel(k.jobs, no_payload.id)
    bad_fields = await queue.enqueue("add", 1, 1)
    await r.hset(k.state, bad_fields.id, '{"v": 1, "status": "queued", "name": "add", "attempts": "x", "timeout": "y"}')
    unknown = await queue.enqueue("nobody_handles_this", _max_attempts=1)
    await r.hset(k.state, "array-record", "[1, 2]")
    await r.lpush(k.queue, "array-record", "ghost-id")
    huge = await queue.enqueue("echo", "x" * 400_000)
    behind = await queue.enqueue_many([Call("add", (i, 1)) for i in range(10)])
    with anyio.fail_after(15):
        async with burst(queue, ["default"]):
            pass
    assert await first.result(timeout=1) == 2
    assert [await j.result(timeout=1) for j in behind] == [i + 1 for i in range(10)]
    assert (await huge.result(timeout=1))["args"] == ["x" * 400_000]
    for job, error, match in [
        (not_a_record, JobDead, "BadPayload"),
        (no_payload, JobDead, "MissingPayload"),
        (bad_fields, JobDead, "quarantined .*bad field"),
        (unknown, JobDead, "no handler named"),  # docs/concepts.md: unknown names end dead
    ]:
        with pytest.raises(error, match=match):
            await job.result(timeout=1)
    assert (await queue.statistics()).counters["dropped"] == 1  # ghost-id
    quarantined = await r.hgetall(k.quarantine)
    assert set(quarantined) == {bad_fields.id.encode(), b"array-record"}
    assert all(text(v).split("|")[1] == "queue" for v in quarantined.values())


async def test_cli_burst_worker_survives_garbage_and_exits_cleanly(redis_url: str, prefix: str, redis: Redis) -> None:
    good = Queue(redis, "good", prefix=prefix)
    jobs = await good.enqueue_many([Call("add", (i, 1)) for i in range(10)])
    bad = good.sibling("bad")
    await bad.enqueue("add", 1, 1)
    await redis.delete(bad.keys.stats)
    await redis.lpush(bad.keys.stats, "garbage")  # a list where a hash belongs
    await redis.lpush(good.keys.queue, "ghost-id")  # and an id with no record in the good queue
    command = worker_command(redis_url, prefix, "--burst", "--queues", "bad,good")
    result = await anyio.to_thread.run_sync(lambda: run(command))
    assert result.returncode == 0, result.stderr
    assert [await j.result(timeout=1) for j in jobs] == [i + 1 for i in range(10)]
    assert "queue bad: WRONGTYPE" in result.stderr and bad.keys.stats in result.stderr


@aioresque.job(max_attempts=1)
async def raises_cancelled_error() -> None:
    """A handler that raises CancelledError although nobody cancelled it."""
    raise asyncio.CancelledError


async def test_a_handler_raising_cancelled_error_fails_its_job_not_the_worker(queue: Queue) -> None:
    bad = await queue.enqueue("raises_cancelled_error")
    good = await queue.enqueue("add", 1, 2)
    with anyio.fail_after(10):
        async with Worker(queue, [raises_cancelled_error, jobs_for_tests.add], burst=True, concurrency=1):
            pass
    with pytest.raises(JobFailed, match="CancelledError"):
        await bad.result(timeout=1)
    assert await good.result(timeout=1) == 3
