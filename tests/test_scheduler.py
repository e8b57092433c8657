"""Periodic jobs in Redis: each tick fires once, missed ticks, pausing, listing, many workers."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime, timedelta

import anyio
import pytest

import aioresque
from aioresque import Queue, Schedule, Worker
from aioresque._cli import main
from aioresque._schedule import from_ms, to_ms
from aioresque._scheduler import fire, job_id_for, sync
from tests import jobs_for_cron
from tests.cli_helpers import spawned, worker_command


@aioresque.job(every=timedelta(hours=1))
async def hourly() -> str:
    return "ran"


def _hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


async def test_a_tick_fires_once_and_never_again_nor_an_older_one(queue: Queue) -> None:
    schedule = hourly.schedule
    assert schedule is not None
    now = datetime.now(UTC)
    tick = _hour(now)
    assert await sync(queue, hourly, schedule, now) is None
    assert await fire(queue, hourly, schedule, tick) == ("fired", job_id_for("hourly", tick))
    assert (await fire(queue, hourly, schedule, tick))[0] == "done"
    assert (await fire(queue, hourly, schedule, tick - timedelta(hours=1)))[0] == "done"
    verdict, redis_now = await fire(queue, hourly, schedule, tick + timedelta(hours=2))
    assert verdict == "early" and abs(int(redis_now) - to_ms(now)) < 60_000
    stats = await queue.statistics()
    assert (stats.queued, stats.counters["enqueued"]) == (1, 1)
    [info] = await queue.schedules()
    assert (info.name, info.description, info.fired, info.last_tick) == ("hourly", "every 1:00:00", 1, tick)
    assert info.last_job_id == job_id_for("hourly", tick)
    assert await sync(queue, hourly, schedule, now) == tick


async def test_a_paused_schedule_uses_up_its_ticks_without_jobs(queue: Queue) -> None:
    schedule = hourly.schedule
    assert schedule is not None
    assert not await queue.pause_schedule("hourly")  # no record yet: nothing to pause
    now = datetime.now(UTC)
    await sync(queue, hourly, schedule, now)
    assert await queue.pause_schedule("hourly")
    assert (await fire(queue, hourly, schedule, _hour(now)))[0] == "paused"
    [info] = await queue.schedules()
    assert (info.paused, info.fired, info.skipped) == (True, 0, 1)
    assert await queue.resume_schedule("hourly")
    assert (await fire(queue, hourly, schedule, _hour(now)))[0] == "done"  # skipped ticks are not made up
    assert (await queue.statistics()).queued == 0


async def test_a_starting_worker_fires_the_latest_missed_tick_once(queue: Queue) -> None:
    schedule = hourly.schedule
    assert schedule is not None
    now = datetime.now(UTC)
    old = _hour(now) - timedelta(hours=5)
    await sync(queue, hourly, schedule, old)
    assert (await fire(queue, hourly, schedule, old))[0] == "fired"
    async with Worker(queue, [hourly]):
        with anyio.fail_after(10):
            while (await queue.statistics()).counters.get("completed", 0) < 2:
                await anyio.sleep(0.05)
    [info] = await queue.schedules()
    assert (info.fired, info.last_tick) == (2, _hour(now))  # the four ticks between were skipped
    assert await queue.job(job_id_for("hourly", _hour(now))).result(timeout=1) == "ran"
    assert info.next_tick == _hour(now) + timedelta(hours=1)


async def test_a_worker_fires_interval_ticks_as_they_come(queue: Queue) -> None:
    async with Worker(queue, [jobs_for_cron.every_second]):
        with anyio.fail_after(10):
            while (await queue.statistics()).counters.get("completed", 0) < 2:
                await anyio.sleep(0.05)
    [info] = await queue.schedules()
    assert info.last_tick is not None
    last = await queue.job(job_id_for("every_second", info.last_tick)).result(timeout=1)
    assert last == job_id_for("every_second", info.last_tick)


def _wait_for_fired(redis_url: str, prefix: str, *, at_least: int, within: float) -> None:
    """Block until the every_second schedule has fired ``at_least`` ticks."""

    async def fired() -> int:
        async with Queue.from_url(redis_url, prefix=prefix) as queue:
            return sum(s.fired for s in await queue.schedules() if s.name == "every_second")

    deadline = time.monotonic() + within
    while anyio.run(fired) < at_least:
        assert time.monotonic() < deadline, f"fewer than {at_least} ticks fired within {within} s"
        time.sleep(0.5)


def test_three_worker_processes_enqueue_exactly_one_job_per_tick(redis_url: str, prefix: str) -> None:
    command = worker_command(redis_url, prefix, "--queues", "default", module="tests.jobs_for_cron")
    started = time.time()
    with spawned(command) as a, spawned(command) as b, spawned(command) as c:
        # Let all three run side by side for several ticks. On a loaded machine
        # interpreters take seconds to start, so wait for the ticks, not a clock.
        _wait_for_fired(redis_url, prefix, at_least=4, within=60)
        for proc in (a, b, c):
            proc.send_signal(signal.SIGTERM)
        for proc in (a, b, c):
            proc.wait(timeout=30)
    ended = time.time()

    async def check() -> None:
        async with Queue.from_url(redis_url, prefix=prefix) as queue:
            [info] = [s for s in await queue.schedules() if s.name == "every_second"]
            ids = [j.id for j in (await queue.list_jobs(["complete", "queued", "active"], limit=100)).jobs]
            ticks = sorted(int(i.rsplit(":", 1)[1]) for i in ids if i.startswith("cron:every_second:"))
            # One job per tick, no tick missing between the first and the last.
            assert len(ticks) >= 3, ticks
            assert ticks == list(range(ticks[0], ticks[-1] + 1000, 1000))
            assert info.fired == len(ticks)  # no second fire was even attempted successfully
            assert (await queue.statistics()).counters["enqueued"] == len(ticks)
            assert started - 1 <= from_ms(ticks[0]).timestamp() and from_ms(ticks[-1]).timestamp() <= ended

    anyio.run(check)


async def test_cli_lists_pauses_and_resumes_schedules(
    queue: Queue, redis_url: str, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    for fn in (jobs_for_cron.every_second, jobs_for_cron.new_year):
        assert fn.schedule is not None
        await sync(queue.sibling(fn.queue or "default"), fn, fn.schedule, now)
    base = ["--redis-url", redis_url, "--prefix", prefix]
    assert await anyio.to_thread.run_sync(main, ["cron", "list", *base]) == 0
    out = capsys.readouterr().out
    assert "every_second" in out and "every 0:00:01" in out
    assert "new_year" in out and "cron 0 0 1 1 * (Europe/Berlin)" in out and "yearly" in out
    assert await anyio.to_thread.run_sync(main, ["cron", "list", "--json", "--queue", "yearly", *base]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line) | {"next_tick": None} == {
        "name": "new_year",
        "queue": "yearly",
        "schedule": "cron 0 0 1 1 * (Europe/Berlin)",
        "paused": False,
        "last_tick": None,
        "next_tick": None,
        "last_job_id": None,
        "fired": 0,
        "skipped": 0,
    }
    assert await anyio.to_thread.run_sync(main, ["cron", "pause", "new_year", "--queue", "yearly", *base]) == 0
    assert (await queue.sibling("yearly").schedules())[0].paused
    assert await anyio.to_thread.run_sync(main, ["cron", "resume", "new_year", "--queue", "yearly", *base]) == 0
    assert not (await queue.sibling("yearly").schedules())[0].paused
    with pytest.raises(SystemExit):
        await anyio.to_thread.run_sync(main, ["cron", "pause", "nope", *base])
    assert "no schedule named 'nope'" in capsys.readouterr().err


def test_schedule_is_declared_on_the_handler() -> None:
    assert jobs_for_cron.new_year.schedule == Schedule.of(cron="0 0 1 1 *", tz="Europe/Berlin")
    with pytest.raises(aioresque.ConfigurationError, match="tz= needs cron="):
        aioresque.job(tz="UTC")(hourly.fn)

    async def needs_an_argument(user: int) -> None: ...

    with pytest.raises(aioresque.ConfigurationError, match="called without arguments"):
        aioresque.job(every=60)(needs_an_argument)
