"""The README's quick start, in one command: ``python examples/quickstart.py``.

It finds a Redis (``$AIORESQUE_REDIS_URL``, else ``localhost:6379``, else it
starts a private ``redis-server`` on a free port), enqueues 20 jobs from
``examples/jobs.py``, and runs a real worker process on them
(``python -m aioresque worker examples.jobs --burst``) so you can watch them
being processed; then it prints the results.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aioresque  # noqa: E402 - after the path tweak, so the repo's package is used


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _private_redis() -> tuple[str, subprocess.Popen[bytes]]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit(
            "No Redis found: install redis-server (apt-get install redis-server) or set AIORESQUE_REDIS_URL"
        )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="aioresque-quickstart-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not _reachable("127.0.0.1", port):
        if time.monotonic() > deadline:
            raise SystemExit("redis-server did not start")
        time.sleep(0.05)
    return f"redis://127.0.0.1:{port}/0", proc


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
    url = os.environ.get("AIORESQUE_REDIS_URL")
    server = None
    if url is None:
        if _reachable("127.0.0.1", 6379):
            url = "redis://127.0.0.1:6379/0"
        else:
            url, server = _private_redis()
            print(f"started a private redis-server at {url}")
    prefix = f"quickstart-{uuid.uuid4().hex[:8]}"  # a fresh namespace: nothing else is touched
    try:
        jobs = asyncio.run(_enqueue(url, prefix))
        print(f"enqueued {len(jobs)} jobs; running: python -m aioresque worker examples.jobs --burst")
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
    finally:
        if server is not None:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    raise SystemExit(main())
