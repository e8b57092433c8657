"""``Schedule``: when a periodic job fires — a cron expression or a fixed interval (pure).

``@job(cron="*/5 * * * *", tz="Europe/Berlin")`` and
``@job(every=timedelta(minutes=5))`` each give the handler a
:class:`Schedule`. Ticks are instants; each is fired at most once across
every worker (see :mod:`aioresque._scheduler` for how Redis enforces that).

Interval ticks are aligned to the Unix epoch (every multiple of the interval
since 1970-01-01 UTC), so every worker computes the same ticks without
talking to the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ._cron import Cron
from ._errors import ConfigurationError

MIN_INTERVAL = timedelta(seconds=1)
"""The shortest interval an ``every=`` schedule may have."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a periodic job fires: a parsed cron expression or an interval.

    Build one with :meth:`of`; the ``@job`` decorator does that for you.

    Attributes:
        cron: the parsed expression, or None for an interval schedule.
        every: the interval, or None for a cron schedule.
        tz: the zone cron wall-clock times are read in (UTC by default).
    """

    cron: Cron | None
    every: timedelta | None
    tz: ZoneInfo

    @classmethod
    def of(cls, *, cron: str | None = None, every: timedelta | float | None = None, tz: str | None = None) -> Schedule:
        """Validate and build a schedule from ``@job``'s ``cron``/``every``/``tz`` arguments.

        Raises:
            ConfigurationError: both or neither of ``cron`` and ``every``, a bad
                expression, an interval under a second or not a whole number
                of milliseconds, an unknown zone, or ``tz`` with ``every``.
        """
        if (cron is None) == (every is None):
            raise ConfigurationError("a schedule needs exactly one of cron= and every=")
        zone = ZoneInfo("UTC")
        if tz is not None:
            if every is not None:
                raise ConfigurationError("tz= applies to cron= schedules only; intervals count real time")
            try:
                zone = ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError):
                raise ConfigurationError(f"unknown time zone {tz!r} (use an IANA name like 'Europe/Berlin')") from None
        if cron is not None:
            return cls(Cron.parse(cron), None, zone)
        assert every is not None
        interval = every if isinstance(every, timedelta) else timedelta(seconds=every)
        if interval < MIN_INTERVAL:
            raise ConfigurationError(f"every= must be at least {MIN_INTERVAL.total_seconds():g} s, got {every}")
        if interval % timedelta(milliseconds=1):
            raise ConfigurationError(f"every= must be a whole number of milliseconds, got {every}")
        return cls(None, interval, zone)

    def describe(self) -> str:
        """A short text for listings: ``cron */5 * * * * (Europe/Berlin)`` or ``every 0:05:00``."""
        if self.cron is not None:
            return f"cron {self.cron.expression} ({self.tz.key})"
        return f"every {self.every}"

    def next_after(self, after: datetime) -> datetime:
        """The first tick strictly after the aware datetime ``after`` (in UTC).

        Raises:
            ValueError: ``after`` is naive.
        """
        if after.tzinfo is None:
            raise ValueError("next_after needs an aware datetime")
        if self.cron is not None:
            return self.cron.next_after(after, self.tz).astimezone(UTC)
        assert self.every is not None
        period = _ms(self.every)
        now = _ms(after - _EPOCH)
        return _EPOCH + timedelta(milliseconds=(now // period + 1) * period)

    def latest_at_or_before(self, now: datetime, since: datetime) -> datetime | None:
        """The last tick in ``(since, now]``, or None when there is none.

        Steps forward from ``since``; for cron schedules at most
        :data:`MAX_STEPS` ticks are examined, and past that the latest tick
        reached is returned (the caller only needs *a* recent tick).
        """
        if self.every is not None:
            period = _ms(self.every)
            latest = _EPOCH + timedelta(milliseconds=math.floor(_ms(now - _EPOCH) / period) * period)
            return latest if latest > since else None
        tick = self.next_after(since)
        if tick > now:
            return None
        for _ in range(MAX_STEPS):
            following = self.next_after(tick)
            if following > now:
                break
            tick = following
        return tick


MAX_STEPS = 10_000
"""Most cron ticks :meth:`Schedule.latest_at_or_before` steps through."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms(delta: timedelta) -> int:
    return delta // timedelta(milliseconds=1)


def to_ms(instant: datetime) -> int:
    """Milliseconds since the Unix epoch of an aware datetime (Redis's clock unit)."""
    return _ms(instant - _EPOCH)


def from_ms(ms: int) -> datetime:
    """The aware UTC datetime ``ms`` milliseconds after the Unix epoch."""
    return _EPOCH + timedelta(milliseconds=ms)
