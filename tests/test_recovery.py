"""Recovery of jobs whose worker vanished: on demand, continuous, after SIGKILL."""

from __future__ import annotations

import signal
import sys
import time

import anyio
import pytest
from redis.asyncio import Redis

from aioresque import Call, JobDead, JobStatus, Queue, Worker, _scripts
from aioresque._recovery import recover_queues, try_lock
from aioresque._upkeep import recovery_period
from tests import jobs_for_tests
from tests.cli_helpers import run, spawned, worker_command


async def ghost_claim(queue: Queue, n: int = 1, lease_ms: int = 1) -> None:
    """Claim like a worker that vanishes at once: the lease is never extended."""
    k = queue.keys
    await _scripts.run(
        queue.redis,
        "claim",
        [k.queue, k.scheduled, k.active, k.jobs, k.state, k.marker, k.dead, k.stats],
        ["ghost:1:x", n, lease_ms, 3],
    )


def test_recovery_period_follows_the_lease() -> None:
    assert recovery_period(2) == 1.0
    assert recovery_period(0.5) == 1.0
    assert recovery_period(30) == 15.0
    assert recovery_period(600) == 15.0


async def test_queue_recover_requeues_expired_leases(queue: Queue) -> None:
    jobs = await queue.enqueue_many([Call("add", (i, i)) for i in range(3)])
    await ghost_claim(queue, n=2)
    await anyio.sleep(0.01)
    assert await queue.recover() == 2
    assert await queue.recover() == 0
    infos = [await j.info() for j in jobs[:2]]
    assert {(i.status, i.lost, i.error) for i in infos} == {(JobStatus.QUEUED, 1, "worker lost")}
    stats = await queue.statistics()
    assert (stats.queued, stats.active, stats.counters["lost"]) == (3, 0, 2)


async def test_recovery_after_max_lost_sends_the_job_to_the_dead_set(queue: Queue) -> None:
    job = await queue.enqueue("add", 1, 1)
    for _ in range(2):
        await ghost_claim(queue)
        await anyio.sleep(0.01)
        assert await queue.recover(max_lost=2) == 1
    info = await job.info()
    assert (info.status, info.lost) == (JobStatus.DEAD, 2)
    with pytest.raises(JobDead) as caught:
        await job.result(timeout=1)
    assert caught.value.error == "worker lost"


async def test_recover_queues_covers_every_known_queue_and_reports_garbage(redis: Redis, prefix: str) -> None:
    queue = Queue(redis, "a", prefix=prefix)
    await queue.enqueue("add", 1, 1)
    await queue.enqueue("add", 1, 1, _queue="b")
    await queue.enqueue("add", 1, 1, _queue="broken")
    await ghost_claim(queue)
    await ghost_claim(queue.sibling("b"))
    await ghost_claim(queue.sibling("broken"))
    await redis.delete(queue.sibling("broken").keys.dead)
    await redis.set(queue.sibling("broken").keys.dead, "garbage")
    await anyio.sleep(0.01)
    report = await recover_queues(redis, prefix=prefix)
    assert report.recovered == {"a": 1, "b": 1}
    assert report.total == 2
    assert list(report.errors) == ["broken"] and "WRONGTYPE" in report.errors["broken"]
    # Nothing was half-done on the broken queue: the job is still held, not lost.
    assert await redis.zcard(queue.sibling("broken").keys.active) == 1


async def test_the_recovery_lock_lets_one_pass_run_per_period(redis: Redis, prefix: str) -> None:
    assert await try_lock(redis, prefix, "w1", 0.3)
    assert not await try_lock(redis, prefix, "w2", 0.3)
    await anyio.sleep(0.35)
    assert await try_lock(redis, prefix, "w2", 0.3)


async def test_live_workers_recover_queues_they_do_not_serve(queue: Queue) -> None:
    other = queue.sibling("nobody-serves-this")
    job = await other.enqueue("add", 1, 1)
    await ghost_claim(other)
    async with Worker(queue, jobs_for_tests, lease=2):
        with anyio.fail_after(5):
            while await job.status() is not JobStatus.QUEUED:
                await anyio.sleep(0.05)
    assert (await job.info()).lost == 1


async def test_cli_recover(redis_url: str, prefix: str, queue: Queue) -> None:
    await queue.enqueue_many([Call("add", (1, 1)), Call("add", (2, 2), queue="low")])
    await ghost_claim(queue)
    await ghost_claim(queue.sibling("low"))
    await anyio.sleep(0.01)
    command = [sys.executable, "-m", "aioresque", "recover", "--redis-url", redis_url, "--prefix", prefix]
    result = await anyio.to_thread.run_sync(lambda: run([*command, "--queues", "low"]))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["low: 1 job(s) recovered", "recovered 1 job(s)"]
    result = await anyio.to_thread.run_sync(lambda: run(command))
    assert "default: 1 job(s) recovered" in result.stdout


async def test_sigkilled_worker_jobs_recover_within_a_lease(redis_url: str, prefix: str, queue: Queue) -> None:
    jobs = await queue.enqueue_many([Call("sleep", (1.0,)) for _ in range(5)])
    with spawned(worker_command(redis_url, prefix, "--lease", "2", "--concurrency", "5")) as victim:
        with anyio.fail_after(10):
            while await queue.redis.zcard(queue.keys.active) < 5:
                await anyio.sleep(0.01)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed = time.monotonic()
    with spawned(worker_command(redis_url, prefix, "--lease", "2", "--concurrency", "5")):
        with anyio.fail_after(15):
            while any([(await j.info()).lost == 0 for j in jobs]):
                await anyio.sleep(0.02)
        recovered = time.monotonic() - killed
        for job in jobs:
            assert await job.result(timeout=10) == 1.0
    # --lease 2: recovered in about 2 s (generous bound for a loaded machine).
    assert recovered < 4.5, recovered
