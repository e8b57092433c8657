"""One adapter per library: how to enqueue with it and how to start its worker.

Each adapter is the producer's side as a user would write it, plus the
worker command line a user would type. A library that cannot be imported
here is reported as "n/a" with the reason, and the run goes on.
"""

from __future__ import annotations

import importlib
import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, ClassVar

from .peers._env import QUEUE

BIN = Path(sys.executable).parent
"""Where the venv's console scripts (``arq``, ``rq`` ...) live."""
BULK_CHUNK = 1000
"""Jobs per bulk call, for the libraries that have one."""


class Library(ABC):
    """A queue library under test.

    Attributes:
        name: the label in the results.
        distributions: the packages whose versions are reported.
        jobs_module: the module (under ``benchmarks.peers``) with its jobs.
        default_concurrency: what its worker runs with when not told.
        max_concurrency: the most it can run at once in one process, if bounded.
        has_bulk: whether it has a bulk enqueue call.
    """

    name: ClassVar[str]
    distributions: ClassVar[tuple[str, ...]]
    jobs_module: ClassVar[str]
    default_concurrency: ClassVar[int]
    max_concurrency: ClassVar[int | None] = None
    has_bulk: ClassVar[bool] = False

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url

    def versions(self) -> dict[str, str]:
        """The installed version of each distribution."""
        found = {}
        for dist in self.distributions:
            try:
                found[dist] = version(dist)
            except PackageNotFoundError:
                found[dist] = "not installed"
        return found

    def check(self) -> str | None:
        """Why this library cannot run here, or None when it can.

        Besides importing its jobs module, this checks the library's declared
        requirements: arq, bullmq and taskiq-redis pin redis-py below 6 and
        misbehave on newer versions (see benchmarks/README.md).
        """
        unmet = unmet_requirements(self.distributions)
        if unmet:
            return "; ".join(unmet)
        try:
            importlib.import_module(f"benchmarks.peers.{self.jobs_module}")
        except Exception as exc:  # noqa: BLE001 - any import failure makes the peer n/a
            return f"{type(exc).__name__}: {exc}"
        return None

    def jobs(self) -> Any:
        """The imported jobs module."""
        return importlib.import_module(f"benchmarks.peers.{self.jobs_module}")

    @abstractmethod
    def worker_command(self, concurrency: int | None) -> list[str]:
        """The command line of one worker process (None: the default concurrency)."""

    @abstractmethod
    async def open(self) -> None:
        """Connect the producer."""

    async def after_flush(self) -> None:
        """Restore what the producer set up in Redis, after the harness's FLUSHALL."""
        return  # most libraries set nothing up

    @abstractmethod
    async def close(self) -> None:
        """Disconnect the producer."""

    @abstractmethod
    async def enqueue(self, job: str, i: int) -> None:
        """Enqueue one job, ``job(i)``, and wait for the library to confirm it."""

    async def enqueue_bulk(self, job: str, indexes: Sequence[int]) -> None:
        """Enqueue many jobs with the library's bulk call (only when ``has_bulk``)."""
        raise NotImplementedError(self.name)


def unmet_requirements(distributions: Sequence[str]) -> list[str]:
    """The installed dependencies of ``distributions`` that their metadata rules out."""
    from importlib.metadata import requires

    from packaging.requirements import InvalidRequirement, Requirement

    unmet = []
    for dist in distributions:
        try:
            declared = requires(dist) or []
        except PackageNotFoundError:
            continue
        for line in declared:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            try:
                have = version(req.name)
            except PackageNotFoundError:
                continue
            if req.specifier and not req.specifier.contains(have, prereleases=True):
                unmet.append(f"{dist} requires {req.name}{req.specifier}, installed {have}")
    return unmet


