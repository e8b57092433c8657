"""The scheduling, retry, unique-job and middleware examples run as their docs pages show."""

from __future__ import annotations

from aioresque import Queue
from examples import cron_jobs, delayed_jobs, middleware, retries, unique_jobs


async def test_delayed_jobs_example(redis_url: str, prefix: str) -> None:
    assert await delayed_jobs.main(redis_url, prefix) == ["reminded ada", "cancelled"]


async def test_retries_example(redis_url: str, prefix: str) -> None:
    ok, failed = await retries.main(redis_url, prefix)
    assert ok == "charged order 42 on attempt 3"
    assert failed == "NonRetryable: order -1 does not exist"


async def test_cron_jobs_example(redis_url: str, prefix: str, queue: Queue) -> None:
    assert await cron_jobs.main(redis_url, prefix) == [
        "heartbeat: every 0:00:01",
        "morning_report: cron 30 7 * * mon-fri (Europe/Berlin) (paused)",
    ]


async def test_unique_jobs_example(redis_url: str, prefix: str) -> None:
    assert await unique_jobs.main(redis_url, prefix) == [True, True, True, True]


async def test_middleware_example(redis_url: str, prefix: str) -> None:
    assert await middleware.main(redis_url, prefix) == "invoice 1001 sent for request req-42"
