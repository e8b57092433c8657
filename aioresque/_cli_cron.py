"""``aioresque cron``: list, pause and resume periodic schedules.

``cron list`` shows every schedule recorded in Redis (in every known queue,
or ``--queue``): its description, pause flag, last and next tick, last job
and counters. ``cron pause NAME`` / ``cron resume NAME`` flip one
schedule's pause flag for every worker at once; a paused schedule's ticks
pass without a job. Schedules live in their handler's home queue
(``default`` unless the handler names one): pass ``--queue`` for others.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

import anyio

from ._cli import connection_options, default_url, fail, name_of
from ._cli_format import clean, paint, shorten, table, use_colour
from ._errors import AioresqueError
from ._queue import Queue
from ._scheduler import ScheduleInfo


def add_parser(sub: Any) -> None:
    """Add the ``cron`` subcommand with ``list``, ``pause`` and ``resume``."""
    cron = sub.add_parser("cron", help="list, pause or resume periodic (cron) schedules")
    actions = cron.add_subparsers(dest="cron_action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list every schedule and its last and next tick")
    connection_options(listing)
    listing.add_argument(
        "--queue",
        type=name_of("queue name"),
        default=None,
        help="only this queue's schedules (default: every known queue)",
    )
    listing.add_argument("--json", action="store_true", help="print one JSON object per schedule")
    listing.set_defaults(run=_run_list)
    for action, text in (("pause", "skip a schedule's ticks until resumed"), ("resume", "resume a paused schedule")):
        p = actions.add_parser(action, help=text)
        p.add_argument("name", type=name_of("handler name"), help="the schedule's name (its handler's job name)")
        connection_options(p)
        p.add_argument(
            "--queue", type=name_of("queue name"), default="default", help="the schedule's queue (default: default)"
        )
        p.set_defaults(run=_run_pause, paused=action == "pause")


def schedule_json(info: ScheduleInfo) -> dict[str, Any]:
    """A schedule as a JSON-ready dict (times in ISO 8601, UTC)."""
    return {
        "name": info.name,
        "queue": info.queue,
        "schedule": info.description,
        "paused": info.paused,
        "last_tick": _iso(info.last_tick),
        "next_tick": _iso(info.next_tick),
        "last_job_id": info.last_job_id,
        "fired": info.fired,
        "skipped": info.skipped,
        "unreadable": info.unreadable,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _run_list(args: argparse.Namespace) -> int:
    async def main() -> list[ScheduleInfo]:
        async with Queue.from_url(args.redis_url or default_url(), prefix=args.prefix) as base:
            names = [args.queue] if args.queue else await base.known_queues()
            found: list[ScheduleInfo] = []
            for name in names:
                found += await base.sibling(name).schedules()
            return found

    try:
        schedules = anyio.run(main)
    except AioresqueError as exc:
        fail(str(exc))
    if args.json:
        for info in schedules:
            print(json.dumps(schedule_json(info)))
        return 0
    if not schedules:
        print("no schedules recorded (they appear once a worker running them starts)")
        return 0
    colour = use_colour(sys.stdout)
    header = ["NAME", "QUEUE", "SCHEDULE", "STATE", "LAST TICK", "NEXT TICK", "FIRED", "SKIPPED"]
    rows = [
        [
            shorten(s.name, 60),
            clean(s.queue),
            shorten(s.description, 60),
            "paused" if s.paused else "active",
            _short(s.last_tick),
            _short(s.next_tick),
            str(s.fired),
            str(s.skipped),
        ]
        if s.unreadable is None
        else [
            shorten(s.name, 60),
            clean(s.queue),
            paint(shorten(f"UNREADABLE: {s.unreadable}", 80), "red bold", colour),
        ]
        + ["-"] * 5
        for s in schedules
    ]
    print(table(header, rows, colour))
    return 0


def _short(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


def _run_pause(args: argparse.Namespace) -> int:
    async def main() -> bool:
        async with Queue.from_url(args.redis_url or default_url(), args.queue, prefix=args.prefix) as queue:
            if args.paused:
                return await queue.pause_schedule(args.name)
            return await queue.resume_schedule(args.name)

    try:
        found = anyio.run(main)
    except AioresqueError as exc:
        fail(str(exc))
    if not found:
        fail(f"no schedule named {clean(args.name)!r} in queue {clean(args.queue)!r} (see `aioresque cron list`)")
    print(f"schedule {clean(args.name)!r} {'paused' if args.paused else 'resumed'}")
    return 0
