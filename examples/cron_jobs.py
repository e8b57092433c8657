"""Periodic jobs: ``@job(cron=...)`` and ``@job(every=...)``, fired once per tick by any number of workers."""

from __future__ import annotations

from datetime import timedelta

import anyio

import aioresque


@aioresque.job(cron="30 7 * * mon-fri", tz="Europe/Berlin")
async def morning_report() -> str:
    return "report sent"


@aioresque.job(every=timedelta(seconds=1))
async def heartbeat() -> str:
    return aioresque.current_job().job_id  # "cron:heartbeat:<tick in ms>"


async def main(redis_url: str, prefix: str = "aioresque") -> list[str]:
    async with aioresque.Queue.from_url(redis_url, prefix=prefix) as queue:
        async with aioresque.Worker(queue, [morning_report, heartbeat]):
            with anyio.fail_after(10):
                while not (await queue.statistics()).counters.get("completed"):
                    await anyio.sleep(0.1)
            await queue.pause_schedule("morning_report")  # e.g. during a holiday
        schedules = await queue.schedules()
        for s in schedules:
            print(s.name, s.description, "paused" if s.paused else "active", s.next_tick)
        return [f"{s.name}: {s.description}{' (paused)' if s.paused else ''}" for s in schedules]
