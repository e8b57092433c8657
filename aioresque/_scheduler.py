"""Periodic jobs in Redis: firing each tick once, listing and pausing schedules.

Every worker whose jobs module has scheduled handlers (``@job(cron=...)`` or
``@job(every=...)``) runs one small task per schedule that sleeps until the
next tick and then asks ``lua/cron.lua`` to fire it. The script fires a tick
only if it is later than the last tick fired (a per-schedule record in the
queue's ``cron`` hash) and not in the future on Redis's clock, and enqueues
the tick's job — id ``cron:<name>:<tick ms>`` — in the same call; so however
many workers run, each tick gets exactly one job.

**Missed ticks.** When a worker starts and finds that ticks passed while no
worker ran, it fires the latest missed tick once, at once, and skips the
others. A schedule seen for the first time fires nothing until its next
tick. A worker woken late (a blocked event loop) also fires only the latest
tick it missed.

**Pausing.** A paused schedule's ticks are used up without a job (counted as
skipped), so resuming does not release a burst of catch-up jobs.

Burst workers (``--burst``) do not run schedules.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
from redis.exceptions import ResponseError

from . import _scripts
from ._decode import MAX_MS, integer, text, wrong_type
from ._errors import translate
from ._keys import queue_registry
from ._schedule import Schedule, from_ms, to_ms
from ._serializer import loads_json

if TYPE_CHECKING:
    from ._handler import JobFunction
    from ._queue import Queue
    from ._worker import Worker

log = logging.getLogger("aioresque.scheduler")

DEFAULT_QUEUE = "default"
"""The queue a scheduled handler's jobs go to when it names no home queue."""


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    """One periodic schedule as recorded in Redis (see :meth:`Queue.schedules`).

    Attributes:
        name: the schedule's name (its handler's job name).
        queue: the queue its jobs go to.
        description: e.g. ``"cron */5 * * * * (Europe/Berlin)"`` or ``"every 0:00:30"``.
        paused: whether ticks are skipped.
        last_tick: the last tick fired or skipped, or None.
        next_tick: the next tick, as the last worker to start computed it.
        last_job_id: the id of the last job enqueued, or None.
        fired: how many ticks enqueued a job.
        skipped: how many ticks passed while paused.
        unreadable: why the record could not be read, or None.
    """

    name: str
    queue: str
    description: str
    paused: bool
    last_tick: datetime | None
    next_tick: datetime | None
    last_job_id: str | None
    fired: int
    skipped: int
    unreadable: str | None = None
    """Set when the schedule's record could not be read: why, with its raw size
    (only ``name`` and ``queue`` are then meaningful)."""


def home_queue(fn: JobFunction[Any, Any]) -> str:
    """The queue a scheduled handler's jobs go to: its home queue, else ``default``."""
    return fn.queue or DEFAULT_QUEUE


def job_id_for(name: str, tick: datetime) -> str:
    """The deterministic job id of one tick of a schedule."""
    return ":".join(("cron", name, str(to_ms(tick))))


def _keys(queue: Queue) -> list[str]:
    k = queue.keys
    return [k.cron, k.queue, k.jobs, k.state, k.marker, k.stats]


async def sync(queue: Queue, fn: JobFunction[Any, Any], schedule: Schedule, now: datetime) -> datetime | None:
    """Record a schedule's description and next tick; return its last tick fired, if any."""
    args = ["sync", fn.name, schedule.describe(), to_ms(schedule.next_after(now)), "", "", "", "", "", ""]
    async with translate():
        await queue.redis.sadd(queue_registry(queue.prefix), queue.name)
        reply = await _scripts.run(queue.redis, "cron", _keys(queue), args)
    last = _text(reply[0])
    return from_ms(int(last)) if last else None


async def fire(queue: Queue, fn: JobFunction[Any, Any], schedule: Schedule, tick: datetime) -> tuple[str, str]:
    """Ask Redis to fire ``tick``; returns the script's ``(verdict, detail)`` (see ``lua/cron.lua``)."""
    args = [
        "fire",
        fn.name,
        schedule.describe(),
        to_ms(schedule.next_after(tick)),
        to_ms(tick),
        job_id_for(fn.name, tick),
        fn.name,
        queue.encode_payload(fn.name, (), {}),
        "",
        "",
    ]
    async with translate():
        reply = await _scripts.run(queue.redis, "cron", _keys(queue), args)
    return _text(reply[0]), _text(reply[1])


async def set_paused(queue: Queue, name: str, paused: bool) -> bool:
    """Pause or resume the schedule ``name`` of ``queue``; False when it has no record."""
    args = ["pause" if paused else "resume", name, "", "", "", "", "", "", "", ""]
    async with translate():
        return bool(await _scripts.run(queue.redis, "cron", _keys(queue), args))


