"""Cron expressions: parsing five-field specs and finding the next tick (pure, no Redis).

``Cron.parse("*/5 * * * *")`` understands the classic five fields::

    minute (0-59)  hour (0-23)  day of month (1-31)  month (1-12, jan-dec)  day of week (0-7, sun-sat)

(0 and 7 are both Sunday in the day-of-week field.)

Each field is ``*``, a number, a name, a range ``a-b``, a step ``*/n`` or
``a-b/n`` or ``a/n`` (from ``a`` to the end), or a comma-separated list of
these. As in Vixie cron, when both day fields are restricted a day matches
if *either* matches; when one is ``*`` only the other counts.

Time zones and daylight saving time (:meth:`Cron.next_after`) follow cron's
usual rules, computed with :mod:`zoneinfo`:

* a wall-clock time that does not exist (the hour skipped when clocks go
  forward) fires once, shifted by the gap: ``30 2 * * *`` fires at 03:30
  on that day;
* a wall-clock time that happens twice (the hour repeated when clocks go
  back) fires once, on its first pass, when the hour field is fixed
  (``30 2 * * *``); when the hour field is ``*`` or ``*/n`` the schedule
  keeps firing through both passes, as real time goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ._errors import ConfigurationError

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_SEARCH_YEARS = 8  # long enough for "0 0 29 2 *" (leap days) with room to spare


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTHS, 1),
    _Field("day of week", 0, 7, _DAYS, 0),
)


@dataclass(frozen=True, slots=True)
class Cron:
    """A parsed cron expression: the set of values each field allows.

    Attributes:
        expression: the text it was parsed from.
        minutes, hours, days, months, weekdays: allowed values (weekdays
            0-6, Sunday is 0).
        day_restricted, weekday_restricted: whether the day-of-month and
            day-of-week fields were anything but ``*``.
        hour_wildcard: whether the hour field was ``*`` or ``*/n`` (see the
            module docstring on repeated hours).
    """

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    day_restricted: bool
    weekday_restricted: bool
    hour_wildcard: bool

    @classmethod
    def parse(cls, expression: str) -> Cron:
        """Parse a five-field expression, or an alias such as ``@hourly``.

        Raises:
            ConfigurationError: naming the field and the part that is wrong.
        """
        text = _ALIASES.get(expression.strip().lower(), expression)
        parts = text.split()
        if len(parts) != 5:
            raise ConfigurationError(
                f"cron expression {expression!r} has {len(parts)} fields; expected 5 "
                "(minute hour day-of-month month day-of-week)"
            )
        values = [_parse_field(part, spec, expression) for part, spec in zip(parts, _FIELDS, strict=True)]
        weekdays = frozenset(d % 7 for d in values[4])
        return cls(
            expression,
            frozenset(values[0]),
            frozenset(values[1]),
            frozenset(values[2]),
            frozenset(values[3]),
            weekdays,
            parts[2] != "*",
            parts[4] != "*",
            parts[1] == "*" or parts[1].startswith("*/"),
        )

    def matches_day(self, day: datetime) -> bool:
        """Whether the calendar date of ``day`` (a wall-clock datetime) is allowed."""
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.isoweekday() % 7) in self.weekdays
        if self.day_restricted and self.weekday_restricted:
            return in_days or in_weekdays
        return in_days and in_weekdays

    def next_after(self, after: datetime, tz: ZoneInfo | None = None) -> datetime:
        """The first tick strictly after ``after``, as an aware datetime in ``tz``.

        Args:
            after: an aware datetime.
            tz: the zone the expression's wall-clock times are in (default UTC).

        Raises:
            ValueError: ``after`` is naive.
            ConfigurationError: the expression never matches (e.g. ``0 0 31 2 *``).
        """
        if after.tzinfo is None:
            raise ValueError("next_after needs an aware datetime")
        zone = tz or ZoneInfo("UTC")
        after_utc = after.astimezone(UTC)
        local = after_utc.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0, fold=0)
        # Start an hour early: a tick in a repeated hour may lie before
        # `after`'s wall-clock reading yet after it in real time.
        wall = local - timedelta(hours=1)
        limit = local + timedelta(days=366 * _SEARCH_YEARS)
        while wall <= limit:
            if not self.matches_day(wall):
                wall = (wall + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if wall.hour not in self.hours:
                wall = (wall + timedelta(hours=1)).replace(minute=0)
                continue
            if wall.minute not in self.minutes:
                wall += timedelta(minutes=1)
                continue
            best = self._instant(wall, zone, after_utc)
            if best is not None:
                if self.hour_wildcard:
                    # In a repeated hour a later wall-clock time may come
                    # earlier in real time (its first pass): look one more hour.
                    best = min([best, *self._instants(wall, wall + timedelta(minutes=61), zone, after_utc)])
                return best.astimezone(zone)
            wall += timedelta(minutes=1)
        raise ConfigurationError(f"cron expression {self.expression!r} never matches")

    def _instants(self, start: datetime, end: datetime, zone: ZoneInfo, after_utc: datetime) -> list[datetime]:
        """Instants after ``after_utc`` of the matching wall-clock minutes in ``(start, end]``."""
        found = []
        wall = start + timedelta(minutes=1)
        while wall <= end:
            if self.matches_day(wall) and wall.hour in self.hours and wall.minute in self.minutes:
                instant = self._instant(wall, zone, after_utc)
                if instant is not None:
                    found.append(instant)
            wall += timedelta(minutes=1)
        return found

    def _instant(self, wall: datetime, zone: ZoneInfo, after_utc: datetime) -> datetime | None:
        """The earliest real instant of wall-clock ``wall`` after ``after_utc``, if any."""
        # A time in a gap takes the offset from before the gap (fold 0), which
        # lands after the gap; fold 1 would land before it, on an earlier tick.
        folds = (0, 1) if self.hour_wildcard and not _in_gap(wall, zone) else (0,)
        found: datetime | None = None
        for fold in folds:
            instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
            if instant > after_utc and (found is None or instant < found):
                found = instant
        return found


def _in_gap(wall: datetime, zone: ZoneInfo) -> bool:
    """Whether wall-clock ``wall`` does not exist in ``zone`` (clocks jumped past it)."""
    aware = wall.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall


def _parse_field(text: str, spec: _Field, expression: str) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        values |= _parse_part(part, spec, expression)
    return values


def _parse_part(part: str, spec: _Field, expression: str) -> set[int]:
    def bad(why: str) -> ConfigurationError:
        return ConfigurationError(f"cron expression {expression!r}: {spec.name} field {part!r}: {why}")

    if not part:
        raise bad("empty list item")
    body, _, step_text = part.partition("/")
    step = 1
    if step_text or part.endswith("/"):
        if not step_text.isdigit() or int(step_text) < 1:
            raise bad("the step must be a whole number of at least 1")
        step = int(step_text)
    if body == "*":
        low, high = spec.low, spec.high
    elif "-" in body:
        first, _, last = body.partition("-")
        low, high = _value(first, spec, bad), _value(last, spec, bad)
        if low > high:
            raise bad(f"the range runs backwards ({low} > {high})")
    else:
        low = _value(body, spec, bad)
        high = spec.high if step_text else low
    return set(range(low, high + 1, step))


def _value(text: str, spec: _Field, bad: Callable[[str], ConfigurationError]) -> int:
    lowered = text.lower()
    if lowered in spec.names:
        return spec.names.index(lowered) + spec.name_base
    if not text.isdigit():
        raise bad("not a number" + (f" or a name ({', '.join(spec.names)})" if spec.names else ""))
    value = int(text)
    if not spec.low <= value <= spec.high:
        raise bad(f"{value} is outside {spec.low}-{spec.high}")
    return value
