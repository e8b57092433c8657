"""aioresque jobs; worker: ``python -m aioresque worker benchmarks.peers.aioresque_jobs``."""

from __future__ import annotations

import aioresque

from ._body import body, sleepy_body


@aioresque.job
async def noop(i: int) -> None:
    """Count one completion."""
    await body(i)


@aioresque.job
async def sleepy(i: int) -> None:
    """Sleep 10 ms, then count one completion."""
    await sleepy_body(i)