async def list_schedules(queue: Queue) -> list[ScheduleInfo]:
    """The schedules whose jobs go to ``queue``, sorted by name; never fails on what Redis holds.

    A record that cannot be read is listed marked :attr:`ScheduleInfo.unreadable`;
    a ``cron`` key of another Redis type reads as no schedules.
    """
    try:
        async with translate():
            raw = await queue.redis.hgetall(queue.keys.cron)
    except ResponseError as exc:
        if not wrong_type(exc):
            raise
        return []
    return sorted((read_schedule(queue.name, name, value) for name, value in raw.items()), key=lambda s: s.name)


def read_schedule(queue: str, name: object, value: object) -> ScheduleInfo:
    """Build a :class:`ScheduleInfo` from one field and value of a queue's ``cron`` hash; never raises."""
    shown = text(name)
    try:
        rec = loads_json(value)  # type: ignore[arg-type]  # anything else raises, and is caught
    except Exception as exc:  # noqa: BLE001 - RecursionError, ValueError: shown as unreadable
        return _unreadable_schedule(queue, shown, value, f"record is not JSON ({type(exc).__name__})")
    if not isinstance(rec, dict):
        return _unreadable_schedule(queue, shown, value, "record is not a JSON object")
    fired = integer(rec.get("fired", 0), 0)
    skipped = integer(rec.get("skipped", 0), 0)
    spec, last_job = rec.get("spec", ""), rec.get("last_job")
    if fired is None or skipped is None:
        return _unreadable_schedule(queue, shown, value, "'fired' or 'skipped' is not a count")
    if not isinstance(spec, str) or not (last_job is None or isinstance(last_job, str | int)):
        return _unreadable_schedule(queue, shown, value, "'spec' or 'last_job' is not text")
    return ScheduleInfo(
        shown,
        queue,
        spec,
        rec.get("paused") is True,
        _instant(rec.get("last")),
        _instant(rec.get("next")),
        str(last_job) if last_job else None,
        fired,
        skipped,
    )


def _unreadable_schedule(queue: str, name: str, value: object, why: str) -> ScheduleInfo:
    size = len(value) if isinstance(value, bytes | str) else 0
    return ScheduleInfo(name, queue, "", False, None, None, None, 0, 0, unreadable=f"{why} ({size} bytes)")


async def run_schedules(worker: Worker) -> None:
    """Fire the ticks of every scheduled handler of ``worker`` until it stops."""
    scheduled = [fn for fn in worker.registry.functions.values() if fn.schedule is not None]
    if not scheduled or worker.burst:
        return
    async with anyio.create_task_group() as tg:
        for fn in scheduled:
            tg.start_soon(_run_one, worker, fn)
        await worker._stopped.wait()
        tg.cancel_scope.cancel()


async def _run_one(worker: Worker, fn: JobFunction[Any, Any]) -> None:
    schedule = fn.schedule
    assert schedule is not None
    queue = worker._base.sibling(home_queue(fn))
    now = _now()
    try:
        last = await worker._redis_call(sync, queue, fn, schedule, now)
    except ResponseError as exc:
        log.error("schedule %s: cannot read its record in queue %s: %s", fn.name, queue.name, exc)
        return
    if last is not None:
        missed = schedule.latest_at_or_before(now, last)
        if missed is not None:
            log.info("schedule %s: ticks missed while no worker ran; firing the latest (%s)", fn.name, missed)
            await _fire(worker, queue, fn, schedule, missed)
    tick = schedule.next_after(now)
    while True:
        await anyio.sleep(max(0.0, (tick - _now()).total_seconds()))
        # Woken late (a blocked loop, a suspended machine): only the latest tick fires.
        tick = schedule.latest_at_or_before(_now(), tick - timedelta(milliseconds=1)) or tick
        await _fire(worker, queue, fn, schedule, tick)
        tick = schedule.next_after(tick)


async def _fire(worker: Worker, queue: Queue, fn: JobFunction[Any, Any], schedule: Schedule, tick: datetime) -> None:
    for _ in range(100):
        try:
            verdict, detail = await worker._redis_call(fire, queue, fn, schedule, tick)
        except ResponseError as exc:
            log.error("schedule %s: firing tick %s failed: %s", fn.name, tick, exc)
            return
        if verdict != "early":
            if verdict == "fired":
                log.info("schedule %s: tick %s enqueued job %s", fn.name, tick, detail)
            return
        # This machine's clock runs ahead of Redis's: wait out the difference.
        await anyio.sleep(min(1.0, max(0.001, (to_ms(tick) - int(detail)) / 1000)))
    log.error("schedule %s: tick %s stayed in the future on Redis's clock; skipped", fn.name, tick)


def _now() -> datetime:
    return datetime.now(UTC)


def _instant(value: object) -> datetime | None:
    """A millisecond timestamp from Redis (a number, or its text) as a datetime; None if it is not one."""
    ms = integer(value, 0, MAX_MS)
    return None if ms is None else from_ms(ms)


def _text(value: bytes | str | int) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value)
