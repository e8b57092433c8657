"""Redis outages: a worker rides out a Redis restart; producers get ConnectionLost."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import anyio
import pytest

from aioresque import Call, ConnectionLost, JobStatus, Queue
from tests.cli_helpers import ROOT, worker_command
from tests.redis_server import RedisServer


def spawn_logged(command: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start a process in the repo root with its output in ``log_path``."""
    with log_path.open("wb") as log:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
async def test_worker_survives_a_redis_restart_and_nothing_is_lost(tmp_path: Path, kill: bool) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=True)
    server.start()
    log_path = tmp_path / "worker.log"
    queue = Queue.from_url(server.url, prefix="outage")
    try:
        jobs = await queue.enqueue_many([Call("sleep", (1.0,)) for _ in range(20)])
        proc = spawn_logged(worker_command(server.url, "outage", "--lease", "5", "--concurrency", "10"), log_path)
        try:
            with anyio.fail_after(10):
                while await queue.redis.zcard(queue.keys.active) < 10:
                    await anyio.sleep(0.02)
            server.stop(kill=kill)  # jobs are in flight
            with pytest.raises(ConnectionLost):
                await queue.enqueue("add", 1, 1)
            with pytest.raises(ConnectionLost):
                await jobs[0].status()
            await anyio.sleep(1.5)  # the running jobs finish while Redis is away
            assert proc.poll() is None, "the worker must not exit"
            server.start()  # same port, same AOF
            with anyio.fail_after(30):
                results = [await job.result(timeout=30) for job in jobs]
            assert results == [1.0] * 20
            assert all([await job.status() is JobStatus.COMPLETE for job in jobs])
            proc.send_signal(signal.SIGTERM)
            assert await anyio.to_thread.run_sync(lambda: proc.wait(timeout=10)) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    finally:
        await queue.close()
        server.stop()
    output = log_path.read_text()
    # Logged once per outage, not once per attempt.
    assert output.count("Redis unreachable") == 1, output
    assert output.count("Redis reachable again") == 1, output
