"""Worker: running jobs, results, failures, retries, concurrency, shutdown."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from redis.asyncio import Redis

from aioresque import (
    Backoff,
    Call,
    ConfigurationError,
    JobDead,
    JobFailed,
    JobStatus,
    Queue,
    ResultTimeout,
    Worker,
)
from aioresque._handler import DEFAULT_MAX_ATTEMPTS
from tests import jobs_for_tests
from tests.conftest import single_node_only

FAST_RETRY = Backoff(base=0.01, cap=0.05)


def make_worker(queue: Queue, **options: Any) -> Worker:
    options.setdefault("backoff", FAST_RETRY)
    return Worker(queue, jobs_for_tests, **options)


async def test_runs_a_job_and_stores_the_result(queue: Queue) -> None:
    job = await queue.enqueue("add", 2, 3)
    async with make_worker(queue):
        assert await job.result(timeout=5) == 5
    info = await job.info()
    assert info.status is JobStatus.COMPLETE
    assert info.result == 5
    assert info.attempts == 1
    assert info.started_at is not None and info.finished_at is not None
    assert info.started_at <= info.finished_at
    assert info.worker is None
    stats = await queue.statistics()
    assert stats.counters["completed"] == 1
    assert (stats.queued, stats.active, stats.completed_kept) == (0, 0, 1)


async def test_handler_gets_exactly_its_arguments(queue: Queue) -> None:
    job = await queue.enqueue("echo", 1, [2], x={"y": None})
    async with make_worker(queue):
        assert await job.result(timeout=5) == {"args": [1, [2]], "kwargs": {"x": {"y": None}}}


async def test_result_waits_without_polling_and_many_waiters_wake(queue: Queue) -> None:
    job = await queue.enqueue("sleep", 0.3)
    results: list[float] = []

    async def wait() -> None:
        results.append(await job.result(timeout=5))

    async with make_worker(queue, concurrency=1), anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(wait)
    assert results == [0.3, 0.3, 0.3]


async def test_result_timeout(queue: Queue) -> None:
    job = await queue.enqueue("add", 1, 1)
    started = time.monotonic()
    with pytest.raises(ResultTimeout):
        await job.result(timeout=0.2)
    assert 0.15 < time.monotonic() - started < 1.0


async def test_concurrency_runs_jobs_at_once(queue: Queue) -> None:
    jobs = await queue.enqueue_many([Call("sleep", (0.2,)) for _ in range(100)])
    started = time.monotonic()
    async with make_worker(queue, concurrency=100, burst=True) as worker:
        for job in jobs:
            await job.result(timeout=10)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"100 jobs of 0.2 s at concurrency 100 took {elapsed:.2f} s"
    assert worker.statistics().completed == 100


async def test_concurrency_is_a_limit(queue: Queue) -> None:
    await queue.enqueue_many([Call("sleep", (0.2,)) for _ in range(6)])
    async with make_worker(queue, concurrency=2, burst=True):
        await anyio.sleep(0.1)
        assert await queue.redis.zcard(queue.keys.active) == 2
        assert await queue.redis.llen(queue.keys.queue) == 4


async def test_failures_retry_then_succeed(queue: Queue) -> None:
    job = await queue.enqueue("flaky", 2, "k")
    async with make_worker(queue):
        assert await job.result(timeout=5) == 3
    info = await job.info()
    assert (info.attempts, info.failures, info.status) == (3, 2, JobStatus.COMPLETE)
    stats = await queue.statistics()
    assert stats.counters["retried"] == 2


async def test_failures_end_in_the_dead_set_with_the_traceback(queue: Queue) -> None:
    job = await queue.enqueue("always_fails")
    async with make_worker(queue):
        with pytest.raises(JobFailed) as caught:
            await job.result(timeout=5)
    assert caught.value.error == "ValueError: broken handler"
    assert caught.value.traceback is not None and "broken handler" in caught.value.traceback
    info = await job.info()
    assert (info.status, info.attempts, info.failures) == (JobStatus.FAILED, 2, 2)
    assert await queue.redis.zscore(queue.keys.dead, job.id) is not None


async def test_per_job_max_attempts_overrides_the_handler(queue: Queue) -> None:
    job = await queue.enqueue("always_fails", _max_attempts=1)
    async with make_worker(queue):
        with pytest.raises(JobFailed):
            await job.result(timeout=5)
    assert (await job.info()).attempts == 1


async def test_retry_waits_for_its_backoff(queue: Queue) -> None:
    job = await queue.enqueue("flaky", 1, "k")
    started = time.monotonic()
    async with make_worker(queue, backoff=Backoff(base=0.6, cap=0.6)):
        assert await job.result(timeout=5) == 2
    # Half-jitter: the retry waits between 0.3 and 0.6 s.
    assert 0.3 <= time.monotonic() - started < 1.5


async def test_timeout_cancels_the_attempt(queue: Queue) -> None:
    job = await queue.enqueue("too_slow")
    started = time.monotonic()
    async with make_worker(queue):
        with pytest.raises(JobFailed, match="timeout"):
            await job.result(timeout=5)
    assert time.monotonic() - started < 2


async def test_per_job_timeout(queue: Queue) -> None:
    job = await queue.enqueue("sleep", 5, _timeout=0.1, _max_attempts=1)
    async with make_worker(queue):
        with pytest.raises(JobFailed, match="TimeoutError"):
            await job.result(timeout=5)


async def test_sync_handler_runs_in_a_thread_with_context(queue: Queue) -> None:
    job = await queue.enqueue("sync_handler", 7)
    async with make_worker(queue):
        assert await job.result(timeout=5) == {"x": 7, "thread": True, "job_id": job.id}


async def test_context_and_startup_resources(queue: Queue) -> None:
    job = await queue.enqueue("context", _job_id="ctx-1")
    async with make_worker(queue) as worker:
        result = await job.result(timeout=5)
    assert result == {
        "job_id": "ctx-1",
        "name": "context",
        "queue": "default",
        "attempt": 1,
        "started": True,
        "worker_id": worker.id,
    }


async def test_startup_and_shutdown_hooks_run_once(queue: Queue) -> None:
    jobs_for_tests.calls.clear()
    async with make_worker(queue):
        await (await queue.enqueue("record", "x")).result(timeout=5)
    assert jobs_for_tests.calls == [("startup", None), ("record", "x"), ("shutdown", None)]


async def test_custom_job_name(queue: Queue) -> None:
    job = await queue.enqueue("custom.name")
    async with make_worker(queue):
        assert await job.result(timeout=5) == "renamed"


async def test_follow_up_jobs_from_a_handler(queue: Queue) -> None:
    jobs_for_tests.calls.clear()
    await queue.enqueue("follow_up", 3)
    async with make_worker(queue, burst=True) as worker:
        pass
    assert worker.statistics().completed == 4
    assert sorted(c for c in jobs_for_tests.calls if c[0] == "record") == [
        ("record", "child0"),
        ("record", "child1"),
        ("record", "child2"),
    ]


async def test_strict_priority_order(queue: Queue) -> None:
    jobs_for_tests.calls.clear()
    await queue.enqueue_many(
        [Call("record", (f"low{i}",), queue="low") for i in range(3)]
        + [Call("record", (f"high{i}",), queue="high") for i in range(3)]
    )
    async with make_worker(queue, queues=["high", "low"], concurrency=1, burst=True):
        pass
    order = [tag for kind, tag in jobs_for_tests.calls if kind == "record"]
    assert order == ["high0", "high1", "high2", "low0", "low1", "low2"]


async def test_star_serves_every_known_queue(queue: Queue) -> None:
    a = await queue.enqueue("add", 1, 1, _queue="a")
    b = await queue.enqueue("add", 2, 2, _queue="b")
    async with make_worker(queue, queues=["*"], burst=True) as worker:
        pass
    assert set(worker.queue_names) == {"a", "b"}
    assert await a.status() is JobStatus.COMPLETE
    assert await b.status() is JobStatus.COMPLETE


async def test_idle_worker_wakes_within_milliseconds(queue: Queue) -> None:
    async with make_worker(queue):
        await anyio.sleep(0.3)  # the worker is now blocked on Redis
        started = time.monotonic()
        job = await queue.enqueue("add", 1, 1)
        await job.result(timeout=5)
        assert time.monotonic() - started < 0.1


async def test_delayed_job_runs_when_due_without_polling(queue: Queue) -> None:
    async with make_worker(queue):
        await anyio.sleep(0.2)
        started = time.monotonic()
        job = await queue.enqueue("add", 1, 1, _delay=0.5)
        assert await job.result(timeout=5) == 2
        assert 0.45 <= time.monotonic() - started < 1.0


@single_node_only
async def test_idle_worker_sends_few_commands(queue: Queue, redis: Redis) -> None:
    async with make_worker(queue):
        await anyio.sleep(0.5)
        before = (await redis.info("stats"))["total_commands_processed"]
        await anyio.sleep(3)
        after = (await redis.info("stats"))["total_commands_processed"]
    # The two INFO calls count too; an idle worker blocks on BZPOPMIN.
    assert (after - before) / 3 <= 2


async def test_burst_exits_when_empty(queue: Queue) -> None:
    await queue.enqueue_many([Call("add", (i, i)) for i in range(50)])
    with anyio.fail_after(10):
        await make_worker(queue, burst=True, concurrency=5).run()
    stats = await queue.statistics()
    assert stats.counters["completed"] == 50
    assert stats.queued == 0


async def test_graceful_shutdown_hands_back_running_jobs(queue: Queue) -> None:
    job = await queue.enqueue("sleep", 3)
    worker = make_worker(queue, grace=0.2)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        while await job.status() is not JobStatus.ACTIVE:
            await anyio.sleep(0.01)
        started = time.monotonic()
        worker.stop()
    assert time.monotonic() - started < 1.5
    info = await job.info()
    assert info.status is JobStatus.QUEUED
    assert info.attempts == 0  # a handed-back job does not burn an attempt
    assert worker.statistics().requeued == 1
    async with make_worker(queue):
        assert await job.result(timeout=10) == 3


async def test_graceful_shutdown_lets_short_jobs_finish(queue: Queue) -> None:
    job = await queue.enqueue("sleep", 0.3)
    worker = make_worker(queue, grace=5)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        while await job.status() is not JobStatus.ACTIVE:
            await anyio.sleep(0.01)
        worker.stop()
    assert await job.status() is JobStatus.COMPLETE


async def test_pause_and_resume(queue: Queue) -> None:
    async with make_worker(queue) as worker:
        worker.pause()
        await anyio.sleep(0.05)
        job = await queue.enqueue("add", 1, 1)
        await anyio.sleep(0.3)
        assert await job.status() is JobStatus.QUEUED
        worker.resume()
        assert await job.result(timeout=5) == 2


async def test_unknown_job_name_is_retried_then_dead(queue: Queue) -> None:
    # As docs/concepts.md says: retried like a failure, then dead (the handler never ran).
    job = await queue.enqueue("no_such_handler", _max_attempts=2)
    default = await queue.enqueue("no_such_handler")  # the default attempts, not one
    async with make_worker(queue):
        for held, attempts in ((job, 2), (default, DEFAULT_MAX_ATTEMPTS)):
            with pytest.raises(JobDead, match="no handler named 'no_such_handler'"):
                await held.result(timeout=10)
            info = await held.info()
            assert info.status is JobStatus.DEAD and info.attempts == attempts


async def test_arguments_that_do_not_fit_go_to_the_dead_set(queue: Queue) -> None:
    job = await queue.enqueue("add", 1, 2, 3)
    async with make_worker(queue):
        with pytest.raises(JobDead, match="BadArguments"):
            await job.result(timeout=5)
    assert (await job.info()).attempts == 1


async def test_system_exit_in_a_handler_fails_the_job_not_the_worker(queue: Queue) -> None:
    jobs = [await queue.enqueue("raises_system_exit"), await queue.enqueue("raises_keyboard_interrupt")]
    good = await queue.enqueue("add", 1, 1)
    async with make_worker(queue, concurrency=1):
        for job, name in zip(jobs, ["SystemExit", "KeyboardInterrupt"], strict=True):
            with pytest.raises(JobFailed, match=name):
                await job.result(timeout=5)
        assert await good.result(timeout=5) == 2


async def test_unserializable_result_is_dead(queue: Queue) -> None:
    job = await queue.enqueue("returns_unserializable")
    async with make_worker(queue):
        with pytest.raises(JobDead, match="result"):
            await job.result(timeout=5)


async def test_undecodable_payload_is_dead_and_the_worker_goes_on(queue: Queue) -> None:
    bad = await queue.enqueue("add", 1, 2)
    await queue.redis.hset(queue.keys.jobs, bad.id, "\ufffe not json")
    good = await queue.enqueue("add", 2, 2)
    async with make_worker(queue):
        assert await good.result(timeout=5) == 4
        with pytest.raises(JobDead, match="BadPayload"):
            await bad.result(timeout=5)


async def test_garbage_in_the_queue_is_dropped_and_good_jobs_run(queue: Queue) -> None:
    await queue.redis.lpush(queue.keys.queue, "ghost-id")
    good = await queue.enqueue("add", 3, 3)
    await queue.redis.hset(queue.keys.state, "corrupt", "{not json")
    await queue.redis.lpush(queue.keys.queue, "corrupt")
    async with make_worker(queue, burst=True):
        pass
    assert await good.result(timeout=1) == 6
    stats = await queue.statistics()
    assert stats.counters["dropped"] == 1
    assert await queue.job("corrupt").status() is JobStatus.DEAD


async def test_completion_after_the_lease_was_lost_is_refused(queue: Queue) -> None:
    job = await queue.enqueue("sleep", 0.5)
    async with make_worker(queue, lease=30) as worker:
        while await job.status() is not JobStatus.ACTIVE:
            await anyio.sleep(0.01)
        # Simulate recovery by another process: the lease expires now.
        await queue.redis.zadd(queue.keys.active, {job.id: 0})
        other = make_worker(queue, burst=True)
        async with anyio.create_task_group() as tg:
            tg.start_soon(other.run)
        await anyio.sleep(0.6)
    # The second worker recovered and ran it; the first one's completion was refused.
    assert worker.statistics().refused == 1
    info = await job.info()
    assert info.status is JobStatus.COMPLETE
    assert info.lost == 1
    assert (await queue.statistics()).counters["refused"] == 1


async def test_expired_lease_is_recovered_on_the_claim_path(queue: Queue) -> None:
    job = await queue.enqueue("add", 1, 1)
    # A worker that claims and vanishes: claim through the script, never settle.
    from aioresque import _scripts

    k = queue.keys
    await _scripts.run(
        queue.redis,
        "claim",
        [k.queue, k.scheduled, k.active, k.jobs, k.state, k.marker, k.dead, k.stats],
        ["ghost-worker", 1, 200, 3],
    )
    assert await job.status() is JobStatus.ACTIVE
    started = time.monotonic()
    async with make_worker(queue):
        assert await job.result(timeout=5) == 2
    assert time.monotonic() - started < 1.0
    info = await job.info()
    assert (info.attempts, info.lost) == (2, 1)


async def test_job_lost_too_often_is_dead(queue: Queue) -> None:
    from aioresque import _scripts

    job = await queue.enqueue("add", 1, 1)
    k = queue.keys
    keys = [k.queue, k.scheduled, k.active, k.jobs, k.state, k.marker, k.dead, k.stats]
    for _ in range(3):
        await _scripts.run(queue.redis, "claim", keys, ["ghost", 1, 1, 3])
        await anyio.sleep(0.01)
    await _scripts.run(queue.redis, "claim", keys, ["ghost", 1, 1, 3])
    info = await job.info()
    assert (info.status, info.lost, info.error) == (JobStatus.DEAD, 3, "worker lost")
    with pytest.raises(JobDead, match="worker lost"):
        await job.result(timeout=1)


async def test_retention_prunes_finished_jobs(redis: Redis, prefix: str) -> None:
    from aioresque import Retention

    queue = Queue(redis, prefix=prefix, retention=Retention(completed_max=10))
    await queue.enqueue_many([Call("add", (i, i)) for i in range(60)])
    async with make_worker(queue, burst=True, concurrency=5):
        pass
    stats = await queue.statistics()
    assert stats.counters["completed"] == 60
    assert stats.completed_kept <= 10
    assert await redis.hlen(queue.keys.state) <= 10
    assert await redis.hlen(queue.keys.jobs) <= 10


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"lease": 0.1}, "lease"),
        ({"queues": ["*", "a"]}, "'\\*'"),
        ({"queues": []}, "at least one queue"),
    ],
)
def test_bad_worker_settings(queue: Queue, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Worker(queue, jobs_for_tests, **options)


def test_worker_repr_and_statistics(queue: Queue) -> None:
    worker = make_worker(queue, queues=["high", "default"], concurrency=3)
    assert "queues=high,default" in repr(worker)
    stats = worker.statistics()
    assert (stats.concurrency, stats.running, stats.queues) == (3, 0, ("high", "default"))
