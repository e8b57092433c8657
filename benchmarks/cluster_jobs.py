"""Jobs for ``benchmarks/cluster_scaling.py``: a noop handler."""

from __future__ import annotations

import aioresque


@aioresque.job
async def noop(i: int) -> int:
    """Do nothing; the queue's ``completed`` counter records the run."""
    return i
