"""Concurrency and rate limits: the pure parts, then real worker processes."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import anyio
import pytest

import aioresque
from aioresque import Call, ConfigurationError, Queue, RateLimit, _scripts
from aioresque._limits import Limits, check_key, limit_args
from tests import jobs_for_limits as J
from tests.cli_helpers import run, spawned, worker_command

# -- pure -----------------------------------------------------------------------


def test_rate_limit_checks_its_numbers() -> None:
    assert RateLimit(5, per=2.5).period_ms == 2500
    for bad in ((0, 1.0), (1, 0.0), (1, float("inf")), (True, 1.0)):
        with pytest.raises(ConfigurationError):
            RateLimit(*bad)


def test_limits_of_job_options() -> None:
    assert Limits.of() is None
    lim = Limits.of(rate=(3, 0.5))
    assert lim is not None and lim.rate == RateLimit(3, 0.5) and lim.concurrency is None
    with pytest.raises(ConfigurationError, match="needs concurrency"):
        Limits.of(limit_key=lambda: "k")
    with pytest.raises(ConfigurationError, match="concurrency"):
        Limits.of(concurrency=0)
    with pytest.raises(ConfigurationError, match="rate"):
        Limits.of(rate=(1, 2, 3))  # type: ignore[arg-type]


def test_limit_keys_are_computed_and_checked() -> None:
    lim = Limits.of(concurrency=1, limit_key=lambda customer, **_: customer)
    assert lim is not None
    assert lim.key_for("sync", ("acme",), {"full": True}) == "acme"
    assert lim.key_for("sync", (7,), {}) == "7"
    assert lim.key_for("sync", (None,), {}) is None
    with pytest.raises(ConfigurationError, match="limit_key failed"):
        lim.key_for("sync", (), {})
    with pytest.raises(ConfigurationError, match="str or int"):
        lim.key_for("sync", ([1],), {})
    for bad in ("", "a\0b", "x" * 300):
        with pytest.raises(ConfigurationError, match="invalid limit key"):
            check_key("sync", bad)


def test_limit_args_list_only_limited_handlers() -> None:
    assert limit_args([J.free, J.double]) == [0]
    assert limit_args([J.free, J.limited, J.rated]) == [2, "limited", 2, "", "", "rated", "", 5, 1000]


def test_typed_calls_carry_the_limit_key() -> None:
    assert J.per_customer.call("acme", 0.1).limit_key == "acme"
    assert J.limited.call(0.1).limit_key is None
    assert Call.of("per_customer", "acme", 0.1, _limit_key="acme").limit_key == "acme"


async def test_bad_limit_key_by_name_is_refused_before_anything_is_stored(queue: Queue) -> None:
    with pytest.raises(ConfigurationError):
        await queue.enqueue("per_customer", "a", 0.1, _limit_key="")
    assert (await queue.statistics()).queued == 0


# -- against Redis, several worker processes ------------------------------------------


@contextmanager
def workers(redis_url: str, prefix: str, count: int = 3, *extra: str) -> Iterator[None]:
    with ExitStack() as stack:
        for _ in range(count):
            command = worker_command(redis_url, prefix, "--concurrency", "10", *extra, module="tests.jobs_for_limits")
            stack.enter_context(spawned(command))
        yield


Span = tuple[str, int, int]


async def spans(queue: Queue) -> list[Span]:
    out = []
    for raw in await queue.redis.zrange(J.spans_key(queue), 0, -1):
        assert isinstance(raw, bytes)
        label, _, start, end, _ = raw.decode().split("|")
        out.append((label, int(start), int(end)))
    return out


def most_at_once(items: list[Span]) -> int:
    """The largest number of spans that overlap at one moment (an end at t comes before a start at t)."""
    events = sorted([(s, 1) for _, s, _ in items] + [(e, -1) for _, _, e in items])
    running = best = 0
    for _, step in events:
        running += step
        best = max(best, running)
    return best


async def wait_all(jobs: list[aioresque.Job]) -> None:
    await asyncio.gather(*(j.result(timeout=60) for j in jobs))


async def test_concurrency_limit_holds_across_worker_processes(redis_url: str, prefix: str, queue: Queue) -> None:
    jobs = [await J.limited.enqueue(queue, 0.3) for _ in range(12)]
    with workers(redis_url, prefix):
        await wait_all(jobs)
    got = await spans(queue)
    assert len(got) == 12
    assert most_at_once(got) == 2  # never more, and the limit is used
    assert await queue.redis.hlen(queue.keys.limits) == 0  # no slot left held
    assert await queue.redis.zcard(queue.keys.waiting) == 0


async def test_rate_limit_holds_across_worker_processes(redis_url: str, prefix: str, queue: Queue) -> None:
    jobs = [await J.rated.enqueue(queue) for _ in range(15)]
    with workers(redis_url, prefix):
        await wait_all(jobs)
        # Idle workers wake when the window ends and forget the claim times.
        with anyio.fail_after(10):
            while await queue.redis.hlen(queue.keys.limits) or await queue.redis.zcard(queue.keys.reopen):
                await anyio.sleep(0.1)
    starts = sorted(s for _, s, _ in await spans(queue))
    assert len(starts) == 15
    # 5 claims per sliding second; a start lags its claim by a few ms, so
    # windows are checked 100 ms short of the second.
    assert max(sum(1 for t in starts if s <= t < s + 900) for s in starts) <= 5
    assert starts[-1] - starts[0] >= 1800


async def test_per_key_limit_holds_per_key_and_keys_run_in_parallel(redis_url: str, prefix: str, queue: Queue) -> None:
    jobs = [await J.per_customer.enqueue(queue, c, 0.3) for c in "abc" for _ in range(3)]
    with workers(redis_url, prefix):
        await wait_all(jobs)
    got = await spans(queue)
    for customer in "abc":
        mine = [s for s in got if s[0] == f"customer-{customer}"]
        assert len(mine) == 3
        assert most_at_once(mine) == 1
    assert most_at_once(got) >= 2


async def test_limited_jobs_do_not_hold_up_other_handlers(redis_url: str, prefix: str, queue: Queue) -> None:
    limited = [await J.limited.enqueue(queue, 1.0) for _ in range(10)]  # 5 s at 2 at once
    free = [await J.free.enqueue(queue, 0.0) for _ in range(10)]  # queued behind them
    with workers(redis_url, prefix):
        await wait_all(free)
        done = [j for j in limited if await j.status() == aioresque.JobStatus.COMPLETE]
        assert len(done) <= 4
        await wait_all(limited)


async def test_a_killed_workers_slot_comes_back_after_lease_recovery(redis_url: str, prefix: str, queue: Queue) -> None:
    first = await J.killer.enqueue(queue, 0.0, True)  # SIGKILLs its worker holding the only slot
    with workers(redis_url, prefix, 1, "--lease", "1"):
        while await first.status() != aioresque.JobStatus.ACTIVE:
            await asyncio.sleep(0.05)
        second = await J.killer.enqueue(queue, 0.0, False)
        await asyncio.sleep(0.5)
        assert await second.status() == aioresque.JobStatus.QUEUED  # parked behind the held slot
        with workers(redis_url, prefix, 2, "--lease", "1"):
            await wait_all([first, second])
    assert (await first.info()).attempts == 2
    assert await queue.redis.hlen(queue.keys.limits) == 0


# -- the claim script, driven directly ---------------------------------------------


async def claim(queue: Queue, n: int, limits: list[str | int]) -> list[str]:
    k = queue.keys
    keys = [k.queue, k.scheduled, k.active, k.jobs, k.state, k.marker, k.dead, k.stats, k.paused]
    keys += [k.results, k.errors, k.done, k.watched, k.cancelled, k.limits, k.waiting, k.reopen, k.flows]
    reply = await _scripts.run(queue.redis, "claim", keys, ["w1", n, 60_000, 3, 1, *limits])
    return [i.decode() for i in reply[3][::3]]


async def test_a_release_skips_cancelled_parked_jobs(queue: Queue) -> None:
    one_at_a_time: list[str | int] = [1, "limited", 1, "", ""]
    for i in range(3):
        await queue.enqueue("limited", 0.1, _job_id=f"j{i}")
    assert await claim(queue, 10, one_at_a_time) == ["j0"]
    assert await queue.redis.zcard(queue.keys.waiting) == 2
    assert (await queue.job("j1").info()).status == aioresque.JobStatus.QUEUED  # parked, still queued
    await queue.cancel("j1")
    await queue.cancel("j0")  # gives back the slot: j2 (not the cancelled j1) goes back to the queue
    assert await queue.redis.lrange(queue.keys.queue, 0, -1) == [b"j2"]
    assert await queue.redis.zcard(queue.keys.waiting) == 0
    assert await claim(queue, 10, one_at_a_time) == ["j2"]


async def test_a_worker_without_the_limit_ignores_it_and_others_still_count(queue: Queue) -> None:
    for i in range(3):
        await queue.enqueue("limited", 0.1, _job_id=f"j{i}")
    assert await claim(queue, 1, [1, "limited", 2, "", ""]) == ["j0"]
    assert await claim(queue, 1, [0]) == ["j1"]  # an older worker: no limit, not counted
    assert await claim(queue, 1, [1, "limited", 2, "", ""]) == ["j2"]  # j0 + j2 = 2


async def test_limit_groups_and_the_limits_command(redis_url: str, prefix: str, queue: Queue) -> None:
    for i in range(3):
        await queue.enqueue("per_customer", "acme", 0.1, _job_id=f"j{i}", _limit_key="acme")
    await queue.enqueue("rated", _job_id="r")
    limits: list[str | int] = [2, "per_customer", 1, "", "", "rated", "", 5, 60_000]
    assert sorted(await claim(queue, 10, limits)) == ["j0", "r"]
    assert await queue.limit_groups() == [
        aioresque.LimitGroup("per_customer|acme", running=1, recent_starts=0, parked=2),
        aioresque.LimitGroup("rated", running=0, recent_starts=1, parked=0),
    ]
    result = run([sys.executable, "-m", "aioresque", "limits", "--redis-url", redis_url, "--prefix", prefix, "--json"])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0] == {
        "group": "per_customer|acme",
        "running": 1,
        "recent_starts": 0,
        "parked": 2,
        "unreadable": None,
    }
    result = run([sys.executable, "-m", "aioresque", "limits", "--redis-url", redis_url, "--prefix", prefix])
    assert "per_customer|acme" in result.stdout and "parked" in result.stdout
