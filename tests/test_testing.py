"""aioresque.testing: fake and inline queues, without a Redis server."""

from __future__ import annotations

import dataclasses
from typing import Any

import anyio
import pytest

import aioresque
from aioresque import Call, ConfigurationError, JobStatus, Unique
from aioresque.testing import FakeQueue, InlineQueue
from tests import jobs_for_testing_mode as jobs

pytest_plugins = ("pytester",)


async def test_fake_collects_jobs_and_drain_runs_them() -> None:
    queue = FakeQueue(jobs)
    job = await jobs.add.enqueue(queue, 2, 3)
    email = await jobs.send_email.enqueue(queue, "ada@example.com", subject="Hi")
    assert [(j.name, j.queue, j.status) for j in queue.jobs] == [
        ("add", "default", JobStatus.QUEUED),
        ("send_email", "emails", JobStatus.QUEUED),
    ]
    assert await job.status() is JobStatus.QUEUED
    ran = await queue.drain()
    assert [r.name for r in ran] == ["add", "send_email"] and queue.jobs == []
    assert await job.result(timeout=1) == 5
    assert await email.result() == "hello ada@example.com: Hi (attempt 1 on emails)"
    assert (await email.info()).status is JobStatus.COMPLETE
    stats = await queue.sibling("emails").statistics()
    assert (stats.completed_kept, stats.counters) == (1, {"enqueued": 1, "completed": 1})
    assert await queue.known_queues() == ["default", "emails"]


async def test_run_one_runs_the_oldest_job_and_jobs_enqueue_through_the_fake() -> None:
    queue = FakeQueue(jobs)
    await jobs.fan_out.enqueue(queue, 2)
    first = await queue.run_one()
    assert first is not None and first.name == "fan_out" and first.result == 2
    assert [(j.name, j.args) for j in queue.jobs] == [("add", (0, 0)), ("add", (1, 1))]
    assert [r.result for r in await queue.drain()] == [0, 2]
    assert await queue.run_one() is None


async def test_arguments_go_through_the_serializer_and_size_check() -> None:
    queue = FakeQueue(jobs, max_payload_bytes=100)
    with pytest.raises(aioresque.SerializationError, match="argument 'subject'"):
        await jobs.send_email.enqueue(queue, "x", subject=object())  # type: ignore[call-overload]
    with pytest.raises(aioresque.PayloadTooLarge):
        await jobs.checksum.enqueue(queue, "x" * 200)
    await queue.enqueue("add", (1, 2), 3)  # a tuple reads back as a list, as in a worker
    assert queue.jobs[0].args == ([1, 2], 3)
    with pytest.raises(ConfigurationError, match="_delay"):
        await jobs.add.options(delay=-1).enqueue(queue, 1, 2)
    assert len(queue.jobs) == 1


async def test_assertion_helpers_compare_as_the_handler_sees_the_call() -> None:
    queue = FakeQueue(jobs)
    await jobs.send_email.enqueue(queue, "ada@example.com", subject="Hi")
    assert queue.assert_enqueued(jobs.send_email).kwargs == {"subject": "Hi"}
    queue.assert_enqueued(jobs.send_email, to="ada@example.com", subject="Hi")
    queue.assert_enqueued("send_email", "ada@example.com", subject="Hi")
    with pytest.raises(AssertionError, match=r"no job send_email\(to='bob@example.com'\).*enqueued: send_email"):
        queue.assert_enqueued(jobs.send_email, to="bob@example.com")
    queue.assert_not_enqueued(jobs.add)
    with pytest.raises(AssertionError, match="expected no send_email job"):
        queue.assert_not_enqueued("send_email")
    queue.clear()
    assert queue.all_jobs == [] and queue.enqueued() == []


async def test_idempotent_ids_and_options_are_kept() -> None:
    queue = FakeQueue(jobs)
    first = await jobs.add.options(job_id="once", delay=60, max_attempts=5, timeout=2).enqueue(queue, 1, 1)
    again = await jobs.add.options(job_id="once").enqueue(queue, 9, 9)
    assert first == again and len(queue.all_jobs) == 1
    record = queue.all_jobs[0]
    assert (record.status, record.delay, record.max_attempts, record.timeout) == (JobStatus.SCHEDULED, 60, 5, 2)
    info = await first.info()
    assert info.due_at is not None and info.args == (1, 1)
    assert await queue.job("nope").status() is JobStatus.NOT_FOUND
    with pytest.raises(aioresque.JobNotFound):
        await queue.job("nope").result()


