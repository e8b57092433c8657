"""Progress and events in the testing queues: assert on them without Redis."""

from __future__ import annotations

import aioresque
from aioresque.testing import FakeQueue, InlineQueue


@aioresque.job()
async def export(rows: int) -> int:
    ctx = aioresque.current_job()
    for i in range(rows):
        await ctx.set_progress((i + 1) / rows, f"row {i + 1}")
    return rows


@aioresque.job(max_attempts=2)
async def flaky() -> None:
    raise RuntimeError("flaky")


async def test_fake_queue_records_every_progress_report_and_the_events() -> None:
    async with FakeQueue([export]) as queue:
        job = await queue.enqueue("export", 4)
        await queue.drain()
        record = queue.assert_enqueued("export", 4)
        assert [p.value for p in record.progress] == [0.25, 0.5, 0.75, 1.0]
        assert record.progress[-1].message == "row 4"
        info = await job.info()
        assert (info.progress, info.progress_message) == (1.0, "row 4")
        kinds = [e.kind async for e in job.events()]
        assert kinds == ["started", "progress", "progress", "progress", "progress", "completed"]


async def test_inline_queue_records_retries_and_the_failure() -> None:
    async with InlineQueue([flaky], raise_errors=False) as queue:
        job = await queue.enqueue("flaky")
        await queue.drain()
        events = [e async for e in job.events()]
        assert [e.kind for e in events] == ["started", "retrying", "started", "failed"]
        assert events[-1].data["error"] == "RuntimeError: flaky"
