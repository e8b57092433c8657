"""Middleware: carry a request id from the producer to the worker, and time every job."""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import time
from typing import Any

import aioresque
from aioresque import Call, EnqueueNext, Job, JobContext, PerformNext

log = logging.getLogger("app")
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


async def propagate_request_id(call: Call, call_next: EnqueueNext) -> Job[Any]:
    """Producer side: stamp each job with the current request id."""
    meta = {**(call.meta or {}), "request_id": request_id.get()}
    return await call_next(dataclasses.replace(call, meta=meta))


async def restore_request_id(ctx: JobContext, call_next: PerformNext) -> Any:
    """Worker side: make the producer's request id current while the job runs, and time it."""
    token = request_id.set(ctx.meta.get("request_id", "-"))
    started = time.perf_counter()
    try:
        return await call_next()
    finally:
        log.info("job %s took %.3f s", ctx.name, time.perf_counter() - started)
        request_id.reset(token)


@aioresque.job
async def send_invoice(invoice: int) -> str:
    return f"invoice {invoice} sent for request {request_id.get()}"


async def main(redis_url: str, prefix: str = "aioresque") -> str:
    queue = aioresque.Queue.from_url(redis_url, prefix=prefix, middleware=[propagate_request_id])
    async with queue:
        request_id.set("req-42")  # e.g. set by your web framework's middleware
        job = await send_invoice.enqueue(queue, 1001)
        async with aioresque.Worker(queue, [send_invoice], middleware=[restore_request_id]):
            return await job.result(timeout=5)
