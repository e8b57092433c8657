"""Against real Ruby Resque 3.0: Ruby enqueues and Python runs, Python enqueues and Ruby runs, failures round-trip.

Real Ruby, real Resque (``tests/resque_ruby.py`` finds it), the suite's real
Redis. Skipped with the reason when Ruby is missing, except under CI.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from typing import Any

import anyio
import pytest
import redis as sync_redis

from aioresque import Queue, Worker
from aioresque._connect import Client
from aioresque.resque import Resque, encode_job
from tests import jobs_for_resque, jobs_for_resque_slow
from tests.cli_helpers import ROOT, worker_command
from tests.conftest import backend
from tests.jobs_for_resque import RUNS_SUFFIX
from tests.resque_ruby import require_resque, ruby

pytestmark = pytest.mark.skipif(
    backend() != "single",
    reason="Resque interop runs on one Redis node (refused on a Cluster; Ruby's client here speaks redis:// only)",
)


@pytest.fixture(autouse=True)
def _real_resque() -> None:
    require_resque()


@pytest.fixture
def ns(prefix: str) -> str:
    """A Resque namespace of this test's own."""
    return f"{prefix}-resque"


class NotJson:
    """A serializer whose bytes are not JSON: Resque-origin payloads must still decode as JSON."""

    def dumps(self, value: Any) -> bytes:
        return b"NJ" + json.dumps(value).encode()

    def loads(self, data: bytes) -> Any:
        assert data.startswith(b"NJ"), data
        return json.loads(data[2:])


async def runs(redis: Client, prefix: str) -> list[list[Any]]:
    """The argument lists of every recorded run, in order."""
    raw = await redis.lrange(f"{prefix}:{RUNS_SUFFIX}", 0, -1)  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
    return [json.loads(r)[1] for r in raw]


async def burst(redis: Client, prefix: str, ns: str, **options: Any) -> None:
    queue = Queue(redis, "default", prefix=prefix, serializer=NotJson())
    worker = Worker(queue, jobs_for_resque, resque_queues=["mailers"], resque_namespace=ns, burst=True, **options)
    with anyio.fail_after(30):
        await worker.run()


def info(redis_url: str, ns: str) -> dict[str, Any]:
    out = ruby("puts JSON.generate(Resque.info.slice(:processed, :failed, :pending))", redis_url, ns)
    result: dict[str, Any] = json.loads(out)
    return result


async def test_ruby_enqueues_and_python_runs_every_job_with_its_args(
    redis: Client, redis_url: str, prefix: str, ns: str
) -> None:
    ruby(
        """
        300.times { |i| Resque.enqueue_to("mailers", "SendEmail", i, "é", {"a" => [], "big" => 2**70}, 1.5, nil) }
        Resque.enqueue_to("mailers", "Mailers::Digest", 7, {"x" => [], "y" => 12345678901234567890})
        """,
        redis_url,
        ns,
    )
    await burst(redis, prefix, ns)
    got = await runs(redis, prefix)
    sends = sorted((r for r in got if len(r) == 5), key=lambda r: r[0])
    assert sends == [[i, "é", {"a": [], "big": 2**70}, 1.5, None] for i in range(300)]
    assert [7, {"x": [], "y": 12345678901234567890}] in got
    assert info(redis_url, ns) == {"processed": 301, "failed": 0, "pending": 0}


