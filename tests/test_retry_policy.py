"""Per-handler retry policy: Retry, NonRetryable, retry_on, backoff, hooks; delayed jobs with _at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

import aioresque
from aioresque import Backoff, Call, ConfigurationError, JobContext, JobFailed, JobStatus, Queue, Worker
from aioresque._handler import retry_verdict
from aioresque.testing import FakeQueue

events: list[tuple[str, Any]] = []


class Flaky(Exception):
    pass


@aioresque.job(max_attempts=5, backoff=Backoff(base=0.05, cap=0.05))
async def ask_for_retry(delay: float) -> int:
    attempt = aioresque.current_job().attempt
    if attempt < 3:
        raise aioresque.Retry(delay=delay)
    return attempt


@aioresque.job(max_attempts=5, backoff=Backoff(base=0.01, cap=0.01))
async def give_up() -> None:
    raise aioresque.NonRetryable("the card was declined")


@aioresque.job(max_attempts=5, retry_on=(Flaky,), backoff=Backoff(base=0.01, cap=0.01))
async def picky(kind: str) -> None:
    raise Flaky("try again") if kind == "flaky" else ValueError("bug")


async def before(ctx: JobContext) -> None:
    events.append(("before", ctx.args))


async def after(ctx: JobContext, result: Any) -> None:
    events.append(("after", result))


async def on_failure(ctx: JobContext, exc: BaseException) -> None:
    events.append(("on_failure", type(exc).__name__))
    raise RuntimeError("a failing hook is only logged")


@aioresque.job(max_attempts=2, backoff=Backoff(base=0.01, cap=0.01), before=before, after=after, on_failure=on_failure)
async def hooked(fail: bool) -> str:
    if fail:
        raise Flaky("boom")
    return "ok"


HANDLERS: list[aioresque.JobFunction[Any, Any]] = [ask_for_retry, give_up, picky, hooked]


def test_retry_verdict_is_pure() -> None:
    assert retry_verdict(picky, Flaky()) and not retry_verdict(picky, ValueError())
    assert retry_verdict(picky, None)  # a timeout is retried
    assert retry_verdict(picky, aioresque.Retry()) and not retry_verdict(None, aioresque.NonRetryable())
    assert retry_verdict(hooked, ValueError())
    with pytest.raises(ConfigurationError, match="negative"):
        aioresque.Retry(delay=-1)
    with pytest.raises(ConfigurationError, match="retry_on"):
        aioresque.job(retry_on=("ValueError",))(hooked.fn)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="async"):
        aioresque.job(before=print)(hooked.fn)  # type: ignore[arg-type]


async def _drain(queue: Queue, *jobs: aioresque.Job[Any]) -> None:
    async with Worker(queue, HANDLERS):
        with anyio.fail_after(10):
            for job in jobs:
                while not (await job.status()).finished:
                    await anyio.sleep(0.02)


async def test_retry_runs_again_after_its_delay_and_counts_as_an_attempt(queue: Queue) -> None:
    job = await ask_for_retry.enqueue(queue, 0.3)
    started = anyio.current_time()
    await _drain(queue, job)
    assert await job.result() == 3
    assert anyio.current_time() - started >= 0.6  # two requested delays of 0.3 s
    info = await job.info()
    assert (info.attempts, info.failures) == (3, 2)


async def test_retry_stops_when_attempts_run_out(queue: Queue) -> None:
    job = await ask_for_retry.options(max_attempts=2).enqueue(queue, 0.0)
    await _drain(queue, job)
    with pytest.raises(JobFailed, match="Retry"):
        await job.result()


async def test_retrying_jobs_show_their_attempts_and_next_run(queue: Queue) -> None:
    job = await ask_for_retry.enqueue(queue, 60.0)
    async with Worker(queue, HANDLERS):
        with anyio.fail_after(10):
            while await job.status() != JobStatus.RETRYING:
                await anyio.sleep(0.02)
    info = await job.info()
    assert info.attempts == 1 and info.due_at is not None
    assert timedelta(seconds=50) < info.due_at - datetime.now(UTC) < timedelta(seconds=70)


async def test_non_retryable_fails_at_once(queue: Queue) -> None:
    job = await give_up.enqueue(queue)
    await _drain(queue, job)
    assert await job.status() == JobStatus.FAILED
    assert (await job.info()).attempts == 1
    with pytest.raises(JobFailed, match="NonRetryable: the card was declined"):
        await job.result()


async def test_retry_on_retries_only_the_listed_types(queue: Queue) -> None:
    flaky, buggy = await picky.enqueue(queue, "flaky"), await picky.enqueue(queue, "bug")
    await _drain(queue, flaky, buggy)
    assert ((await flaky.info()).attempts, (await buggy.info()).attempts) == (5, 1)
    assert await buggy.status() == JobStatus.FAILED


async def test_before_after_and_on_failure_hooks(queue: Queue) -> None:
    events.clear()
    ok = await hooked.enqueue(queue, False)
    await _drain(queue, ok)
    assert events == [("before", (False,)), ("after", "ok")]
    events.clear()
    bad = await hooked.enqueue(queue, True)
    await _drain(queue, bad)
    assert events == [("before", (True,)), ("on_failure", "Flaky")] * 2
    assert (await bad.info()).attempts == 2


async def test_fake_queue_honours_the_retry_policy() -> None:
    queue = FakeQueue(HANDLERS, raise_errors=False)
    await give_up.enqueue(queue)
    await picky.enqueue(queue, "bug")
    records = await queue.drain()
    assert [(r.status, r.attempts) for r in records] == [(JobStatus.FAILED, 1), (JobStatus.FAILED, 1)]


# -- delayed jobs: _at ----------------------------------------------------------


async def test_at_schedules_for_an_aware_datetime_and_is_listed_and_cancellable(queue: Queue) -> None:
    at = datetime.now(UTC) + timedelta(hours=1)
    job = await queue.enqueue("add", 1, 2, _at=at)
    info = await job.info()
    assert info.status == JobStatus.SCHEDULED and info.due_at is not None
    assert abs((info.due_at - at).total_seconds()) < 5
    page = await queue.list_jobs(JobStatus.SCHEDULED)
    assert [j.id for j in page.jobs] == [job.id]
    assert await queue.cancel(job.id)
    assert await job.status() == JobStatus.CANCELLED
    assert (await queue.statistics()).scheduled == 0


async def test_at_in_the_past_runs_now_and_typed_options_take_at(queue: Queue) -> None:
    late = await hooked.options(at=datetime.now(UTC) - timedelta(minutes=5)).enqueue(queue, False)
    assert await late.status() == JobStatus.QUEUED
    soon = await queue.enqueue_many([Call.of("add", 1, 2, _at=datetime.now(UTC) + timedelta(seconds=0.3))])
    assert await soon[0].status() == JobStatus.SCHEDULED


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"_at": datetime(2030, 1, 1)}, "aware datetime"),
        ({"_at": datetime(2030, 1, 1, tzinfo=UTC), "_delay": 5}, "not both"),
        ({"_at": "2030-01-01"}, "must be a datetime"),
    ],
)
async def test_bad_at_is_refused_and_nothing_is_enqueued(queue: Queue, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        await queue.enqueue("add", 1, 2, **options)
    assert (await queue.statistics()).counters.get("enqueued", 0) == 0


async def test_fake_queue_runs_the_handler_hooks() -> None:
    events.clear()
    queue = FakeQueue(HANDLERS, raise_errors=False)
    await hooked.enqueue(queue, False)
    await hooked.enqueue(queue, True)
    await queue.drain()
    assert events == [("before", (False,)), ("after", "ok")] + [("before", (True,)), ("on_failure", "Flaky")] * 2
