"""Crash tests: real worker processes SIGKILLed at random, Redis restarted mid-run.

Every job counts each of its runs in a Redis hash (``tests/jobs_for_crash.py``),
so the test can check that every job completed at least once and count the
jobs that ran twice. Recovery time is measured per kill: from the SIGKILL
until no job is still held by the dead worker (each is back in its queue,
running elsewhere, or finished).

The big run is marked ``slow`` (``pytest -m slow tests/test_crash.py -s``
prints its report); a smaller run of the same harness is part of the
ordinary suite.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
import pytest
from redis.exceptions import RedisError

from aioresque import AioresqueError, Call, Queue
from tests.cli_helpers import ROOT, worker_command
from tests.jobs_for_crash import RUNS_SUFFIX
from tests.redis_cluster import RedisCluster
from tests.redis_server import RedisServer

PREFIX = "crash"
LEASE = 2.0


@dataclass
class CrashReport:
    """What one chaos run saw."""

    jobs: int
    workers: int
    kills: int = 0
    redis_restarts: int = 0
    elapsed: float = 0.0
    ran_twice: int = 0
    extra_runs: int = 0
    lost_events: int = 0
    refused: int = 0
    recovery: list[float] = field(default_factory=list)
    redis_resume: float = 0.0
    """Seconds from Redis answering again until the next job completion was recorded."""

    def summary(self) -> str:
        """One line for the test output and the README."""
        rec = sorted(self.recovery)
        median = statistics.median(rec) if rec else 0.0
        worst = rec[-1] if rec else 0.0
        return (
            f"{self.jobs} jobs, {self.workers} workers, {self.kills} SIGKILLs, {self.redis_restarts} Redis restart: "
            f"all completed in {self.elapsed:.1f} s; {self.ran_twice} ran twice ({self.extra_runs} extra runs); "
            f"lease expiries recovered {self.lost_events}, completions refused {self.refused}; "
            f"recovery after a kill: median {median:.2f} s, worst {worst:.2f} s (lease {LEASE:.0f} s); "
            f"first completion {self.redis_resume:.2f} s after Redis was back"
        )


class Fleet:
    """Worker processes under test, each logging to its own file."""

    def __init__(self, url: str, directory: Path, concurrency: int) -> None:
        self.url = url
        self.directory = directory
        self.concurrency = concurrency
        self.procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        """Start one more worker."""
        command = worker_command(
            self.url,
            PREFIX,
            "--lease",
            str(LEASE),
            "--concurrency",
            str(self.concurrency),
            "--max-lost",
            "50",
            "--log-level",
            "WARNING",
            module="tests.jobs_for_crash",
        )
        log = (self.directory / f"worker-{len(self._logs)}.log").open("wb")
        self._logs.append(log)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        """Kill whatever still runs and close the logs."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        for log in self._logs:
            log.close()


async def held_by(queue: Queue, pid: int) -> list[str]:
    """Ids of active jobs whose state names the worker with this pid."""
    owner = f"{socket.gethostname()}:{pid}:"
    members: list[Any] = await queue.redis.zrange(queue.keys.active, 0, -1)
    ids = [i.decode() for i in members]
    if not ids:
        return []
    states = await queue.redis.hmget(queue.keys.state, ids)
    return [
        i for i, raw in zip(ids, states, strict=True) if raw and json.loads(raw).get("worker", "").startswith(owner)
    ]


async def measure_recovery(queue: Queue, pid: int, killed_at: float, report: CrashReport) -> None:
    """Record how long until no job is held by the killed worker any more."""
    while True:
        try:
            if not await held_by(queue, pid):
                report.recovery.append(time.monotonic() - killed_at)
                return
        except (AioresqueError, RedisError, OSError):
            pass  # Redis is being restarted
        await anyio.sleep(0.05)


async def measure_resume(queue: Queue, before: int, back_at: float, report: CrashReport) -> None:
    """Record how long after Redis came back the workers recorded a completion."""
    while await completed(queue) <= before:
        await anyio.sleep(0.02)
    report.redis_resume = time.monotonic() - back_at


async def completed(queue: Queue) -> int:
    try:
        return (await queue.statistics()).counters.get("completed", 0)
    except (AioresqueError, RedisError, OSError):
        return -1


