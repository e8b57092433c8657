"""Operating queues by hand: pause, listings with filters, retry, delete, purge, history."""

from __future__ import annotations

import anyio
import pytest
from redis.asyncio import Redis

from aioresque import Call, ConfigurationError, JobFilter, JobNotFound, JobStatus, Queue, Worker, _admin
from aioresque._admin import history_points, job_time_ms, parse_statuses
from tests import jobs_for_tests


async def _burst(queue: Queue) -> None:
    with anyio.fail_after(20):
        await Worker(queue, jobs_for_tests, burst=True, concurrency=20).run()


async def _some_dead(queue: Queue) -> None:
    """5 jobs that failed (ValueError), 3 that completed, 2 unknown-handler dead jobs."""
    for i in range(5):
        await queue.enqueue("always_fails", _job_id=f"f{i}", _max_attempts=1)
    for i in range(3):
        await queue.enqueue("add", i, 1, _job_id=f"ok{i}")
    await queue.enqueue("add", 1, _job_id="bad-args")  # missing an argument: dead at once
    await _burst(queue)


# -- pure decisions ------------------------------------------------------------


def test_filter_matches_name_error_and_age() -> None:
    state = {"name": "send", "finished_at": 10_000}
    assert JobFilter().matches(state, None, 0)
    assert JobFilter(name="send").matches(state, None, 0)
    assert not JobFilter(name="other").matches(state, None, 0)
    assert JobFilter(error="timeout").matches(state, "TimeoutError: Took Too Long", 0)
    assert not JobFilter(error="timeout").matches(state, "ValueError: x", 0)
    assert JobFilter(error="lost").matches({"reason": "worker lost"}, None, 0)
    assert JobFilter(older_than=5).matches(state, None, 16_000)
    assert not JobFilter(older_than=5).matches(state, None, 14_000)
    assert JobFilter(newer_than=5).matches(state, None, 14_000)
    assert not JobFilter(newer_than=5).matches(state, None, 16_000)
    assert JobFilter().empty and not JobFilter(error="x").empty


def test_job_time_prefers_the_latest_change() -> None:
    assert job_time_ms({"enqueued_at": 1, "started_at": 2, "finished_at": 3}) == 3
    assert job_time_ms({"enqueued_at": 1}) == 1
    assert job_time_ms({}) == 0


def test_history_points_fill_gaps_and_drop_old_slots() -> None:
    now = 1000 * 60_000 + 5  # minute 1000
    fields = [b"1000:4:1", b"998:2:0", b"900:9:9", b"garbage"]
    points = history_points(fields, now, 5)
    assert [(p.completed, p.failed) for p in points] == [(0, 0), (0, 0), (2, 0), (0, 0), (4, 1)]
    assert points[-1].minute.timestamp() == 1000 * 60


def test_parse_statuses_rejects_unknown() -> None:
    assert parse_statuses("failed") == (JobStatus.FAILED,)
    assert parse_statuses(["dead", JobStatus.DEAD, "failed"]) == (JobStatus.DEAD, JobStatus.FAILED)
    with pytest.raises(ConfigurationError, match="unknown job status"):
        parse_statuses("faild")
    with pytest.raises(ConfigurationError, match="cannot be listed"):
        parse_statuses("not_found")


# -- against Redis -------------------------------------------------------------


async def test_paused_queue_is_not_claimed_and_resume_wakes_workers(queue: Queue) -> None:
    await queue.pause()
    assert await queue.is_paused()
    await queue.enqueue("add", 1, 2, _job_id="p1")
    async with Worker(queue, jobs_for_tests, concurrency=2):
        await anyio.sleep(0.5)
        assert await queue.job("p1").status() is JobStatus.QUEUED
        await queue.resume()
        assert not await queue.is_paused()
        with anyio.fail_after(3):  # woken by the marker, not the 5 s idle cap
            assert await queue.job("p1").result() == 3


async def test_pause_is_seen_by_a_busy_worker(queue: Queue) -> None:
    async with Worker(queue, jobs_for_tests, concurrency=4):
        await queue.enqueue("add", 1, 1, _job_id="before")
        with anyio.fail_after(5):
            await queue.job("before").result()
        await queue.pause()
        for i in range(10):
            await queue.enqueue("add", i, i, _job_id=f"during{i}")
        await anyio.sleep(1.0)
        overview = await queue.overview()
        assert overview.paused and overview.queued == 10 and overview.latency >= 0.5
        await queue.resume()
        with anyio.fail_after(5):
            for i in range(10):
                await queue.job(f"during{i}").result()


async def test_pause_stops_claims_made_while_settling(queue: Queue) -> None:
    # A busy worker claims its next jobs in the same call that records outcomes
    # (settle.lua): the pause flag must stop that path too.
    await queue.enqueue_many(Call("sleep", (0.2,), job_id=f"s{i}") for i in range(40))
    async with Worker(queue, jobs_for_tests, concurrency=2):
        with anyio.fail_after(5):
            while (await queue.overview()).counters.get("completed", 0) < 2:
                await anyio.sleep(0.02)
        await queue.pause()
        await anyio.sleep(0.5)  # jobs claimed before the pause finish
        started = 40 - (await queue.overview()).queued
        await anyio.sleep(1.0)
        overview = await queue.overview()
        assert 40 - overview.queued == started and overview.active == 0
        await queue.resume()


