"""The measurements: enqueue rates, drains, sleeping jobs and enqueue→start latency.

Every figure is detected the same way for every library: each job does one
``INCR`` on a counter in database 1 (see :mod:`benchmarks.peers._body`) and
the harness polls that counter with ``GET`` every few milliseconds. Drain
rates are timed by the job bodies' own stamps, from the first job's INCR to
the last one's, so a worker's interpreter start-up and imports (reported
separately as ``startup_s``) do not count against its throughput.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import redis.asyncio

from ._libs import Library
from ._server import RedisServer, ServerReading, read_server
from .peers._body import COUNTER_KEY, STAMPS_KEY, STARTS_KEY

REPO = Path(__file__).resolve().parent.parent
POLL_INTERVAL = 0.005
"""Seconds between the harness's GETs of the counter."""
SETTLE = 0.2
"""Seconds after the last INCR before Redis's counters are read, so the
libraries' acknowledgements of the last jobs are counted."""
STOP_GRACE = 1.0
"""Seconds a worker gets to exit after SIGTERM before SIGKILL (nothing is measured then)."""
FILL_BATCH = 200
"""Untimed fills of libraries without a bulk call send this many enqueues at once."""


class BenchError(Exception):
    """A figure could not be measured (the worker died, or jobs never finished)."""


@dataclass(frozen=True, slots=True)
class Drain:
    """One drain of N jobs by one worker process."""

    jobs: int
    rate: float
    """Jobs per second from the first job's INCR to the last one's."""
    rate_from_spawn: float
    """Jobs per second from spawning the worker process to the last INCR."""
    startup_s: float
    """Seconds from spawning the worker to its first job."""
    commands_per_job: float
    """Commands per job, those a Lua script runs included (Redis 7 counts both
    in ``total_commands_processed``), the harness's and the job body's excluded."""
    script_calls_per_job: float
    """EVAL/EVALSHA/FCALL calls per job: round trips that run a script."""
    redis_cpu_us: float
    """Redis CPU microseconds per job (the body's INCR included)."""
    worker_cpu_us: float
    """Worker process CPU microseconds per job (the body included)."""
    loop: str
    """The worker's event loop ("uvloop", "asyncio", or "sync")."""
    commandstats: dict[str, int] = field(default_factory=dict)
    """Calls per command over the drain (the harness's own GETs and INFO removed)."""
    partial: bool = False
    """The drain ran out of time: the figures cover the ``jobs`` done by then."""


@dataclass(frozen=True, slots=True)
class Latency:
    """Enqueue→start latency at a fixed enqueue rate."""

    jobs: int
    p50_ms: float
    p99_ms: float
    achieved_rate: float
    """Enqueues per second the producer actually sent."""