async def chaos(
    tmp_path: Path,
    *,
    jobs: int,
    workers: int,
    kills: int,
    concurrency: int,
    job_seconds: tuple[float, float],
    kill_every: tuple[float, float],
    seed: int,
    cluster: bool = False,
) -> CrashReport:
    """Run ``jobs`` jobs on ``workers`` workers while killing them; restart Redis once.

    With ``cluster``, Redis is a real 3-master cluster (AOF on every node) and
    the restart is of the master that serves the queue.
    """
    rng = random.Random(seed)
    server: RedisServer | RedisCluster
    if cluster:
        server = RedisCluster(tmp_path / "cluster", appendonly=True, start_port=33000)
    else:
        server = RedisServer(tmp_path / "redis", appendonly=True)
    server.start()
    fleet = Fleet(server.url, tmp_path, concurrency)
    queue = Queue.from_url(server.url, prefix=PREFIX)
    report = CrashReport(jobs, workers)
    started = time.monotonic()
    try:
        calls = [Call("tracked", (round(rng.uniform(*job_seconds), 3),)) for _ in range(jobs)]
        handles = []
        for i in range(0, jobs, 1000):
            handles += await queue.enqueue_many(calls[i : i + 1000])
        ids = [h.id for h in handles]
        for _ in range(workers):
            fleet.start()
        async with anyio.create_task_group() as tg:
            for n in range(kills):
                await anyio.sleep(rng.uniform(*kill_every))
                alive = [p for p in fleet.procs if p.poll() is None]
                victim = rng.choice(alive)
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                report.kills += 1
                tg.start_soon(measure_recovery, queue, victim.pid, time.monotonic(), report)
                fleet.start()
                if n == kills // 2:
                    before = await completed(queue)
                    node = server.node_for(queue.keys.queue) if isinstance(server, RedisCluster) else server
                    node.stop(kill=True)  # appendfsync always: nothing acknowledged is lost
                    await anyio.sleep(0.5)
                    node.start()
                    if isinstance(server, RedisCluster):
                        await anyio.to_thread.run_sync(server.wait_ok)
                    report.redis_restarts += 1
                    tg.start_soon(measure_resume, queue, before, time.monotonic(), report)
            with anyio.fail_after(180):
                while await completed(queue) < jobs:
                    await anyio.sleep(0.1)
        report.elapsed = time.monotonic() - started
        runs: dict[Any, Any] = await queue.redis.hgetall(f"{PREFIX}:{RUNS_SUFFIX}")
        counts = {k.decode(): int(v) for k, v in runs.items()}
        never = [i for i in ids if counts.get(i, 0) < 1]
        assert never == [], f"{len(never)} job(s) never completed"
        states = await queue.redis.hmget(queue.keys.state, ids)
        statuses = {json.loads(raw)["status"] for raw in states if raw is not None}
        assert statuses <= {"complete"}, statuses
        stats = await queue.statistics()
        assert stats.dead == 0 and stats.active == 0 and stats.queued == 0
        assert stats.counters["completed"] == jobs
        report.ran_twice = sum(1 for c in counts.values() if c > 1)
        report.extra_runs = sum(c - 1 for c in counts.values())
        report.lost_events = stats.counters.get("lost", 0)
        report.refused = stats.counters.get("refused", 0)
        return report
    finally:
        fleet.stop_all()
        await queue.close()
        server.stop()


async def test_crash_small(tmp_path: Path) -> None:
    report = await chaos(
        tmp_path,
        jobs=600,
        workers=3,
        kills=4,
        concurrency=10,
        job_seconds=(0.2, 0.6),
        kill_every=(0.8, 1.5),
        seed=1,
    )
    print(f"\ncrash test (small): {report.summary()}")
    assert report.kills == 4 and report.redis_restarts == 1
    assert len(report.recovery) == 4
    # A dead worker's jobs are back within about a lease (bound generous for a loaded machine).
    assert max(report.recovery) < LEASE + 3, report.recovery


async def test_crash_small_on_a_cluster(tmp_path: Path) -> None:
    report = await chaos(
        tmp_path,
        jobs=600,
        workers=3,
        kills=4,
        concurrency=10,
        job_seconds=(0.2, 0.6),
        kill_every=(0.8, 1.5),
        seed=2,
        cluster=True,
    )
    print(f"\ncrash test (small, 3-master cluster): {report.summary()}")
    assert report.kills == 4 and report.redis_restarts == 1
    assert max(report.recovery) < LEASE + 3, report.recovery


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("seed", [11, 12, 13])
async def test_crash_big(tmp_path: Path, seed: int) -> None:
    report = await chaos(
        tmp_path,
        jobs=5000,
        workers=4,
        kills=25,
        concurrency=20,
        job_seconds=(0.05, 0.5),
        kill_every=(0.4, 1.2),
        seed=seed,
    )
    print(f"\ncrash test (seed {seed}): {report.summary()}")
    assert report.kills == 25 and report.redis_restarts == 1
    assert max(report.recovery) < LEASE + 3, report.recovery