async def test_failures_raise_by_default_and_retry_like_a_worker_otherwise() -> None:
    queue = FakeQueue(jobs)
    job = await jobs.flaky.enqueue(queue, "a", 1)
    with pytest.raises(ValueError, match="failure 1"):
        await queue.drain()
    assert queue.jobs[0].status is JobStatus.RETRYING and queue.jobs[0].error == "ValueError: failure 1"
    await queue.drain()
    assert await job.result() == "ok"

    patient = FakeQueue(jobs, raise_errors=False)
    ok = await jobs.flaky.enqueue(patient, "b", 2)
    doomed = await jobs.flaky.enqueue(patient, "c", 5)
    await patient.drain()
    assert await ok.result() == "ok"
    with pytest.raises(aioresque.JobFailed, match="failure 3") as failed:
        await doomed.result()
    assert "ValueError" in (failed.value.traceback or "")
    info = await doomed.info()
    assert (info.status, info.attempts, info.failures) == (JobStatus.FAILED, 3, 3)


async def test_timeouts_bad_arguments_and_bad_results_end_the_job() -> None:
    queue = FakeQueue(jobs, raise_errors=False)
    slow = await jobs.slow.options(max_attempts=1).enqueue(queue)
    bad_args = await queue.enqueue("add", 1, 2, 3)
    bad_result = await jobs.returns_a_set.enqueue(queue)
    await queue.drain()
    with pytest.raises(aioresque.JobFailed, match="TimeoutError"):
        await slow.result()
    with pytest.raises(aioresque.JobDead, match="BadArguments"):
        await bad_args.result()
    with pytest.raises(aioresque.JobDead, match="cannot be serialized"):
        await bad_result.result()


async def test_unknown_handlers_and_redis_only_methods_fail_clearly() -> None:
    queue = FakeQueue()
    await queue.enqueue("add", 1, 2)
    with pytest.raises(ConfigurationError, match=r"no handler named 'add'.*pass your jobs module"):
        await queue.drain()
    assert len(queue.jobs) == 1  # still there: nothing was lost
    with pytest.raises(ConfigurationError, match="a fake queue has no Redis"):
        _ = queue.redis.ping


async def test_result_waits_until_the_job_runs() -> None:
    queue = FakeQueue(jobs)
    job = await jobs.add.enqueue(queue, 1, 2)
    with pytest.raises(aioresque.ResultTimeout, match="drain"):
        await job.result(timeout=0.01)
    import anyio

    async with anyio.create_task_group() as tg:
        results: list[int] = []

        async def wait() -> None:
            results.append(await job.result(timeout=5))

        tg.start_soon(wait)
        await anyio.sleep(0.01)
        await queue.drain()
    assert results == [3]


async def test_hooks_run_around_the_jobs() -> None:
    jobs.calls.clear()
    async with FakeQueue(jobs) as queue:
        await jobs.checksum.enqueue(queue, "abc")
        assert jobs.calls == []
        assert [r.result for r in await queue.drain()] == ["checksum:3"]
        assert jobs.calls == ["startup"]
    assert jobs.calls == ["startup", "shutdown"]


async def test_inline_runs_jobs_as_they_are_enqueued() -> None:
    queue = InlineQueue(jobs)
    job = await jobs.fan_out.enqueue(queue, 3)
    assert await job.status() is JobStatus.COMPLETE and queue.jobs == []
    assert [r.result for r in queue.enqueued(jobs.add)] == [0, 2, 4]
    with pytest.raises(LookupError):
        aioresque.current_job()  # the job's context ended with it
    with pytest.raises(ValueError, match="failure 1"):
        await jobs.flaky.enqueue(queue, "inline", 1)
    patient = InlineQueue(jobs, raise_errors=False)
    retried = await jobs.flaky.enqueue(patient, "inline-2", 2)
    assert (await retried.info()).attempts == 3 and await retried.result() == "ok"


async def test_fake_keeps_unique_jobs_unique_per_mode() -> None:
    queue = FakeQueue(jobs)
    first = await queue.enqueue("add", 1, 2, _unique=True)
    assert (await queue.enqueue("add", 1, 2, _unique=True)).id == first.id  # same name and arguments
    assert (await queue.enqueue("add", 2, 2, _unique=True)).id != first.id
    keyed = await queue.enqueue_many([Call.of("add", 1, 1, _unique="k"), Call.of("add", 5, 5, _unique="k")])
    assert keyed[0].id == keyed[1].id  # within one batch too
    record = queue.record(first.id)
    assert len(queue.enqueued("add")) == 3 and record is not None and record.unique_key is not None
    assert record.unique_key.startswith("add:")  # derived as a real queue derives it
    await queue.drain()
    # until="finished" (the default): released once the job finished.
    assert (await queue.enqueue("add", 1, 2, _unique=True)).id != first.id
    # until="queued": a duplicate is refused only while the job waits.
    waiting = await queue.enqueue("add", 3, 3, _unique=Unique("q", until="queued"))
    assert (await queue.enqueue("add", 3, 3, _unique=Unique("q", until="queued"))).id == waiting.id
    # until="ttl": held after the job finished, until the ttl ends.
    ttl = await queue.enqueue("add", 4, 4, _unique=Unique("t", until="ttl", ttl=0.2))
    await queue.drain()
    assert await ttl.status() is JobStatus.COMPLETE
    assert (await queue.enqueue("add", 4, 4, _unique=Unique("t", until="ttl", ttl=0.2))).id == ttl.id
    await anyio.sleep(0.25)
    assert (await queue.enqueue("add", 4, 4, _unique=Unique("t", until="ttl", ttl=0.2))).id != ttl.id
    queue.clear()
    assert (await queue.enqueue("add", 3, 3, _unique=Unique("q", until="queued"))).id != waiting.id