async def test_python_enqueues_and_a_real_resque_worker_runs_them(redis: Client, redis_url: str, ns: str) -> None:
    args: list[Any] = [1, "é/\u2028\x01", {"a": [], "b": {"c": None}}, [True, False], 2**70, "x" * 3]
    async with Resque.from_url(redis_url, ns) as resque:
        await resque.enqueue_to("pyjobs", "Recorder", *args)
        assert await resque.enqueue_many_to("pyjobs", "Recorder", [[i, "many"] for i in range(50)]) == 50
        assert await resque.size("pyjobs") == 51
        assert "pyjobs" in await resque.queues()
    # Byte for byte what Ruby's Resque.enqueue writes (no floats: 1e+100 vs 1.0e+100 differ, both read back).
    ruby_bytes = ruby(
        'print Resque.encode({"class" => "Recorder", "args" => JSON.parse(STDIN.read)})'.replace(
            "STDIN.read", "ENV.fetch('ARGS')"
        ),
        redis_url,
        ns,
        env={"ARGS": json.dumps(args)},
    )
    assert encode_job("Recorder", args) == ruby_bytes.encode()
    ruby(
        """
        class Recorder
          def self.perform(*args)
            Resque.redis.rpush("results", JSON.generate(args))
          end
        end
        worker = Resque::Worker.new("pyjobs")
        worker.work(0)
        """,
        redis_url,
        ns,
        env={"FORK_PER_JOB": "false"},
    )
    results = [json.loads(r) for r in await redis.lrange(f"{ns}:results", 0, -1)]  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
    assert results == [args, *([i, "many"] for i in range(50))]
    assert info(redis_url, ns) == {"processed": 51, "failed": 0, "pending": 0}


async def test_failure_round_trip_through_resque_failure(redis: Client, redis_url: str, prefix: str, ns: str) -> None:
    ruby('Resque.enqueue_to("mailers", "Explode", "bang é")', redis_url, ns)
    await burst(redis, prefix, ns)
    assert await runs(redis, prefix) == []
    seen = json.loads(
        ruby(
            """
            item = Resque::Failure.all(0, 1)
            puts JSON.generate(count: Resque::Failure.count, item: item, info: Resque.info.slice(:processed, :failed))
            """,
            redis_url,
            ns,
        )
    )
    item = seen["item"]
    assert seen["count"] == 1
    assert seen["info"] == {"processed": 1, "failed": 1}
    assert item["payload"] == {"class": "Explode", "args": ["bang é"]}
    assert (item["exception"], item["error"], item["queue"]) == ("ValueError", "bang é", "mailers")
    assert re.search(r"tests/jobs_for_resque\.py:\d+:in `explode'$", item["backtrace"][0]), item["backtrace"]
    assert time.strptime(item["failed_at"], "%Y/%m/%d %H:%M:%S UTC")
    assert item["worker"]
    # Fixed in Python; requeued from Ruby; the Python worker runs it again.
    await redis.rpush(f"{prefix}:defused", "bang é")  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
    out = ruby(
        'Resque::Failure.requeue(0); puts Resque.size("mailers"); puts Resque::Failure.all(0, 1)["retried_at"]',
        redis_url,
        ns,
    )
    assert out.split("\n")[0] == "1" and out.split("\n")[1]
    await burst(redis, prefix, ns)
    assert await runs(redis, prefix) == [["bang é"]]
    assert info(redis_url, ns) == {"processed": 2, "failed": 1, "pending": 0}


