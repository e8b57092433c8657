"""Operating a queue by hand: pause, inspect, list, retry, delete, purge.

What the admin CLI and the dashboard do goes through here (and the
:class:`~aioresque.Queue` methods that delegate to it), never through raw
keys elsewhere. State changes that touch several keys are Lua scripts
(``retry.lua``, ``delete.lua``); reads are pipelined and need no atomicity.

Bulk operations work on batches of :data:`BATCH` ids, so retrying or
deleting 100 000 jobs never blocks Redis for long, and report progress
through an optional callback.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import _scripts
from ._connect import batch
from ._errors import ConfigurationError, translate
from ._job import build_info
from ._serializer import loads_json
from ._status import JobInfo, JobStatus

if TYPE_CHECKING:
    from ._queue import Queue

BATCH = 500
"""Ids read or changed per round trip in listings and bulk operations."""
HISTORY_MINUTES = 60
"""Minutes of throughput history kept per queue (the ring in settle.lua)."""
SCAN_LIMIT = 200_000
"""Most ids a filtered listing examines before it reports a partial count."""

_DIGITS = re.compile(r"\d+")
_log = logging.getLogger("aioresque.admin")

Progress = Callable[[int, int], None]
"""Bulk-operation progress callback: ``(done so far, total expected)``."""

# Which Redis collection holds the jobs of each status, and in which order a
# listing shows them (True: newest first).
_WHERE: dict[JobStatus, tuple[str, bool]] = {
    JobStatus.QUEUED: ("queue", False),
    JobStatus.SCHEDULED: ("scheduled", False),
    JobStatus.RETRYING: ("scheduled", False),
    JobStatus.ACTIVE: ("active", False),
    JobStatus.COMPLETE: ("done", True),
    JobStatus.FAILED: ("dead", True),
    JobStatus.DEAD: ("dead", True),
    JobStatus.CANCELLED: ("dead", True),
}
DEAD_SET = frozenset({JobStatus.FAILED, JobStatus.DEAD, JobStatus.CANCELLED})
"""The statuses kept in a queue's dead set."""


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Which jobs a listing or a bulk operation selects (all given criteria must hold).

    Attributes:
        name: the job (handler) name, exactly.
        error: text the last error must contain (case-insensitive).
        older_than: seconds since the job's last change (finished, due,
            started or enqueued) must be at least this.
        newer_than: ... and at most this.
    """

    name: str | None = None
    error: str | None = None
    older_than: float | None = None
    newer_than: float | None = None

    @property
    def empty(self) -> bool:
        """True when the filter selects every job."""
        return self.name is None and not self.error and self.older_than is None and self.newer_than is None

    def matches(self, state: dict[str, Any], error: str | None, now_ms: float) -> bool:
        """Whether a job with this state record and last error is selected."""
        if self.name is not None and state.get("name") != self.name:
            return False
        if self.error:
            text = error if error is not None else str(state.get("reason") or "")
            if self.error.lower() not in text.lower():
                return False
        if self.older_than is not None or self.newer_than is not None:
            age = (now_ms - job_time_ms(state)) / 1000
            if self.older_than is not None and age < self.older_than:
                return False
            if self.newer_than is not None and age > self.newer_than:
                return False
        return True


def job_time_ms(state: dict[str, Any]) -> float:
    """The time of a job's last change, from its state record (ms)."""
    for key in ("finished_at", "due_at", "started_at", "revived_at", "enqueued_at"):
        value = state.get(key)
        if isinstance(value, int | float):
            return float(value)
    return 0.0


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of a job listing."""

    jobs: list[JobInfo]
    total: int
    """How many jobs match (a lower bound when ``exact`` is False)."""
    offset: int
    limit: int
    exact: bool = True


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


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """Completed and failed attempts in one minute."""

    minute: datetime
    completed: int
    failed: int


def parse_statuses(statuses: JobStatus | str | Iterable[JobStatus | str]) -> tuple[JobStatus, ...]:
    """Normalize one or many statuses, rejecting ones no listing can show.

    Raises:
        ConfigurationError: a status name is unknown (``not_found``, a typo).
    """
    items = [statuses] if isinstance(statuses, JobStatus | str) else list(statuses)
    out: list[JobStatus] = []
    for item in items:
        try:
            status = JobStatus(item)
        except ValueError:
            raise ConfigurationError(f"unknown job status {item!r}") from None
        if status not in _WHERE:
            raise ConfigurationError(f"jobs with status {status.value!r} cannot be listed")
        if status not in out:
            out.append(status)
    if not out:
        raise ConfigurationError("no job status given")
    return tuple(out)


# -- pause ---------------------------------------------------------------------


async def pause(queue: Queue) -> None:
    """Pause ``queue``: workers claim nothing from it until :func:`resume`.

    Jobs already running go on; enqueues still succeed.
    """
    async with translate():
        await _client(queue).set(queue.keys.paused, "1")


async def resume(queue: Queue) -> None:
    """Resume ``queue`` and wake its idle workers."""
    async with translate():
        # Flag first, then the wake-up: a worker woken early would find the
        # queue still paused and wait again (at most IDLE_WAIT_CAP).
        pipe = batch(_client(queue))
        pipe.delete(queue.keys.paused)
        pipe.zadd(queue.keys.marker, {"w": 0})
        await pipe.execute()


async def is_paused(queue: Queue) -> bool:
    """Whether ``queue`` is paused."""
    async with translate():
        return bool(await _client(queue).exists(queue.keys.paused))


# -- reading -------------------------------------------------------------------


async def overview(queue: Queue) -> QueueOverview:
    """Sizes, counters, pause flag and latency of ``queue``, in two round trips."""
    k = queue.keys
    async with translate():
        pipe = batch(_client(queue))
        pipe.llen(k.queue)
        pipe.zcard(k.scheduled)
        pipe.zcard(k.active)
        pipe.zcard(k.done)
        pipe.zcard(k.dead)
        pipe.hgetall(k.stats)
        pipe.exists(k.paused)
        pipe.lindex(k.queue, -1)
        queued, scheduled, active, done, dead, raw, paused, head = await pipe.execute()
        now = await _now_ms(queue)
        latency = 0.0
        if head is not None:
            state = _state(await _client(queue).hget(k.state, head))
            enqueued = state.get("enqueued_at") if state else None
            if isinstance(enqueued, int | float):
                latency = max(0.0, (now - enqueued) / 1000)
    counters = {_text(key): int(value) for key, value in raw.items()}
    return QueueOverview(queue.name, bool(paused), queued, scheduled, active, done, dead, latency, counters)


async def history(queue: Queue, minutes: int = HISTORY_MINUTES) -> list[HistoryPoint]:
    """Completed and failed attempts per minute over the last ``minutes``, oldest first.

    Minutes with no activity are included with zero counts.
    """
    async with translate():
        raw = await _client(queue).hgetall(queue.keys.history)
    return history_points(raw.values(), await _now_ms(queue), min(minutes, HISTORY_MINUTES))


def history_points(fields: Iterable[bytes | str], now_ms: float, minutes: int) -> list[HistoryPoint]:
    """Turn the history ring's field values into a dense per-minute series."""
    current = int(now_ms // 60000)
    counts: dict[int, tuple[int, int]] = {}
    for value in fields:
        parts = _text(value).split(":")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            continue
        minute, completed, failed = (int(p) for p in parts)
        if current - minutes < minute <= current:
            counts[minute] = (completed, failed)
    return [
        HistoryPoint(datetime.fromtimestamp(m * 60, tz=UTC), *counts.get(m, (0, 0)))
        for m in range(current - minutes + 1, current + 1)
    ]


async def _id_batches(queue: Queue, where: str, newest_first: bool) -> AsyncIterator[list[str]]:
    """Every id in one of the queue's collections, in listing order, a batch at a time."""
    k = queue.keys
    redis = _client(queue)
    start = 0
    while True:
        async with translate():
            if where == "queue":
                # The head (next to run) is the right end: read from there.
                raw = await redis.lrange(k.queue, -(start + BATCH), -(start + 1))
                raw = list(reversed(raw))
            else:
                key = getattr(k, where)
                raw = await redis.zrange(key, start, start + BATCH - 1, desc=newest_first)
        if not raw:
            return
        yield [_text(i) for i in raw]
        if len(raw) < BATCH:
            return
        start += BATCH


async def matching_ids(
    queue: Queue,
    statuses: JobStatus | str | Iterable[JobStatus | str],
    job_filter: JobFilter | None = None,
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Yield ``(id, state record)`` of every job with one of ``statuses`` that the filter selects.

    Collections are read in batches; a job that moves while the scan runs may
    be missed or seen twice, as with any live listing.
    """
    wanted = parse_statuses(statuses)
    flt = job_filter or JobFilter()
    seen_sets: list[tuple[str, bool]] = []
    for status in wanted:
        if _WHERE[status] not in seen_sets:
            seen_sets.append(_WHERE[status])
    values = {s.value for s in wanted}
    now = await _now_ms(queue)
    for where, newest_first in seen_sets:
        async for ids in _id_batches(queue, where, newest_first):
            async with translate():
                pipe = batch(_client(queue))
                pipe.hmget(queue.keys.state, ids)
                if flt.error:
                    pipe.hmget(queue.keys.errors, ids)
                replies = await pipe.execute()
            errors = replies[1] if flt.error else [None] * len(ids)
            for job_id, raw_state, raw_error in zip(ids, replies[0], errors, strict=True):
                state = _state(raw_state)
                if state is None or str(state.get("status")) not in values:
                    continue
                if flt.matches(state, _error_text(raw_error), now):
                    yield job_id, state


async def list_jobs(
    queue: Queue,
    statuses: JobStatus | str | Iterable[JobStatus | str],
    job_filter: JobFilter | None = None,
    *,
    offset: int = 0,
    limit: int = 50,
) -> JobPage:
    """One page of the jobs with one of ``statuses`` that the filter selects.

    Queued jobs are listed next-to-run first, scheduled and retrying ones by
    due time, active ones by lease deadline, finished ones newest first.
    """
    if offset < 0 or limit < 1:
        raise ConfigurationError("offset must be >= 0 and limit >= 1")
    wanted = parse_statuses(statuses)
    flt = job_filter or JobFilter()
    sets = {_WHERE[s] for s in wanted}
    # Without a filter, a listing that covers a whole collection can count it
    # directly and read only the page.
    whole = flt.empty and len(sets) == 1 and _covers(wanted)
    page_ids: list[str] = []
    total = 0
    exact = True
    if whole:
        where, newest_first = next(iter(sets))
        total = await _size(queue, where)
        page_ids = await _slice(queue, where, newest_first, offset, limit)
    else:
        async for job_id, _ in matching_ids(queue, wanted, flt):
            if offset <= total < offset + limit:
                page_ids.append(job_id)
            total += 1
            if total >= SCAN_LIMIT:
                exact = False
                break
    return JobPage(await _infos(queue, page_ids), total, offset, limit, exact)


def _covers(wanted: tuple[JobStatus, ...]) -> bool:
    """Whether these statuses are everything their one collection holds."""
    where = _WHERE[wanted[0]][0]
    everything = {s for s, (w, _) in _WHERE.items() if w == where}
    return everything <= set(wanted)


async def _size(queue: Queue, where: str) -> int:
    async with translate():
        if where == "queue":
            return int(await _client(queue).llen(queue.keys.queue))
        return int(await _client(queue).zcard(getattr(queue.keys, where)))


async def _slice(queue: Queue, where: str, newest_first: bool, offset: int, limit: int) -> list[str]:
    async with translate():
        if where == "queue":
            raw = await _client(queue).lrange(queue.keys.queue, -(offset + limit), -(offset + 1))
            raw = list(reversed(raw))
        else:
            raw = await _client(queue).zrange(getattr(queue.keys, where), offset, offset + limit - 1, desc=newest_first)
    return [_text(i) for i in raw]


async def _infos(queue: Queue, ids: list[str]) -> list[JobInfo]:
    if not ids:
        return []
    k = queue.keys
    async with translate():
        pipe = batch(_client(queue))
        pipe.hmget(k.state, ids)
        pipe.hmget(k.jobs, ids)
        pipe.hmget(k.results, ids)
        pipe.hmget(k.errors, ids)
        pipe.hmget(k.progress, ids)
        states, payloads, results, errors, progress = await pipe.execute(raise_on_error=False)
    if isinstance(progress, Exception):  # garbage in the progress key: listed without progress
        progress = [None] * len(ids)
    return [
        build_info(queue, job_id, raw, payload, result, error, reported)
        for job_id, raw, payload, result, error, reported in zip(
            ids, states, payloads, results, errors, progress, strict=True
        )
        if raw is not None  # gone since the ids were read
    ]


async def top_errors(queue: Queue, limit: int = 3, *, newest: int = 1000) -> list[tuple[str, str, int]]:
    """The most common ``(job name, error, count)`` among the ``newest`` jobs of ``queue``'s dead set.

    Errors that differ only in their numbers (ids, sizes, ports) count as one;
    the error shown is the most recent one of its kind, cut to 80 characters.
    Only the newest jobs are read, so the cost stays bounded (the dashboard
    calls this on every refresh).
    """
    counts: Counter[tuple[str, str]] = Counter()
    sample: dict[tuple[str, str], str] = {}
    seen = 0
    async for ids in _id_batches(queue, "dead", True):
        if seen >= newest:
            break
        ids = ids[: newest - seen]
        seen += len(ids)
        async with translate():
            pipe = batch(_client(queue))
            pipe.hmget(queue.keys.state, ids)
            pipe.hmget(queue.keys.errors, ids)
            states, errors = await pipe.execute()
        for raw_state, raw_error in zip(states, errors, strict=True):
            state = _state(raw_state)
            if state is None:
                continue
            text = _error_text(raw_error) or str(state.get("reason") or state.get("status") or "unknown")
            flat = " ".join(text.split())
            key = (str(state.get("name", "?")), _DIGITS.sub("#", flat))
            counts[key] += 1
            sample.setdefault(key, flat if len(flat) <= 80 else flat[:79] + "…")
    return [(key[0], sample[key], n) for key, n in counts.most_common(limit)]


# -- changing ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryOutcome:
    """What a retry did: how many jobs went back on the queue, and which were refused."""

    retried: int
    skipped: dict[str, str]
    """Unique jobs left in the dead set because another live job now holds
    their uniqueness lock: job id -> the holder's job id."""


async def retry_outcome(queue: Queue, ids: Collection[str], progress: Progress | None = None) -> RetryOutcome:
    """Put jobs from the dead set or the scheduled set back on the queue now.

    Revived dead-set jobs get their full attempts again, and a unique job
    takes its uniqueness lock again (same key and mode). A unique job whose
    lock another live job holds now stays in the dead set (reviving it would
    make a duplicate) and is reported in :attr:`RetryOutcome.skipped`. Ids
    in other states are skipped silently.
    """
    k = queue.keys
    keys = [k.queue, k.scheduled, k.dead, k.state, k.marker, k.stats, k.unique]
    moved = 0
    skipped: dict[str, str] = {}
    done = 0
    for chunk in _chunks(list(ids)):
        async with translate():
            reply = await _scripts.run(_client(queue), "retry", keys, chunk)
        moved += int(reply[0])
        rest = [_text(v) for v in reply[1:]]
        skipped.update(zip(rest[::2], rest[1::2], strict=True))
        done += len(chunk)
        if progress is not None:
            progress(done, len(ids))
    return RetryOutcome(moved, skipped)


async def retry_jobs(queue: Queue, ids: Collection[str], progress: Progress | None = None) -> int:
    """Put jobs from the dead set or the scheduled set back on the queue now (see :func:`retry_outcome`).

    Unique jobs refused because another job holds their lock are logged as a
    warning (logger ``aioresque.admin``).

    Returns:
        How many jobs were put back.
    """
    outcome = await retry_outcome(queue, ids, progress)
    for job_id, holder in outcome.skipped.items():
        _log.warning(
            "job %s of queue %s not retried: its uniqueness lock is held by job %s", job_id, queue.name, holder
        )
    return outcome.retried


async def delete_jobs(queue: Queue, ids: Collection[str], progress: Progress | None = None) -> tuple[int, int]:
    """Delete jobs and all their records. Running jobs are skipped (cancel them).

    Returns:
        ``(deleted, skipped because running)``.
    """
    deleted = running = done = 0
    for chunk in _chunks(list(ids)):
        d, r = await _delete_batch(queue, chunk, "any")
        deleted += d
        running += r
        done += len(chunk)
        if progress is not None:
            progress(done, len(ids))
    return deleted, running


async def _delete_batch(queue: Queue, ids: list[str], mode: str) -> tuple[int, int]:
    k = queue.keys
    keys = [k.queue, k.scheduled, k.active, k.done, k.dead, k.jobs, k.state, k.results, k.errors, k.watched, k.stats]
    keys += [k.unique, k.flows, k.marker, k.quarantine, k.progress, *(k.notify(i) for i in ids)]
    async with translate():
        reply = await _scripts.run(_client(queue), "delete", keys, [mode, *ids])
    return int(reply[0]), int(reply[1])


async def purge(queue: Queue, progress: Progress | None = None) -> int:
    """Delete every job waiting in the queue (not scheduled, running or finished ones).

    Works from the head of the queue a batch at a time; jobs enqueued while
    it runs may be purged too.

    Returns:
        How many jobs were deleted.
    """
    deleted = 0
    total = await _size(queue, "queue")
    seen = 0
    while True:
        ids = await _slice(queue, "queue", False, 0, BATCH)
        if not ids:
            return deleted
        d, _ = await _delete_batch(queue, ids, "queued")
        deleted += d
        seen += len(ids)
        if progress is not None:
            progress(seen, max(total, seen))


async def retry_matching(
    queue: Queue,
    statuses: JobStatus | str | Iterable[JobStatus | str],
    job_filter: JobFilter | None = None,
    progress: Progress | None = None,
) -> int:
    """Retry every job with one of ``statuses`` that the filter selects (see :func:`retry_jobs`)."""
    ids = [job_id async for job_id, _ in matching_ids(queue, statuses, job_filter)]
    return await retry_jobs(queue, ids, progress)


async def delete_matching(
    queue: Queue,
    statuses: JobStatus | str | Iterable[JobStatus | str],
    job_filter: JobFilter | None = None,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Delete every job with one of ``statuses`` that the filter selects (see :func:`delete_jobs`)."""
    ids = [job_id async for job_id, _ in matching_ids(queue, statuses, job_filter)]
    return await delete_jobs(queue, ids, progress)


# -- helpers -------------------------------------------------------------------


def _client(queue: Queue) -> Any:
    # redis-py's stubs type each command as "Awaitable[T] | T" and differ
    # between Redis and RedisCluster; the replies are checked where used.
    return queue.redis


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), BATCH):
        yield ids[i : i + BATCH]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _now_ms(queue: Queue) -> float:
    """Redis's clock (ms), the one every recorded time is on."""
    async with translate():
        reply = await _client(queue).time()
    if isinstance(reply, dict):  # a cluster client may answer per node
        reply = next(iter(reply.values()))
    seconds, micros = reply
    return float(seconds) * 1000 + int(micros) // 1000


def _state(raw: bytes | str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = loads_json(raw)
    except ValueError:
        return {"status": "dead", "reason": "corrupt state record"}
    return value if isinstance(value, dict) else None


def _error_text(raw: bytes | str | None) -> str | None:
    if raw is None:
        return None
    try:
        value = loads_json(raw)
    except ValueError:
        return _text(raw)
    if isinstance(value, dict):
        return str(value.get("error") or "")
    return None
