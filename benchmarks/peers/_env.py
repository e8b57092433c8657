"""Settings the harness passes to every worker process through the environment."""

from __future__ import annotations

import os

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6399/0")
"""Where the library keeps its queues (the harness's own Redis, database 0)."""
QUEUE = "bench"
"""The queue name every library uses."""


def concurrency() -> int | None:
    """The concurrency to run with, or None for the library's default."""
    value = os.environ.get("BENCH_CONCURRENCY", "")
    return int(value) if value else None
