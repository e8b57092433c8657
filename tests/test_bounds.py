"""Records stay bounded: error messages, tracebacks, results and enqueue batches (issue 13, item 7)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import aioresque
from aioresque import Call, JobDead, JobFailed, PayloadTooLarge, Queue, Worker
from aioresque._decode import text
from aioresque._execution import MAX_ERROR_BYTES, MAX_RETRY_DELAY, MAX_TRACEBACK_BYTES, bounded, retry_wait
from aioresque._queue import MAX_BATCH_BYTES
from aioresque._serializer import loads_json


@aioresque.job(max_attempts=1)
async def raises_huge(size: int) -> None:
    """Raises an exception whose message is ``size`` characters long."""
    raise ValueError("x" * size)


@aioresque.job
async def returns(size: int) -> str:
    """Returns a string of ``size`` characters."""
    return "r" * size


async def test_a_30_mb_error_message_is_stored_cut_once(queue: Queue) -> None:
    job = await queue.enqueue("raises_huge", 30_000_000)
    with anyio.fail_after(60):
        async with Worker(queue, [raises_huge], burst=True):
            pass
    stored = await queue.redis.hget(queue.keys.errors, job.id)
    assert stored is not None
    assert len(stored) < MAX_ERROR_BYTES + MAX_TRACEBACK_BYTES + 1024  # was 60 MB: the message twice
    record = loads_json(stored)
    assert record["error"].startswith("ValueError: xxx") and "bytes cut" in record["error"]
    assert len(record["error"].encode()) <= MAX_ERROR_BYTES
    assert "raise ValueError" in record["traceback"] and len(record["traceback"].encode()) <= MAX_TRACEBACK_BYTES
    with pytest.raises(JobFailed, match="bytes cut"):
        await job.result(timeout=1)


async def test_a_result_over_max_result_bytes_fails_the_job_and_is_not_stored(redis: Any, prefix: str) -> None:
    queue = Queue(redis, prefix=prefix, max_result_bytes=1000)
    small, big = await queue.enqueue("returns", 10), await queue.enqueue("returns", 2000)
    with anyio.fail_after(15):
        async with Worker(queue, [returns], burst=True):
            pass
    assert await small.result(timeout=1) == "r" * 10
    with pytest.raises(JobDead, match=r"ResultTooLarge: .* over the limit of 1000 \(max_result_bytes\)"):
        await big.result(timeout=1)
    assert await redis.hget(queue.keys.results, big.id) is None
    assert queue.sibling("other").max_result_bytes == 1000


async def test_enqueue_many_refuses_a_batch_over_the_total_size_and_writes_nothing(queue: Queue) -> None:
    arg = "p" * (400 * 1024)
    calls = [Call("echo", (arg,)) for _ in range(MAX_BATCH_BYTES // len(arg) + 2)]
    with pytest.raises(PayloadTooLarge, match="nothing was enqueued"):
        await queue.enqueue_many(calls)
    assert await queue.redis.llen(queue.keys.queue) == 0
    assert await queue.redis.hlen(queue.keys.state) == 0
    assert len(await queue.enqueue_many(calls[:10])) == 10  # a batch under the bound goes through


@pytest.mark.parametrize("keep_end", [False, True])
def test_bounded_cuts_to_the_limit_with_a_marker(keep_end: bool) -> None:
    assert bounded("short", 100, keep_end=keep_end) == "short"
    long = "a" * 5000 + "é" * 5000 + "z" * 5000
    cut = bounded(long, 2048, keep_end=keep_end)
    assert len(cut.encode()) <= 2048 and "bytes cut" in cut and cut.startswith("aaa")
    assert cut.endswith("zzz") is keep_end
    assert text(bounded("lone \udcff surrogate", 100)).encode()  # always encodable


@aioresque.job(max_attempts=3)
async def asks_forever() -> None:
    """Asks to be retried after an infinite delay."""
    raise aioresque.Retry(delay=float("inf"))


async def test_an_infinite_retry_delay_is_capped_not_fatal(queue: Queue) -> None:
    job = await queue.enqueue("asks_forever")
    after = await queue.enqueue("returns", 1)
    with anyio.fail_after(15):
        async with Worker(queue, [asks_forever, returns], burst=True):
            pass
    info = await job.info()
    assert info.status is aioresque.JobStatus.RETRYING and info.due_at is not None
    assert await after.result(timeout=1) == "r"


def test_retry_wait_bounds() -> None:
    assert [retry_wait(v) for v in (-1, 0, 2.5, float("nan"))] == [0.0, 0.0, 2.5, 0.0]
    assert retry_wait(float("inf")) == retry_wait(1e300) == MAX_RETRY_DELAY
