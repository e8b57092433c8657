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

from redis.exceptions import ResponseError

from . import _decode, _scripts
from ._connect import batch
from ._errors import ConfigurationError, translate
from ._job import build_info, check_state, unreadable_info
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
    unreadable_skipped: int = 0
    """Unreadable records a filtered listing passed over (a filter cannot
    match a record it cannot read); an unfiltered listing shows them marked."""


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
        pipe = batch(_client(queue))
        for where, command in _SIZE_OF:
            getattr(pipe, command)(getattr(k, where))
        pipe.hgetall(k.stats)
        pipe.exists(k.paused)
        pipe.hlen(k.quarantine)
        pipe.lindex(k.queue, -1)
        replies = await pipe.execute(raise_on_error=False)
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
    now = await _now_ms(queue)
    latency = 0.0
    if sizes.head is not None:
        try:
            async with translate():
                raw = await _client(queue).hget(queue.keys.state, sizes.head)
        except ResponseError:  # the state key holds another type
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
            raw = await _client(queue).hgetall(queue.keys.history)
    except ResponseError:  # the history key holds another type: no history to show
        raw = {}
    return history_points(raw.values(), await _now_ms(queue), min(minutes, HISTORY_MINUTES))


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


_FOUND_IN: dict[str, JobStatus] = {
    "queue": JobStatus.QUEUED,
    "scheduled": JobStatus.SCHEDULED,
    "active": JobStatus.ACTIVE,
    "done": JobStatus.COMPLETE,
    "dead": JobStatus.DEAD,
}
"""The status shown for an unreadable record, by the collection it was found in."""


def id_text(raw: object) -> tuple[str, str | None]:
    """A job id read from Redis as ``(text, problem)``; never raises.

    ``problem`` is None for an id that is valid UTF-8; otherwise the text is
    the escaped form (``\\xff``), which cannot address the job, and
    ``problem`` says why.
    """
    text = _decode.strict_text(raw)
    if text is not None:
        return text, None
    return _decode.text(raw), "job id is not valid UTF-8"


async def _id_batches(queue: Queue, where: str, newest_first: bool) -> AsyncIterator[list[bytes]]:
    """Every raw id in one of the queue's collections, in listing order, a batch at a time.

    A collection whose key holds another Redis type yields nothing (the
    queue's overview names such keys).
    """
    start = 0
    while True:
        raw = await _slice(queue, where, newest_first, start, BATCH)
        if not raw:
            return
        yield raw
        if len(raw) < BATCH:
            return
        start += BATCH


@dataclass(frozen=True, slots=True)
class _Seen:
    """One record met by a scan: readable (``state``) or not (``why``)."""

    raw_id: bytes
    id: str
    found_in: JobStatus
    state: dict[str, Any] | None
    why: str | None


async def _scan(queue: Queue, wanted: tuple[JobStatus, ...], flt: JobFilter) -> AsyncIterator[_Seen]:
    """Every record in the collections of ``wanted``: readable ones that have a wanted status and
    match ``flt``, and every unreadable one (whose own status, if it names one, is wanted)."""
    seen_sets: list[tuple[str, bool]] = []
    for status in wanted:
        if _WHERE[status] not in seen_sets:
            seen_sets.append(_WHERE[status])
    values = {s.value for s in wanted}
    now = await _now_ms(queue)
    for where, newest_first in seen_sets:
        async for raw_ids in _id_batches(queue, where, newest_first):
            async with translate():
                pipe = batch(_client(queue))
                pipe.hmget(queue.keys.state, raw_ids)
                if flt.error:
                    pipe.hmget(queue.keys.errors, raw_ids)
                replies = await pipe.execute(raise_on_error=False)
            states = _column(replies[0], len(raw_ids))
            errors = _column(replies[1], len(raw_ids)) if flt.error else [None] * len(raw_ids)
            found_in = _FOUND_IN[where]
            for raw_id, raw_state, raw_error in zip(raw_ids, states, errors, strict=True):
                text, problem = id_text(raw_id)
                if isinstance(raw_state, Exception):
                    yield _Seen(raw_id, text, found_in, None, "the queue's state key cannot be read")
                    continue
                if raw_state is None:
                    continue  # gone since the ids were read (or a stray id: the scripts quarantine those)
                state, why = check_state(raw_state)
                own = state.get("status") if state else None
                if why is not None or problem is not None:
                    if not isinstance(own, str) or own not in _FOUND_STATUSES or own in values:
                        yield _Seen(raw_id, text, found_in, state, f"{problem or why} ({len(raw_state)} bytes)")
                    continue
                assert state is not None
                if str(own) in values and flt.matches(state, _error_text(raw_error), now):
                    yield _Seen(raw_id, text, found_in, state, None)


