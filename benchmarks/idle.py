"""Redis commands an idle aioresque worker sends, counting the commands inside its scripts.

Usage: ``python benchmarks/idle.py [--seconds S] [--queues Q]``

Starts its own ``redis-server``, starts one real worker process
(``python -m aioresque worker benchmarks.peers.aioresque_jobs``) on Q empty
queues, lets it settle for 3 s, then reads ``INFO commandstats`` before and
after S seconds (default 60). Redis 7 counts the commands a Lua script runs
there too, so the figure is the work an idle worker makes Redis do, not just
its round trips. Prints commands per second and the per-command counts.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._server import RedisServer  # noqa: E402 - after the path fix above

IGNORED = {"info", "config|resetstat", "ping", "hello", "client|setinfo", "select"}


def _calls(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def main() -> None:
    """Run the measurement and print the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--queues", type=int, default=1)
    args = parser.parse_args()
    queues = ",".join(f"idle{i}" for i in range(args.queues))
    with RedisServer() as server:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "aioresque", "worker", "benchmarks.peers.aioresque_jobs"]
        cmd += ["--redis-url", server.url(), "--queues", queues, "--log-level", "WARNING"]
        worker = subprocess.Popen(cmd, env=env, cwd=ROOT)
        try:
            client = redis.Redis(port=server.port)
            time.sleep(3)
            before = _calls(client)
            time.sleep(args.seconds)
            after = _calls(client)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    delta = {k: v - before.get(k, 0) for k, v in after.items() if k not in IGNORED and v - before.get(k, 0) > 0}
    total = sum(delta.values())
    print(f"idle worker, {args.queues} queue(s): {total / args.seconds:.2f} commands/s over {args.seconds:.0f} s")
    print("  " + ", ".join(f"{k} {v}" for k, v in sorted(delta.items(), key=lambda kv: -kv[1])))


if __name__ == "__main__":
    main()
