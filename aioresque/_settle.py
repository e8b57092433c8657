"""Recording outcomes: the worker's flusher and the settle script's arguments.

Finished jobs queue their :class:`~aioresque._execution.Outcome` on the
worker; the flusher records every outcome waiting, one ``settle.lua`` call per
queue in one pipelined round trip, and in the same call claims replacement
jobs for the slots those outcomes free on the top queue (so at concurrency 1
a job's outcome and the next job travel together).

Maintenance riding on settle calls (pruning finished records, recovering
expired leases and promoting due jobs before the claim) runs on one call in
every :data:`MAINTAIN_EVERY_JOBS` outcomes or :data:`MAINTAIN_EVERY_SECONDS`
(and settle.lua prunes on every call that finds the queue dry, so retention
holds as soon as a worker goes idle), not on every call: that is where a busy worker's Redis time
went.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel

from . import _scripts
from ._claim import quarantined_seen, resque_outcome_keys, start_jobs
from ._decode import text
from ._execution import Kind, Outcome
from ._keys import QueueKeys
from ._progress import progress_calls

if TYPE_CHECKING:
    from ._queue import Queue
    from ._worker import Worker

log = logging.getLogger("aioresque.worker")

MAINTAIN_EVERY_JOBS = 50
"""A settle call prunes and recovers once this many outcomes were recorded since the last that did."""
MAINTAIN_EVERY_SECONDS = 0.05
"""... or once this long has passed since the last that did."""

COUNTERS = {
    Kind.COMPLETE: "completed",
    Kind.FAIL: "failed",
    Kind.ABORT: "failed",
    Kind.DEAD: "failed",
    Kind.REQUEUE: "requeued",
}
"""The worker counter each accepted outcome kind adds to."""


@dataclass(slots=True)
class Maintenance:
    """When a queue's settle call last did maintenance (pure bookkeeping)."""

    every_jobs: int = MAINTAIN_EVERY_JOBS
    every_seconds: float = MAINTAIN_EVERY_SECONDS
    _last: dict[str, tuple[float, int]] = field(default_factory=dict)

    def due(self, queue: str, outcomes: int, now: float) -> bool:
        """Whether the settle call about to record ``outcomes`` on ``queue`` at ``now`` should maintain.

        The first call on a queue always does.
        """
        at, since = self._last.get(queue, (-1e18, 0))
        since += outcomes
        if since >= self.every_jobs or now - at >= self.every_seconds:
            self._last[queue] = (now, 0)
            return True
        self._last[queue] = (at, since)
        return False


@lru_cache(maxsize=1024)
def settle_keys(keys: QueueKeys) -> tuple[bytes, ...]:
    """settle.lua's fixed KEYS for one queue, encoded once (the notify keys follow them)."""
    k = keys
    names = [k.queue, k.scheduled, k.active, k.jobs, k.state, k.marker, k.dead, k.stats]
    names += [k.results, k.errors, k.done, k.watched, k.paused, k.history, k.unique]
    names += [k.limits, k.waiting, k.reopen, k.flows, k.quarantine]
    names += [k.events, k.listening, k.progress]  # job events (only while followed); progress pruned with records
    return tuple(n.encode() for n in names)


def settle_args(
    worker: Worker, queue: Queue, outcomes: Sequence[Outcome], claim_n: int, lease_ms: int, maintain: bool
) -> list[Any]:
    """settle.lua's ARGV (see its header)."""
    r = queue.retention
    args: list[Any] = [
        worker.id,
        lease_ms,
        worker.max_lost,
        claim_n,
        int(r.completed_ttl * 1000),
        r.completed_max,
        int(r.dead_ttl * 1000),
        r.dead_max,
        len(outcomes),
    ]
    for o in outcomes:
        args += (o.job.id, o.job.attempt, o.kind.value, o.value, int(o.retry_delay * 1000), o.max_attempts)
    args.append(worker._reads_format)
    args.append(1 if maintain else 0)
    args += worker._limit_args
    return args


async def run_flusher(worker: Worker) -> None:
    """Record outcomes as they arrive until the worker has stopped and none are left."""
    lease_ms = int(worker.lease * 1000)
    maintenance = Maintenance()
    while True:
        if not worker._outcomes:
            if worker._stopped.is_set():
                return
            await worker._wait_outcomes()
            if len(worker._running) > len(worker._outcomes):
                # One pass of the event loop first: other jobs whose last reply
                # arrived in the same read finish too and share this round trip.
                await anyio.lowlevel.checkpoint()
            continue
        batch, worker._outcomes = worker._outcomes, []
        by_queue: dict[str, list[Outcome]] = {}
        for outcome in batch:
            by_queue.setdefault(outcome.job.queue.name, []).append(outcome)
        top = worker._queues[0].name if worker._queues else None
        now = time.monotonic()
        calls = []
        reserved: list[int] = []
        for name, outcomes in by_queue.items():
            queue = outcomes[0].job.queue
            n = 0
            if name == top and worker._top_has_work and not (worker._stopping or worker._paused):
                # The slots these outcomes free are reused in the same round trip.
                n = worker._free + len(outcomes)
                worker._free = 0
            reserved.append(n)
            maintain = maintenance.due(name, len(outcomes), now)
            keys = [
                *settle_keys(queue.keys),
                *resque_outcome_keys(worker, name),
                *(queue.keys.notify(o.job.id) for o in outcomes),
            ]
            calls.append(("settle", keys, settle_args(worker, queue, outcomes, n, lease_ms, maintain)))
        # The last progress reports of these jobs go first, in the same round trip
        # (nothing at all when none is pending).
        reporters = [o.job.reporter for o in batch if o.job.reporter is not None and o.job.reporter.pending]
        pending = progress_calls(worker.id, reporters) if reporters else []
        replies = await worker._redis_call(_scripts.run_many, worker._base.redis, [*pending, *calls])
        replies = replies[len(pending) :]
        for outcomes, n, reply in zip(by_queue.values(), reserved, replies, strict=True):
            after_settle(worker, outcomes, n, reply)


def after_settle(worker: Worker, outcomes: list[Outcome], claim_n: int, reply: Any) -> None:
    """Count what a settle call recorded, free its slots and start the jobs it claimed."""
    if isinstance(reply, Exception):
        # Not recorded: the leases will expire and the jobs will be
        # recovered and run again (at-least-once).
        log.error("recording %d outcome(s) failed: %s", len(outcomes), reply)
        worker._free += claim_n - len(outcomes) if claim_n else 0
        for o in outcomes:
            worker._release(o.job)
        return
    counters = worker._counters
    running = worker._running
    for o, code in zip(outcomes, reply[0], strict=True):
        verdict = text(code)
        if verdict == "ok":
            counters[COUNTERS[o.kind]] += 1
        elif verdict == "quarantined":
            counters["refused"] += 1
            log.warning("job %s: not recorded, its state record fails the checks; quarantined", o.job.id)
        else:
            counters["refused"] += 1
            log.warning("job %s: outcome refused, the lease was no longer held", o.job.id)
        running.pop(o.job.id, None)
    if claim_n:  # start_jobs also reports what the call quarantined (reply[6])
        started = start_jobs(worker, outcomes[0].job.queue, reply[1:])
        if started < claim_n and worker._importer is not None:
            worker._importer.dry(outcomes[0].job.queue.name)
        worker._free += claim_n - started
        worker._top_has_work = started == claim_n
    else:
        worker._free += len(outcomes)
        if len(reply) > 6:
            quarantined_seen(outcomes[0].job.queue, reply[6])
    worker._signal()
