"""What the cron page shows of one periodic schedule (pure: no Redis, no HTTP).

The dashboard reads schedules through :meth:`aioresque.Queue.schedules`
(as ``aioresque cron list`` does); this module splits a
:class:`~aioresque.ScheduleInfo`'s description into the columns the page
shows and decides when a schedule looks abandoned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .._scheduler import ScheduleInfo

OVERDUE_AFTER = timedelta(minutes=1)
"""How far past its next tick a schedule must be to be flagged: no worker runs it."""

# ``Schedule.describe()``: "cron <expression> (<zone>)" or "every <interval>".
_CRON = re.compile(r"cron (?P<expression>.+) \((?P<zone>[^()]+)\)")
_EVERY = re.compile(r"every (?P<interval>.+)")


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    """One row of the cron page.

    Attributes:
        info: the schedule as recorded in Redis.
        kind: ``"cron"``, ``"every"``, or ``""`` for a description this
            version cannot split (shown whole in ``expression``).
        expression: the cron expression, or the interval (``"0:05:00"``).
        zone: the zone a cron expression's wall-clock times are read in;
            None for an interval, which counts real time.
        next_local: the next tick as wall-clock time in ``zone``
            (``"2026-01-01 00:00 CET"``), or None.
        overdue: the next tick passed over :data:`OVERDUE_AFTER` ago and no
            worker fired or skipped it, so none is running the schedule.
    """

    info: ScheduleInfo
    kind: str
    expression: str
    zone: str | None
    next_local: str | None
    overdue: bool


def split_description(description: str) -> tuple[str, str, str | None]:
    """``(kind, expression or interval, zone)`` from a schedule's description.

    >>> split_description("cron */5 * * * * (Europe/Berlin)")
    ('cron', '*/5 * * * *', 'Europe/Berlin')
    >>> split_description("every 0:00:30")
    ('every', '0:00:30', None)
    """
    if match := _CRON.fullmatch(description):
        return "cron", match["expression"], match["zone"]
    if match := _EVERY.fullmatch(description):
        return "every", match["interval"], None
    return "", description, None


def schedule_row(info: ScheduleInfo, now: datetime) -> ScheduleRow:
    """The page's row for ``info``, as of the aware datetime ``now``."""
    kind, expression, zone = split_description(info.description)
    next_local = None
    if zone is not None and info.next_tick is not None:
        try:
            next_local = info.next_tick.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")
        except (ZoneInfoNotFoundError, ValueError, OSError, OverflowError):
            # A zone the worker knew and this machine does not, a garbage zone
            # name (too long: OSError), or a tick at the edge of year 9999.
            next_local = None
    overdue = info.next_tick is not None and now - info.next_tick > OVERDUE_AFTER
    return ScheduleRow(info, kind, expression, zone, next_local, overdue)
