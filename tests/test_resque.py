"""Speaking Resque without Ruby: the importer, Resque-format failures and counters, the producer.

Entries are pushed the way ``Resque.push`` pushes them (``tests/test_resque_ruby.py``
checks the same paths against real Ruby Resque).
"""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import pytest
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from aioresque import ConfigurationError, Queue, SerializationError, Worker, _scripts
from aioresque._cli import build_parser
from aioresque._cli_worker import _child_base_command
from aioresque._connect import Client
from aioresque._keys import ResqueKeys
from aioresque._recovery import recover_queues
from aioresque._resque_import import ResqueImporter
from aioresque.resque import Resque, encode_job
from tests import jobs_for_resque
from tests.conftest import backend
from tests.jobs_for_resque import RUNS_SUFFIX

pytestmark = pytest.mark.skipif(
    backend() != "single",
    reason="Resque interop runs on one Redis node (refused on a Cluster; Ruby's client here speaks redis:// only)",
)


@pytest.fixture
def rk(prefix: str) -> ResqueKeys:
    """A Resque namespace of this test's own."""
    return ResqueKeys(f"{prefix}-resque")


async def push(redis: Client, rk: ResqueKeys, queue: str, *entries: bytes) -> None:
    """What Ruby's Resque.push does."""
    await redis.sadd(rk.queues, queue)  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
    await redis.rpush(rk.queue(queue), *entries)  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T


async def failures(redis: Client, rk: ResqueKeys) -> list[dict[str, Any]]:
    return [json.loads(f) for f in await redis.lrange(rk.failed, 0, -1)]  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T


async def counters(redis: Client, rk: ResqueKeys) -> tuple[int, int]:
    processed, failed = await redis.mget(rk.processed, rk.failed_count)  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
    return int(processed or 0), int(failed or 0)


def worker(queue: Queue, rk: ResqueKeys, **options: Any) -> Worker:
    return Worker(queue, jobs_for_resque, resque_queues=["mailers"], resque_namespace=rk.namespace, **options)


async def burst(queue: Queue, rk: ResqueKeys, **options: Any) -> None:
    with anyio.fail_after(20):
        await worker(queue, rk, burst=True, **options).run()


async def test_entries_that_cannot_be_jobs_go_dead_with_their_raw_bytes_and_to_resque_failed(
    redis: Client, queue: Queue, rk: ResqueKeys
) -> None:
    bad = [b"not json \xff", b"[1,2]", b'{"args":[]}', b'{"class":"has space","args":[]}', b'{"class":"X","args":5}']
    await push(redis, rk, "mailers", *bad, b'{"class":"NoSuchClass","args":[1]}')
    await burst(queue, rk)
    mailers = queue.sibling("mailers")
    dead: Any = await redis.zrange(mailers.keys.dead, 0, -1)  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
    assert len(dead) == 6
    stored = {await redis.hget(mailers.keys.jobs, i) for i in dead}  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
    assert stored == {*bad, b'{"class":"NoSuchClass","args":[1]}'}
    found = await failures(redis, rk)
    assert [f["exception"] for f in found] == ["BadPayload"] * 5 + ["UnknownJob"]
    assert found[0]["payload"] == "not json \u00ff"  # not JSON: kept as a string, its bytes escaped
    assert found[1]["payload"] == [1, 2]  # JSON: spliced in as it was
    assert found[5]["payload"] == {"class": "NoSuchClass", "args": [1]}
    assert {f["queue"] for f in found} == {"mailers"}
    assert await counters(redis, rk) == (6, 6)
    assert await redis.llen(rk.queue("mailers")) == 0  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T


async def test_a_resque_job_lost_too_often_is_reported_by_recovery(redis: Client, queue: Queue, rk: ResqueKeys) -> None:
    await push(redis, rk, "mailers", b'{"class":"SendEmail","args":["x"]}')
    importer = ResqueImporter(rk.namespace, ["mailers"], queue.prefix, 1)
    await importer.register(redis)
    assert (await importer.import_once(redis, "mailers", "w")).imported == 1
    mailers = queue.sibling("mailers")
    k = mailers.keys
    claim_keys = [k.queue, k.scheduled, k.active, k.jobs, k.state, k.marker, k.dead, k.stats]
    await _scripts.run(redis, "claim", claim_keys, ["ghost:1:x", 1, 1, 1])
    await anyio.sleep(0.01)
    report = await recover_queues(redis, ["mailers"], prefix=queue.prefix, max_lost=1)
    assert report.recovered == {"mailers": 1}
    (found,) = await failures(redis, rk)
    assert (found["exception"], found["worker"], found["payload"]) == (
        "WorkerLost",
        "ghost:1:x",
        {"class": "SendEmail", "args": ["x"]},
    )
    assert await counters(redis, rk) == (1, 1)


