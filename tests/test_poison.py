"""Poison in values never stops a worker or leaves a script halfway (issue 13, items 1 and 11).

Each test writes one bad value where the scripts read it (a queue entry, a
field of a state record, a limit record, a counter, a workflow record) and
checks the invariant the fuzzer checks too: every job is in exactly one place
that matches its status, or quarantined with its reason; good jobs run; a
waiter on a bad job gets an answer instead of a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

import aioresque
from aioresque import Call, JobDead, Queue, Worker
from aioresque._decode import text
from aioresque._scheduler import fire, sync
from aioresque._serializer import loads_json
from tests import jobs_for_cron, jobs_for_limits, jobs_for_tests


def burst(queue: Queue, jobs: Any = jobs_for_tests) -> Worker:
    return Worker(queue, jobs, burst=True, concurrency=4)


async def places(queue: Queue, job_id: str) -> list[str]:
    """Every place of the queue's layout that holds ``job_id``."""
    r, k = queue.redis, queue.keys
    found = [name for name in ("scheduled", "active", "done", "dead") if await r.zscore(getattr(k, name), job_id)]
    found += ["queue"] * sum(1 for entry in await r.lrange(k.queue, 0, -1) if entry == job_id.encode())
    if await r.hexists(k.quarantine, job_id):
        found.append("quarantine")
    return found


async def test_entries_that_cannot_be_job_ids_are_quarantined_once_and_the_worker_goes_on(
    queue: Queue, caplog: pytest.LogCaptureFixture
) -> None:
    r, k = queue.redis, queue.keys
    before = await queue.enqueue_many([Call("add", (i, 1)) for i in range(3)])
    bad = [b"\xff\xfe", b"a/b", b"x" * 201, b"with space", b"\x1b[31m"]
    await r.lpush(k.queue, *bad)
    behind = await queue.enqueue_many([Call("add", (i, 2)) for i in range(3)])
    caplog.set_level(logging.WARNING, "aioresque.worker")
    with anyio.fail_after(15):
        async with burst(queue):
            pass
    assert [await j.result(timeout=1) for j in before + behind] == [1, 2, 3, 2, 3, 4]
    quarantined = await r.hgetall(k.quarantine)
    assert set(quarantined) == set(bad)  # raw bytes kept as found
    assert all(text(v).split("|", 2)[1:] == ["queue", "not a valid job id"] for v in quarantined.values())
    assert await r.llen(k.queue) == 0
    warnings = [rec.getMessage() for rec in caplog.records if "quarantine" in rec.getMessage()]
    assert sum(int(re.search(r": (\d+) entr", w)[1]) for w in warnings) == len(bad), warnings  # type: ignore[index]
    # The same bad entry met again is not reported again.
    caplog.clear()
    await r.lpush(k.queue, b"\xff\xfe")
    with anyio.fail_after(15):
        async with burst(queue):
            pass
    assert not [rec for rec in caplog.records if "quarantine" in rec.getMessage()]


BAD_FIELDS: list[tuple[str, str]] = [
    ("attempts", '"z"'),
    ("attempts", "1e400"),  # cjson decodes it as infinity, which it cannot encode again
    ("attempts", "-1"),
    ("attempts", "1.5"),
    ("failures", "[]"),
    ("lost", "-1e400"),
    ("max_attempts", '"3"'),
    ("timeout", '"y"'),
    ("status", "5"),
    ("status", '"nonsense"'),
    ("name", "{}"),
    ("enqueued_at", "1e300"),
    ("wf", "[]"),
    ("wi", '"1"'),
    ("win", "1e9"),
    ("uk", "{}"),
    ("lk", "[1]"),
    ("parked", '"yes"'),
]


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS)
async def test_a_queued_job_with_a_bad_state_field_is_quarantined_whole(queue: Queue, field: str, value: str) -> None:
    r, k = queue.redis, queue.keys
    job = await queue.enqueue("add", 1, 1)
    raw = text(await r.hget(k.state, job.id))
    record = raw[:-1] + f', "{field}": {value}}}'  # a repeated key: the last one counts
    await r.hset(k.state, job.id, record)
    behind = await queue.enqueue_many([Call("add", (i, 1)) for i in range(3)])
    with anyio.fail_after(15):
        async with burst(queue):
            pass
    assert [await j.result(timeout=1) for j in behind] == [1, 2, 3]
    assert await places(queue, job.id) == ["quarantine"]
    with anyio.fail_after(5), pytest.raises(JobDead, match="quarantined"):
        await job.result(timeout=3)  # answered at once, not a timeout
    reason = text(await r.hget(k.quarantine, job.id))
    assert reason.split("|", 2)[1] == "queue" and "state record" in reason
    assert text(await r.hget(k.state, job.id)) == record  # kept as it was