class Aioresque(Library):
    """aioresque: ``Queue.enqueue`` / ``Queue.enqueue_many``."""

    name = "aioresque"
    distributions = ("aioresque", "redis", "hiredis", "anyio", "uvloop", "orjson")
    jobs_module = "aioresque_jobs"
    default_concurrency = 10
    has_bulk = True
    processes = 1  # --processes N (the harness's 1 -> 2 process figure sets 2)

    def versions(self) -> dict[str, str]:
        """Versions; aioresque itself is imported from the repository, installed or not."""
        import aioresque

        return super().versions() | {"aioresque": aioresque.__version__}

    async def open(self) -> None:
        from aioresque import Queue

        self.queue = Queue.from_url(self.redis_url, QUEUE, prefix="bench")

    async def close(self) -> None:
        await self.queue.close()

    def worker_command(self, concurrency: int | None) -> list[str]:
        cmd = [sys.executable, "-m", "aioresque", "worker", "benchmarks.peers.aioresque_jobs"]
        cmd += ["--queues", QUEUE, "--prefix", "bench", "--redis-url", self.redis_url, "--log-level", "WARNING"]
        cmd += ["--processes", str(self.processes)] if self.processes > 1 else []
        return cmd + (["--concurrency", str(concurrency)] if concurrency else [])

    async def enqueue(self, job: str, i: int) -> None:
        await self.queue.enqueue(job, i)

    async def enqueue_bulk(self, job: str, indexes: Sequence[int]) -> None:
        from aioresque import Call

        for start in range(0, len(indexes), BULK_CHUNK):
            await self.queue.enqueue_many([Call(job, (i,)) for i in indexes[start : start + BULK_CHUNK]])


class Arq(Library):
    """arq: ``ArqRedis.enqueue_job``; no bulk call."""

    name = "arq"
    distributions = ("arq",)
    jobs_module = "arq_jobs"
    default_concurrency = 10

    async def open(self) -> None:
        from arq import create_pool
        from arq.connections import RedisSettings

        self.pool = await create_pool(RedisSettings.from_dsn(self.redis_url))

    async def close(self) -> None:
        await self.pool.aclose()

    def worker_command(self, concurrency: int | None) -> list[str]:
        mod = "benchmarks.peers.arq_jobs"
        return [str(BIN / "arq"), f"{mod}.WorkerSettings", "--custom-log-dict", f"{mod}.LOG_CONFIG"]

    async def enqueue(self, job: str, i: int) -> None:
        await self.pool.enqueue_job(job, i, _queue_name=QUEUE)


class Saq(Library):
    """SAQ: ``Queue.enqueue``; no bulk call (``map`` also waits for results)."""

    name = "saq"
    distributions = ("saq",)
    jobs_module = "saq_jobs"
    default_concurrency = 10

    async def open(self) -> None:
        from saq import Queue

        self.queue = Queue.from_url(self.redis_url, name=QUEUE)
        await self.queue.connect()

    async def close(self) -> None:
        await self.queue.disconnect()

    def worker_command(self, concurrency: int | None) -> list[str]:
        return [str(BIN / "saq"), "benchmarks.peers.saq_jobs.settings", "--workers", "1"]

    async def enqueue(self, job: str, i: int) -> None:
        await self.queue.enqueue(job, i=i)


class Rq(Library):
    """RQ with ``SimpleWorker`` (one job at a time, no fork); sync client."""

    name = "rq"
    distributions = ("rq",)
    jobs_module = "rq_jobs"
    default_concurrency = 1
    max_concurrency = 1
    has_bulk = True

    async def open(self) -> None:
        from redis import Redis
        from rq import Queue

        self.conn = Redis.from_url(self.redis_url)
        self.queue = Queue(QUEUE, connection=self.conn)
        self.funcs = self.jobs()

    async def close(self) -> None:
        self.conn.close()

    def worker_command(self, concurrency: int | None) -> list[str]:
        return [
            str(BIN / "rq"),
            "worker",
            "--url",
            self.redis_url,
            "--worker-class",
            "rq.SimpleWorker",
            "--quiet",
            QUEUE,
        ]

    async def enqueue(self, job: str, i: int) -> None:
        # RQ's client is synchronous: this blocks the harness's loop, as it
        # would block a user's (nothing else runs in the harness meanwhile).
        self.queue.enqueue(getattr(self.funcs, job), i)

    async def enqueue_bulk(self, job: str, indexes: Sequence[int]) -> None:
        from rq import Queue

        fn = getattr(self.funcs, job)
        for start in range(0, len(indexes), BULK_CHUNK):
            self.queue.enqueue_many([Queue.prepare_data(fn, (i,)) for i in indexes[start : start + BULK_CHUNK]])


