"""Redis outages and refusals.

A worker rides out a Redis restart and producers get ConnectionLost; one
SIGTERM ends a worker within its grace even while Redis is down; a wrong
password is an authentication error, not an outage.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from datetime import datetime
from pathlib import Path

import anyio
import pytest
import redis.asyncio
import redis.exceptions

from aioresque import AuthenticationFailed, Call, ConnectionLost, JobStatus, Queue, Worker
from aioresque._outage import hand_back_reserve, shutdown_budget
from tests import jobs_for_tests
from tests.cli_helpers import ROOT, run, worker_command
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


@pytest.mark.parametrize("outage", ["sigstop", "sigkill"])
async def test_one_sigterm_ends_a_worker_within_grace_while_redis_is_down(tmp_path: Path, outage: str) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=True)
    server.start()
    pid = server.pid
    assert pid is not None
    log_path = tmp_path / "worker.log"
    queue = Queue.from_url(server.url, prefix="down")
    try:
        job = await queue.enqueue("sleep", 3.0)
        command = worker_command(server.url, "down", "--lease", "2", "--grace", "1.5")
        proc = spawn_logged(command, log_path)
        try:
            with anyio.fail_after(10):
                while await queue.redis.zcard(queue.keys.active) < 1:
                    await anyio.sleep(0.02)
            if outage == "sigstop":  # a hung Redis: commands time out, they are not refused
                os.kill(pid, signal.SIGSTOP)
            else:
                server.stop(kill=True)
            await anyio.sleep(0.5)
            started = anyio.current_time()
            proc.send_signal(signal.SIGTERM)  # one signal only
            code = await anyio.to_thread.run_sync(lambda: proc.wait(timeout=15))
            took = anyio.current_time() - started
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        assert code == 0
        # The worker is done at 1.5 s; the interpreter exits about 0.5 s later (more on a busy machine).
        assert took < 1.5 + 2.0, f"took {took:.1f} s with --grace 1.5"
        if outage == "sigstop":
            os.kill(pid, signal.SIGCONT)
        else:
            server.start()  # same port, same AOF
        # The job the worker held was not handed back: its lease covers it.
        with contextlib.suppress(redis.exceptions.ConnectionError):
            await queue.redis.ping()  # a pooled connection from before the restart fails once
        assert await queue.redis.zcard(queue.keys.active) == 1
        await anyio.sleep(2.0)  # the lease runs out
        assert await queue.recover() == 1
        with anyio.fail_after(20):
            await Worker(queue, jobs_for_tests, burst=True).run()
        assert await job.result(timeout=5) == 3.0
    finally:
        await queue.close()
        server.stop()
    output = log_path.read_text()
    assert "shutdown reached its 1.5 s grace" in output, output
    # From the worker's own log: the shutdown itself took the grace, not more.
    stamps = {
        event: datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
        for line in output.splitlines()
        for event in ("stopping (grace", " stopped")
        if line.endswith(event) or event + " 1.5 s)" in line
    }
    assert (stamps[" stopped"] - stamps["stopping (grace"]).total_seconds() < 1.5 + 0.3, output


async def test_a_wrong_password_is_an_authentication_error(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    admin = redis.asyncio.Redis.from_url(server.url)
    await admin.config_set("requirepass", "right-pass")  # after start: the start-up check PINGs without a password
    await admin.aclose()
    wrong = f"redis://:wr0ng-s3cret@127.0.0.1:{server.port}/0"
    missing = f"redis://127.0.0.1:{server.port}/0"
    try:
        for url in (wrong, missing):
            async with Queue.from_url(url, prefix="auth") as queue:
                with pytest.raises(AuthenticationFailed, match="refused the credentials") as caught:
                    await queue.enqueue("add", 1, 1)
                assert not isinstance(caught.value, ConnectionLost)
                assert "wr0ng-s3cret" not in str(caught.value)
            with anyio.fail_after(10), pytest.raises(AuthenticationFailed):
                await Worker(url, jobs_for_tests).run()  # not retried for ever
        started = anyio.current_time()
        done = await anyio.to_thread.run_sync(lambda: run(worker_command(wrong, "auth"), timeout=20))
        assert anyio.current_time() - started < 10
        assert done.returncode == 2
        last = done.stderr.splitlines()[-1]
        assert last.startswith("aioresque: Redis refused the credentials"), done.stderr
        assert "unreachable" not in done.stderr and "Traceback" not in done.stderr
        assert "wr0ng-s3cret" not in done.stderr + done.stdout
        listing = await anyio.to_thread.run_sync(
            lambda: run([*worker_command(wrong, "auth")[:3], "queues", "--redis-url", wrong, "--prefix", "auth"])
        )
        assert listing.returncode == 2 and "refused the credentials" in listing.stderr
        assert "wr0ng-s3cret" not in listing.stderr + listing.stdout
    finally:
        server.stop()


def test_the_shutdown_budget_keeps_time_for_handing_back() -> None:
    assert (hand_back_reserve(25), shutdown_budget(25)) == (1.0, 25)
    assert (hand_back_reserve(5), shutdown_budget(5)) == (0.5, 5)
    assert (hand_back_reserve(0.2), shutdown_budget(0.2)) == (0.25, 0.25)
    assert (hand_back_reserve(0), shutdown_budget(0)) == (0.25, 0.25)
