"""Retries: per-handler backoff, retry_on, Retry(delay=...) and NonRetryable."""

from __future__ import annotations

import aioresque
from aioresque import Backoff, NonRetryable, Retry


class TemporaryError(Exception):
    """A network hiccup worth retrying."""


@aioresque.job(
    max_attempts=5,
    backoff=Backoff(base=0.05, factor=2, cap=1),  # this handler's delays
    retry_on=(TemporaryError,),  # anything else fails the job at once
)
async def charge(order: int) -> str:
    attempt = aioresque.current_job().attempt
    if order < 0:
        raise NonRetryable(f"order {order} does not exist")  # no retry, whatever is left
    if attempt == 1:
        # The API answered 429 "retry after 0.1 s": wait exactly that long.
        raise Retry(delay=0.1, reason="rate limited")
    if attempt == 2:
        raise TemporaryError("connection reset")  # retried with the backoff above
    return f"charged order {order} on attempt {attempt}"


async def main(redis_url: str, prefix: str = "aioresque") -> list[str]:
    async with aioresque.Queue.from_url(redis_url, prefix=prefix) as queue:
        good = await charge.enqueue(queue, 42)
        bad = await charge.enqueue(queue, -1)
        async with aioresque.Worker(queue, [charge]):
            ok = await good.result(timeout=10)
            try:
                await bad.result(timeout=10)
            except aioresque.JobFailed as exc:
                failed = exc.error
        info = await good.info()
        print(f"attempts={info.attempts} failures={info.failures}")
        return [ok, failed]
