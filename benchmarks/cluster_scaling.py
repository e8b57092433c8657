"""Throughput with queues spread over a 3-master Redis Cluster versus one node.

Usage: ``python benchmarks/cluster_scaling.py [--jobs N] [--queues Q] [--workers W] [--repeats R]``

Starts its own servers (one ``redis-server``, and a 3-master cluster of real
``redis-server --cluster-enabled yes`` processes), enqueues N noop jobs spread
over Q queues (on a cluster the queues land on different masters), then runs
W real worker processes (``python -m aioresque worker ... --burst``) until
every job is done. Prints the median jobs/s of each setup and their ratio.

On a 2-core machine the worker processes, not Redis, are the bottleneck, so
expect a ratio near (or below) 1: the cluster pays for parallel per-node
requests and per-queue blocking waits. The cluster's value is headroom when
Redis's CPU is the limit, which needs more cores than this machine has.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aioresque import Call, Queue  # noqa: E402 - after the path tweak
from tests.redis_cluster import RedisCluster  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402


async def _enqueue(url: str, prefix: str, jobs: int, queues: list[str]) -> None:
    async with Queue.from_url(url, prefix=prefix) as queue:
        batch = 1000
        for start in range(0, jobs, batch):
            calls = [Call("noop", (i,), queue=queues[i % len(queues)]) for i in range(start, min(jobs, start + batch))]
            await queue.enqueue_many(calls)


async def _completed(url: str, prefix: str, queues: list[str]) -> int:
    async with Queue.from_url(url, prefix=prefix) as queue:
        total = 0
        for name in queues:
            total += (await queue.sibling(name).statistics()).counters.get("completed", 0)
        return total


def run_once(url: str, jobs: int, queue_count: int, workers: int) -> float:
    """Enqueue, drain with real worker processes, return jobs per second."""
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    queues = [f"q{i}" for i in range(queue_count)]
    asyncio.run(_enqueue(url, prefix, jobs, queues))
    command = [
        sys.executable,
        "-m",
        "aioresque",
        "worker",
        "benchmarks.cluster_jobs",
        "--burst",
        "--redis-url",
        url,
        "--prefix",
        prefix,
        "--queues",
        ",".join(queues),
        "--concurrency",
        "100",
        "--log-level",
        "WARNING",
    ]
    started = time.perf_counter()
    procs = [subprocess.Popen(command, cwd=ROOT) for _ in range(workers)]
    for proc in procs:
        proc.wait()
    elapsed = time.perf_counter() - started
    done = asyncio.run(_completed(url, prefix, queues))
    if done != jobs:
        raise RuntimeError(f"{done} of {jobs} jobs completed")
    return jobs / elapsed


def main() -> None:
    """Run both setups and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--queues", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        single = RedisServer(Path(tmp) / "single")
        cluster = RedisCluster(Path(tmp) / "cluster", start_port=32000)
        single.start()
        cluster.start()
        try:
            results: dict[str, list[float]] = {"one node": [], "3-master cluster": []}
            for _ in range(args.repeats):
                results["one node"].append(run_once(single.url, args.jobs, args.queues, args.workers))
                results["3-master cluster"].append(run_once(cluster.url, args.jobs, args.queues, args.workers))
        finally:
            single.stop()
            cluster.stop()
    medians = {name: statistics.median(values) for name, values in results.items()}
    print(
        f"{args.jobs} noop jobs over {args.queues} queues, {args.workers} worker processes x concurrency 100, "
        f"median of {args.repeats}:"
    )
    for name, value in medians.items():
        print(f"  {name:18} {value:8.0f} jobs/s   runs: {', '.join(f'{v:.0f}' for v in results[name])}")
    print(f"  cluster / one node: {medians['3-master cluster'] / medians['one node']:.2f}x")


if __name__ == "__main__":
    main()
