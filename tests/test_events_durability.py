"""Job events when things go wrong: a worker SIGKILLed mid-job, Redis restarted while followed."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

import aioresque
from aioresque import Queue, Worker
from aioresque._events import JobEvent
from tests.cli_helpers import spawned, worker_command
from tests.redis_server import RedisServer


async def _follow(job: aioresque.Job[Any], into: list[JobEvent], limit: float) -> None:
    with anyio.fail_after(limit):
        async for event in job.events():
            into.append(event)


async def test_a_recovered_job_shows_its_second_run_as_a_new_started(queue: Queue, redis_url: str, prefix: str) -> None:
    job = await queue.enqueue("sleep", 1.5)
    got: list[JobEvent] = []
    command = worker_command(redis_url, prefix, "--lease", "1", "--concurrency", "1")
    async with anyio.create_task_group() as tg:
        tg.start_soon(_follow, job, got, 60)
        with spawned(command) as first:
            with anyio.fail_after(30):
                while not any(e.kind == "started" for e in got):
                    await anyio.sleep(0.05)
            first.send_signal(signal.SIGKILL)
            first.wait()
        with spawned(command):
            assert await job.result(timeout=40) == 1.5
            with anyio.fail_after(10):
                while not got or not got[-1].terminal:
                    await anyio.sleep(0.05)
    kinds = [e.kind for e in got]
    assert kinds == ["started", "retrying", "started", "completed"], kinds
    assert got[1].data["error"] == "worker lost"
    assert [got[0].data["attempt"], got[2].data["attempt"]] == [1, 2]
    assert got[-1].data["result"] == 1.5


@aioresque.job()
async def slow_steps(n: int) -> int:
    ctx = aioresque.current_job()
    for i in range(1, n + 1):
        await ctx.set_progress(i / n)
        await anyio.sleep(0.25)
    return n


def test_a_follower_survives_a_redis_restart(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=True)
    server.start()
    try:

        def restart_soon() -> None:
            # Mid-job: the worker and the follower both lose Redis for about a second.
            threading.Event().wait(1.0)
            server.stop(kill=True)
            threading.Event().wait(1.0)
            server.start()

        async def scenario() -> list[JobEvent]:
            got: list[JobEvent] = []
            async with Queue.from_url(server.url, prefix="restart") as queue:
                job = await queue.enqueue("slow_steps", 12)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_follow, job, got, 60)
                    await anyio.sleep(0.2)
                    async with Worker(queue, [slow_steps], lease=5):
                        restarter = threading.Thread(target=restart_soon)
                        restarter.start()
                        with anyio.fail_after(60):
                            while not got or not got[-1].terminal:
                                await anyio.sleep(0.1)
                        restarter.join()
            return got

        got = anyio.run(scenario)
    finally:
        server.stop()
    kinds = [e.kind for e in got]
    # Events emitted while Redis was down do not exist; the follower still sees the job through to its end.
    assert kinds[0] == "started" and kinds[-1] == "completed", kinds
    assert got[-1].data["result"] == 12
    values = [e.data["value"] for e in got if e.kind == "progress"]
    assert values == sorted(values)


@pytest.mark.parametrize("garbage", [b"not a stream", None])
async def test_garbage_in_the_event_keys_never_stops_a_job(queue: Queue, garbage: bytes | None) -> None:
    if garbage is not None:
        await queue.redis.set(queue.keys.events, garbage)  # a STRING where the STREAM goes
    await queue.redis.set(queue.keys.listening, "1")
    await queue.redis.hset(queue.keys.progress, "other", b"\xff\xfe{")
    job = await queue.enqueue("slow_steps", 2)
    async with Worker(queue, [slow_steps]):
        assert await job.result(timeout=15) == 2
    assert (await job.info()).progress == 1.0
    assert (await queue.job("other").status()).value == "not_found"
