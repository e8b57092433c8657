"""Cancelling jobs from any process: waiting, scheduled and running ones."""

from __future__ import annotations

import time

import anyio
import pytest

from aioresque import Call, JobCancelled, JobNotFound, JobStatus, Queue, Worker
from tests import jobs_for_tests
from tests.cli_helpers import spawned, worker_command


async def test_cancel_a_queued_job(queue: Queue) -> None:
    job, other = await queue.enqueue_many([Call("add", (1, 1)), Call("add", (2, 2))])
    assert await queue.cancel(job.id) is True
    assert await job.status() is JobStatus.CANCELLED
    assert await queue.redis.lrange(queue.keys.queue, 0, -1) == [other.id.encode()]
    with pytest.raises(JobCancelled, match="cancelled by request"):
        await job.result(timeout=1)
    assert await job.cancel() is False  # already finished
    stats = await queue.statistics()
    assert (stats.dead, stats.counters["cancelled"]) == (1, 1)


async def test_cancel_a_scheduled_job(queue: Queue) -> None:
    job = await queue.enqueue("add", 1, 1, _delay=60)
    assert await job.cancel() is True
    assert await queue.redis.zcard(queue.keys.scheduled) == 0
    info = await job.info()
    assert (info.status, info.due_at) == (JobStatus.CANCELLED, None)


async def test_cancel_a_finished_job_changes_nothing(queue: Queue) -> None:
    job = await queue.enqueue("add", 1, 1)
    async with Worker(queue, jobs_for_tests, burst=True):
        pass
    assert await job.cancel() is False
    assert await job.result(timeout=1) == 2


async def test_cancel_an_unknown_job(queue: Queue) -> None:
    with pytest.raises(JobNotFound):
        await queue.cancel("no-such-job")


async def test_cancel_a_running_job_stops_its_task(queue: Queue) -> None:
    job = await queue.enqueue("sleep", 30)
    woken: list[str] = []

    async def wait_result() -> None:
        with pytest.raises(JobCancelled):
            await job.result(timeout=10)
        woken.append("yes")

    async with Worker(queue, jobs_for_tests, lease=30) as worker, anyio.create_task_group() as tg:
        tg.start_soon(wait_result)
        while await job.status() is not JobStatus.ACTIVE:
            await anyio.sleep(0.01)
        await anyio.sleep(0.1)  # the waiter is registered
        started = time.monotonic()
        assert await job.cancel() is True
        with anyio.fail_after(3):
            while worker.statistics().running:
                await anyio.sleep(0.02)
        stopped = time.monotonic() - started
        # The next job runs: the slot came back.
        assert await (await queue.enqueue("add", 1, 1)).result(timeout=5) == 2
    assert woken == ["yes"]
    assert stopped < 1.5, stopped  # "within about a second"
    stats = worker.statistics()
    assert (stats.refused, stats.lost) == (0, 0)
    info = await job.info()
    assert (info.status, info.worker) == (JobStatus.CANCELLED, None)
    assert await queue.redis.zcard(queue.keys.cancelled) == 0  # the notice was taken out


async def test_cancel_reaches_a_worker_in_another_process(redis_url: str, prefix: str, queue: Queue) -> None:
    job = await queue.enqueue("sleep", 30)
    with spawned(worker_command(redis_url, prefix)):
        with anyio.fail_after(10):
            while await job.status() is not JobStatus.ACTIVE:
                await anyio.sleep(0.02)
        assert await job.cancel() is True
        with anyio.fail_after(3):
            while await queue.redis.zcard(queue.keys.cancelled):
                await anyio.sleep(0.02)
        # The worker is free again.
        assert await (await queue.enqueue("add", 2, 2)).result(timeout=5) == 4
    assert await job.status() is JobStatus.CANCELLED


async def test_a_missed_cancel_notice_is_caught_by_the_heartbeat(queue: Queue) -> None:
    job = await queue.enqueue("sleep", 30)
    async with Worker(queue, jobs_for_tests, lease=0.9) as worker:
        while await job.status() is not JobStatus.ACTIVE:
            await anyio.sleep(0.01)
        assert await job.cancel() is True
        await queue.redis.delete(queue.keys.cancelled)  # the notice is lost
        with anyio.fail_after(3):
            while worker.statistics().running:
                await anyio.sleep(0.02)
    stats = worker.statistics()
    assert (stats.lost, stats.refused) == (0, 0)  # stopped as cancelled, not as a lost lease
    assert await job.status() is JobStatus.CANCELLED


async def test_scheduled_jobs_are_listed_and_cancellable_from_the_api_and_the_cli(
    queue: Queue, redis_url: str, prefix: str
) -> None:
    import json
    import sys

    from tests.cli_helpers import run

    soon = await queue.enqueue("add", 1, 1, _delay=60, _job_id="soon")
    later = await queue.enqueue("add", 2, 2, _delay=120, _job_id="later")
    page = await queue.list_jobs(JobStatus.SCHEDULED)
    assert [j.id for j in page.jobs] == ["soon", "later"] and page.total == 2  # by due time
    info = await soon.info()
    assert info.status is JobStatus.SCHEDULED and info.due_at is not None
    assert await soon.cancel() is True
    assert [j.id for j in (await queue.list_jobs(JobStatus.SCHEDULED)).jobs] == ["later"]

    def cli(*args: str) -> list[str]:
        return [sys.executable, "-m", "aioresque", *args, "--redis-url", redis_url, "--prefix", prefix]

    listed = run(cli("dead", "--status", "scheduled", "--json"))
    assert listed.returncode == 0, listed.stderr
    assert [j["id"] for j in json.loads(listed.stdout)[queue.name]] == ["later"]
    cancelled = run(cli("cancel", "later"))
    assert cancelled.returncode == 0, cancelled.stderr
    assert await later.status() is JobStatus.CANCELLED
    assert (await queue.list_jobs(JobStatus.SCHEDULED)).total == 0
