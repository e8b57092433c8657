"""``Worker``: claims jobs, runs many at once on one event loop, records outcomes.

The worker runs four kinds of task in one task group:

* the **claim loop** asks Redis for as many jobs as there are free slots,
  queue by queue in priority order, and blocks on the queues' wake-up
  markers (BZPOPMIN) when they are all empty, with a timeout that ends when
  the next scheduled job falls due or the next lease expires;
* one **job task** per claimed job (see :mod:`aioresque._execution`);
* the **flusher** records finished jobs' outcomes in one script call per
  queue, and in the same call claims replacement jobs from the top queue;
* the **heartbeat** extends the leases of every job in flight, one call per
  queue, and cancels a job whose lease Redis says it lost.

Invariant: ``_free`` slots + jobs in ``_running`` + slots reserved by a
claim in flight == ``concurrency``. A slot is released when its job's
outcome is recorded (or found to need no recording), not when the handler
returns, so the flusher can reuse it in the same round trip.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from . import _scripts
from ._connect import Client, blocking_limit, connect, is_cluster
from ._errors import ConfigurationError
from ._execution import ClaimedJob, Kind, Outcome, Runner, StopReason, error_record, execute, parse_state
from ._format import READS
from ._handler import JobFunction, Registry, WorkerHook
from ._health import QueueHealth
from ._keys import DEFAULT_PREFIX
from ._limits import limit_args
from ._middleware import PerformMiddleware
from ._queue import DEFAULT_URL, Queue, Retention
from ._retry import Backoff
from ._scheduler import run_schedules
from ._serializer import Serializer
from ._server import check_server
from ._upkeep import run_upkeep
from ._worker_metrics import WorkerMetrics

log = logging.getLogger("aioresque.worker")

IDLE_WAIT_CAP = 5.0
"""Longest a blocking wait lasts (seconds): bounds idle traffic to ~0.2 commands/s."""
RECONNECT_BACKOFF = (0.1, 5.0)
"""First and longest pause between tries while Redis is unreachable (seconds)."""


@dataclass(frozen=True, slots=True)
class WorkerStatistics:
    """A snapshot of one worker's counters."""

    id: str
    queues: tuple[str, ...]
    concurrency: int
    running: int
    claimed: int
    completed: int
    failed: int
    requeued: int
    lost: int
    refused: int
    started_at: float | None
    """Unix time the worker started running, or None before it starts."""


