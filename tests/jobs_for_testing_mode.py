"""Handlers for tests/test_testing.py (fake and inline queues)."""

from __future__ import annotations

from typing import Any

import aioresque

calls: list[str] = []


@aioresque.on_startup
async def open_resources(resources: dict[str, Any]) -> None:
    resources["greeting"] = "hello"
    calls.append("startup")


@aioresque.on_shutdown
async def close_resources(resources: dict[str, Any]) -> None:
    calls.append("shutdown")


@aioresque.job
async def add(a: int, b: int) -> int:
    return a + b


@aioresque.job(queue="emails", max_attempts=3)
async def send_email(to: str, *, subject: str = "Hello") -> str:
    ctx = aioresque.current_job()
    return f"{ctx.resources['greeting']} {to}: {subject} (attempt {ctx.attempt} on {ctx.queue.name})"


@aioresque.job
def checksum(text: str) -> str:
    ctx = aioresque.current_job()  # a plain def handler sees its context too
    return f"{ctx.name}:{len(text)}"


@aioresque.job
async def fan_out(n: int) -> int:
    for i in range(n):
        await add.enqueue(None, i, i)
    return n


flaky_failures: dict[str, int] = {}


@aioresque.job(max_attempts=3)
async def flaky(key: str, fail_times: int) -> str:
    seen = flaky_failures.get(key, 0)
    if seen < fail_times:
        flaky_failures[key] = seen + 1
        raise ValueError(f"failure {seen + 1}")
    return "ok"


@aioresque.job(timeout=0.05)
async def slow() -> None:
    import anyio

    await anyio.sleep(10)


@aioresque.job
async def returns_a_set() -> set[int]:
    return {1}
