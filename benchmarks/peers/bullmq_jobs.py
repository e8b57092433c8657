"""BullMQ (Python) jobs, and the worker: ``python -m benchmarks.peers.bullmq_jobs``.

The Python ``bullmq`` package has no worker command; a user runs a small
script like this one, which serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from bullmq import Job, Worker

from ._body import body, sleepy_body
from ._env import QUEUE, concurrency, redis_url

_HANDLERS = {"noop": body, "sleepy": sleepy_body}


async def process(job: Job, token: str) -> None:
    """Dispatch a job to its handler by name."""
    await _HANDLERS[job.name](int(job.data["i"]))


async def serve() -> None:
    """Run one worker until a stop signal arrives."""
    options: dict[str, Any] = {"connection": redis_url()}
    if (c := concurrency()) is not None:
        options["concurrency"] = c
    worker = Worker(QUEUE, process, options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await worker.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(serve())
