"""Claiming: the worker's claim loop, its idle wait, and starting claimed jobs.

The claim loop asks Redis for as many jobs as there are free slots, queue by
queue in strict priority order (one ``claim.lua`` call per queue), and when
every queue is empty blocks on the queues' wake-up markers (BZPOPMIN) until
an enqueue touches one, the next scheduled job falls due or the next lease
expires.

An idle worker's traffic is bounded: a wait lasts up to
:data:`IDLE_WAIT_CAP`, and the claim that follows a wait on an empty queue
costs a handful of commands (``claim.lua``'s idle case), about one command a
second in all. The claim after a wait that timed out also picks up work that
arrived without waking this worker (another worker popped the wake-up, then
left jobs it cannot run, such as a newer release's records).
"""

from __future__ import annotations

import contextlib
import logging
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import anyio
from redis.exceptions import ResponseError

from . import _scripts
from ._connect import blocking_limit, is_cluster
from ._decode import integer, number, text
from ._execution import ClaimedJob, Kind, Outcome, parse_state
from ._keys import QueueKeys

if TYPE_CHECKING:
    from ._queue import Queue
    from ._worker import Worker

log = logging.getLogger("aioresque.worker")

IDLE_WAIT_CAP = 15.0
"""Longest a blocking wait lasts (seconds)."""


@lru_cache(maxsize=1024)
def claim_keys(keys: QueueKeys, resque: tuple[str, ...] = ()) -> tuple[bytes, ...]:
    """claim.lua's KEYS for one queue, encoded once (``resque``: Resque's outcome keys, if it imports)."""
    k = keys
    names = [k.queue, k.scheduled, k.active, k.jobs, k.state, k.marker, k.dead, k.stats, k.paused]
    names += [k.results, k.errors, k.done, k.watched, k.cancelled]  # checked for garbage only
    names += [k.limits, k.waiting, k.reopen, k.flows, k.quarantine]
    names += [k.history, k.unique]  # checked for garbage only: settle.lua writes them
    names += [k.events, k.listening]  # job events, written only while someone follows
    names += [*resque]  # Resque's outcome keys, when the worker imports into this queue
    return tuple(n.encode() for n in names)


def start_jobs(worker: Worker, queue: Queue, reply: Any) -> int:
    """Start tasks for the jobs in a claim reply (``{now, wake, dropped, items, newer, quarantined}``).

    Jobs that arrive after shutdown began are handed straight back.

    Returns:
        How many jobs were started.
    """
    dropped, items = reply[2], reply[3]
    for job_id in dropped:
        log.warning("queue %s: dropped job id %r with no record", queue.name, text(job_id))
    if len(reply) > 4 and reply[4]:
        newer_format_seen(worker, queue, [text(i) for i in reply[4]])
    if len(reply) > 5:
        quarantined_seen(queue, reply[5])
    count = len(items) // 3
    running = worker._running
    jobs = worker._jobs
    for i in range(0, 3 * count, 3):
        job_id = text(items[i])
        payload = items[i + 2]
        job = ClaimedJob(
            job_id, queue, parse_state(items[i + 1]), payload if isinstance(payload, bytes) else payload.encode()
        )
        running[job_id] = job
        if worker._stopping or jobs is None:
            worker._outcomes.append(Outcome(job, Kind.REQUEUE))
        else:
            jobs.start(worker._run_job, job)
    worker._counters["claimed"] += count
    return count


def quarantined_seen(queue: Queue, count: object) -> None:
    """Log entries a script has just moved to ``queue``'s quarantine (each is counted once, when it arrives)."""
    n = integer(count, 0)
    if n:
        log.warning(
            "queue %s: %d entr%s that cannot be a job (not a valid job id, or a record that fails the checks) "
            "moved to the quarantine hash %s (see docs/redis-layout.md)",
            queue.name,
            n,
            "y" if n == 1 else "ies",
            queue.keys.quarantine,
        )


def newer_format_seen(worker: Worker, queue: Queue, ids: list[str]) -> None:
    """Log jobs a claim left queued because their record format is newer (once per job)."""
    fresh = [i for i in ids if i not in worker._newer_logged]
    if not fresh:
        return
    if len(worker._newer_logged) > 10_000:  # bounded: a long-lived old worker logs again rather than grow
        worker._newer_logged.clear()
    worker._newer_logged.update(fresh)
    log.warning(
        "queue %s: %d job(s) (%s) have a state record format newer than this worker reads (%d); "
        "left queued for an upgraded worker (counted as newer_format)",
        queue.name,
        len(fresh),
        ", ".join(fresh[:5]) + (", ..." if len(fresh) > 5 else ""),
        worker._reads_format,
    )