def _kill_drain(redis_url: str, prefix: str, ns: str, jobs: int, kills: int) -> None:
    """Ruby enqueues ``jobs``; Python worker processes drain them while being SIGKILLed ``kills`` times."""
    ruby(f'{jobs}.times {{ |i| Resque.enqueue_to("mailers", "SendEmail", i) }}', redis_url, ns)
    command = worker_command(
        redis_url,
        prefix,
        "--queues",
        "mailers",
        "--resque-queues",
        "mailers",
        "--resque-namespace",
        ns,
        "--lease",
        "1",
        "--concurrency",
        "20",
        "--log-level",
        "WARNING",
        module="tests.jobs_for_resque_slow",
    )

    client = sync_redis.Redis.from_url(redis_url)
    try:
        for k in range(kills):
            proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            target = jobs * (k + 1) // (kills + 1)
            deadline = time.monotonic() + 60
            while client.llen(f"{prefix}:{RUNS_SUFFIX}") < target and time.monotonic() < deadline:
                time.sleep(0.02)
            assert 0 < client.llen(f"{prefix}:{RUNS_SUFFIX}") < jobs, "the SIGKILL must land mid-drain"
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        time.sleep(1.5)  # the killed worker's leases expire
        done = subprocess.run([*command, "--burst"], cwd=ROOT, capture_output=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout[-2000:]
        ran = [json.loads(r)[1][0] for r in client.lrange(f"{prefix}:{RUNS_SUFFIX}", 0, -1)]
        assert sorted(set(ran)) == list(range(jobs)), f"missing: {sorted(set(range(jobs)) - set(ran))[:20]}"
        assert client.llen(f"{ns}:queue:mailers") == 0
        assert client.llen(f"{ns}:failed") == 0
        assert int(client.get(f"{ns}:stat:processed") or 0) >= jobs
        print(f"Ruby->Python: {jobs} jobs, {kills} SIGKILL(s): none lost, {len(ran) - jobs} ran twice")
    finally:
        client.close()


def test_sigkilled_python_workers_lose_no_ruby_job(redis_url: str, prefix: str, ns: str) -> None:
    _kill_drain(redis_url, prefix, ns, jobs=400, kills=1)


@pytest.mark.slow
def test_thousands_of_ruby_jobs_survive_repeated_sigkills(redis_url: str, prefix: str, ns: str) -> None:
    _kill_drain(redis_url, prefix, ns, jobs=2000, kills=4)


async def test_python_workers_in_resques_worker_registry(redis: Client, redis_url: str, prefix: str, ns: str) -> None:
    listing = """
        ids = Resque.workers.map(&:to_s)
        Resque.redis.del("pruning_dead_workers_in_progress")  # Resque prunes once a minute at most
        Resque::Worker.new("other").prune_dead_workers  # a Ruby worker on other queues prunes
        puts JSON.generate(ids: ids, beats: Resque::Worker.all_heartbeats.keys,
                           after_prune: Resque.workers.map(&:to_s), failed: Resque::Failure.count,
                           started: Resque.workers.map(&:started))
    """
    queue = Queue(redis, "default", prefix=prefix)
    worker = Worker(queue, jobs_for_resque, resque_queues=["mailers", "low"], resque_namespace=ns, resque_register=True)
    async with worker:
        await anyio.sleep(0.5)
        seen = json.loads(ruby(listing, redis_url, ns))
    (wid,) = seen["ids"]
    assert wid.endswith(":mailers,low") and wid.split(":")[1].isdigit()
    assert seen["beats"] == [wid] and seen["after_prune"] == [wid] and seen["failed"] == 0
    assert seen["started"][0]
    # Stopped: gone from the registry.
    assert json.loads(ruby(listing, redis_url, ns))["ids"] == []
    # A SIGKILLed Python worker (its heartbeat stops) is pruned by Ruby after prune_interval, failing nothing.
    await redis.sadd(f"{ns}:workers", "gone-host:1:mailers")  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
    await redis.hset(f"{ns}:workers:heartbeat", "gone-host:1:mailers", "2020-01-01T00:00:00Z")  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
    seen = json.loads(ruby(listing, redis_url, ns))
    assert seen["ids"] == ["gone-host:1:mailers"] and seen["after_prune"] == [] and seen["failed"] == 0


async def test_ruby_and_python_workers_share_a_resque_queue(
    redis: Client, redis_url: str, prefix: str, ns: str
) -> None:
    ruby('300.times { |i| Resque.enqueue_to("mailers", "SendEmail", i) }', redis_url, ns)
    ruby_worker = """
        class SendEmail
          def self.perform(i)
            sleep 0.005
            Resque.redis.rpush("results", i.to_s)
          end
        end
        Resque::Worker.new("mailers").work(0)
    """
    queue = Queue(redis, "default", prefix=prefix)
    python = Worker(queue, jobs_for_resque_slow, concurrency=2, resque_queues=["mailers"], resque_namespace=ns)
    async with python:
        await anyio.to_thread.run_sync(lambda: ruby(ruby_worker, redis_url, ns, env={"FORK_PER_JOB": "false"}))
        with anyio.fail_after(20):
            while len(await runs(redis, prefix)) + await redis.llen(f"{ns}:results") < 300:  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
                await anyio.sleep(0.05)
    by_python = [r[0] for r in await runs(redis, prefix)]
    by_ruby = [int(r) for r in await redis.lrange(f"{ns}:results", 0, -1)]  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
    assert sorted(by_python + by_ruby) == list(range(300))  # each ran once, on one side
    assert by_python and by_ruby  # the importer stayed a few jobs ahead: Ruby kept its share
    print(f"shared queue: Python ran {len(by_python)}, Ruby ran {len(by_ruby)}")
