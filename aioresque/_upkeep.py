"""A worker's background duties besides claiming and running jobs.

:func:`run_heartbeat` extends the leases of the jobs in flight every
``lease/3``, one ``extend.lua`` call per queue, and stops a job whose lease
Redis says it lost (or whose cancellation it finds). :func:`run_upkeep` runs
three more loops in one task group for as long as the worker runs:

* **registry** — renews the worker's registration every few seconds
  (:mod:`aioresque._registry`) and removes it on a graceful stop;
* **recovery** — about once per :func:`recovery_period`, whichever worker
  takes the short recovery lock first recovers expired leases on every known
  queue (:mod:`aioresque._recovery`), so jobs lost on a queue no live worker
  claims from still come back;
* **cancel checks** — while jobs run, reads the queues' ``cancelled`` sets
  about twice a second and cancels the tasks of jobs found there
  (:mod:`aioresque._cancel`);
* **progress** — writes the running jobs' pending progress reports every
  :data:`~aioresque._progress.FLUSH_INTERVAL` (no command while none is
  pending; see :mod:`aioresque._progress`).

Every Redis call goes through the worker's outage handling (retry with
backoff, logged once per outage). A script that fails on garbage in a key is
logged once and retried on the next round; it never stops the worker.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

import anyio
from redis.exceptions import RedisError, ResponseError

from . import _scripts
from ._cancel import CHECK_INTERVAL
from ._connect import batch
from ._decode import text
from ._execution import ClaimedJob, StopReason
from ._progress import FLUSH_INTERVAL, progress_calls
from ._recovery import recover_queues, try_lock
from ._registry import beat_interval, record_for, register, unregister

if TYPE_CHECKING:
    from ._worker import Worker

log = logging.getLogger("aioresque.worker")

MAX_RECOVERY_PERIOD = 15.0
"""Longest time between two fleet-wide recovery passes (seconds)."""


def recovery_period(lease: float) -> float:
    """Seconds between fleet-wide recovery passes for workers with this lease."""
    return min(max(lease / 2, 1.0), MAX_RECOVERY_PERIOD)


async def run_upkeep(worker: Worker) -> None:
    """Run the registry, recovery and cancel-check loops until the worker stops."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(_registry_loop, worker)
        tg.start_soon(_recovery_loop, worker)
        tg.start_soon(_cancel_loop, worker)
        tg.start_soon(_progress_loop, worker)
        await worker._stopped.wait()
        tg.cancel_scope.cancel()
    # Shielded, so a graceful stop removes the registration, but never past the shutdown's deadline.
    with anyio.move_on_after(worker._time_left(2), shield=True):
        try:
            await unregister(worker._base.redis, worker._base.prefix, worker.id)
        except (RedisError, OSError) as exc:
            log.warning("could not remove the worker's registration (it expires on its own): %s", exc)


async def run_heartbeat(worker: Worker) -> None:
    """Extend the leases of every job in flight every lease/3, one call per queue; stop jobs whose lease is gone."""
    lease_ms = int(worker.lease * 1000)
    while not worker._stopped.is_set():
        with anyio.move_on_after(worker.lease / 3):
            await worker._stopped.wait()
        by_queue: dict[str, list[ClaimedJob]] = {}
        for job in worker._running.values():
            by_queue.setdefault(job.queue.name, []).append(job)
        if not by_queue:
            continue
        calls = []
        for jobs in by_queue.values():
            k = jobs[0].queue.keys
            calls.append(("extend", [k.active, k.state], [worker.id, lease_ms, *(j.id for j in jobs)]))
        replies = await worker._redis_call(_scripts.run_many, worker._base.redis, calls)
        for reply in replies:
            if isinstance(reply, Exception):
                log.error("extending leases failed: %s", reply)
                continue
            for job_id, status in zip(map(text, reply[::2]), map(text, reply[1::2]), strict=True):
                lost = worker._running.get(job_id)
                if lost is None or lost.stop_reason is not None:
                    continue
                if status == "cancelled":
                    log.info("job %s: cancelled by request; stopping it", job_id)
                    lost.stop_reason = StopReason.CANCELLED
                else:
                    log.warning("job %s: lease lost (now %s elsewhere); cancelling it", job_id, status or "gone")
                    lost.stop_reason = StopReason.LEASE_LOST
                lost.scope.cancel()


