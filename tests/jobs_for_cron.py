"""A jobs module with periodic handlers, for the scheduler's multi-process tests."""

from __future__ import annotations

from datetime import timedelta

import aioresque


@aioresque.job(every=timedelta(seconds=1))
async def every_second() -> str:
    """Runs once per second of wall-clock time, however many workers run."""
    return aioresque.current_job().job_id


@aioresque.job(cron="0 0 1 1 *", tz="Europe/Berlin", queue="yearly")
async def new_year() -> None:
    """Never fires during a test: it only shows up in listings."""