async def test_unique_locks_hold_while_running_per_mode() -> None:
    seen: dict[str, str] = {}

    @aioresque.job(unique=True)
    async def sync_user(user: int) -> None:
        queue = aioresque.current_job().queue
        seen["finished"] = (await sync_user.enqueue(queue, user)).id  # the running job holds its lock

    @aioresque.job(unique=Unique(until="queued"))
    async def refresh(user: int) -> None:
        queue = aioresque.current_job().queue
        seen["queued"] = (await refresh.enqueue(queue, user)).id  # started: a new one may wait

    inline = InlineQueue([sync_user])
    running = await sync_user.enqueue(inline, 1)
    assert seen["finished"] == running.id and len(inline.enqueued(sync_user)) == 1
    queue = FakeQueue([refresh])
    first = await refresh.enqueue(queue, 1)
    await queue.run_one()
    assert seen["queued"] != first.id and [r.id for r in queue.jobs] == [seen["queued"]]


async def test_fake_runs_the_enqueue_middleware_chain() -> None:
    order: list[str] = []

    async def outer(call: Call, call_next: aioresque.EnqueueNext) -> aioresque.Job[Any]:
        order.append(f"outer:{call.name}")
        return await call_next(dataclasses.replace(call, meta={"request": "r-1"}))

    async def inner(call: Call, call_next: aioresque.EnqueueNext) -> aioresque.Job[Any]:
        order.append(f"inner:{(call.meta or {}).get('request')}")
        if call.name == "checksum":
            return await call_next(dataclasses.replace(call, args=("changed",)))
        return await call_next(call)

    queue = FakeQueue(jobs, middleware=[outer])
    queue.add_middleware(inner)
    await queue.enqueue_many([Call.of("add", 1, 2), Call.of("checksum", "x")])
    await queue.sibling("emails").enqueue("send_email", "a@b")  # siblings share the chain
    assert order == ["outer:add", "inner:r-1", "outer:checksum", "inner:r-1", "outer:send_email", "inner:r-1"]
    queue.assert_enqueued(jobs.checksum, "changed")
    assert queue.enqueued(jobs.add)[0].meta == {"request": "r-1"}


async def test_inline_runs_perform_middleware_around_each_attempt() -> None:
    events: list[str] = []

    async def trace(ctx: aioresque.JobContext, call_next: aioresque.PerformNext) -> Any:
        events.append(f"start {ctx.name}#{ctx.attempt} meta={dict(ctx.meta)}")
        try:
            result = await call_next()
        except Exception as exc:
            events.append(f"error {type(exc).__name__}")
            raise
        events.append(f"done {result!r}")
        return result

    async def tag(call: Call, call_next: aioresque.EnqueueNext) -> aioresque.Job[Any]:
        return await call_next(dataclasses.replace(call, meta={"trace": "t-9"}))

    queue = InlineQueue(jobs, middleware=[tag], perform_middleware=[trace], raise_errors=False)
    job = await jobs.add.enqueue(queue, 2, 3)
    assert await job.result() == 5
    await jobs.flaky.enqueue(queue, "mw", 1)
    assert events == [
        "start add#1 meta={'trace': 't-9'}",
        "done 5",
        "start flaky#1 meta={'trace': 't-9'}",
        "error ValueError",
        "start flaky#2 meta={'trace': 't-9'}",
        "done 'ok'",
    ]
    fake = FakeQueue(jobs, perform_middleware=[trace])
    await fake.enqueue("add", 1, 1)
    events.clear()
    await fake.drain()
    assert events == ["start add#1 meta={}", "done 2"]


def test_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import pytest
pytest_plugins = ["aioresque.testing.pytest_plugin"]

@pytest.fixture
def aioresque_functions():
    from tests import jobs_for_testing_mode
    return jobs_for_testing_mode
"""
    )
    pytester.makepyfile(
        """
from tests import jobs_for_testing_mode as jobs

async def test_fake(fake_queue):
    await jobs.add.enqueue(fake_queue, 1, 2)
    fake_queue.assert_enqueued(jobs.add, 1, 2)
    assert [r.result for r in await fake_queue.drain()] == [3]

async def test_inline(inline_queue):
    job = await jobs.add.enqueue(inline_queue, 2, 2)
    assert await job.result() == 4
"""
    )
    result = pytester.runpytest_inprocess(
        "-p", "asyncio", "-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function"
    )
    result.assert_outcomes(passed=2)