async def test_nulls_and_fields_of_a_newer_release_are_not_poison(queue: Queue) -> None:
    r, k = queue.redis, queue.keys
    job = await queue.enqueue("add", 2, 3)
    extra = (
        '"max_attempts": null, "timeout": null, "x_text": "é\\u0001", "x_flag": true, "x_n": -2.5, "x_obj": {"a": [1]}'
    )
    await r.hset(k.state, job.id, text(await r.hget(k.state, job.id))[:-1] + ", " + extra + "}")
    with anyio.fail_after(15):
        async with burst(queue):
            pass
    assert await job.result(timeout=1) == 5
    kept = loads_json(text(await r.hget(k.state, job.id)))
    assert (kept["x_text"], kept["x_flag"], kept["x_n"], kept["x_obj"]) == ("é\u0001", True, -2.5, {"a": [1]})
    assert "timeout" not in kept


release: list[asyncio.Event] = []


@aioresque.job(max_attempts=1)
async def waits() -> str:
    """Runs until the test releases it."""
    await release[-1].wait()
    return "done"


@pytest.mark.parametrize("value", ["1e400", '"z"'])
async def test_a_running_job_whose_record_goes_bad_is_quarantined_at_settle(queue: Queue, value: str) -> None:
    r, k = queue.redis, queue.keys
    release.append(asyncio.Event())
    job = await queue.enqueue("waits")
    async with Worker(queue, [waits, jobs_for_tests.add], concurrency=2):
        with anyio.fail_after(10):
            while await places(queue, job.id) != ["active"]:
                await anyio.sleep(0.02)
        raw = text(await r.hget(k.state, job.id))
        await r.hset(k.state, job.id, raw[:-1] + f',"failures":{value}}}')
        release[-1].set()
        # (A reader that cannot parse the record may call it corrupt before the settle: dead either way.)
        with anyio.fail_after(5), pytest.raises(JobDead, match=r"quarantined|corrupt"):
            await job.result(timeout=4)
        assert await places(queue, job.id) == ["quarantine"]
        after = await queue.enqueue("add", 2, 2)
        assert await after.result(timeout=5) == 4


async def test_garbage_in_a_limit_record_does_not_lose_the_job(queue: Queue) -> None:
    r, k = queue.redis, queue.keys
    await r.hset(k.limits, "limited", '{"h": [{}, 5, "x/y"], "s": ["z", 1e400], "p": "q", "r": -1}')
    await r.hset(k.limits, "rated", '{"h": "no", "s": [null, "1", 1e400], "p": 1e400}')
    jobs = [await queue.enqueue("limited", 0.01) for _ in range(3)]
    jobs += [await queue.enqueue("rated") for _ in range(3)]
    with anyio.fail_after(20):
        async with burst(queue, jobs_for_limits):
            pass
    for job in jobs:
        assert await places(queue, job.id) == ["done"]


