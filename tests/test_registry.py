"""The worker registry: registrations, staleness, expiry, pruning, the CLI."""

from __future__ import annotations

import json
import signal
import socket
import sys

import anyio
import pytest
from redis.asyncio import Redis

from aioresque import JobStatus, Queue, Worker, WorkerInfo, list_workers, prune_workers
from aioresque._keys import worker_index, worker_record
from aioresque._registry import beat_interval, is_stale, parse_record, record_for, register, registration_ttl
from tests import jobs_for_tests
from tests.cli_helpers import run, spawned, worker_command


def test_intervals_follow_the_lease() -> None:
    assert beat_interval(30) == 5.0  # "every few seconds"
    assert beat_interval(2) == pytest.approx(2 / 3)
    assert registration_ttl(30) == 90.0
    assert registration_ttl(1) == 10.0


def test_staleness_is_a_missed_lease() -> None:
    assert not is_stale(1000, 2000, 1000)
    assert is_stale(1000, 2001, 1000)


def test_parse_record_reads_cjson_empty_lists_and_rejects_garbage() -> None:
    raw = json.dumps(
        {"id": "h:1:a", "host": "h", "pid": 1, "queues": {}, "concurrency": 2, "lease": 1000,
         "in_flight": {}, "started_at": 0, "last_heartbeat": 500}
    )  # fmt: skip
    info = parse_record(raw, now_ms=1000)
    assert info is not None
    assert (info.queues, info.in_flight, info.stale, info.lease) == ((), (), False, 1.0)
    for garbage in ["not json", "[]", "{}", json.dumps({"id": "x", "last_heartbeat": "soon"})]:
        assert parse_record(garbage, 0) is None


def test_record_for_splits_the_worker_id() -> None:
    rec = record_for("web-1:4242:abcd", queues=["a"], concurrency=3, lease=2.5, in_flight=["j"], paused=True)
    assert (rec["host"], rec["pid"], rec["lease"], rec["in_flight"], rec["paused"]) == (
        "web-1",
        4242,
        2500,
        ["j"],
        True,
    )


async def test_a_running_worker_is_listed_with_its_jobs(queue: Queue, redis: Redis, prefix: str) -> None:
    job = await queue.enqueue("sleep", 5)
    async with Worker(queue, jobs_for_tests, queues=["default", "low"], concurrency=4, lease=1.5) as worker:
        while await job.status() is not JobStatus.ACTIVE:
            await anyio.sleep(0.02)
        await anyio.sleep(beat_interval(1.5) + 0.2)  # the next beat lists the job
        [info] = await list_workers(redis, prefix=prefix)
        assert isinstance(info, WorkerInfo)
        assert info.id == worker.id
        assert (info.host, info.queues, info.concurrency, info.lease) == (
            socket.gethostname(),
            ("default", "low"),
            4,
            1.5,
        )
        assert info.in_flight == (job.id,)
        assert not info.stale
        assert info.started_at <= info.last_heartbeat
        await job.cancel()
    # A graceful stop removes the registration.
    assert await list_workers(redis, prefix=prefix) == []
    assert await redis.zcard(worker_index(prefix)) == 0


async def test_a_silent_worker_turns_stale_then_is_pruned(redis: Redis, prefix: str) -> None:
    rec = record_for("gone:1:x", queues=["default"], concurrency=1, lease=0.5, in_flight=[], paused=False)
    await register(redis, prefix, rec, None, 0.5)
    [info] = await list_workers(redis, prefix=prefix)
    assert not info.stale
    await anyio.sleep(0.6)
    [info] = await list_workers(redis, prefix=prefix)
    assert info.stale
    # The registration's TTL runs out (simulated): any prune drops the id.
    await redis.delete(worker_record(prefix, "gone:1:x"))
    assert await list_workers(redis, prefix=prefix) == []
    assert await prune_workers(redis, prefix=prefix) == 1
    assert await redis.zcard(worker_index(prefix)) == 0


async def test_registration_expires_on_its_own(redis: Redis, prefix: str) -> None:
    rec = record_for("gone:2:y", queues=[], concurrency=1, lease=0.5, in_flight=[], paused=False)
    await register(redis, prefix, rec, None, 0.5)
    ttl = await redis.pttl(worker_record(prefix, "gone:2:y"))
    assert 0 < ttl <= registration_ttl(0.5) * 1000
    # The index scores each id by its expiry, so a beat of any worker prunes it.
    await redis.zadd(worker_index(prefix), {"gone:2:y": 1})
    other = record_for("live:3:z", queues=[], concurrency=1, lease=0.5, in_flight=[], paused=False)
    await register(redis, prefix, other, None, 0.5)
    assert await redis.zrange(worker_index(prefix), 0, -1) == [b"live:3:z"]


async def test_cli_lists_workers_and_probes_liveness(redis_url: str, prefix: str, redis: Redis) -> None:
    base = [sys.executable, "-m", "aioresque"]
    opts = ["--redis-url", redis_url, "--prefix", prefix]
    empty = await anyio.to_thread.run_sync(lambda: run([*base, "workers", *opts]))
    assert (empty.returncode, empty.stdout.strip()) == (0, "no workers registered")
    probe = await anyio.to_thread.run_sync(lambda: run([*base, "workers", *opts, "--check"]))
    assert probe.returncode == 1
    with spawned(worker_command(redis_url, prefix, "--lease", "1", "--queues", "a,b")) as proc:
        with anyio.fail_after(10):
            while not await list_workers(redis, prefix=prefix):
                await anyio.sleep(0.05)
        listed = await anyio.to_thread.run_sync(lambda: run([*base, "workers", *opts, "--json"]))
        [row] = [json.loads(line) for line in listed.stdout.splitlines()]
        assert (row["pid"], row["queues"], row["stale"]) == (proc.pid, ["a", "b"], False)
        human = await anyio.to_thread.run_sync(lambda: run([*base, "workers", *opts]))
        [header, row_text] = human.stdout.splitlines()
        assert header.split()[:3] == ["HOST", "PID", "QUEUES"]
        assert row_text.split()[1:4] == [str(proc.pid), "a,b", "idle"]
        probe = await anyio.to_thread.run_sync(lambda: run([*base, "workers", *opts, "--check"]))
        assert probe.returncode == 0, probe.stderr
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        await anyio.sleep(1.3)  # past its lease: stale, not yet expired
        [info] = await list_workers(redis, prefix=prefix)
        assert info.pid == proc.pid and info.stale
        probe = await anyio.to_thread.run_sync(lambda: run([*base, "workers", *opts, "--check"]))
        assert probe.returncode == 1
