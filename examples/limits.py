"""Limits: at most N running at once, N starts per period, per key; across every worker."""

from __future__ import annotations

import asyncio

import aioresque
from aioresque import RateLimit


@aioresque.job(concurrency=2)  # at most 2 running at once, across all workers of the queue
async def render_report(report_id: int) -> str:
    await asyncio.sleep(0.05)
    return f"report {report_id}"


@aioresque.job(rate=RateLimit(10, per=1.0))  # at most 10 starts in any one-second window
async def call_partner_api(n: int) -> int:
    return n


# One job at a time per customer; different customers run side by side.
@aioresque.job(concurrency=1, limit_key=lambda customer_id, **_: customer_id)
async def sync_customer(customer_id: str, full: bool = False) -> str:
    await asyncio.sleep(0.05)
    return f"synced {customer_id}"


async def main(redis_url: str, prefix: str = "aioresque") -> list[str]:
    async with aioresque.Queue.from_url(redis_url, prefix=prefix) as queue:
        reports = [await render_report.enqueue(queue, i) for i in range(4)]
        # Typed enqueues compute the limit key; by name, pass it yourself:
        syncs = [await sync_customer.enqueue(queue, "acme"), await sync_customer.enqueue(queue, "globex")]
        syncs.append(await queue.enqueue("sync_customer", "acme", full=True, _limit_key="acme"))
        calls = [await call_partner_api.enqueue(queue, n) for n in range(3)]

        async with aioresque.Worker(queue, [render_report, call_partner_api, sync_customer], concurrency=20):
            done = [await job.result(timeout=10) for job in (*reports, *syncs)]
            await asyncio.gather(*(job.result(timeout=10) for job in calls))
        return done