class Streaq(Library):
    """streaq: ``task.enqueue`` awaited, and ``Worker.enqueue_many``."""

    name = "streaq"
    distributions = ("streaq", "coredis")
    jobs_module = "streaq_jobs"
    default_concurrency = 16
    has_bulk = True

    async def open(self) -> None:
        self.module = self.jobs()
        self.worker = self.module.worker
        await self.worker.__aenter__()

    async def close(self) -> None:
        await self.worker.__aexit__(None, None, None)

    def worker_command(self, concurrency: int | None) -> list[str]:
        return [str(BIN / "streaq"), "run", "benchmarks.peers.streaq_jobs:worker"]

    async def enqueue(self, job: str, i: int) -> None:
        await getattr(self.module, job).enqueue(i)

    async def enqueue_bulk(self, job: str, indexes: Sequence[int]) -> None:
        task = getattr(self.module, job)
        for start in range(0, len(indexes), BULK_CHUNK):
            await self.worker.enqueue_many([task.enqueue(i) for i in indexes[start : start + BULK_CHUNK]])


class Taskiq(Library):
    """taskiq + taskiq-redis ``RedisStreamBroker``: ``task.kiq``; no bulk call."""

    name = "taskiq"
    distributions = ("taskiq", "taskiq-redis")
    jobs_module = "taskiq_jobs"
    default_concurrency = 100

    async def open(self) -> None:
        self.module = self.jobs()
        # startup() creates the stream's consumer group, which must exist
        # before the first message: the group starts reading at "$".
        await self.module.broker.startup()

    async def close(self) -> None:
        await self.module.broker.shutdown()

    async def after_flush(self) -> None:
        # What startup() does in Redis; the broker has no public call for it.
        await self.module.broker._declare_consumer_group()

    def worker_command(self, concurrency: int | None) -> list[str]:
        cmd = [str(BIN / "taskiq"), "worker", "benchmarks.peers.taskiq_jobs:broker", "--workers", "1"]
        cmd += ["--log-level", "WARNING"]
        return cmd + (["--max-async-tasks", str(concurrency)] if concurrency else [])

    async def enqueue(self, job: str, i: int) -> None:
        await getattr(self.module, job).kiq(i)


class Bullmq(Library):
    """BullMQ's Python package: ``Queue.add`` and ``Queue.addBulk``."""

    name = "bullmq"
    distributions = ("bullmq",)
    jobs_module = "bullmq_jobs"
    default_concurrency = 1
    has_bulk = True

    async def open(self) -> None:
        from bullmq import Queue

        self.queue = Queue(QUEUE, {"connection": self.redis_url})

    async def close(self) -> None:
        await self.queue.close()

    def worker_command(self, concurrency: int | None) -> list[str]:
        return [sys.executable, "-m", "benchmarks.peers.bullmq_jobs"]

    async def enqueue(self, job: str, i: int) -> None:
        await self.queue.add(job, {"i": i})

    async def enqueue_bulk(self, job: str, indexes: Sequence[int]) -> None:
        for start in range(0, len(indexes), BULK_CHUNK):
            await self.queue.addBulk([{"name": job, "data": {"i": i}} for i in indexes[start : start + BULK_CHUNK]])


ALL: tuple[type[Library], ...] = (Aioresque, Arq, Saq, Rq, Streaq, Taskiq, Bullmq)
"""Every library, aioresque first."""