@pytest.mark.parametrize("counter", ["enqueued", "completed", "dropped"])
async def test_a_counter_holding_garbage_restarts_instead_of_failing_a_script(
    queue: Queue, counter: str, caplog: pytest.LogCaptureFixture
) -> None:
    r, k = queue.redis, queue.keys
    await r.hset(k.stats, counter, "not a number")
    await r.lpush(k.queue, "ghost-id")  # dropped: an id with no record
    caplog.set_level(logging.ERROR, "aioresque")
    jobs = await queue.enqueue_many([Call("add", (i, 1)) for i in range(3)])  # enqueue succeeds
    with anyio.fail_after(15):
        async with burst(queue):
            pass
    assert [await j.result(timeout=1) for j in jobs] == [1, 2, 3]
    assert not caplog.records, [rec.getMessage() for rec in caplog.records]
    value = await r.hget(k.stats, counter)
    assert value is None or value.isdigit()


async def test_a_bad_workflow_record_does_not_strand_the_step_that_finished(queue: Queue) -> None:
    r, k = queue.redis, queue.keys
    wf = await queue.enqueue_chain([jobs_for_limits.double.call(3), Call.of("double")], workflow_id="wf-bad")
    await r.hset(k.flows, "wf-bad", '{"kind": "chain", "status": "running", "steps": [{}, {}]}')
    with anyio.fail_after(15):
        async with burst(queue, jobs_for_limits):
            pass
    first = wf.jobs[0]
    assert await first.result(timeout=1) == 6
    assert await places(queue, first.id) == ["done"]
    entry = text(await r.hget(k.quarantine, "wf-bad"))
    assert entry.split("|", 2)[1:] == ["flows", "bad workflow record"]


async def test_an_expired_lease_with_a_bad_record_is_quarantined_by_recovery(queue: Queue) -> None:
    r, k = queue.redis, queue.keys
    job = await queue.enqueue("add", 1, 1)
    await r.lrem(k.queue, 0, job.id)
    await r.zadd(k.active, {job.id.encode(): 1, b"\xff": 1})  # leases that expired long ago
    await r.hset(k.state, job.id, '{"status": "active", "lost": 1e400}')
    assert await queue.recover() == 2
    assert await places(queue, job.id) == ["quarantine"]
    assert await r.hget(k.quarantine, b"\xff") is not None
    assert await r.zcard(k.active) == 0


async def test_stale_copies_in_the_active_and_scheduled_sets_do_not_run_a_finished_job_again(queue: Queue) -> None:
    r, k = queue.redis, queue.keys
    job = await queue.enqueue("record", "once")
    with anyio.fail_after(15):
        async with burst(queue):
            pass
    await r.zadd(k.active, {job.id: 1})  # an expired lease, and a due delay, for a job that completed
    await r.zadd(k.scheduled, {job.id: 1})
    with anyio.fail_after(15):
        async with burst(queue):
            pass
    assert await places(queue, job.id) == ["done"]
    assert (await job.info()).attempts == 1


async def test_deleting_a_quarantined_job_removes_its_quarantine_entry(queue: Queue) -> None:
    r, k = queue.redis, queue.keys
    job = await queue.enqueue("add", 1, 1)
    await r.hset(k.state, job.id, text(await r.hget(k.state, job.id))[:-1] + ', "attempts": "z"}')
    with anyio.fail_after(15):
        async with burst(queue):
            pass
    assert await places(queue, job.id) == ["quarantine"]
    assert await queue.delete_jobs([job.id]) == 1
    assert await places(queue, job.id) == []
    assert await r.hget(k.state, job.id) is None


async def test_a_garbage_cron_record_is_rebuilt_instead_of_stopping_the_schedule(queue: Queue) -> None:
    fn = jobs_for_cron.every_second
    assert fn.schedule is not None
    garbage = '{"fired": "x", "skipped": -1, "last": 1e400, "paused": "yes", "spec": {}, "next": "z"}'
    await queue.redis.hset(queue.keys.cron, fn.name, garbage)
    now = datetime.now(UTC)
    assert await sync(queue, fn, fn.schedule, now) is None  # the bad last tick is dropped
    tick = now.replace(microsecond=0) - timedelta(seconds=1)
    assert (await fire(queue, fn, fn.schedule, tick))[0] == "fired"
    [info] = await queue.schedules()
    assert (info.fired, info.skipped, info.paused, info.last_tick) == (1, 0, False, tick)
