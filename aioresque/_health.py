"""Which queues a worker leaves alone for a while, and for how long.

A queue whose keys hold garbage (a string where the queue's list belongs,
say) makes every script on it fail with a Redis error. The worker must not
stop for that: it logs the first error of a streak, leaves that queue alone
for a backoff that doubles up to a cap, and keeps serving its other queues
(and the queue again once the garbage is gone). Pure bookkeeping: the caller
passes the time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FIRST_PAUSE = 1.0
"""Seconds a queue is left alone after its first error."""
MAX_PAUSE = 30.0
"""Longest pause between tries of a failing queue (seconds)."""


@dataclass(slots=True)
class _Streak:
    errors: int
    until: float


@dataclass(slots=True)
class QueueHealth:
    """Error streaks per queue name."""

    first: float = FIRST_PAUSE
    cap: float = MAX_PAUSE
    _streaks: dict[str, _Streak] = field(default_factory=dict)
    errors: int = 0
    """Errors counted since the worker started."""

    def usable(self, name: str, now: float) -> bool:
        """True unless ``name`` is inside its backoff pause at ``now``."""
        streak = self._streaks.get(name)
        return streak is None or now >= streak.until

    def failed(self, name: str, now: float) -> bool:
        """Record an error on ``name``; True when it starts a new streak (log it then)."""
        self.errors += 1
        streak = self._streaks.get(name)
        if streak is None:
            self._streaks[name] = _Streak(1, now + self.first)
            return True
        streak.errors += 1
        streak.until = now + min(self.cap, self.first * 2 ** (streak.errors - 1))
        return False

    def succeeded(self, name: str) -> bool:
        """Record a success on ``name``; True when it ends a streak (log it then)."""
        return self._streaks.pop(name, None) is not None

    def failing(self) -> tuple[str, ...]:
        """Names of the queues in an error streak."""
        return tuple(self._streaks)
