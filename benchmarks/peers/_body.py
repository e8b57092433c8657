"""The job body every library runs, so completion is detected the same way for all.

Each job does one ``INCR`` on a counter key in a Redis database the harness
owns (``BENCH_COUNTER_URL``). The job whose ``INCR`` returns 1 and the one
whose ``INCR`` returns ``BENCH_TARGET`` also write a stamp (wall time and the
process's CPU time), so the harness can time a drain from the first job to
the last and read the worker's own CPU use over exactly that window. In
latency mode (``BENCH_LATENCY=1``) every job instead records when it started.

Run as ``python -m benchmarks.peers._body --loop uvloop|asyncio|sync --count N``
to measure the cost of the body alone (printed as JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

import redis
import redis.asyncio

COUNTER_KEY = "bench:done"
STAMPS_KEY = "bench:stamps"
STARTS_KEY = "bench:starts"

_TARGET = int(os.environ.get("BENCH_TARGET", "0"))
_LATENCY = os.environ.get("BENCH_LATENCY") == "1"
SLEEP_SECONDS = 0.01

_async_client: redis.asyncio.Redis | None = None
_sync_client: redis.Redis | None = None


def _loop_kind() -> str:
    try:
        module = type(asyncio.get_running_loop()).__module__
    except RuntimeError:
        return "sync"
    return "uvloop" if module.startswith("uvloop") else "asyncio"


def _stamp_fields(n: int) -> dict[str, Any]:
    which = "first" if n == 1 else "last"
    fields = {f"{which}_wall": repr(time.time()), f"{which}_cpu": repr(time.process_time())}
    return fields | {"loop": _loop_kind(), "pid": os.getpid()}


async def body(i: int) -> None:
    """The async job body: one INCR, plus a stamp on the first and last job."""
    global _async_client
    if _async_client is None:
        _async_client = redis.asyncio.Redis.from_url(os.environ["BENCH_COUNTER_URL"])
    if _LATENCY:
        started = time.time()
        pipe = _async_client.pipeline(transaction=False)
        pipe.incr(COUNTER_KEY)
        pipe.hset(STARTS_KEY, str(i), repr(started))
        await pipe.execute()
        return
    n = await _async_client.incr(COUNTER_KEY)
    if n == 1 or n == _TARGET:
        await _async_client.hset(STAMPS_KEY, mapping=_stamp_fields(n))


async def sleepy_body(i: int) -> None:
    """The async body after ``asyncio.sleep(0.01)``."""
    await asyncio.sleep(SLEEP_SECONDS)
    await body(i)


def sync_body(i: int) -> None:
    """The same body for synchronous workers (RQ)."""
    global _sync_client
    if _sync_client is None:
        _sync_client = redis.Redis.from_url(os.environ["BENCH_COUNTER_URL"])
    if _LATENCY:
        started = time.time()
        pipe = _sync_client.pipeline(transaction=False)
        pipe.incr(COUNTER_KEY)
        pipe.hset(STARTS_KEY, str(i), repr(started))
        pipe.execute()
        return
    n = _sync_client.incr(COUNTER_KEY)
    if n == 1 or n == _TARGET:
        _sync_client.hset(STAMPS_KEY, mapping=_stamp_fields(n))


def sync_sleepy_body(i: int) -> None:
    """The synchronous body after ``time.sleep(0.01)``."""
    time.sleep(SLEEP_SECONDS)
    sync_body(i)


def _probe(loop: str, count: int) -> float:
    """CPU seconds per call of the body alone, called ``count`` times in a row."""
    if loop == "sync":
        sync_body(-1)  # connect outside the measured window
        start = time.process_time()
        for i in range(count):
            sync_body(i)
        return (time.process_time() - start) / count

    async def run() -> float:
        await body(-1)
        start = time.process_time()
        for i in range(count):
            await body(i)
        return (time.process_time() - start) / count

    if loop == "uvloop":
        import uvloop

        return uvloop.run(run())
    return asyncio.run(run())


def main() -> None:
    """Print the body's CPU cost per call as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loop", choices=["uvloop", "asyncio", "sync"], required=True)
    parser.add_argument("--count", type=int, default=5000)
    args = parser.parse_args()
    print(json.dumps({"loop": args.loop, "cpu_per_call": _probe(args.loop, args.count)}))


if __name__ == "__main__":
    main()
