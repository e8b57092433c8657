"""The command line: real worker processes, exit codes and signals."""

from __future__ import annotations

import signal
import sys
import time

import anyio
import pytest

from aioresque import Call, JobStatus, Queue
from tests.cli_helpers import run, spawned, worker_command


async def wait_for_status(queue: Queue, job_id: str, status: JobStatus, timeout: float = 10) -> None:
    with anyio.fail_after(timeout):
        while await queue.job(job_id).status() is not status:
            await anyio.sleep(0.02)


def test_unimportable_module_is_a_one_line_error(redis_url: str, prefix: str) -> None:
    result = run(worker_command(redis_url, prefix, module="no.such.module"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "aioresque: cannot import module 'no.such.module': ModuleNotFoundError: No module named 'no'"
    ]


def test_module_without_handlers_is_a_one_line_error(redis_url: str, prefix: str) -> None:
    result = run(worker_command(redis_url, prefix, module="tests.cli_helpers"))
    assert result.returncode == 2
    assert result.stderr.strip() == "aioresque: module 'tests.cli_helpers' defines no @aioresque.job handler"


def test_bad_option_is_a_usage_error(redis_url: str, prefix: str) -> None:
    result = run(worker_command(redis_url, prefix, "--concurrency", "0"))
    assert result.returncode == 2
    assert "must be at least 1" in result.stderr


def test_console_script_and_module_share_the_parser() -> None:
    result = run([sys.executable, "-m", "aioresque", "worker", "--help"])
    assert result.returncode == 0
    for option in ("--redis-url", "--queues", "--concurrency", "--burst", "--lease", "--grace", "--log-level"):
        assert option in result.stdout


async def test_burst_worker_processes_jobs_and_exits(redis_url: str, prefix: str, queue: Queue) -> None:
    jobs = await queue.enqueue_many([Call("add", (i, 1)) for i in range(20)])
    jobs.append(await queue.enqueue("add", 1, 1, _queue="low"))
    result = await anyio.to_thread.run_sync(
        lambda: run(worker_command(redis_url, prefix, "--burst", "--queues", "default,low"))
    )
    assert result.returncode == 0, result.stderr
    assert [await job.result(timeout=1) for job in jobs] == [*(i + 1 for i in range(20)), 2]
    # One readable line per start and per finish.
    assert result.stderr.count(" add started (attempt 1)") == 21
    assert result.stderr.count(" add complete in ") == 21


async def test_redis_url_from_the_environment(
    redis_url: str, prefix: str, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await queue.enqueue("add", 2, 2)
    monkeypatch.setenv("AIORESQUE_REDIS_URL", redis_url)
    command = [c for c in worker_command("unused", prefix, "--burst") if c not in ("--redis-url", "unused")]
    result = await anyio.to_thread.run_sync(lambda: run(command))
    assert result.returncode == 0, result.stderr
    assert await job.result(timeout=1) == 4


async def test_sigterm_hands_back_in_flight_jobs(redis_url: str, prefix: str, queue: Queue) -> None:
    job = await queue.enqueue("sleep", 30)
    with spawned(worker_command(redis_url, prefix, "--grace", "0.5")) as proc:
        await wait_for_status(queue, job.id, JobStatus.ACTIVE)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = await anyio.to_thread.run_sync(lambda: proc.wait(timeout=10))
    assert code == 0
    assert time.monotonic() - started < 3
    info = await job.info()
    assert (info.status, info.attempts) == (JobStatus.QUEUED, 0)


async def test_second_signal_exits_at_once(redis_url: str, prefix: str, queue: Queue) -> None:
    job = await queue.enqueue("sleep", 30)
    with spawned(worker_command(redis_url, prefix, "--grace", "20")) as proc:
        await wait_for_status(queue, job.id, JobStatus.ACTIVE)
        proc.send_signal(signal.SIGINT)
        await anyio.sleep(0.3)
        assert proc.poll() is None  # waiting out the grace period
        proc.send_signal(signal.SIGINT)
        code = await anyio.to_thread.run_sync(lambda: proc.wait(timeout=5))
    assert code == 1
    assert await job.status() is JobStatus.ACTIVE  # its lease will expire and recover it


async def test_usr2_pauses_and_cont_resumes(redis_url: str, prefix: str, queue: Queue) -> None:
    with spawned(worker_command(redis_url, prefix)) as proc:
        first = await queue.enqueue("add", 1, 1)
        assert await first.result(timeout=10) == 2
        proc.send_signal(signal.SIGUSR2)
        await anyio.sleep(0.3)
        second = await queue.enqueue("add", 2, 2)
        await anyio.sleep(0.5)
        assert await second.status() is JobStatus.QUEUED
        proc.send_signal(signal.SIGCONT)
        assert await second.result(timeout=5) == 4
        proc.send_signal(signal.SIGTERM)
        assert await anyio.to_thread.run_sync(lambda: proc.wait(timeout=10)) == 0
