"""Unique jobs: one job per uniqueness key, released when the job ends, safe under races."""

from __future__ import annotations

import sys

import anyio
import pytest

import aioresque
from aioresque import Call, ConfigurationError, JobStatus, Queue, Unique, Worker
from aioresque._serializer import JsonSerializer
from aioresque._unique import derive_key, lock_args, resolve
from tests import jobs_for_tests
from tests.cli_helpers import ROOT


@aioresque.job(unique=Unique(until="queued"))
async def refresh(user: int) -> int:
    return user


def test_keys_and_modes_are_decided_purely() -> None:
    s = JsonSerializer()
    assert derive_key(s, "f", [1], {"a": 1, "b": 2}) == derive_key(s, "f", [1], {"b": 2, "a": 1})
    assert derive_key(s, "f", [1], {}) != derive_key(s, "f", [2], {})
    assert derive_key(s, "f", [1], {}) != derive_key(s, "g", [1], {})
    assert lock_args(None, s, "f", [], {}) == ("", "", 0)
    assert lock_args(Unique("k", "ttl", 1.5), s, "f", [], {}) == ("k", "t", 1500)
    assert resolve(True, None) == Unique()
    assert resolve("k", Unique(until="queued")) == Unique("k", "queued")
    assert resolve(False, Unique()) is None
    assert resolve(None, Unique(until="queued")) == Unique(until="queued")
    for bad, message in [
        ({"until": "forever"}, "until must be"),
        ({"until": "ttl"}, "needs ttl"),
        ({"ttl": 0}, "positive"),
        ({"key": "a|b"}, "no '|'"),
    ]:
        with pytest.raises(ConfigurationError, match=message):
            Unique(**bad)  # type: ignore[arg-type]


async def _count(queue: Queue) -> int:
    return (await queue.statistics()).counters.get("enqueued", 0)


async def _run_all(queue: Queue) -> None:
    async with Worker(queue, jobs_for_tests, burst=True):
        pass


async def test_a_duplicate_returns_the_existing_job(queue: Queue) -> None:
    first = await queue.enqueue("echo", 1, a=1, b=2, _unique=True)
    again = await queue.enqueue("echo", 1, b=2, a=1, _unique=True)
    other = await queue.enqueue("echo", 2, _unique=True)
    keyed = await queue.enqueue_many([Call.of("echo", 3, _unique="k"), Call.of("echo", 4, _unique="k")])
    assert again.id == first.id and other.id != first.id
    assert keyed[0].id == keyed[1].id
    assert await _count(queue) == 3


async def test_until_finished_holds_while_running_and_releases_on_completion(queue: Queue) -> None:
    job = await queue.enqueue("sleep", 0.5, _unique=True)
    async with Worker(queue, jobs_for_tests, burst=True):
        with anyio.fail_after(5):
            while await job.status() != JobStatus.ACTIVE:
                await anyio.sleep(0.01)
        assert (await queue.enqueue("sleep", 0.5, _unique=True)).id == job.id
    assert await job.status() == JobStatus.COMPLETE
    assert await queue.redis.hlen(queue.keys.unique) == 0  # released by the settle
    assert (await queue.enqueue("sleep", 0.5, _unique=True)).id != job.id


async def test_until_queued_frees_the_key_once_the_job_starts(queue: Queue) -> None:
    job = await queue.enqueue("sleep", 0.5, _unique=Unique(until="queued"))
    assert (await queue.enqueue("sleep", 0.5, _unique=Unique(until="queued"))).id == job.id
    async with Worker(queue, jobs_for_tests, burst=True):
        with anyio.fail_after(5):
            while await job.status() != JobStatus.ACTIVE:
                await anyio.sleep(0.01)
        second = await queue.enqueue("sleep", 0.5, _unique=Unique(until="queued"))
        assert second.id != job.id
    assert await second.status() == JobStatus.COMPLETE


async def test_a_ttl_lock_outlives_the_job_until_it_expires(queue: Queue) -> None:
    unique = Unique(until="ttl", ttl=1.0)
    job = await queue.enqueue("add", 1, 2, _unique=unique)
    await _run_all(queue)
    assert await job.status() == JobStatus.COMPLETE
    assert (await queue.enqueue("add", 1, 2, _unique=unique)).id == job.id
    await anyio.sleep(1.1)
    assert (await queue.enqueue("add", 1, 2, _unique=unique)).id != job.id


@pytest.mark.parametrize("end", ["cancel", "delete", "dead"])
async def test_cancel_delete_and_death_release_the_lock(queue: Queue, end: str) -> None:
    name, args = ("always_fails", ()) if end == "dead" else ("add", (1, 2))
    job = await queue.enqueue(name, *args, _unique="the-key", _max_attempts=1)
    if end == "cancel":
        assert await queue.cancel(job.id)
    elif end == "delete":
        assert await queue.delete_jobs([job.id]) == 1
    else:
        await _run_all(queue)
        assert await job.status() == JobStatus.FAILED
    assert await queue.redis.hlen(queue.keys.unique) == 0
    assert (await queue.enqueue(name, *args, _unique="the-key")).id != job.id


async def test_a_lock_whose_holder_vanished_is_taken_over(queue: Queue) -> None:
    job = await queue.enqueue("add", 1, 2, _unique="k")
    await queue.redis.hdel(queue.keys.state, job.id)  # e.g. pruned by hand
    assert (await queue.enqueue("add", 1, 2, _unique="k")).id != job.id


async def test_the_handler_default_applies_to_typed_enqueues(queue: Queue) -> None:
    first = await refresh.enqueue(queue, 7)
    assert (await refresh.enqueue(queue, 7)).id == first.id
    assert (await refresh.options(unique=False).enqueue(queue, 7)).id != first.id
    assert (await queue.enqueue("refresh", 7)).id != first.id  # by name: no handler, no default


