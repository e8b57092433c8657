"""The limits and workflows examples run as documented."""

from __future__ import annotations

from aioresque import WorkflowStatus
from examples import limits, workflows


async def test_limits_example(redis_url: str, prefix: str) -> None:
    done = await limits.main(redis_url, prefix)
    assert done == [*(f"report {i}" for i in range(4)), "synced acme", "synced globex", "synced acme"]


async def test_workflows_example(redis_url: str, prefix: str) -> None:
    assert await workflows.main(redis_url, prefix) == [12, "squares: 14", WorkflowStatus.COMPLETE]