async def claim_loop(worker: Worker) -> None:
    """Claim jobs for free slots until the worker stops (or a burst ends)."""
    lease_ms = int(worker.lease * 1000)
    health = worker._health
    while not worker._stopping:
        if worker._paused or worker._free == 0:
            await worker._wait_changed()
            continue
        got = 0
        next_wake: float | None = None
        now_ms = 0.0
        settled_before = _settled(worker)
        worker._claim_scope = anyio.CancelScope()
        with worker._claim_scope:
            for index, queue in enumerate(worker._queues):
                if worker._free == 0:
                    break
                if not health.usable(queue.name, time.monotonic()):
                    continue
                n = worker._free
                worker._free -= n  # reserved while the claim is in flight
                try:
                    reply = await worker._redis_call(
                        _scripts.run,
                        queue.redis,
                        "claim",
                        claim_keys(queue.keys, resque_outcome_keys(worker, queue.name)),
                        [worker.id, n, lease_ms, worker.max_lost, worker._reads_format, *worker._limit_args],
                    )
                except ResponseError as exc:
                    queue_failed(worker, queue, exc)
                    continue
                finally:
                    worker._free += n
                if health.succeeded(queue.name):
                    log.warning("queue %s: claiming works again", queue.name)
                started = start_jobs(worker, queue, reply)
                if started < n and worker._importer is not None:
                    worker._importer.dry(queue.name)  # import Resque's entries now, not at the next poll
                worker._free -= started
                got += started
                if index == 0:
                    worker._top_has_work = started == n
                now_ms = number(reply[0]) or now_ms
                wake = number(reply[1])  # '' (nothing due) and 'inf' come back as None
                if wake is not None:
                    next_wake = wake if next_wake is None else min(next_wake, wake)
        worker._claim_scope = None
        if got or worker._stopping or worker._paused:
            continue
        if worker.burst:
            # A settle recorded while this pass was in flight may have released
            # work this pass could not see yet (a parked job of a limited
            # handler goes back to the queue when the job holding its slot
            # ends): look once more before calling the queues empty.
            if not worker._running and not worker._outcomes:
                if _settled(worker) != settled_before:
                    continue
                if worker._importer is not None and await worker._importer.burst_check(worker):
                    continue  # Resque's lists had work: claim it before the burst ends
                log.info("worker %s: queues empty, burst done", worker.id)
                worker._stopping = True
                break
            await worker._wait_changed()
            continue
        await idle_wait(worker, next_wake, now_ms)
        await worker._resolve_queues()


async def idle_wait(worker: Worker, next_wake: float | None, now_ms: float) -> None:
    """Block until an enqueue touches a marker, or something falls due (``next_wake``, Redis ms)."""
    wait = IDLE_WAIT_CAP
    if next_wake is not None:
        wait = min(wait, max(0.001, (next_wake - now_ms) / 1000))
    limit = blocking_limit(worker._base.redis)  # a longer block would hit the socket timeout
    if limit is not None:
        wait = min(wait, limit)
    if not worker._queues:
        await anyio.sleep(wait)
        return
    now = time.monotonic()
    health = worker._health
    markers = [q.keys.marker for q in worker._queues if health.usable(q.name, now)]
    if health.failing():
        wait = min(wait, health.first)  # come back soon to retry the failing queues
    if not markers:
        await anyio.sleep(wait)
        return
    worker._claim_scope = anyio.CancelScope()
    with worker._claim_scope:
        redis = worker._base.redis
        if is_cluster(redis) and len(markers) > 1:
            # A blocking command watches keys of one slot only: one wait
            # per queue, and the first to wake ends the others.
            async with anyio.create_task_group() as tg:

                async def wait_one(marker: str) -> None:
                    with contextlib.suppress(ResponseError):  # garbage in a marker: wait out the others
                        await worker._redis_call(redis.bzpopmin, [marker], wait)
                    tg.cancel_scope.cancel()

                for marker in markers:
                    tg.start_soon(wait_one, marker)
        else:
            # One BZPOPMIN across every marker (one node, or one queue).
            try:
                await worker._redis_call(redis.bzpopmin, markers, wait)
            except ResponseError as exc:  # a marker holds garbage: the claim names the queue
                log.debug("idle wait failed: %s", exc)
                await anyio.sleep(wait)
    worker._claim_scope = None
    worker._top_has_work = True


def _settled(worker: Worker) -> int:
    """How many outcomes the worker has had recorded (or refused) so far."""
    c = worker._counters
    return c["completed"] + c["failed"] + c["requeued"] + c["refused"]


def queue_failed(worker: Worker, queue: Queue, exc: ResponseError) -> None:
    """A script on ``queue`` failed (garbage in one of its keys): back off that queue."""
    if worker._health.failed(queue.name, time.monotonic()):
        log.error("queue %s: %s; leaving it alone for a while, serving the others", queue.name, exc)


def resque_outcome_keys(worker: Worker, queue_name: str) -> tuple[str, ...]:
    """Resque's outcome keys for a queue the worker imports into (none otherwise)."""
    return worker._importer.outcome_keys(queue_name) if worker._importer is not None else ()