class Worker:
    """Runs jobs from one or more queues, many at once.

    Use it from the command line (``python -m aioresque worker app.jobs``),
    with ``await worker.run()``, or in the background of an async app::

        async with Worker(queue, app.jobs):
            ...  # jobs run while the block runs; leaving it stops gracefully

    (A burst worker's block ends when its burst does.)

    Args:
        redis: a URL (any form :meth:`Queue.from_url` takes), a
            ``redis.asyncio`` client (``Redis`` or ``RedisCluster``), or a :class:`Queue` whose
            client, prefix, serializer and retention the worker shares.
        functions: a jobs module, a :class:`Registry`, or an iterable of
            ``@job`` handlers and hooks.
        queues: queue names in strict priority order, or ``["*"]`` for every
            queue that has been enqueued to (alphabetical).
        concurrency: most jobs in flight at once (default 10).
        lease: seconds a claim holds a job without a heartbeat (default 30);
            a job held by a vanished worker is run again after about this long.
        grace: seconds ``stop()`` waits for running jobs before cancelling
            them and handing them back to their queue (default 25).
        burst: exit once the queues are empty and nothing runs.
        max_lost: times a job may be lost with its worker before it is dead.
        backoff: retry delays after a failed attempt (handlers may set their own).
        middleware: async callables wrapped around each attempt of each job,
            first outermost (see :class:`PerformMiddleware`).
        prefix, serializer, retention: as for :class:`Queue`, when ``redis``
            is not a Queue.
    """

    def __init__(
        self,
        redis: str | Client | Queue = DEFAULT_URL,
        functions: ModuleType | Registry | Iterable[JobFunction[Any, Any] | WorkerHook] = (),
        *,
        queues: Sequence[str] = ("default",),
        concurrency: int = 10,
        lease: float = 30.0,
        grace: float = 25.0,
        burst: bool = False,
        max_lost: int = 3,
        backoff: Backoff | None = None,
        prefix: str = DEFAULT_PREFIX,
        serializer: Serializer | None = None,
        retention: Retention | None = None,
        middleware: Sequence[PerformMiddleware] = (),
    ) -> None:
        if concurrency < 1:
            raise ConfigurationError(f"concurrency must be at least 1, got {concurrency}")
        if lease < 0.5:
            raise ConfigurationError(f"lease must be at least 0.5 s, got {lease}")
        if grace < 0:
            raise ConfigurationError(f"grace must not be negative, got {grace}")
        if max_lost < 1:
            raise ConfigurationError(f"max_lost must be at least 1, got {max_lost}")
        if not queues:
            raise ConfigurationError("a worker needs at least one queue")
        self._owns_client = False
        if isinstance(redis, Queue):
            base = redis
        else:
            client = connect(redis) if isinstance(redis, str) else redis
            self._owns_client = isinstance(redis, str)
            base = Queue(client, "default", prefix=prefix, serializer=serializer, retention=retention)
        self._base = base
        if isinstance(functions, Registry):
            self.registry = functions
        elif isinstance(functions, ModuleType):
            self.registry = Registry.from_module(functions)
        else:
            self.registry = Registry.build(functions)
        self._wildcard = list(queues) == ["*"]
        if not self._wildcard and "*" in queues:
            raise ConfigurationError("'*' cannot be combined with queue names")
        self._queues: list[Queue] = [] if self._wildcard else [base.sibling(q) for q in queues]
        self.concurrency = concurrency
        self.lease = lease
        self.grace = grace
        self.burst = burst
        self.max_lost = max_lost
        self.backoff = backoff or Backoff()
        self.middleware = tuple(middleware)
        self.id = ":".join((socket.gethostname(), str(os.getpid()), uuid.uuid4().hex[:8]))
        self.resources: dict[str, Any] = {}

        self._free = concurrency
        self._running: dict[str, ClaimedJob] = {}
        self._outcomes: list[Outcome] = []
        # Auto-reset wake-ups, one per waiting loop: set when slots free up,
        # outcomes arrive or the worker is told to stop, pause or resume.
        self._claimer_wake = anyio.Event()
        self._flusher_wake = anyio.Event()
        self._stopping = False
        self._stopped = anyio.Event()
        self._paused = False
        self._claim_scope: anyio.CancelScope | None = None
        self._top_has_work = True
        self._counters = dict.fromkeys(("claimed", "completed", "failed", "requeued", "lost", "refused"), 0)
        self.metrics = WorkerMetrics()
        """Attempts by handler and outcome, and their durations (Prometheus text: ``metrics.render()``)."""
        self._started_at: float | None = None
        self._task_group: TaskGroup | None = None
        self._tg_cm: Any = None
        self._outage = False
        self._runner: Runner | None = None
        self._jobs: TaskGroup | None = None
        self._health = QueueHealth()
        # Internal knob, not public API: the newest state record format this
        # worker claims (aioresque/_format.py). Tests lower or raise it to play
        # an older or newer release in a rolling upgrade (docs/upgrading.md).
        self._reads_format = READS
        self._newer_logged: set[str] = set()
        # The limits of the handlers served, as the claim scripts read them (aioresque/_limits.py).
        self._limit_args = limit_args(self.registry.functions.values())

    def __repr__(self) -> str:
        names = ",".join(self.queue_names) or "*"
        return f"<Worker {self.id} queues={names} running={len(self._running)}/{self.concurrency}>"

    @property
    def queue_names(self) -> tuple[str, ...]:
        """The queues served, in priority order (resolved names for ``*``)."""
        return tuple(q.name for q in self._queues)

    def statistics(self) -> WorkerStatistics:
        """A snapshot of the worker's counters (no Redis call)."""
        c = self._counters
        return WorkerStatistics(
            self.id,
            self.queue_names,
            self.concurrency,
            len(self._running),
            c["claimed"],
            c["completed"],
            c["failed"],
            c["requeued"],
            c["lost"],
            c["refused"],
            self._started_at,
        )

    # -- control -------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming and shut down gracefully (see ``grace``). Idempotent."""
        if not self._stopping:
            log.info("worker %s stopping (grace %.1f s)", self.id, self.grace)
        self._stopping = True
        self._interrupt_claim()
        self._signal()

    def pause(self) -> None:
        """Stop claiming new jobs; running jobs go on."""
        self._paused = True
        self._interrupt_claim()

    def resume(self) -> None:
        """Claim jobs again after :meth:`pause`."""
        self._paused = False
        self._signal()

    async def __aenter__(self) -> Worker:
        self._tg_cm = anyio.create_task_group()
        self._task_group = await self._tg_cm.__aenter__()
        self._task_group.start_soon(self.run)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A burst worker leaving its block finishes its burst; any other stops
        # gracefully. An error in the block stops either kind.
        if not self.burst or exc is not None:
            self.stop()
        try:
            await self._tg_cm.__aexit__(exc_type, exc, tb)
        finally:
            self._task_group = None

    async def run(self) -> None:
        """Run until :meth:`stop` (or, in burst mode, until the queues are empty).

        Startup hooks run first; shutdown hooks run after the last job.
        """
        self._started_at = time.time()
        # A server too old for the scripts fails here, naming its version, not
        # later as an "unknown command" inside a claim.
        await self._redis_call(check_server, self._base.redis)
        for hook in self.registry.startup:
            await hook(self.resources)
        try:
            await self._resolve_queues()
            log.info(
                "worker %s serving %s (concurrency %d, lease %.1f s)",
                self.id,
                ",".join(self.queue_names) or "*",
                self.concurrency,
                self.lease,
            )
            self._runner = Runner(
                self.registry,
                self.id,
                self.resources,
                anyio.CapacityLimiter(self.concurrency),
                self.backoff.delay,
                self.middleware,
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._flusher)
                tg.start_soon(self._heartbeat)
                tg.start_soon(run_upkeep, self)
                tg.start_soon(run_schedules, self)
                async with anyio.create_task_group() as jobs:
                    self._jobs = jobs
                    await self._claim_loop()
                    await self._drain()
                self._jobs = None
                # Every job task has ended and queued its outcome; the flusher
                # records the last ones and returns.
                self._stopped.set()
                self._signal()
        finally:
            with anyio.CancelScope(shield=True):
                for hook in self.registry.shutdown:
                    try:
                        await hook(self.resources)
                    except Exception:
                        log.exception("shutdown hook %s failed", hook.fn)
                if self._owns_client:
                    await self._base.redis.aclose()
            log.info("worker %s stopped", self.id)

    # -- claiming ------------------------------------------------------------

    def _signal(self) -> None:
        self._claimer_wake.set()
        self._flusher_wake.set()

    async def _wait_changed(self) -> None:
        """Wait for a change, as the claim loop (or the drain after it)."""
        await self._claimer_wake.wait()
        self._claimer_wake = anyio.Event()

    async def _wait_outcomes(self) -> None:
        await self._flusher_wake.wait()
        self._flusher_wake = anyio.Event()

    def _interrupt_claim(self) -> None:
        if self._claim_scope is not None:
            self._claim_scope.cancel()

    async def _resolve_queues(self) -> None:
        if self._wildcard:
            try:
                names = await self._redis_call(self._base.known_queues)
            except ResponseError as exc:  # garbage in the queue registry: keep the queues we had
                if self._health.failed("*", time.monotonic()):
                    log.error("cannot read the queue registry: %s", exc)
                return
            self._health.succeeded("*")
            self._queues = [self._base.sibling(n) for n in names]

    def _start(self, queue: Queue, reply: Any) -> int:
        """Start tasks for the jobs in a claim reply; returns how many.

        Jobs that arrive after shutdown began are handed straight back.
        """
        dropped, items = reply[2], reply[3]
        for job_id in dropped:
            log.warning("queue %s: dropped job id %r with no record", queue.name, _text(job_id))
        if len(reply) > 4 and reply[4]:
            self._newer_format_seen(queue, [_text(i) for i in reply[4]])
        count = len(items) // 3
        for i in range(count):
            job_id = _text(items[3 * i])
            job = ClaimedJob(job_id, queue, parse_state(items[3 * i + 1]), _bytes(items[3 * i + 2]))
            self._running[job_id] = job
            if self._stopping or self._jobs is None:
                self._outcomes.append(Outcome(job, Kind.REQUEUE))
            else:
                self._jobs.start_soon(self._run_job, job)
        self._counters["claimed"] += count
        return count

    def _newer_format_seen(self, queue: Queue, ids: list[str]) -> None:
        """Log jobs a claim left queued because their record format is newer (once per job)."""
        fresh = [i for i in ids if i not in self._newer_logged]
        if not fresh:
            return
        if len(self._newer_logged) > 10_000:  # bounded: a long-lived old worker logs again rather than grow
            self._newer_logged.clear()
        self._newer_logged.update(fresh)
        log.warning(
            "queue %s: %d job(s) (%s) have a state record format newer than this worker reads (%d); "
            "left queued for an upgraded worker (counted as newer_format)",
            queue.name,
            len(fresh),
            ", ".join(fresh[:5]) + (", ..." if len(fresh) > 5 else ""),
            self._reads_format,
        )

    async def _claim_loop(self) -> None:
        lease_ms = int(self.lease * 1000)
        while not self._stopping:
            if self._paused or self._free == 0:
                await self._wait_changed()
                continue
            got = 0
            next_wake: float | None = None
            now_ms = 0.0
            self._claim_scope = anyio.CancelScope()
            with self._claim_scope:
                for index, queue in enumerate(self._queues):
                    if self._free == 0:
                        break
                    if not self._health.usable(queue.name, time.monotonic()):
                        continue
                    n = self._free
                    self._free -= n  # reserved while the claim is in flight
                    k = queue.keys
                    try:
                        reply = await self._redis_call(
                            _scripts.run,
                            queue.redis,
                            "claim",
                            [
                                *(k.queue, k.scheduled, k.active, k.jobs, k.state, k.marker, k.dead, k.stats, k.paused),
                                *(k.results, k.errors, k.done, k.watched, k.cancelled),  # checked for garbage only
                                *(k.limits, k.waiting, k.reopen, k.flows),
                            ],
                            [self.id, n, lease_ms, self.max_lost, self._reads_format, *self._limit_args],
                        )
                    except ResponseError as exc:
                        self._queue_failed(queue, exc)
                        continue
                    finally:
                        self._free += n
                    if self._health.succeeded(queue.name):
                        log.warning("queue %s: claiming works again", queue.name)
                    started = self._start(queue, reply)
                    self._free -= started
                    got += started
                    if index == 0:
                        self._top_has_work = started == n
                    now_ms = float(reply[0])
                    if reply[1] not in (b"", ""):
                        wake = float(reply[1])
                        next_wake = wake if next_wake is None else min(next_wake, wake)
            self._claim_scope = None
            if got or self._stopping or self._paused:
                continue
            if self.burst:
                if not self._running and not self._outcomes:
                    log.info("worker %s: queues empty, burst done", self.id)
                    self._stopping = True
                    break
                await self._wait_changed()
                continue
            await self._idle_wait(next_wake, now_ms)
            await self._resolve_queues()

    async def _idle_wait(self, next_wake: float | None, now_ms: float) -> None:
        """Block until an enqueue touches a marker, or something falls due."""
        wait = IDLE_WAIT_CAP
        if next_wake is not None:
            wait = min(wait, max(0.001, (next_wake - now_ms) / 1000))
        limit = blocking_limit(self._base.redis)  # a longer block would hit the socket timeout
        if limit is not None:
            wait = min(wait, limit)
        if not self._queues:
            await anyio.sleep(wait)
            return
        now = time.monotonic()
        markers = [q.keys.marker for q in self._queues if self._health.usable(q.name, now)]
        if self._health.failing():
            wait = min(wait, self._health.first)  # come back soon to retry the failing queues
        if not markers:
            await anyio.sleep(wait)
            return
        self._claim_scope = anyio.CancelScope()
        with self._claim_scope:
            redis = self._base.redis
            if is_cluster(redis) and len(markers) > 1:
                # A blocking command watches keys of one slot only: one wait
                # per queue, and the first to wake ends the others.
                async with anyio.create_task_group() as tg:

                    async def wait_one(marker: str) -> None:
                        with contextlib.suppress(ResponseError):  # garbage in a marker: wait out the others
                            await self._redis_call(redis.bzpopmin, [marker], wait)
                        tg.cancel_scope.cancel()

                    for marker in markers:
                        tg.start_soon(wait_one, marker)
            else:
                # One BZPOPMIN across every marker (one node, or one queue).
                try:
                    await self._redis_call(redis.bzpopmin, markers, wait)
                except ResponseError as exc:  # a marker holds garbage: the claim names the queue
                    log.debug("idle wait failed: %s", exc)
                    await anyio.sleep(wait)
        self._claim_scope = None
        self._top_has_work = True

    def _queue_failed(self, queue: Queue, exc: ResponseError) -> None:
        """A script on ``queue`` failed (garbage in one of its keys): back off that queue."""
        if self._health.failed(queue.name, time.monotonic()):
            log.error("queue %s: %s; leaving it alone for a while, serving the others", queue.name, exc)

    async def _drain(self) -> None:
        """After claiming stops: wait out the grace period, then cancel what runs."""
        if not self._running:
            return
        log.info("worker %s waiting up to %.1f s for %d job(s)", self.id, self.grace, len(self._running))
        with anyio.move_on_after(self.grace):
            while self._running:
                await self._wait_changed()
        for job in list(self._running.values()):
            if job.stop_reason is None:
                job.stop_reason = StopReason.SHUTDOWN
                job.scope.cancel()

    async def _run_job(self, job: ClaimedJob) -> None:
        assert self._runner is not None
        began = time.monotonic()
        try:
            outcome = await execute(self._runner, job)
        except Exception as exc:
            log.exception("job %s: cannot be run", job.id)
            outcome = Outcome(job, Kind.DEAD, error_record(exc, f"WorkerError: {exc!r}", kind="worker"))
        self.metrics.observe(
            job.queue.name, job.name, "lost" if outcome is None else outcome.kind.value, time.monotonic() - began
        )
        if outcome is None:
            self._release(job)
            if job.stop_reason is not StopReason.CANCELLED:
                self._counters["lost"] += 1
            return
        self._outcomes.append(outcome)
        self._signal()

    def _release(self, job: ClaimedJob) -> None:
        if self._running.pop(job.id, None) is not None:
            self._free += 1
        self._signal()

    # -- recording outcomes ----------------------------------------------------

    async def _flusher(self) -> None:
        lease_ms = int(self.lease * 1000)
        while True:
            if not self._outcomes:
                if self._stopped.is_set():
                    return
                await self._wait_outcomes()
                continue
            batch, self._outcomes = self._outcomes, []
            by_queue: dict[str, list[Outcome]] = {}
            for outcome in batch:
                by_queue.setdefault(outcome.job.queue.name, []).append(outcome)
            top = self._queues[0].name if self._queues else None
            calls = []
            reserved: list[int] = []
            for name, outcomes in by_queue.items():
                queue = outcomes[0].job.queue
                n = 0
                if name == top and self._top_has_work and not (self._stopping or self._paused):
                    # The slots these outcomes free are reused in the same round trip.
                    n = self._free + len(outcomes)
                    self._free = 0
                reserved.append(n)
                calls.append(("settle", _settle_keys(queue, outcomes), self._settle_args(queue, outcomes, n, lease_ms)))
            replies = await self._redis_call(_scripts.run_many, self._base.redis, calls)
            for outcomes, n, reply in zip(by_queue.values(), reserved, replies, strict=True):
                self._after_settle(outcomes, n, reply)

    def _settle_args(self, queue: Queue, outcomes: list[Outcome], claim_n: int, lease_ms: int) -> list[Any]:
        r = queue.retention
        args: list[Any] = [
            self.id,
            lease_ms,
            self.max_lost,
            claim_n,
            int(r.completed_ttl * 1000),
            r.completed_max,
            int(r.dead_ttl * 1000),
            r.dead_max,
            len(outcomes),
        ]
        for o in outcomes:
            args += [o.job.id, o.job.attempt, o.kind.value, o.value, int(o.retry_delay * 1000), o.max_attempts]
        args.append(self._reads_format)
        args += self._limit_args
        return args

    def _after_settle(self, outcomes: list[Outcome], claim_n: int, reply: Any) -> None:
        if isinstance(reply, Exception):
            # Not recorded: the leases will expire and the jobs will be
            # recovered and run again (at-least-once).
            log.error("recording %d outcome(s) failed: %s", len(outcomes), reply)
            self._free += claim_n - len(outcomes) if claim_n else 0
            for o in outcomes:
                self._release(o.job)
            return
        for o, code in zip(outcomes, reply[0], strict=True):
            if _text(code) == "ok":
                self._counters[_COUNTER[o.kind]] += 1
            else:
                self._counters["refused"] += 1
                log.warning("job %s: outcome refused, the lease was no longer held", o.job.id)
            self._running.pop(o.job.id, None)
        if claim_n:
            started = self._start(outcomes[0].job.queue, reply[1:])
            self._free += claim_n - started
            self._top_has_work = started == claim_n
        else:
            self._free += len(outcomes)
        self._signal()

    # -- leases ----------------------------------------------------------------

    async def _heartbeat(self) -> None:
        lease_ms = int(self.lease * 1000)
        while not self._stopped.is_set():
            with anyio.move_on_after(self.lease / 3):
                await self._stopped.wait()
            by_queue: dict[str, list[ClaimedJob]] = {}
            for job in self._running.values():
                by_queue.setdefault(job.queue.name, []).append(job)
            if not by_queue:
                continue
            calls = []
            for jobs in by_queue.values():
                k = jobs[0].queue.keys
                calls.append(("extend", [k.active, k.state], [self.id, lease_ms, *(j.id for j in jobs)]))
            replies = await self._redis_call(_scripts.run_many, self._base.redis, calls)
            for reply in replies:
                if isinstance(reply, Exception):
                    log.error("extending leases failed: %s", reply)
                    continue
                for job_id, status in zip(map(_text, reply[::2]), map(_text, reply[1::2]), strict=True):
                    lost = self._running.get(job_id)
                    if lost is None or lost.stop_reason is not None:
                        continue
                    if status == "cancelled":
                        log.info("job %s: cancelled by request; stopping it", job_id)
                        lost.stop_reason = StopReason.CANCELLED
                    else:
                        log.warning("job %s: lease lost (now %s elsewhere); cancelling it", job_id, status or "gone")
                        lost.stop_reason = StopReason.LEASE_LOST
                    lost.scope.cancel()

    # -- Redis outages -----------------------------------------------------------

    async def _redis_call(self, fn: Any, *args: Any) -> Any:
        """Call ``fn(*args)``, retrying with backoff while Redis is unreachable.

        An outage is logged once when it starts and once when it ends. A
        single failure is retried at once without a word: after a Redis
        restart each pooled connection fails once before it reconnects.
        """
        pause = RECONNECT_BACKOFF[0]
        tries = 0
        while True:
            tries += 1
            try:
                result = await fn(*args)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                if tries == 1 and not self._outage:
                    continue
                if not self._outage:
                    self._outage = True
                    log.error("Redis unreachable (%s); retrying with backoff", exc)
                await anyio.sleep(pause)
                pause = min(pause * 2, RECONNECT_BACKOFF[1])
                continue
            except RedisError as exc:
                if "LOADING" in str(exc) or "BUSY" in str(exc):
                    await anyio.sleep(pause)
                    pause = min(pause * 2, RECONNECT_BACKOFF[1])
                    continue
                raise
            if self._outage:
                self._outage = False
                log.warning("Redis reachable again; resuming")
            return result


_COUNTER = {
    Kind.COMPLETE: "completed",
    Kind.FAIL: "failed",
    Kind.ABORT: "failed",
    Kind.DEAD: "failed",
    Kind.REQUEUE: "requeued",
}


def _settle_keys(queue: Queue, outcomes: list[Outcome]) -> list[str]:
    k = queue.keys
    keys = [k.queue, k.scheduled, k.active, k.jobs, k.state, k.marker, k.dead, k.stats]
    keys += [k.results, k.errors, k.done, k.watched, k.paused, k.history, k.unique]
    keys += [k.limits, k.waiting, k.reopen, k.flows]
    keys += [k.notify(o.job.id) for o in outcomes]
    return keys


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value
