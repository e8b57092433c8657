"""Recovery of jobs whose worker vanished, across every queue.

A job's lease expires when its worker stops extending it (SIGKILL, OOM
killer, host gone, Redis unreachable from that worker for a lease length).
The claim script recovers expired leases on the queues a worker claims from;
this module covers the rest:

* :func:`recover_queues` runs ``recover.lua`` on each queue (all known
  queues by default): expired jobs go back to the head of their queue with
  their ``lost`` counter raised, or to the dead set with the reason
  ``"worker lost"`` once lost ``max_lost`` times. ``Queue.recover()`` and
  ``python -m aioresque recover`` call it on demand.
* Live workers call it continuously, but only one at a time: a pass runs
  only after taking the short recovery lock (``SET NX PX``), which is left to
  expire, so the whole fleet makes about one pass per lock period whatever
  its size.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ResponseError

from . import _scripts
from ._connect import Client
from ._decode import integer, strict_text
from ._errors import translate
from ._keys import DEFAULT_PREFIX, QueueKeys, ResqueKeys, queue_registry, recovery_lock, resque_imports
from ._names import is_valid_name

log = logging.getLogger("aioresque.recovery")

BATCH = 1000
"""Most jobs one script call recovers (a call never blocks Redis for long)."""


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What one recovery pass did, per queue."""

    recovered: dict[str, int] = field(default_factory=dict)
    """Queue name to the number of jobs whose expired lease was recovered."""
    errors: dict[str, str] = field(default_factory=dict)
    """Queue name to the error that stopped recovery there (e.g. garbage in a key)."""
    quarantined: dict[str, int] = field(default_factory=dict)
    """Queue name to how many expired ids were quarantined (not a job id, or a bad record); only those > 0."""

    @property
    def total(self) -> int:
        """Jobs recovered over all queues."""
        return sum(self.recovered.values())


def recover_keys(keys: QueueKeys, resque: Sequence[str] = ()) -> list[str]:
    """The KEYS of ``recover.lua`` for one queue (``resque``: Resque's outcome keys, if it imports)."""
    return [
        *(keys.queue, keys.scheduled, keys.active, keys.jobs, keys.state, keys.marker, keys.dead, keys.stats),
        *(keys.limits, keys.waiting, keys.reopen, keys.flows, keys.quarantine),
        *(keys.events, keys.listening),
        *resque,
    ]


async def recover_queue(
    redis: Client, keys: QueueKeys, *, max_lost: int = 3, resque: Sequence[str] | None = None
) -> int:
    """Recover every expired lease of one queue.

    ``resque``: the Resque keys to report Resque-origin jobs that go dead to;
    by default looked up in the hash of imports that importing workers fill (``resque_imports``).

    Returns:
        How many jobs went back to the queue or to the dead set.

    Raises:
        redis.exceptions.ResponseError: a key of the queue holds garbage.
    """
    if resque is None:
        try:
            namespace = await redis.hget(resque_imports(keys.prefix), keys.queue_name)  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
        except ResponseError:  # garbage in the key: recover without reporting to Resque
            namespace = None
        resque = _resque_outcome_keys({keys.queue_name: namespace} if namespace is not None else {}, keys.queue_name)
    return (await _recover_queue(redis, keys, max_lost, resque))[0]


async def _recover_queue(redis: Client, keys: QueueKeys, max_lost: int, resque: Sequence[str]) -> tuple[int, int]:
    """(jobs recovered, ids quarantined) for one queue."""
    total = quarantined = 0
    while True:
        reply = await _scripts.run(redis, "recover", recover_keys(keys, resque), [max_lost, BATCH])
        recovered = integer(reply[0], 0) or 0
        total += recovered
        quarantined += (integer(reply[2], 0) or 0) if len(reply) > 2 else 0
        if not integer(reply[1], 0) or not recovered:
            return total, quarantined


async def recover_queues(
    redis: Client,
    queues: Sequence[str] | None = None,
    *,
    prefix: str = DEFAULT_PREFIX,
    max_lost: int = 3,
) -> RecoveryReport:
    """Recover expired leases on ``queues`` (default: every queue enqueued to).

    A queue whose keys hold garbage is reported in ``errors`` and skipped; the
    others are still recovered. A registry member that is not a queue name
    (not UTF-8, or against the name rule) is skipped. A queue that workers import Ruby Resque jobs
    into (``resque_queues``) reports the Resque-origin jobs that go dead to
    Resque, as the worker would.

    Raises:
        ConnectionLost: Redis cannot be reached.
    """
    report = RecoveryReport()
    async with translate():
        if queues is None:
            members = await redis.smembers(queue_registry(prefix))  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
            names = sorted(n for n in map(strict_text, members) if n is not None and is_valid_name(n))
        else:
            names = list(queues)
        try:
            imports = await redis.hgetall(resque_imports(prefix))  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
        except ResponseError:  # garbage in the key: recover without reporting to Resque
            imports = {}
        for name in names:
            resque = _resque_outcome_keys(imports, name)
            try:
                recovered, quarantined = await _recover_queue(redis, QueueKeys(prefix, name), max_lost, resque)
            except ResponseError as exc:
                report.errors[name] = str(exc)
                continue
            report.recovered[name] = recovered
            if quarantined:
                report.quarantined[name] = quarantined
    return report


async def try_lock(redis: Client, prefix: str, owner: str, period: float) -> bool:
    """Take the recovery lock for ``period`` seconds if nobody holds it.

    The lock is never released early: it rate-limits recovery passes to one
    per period across all workers.
    """
    return bool(await redis.set(recovery_lock(prefix), owner, nx=True, px=max(1, int(period * 1000))))


def _resque_outcome_keys(imports: dict[Any, Any], queue: str) -> tuple[str, ...]:
    """Resque's outcome keys for ``queue`` from the imports hash (none when it imports nothing)."""
    namespace = imports.get(queue.encode(), imports.get(queue))
    text = strict_text(namespace) if namespace is not None else None
    return ResqueKeys(text).outcome_keys() if text is not None and is_valid_name(text) else ()