async def test_resque_payloads_decode_as_json_whatever_the_queue_serializer(
    redis: Client, prefix: str, rk: ResqueKeys
) -> None:
    class Marked:
        def dumps(self, value: Any) -> bytes:
            return b"M" + json.dumps(value).encode()

        def loads(self, data: bytes) -> Any:
            assert data[:1] == b"M"
            return json.loads(data[1:])

    queue = Queue(redis, "default", prefix=prefix, serializer=Marked())
    await push(redis, rk, "mailers", b'{"class":"Mailers::Digest","args":[7,{"a":[],"n":12345678901234567890}]}')
    await burst(queue, rk)
    (run,) = await redis.lrange(f"{prefix}:{RUNS_SUFFIX}", 0, -1)  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
    assert json.loads(run)[1] == [7, {"a": [], "n": 12345678901234567890}]
    assert await counters(redis, rk) == (1, 0)


async def test_the_importer_stays_a_bounded_distance_ahead(redis: Client, prefix: str, rk: ResqueKeys) -> None:
    await push(redis, rk, "mailers", *(b'{"class":"SendEmail","args":[%d]}' % i for i in range(100)))
    importer = ResqueImporter(rk.namespace, ["mailers"], prefix, concurrency=5)
    first = await importer.import_once(redis, "mailers", "w")
    assert (first.imported, first.left, first.room) == (10, 90, 0)
    again = await importer.import_once(redis, "mailers", "w")
    assert (again.imported, again.left) == (0, 90)  # nothing more until the worker takes some


async def test_garbage_in_a_resque_counter_stops_the_import_before_any_write(
    redis: Client, prefix: str, rk: ResqueKeys
) -> None:
    await push(redis, rk, "mailers", b"not json")
    await redis.set(rk.failed_count, "many")  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
    importer = ResqueImporter(rk.namespace, ["mailers"], prefix, 1)
    with pytest.raises(ResponseError, match="stat:failed"):
        await importer.import_once(redis, "mailers", "w")
    assert await redis.llen(rk.queue("mailers")) == 1  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T


async def test_an_idle_worker_picks_up_a_ruby_enqueue_within_about_a_second(
    redis: Client, queue: Queue, rk: ResqueKeys
) -> None:
    async with worker(queue, rk):
        await anyio.sleep(0.3)
        info = await redis.info("stats")  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
        before, started = info["total_commands_processed"], time.monotonic()
        await anyio.sleep(3)
        info = await redis.info("stats")  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
        rate = (info["total_commands_processed"] - before - 1) / (time.monotonic() - started)
        print(f"idle worker with one Resque queue: {rate:.1f} commands/s")
        assert rate < 10, f"an idle worker with one Resque queue sent {rate:.1f} commands/s"
        await push(redis, rk, "mailers", b'{"class":"SendEmail","args":["wake"]}')
        pushed = time.monotonic()
        with anyio.fail_after(3):
            while not await redis.llen(f"{queue.prefix}:{RUNS_SUFFIX}"):  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
                await anyio.sleep(0.01)
        print(f"Ruby enqueue to run: {time.monotonic() - pushed:.3f} s")
        assert time.monotonic() - pushed < 1.5


def test_resque_queues_are_refused_on_a_cluster() -> None:
    client = RedisCluster(host="127.0.0.1", port=1)  # never connects: refused up front
    with pytest.raises(ConfigurationError, match="Cluster"):
        Worker(client, jobs_for_resque, resque_queues=["mailers"])


async def test_resque_settings_are_checked_up_front(queue: Queue) -> None:
    with pytest.raises(ConfigurationError, match="not '\\*'"):
        Worker(queue, jobs_for_resque, queues=["*"], resque_queues=["mailers"])
    with pytest.raises(ConfigurationError, match="needs resque_queues"):
        Worker(queue, jobs_for_resque, resque_register=True)
    with pytest.raises(ConfigurationError, match="invalid queue name"):
        Worker(queue, jobs_for_resque, resque_queues=["bad/name"])
    worker = Worker(queue, jobs_for_resque, queues=["high", "mailers"], resque_queues=["mailers", "low"])
    assert worker.queue_names == ("high", "mailers", "low")


