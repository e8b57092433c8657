"""Progress reports and job events on a real Redis: set_progress, job.info(), Job.events(), Queue.events()."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

import aioresque
from aioresque import Queue, Worker
from aioresque._events import JobEvent


@aioresque.job()
async def steps(n: int) -> str:
    ctx = aioresque.current_job()
    for i in range(1, n + 1):
        await ctx.set_progress(i / n, f"step {i} of {n}")
        await anyio.sleep(0.3)
    return f"did {n}"


@aioresque.job()
def blocking_steps(n: int) -> int:
    ctx = aioresque.current_job()
    for i in range(1, n + 1):
        ctx.set_progress(i / n, f"thread step {i}")
        time.sleep(0.2)
    return n


@aioresque.job()
async def quick() -> int:
    return 1


@aioresque.job(max_attempts=2)
async def broken() -> None:
    raise RuntimeError("nope")


@aioresque.job()
async def last_progress_then_done() -> str:
    ctx = aioresque.current_job()
    for i in range(100):  # many reports within one flush interval: only the last is written
        ctx.set_progress(i / 100)
    await ctx.set_progress(1.0, "all done")
    return "ok"


FUNCTIONS: list[aioresque.JobFunction[Any, Any]] = [steps, blocking_steps, quick, broken, last_progress_then_done]


async def _collect(events: Any, limit: float = 20) -> list[JobEvent]:
    seen: list[JobEvent] = []
    with anyio.fail_after(limit):
        async for event in events:
            seen.append(event)
    return seen


async def test_job_events_follow_a_job_from_start_to_result(queue: Queue) -> None:
    job = await queue.enqueue("steps", 3)
    async with anyio.create_task_group() as tg:
        got: list[JobEvent] = []

        async def follow() -> None:
            got.extend(await _collect(job.events()))

        tg.start_soon(follow)
        await anyio.sleep(0.2)  # subscribed before the job starts
        async with Worker(queue, FUNCTIONS, concurrency=2):
            assert await job.result(timeout=15) == "did 3"
            await anyio.sleep(0.5)
    kinds = [e.kind for e in got]
    assert kinds[0] == "started" and kinds[-1] == "completed", kinds
    values = [e.data["value"] for e in got if e.kind == "progress"]
    assert values == sorted(values) and values[-1] == 1.0 and len(values) >= 2, values
    assert got[-1].data["result"] == "did 3"
    assert all(e.job_id == job.id for e in got)
    assert [e.at for e in got] == sorted(e.at for e in got)
    info = await job.info()
    assert info.progress == 1.0 and info.progress_message == "step 3 of 3"


async def test_a_late_follower_of_a_finished_job_gets_its_terminal_event_at_once(queue: Queue) -> None:
    job = await queue.enqueue("quick")
    async with Worker(queue, FUNCTIONS, burst=True):
        pass  # a burst worker's block ends when its burst does
    assert await job.result(timeout=10) == 1
    started = time.monotonic()
    events = await _collect(job.events(), limit=5)
    assert time.monotonic() - started < 1
    assert [e.kind for e in events] == ["completed"]
    assert events[0].data["result"] == 1


async def test_a_late_follower_of_a_running_job_gets_its_latest_progress_first(queue: Queue) -> None:
    job = await queue.enqueue("steps", 5)
    async with Worker(queue, FUNCTIONS):
        with anyio.fail_after(10):
            while (await job.info()).progress is None:
                await anyio.sleep(0.1)
        events = await _collect(job.events())
    assert events[0].kind == "started"
    assert events[1].kind == "progress" and events[1].data["value"] is not None
    assert events[-1].kind == "completed"


async def test_plain_def_handlers_report_progress_from_their_thread(queue: Queue) -> None:
    job = await queue.enqueue("blocking_steps", 4)
    async with Worker(queue, FUNCTIONS):
        events = await _collect(job.events())
    assert [e.kind for e in events][-1] == "completed"
    assert any(e.kind == "progress" and e.data["message"].startswith("thread step") for e in events)
    assert (await job.info()).progress == 1.0


async def test_the_last_progress_value_is_never_lost(queue: Queue) -> None:
    job = await queue.enqueue("last_progress_then_done")
    async with Worker(queue, FUNCTIONS):
        assert await job.result(timeout=10) == "ok"
    info = await job.info()
    assert (info.progress, info.progress_message) == (1.0, "all done")


async def test_retrying_then_failed_events_carry_the_error(queue: Queue) -> None:
    job = await queue.enqueue("broken")
    async with anyio.create_task_group() as tg:
        got: list[JobEvent] = []

        async def follow() -> None:
            got.extend(await _collect(job.events(), limit=30))

        tg.start_soon(follow)
        await anyio.sleep(0.2)
        async with Worker(queue, FUNCTIONS, backoff=aioresque.Backoff(base=0.1, cap=0.1)):
            with anyio.fail_after(20):
                while not (await job.status()).finished:
                    await anyio.sleep(0.1)
            await anyio.sleep(0.3)
    kinds = [e.kind for e in got]
    assert kinds == ["started", "retrying", "started", "failed"], kinds
    assert "nope" in got[1].data["error"] and got[1].data["due_at"] is not None
    assert "nope" in got[-1].data["error"]


async def test_cancelled_jobs_end_their_events(queue: Queue) -> None:
    job = await queue.enqueue("quick", _delay=60)
    async with anyio.create_task_group() as tg:
        got: list[JobEvent] = []

        async def follow() -> None:
            got.extend(await _collect(job.events()))

        tg.start_soon(follow)
        await anyio.sleep(0.2)
        await job.cancel()
    assert [e.kind for e in got] == ["cancelled"]


async def test_queue_events_see_every_completion_of_a_burst(queue: Queue) -> None:
    completed: set[str] = set()
    ids: set[str] = set()

    async def follow() -> None:
        async for event in queue.events():
            if event.kind == "completed":
                completed.add(event.job_id)
                if ids and completed >= ids:
                    return

    async with anyio.create_task_group() as tg:
        tg.start_soon(follow)
        await anyio.sleep(0.2)
        jobs = await queue.enqueue_many([aioresque.Call.of("quick") for _ in range(200)])
        ids.update(j.id for j in jobs)
        with anyio.fail_after(30):
            async with Worker(queue, FUNCTIONS, concurrency=50):
                for j in jobs:
                    await j.result(timeout=20)
    assert completed == ids


async def test_set_progress_rejects_values_outside_0_to_1() -> None:
    from aioresque._context import JobContext

    ctx = JobContext("x", "n", None, 1, "w", {})  # type: ignore[arg-type]
    for bad in (-0.1, 1.5, float("nan"), "half"):
        with pytest.raises(ValueError, match="progress"):
            ctx.set_progress(bad)  # type: ignore[arg-type]
    ctx.set_progress(0.5, "fine")


async def test_nobody_listening_means_no_event_is_written(queue: Queue) -> None:
    job = await queue.enqueue("steps", 2)
    async with Worker(queue, FUNCTIONS):
        await job.result(timeout=10)
    assert await queue.redis.exists(queue.keys.events) == 0
    assert (await job.info()).progress == 1.0
