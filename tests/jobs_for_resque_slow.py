"""A ``SendEmail`` handler that takes a little while, so a SIGKILL lands mid-drain (``test_resque_ruby.py``)."""

from __future__ import annotations

import asyncio
from typing import Any

import aioresque
from tests.jobs_for_resque import record


@aioresque.job(name="SendEmail")
async def send_email(*args: Any) -> None:
    """Sleep 10 ms, then record the run."""
    await asyncio.sleep(0.01)
    await record(*args)