async def test_the_producer_writes_what_resque_push_writes(redis: Client, rk: ResqueKeys) -> None:
    resque = Resque(redis, rk.namespace)
    await resque.enqueue_to("pyjobs", "SendEmail", 1, "é", {"a": []}, None)
    assert await resque.enqueue_many_to("pyjobs", "Mailers::Digest", [(i,) for i in range(3)]) == 3
    raw = await redis.lrange(rk.queue("pyjobs"), 0, -1)  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
    assert raw[0] == '{"class":"SendEmail","args":[1,"é",{"a":[]},null]}'.encode()
    assert raw[1:] == [b'{"class":"Mailers::Digest","args":[%d]}' % i for i in range(3)]
    assert (await resque.size("pyjobs"), await resque.queues()) == (4, ["pyjobs"])


async def test_the_producer_refuses_arguments_that_are_not_json(redis: Client, rk: ResqueKeys) -> None:
    resque = Resque(redis, rk.namespace)
    for bad in (object(), float("nan"), b"bytes", "\ud800"):
        with pytest.raises(SerializationError):
            await resque.enqueue_many_to("pyjobs", "SendEmail", [(1,), (bad,)])
    assert await resque.size("pyjobs") == 0
    with pytest.raises(SerializationError):
        encode_job("", [])
    with pytest.raises(ConfigurationError):
        await resque.enqueue_to("bad queue", "SendEmail")


async def test_error_records_keep_the_exception_type_apart(redis: Client, queue: Queue, rk: ResqueKeys) -> None:
    await push(redis, rk, "mailers", b'{"class":"Explode","args":["boom: twice"]}')
    await burst(queue, rk)
    keys = queue.sibling("mailers").keys
    ids: Any = await redis.zrange(keys.dead, 0, -1)  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
    raw: Any = await redis.hget(keys.errors, ids[0])  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
    record = json.loads(raw)
    assert (record["error"], record["type"]) == ("ValueError: boom: twice", "ValueError")
    assert "message" not in record  # the text after the type is not stored twice


async def test_job_info_shows_a_resque_jobs_args_whatever_the_serializer(
    redis: Client, prefix: str, rk: ResqueKeys
) -> None:
    class Marked:
        def dumps(self, value: Any) -> bytes:
            return b"M" + json.dumps(value).encode()

        def loads(self, data: bytes) -> Any:
            assert data[:1] == b"M"
            return json.loads(data[1:])

    await push(redis, rk, "mailers", b'{"class":"SendEmail","args":[1,"x"]}')
    importer = ResqueImporter(rk.namespace, ["mailers"], prefix, 1)
    await importer.import_once(redis, "mailers", "w")
    mailers = Queue(redis, "mailers", prefix=prefix, serializer=Marked())
    ids: Any = await redis.lrange(mailers.keys.queue, 0, -1)  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
    info = await mailers.job(ids[0].decode()).info()
    assert (info.name, info.args, info.kwargs) == ("SendEmail", (1, "x"), {})


def test_processes_children_get_the_resque_flags() -> None:
    args = build_parser().parse_args(
        [
            "worker",
            "app.jobs",
            "--resque-queues",
            "mailers,low",
            "--resque-namespace",
            "app:resque",
            "--resque-register",
        ]
    )
    command = _child_base_command(args)
    assert command[command.index("--resque-queues") + 1] == "mailers,low"
    assert command[command.index("--resque-namespace") + 1] == "app:resque"
    assert "--resque-register" in command


async def test_a_burst_worker_ends_on_a_paused_queue_with_resque_entries_left(
    redis: Client, queue: Queue, rk: ResqueKeys
) -> None:
    await push(redis, rk, "mailers", *(b'{"class":"SendEmail","args":[%d]}' % i for i in range(50)))
    await queue.sibling("mailers").pause()
    with anyio.fail_after(5):  # does not spin on the entries it cannot run
        await worker(queue, rk, burst=True, concurrency=1).run()
    assert await redis.llen(queue.sibling("mailers").keys.queue) == 2  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
    assert await redis.llen(rk.queue("mailers")) == 48  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
