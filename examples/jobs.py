"""Example jobs module: run it with ``python -m aioresque worker examples.jobs``."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import aioresque

log = logging.getLogger("examples.jobs")


@aioresque.on_startup
async def open_resources(resources: dict[str, Any]) -> None:
    """Runs once per worker: open shared clients here (a DB pool, an HTTP client)."""
    resources["greeting"] = "hello"


@aioresque.on_shutdown
async def close_resources(resources: dict[str, Any]) -> None:
    """Runs once when the worker stops: close what ``open_resources`` opened."""
    resources.clear()


@aioresque.job
async def add(a: int, b: int) -> int:
    """The smallest job there is."""
    return a + b


@aioresque.job(max_attempts=5, timeout=30)
async def send_email(to: str, subject: str) -> str:
    """Pretend to send an email (an I/O wait), and say which attempt did it."""
    ctx = aioresque.current_job()
    await asyncio.sleep(0.05)
    return f"{ctx.resources.get('greeting', 'hi')} {to}: {subject!r} sent on attempt {ctx.attempt}"


@aioresque.job
def checksum(text: str) -> str:
    """A plain ``def`` handler: runs in a worker thread, so blocking code is fine."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@aioresque.job
async def fan_out(n: int) -> int:
    """Enqueue follow-up jobs from inside a job, through the job's queue."""
    queue = aioresque.current_job().queue
    await queue.enqueue_many([aioresque.Call("add", (i, i)) for i in range(n)])
    return n


@aioresque.job
async def export_report(rows: int) -> dict[str, int]:
    """A long job that reports its progress: followers see it through ``Job.events()``."""
    ctx = aioresque.current_job()
    for done in range(1, rows + 1):
        await asyncio.sleep(0.05)  # one row's work
        await ctx.set_progress(done / rows, f"{done} of {rows} rows")
    return {"rows": rows}
