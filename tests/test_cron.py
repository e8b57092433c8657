"""Cron expressions and schedules: parsing and next-tick decisions (pure, no Redis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from aioresque import ConfigurationError, Schedule
from aioresque._cron import Cron

BERLIN = ZoneInfo("Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_fields_ranges_steps_lists_and_names() -> None:
    cron = Cron.parse("*/15 9-17/4 1,15 jan-mar,DEC mon-fri")
    assert cron.minutes == {0, 15, 30, 45}
    assert cron.hours == {9, 13, 17}
    assert cron.days == {1, 15}
    assert cron.months == {1, 2, 3, 12}
    assert cron.weekdays == {1, 2, 3, 4, 5}
    assert Cron.parse("5/20 * * * 7").minutes == {5, 25, 45}
    assert Cron.parse("0 0 * * 7").weekdays == {0}  # 7 is Sunday too
    assert Cron.parse("@hourly").minutes == {0}


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "has 4 fields"),
        ("60 * * * *", "minute field '60': 60 is outside 0-59"),
        ("* 5-2 * * *", "runs backwards"),
        ("*/0 * * * *", "step must be"),
        ("* * * foo *", "not a number or a name"),
        ("1,,2 * * * *", "empty list item"),
        ("* * 0 * *", "outside 1-31"),
    ],
)
def test_bad_expressions_are_refused_with_the_field_named(expression: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace("*", r"\*")):
        Cron.parse(expression)


def test_next_after_steps_forward_strictly() -> None:
    cron = Cron.parse("*/5 * * * *")
    assert cron.next_after(utc(2026, 1, 1, 10, 0)) == utc(2026, 1, 1, 10, 5)
    assert cron.next_after(utc(2026, 1, 1, 10, 3, 59)) == utc(2026, 1, 1, 10, 5)
    assert Cron.parse("0 0 1 1 *").next_after(utc(2026, 6, 1)) == utc(2027, 1, 1)


def test_day_fields_match_either_when_both_are_restricted() -> None:
    # The 13th, or any Friday (Vixie cron's rule).
    cron = Cron.parse("0 0 13 * fri")
    ticks = [utc(2026, 2, 1)]
    for _ in range(4):
        ticks.append(cron.next_after(ticks[-1]))
    assert [t.day for t in ticks[1:]] == [6, 13, 20, 27]  # Feb 2026: Fridays 6,13,20,27
    only_weekday = Cron.parse("0 0 * * mon")
    assert only_weekday.next_after(utc(2026, 2, 1)).isoweekday() == 1


def test_a_leap_day_is_found_years_ahead() -> None:
    tick = Cron.parse("0 0 29 2 *").next_after(utc(2025, 3, 1))
    assert tick == utc(2028, 2, 29)


def test_an_expression_that_never_matches_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="never matches"):
        Cron.parse("0 0 31 2 *").next_after(utc(2026, 1, 1))


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        Cron.parse("* * * * *").next_after(datetime(2026, 1, 1))


def test_wall_clock_times_follow_the_zone() -> None:
    cron = Cron.parse("0 9 * * *")
    winter = cron.next_after(utc(2026, 1, 10), BERLIN)
    summer = cron.next_after(utc(2026, 7, 10), BERLIN)
    assert (winter.hour, winter.utcoffset()) == (9, timedelta(hours=1))
    assert (summer.hour, summer.utcoffset()) == (9, timedelta(hours=2))


def test_a_time_in_the_spring_gap_fires_once_shifted_by_the_gap() -> None:
    # Berlin skips 02:00-03:00 on 2026-03-29.
    tick = Cron.parse("30 2 * * *").next_after(utc(2026, 3, 28, 12), BERLIN)
    assert tick.astimezone(UTC) == utc(2026, 3, 29, 1, 30)  # 03:30 CEST
    assert Cron.parse("30 2 * * *").next_after(tick, BERLIN).astimezone(UTC) == utc(2026, 3, 30, 0, 30)


def test_every_five_minutes_across_the_spring_gap_keeps_real_time_steps() -> None:
    cron = Cron.parse("*/30 * * * *")
    tick = utc(2026, 3, 29, 0, 0)  # 01:00 CET
    seen = []
    for _ in range(5):
        tick = cron.next_after(tick, BERLIN)
        seen.append(tick.astimezone(UTC))
    assert seen == [utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 30),
                    utc(2026, 3, 29, 2, 0), utc(2026, 3, 29, 2, 30)]  # fmt: skip


def test_a_fixed_time_in_the_repeated_autumn_hour_fires_once() -> None:
    # Berlin repeats 02:00-03:00 on 2026-10-25 (00:00-01:00 UTC, then 01:00-02:00 UTC).
    cron = Cron.parse("30 2 * * *")
    first = cron.next_after(utc(2026, 10, 24, 12), BERLIN)
    assert first.astimezone(UTC) == utc(2026, 10, 25, 0, 30)
    assert cron.next_after(first, BERLIN).astimezone(UTC) == utc(2026, 10, 26, 1, 30)


def test_a_wildcard_hour_fires_through_both_passes_of_the_repeated_hour() -> None:
    cron = Cron.parse("0,30 * * * *")
    tick = utc(2026, 10, 24, 23, 45)
    seen = []
    for _ in range(5):
        tick = cron.next_after(tick, BERLIN)
        seen.append(tick.astimezone(UTC))
    assert seen == [utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 0),
                    utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 2, 0)]  # fmt: skip


def test_interval_schedules_align_to_the_epoch() -> None:
    schedule = Schedule.of(every=timedelta(seconds=10))
    assert schedule.next_after(utc(2026, 1, 1, 0, 0, 3)) == utc(2026, 1, 1, 0, 0, 10)
    assert schedule.next_after(utc(2026, 1, 1, 0, 0, 10)) == utc(2026, 1, 1, 0, 0, 20)
    assert schedule.describe() == "every 0:00:10"


def test_latest_tick_in_a_window_is_the_missed_tick_that_fires() -> None:
    cron = Schedule.of(cron="0 * * * *", tz="Europe/Berlin")
    assert cron.latest_at_or_before(utc(2026, 1, 1, 5, 30), utc(2026, 1, 1, 1, 0)) == utc(2026, 1, 1, 5)
    assert cron.latest_at_or_before(utc(2026, 1, 1, 5, 30), utc(2026, 1, 1, 5, 0)) is None
    every = Schedule.of(every=60)
    assert every.latest_at_or_before(utc(2026, 1, 1, 5, 30, 59), utc(2026, 1, 1)) == utc(2026, 1, 1, 5, 30)
    assert every.latest_at_or_before(utc(2026, 1, 1, 5, 30, 59), utc(2026, 1, 1, 5, 30)) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of"),
        ({"cron": "* * * * *", "every": 5}, "exactly one of"),
        ({"every": 0.5}, "at least 1 s"),
        ({"every": 5, "tz": "UTC"}, "cron= schedules only"),
        ({"cron": "* * * * *", "tz": "Mars/Olympus"}, "unknown time zone"),
    ],
)
def test_bad_schedules_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Schedule.of(**kwargs)  # type: ignore[arg-type]
