"""Compatibility: server versions, state record formats, rolling upgrades (docs/upgrading.md)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis as redis_py
from redis.asyncio import Redis

from aioresque import ConfigurationError, JobStatus, Queue, ResultTimeout, ServerInfo, Worker, _scripts
from aioresque._connect import Client, blocking_limit, close_client, connect
from aioresque._format import FORMAT, READS, claimable, record_format
from aioresque._server import MIN_SERVER, NEEDS, check_server, parse_version, require_supported, server_info
from tests import jobs_for_tests
from tests.record_fixtures import load_queue

FIXTURES = Path(__file__).with_name("fixtures")

# -- server versions -------------------------------------------------------------


def test_parse_version() -> None:
    assert parse_version("7.0.15") == (7, 0, 15)
    assert parse_version("6.2") == (6, 2, 0)
    assert parse_version("255.255.255") == (255, 255, 255)
    assert parse_version(" 10.0.0-rc1") == (10, 0, 0)
    with pytest.raises(ValueError, match="not a version"):
        parse_version("unstable")


def test_server_info_tells_redis_from_valkey() -> None:
    assert server_info({"redis_version": "7.0.15"}) == ServerInfo("redis", "7.0.15", (7, 0, 15))
    valkey = server_info({"redis_version": "7.2.4", "valkey_version": "9.1.2", "server_name": "valkey"})
    assert valkey == ServerInfo("valkey", "9.1.2", (7, 2, 4))
    assert str(valkey) == "Valkey 9.1.2"
    with pytest.raises(ConfigurationError, match="no redis_version"):
        server_info({"server": "something else"})


def test_minimum_is_the_newest_feature_needed() -> None:
    assert max(NEEDS.values()) == MIN_SERVER == (6, 2, 0)


@pytest.mark.parametrize(
    ("version", "ok"),
    [((5, 0, 14), False), ((6, 0, 20), False), ((6, 2, 0), True), ((6, 2, 14), True), ((7, 0, 15), True)],
)
def test_require_supported(version: tuple[int, int, int], ok: bool) -> None:
    server = ServerInfo("redis", ".".join(map(str, version)), version)
    if ok:
        require_supported(server)
        return
    with pytest.raises(ConfigurationError) as caught:
        require_supported(server)
    message = str(caught.value)
    assert f"Redis {server.version} is too old" in message
    assert "needs Redis 6.2 or newer" in message
    assert "BLMOVE" in message and "ZMSCORE" in message


def test_require_supported_names_only_what_is_missing() -> None:
    with pytest.raises(ConfigurationError) as caught:
        require_supported(ServerInfo("redis", "6.0.9", (6, 0, 9)))
    assert "BZPOPMIN" not in str(caught.value)


async def test_the_real_server_passes(redis: Client, queue: Queue) -> None:
    info = await check_server(redis)
    assert info.redis_version >= MIN_SERVER
    assert await queue.check_server() == info


async def test_check_server_raises_when_the_minimum_is_not_met(redis: Client) -> None:
    # The real server, held to a minimum it cannot meet: the error a worker on
    # an old server stops with.
    with pytest.raises(ConfigurationError, match=r"is too old for aioresque: it needs Redis 999\.0 or newer"):
        await check_server(redis, minimum=(999, 0, 0))


# -- redis-py versions ---------------------------------------------------------------


def test_blocking_limit_follows_the_socket_timeout() -> None:
    assert blocking_limit(Redis(socket_timeout=2)) == pytest.approx(1.6)
    assert blocking_limit(connect("redis://127.0.0.1:1/0?socket_timeout=1")) == pytest.approx(0.75)
    assert blocking_limit(Redis(socket_timeout=0.1)) == pytest.approx(0.05)
    assert blocking_limit(Redis(socket_timeout=None)) is None
    # Not given: redis-py 8's default of 5 s, none before.
    expected = 4.0 if int(redis_py.__version__.split(".")[0]) >= 8 else None
    assert blocking_limit(Redis()) == expected
    assert blocking_limit(connect("redis://127.0.0.1:1/0")) == expected


async def test_a_result_wait_longer_than_the_socket_timeout(
    redis_url: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    # redis-py 8 clients time a socket read out after 5 s by default: a wait
    # for a result (or an idle worker's wait) must not read as an outage.
    client = connect(redis_url, socket_timeout=0.6)
    try:
        queue = Queue(client, "default", prefix=prefix)
        job = await queue.enqueue("add", 1, 2)
        with pytest.raises(ResultTimeout):
            await job.result(timeout=1.0)
        worker = Worker(queue, jobs_for_tests, lease=2)
        with caplog.at_level(logging.DEBUG, logger="aioresque.worker"):
            async with worker:
                await anyio.sleep(1.5)  # idle, blocking on the marker: longer than the socket timeout
                assert await job.result(timeout=5) == 3
                late = await queue.enqueue("sleep", 0.8)
                assert await late.result(timeout=5) == 0.8
        assert worker.statistics().completed == 2
        assert not [r for r in caplog.records if "unreachable" in r.getMessage()]
    finally:
        await close_client(client)


# -- record formats: the pure rule and the Lua that applies it --------------------

RECORDS: list[tuple[str, int | None]] = [
    # (the "v" part of a state record, its format or None for "not understood")
    ("", 1),
    ('"v": 1,', 1),
    ('"v": 1.0,', 1),
    ('"v": 2,', 2),
    ('"v": 17,', 17),
    ('"v": "2",', None),
    ('"v": 1.5,', None),
    ('"v": 0,', None),
    ('"v": true,', None),
    ('"v": null,', None),
]


@pytest.mark.parametrize(("v", "expected"), RECORDS)
def test_record_format(v: str, expected: int | None) -> None:
    state = json.loads(_record(v))
    assert record_format(state) == expected
    assert claimable(state, reads=1) is (expected == 1)
    assert claimable(state, reads=2) is (expected is not None and expected <= 2)


def test_this_release_reads_what_it_writes() -> None:
    assert FORMAT == READS == 1


async def test_enqueue_writes_the_current_format(redis: Client, queue: Queue) -> None:
    job = await queue.enqueue("add", 1, 2)
    assert (await _state(redis, queue, job.id))["v"] == FORMAT


@pytest.mark.parametrize("reads", [1, 2])
async def test_the_claim_script_applies_the_same_rule(redis: Client, queue: Queue, reads: int) -> None:
    ids = []
    for i, (v, _) in enumerate(RECORDS):
        job = await queue.enqueue("add", i, i, _job_id=f"r{i}")
        await redis.hset(queue.keys.state, job.id, _record(v))
        ids.append(job.id)
    reply = await _claim(queue, n=len(RECORDS), reads=reads)
    claimed = {_text(x) for x in reply[3][::3]}
    left = {_text(x) for x in reply[4]}
    for job_id, (v, _) in zip(ids, RECORDS, strict=True):
        expected = claimable(json.loads(_record(v)), reads)
        assert (job_id in claimed) is expected, v
        assert (job_id in left) is not expected, v
    # Every job not claimed is still queued, its record byte for byte as it was.
    queued = {_text(x) for x in await redis.lrange(queue.keys.queue, 0, -1)}
    assert queued == left
    for job_id, (v, _) in zip(ids, RECORDS, strict=True):
        if job_id in left:
            assert await redis.hget(queue.keys.state, job_id) == _record(v).encode()
    stats = await queue.statistics()
    assert stats.counters.get("newer_format", 0) == len(left)
    assert stats.counters.get("dropped", 0) == 0


async def test_a_claim_goes_round_the_queue_once(redis: Client, queue: Queue) -> None:
    # Only newer jobs, more of them than the claim asks for: each is passed
    # over once per call, and the queue keeps its order.
    for i in range(5):
        await queue.enqueue("add", i, i, _job_id=f"n{i}")
        await redis.hset(queue.keys.state, f"n{i}", _record('"v": 2,'))
    before = await redis.lrange(queue.keys.queue, 0, -1)
    reply = await _claim(queue, n=3, reads=1)
    assert reply[3] == [] and len(reply[4]) == 5
    assert await redis.lrange(queue.keys.queue, 0, -1) == before
    assert (await queue.statistics()).counters["newer_format"] == 5


# -- format 1 records written by an earlier release -------------------------------


async def test_a_current_worker_drains_format1_records(redis: Client, queue: Queue) -> None:
    fixture = json.loads((FIXTURES / "format1_records.json").read_text(encoding="utf-8"))
    assert fixture["format"] == 1
    assert all(json.loads(raw)["v"] == 1 for raw in fixture["keys"]["state"].values())
    await load_queue(redis, queue.keys, fixture["keys"])
    # Loaded as written: the waiting, retrying, delayed and lost jobs are all there.
    stats = await queue.statistics()
    assert (stats.queued, stats.scheduled, stats.active, stats.completed_kept, stats.dead) == (4, 2, 1, 1, 1)

    await Worker(queue, jobs_for_tests, burst=True).run()

    for job_id, expect in fixture["expect"].items():
        info = await queue.job(job_id).info()
        assert info.status == JobStatus(expect["status"]), job_id
        if "result" in expect:
            assert info.result == expect["result"], job_id
        if "error" in expect:
            assert info.error == expect["error"], job_id
        for field in ("lost", "max_attempts", "timeout"):
            if field in expect:
                assert getattr(info, field) == expect[field], (job_id, field)
    stats = await queue.statistics()
    assert (stats.queued, stats.scheduled, stats.active) == (0, 0, 0)
    assert stats.counters.get("dropped", 0) == 0 and stats.counters.get("newer_format", 0) == 0


# -- a rolling upgrade: workers of two formats on one queue -------------------------


async def test_an_older_worker_leaves_newer_records_alone(
    redis: Client, queue: Queue, caplog: pytest.LogCaptureFixture
) -> None:
    old_jobs = [await queue.enqueue("add", i, 1) for i in range(4)]
    new_jobs = await _enqueue_format2(redis, queue, 3)
    before = {j.id: await redis.hget(queue.keys.state, j.id) for j in new_jobs}
    payloads = {j.id: await redis.hget(queue.keys.jobs, j.id) for j in new_jobs}

    old = Worker(queue, jobs_for_tests, burst=True)
    old._reads_format = 1
    with caplog.at_level(logging.WARNING, logger="aioresque.worker"):
        await old.run()

    assert [await j.result() for j in old_jobs] == [1, 2, 3, 4]
    for j in new_jobs:  # never run, rewritten or dropped
        assert await j.status() == JobStatus.QUEUED
        assert await redis.hget(queue.keys.state, j.id) == before[j.id]
        assert await redis.hget(queue.keys.jobs, j.id) == payloads[j.id]
    assert await redis.llen(queue.keys.queue) == 3
    counters = (await queue.statistics()).counters
    assert counters["newer_format"] >= 3 and counters.get("dropped", 0) == 0
    warnings = [r.getMessage() for r in caplog.records if "newer than this worker reads" in r.getMessage()]
    assert len(warnings) == 1 and "3 job(s)" in warnings[0]


async def test_an_older_worker_does_not_spin_on_newer_records(redis: Client, queue: Queue) -> None:
    await _enqueue_format2(redis, queue, 3)
    old = Worker(queue, jobs_for_tests, lease=2)
    old._reads_format = 1
    async with old:
        await anyio.sleep(2.0)
    # An idle worker claims when woken (the enqueue's marker) or every few
    # seconds: a handful of passes over the 3 jobs, not thousands.
    passes = (await queue.statistics()).counters["newer_format"] / 3
    assert 1 <= passes <= 5
    assert await redis.llen(queue.keys.queue) == 3


async def test_old_and_new_workers_share_a_queue(redis: Client, queue: Queue) -> None:
    # Producers of both releases enqueue; workers of both releases serve the
    # queue at once. Every job runs once, format 2 jobs only on the new worker.
    old = Worker(queue, jobs_for_tests, concurrency=3, lease=2)
    old._reads_format = 1
    new = Worker(queue, jobs_for_tests, concurrency=3, lease=2)
    new._reads_format = 2
    async with old, new:
        jobs_v1 = [await queue.enqueue("context") for _ in range(15)]
        jobs_v2 = await _enqueue_format2(redis, queue, 15, name="context")
        results_v1 = [await j.result(timeout=20) for j in jobs_v1]
        results_v2 = [await j.result(timeout=20) for j in jobs_v2]
    assert [r["job_id"] for r in results_v1] == [j.id for j in jobs_v1]
    assert [r["job_id"] for r in results_v2] == [j.id for j in jobs_v2]
    assert {r["worker_id"] for r in results_v2} == {new.id}
    assert all(r["attempt"] == 1 for r in results_v1 + results_v2)
    for j in jobs_v2:  # the record kept its format and the field only format 2 knows
        state = await _state(redis, queue, j.id)
        assert state["v"] == 2 and state["format2_field"] == {"kept": True}
        assert state["status"] == "complete"
    stats = await queue.statistics()
    assert stats.completed_kept == 30 and stats.queued == 0 and stats.counters.get("dropped", 0) == 0
    assert stats.counters["completed"] == 30


# -- helpers ---------------------------------------------------------------------


def _record(v: str) -> str:
    return "{" + v + '"name": "add", "status": "queued", "attempts": 0, "failures": 0, "lost": 0}'


async def _claim(queue: Queue, *, n: int, reads: int) -> Any:
    k = queue.keys
    keys = [k.queue, k.scheduled, k.active, k.jobs, k.state, k.marker, k.dead, k.stats, k.paused]
    keys += [k.results, k.errors, k.done, k.watched, k.cancelled]
    return await _scripts.run(queue.redis, "claim", keys, ["test-worker", n, 60_000, 3, reads])


async def _enqueue_format2(redis: Client, queue: Queue, count: int, *, name: str = "add") -> list[Any]:
    """Jobs as a release writing format 2 would: a real enqueue, its record raised to v 2 with a new field.

    The state record is rewritten before any worker sees the job: enqueued
    into a paused queue, then resumed (as a format 2 producer's enqueue would
    be one script call).
    """
    await queue.pause()
    jobs = []
    for i in range(count):
        job = await (queue.enqueue(name) if name == "context" else queue.enqueue(name, i, 10))
        state = await _state(redis, queue, job.id)
        state.update(v=2, format2_field={"kept": True})
        await redis.hset(queue.keys.state, job.id, json.dumps(state))
        jobs.append(job)
    await queue.resume()
    return jobs


async def _state(redis: Client, queue: Queue, job_id: str) -> dict[str, Any]:
    raw = await redis.hget(queue.keys.state, job_id)
    assert raw is not None, job_id
    state: dict[str, Any] = json.loads(raw)
    return state


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