_FOUND_STATUSES = frozenset(s.value for s in JobStatus) - {JobStatus.NOT_FOUND.value}


def _column(reply: object, size: int) -> list[Any]:
    """One HMGET reply of a pipeline run with ``raise_on_error=False``, as a list of ``size`` values."""
    if isinstance(reply, Exception) or not isinstance(reply, list):
        return [reply if isinstance(reply, Exception) else None] * size
    return reply


async def matching_ids(
    queue: Queue,
    statuses: JobStatus | str | Iterable[JobStatus | str],
    job_filter: JobFilter | None = None,
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Yield ``(id, state record)`` of every readable job with one of ``statuses`` that the filter selects.

    Collections are read in batches; a job that moves while the scan runs may
    be missed or seen twice, as with any live listing. Records that cannot be
    read are passed over: :func:`select_ids` counts them.
    """
    async for seen in _scan(queue, parse_statuses(statuses), job_filter or JobFilter()):
        if seen.state is not None and seen.why is None:
            yield seen.id, seen.state


@dataclass(frozen=True, slots=True)
class Selection:
    """The jobs a bulk operation selected in one queue, and the records it had to pass over."""

    ids: list[str]
    """Ids of the readable jobs the statuses and filter select."""
    unreadable: list[str]
    """Ids (escaped if not UTF-8) of records that could not be read, so were not selected."""


async def select_ids(
    queue: Queue,
    statuses: JobStatus | str | Iterable[JobStatus | str],
    job_filter: JobFilter | None = None,
) -> Selection:
    """The ids :func:`matching_ids` yields, plus the unreadable records it passed over.

    Bulk retry and delete act on :attr:`Selection.ids` and report how many
    records they skipped.
    """
    ids: list[str] = []
    unreadable: list[str] = []
    async for seen in _scan(queue, parse_statuses(statuses), job_filter or JobFilter()):
        (ids if seen.why is None else unreadable).append(seen.id)
    return Selection(ids, unreadable)


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
    Records that cannot be read are listed marked (:attr:`JobInfo.unreadable`)
    when there is no filter, and counted in :attr:`JobPage.unreadable_skipped`
    when there is one.
    """
    if offset < 0 or limit < 1:
        raise ConfigurationError("offset must be >= 0 and limit >= 1")
    wanted = parse_statuses(statuses)
    flt = job_filter or JobFilter()
    sets = {_WHERE[s] for s in wanted}
    # Without a filter, a listing that covers a whole collection can count it
    # directly and read only the page.
    whole = flt.empty and len(sets) == 1 and _covers(wanted)
    page: list[tuple[bytes, JobStatus]] = []
    total = skipped = 0
    exact = True
    if whole:
        where, newest_first = next(iter(sets))
        total = await _size(queue, where)
        page = [(i, _FOUND_IN[where]) for i in await _slice(queue, where, newest_first, offset, limit)]
    else:
        async for seen in _scan(queue, wanted, flt):
            if seen.why is not None and not flt.empty:
                skipped += 1
                continue
            if offset <= total < offset + limit:
                page.append((seen.raw_id, seen.found_in))
            total += 1
            if total >= SCAN_LIMIT:
                exact = False
                break
    return JobPage(await _infos(queue, page), total, offset, limit, exact, skipped)


def _covers(wanted: tuple[JobStatus, ...]) -> bool:
    """Whether these statuses are everything their one collection holds."""
    where = _WHERE[wanted[0]][0]
    everything = {s for s, (w, _) in _WHERE.items() if w == where}
    return everything <= set(wanted)


async def _size(queue: Queue, where: str) -> int:
    """How many ids one collection holds (0 if its key holds another type)."""
    try:
        async with translate():
            if where == "queue":
                return int(await _client(queue).llen(queue.keys.queue))
            return int(await _client(queue).zcard(getattr(queue.keys, where)))
    except ResponseError:
        return 0


async def _slice(queue: Queue, where: str, newest_first: bool, offset: int, limit: int) -> list[bytes]:
    """Raw ids ``offset`` to ``offset + limit`` of one collection in listing order ([] for a wrong-typed key)."""
    try:
        async with translate():
            if where == "queue":
                # The head (next to run) is the right end: read from there.
                raw = await _client(queue).lrange(queue.keys.queue, -(offset + limit), -(offset + 1))
                raw = list(reversed(raw))
            else:
                key = getattr(queue.keys, where)
                raw = await _client(queue).zrange(key, offset, offset + limit - 1, desc=newest_first)
    except ResponseError:
        return []
    return [i if isinstance(i, bytes) else _decode.text(i).encode() for i in raw]


async def _infos(queue: Queue, page: list[tuple[bytes, JobStatus]]) -> list[JobInfo]:
    """The :class:`JobInfo` of each ``(raw id, status of its collection)``; unreadable ones marked."""
    if not page:
        return []
    k = queue.keys
    ids = [raw for raw, _ in page]
    async with translate():
        pipe = batch(_client(queue))
        pipe.hmget(k.state, ids)
        pipe.hmget(k.jobs, ids)
        pipe.hmget(k.results, ids)
        pipe.hmget(k.errors, ids)
        replies = await pipe.execute(raise_on_error=False)
    states, payloads, results, errors = (_column(r, len(ids)) for r in replies)
    out = []
    for (raw_id, found_in), raw, payload, result, error in zip(page, states, payloads, results, errors, strict=True):
        text, problem = id_text(raw_id)
        if isinstance(raw, Exception):
            out.append(unreadable_info(queue.name, text, found_in, "the queue's state key cannot be read"))
            continue
        if raw is None:
            continue  # gone since the ids were read
        payload, result, error = (None if isinstance(v, Exception) else v for v in (payload, result, error))
        out.append(build_info(queue, text, raw, payload, result, error, found_in=found_in, id_problem=problem))
    return out


async def top_errors(queue: Queue, limit: int = 3, *, newest: int = 1000) -> list[tuple[str, str, int]]:
    """The most common ``(job name, error, count)`` among the ``newest`` jobs of ``queue``'s dead set.

    Errors that differ only in their numbers (ids, sizes, ports) count as one;
    the error shown is the most recent one of its kind, cut to 80 characters.
    Only the newest jobs are read, so the cost stays bounded (the dashboard
    calls this on every refresh). Unreadable records are passed over.
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
            replies = await pipe.execute(raise_on_error=False)
        states, errors = (_column(r, len(ids)) for r in replies)
        for raw_state, raw_error in zip(states, errors, strict=True):
            state, why = check_state(None if isinstance(raw_state, Exception) else raw_state)
            if state is None or why is not None:
                continue
            error = None if isinstance(raw_error, Exception) else _error_text(raw_error)
            text = error or str(state.get("reason") or state.get("status") or "unknown")
            flat = " ".join(text[:2000].split())
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
    unreadable: tuple[str, ...] = ()
    """Ids whose state record cannot be read: left where they are (delete them,
    or repair the record, then retry)."""


async def retry_outcome(queue: Queue, ids: Collection[str], progress: Progress | None = None) -> RetryOutcome:
    """Put jobs from the dead set or the scheduled set back on the queue now.

    Revived dead-set jobs get their full attempts again, and a unique job
    takes its uniqueness lock again (same key and mode). A unique job whose
    lock another live job holds now stays in the dead set (reviving it would
    make a duplicate) and is reported in :attr:`RetryOutcome.skipped`; a job
    whose record cannot be read is left alone and reported in
    :attr:`RetryOutcome.unreadable`. Ids in other states are skipped silently.
    """
    k = queue.keys
    keys = [k.queue, k.scheduled, k.dead, k.state, k.marker, k.stats, k.unique]
    moved = 0
    skipped: dict[str, str] = {}
    unreadable: list[str] = []
    done = 0
    for chunk in _chunks(list(ids)):
        bad = await _unreadable(queue, chunk)
        unreadable += bad
        readable = [i for i in chunk if i not in bad]
        if readable:
            async with translate():
                reply = await _scripts.run(_client(queue), "retry", keys, readable)
            moved += _decode.integer(reply[0], 0) or 0
            rest = [_decode.text(v) for v in reply[1:]]
            skipped.update(zip(rest[::2], rest[1::2], strict=False))
        done += len(chunk)
        if progress is not None:
            progress(done, len(ids))
    return RetryOutcome(moved, skipped, tuple(unreadable))


async def _unreadable(queue: Queue, ids: list[str]) -> set[str]:
    """Those of ``ids`` whose state record exists but cannot be read."""
    async with translate():
        pipe = batch(_client(queue))
        pipe.hmget(queue.keys.state, ids)
        (reply,) = await pipe.execute(raise_on_error=False)
    states = _column(reply, len(ids))
    return {
        i
        for i, raw in zip(ids, states, strict=True)
        if isinstance(raw, Exception) or (raw is not None and check_state(raw)[1] is not None)
    }


async def retry_jobs(queue: Queue, ids: Collection[str], progress: Progress | None = None) -> int:
    """Put jobs from the dead set or the scheduled set back on the queue now (see :func:`retry_outcome`).

    Unique jobs refused because another job holds their lock, and jobs whose
    records cannot be read, are logged as a warning (logger ``aioresque.admin``).

    Returns:
        How many jobs were put back.
    """
    outcome = await retry_outcome(queue, ids, progress)
    for job_id, holder in outcome.skipped.items():
        _log.warning(
            "job %s of queue %s not retried: its uniqueness lock is held by job %s", job_id, queue.name, holder
        )
    if outcome.unreadable:
        _log.warning(
            "%d job(s) of queue %s not retried: their records cannot be read", len(outcome.unreadable), queue.name
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


async def _delete_batch(queue: Queue, ids: list[bytes] | list[str], mode: str) -> tuple[int, int]:
    k = queue.keys
    keys = [k.queue, k.scheduled, k.active, k.done, k.dead, k.jobs, k.state, k.results, k.errors, k.watched, k.stats]
    keys += [k.unique, k.flows, k.marker, *(k.notify(_decode.text(i)) for i in ids)]
    async with translate():
        reply = await _scripts.run(_client(queue), "delete", keys, [mode, *ids])
    return _decode.integer(reply[0], 0) or 0, _decode.integer(reply[1], 0) or 0


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
    """Retry every readable job with one of ``statuses`` that the filter selects (see :func:`retry_jobs`).

    Records that cannot be read are skipped and logged (use :func:`select_ids` to count them).
    """
    selection = await select_ids(queue, statuses, job_filter)
    _log_unreadable(queue, selection, "retried")
    return await retry_jobs(queue, selection.ids, progress)


async def delete_matching(
    queue: Queue,
    statuses: JobStatus | str | Iterable[JobStatus | str],
    job_filter: JobFilter | None = None,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Delete every readable job with one of ``statuses`` that the filter selects (see :func:`delete_jobs`).

    Records that cannot be read are skipped and logged (delete them by id).
    """
    selection = await select_ids(queue, statuses, job_filter)
    _log_unreadable(queue, selection, "deleted")
    return await delete_jobs(queue, selection.ids, progress)


def _log_unreadable(queue: Queue, selection: Selection, verb: str) -> None:
    if selection.unreadable:
        _log.warning(
            "%d record(s) of queue %s not %s: they cannot be read", len(selection.unreadable), queue.name, verb
        )


# -- helpers -------------------------------------------------------------------


def _client(queue: Queue) -> Any:
    # redis-py's stubs type each command as "Awaitable[T] | T" and differ
    # between Redis and RedisCluster; the replies are checked where used.
    return queue.redis


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), BATCH):
        yield ids[i : i + BATCH]


async def _now_ms(queue: Queue) -> float:
    """Redis's clock (ms), the one every recorded time is on."""
    async with translate():
        reply = await _client(queue).time()
    if isinstance(reply, dict):  # a cluster client may answer per node
        reply = next(iter(reply.values()))
    seconds, micros = reply
    return float(seconds) * 1000 + int(micros) // 1000


def _error_text(raw: object) -> str | None:
    """The ``error`` text of an error record; the raw text if it is not JSON; never raises."""
    if raw is None:
        return None
    try:
        value = loads_json(raw)  # type: ignore[arg-type]  # anything else raises, and is caught
    except Exception:  # noqa: BLE001 - not JSON (or nested too deep): search its text
        return _decode.text(raw)[:10_000]
    if isinstance(value, dict):
        return _decode.text(value.get("error") or "")
    return None
