"""Pure retry decisions: how long to wait before the next attempt."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter and a cap.

    The delay before retry ``n`` (1 for the first retry) is drawn uniformly
    from ``[base * factor**(n-1) / 2, base * factor**(n-1)]``, capped at
    ``cap`` seconds. Half-jitter keeps retries spread out without ever
    retrying at once.
    """

    base: float = 1.0
    factor: float = 2.0
    cap: float = 300.0

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``failures``-th failed attempt (1-based)."""
        if failures < 1:
            raise ValueError("failures counts from 1")
        ceiling = min(self.cap, self.base * self.factor ** (failures - 1))
        draw = (rng or random).random()
        return ceiling / 2 + draw * ceiling / 2
