"""Typed enqueueing: ``handler.enqueue(queue, ...)``, ``options()``, ``call()``, ``use_queue``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import aioresque
from aioresque import ConfigurationError, JobStatus, Queue, Worker

SAMPLE = Path(__file__).parent / "typing_samples" / "typed_enqueue.py"
ROOT = Path(__file__).parent.parent


@aioresque.job
async def add(a: int, b: int) -> int:
    return a + b


@aioresque.job(queue="emails", max_attempts=2)
def send_email(to: str, *, subject: str = "Hello") -> str:
    return f"{to}: {subject}"


@aioresque.job
async def follow_up(n: int) -> str:
    # None: the running job's queue.
    job = await add.enqueue(None, n, n)
    return job.id


async def test_enqueue_by_handler_runs_and_types_the_result(queue: Queue) -> None:
    job = await add.enqueue(queue, 20, 22)
    assert job.queue is queue
    assert (await job.info()).name == "add"
    async with Worker(queue, [add], burst=True):
        pass
    assert await job.result(timeout=5) == 42


async def test_a_handler_with_a_home_queue_goes_there(queue: Queue) -> None:
    job = await send_email.enqueue(queue, "ada@example.com", subject="Hi")
    assert job.queue.name == "emails"
    info = await job.info()
    assert (info.queue, info.args, info.kwargs) == ("emails", ("ada@example.com",), {"subject": "Hi"})
    async with Worker(queue, [send_email], queues=["emails"], burst=True):
        pass
    assert await job.result(timeout=5) == "ada@example.com: Hi"


async def test_options_apply_like_the_underscore_arguments(queue: Queue) -> None:
    configured = send_email.options(job_id="welcome-ada", queue="high", max_attempts=7, timeout=3, delay=60)
    job = await configured.enqueue(queue, "ada@example.com")
    again = await configured.enqueue(queue, "someone else")  # same id: nothing added
    assert job == again and job.id == "welcome-ada" and job.queue.name == "high"
    info = await job.info()
    assert (info.status, info.max_attempts, info.timeout, info.args) == (
        JobStatus.SCHEDULED,
        7,
        3.0,
        ("ada@example.com",),
    )
    with pytest.raises(ConfigurationError, match="_delay must not be negative"):
        await add.options(delay=-1).enqueue(queue, 1, 2)


async def test_call_builds_typed_calls_for_enqueue_many(queue: Queue) -> None:
    jobs = await queue.enqueue_many([add.call(1, 2), send_email.options(job_id="e1").call("bob@example.com")])
    assert [(j.queue.name, j.id == "e1") for j in jobs] == [("default", False), ("emails", True)]
    assert (await jobs[1].info()).args == ("bob@example.com",)


async def test_none_uses_the_bound_queue_then_the_running_job(queue: Queue) -> None:
    with pytest.raises(ConfigurationError, match="needs a queue"):
        await add.enqueue(None, 1, 2)
    with aioresque.use_queue(queue):
        bound = await add.enqueue(None, 1, 2)
    assert bound.queue is queue
    with pytest.raises(ConfigurationError):
        await add.enqueue(None, 1, 2)  # the binding ended with its block
    parent = await follow_up.enqueue(queue, 5)
    async with Worker(queue, [add, follow_up], burst=True):
        pass
    child = queue.job(await parent.result(timeout=5))
    assert await child.result(timeout=5) == 10


async def test_typed_enqueue_checks_arguments_like_enqueue(queue: Queue) -> None:
    with pytest.raises(aioresque.SerializationError, match="argument 'subject'"):
        await send_email.enqueue(queue, "x", subject=object())  # type: ignore[arg-type]


def test_mypy_reports_wrong_arguments_and_accepts_right_ones(tmp_path: Path) -> None:
    # Copied out of tests/ so the project's per-module mypy settings for
    # tests.* do not apply: the sample is checked as a user's code would be.
    sample = tmp_path / SAMPLE.name
    shutil.copy(SAMPLE, sample)
    expected = {
        (number, match.group(1))
        for number, line in enumerate(SAMPLE.read_text().splitlines(), start=1)
        if (match := re.search(r"# expect: ([a-z-]+)", line))
    }
    assert len(expected) >= 7
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file=",
            "--strict",
            "--follow-imports=silent",
            "--no-error-summary",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(sample),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    reported = {
        (int(m.group(1)), m.group(2))
        for m in re.finditer(r"^[^:\n]+:(\d+): error: .*\[([a-z-]+)\]$", proc.stdout, re.MULTILINE)
    }
    assert reported == expected, proc.stdout + proc.stderr