async def _registry_loop(worker: Worker) -> None:
    started_at: int | None = None
    failing = False
    while True:
        record = record_for(
            worker.id,
            queues=worker.queue_names,
            concurrency=worker.concurrency,
            lease=worker.lease,
            in_flight=list(worker._running),
            paused=worker._paused,
        )
        try:
            _, started_at = await worker._redis_call(
                register, worker._base.redis, worker._base.prefix, record, started_at, worker.lease
            )
            failing = False
        except ResponseError as exc:
            if not failing:
                log.error("cannot write the worker registration: %s", exc)
            failing = True
        await anyio.sleep(beat_interval(worker.lease))


async def _recovery_loop(worker: Worker) -> None:
    period = recovery_period(worker.lease)
    reported: set[str] = set()
    redis = worker._base.redis
    prefix = worker._base.prefix
    while True:
        try:
            if await worker._redis_call(try_lock, redis, prefix, worker.id, period):
                report = await worker._redis_call(
                    functools.partial(recover_queues, prefix=prefix, max_lost=worker.max_lost), redis, None
                )
                _log_report(report.recovered, report.errors, reported)
                for name, count in report.quarantined.items():
                    log.warning("queue %s: %d id(s) in the active set moved to the quarantine hash", name, count)
        except ResponseError as exc:
            if "lock" not in reported:
                log.error("recovery pass failed: %s", exc)
                reported.add("lock")
        await anyio.sleep(period)


def _log_report(recovered: dict[str, int], errors: dict[str, str], reported: set[str]) -> None:
    for name, count in recovered.items():
        if count:
            log.warning("queue %s: recovered %d job(s) whose worker vanished", name, count)
        reported.discard(name)
    for name, error in errors.items():
        if name not in reported:
            log.error("queue %s: recovery failed: %s", name, error)
            reported.add(name)


async def _cancel_loop(worker: Worker) -> None:
    while True:
        await anyio.sleep(CHECK_INTERVAL)
        by_queue: dict[str, list[ClaimedJob]] = {}
        for job in worker._running.values():
            if job.stop_reason is None:
                by_queue.setdefault(job.queue.name, []).append(job)
        if not by_queue:
            continue
        hits = await worker._redis_call(_find_cancelled, worker._base.redis, list(by_queue.values()))
        for job in hits:
            if job.stop_reason is None:
                log.info("job %s %s: cancelled by request; stopping it", job.id, job.name)
                job.stop_reason = StopReason.CANCELLED
                job.scope.cancel()
        if hits:
            await worker._redis_call(_forget, worker._base.redis, hits)


async def _find_cancelled(redis: Any, groups: list[list[ClaimedJob]]) -> list[ClaimedJob]:
    """The running jobs whose id is in their queue's cancelled set (one round trip)."""
    pipe = batch(redis)
    for jobs in groups:
        pipe.zmscore(jobs[0].queue.keys.cancelled, [j.id for j in jobs])
    replies = await pipe.execute(raise_on_error=False)
    hits = []
    for jobs, scores in zip(groups, replies, strict=True):
        if isinstance(scores, Exception):  # garbage in the cancelled set: heartbeats still catch it
            log.debug("checking cancellations failed: %s", scores)
            continue
        hits += [job for job, score in zip(jobs, scores, strict=True) if score is not None]
    return hits


async def _forget(redis: Any, jobs: list[ClaimedJob]) -> None:
    """Take handled ids out of their queue's cancelled set."""
    pipe = batch(redis)
    for job in jobs:
        pipe.zrem(job.queue.keys.cancelled, job.id)
    await pipe.execute(raise_on_error=False)


async def _progress_loop(worker: Worker) -> None:
    while True:
        await anyio.sleep(FLUSH_INTERVAL)
        reporters = [j.reporter for j in worker._running.values() if j.reporter is not None and j.reporter.pending]
        if not reporters:
            continue
        replies = await worker._redis_call(_scripts.run_many, worker._base.redis, progress_calls(worker.id, reporters))
        for reply in replies:
            if isinstance(reply, Exception) or reply == -1:
                # Progress is best effort: it never fails a job.
                log.debug("writing job progress failed: %s", reply)
