"""A queue at a glance: sizes, counters, pause flag, quarantine count, latency, history.

Read by ``aioresque info``/``queues``, the dashboard's overview and
``/metrics`` on every refresh, so each reader is a round trip or two and
never fails on what Redis holds: a key of the wrong Redis type counts as
empty and is named (:attr:`QueueOverview.unreadable_keys`), counters and
history entries that are not integers are left out, and a head job whose
record cannot be read has no latency.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from redis.exceptions import ResponseError

from . import _decode
from ._connect import batch
from ._errors import translate
from ._job import check_state

if TYPE_CHECKING:
    from ._queue import Queue

HISTORY_MINUTES = 60
"""Minutes of throughput history kept per queue (the ring in settle.lua)."""


@dataclass(frozen=True, slots=True)
class QueueOverview:
    """What an operator wants to know about one queue at a glance."""

    name: str
    paused: bool
    queued: int
    scheduled: int
    """Delayed and retrying jobs together."""
    active: int
    completed_kept: int
    dead: int
    """The dead set: failed, dead and cancelled jobs."""
    latency: float
    """Seconds the job at the head of the queue has waited since it was
    enqueued (0 when the queue is empty)."""
    counters: dict[str, int]
    quarantined: int = 0
    """Entries in the queue's quarantine: what was found that cannot be a job
    (see :meth:`Queue.quarantined`)."""
    unreadable_keys: tuple[str, ...] = ()
    """Keys of the queue that hold the wrong Redis type (written by something
    else); their sizes are shown as 0."""


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """Completed and failed attempts in one minute."""

    minute: datetime
    completed: int
    failed: int


@dataclass(frozen=True, slots=True)
class Sizes:
    """The sizes and counters of one queue, read in one round trip (see :func:`read_sizes`)."""

    queued: int
    scheduled: int
    active: int
    done: int
    dead: int
    counters: dict[str, int]
    paused: bool
    quarantined: int
    head: bytes | None
    """The id at the head of the queue (next to run), raw."""
    unreadable_keys: tuple[str, ...]


# The size command for each of a queue's collections, and the key type it needs.
_SIZE_OF = (("queue", "llen"), ("scheduled", "zcard"), ("active", "zcard"), ("done", "zcard"), ("dead", "zcard"))


async def read_sizes(queue: Queue) -> Sizes:
    """Sizes, counters, pause flag and quarantine count of ``queue`` in one round trip; never fails on data.

    A key that holds the wrong Redis type counts as empty and is named in
    :attr:`Sizes.unreadable_keys`; counters that are not integers are left out.
    """
    k = queue.keys
    async with translate():
        pipe = batch(client_of(queue))
        for where, command in _SIZE_OF:
            getattr(pipe, command)(getattr(k, where))
        pipe.hgetall(k.stats)
        pipe.exists(k.paused)
        pipe.hlen(k.quarantine)
        pipe.lindex(k.queue, -1)
        replies = await pipe.execute(raise_on_error=False)
        _decode.raise_unless_wrong_type(replies)
    names = [w for w, _ in _SIZE_OF] + ["stats", "paused", "quarantine", "queue"]
    bad = tuple(dict.fromkeys(n for n, r in zip(names, replies, strict=True) if isinstance(r, Exception)))
    values = [None if isinstance(r, Exception) else r for r in replies]
    queued, scheduled, active, done, dead = (_decode.integer(v, 0) or 0 for v in values[: len(_SIZE_OF)])
    raw_stats, paused, quarantined, head = values[len(_SIZE_OF) :]
    return Sizes(
        queued,
        scheduled,
        active,
        done,
        dead,
        counters=read_counters(raw_stats or {}),
        paused=bool(paused),
        quarantined=_decode.integer(quarantined, 0) or 0,
        head=head if isinstance(head, bytes) else None,
        unreadable_keys=bad,
    )


def read_counters(raw: dict[Any, Any]) -> dict[str, int]:
    """A stats hash as ``{name: count}``: fields that are not text or not integers are left out."""
    counters = {}
    for key, value in raw.items():
        name = _decode.strict_text(key)
        count = _decode.integer(value)
        if name is not None and count is not None:
            counters[name] = count
    return counters


async def overview(queue: Queue) -> QueueOverview:
    """Sizes, counters, pause flag, quarantine count and latency of ``queue``, in two round trips.

    Never fails because of what the keys hold: see :func:`read_sizes`.
    """
    sizes = await read_sizes(queue)
    now = await now_ms(queue)
    latency = 0.0
    if sizes.head is not None:
        try:
            async with translate():
                raw = await client_of(queue).hget(queue.keys.state, sizes.head)
        except ResponseError as exc:  # the state key holds another type
            if not _decode.wrong_type(exc):
                raise
            raw = None
        state, _ = check_state(raw)
        enqueued = _decode.number(state.get("enqueued_at"), 0.0, float(_decode.MAX_MS)) if state else None
        if enqueued is not None:
            latency = max(0.0, (now - enqueued) / 1000)
    return QueueOverview(
        queue.name,
        sizes.paused,
        sizes.queued,
        sizes.scheduled,
        sizes.active,
        sizes.done,
        sizes.dead,
        latency,
        sizes.counters,
        quarantined=sizes.quarantined,
        unreadable_keys=sizes.unreadable_keys,
    )


async def history(queue: Queue, minutes: int = HISTORY_MINUTES) -> list[HistoryPoint]:
    """Completed and failed attempts per minute over the last ``minutes``, oldest first.

    Minutes with no activity are included with zero counts.
    """
    try:
        async with translate():
            raw = await client_of(queue).hgetall(queue.keys.history)
    except ResponseError as exc:  # the history key holds another type: no history to show
        if not _decode.wrong_type(exc):
            raise
        raw = {}
    return history_points(raw.values(), await now_ms(queue), min(minutes, HISTORY_MINUTES))


def history_points(fields: Iterable[object], now_ms: float, minutes: int) -> list[HistoryPoint]:
    """Turn the history ring's field values into a dense per-minute series (unreadable values are skipped)."""
    current = int(now_ms // 60000)
    counts: dict[int, tuple[int, int]] = {}
    for value in fields:
        parts = [_decode.integer(p, 0) for p in _decode.text(value)[:80].split(":")]
        if len(parts) != 3:
            continue
        minute, completed, failed = parts
        if minute is None or completed is None or failed is None:
            continue
        if current - minutes < minute <= current:
            counts[minute] = (completed, failed)
    return [
        HistoryPoint(datetime.fromtimestamp(m * 60, tz=UTC), *counts.get(m, (0, 0)))
        for m in range(current - minutes + 1, current + 1)
    ]


async def now_ms(queue: Queue) -> float:
    """Redis's clock (ms), the one every recorded time is on."""
    async with translate():
        reply = await client_of(queue).time()
    if isinstance(reply, dict):  # a cluster client may answer per node
        reply = next(iter(reply.values()))
    seconds, micros = reply
    return float(seconds) * 1000 + int(micros) // 1000


def client_of(queue: Queue) -> Any:
    """The queue's client, typed loosely: redis-py's stubs differ between Redis and RedisCluster."""
    # redis-py's stubs type each command as "Awaitable[T] | T" and differ
    # between Redis and RedisCluster; the replies are checked where used.
    return queue.redis