async def test_listing_and_filters(queue: Queue) -> None:
    await _some_dead(queue)
    page = await queue.list_jobs(["failed", "dead"])
    assert page.total == 6 and page.exact
    assert {j.id for j in page.jobs} == {"f0", "f1", "f2", "f3", "f4", "bad-args"}
    failed = await queue.list_jobs("failed", JobFilter(error="broken handler"))
    assert failed.total == 5 and all(j.name == "always_fails" for j in failed.jobs)
    assert failed.jobs[0].error is not None and "ValueError" in failed.jobs[0].error
    assert (await queue.list_jobs("failed", JobFilter(name="add"))).total == 0
    second = await queue.list_jobs("failed", JobFilter(name="always_fails"), offset=2, limit=2)
    assert second.total == 5 and len(second.jobs) == 2
    done = await queue.list_jobs("complete")
    assert done.total == 3 and {j.result for j in done.jobs} == {1, 2, 3}
    assert (await queue.list_jobs("failed", JobFilter(older_than=3600))).total == 0


async def test_listing_queued_jobs_next_to_run_first(queue: Queue) -> None:
    for i in range(7):
        await queue.enqueue("add", i, 0, _job_id=f"q{i}")
    page = await queue.list_jobs("queued", offset=1, limit=3)
    assert page.total == 7
    assert [j.id for j in page.jobs] == ["q1", "q2", "q3"]
    assert page.jobs[0].args == (1, 0)
    await queue.enqueue("add", 1, 1, _job_id="later", _delay=60)
    assert [j.id for j in (await queue.list_jobs("scheduled")).jobs] == ["later"]
    assert (await queue.list_jobs("retrying")).total == 0


async def test_retry_revives_dead_jobs_with_fresh_attempts(queue: Queue) -> None:
    await _some_dead(queue)
    moved = await queue.retry_jobs(["f0", "f1", "ok0", "nope"])
    assert moved == 2
    info = await queue.job("f0").info()
    assert info.status is JobStatus.QUEUED and info.attempts == 0 and info.failures == 0
    assert (await queue.overview()).queued == 2
    assert (await queue.overview()).counters["revived"] == 2


async def test_retry_scheduled_job_runs_now(queue: Queue) -> None:
    await queue.enqueue("add", 2, 2, _job_id="s", _delay=3600)
    assert await queue.retry_jobs(["s"]) == 1
    assert await queue.job("s").status() is JobStatus.QUEUED
    await _burst(queue)
    assert await queue.job("s").result(timeout=1) == 4


async def test_delete_removes_every_record_and_wakes_waiters(queue: Queue, redis: Redis) -> None:
    await _some_dead(queue)
    await queue.enqueue("add", 1, 1, _job_id="waiting")

    async def wait() -> None:
        with pytest.raises(JobNotFound):
            await queue.job("waiting").result(timeout=10)

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        await anyio.sleep(0.2)
        assert await queue.delete_jobs(["f0", "waiting", "ok1"]) == 3
    for job_id in ("f0", "waiting", "ok1"):
        assert await queue.job(job_id).status() is JobStatus.NOT_FOUND
        assert not await redis.hexists(queue.keys.jobs, job_id)
    overview = await queue.overview()
    assert overview.queued == 0 and overview.dead == 5 and overview.completed_kept == 2


async def test_delete_skips_running_jobs(queue: Queue) -> None:
    async with Worker(queue, jobs_for_tests):
        job = await queue.enqueue("sleep", 1.0)
        with anyio.fail_after(5):
            while await job.status() is not JobStatus.ACTIVE:
                await anyio.sleep(0.02)
        assert await queue.delete_jobs([job.id]) == 0
        assert await job.result(timeout=5) == 1.0


async def test_purge_deletes_waiting_jobs_in_batches(queue: Queue) -> None:
    await queue.enqueue_many(Call("add", (i, i)) for i in range(1200))
    await queue.enqueue("add", 0, 0, _job_id="later", _delay=60)
    seen: list[tuple[int, int]] = []
    deleted = await _purge(queue, seen)
    assert deleted == 1200
    assert seen[-1][0] == 1200 and len(seen) == 3
    overview = await queue.overview()
    assert overview.queued == 0 and overview.scheduled == 1
    assert await queue.redis.hlen(queue.keys.jobs) == 1


async def _purge(queue: Queue, seen: list[tuple[int, int]]) -> int:
    return await _admin.purge(queue, lambda done, total: seen.append((done, total)))


async def test_history_counts_outcomes_per_minute(queue: Queue) -> None:
    await _some_dead(queue)
    points = await queue.history(5)
    assert len(points) == 5
    assert sum(p.completed for p in points) == 3
    assert sum(p.failed for p in points) == 6


async def test_bulk_operations_on_a_filtered_set(queue: Queue) -> None:
    await _some_dead(queue)
    assert await _admin.retry_matching(queue, "failed", JobFilter(error="BROKEN")) == 5
    deleted, running = await _admin.delete_matching(queue, "dead")
    assert (deleted, running) == (1, 0)
    assert (await queue.overview()).dead == 0


async def test_top_errors_group_messages_that_differ_in_numbers(queue: Queue) -> None:
    await queue.enqueue_many(Call("fails_with", (n,)) for n in range(7))
    await queue.enqueue("add", 1)  # a different error
    await _burst(queue)
    top = await _admin.top_errors(queue)
    assert [(name, count) for name, _, count in top] == [("fails_with", 7), ("add", 1)]
    assert top[0][1].startswith("LookupError: no row ")
    assert sum(count for _, _, count in await _admin.top_errors(queue, newest=3)) == 3
