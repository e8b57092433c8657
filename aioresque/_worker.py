"""``Worker``: claims jobs, runs many at once on one event loop, records outcomes.

The worker runs these tasks in one task group:

* the **claim loop** (:mod:`aioresque._claim`) asks Redis for as many jobs
  as there are free slots, queue by queue in priority order, and blocks on
  the queues' wake-up markers (BZPOPMIN) when they are all empty;
* one **job task** per claimed job (see :mod:`aioresque._execution`);
* the **flusher** (:mod:`aioresque._settle`) records finished jobs'
  outcomes in one script call per queue, and in the same call claims
  replacement jobs from the top queue;
* the **heartbeat** and the other upkeep loops (:mod:`aioresque._upkeep`)
  extend the leases of every job in flight, renew the worker's registration,
  recover lost jobs fleet-wide and watch for cancellations.

This module owns the worker's state and lifecycle (start, stop, pause,
drain); those modules read and update the state through the worker. Its
Redis calls ride out outages through one :class:`aioresque._outage.RedisCalls`,
and a shutdown ends within ``grace`` (:func:`aioresque._outage.shutdown_budget`).

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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup
from redis.exceptions import ResponseError

from . import _claim
from ._connect import Client, connect
from ._errors import ConfigurationError, PermissionDenied
from ._execution import ClaimedJob, Kind, Outcome, Runner, StopReason, error_record, execute
from ._format import READS
from ._handler import JobFunction, Registry, WorkerHook
from ._health import QueueHealth
from ._keys import DEFAULT_PREFIX
from ._limits import limit_args
from ._middleware import PerformMiddleware
from ._outage import RedisCalls, hand_back_reserve, shutdown_budget
from ._queue import DEFAULT_URL, Queue, Retention
from ._resque_import import DEFAULT_NAMESPACE, ResqueImporter, check_resque_config
from ._retry import Backoff
from ._scheduler import run_schedules
from ._serializer import Serializer
from ._server import check_server, eviction_policy, eviction_warning
from ._settle import run_flusher
from ._tasks import JobTasks
from ._upkeep import run_heartbeat, run_upkeep
from ._worker_metrics import WorkerMetrics

log = logging.getLogger("aioresque.worker")


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
        grace: seconds the whole shutdown may take (default 25): running
            jobs get all but the last tenth of it (0.25 s to 1 s), then they
            are cancelled and handed back to their queue. It holds while
            Redis is unreachable too; leases cover what was not recorded.
        burst: exit once the queues are empty and nothing runs.
        max_lost: times a job may be lost with its worker before it is dead.
        backoff: retry delays after a failed attempt (handlers may set their own).
        middleware: async callables wrapped around each attempt of each job,
            first outermost (see :class:`PerformMiddleware`).
        prefix, serializer, retention: as for :class:`Queue`, when ``redis``
            is not a Queue.
        allow_eviction: start even if Redis's ``maxmemory-policy`` is not
            ``noeviction``. Such a Redis deletes keys when memory runs out,
            queued jobs among them, so by default :meth:`run` refuses to start
            (``ConfigurationError``); with this flag it logs a warning instead.
        resque_queues: Ruby Resque queues to import jobs from (see
            :mod:`aioresque._resque_import`): each is served as the aioresque
            queue of the same name (added after ``queues`` if not among them),
            its jobs run on the handler named after their Resque class.
            Needs a single Redis node or Sentinel, not a Cluster.
        resque_namespace: Resque's Redis namespace (default ``"resque"``).
        resque_register: also list this worker in Resque's worker registry
            (resque-web's Workers tab; see :mod:`aioresque._resque_registry`).

    Raises:
        ConfigurationError: a setting is out of range, or ``resque_queues`` on a Redis Cluster.
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
        allow_eviction: bool = False,
        resque_queues: Sequence[str] = (),
        resque_namespace: str = DEFAULT_NAMESPACE,
        resque_register: bool = False,
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
        resque_names = check_resque_config(resque_queues, resque_namespace, base.redis)
        self._importer = (
            ResqueImporter(resque_namespace, resque_names, base.prefix, concurrency, register=resque_register)
            if resque_names
            else None
        )
        if resque_register and not resque_names:
            raise ConfigurationError("resque_register needs resque_queues (the queues to list the worker under)")
        if resque_names and "*" in queues:
            raise ConfigurationError(
                "resque_queues needs queue names, not '*' (the Resque queues are served after them)"
            )
        if resque_names:
            queues = [*queues, *(q for q in resque_names if q not in queues)]
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
        self.allow_eviction = allow_eviction
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
        self._stop_deadline: float | None = None  # anyio.current_time() by which run() returns
        self._shutdown_scope: anyio.CancelScope | None = None
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
        self._calls = RedisCalls(log)
        self._runner: Runner | None = None
        self._jobs: JobTasks | None = None
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
        """Stop claiming and shut down gracefully (see ``grace``). Idempotent.

        The whole shutdown takes at most ``grace`` seconds, even while Redis
        is unreachable: what could not be recorded by then is left to the
        leases, which hand the jobs back (at-least-once).
        """
        if not self._stopping:
            log.info("worker %s stopping (grace %.1f s)", self.id, self.grace)
            self._stop_deadline = self._now() + shutdown_budget(self.grace)
            if self._shutdown_scope is not None:
                self._shutdown_scope.deadline = self._stop_deadline
        self._stopping = True
        self._interrupt_claim()
        self._signal()

    @staticmethod
    def _now() -> float:
        try:
            return anyio.current_time()
        except RuntimeError:  # stop() called outside an event loop (before run)
            return time.monotonic()

    def _time_left(self, limit: float) -> float:
        """``limit`` seconds, or less once a shutdown's deadline is nearer (for last calls at shutdown)."""
        if self._stop_deadline is None:
            return limit
        return max(0.0, min(limit, self._stop_deadline - self._now()))

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

        Raises:
            ConfigurationError: the server is too old, or its
                ``maxmemory-policy`` lets it delete jobs (see ``allow_eviction``).
            AuthenticationFailed: Redis refused the credentials (not retried).
            PermissionDenied: an ACL forbids a command the worker needs.
        """
        self._started_at = time.time()
        started = False
        try:
            # A stop() while Redis is still unreachable at start-up ends the wait.
            with self._interruptible():
                await self._check_redis()
            started = not self._stopping
        finally:
            if not started:  # refused, failed or stopped at start-up
                with anyio.CancelScope(shield=True):
                    await self._close_client()
        if not started:
            log.info("worker %s stopped before it started", self.id)
            return
        for hook in self.registry.startup:
            await hook(self.resources)
        try:
            # stop() sets this scope's deadline: the shutdown ends within grace.
            self._shutdown_scope = anyio.CancelScope(deadline=self._stop_deadline or float("inf"))
            with self._shutdown_scope:
                await self._serve()
            if self._shutdown_scope.cancelled_caught:
                log.warning(
                    "worker %s: shutdown reached its %.1f s grace before every outcome was recorded "
                    "(Redis unreachable?); leases hand back what was not recorded",
                    self.id,
                    self.grace,
                )
        finally:
            with anyio.CancelScope(shield=True):
                for hook in self.registry.shutdown:
                    try:
                        await hook(self.resources)
                    except Exception:
                        log.exception("shutdown hook %s failed", hook.fn)
                await self._close_client()
            log.info("worker %s stopped", self.id)

    async def _close_client(self) -> None:
        if self._owns_client:
            await self._base.redis.aclose()

    async def _serve(self) -> None:
        with self._interruptible():
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
            tg.start_soon(run_flusher, self)
            tg.start_soon(run_heartbeat, self)
            tg.start_soon(run_upkeep, self)
            tg.start_soon(run_schedules, self)
            if self._importer is not None:
                tg.start_soon(self._importer.run, self)
            async with JobTasks() as jobs:
                self._jobs = jobs
                await _claim.claim_loop(self)
                await self._drain()
            self._jobs = None
            # Every job task has ended and queued its outcome; the flusher
            # records the last ones and returns.
            self._stopped.set()
            self._signal()

    async def _check_redis(self) -> None:
        """The start-up checks: server version, eviction policy; optional ones degrade to one log line."""
        try:
            await self._redis_call(check_server, self._base.redis)
        except PermissionDenied as exc:
            log.warning("cannot check the Redis version (%s); going on", exc)
        policy = await self._redis_call(eviction_policy, self._base.redis)
        warning = eviction_warning(policy)
        if warning is None:
            return
        if policy is None:
            log.warning("%s", warning)
        elif not self.allow_eviction:
            raise ConfigurationError(
                f"{warning}. Refusing to start; pass --allow-eviction (Worker(allow_eviction=True)) to run anyway"
            )
        else:
            log.warning("%s (started anyway: allow_eviction)", warning)

    # -- claiming ------------------------------------------------------------

    def _signal(self) -> None:
        self._flusher_wake.set()
        # With no free slot (and no shutdown or burst waiting for jobs to end)
        # the claim loop would only wake to wait again: leave it asleep.
        if self._free > 0 or self._stopping or self.burst:
            self._claimer_wake.set()

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

    @contextlib.contextmanager
    def _interruptible(self) -> Iterator[None]:
        """A block that :meth:`stop` and :meth:`pause` end (a claim, a wait, a retry loop while Redis is down)."""
        self._claim_scope = anyio.CancelScope()
        try:
            with self._claim_scope:
                yield
        finally:
            self._claim_scope = None

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

    async def _drain(self) -> None:
        """After claiming stops: wait out the grace period, then cancel what runs."""
        if not self._running:
            return
        # The last part of grace is kept for handing interrupted jobs back.
        wait = self._time_left(shutdown_budget(self.grace)) - hand_back_reserve(self.grace)
        log.info("worker %s waiting up to %.1f s for %d job(s)", self.id, max(0.0, wait), len(self._running))
        with anyio.move_on_after(wait):
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
            outcome = Outcome(
                job, Kind.DEAD, error_record(exc, f"WorkerError: {exc!r}", kind="worker", error_type="WorkerError")
            )
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

    # -- Redis outages -----------------------------------------------------------

    async def _redis_call(self, fn: Any, *args: Any) -> Any:
        """Call ``fn(*args)`` through the worker's outage handling (see :class:`RedisCalls`)."""
        return await self._calls.call(fn, *args)
