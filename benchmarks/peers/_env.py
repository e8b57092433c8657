"""Settings the harness passes to every worker process through the environment."""

from __future__ import annotations

import os

QUEUE = "bench"
"""The queue name every library uses."""


def concurrency() -> int | None:
    """The concurrency to run with, or None for the library's default."""
    value = os.environ.get("BENCH_CONCURRENCY", "")
    return int(value) if value else None


def redis_url() -> str:
    """Where the library keeps its queues (the harness's own Redis, database 0).

    Read when called, not at import: the harness imports this module
    before its server has a port.
    """
    return os.environ["BENCH_REDIS_URL"]
