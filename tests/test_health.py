"""Queue error streaks: the backoff a worker gives a queue holding garbage."""

from __future__ import annotations

from aioresque._health import QueueHealth


def test_first_error_starts_a_streak_and_pauses_the_queue() -> None:
    health = QueueHealth(first=1.0, cap=4.0)
    assert health.usable("q", 0.0)
    assert health.failed("q", 10.0) is True
    assert not health.usable("q", 10.5)
    assert health.usable("q", 11.0)
    assert health.usable("other", 10.5)
    assert health.failing() == ("q",)


def test_pauses_double_up_to_the_cap_and_are_logged_once() -> None:
    health = QueueHealth(first=1.0, cap=4.0)
    health.failed("q", 0.0)
    assert health.failed("q", 0.0) is False  # same streak: not logged again
    assert not health.usable("q", 1.9) and health.usable("q", 2.0)
    health.failed("q", 0.0)
    health.failed("q", 0.0)
    assert not health.usable("q", 3.9) and health.usable("q", 4.0)  # capped
    assert health.errors == 4


def test_success_ends_the_streak() -> None:
    health = QueueHealth()
    assert health.succeeded("q") is False
    health.failed("q", 0.0)
    assert health.succeeded("q") is True
    assert health.usable("q", 0.0)
    assert health.failing() == ()