async def test_concurrent_producers_create_exactly_one_job(queue: Queue, redis_url: str, prefix: str) -> None:
    ids: list[str] = []

    async def produce() -> None:
        async with Queue.from_url(redis_url, prefix=prefix) as own:
            for _ in range(10):
                ids.append((await own.enqueue("echo", "race", _unique=True)).id)

    code = (
        "import asyncio, sys\n"
        "from aioresque import Queue\n"
        "async def main():\n"
        "    async with Queue.from_url(sys.argv[1], prefix=sys.argv[2]) as q:\n"
        "        jobs = [await q.enqueue('echo', 'race', _unique=True) for _ in range(30)]\n"
        "        print(' '.join(sorted({j.id for j in jobs})))\n"
        "asyncio.run(main())\n"
    )
    command = [sys.executable, "-c", code, redis_url, prefix]
    outputs: list[bytes] = []

    async def spawn() -> None:
        done = await anyio.run_process(command, cwd=ROOT, check=False)
        assert done.returncode == 0, done.stderr.decode()
        outputs.append(done.stdout)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(spawn)
        for _ in range(20):
            tg.start_soon(produce)
    assert len(outputs) == 3
    for out in outputs:
        ids.extend(out.decode().split())
    assert len(set(ids)) == 1, set(ids)
    assert await _count(queue) == 1
    assert (await queue.statistics()).queued == 1


# -- retrying a unique job takes its lock again ----------------------------------


async def _entry(queue: Queue, key: str) -> tuple[int, str, str] | None:
    raw = await queue.redis.hget(queue.keys.unique, key)
    if raw is None:
        return None
    exp, mode, holder = (raw.decode() if isinstance(raw, bytes) else raw).split("|")
    return int(exp), mode, holder


@pytest.mark.parametrize(("unique", "mode"), [(Unique("k"), "f"), (Unique("k", until="queued", ttl=60), "q")])
async def test_a_retried_unique_job_takes_its_lock_again(queue: Queue, unique: Unique, mode: str) -> None:
    job = await queue.enqueue("add", 1, 2, _unique=unique)
    assert await queue.cancel(job.id)
    assert await _entry(queue, "k") is None
    assert await queue.retry_jobs([job.id]) == 1
    entry = await _entry(queue, "k")
    assert entry is not None and entry[1:] == (mode, job.id)
    assert (entry[0] > 0) is (unique.ttl is not None)  # the ttl cap is kept, counted from the retry
    assert (await queue.enqueue("add", 1, 2, _unique=unique)).id == job.id  # no duplicate
    await _run_all(queue)
    assert await job.status() == JobStatus.COMPLETE
    assert await _entry(queue, "k") is None


async def test_a_retry_is_refused_while_another_job_holds_the_lock(
    queue: Queue, caplog: pytest.LogCaptureFixture
) -> None:
    first = await queue.enqueue("always_fails", _unique="k", _max_attempts=1)
    await _run_all(queue)
    assert await first.status() == JobStatus.FAILED
    second = await queue.enqueue("always_fails", _unique="k", _max_attempts=1)
    assert second.id != first.id
    outcome = await aioresque._admin.retry_outcome(queue, [first.id])
    assert outcome == aioresque._admin.RetryOutcome(0, {first.id: second.id})
    assert await first.status() == JobStatus.FAILED  # left in the dead set, nothing lost
    assert await queue.redis.zscore(queue.keys.dead, first.id) is not None
    assert await _entry(queue, "k") == (0, "f", second.id)
    with caplog.at_level("WARNING", logger="aioresque.admin"):
        assert await queue.retry_jobs([first.id]) == 0
    assert f"held by job {second.id}" in caplog.text
    # Once the holder has finished, the retry goes through and takes the lock.
    assert await queue.cancel(second.id)
    assert await queue.retry_jobs([first.id]) == 1
    assert await _entry(queue, "k") == (0, "f", first.id)
    assert await queue.retry_jobs([second.id]) == 0  # now second is the duplicate


async def test_a_retried_ttl_job_holds_the_lock_for_a_new_period(queue: Queue) -> None:
    unique = Unique("k", until="ttl", ttl=30)
    job = await queue.enqueue("add", 1, 2, _unique=unique)
    assert await queue.cancel(job.id)  # a ttl lock outlives its job
    before = await _entry(queue, "k")
    assert before is not None and before[2] == job.id
    await anyio.sleep(0.01)
    assert await queue.retry_jobs([job.id]) == 1
    after = await _entry(queue, "k")
    assert after is not None and after[1:] == ("t", job.id) and after[0] > before[0]
    assert after[0] - before[0] < 5000  # still 30 s, counted from the retry


async def test_the_cli_reports_a_retry_refused_for_uniqueness(queue: Queue, redis_url: str, prefix: str) -> None:
    from tests.cli_helpers import run

    first = await queue.enqueue("add", 1, 2, _unique="k")
    assert await queue.cancel(first.id)
    second = await queue.enqueue("add", 1, 2, _unique="k")
    base = [sys.executable, "-m", "aioresque", "--redis-url", redis_url, "--prefix", prefix]
    out = run([*base[:3], "retry", first.id, *base[3:]])
    assert "0 of 1 job(s) put back" in out.stdout, out.stderr
    assert f"{first.id}: not retried, job {second.id} holds its uniqueness lock" in out.stdout
    as_json = run([*base[:3], "retry", first.id, "--json", *base[3:]])
    assert '"unique_skipped"' in as_json.stdout and second.id in as_json.stdout, as_json.stderr
