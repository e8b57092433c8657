"""Backoff: pure retry-delay decisions."""

from __future__ import annotations

import random

import pytest

from aioresque import Backoff


def test_delays_grow_exponentially_with_half_jitter() -> None:
    backoff = Backoff(base=1, factor=2, cap=300)
    rng = random.Random(1)
    for failures, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8)]:
        for _ in range(50):
            delay = backoff.delay(failures, rng)
            assert ceiling / 2 <= delay <= ceiling


def test_delays_are_capped() -> None:
    backoff = Backoff(base=1, factor=10, cap=30)
    assert all(15 <= backoff.delay(20) <= 30 for _ in range(50))


def test_failures_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        Backoff().delay(0)
