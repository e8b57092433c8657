"""Delayed jobs: run later with ``_delay=`` or at a moment with ``_at=``; list and cancel them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aioresque


@aioresque.job
async def remind(user: str) -> str:
    return f"reminded {user}"


async def main(redis_url: str, prefix: str = "aioresque") -> list[str]:
    async with aioresque.Queue.from_url(redis_url, prefix=prefix) as queue:
        soon = await queue.enqueue("remind", "ada", _delay=0.2)  # seconds (or a timedelta)
        tomorrow = await remind.options(at=datetime.now(UTC) + timedelta(days=1)).enqueue(queue, "grace")

        waiting = await queue.list_jobs(aioresque.JobStatus.SCHEDULED)
        print([(job.id, job.due_at) for job in waiting.jobs])
        await tomorrow.cancel()  # changed our mind

        async with aioresque.Worker(queue, [remind]):  # wakes up when `soon` is due
            return [await soon.result(timeout=5), str(await tomorrow.status())]