class Bench:
    """Measures one library on the run's Redis server.

    Args:
        server: the run's private Redis.
        library: the library under test.
        log_dir: where each worker's output goes.
    """

    def __init__(self, server: RedisServer, library: Library, log_dir: Path) -> None:
        self.server = server
        self.lib = library
        self.log_dir = log_dir
        self.control = redis.asyncio.Redis.from_url(server.url(0))
        self.counter = redis.asyncio.Redis.from_url(server.url(1))
        self._open = False

    async def close(self) -> None:
        """Close the producer and the harness's clients."""
        if self._open:
            await self.lib.close()
            self._open = False
        await self.control.aclose()
        await self.counter.aclose()

    async def reset(self) -> None:
        """Empty every database (no worker runs now); connect the producer once."""
        await self.control.flushall()
        if self._open:
            await self.lib.after_flush()
        else:
            await self.lib.open()
            self._open = True

    # -- producing ---------------------------------------------------------------

    async def enqueue_one_by_one(self, job: str, n: int) -> float:
        """Enqueue ``n`` jobs, awaiting each; returns jobs per second."""
        start = time.perf_counter()
        for i in range(n):
            await self.lib.enqueue(job, i)
        return n / (time.perf_counter() - start)

    async def enqueue_bulk(self, job: str, n: int) -> float:
        """Enqueue ``n`` jobs with the library's bulk call; returns jobs per second."""
        start = time.perf_counter()
        await self.lib.enqueue_bulk(job, range(n))
        return n / (time.perf_counter() - start)

    async def fill(self, job: str, n: int) -> None:
        """Enqueue ``n`` jobs as fast as the library allows (untimed)."""
        if self.lib.has_bulk:
            await self.lib.enqueue_bulk(job, range(n))
            return
        for start in range(0, n, FILL_BATCH):
            await asyncio.gather(*(self.lib.enqueue(job, i) for i in range(start, min(n, start + FILL_BATCH))))

    # -- workers -------------------------------------------------------------------

    def spawn(
        self, label: str, concurrency: int | None, target: int, *, latency: bool = False
    ) -> subprocess.Popen[bytes]:
        """Start one worker process with the library's own command line."""
        env = dict(os.environ)
        env.update(
            BENCH_REDIS_URL=self.server.url(0),
            BENCH_COUNTER_URL=self.server.url(1),
            BENCH_TARGET=str(target),
            BENCH_LATENCY="1" if latency else "0",
            BENCH_CONCURRENCY=str(concurrency or ""),
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{self.lib.name}-{label}.log", "wb") as log:
            return subprocess.Popen(
                self.lib.worker_command(concurrency),
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as one, children included
            )

    @staticmethod
    def stop(proc: subprocess.Popen[bytes]) -> None:
        """Stop a worker (and any children it forked) by its process group."""
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(STOP_GRACE)
                return
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    async def wait_count(
        self, target: int, proc: subprocess.Popen[bytes], timeout: float, label: str, *, partial: bool = False
    ) -> tuple[int, int]:
        """Poll the counter until it reaches ``target``.

        Returns:
            The number of GETs sent and the counter's last value, which is
            below ``target`` only when ``partial`` allows a timeout.

        Raises:
            BenchError: the worker exited, or time ran out (unless ``partial``).
        """
        deadline = time.monotonic() + timeout
        polls = 0
        while True:
            polls += 1
            value = int(await self.counter.get(COUNTER_KEY) or 0)
            if value >= target:
                return polls, value
            if proc.poll() is not None:
                raise BenchError(f"worker exited with {proc.returncode} after {value}/{target} jobs ({label})")
            if time.monotonic() > deadline:
                if partial and value >= 2:
                    return polls, value
                raise BenchError(f"timed out after {timeout:.0f} s with {value}/{target} jobs ({label})")
            await asyncio.sleep(POLL_INTERVAL)

    # -- figures -------------------------------------------------------------------

    async def drain(self, label: str, n: int, concurrency: int | None, timeout: float) -> Drain:
        """Start a worker on ``n`` queued jobs and time it until the last one ran.

        A worker still busy after ``timeout`` seconds is measured over the
        jobs it finished by then (``Drain.partial``).
        """
        before = await read_server(self.control)
        spawned = time.time()
        proc = self.spawn(label, concurrency, n)
        try:
            polls, done = await self.wait_count(n, proc, timeout, label, partial=True)
            if done < n:
                raw = await self._stamps()
                # The last stamp was never written: take it now, with the CPU
                # time of the process that wrote the first one.
                times = psutil.Process(int(raw["pid"])).cpu_times()
                raw["last_wall"], raw["last_cpu"] = str(time.time()), str(times.user + times.system)
                done = int(await self.counter.get(COUNTER_KEY) or 0)
                polls += 1
            else:
                await asyncio.sleep(SETTLE)
            after = await read_server(self.control)
            if done == n:
                raw = await self._stamps()
        finally:
            self.stop(proc)
        n_target, n = n, done
        delta: ServerReading = after - before
        stats = dict(delta.commandstats)
        # The harness's own traffic: its GETs and the first reading's INFO;
        # the job body's: n INCRs and two stamp HSETs.
        harness = polls + 1
        body = n + 2
        stats["get"] = stats.get("get", 0) - polls
        stats["info"] = stats.get("info", 0) - 1
        stats["incrby"] = stats.get("incrby", 0) - n  # redis-py sends INCR as INCRBY key 1
        stats["hset"] = stats.get("hset", 0) - 2
        stats = {k: v for k, v in sorted(stats.items(), key=lambda kv: -kv[1]) if v}
        first_wall, last_wall = float(raw["first_wall"]), float(raw["last_wall"])
        cpu = float(raw["last_cpu"]) - float(raw["first_cpu"])
        span = max(last_wall - first_wall, 1e-9)
        return Drain(
            jobs=n,
            rate=(n - 1) / span,
            rate_from_spawn=n / (last_wall - spawned),
            startup_s=first_wall - spawned,
            commands_per_job=(delta.commands - harness - body) / n,
            script_calls_per_job=sum(v for k, v in stats.items() if k.startswith(("eval", "fcall"))) / n,
            redis_cpu_us=delta.cpu / n * 1e6,
            worker_cpu_us=cpu / (n - 1) * 1e6,
            loop=raw.get("loop", "?"),
            commandstats=stats,
            partial=n < n_target,
        )

    async def _stamps(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in (await self.counter.hgetall(STAMPS_KEY)).items()}

    async def latency(self, n: int, rate: float, concurrency: int | None, timeout: float) -> Latency:
        """Enqueue→start latency of ``n`` jobs sent at ``rate`` per second to an idle worker."""
        proc = self.spawn("latency", concurrency, n, latency=True)
        try:
            # Warm up: the worker has started, connected and run one job.
            await self.lib.enqueue("noop", -1)
            await self.wait_count(1, proc, timeout, "latency warm-up")
            await self.counter.delete(COUNTER_KEY, STARTS_KEY)
            await asyncio.sleep(0.5)  # let it settle into its idle wait
            enqueued: list[float] = []
            begin = time.perf_counter() + 0.01
            for i in range(n):
                delay = begin + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                enqueued.append(time.time())
                await self.lib.enqueue("noop", i)
            sent_in = time.perf_counter() - begin
            await self.wait_count(n, proc, timeout, "latency")
        finally:
            self.stop(proc)
        starts = {int(k): float(v) for k, v in (await self.counter.hgetall(STARTS_KEY)).items()}
        waits = sorted((starts[i] - enqueued[i]) * 1000 for i in range(n))
        return Latency(n, percentile(waits, 50), percentile(waits, 99), n / sent_in)


def percentile(sorted_values: list[float], pct: float) -> float:
    """The ``pct`` percentile of already sorted values (nearest rank)."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def body_cost(loop: str, count: int, counter_url: str) -> float:
    """CPU seconds of one job body alone, measured in a fresh process on ``loop``."""
    env = dict(os.environ, BENCH_COUNTER_URL=counter_url, BENCH_TARGET="0", BENCH_LATENCY="0")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.peers._body", "--loop", loop, "--count", str(count)],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(json.loads(out)["cpu_per_call"])


def median(values: list[float]) -> float:
    """The median, for figures repeated ``--repeats`` times."""
    return statistics.median(values)
