"""Handlers the tests run, in a module so CLI tests can import it too."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

import aioresque

calls: list[tuple[str, Any]] = []
"""Records what ran in-process (tests clear it)."""


@aioresque.on_startup
async def startup(resources: dict[str, Any]) -> None:
    resources["started"] = True
    calls.append(("startup", None))


@aioresque.on_shutdown
async def shutdown(resources: dict[str, Any]) -> None:
    calls.append(("shutdown", None))


@aioresque.job
async def add(a: int, b: int) -> int:
    return a + b


@aioresque.job
async def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"args": list(args), "kwargs": kwargs}


@aioresque.job
async def sleep(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


@aioresque.job(max_attempts=3)
async def flaky(fail_times: int, key: str) -> int:
    ctx = aioresque.current_job()
    if ctx.attempt <= fail_times:
        raise RuntimeError(f"attempt {ctx.attempt} fails")
    return ctx.attempt


@aioresque.job(max_attempts=2)
async def always_fails() -> None:
    raise ValueError("broken handler")


@aioresque.job(name="custom.name")
async def renamed() -> str:
    return "renamed"


@aioresque.job
def sync_handler(x: int) -> dict[str, Any]:
    ctx = aioresque.current_job()
    time.sleep(0.01)
    return {"x": x, "thread": threading.current_thread() is not threading.main_thread(), "job_id": ctx.job_id}


@aioresque.job
async def context() -> dict[str, Any]:
    ctx = aioresque.current_job()
    return {
        "job_id": ctx.job_id,
        "name": ctx.name,
        "queue": ctx.queue.name,
        "attempt": ctx.attempt,
        "started": ctx.resources.get("started"),
        "worker_id": ctx.worker_id,
    }


@aioresque.job(timeout=0.2, max_attempts=1)
async def too_slow() -> None:
    await asyncio.sleep(30)


@aioresque.job(max_attempts=1)
async def raises_system_exit() -> None:
    raise SystemExit(3)


@aioresque.job(max_attempts=1)
async def raises_keyboard_interrupt() -> None:
    raise KeyboardInterrupt


@aioresque.job
async def returns_unserializable() -> object:
    return object()


@aioresque.job
async def record(tag: str) -> str:
    calls.append(("record", tag))
    return tag


@aioresque.job
async def follow_up(n: int) -> int:
    queue = aioresque.current_job().queue
    await queue.enqueue_many([aioresque.Call("record", (f"child{i}",)) for i in range(n)])
    return n


@aioresque.job
async def pid() -> int:
    return os.getpid()


@aioresque.job(max_attempts=1)
async def fails_with(n: int) -> None:
    raise LookupError(f"no row {n} in table t{n % 2}")


@aioresque.job
async def slow_pid(seconds: float) -> int:
    await asyncio.sleep(seconds)
    return os.getpid()
