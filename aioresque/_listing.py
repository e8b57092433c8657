"""Reading a queue for people: overviews, history, job listings and error summaries.

The admin CLI, the dashboard and the :class:`~aioresque.Queue` methods that
delegate here read through these functions (:mod:`aioresque._admin` changes
things, and re-exports these names). Reads are pipelined and need no
atomicity; a listing reads its ids a batch of :data:`BATCH` at a time.

Nothing read here is trusted (``../DESIGN.md``: listings show the readable
records and mark the rest): every id, count, time and record passes
:mod:`aioresque._decode` or :func:`aioresque._job.check_state`; a key of
the wrong Redis type reads as empty and is named; a record that cannot be
read is listed marked (:attr:`JobInfo.unreadable`); a value over
:data:`LIST_VALUE_LIMIT` bytes is not loaded by a listing at all.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import ResponseError

from . import _decode, _scripts
from ._errors import ConfigurationError, translate
from ._job import build_info, check_state, unreadable_info
from ._overview import client_of, now_ms
from ._serializer import loads_json
from ._status import JobInfo, JobStatus

if TYPE_CHECKING:
    from ._queue import Queue

BATCH = 500
"""Ids read or changed per round trip in listings and bulk operations."""
SCAN_LIMIT = 200_000
"""Most ids a filtered listing examines before it reports a partial count."""
LIST_VALUE_LIMIT = 1024 * 1024
"""Largest record (state, payload, result or error, in bytes) a listing reads; ``Job.info()`` reads any."""

_DIGITS = re.compile(r"\d+")
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
        raw = await ids_in(queue, where, newest_first, start, BATCH)
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
    now = await now_ms(queue)
    for where, newest_first in seen_sets:
        async for raw_ids in _id_batches(queue, where, newest_first):
            columns = await read_columns(queue, ["state", "errors"] if flt.error else ["state"], raw_ids)
            states = columns[0]
            errors = columns[1] if flt.error else [None] * len(raw_ids)
            found_in = _FOUND_IN[where]
            for raw_id, raw_state, raw_error in zip(raw_ids, states, errors, strict=True):
                text, problem = id_text(raw_id)
                if isinstance(raw_state, Exception):
                    yield _Seen(raw_id, text, found_in, None, "the queue's state key cannot be read")
                    continue
                if isinstance(raw_state, Oversized):
                    yield _Seen(
                        raw_id, text, found_in, None, f"state record too large to list ({raw_state.size} bytes)"
                    )
                    continue
                if isinstance(raw_error, Oversized | Exception):
                    raw_error = None
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


def column(reply: object, size: int) -> list[Any]:
    """One HMGET reply of a pipeline run with ``raise_on_error=False``, as a list of ``size`` values."""
    if isinstance(reply, Exception) or not isinstance(reply, list):
        return [reply if isinstance(reply, Exception) else None] * size
    return reply


@dataclass(frozen=True, slots=True)
class Oversized:
    """A value a listing did not read because it is larger than :data:`LIST_VALUE_LIMIT`."""

    size: int


async def read_columns(queue: Queue, names: list[str], ids: list[bytes]) -> list[list[Any]]:
    """The values of ``ids`` in each of the queue's hashes ``names``, in one round trip; never fails on data.

    ``names`` are among ``state``, ``jobs``, ``results`` and ``errors``. Each
    column holds, per id, the value, None (no such field), an
    :class:`Oversized` (over :data:`LIST_VALUE_LIMIT` bytes: not read, so one
    huge record cannot make a listing load megabytes per row; ``lua/peek.lua``),
    or, for every id, the error Redis answered when the hash holds another type.
    """
    calls = [("peek", [getattr(queue.keys, name)], [name, LIST_VALUE_LIMIT, *ids]) for name in names]
    async with translate():
        replies = await _scripts.run_many(client_of(queue), calls)
        _decode.raise_unless_wrong_type(replies)
    columns: list[list[Any]] = []
    for reply in replies:
        if isinstance(reply, Exception) or not isinstance(reply, list) or len(reply) != len(ids):
            columns.append([reply if isinstance(reply, Exception) else None] * len(ids))
            continue
        columns.append([Oversized(v) if isinstance(v, int) else v for v in reply])
    return columns


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
    unreadable_raw: list[bytes] = dataclasses.field(default_factory=list)
    """The same ids as stored (bytes), to delete them with :func:`aioresque._admin.delete_raw`."""


async def select_ids(
    queue: Queue,
    statuses: JobStatus | str | Iterable[JobStatus | str],
    job_filter: JobFilter | None = None,
) -> Selection:
    """The ids :func:`matching_ids` yields, plus the unreadable records it passed over.

    Bulk retry and delete act on :attr:`Selection.ids` and report how many
    records they skipped.
    """
    selection = Selection([], [])
    async for seen in _scan(queue, parse_statuses(statuses), job_filter or JobFilter()):
        if seen.why is None:
            selection.ids.append(seen.id)
        else:
            selection.unreadable.append(seen.id)
            selection.unreadable_raw.append(seen.raw_id)
    return selection


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
        total = await size_of(queue, where)
        page = [(i, _FOUND_IN[where]) for i in await ids_in(queue, where, newest_first, offset, limit)]
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


async def size_of(queue: Queue, where: str) -> int:
    """How many ids one collection holds (0 if its key holds another type)."""
    try:
        async with translate():
            if where == "queue":
                return int(await client_of(queue).llen(queue.keys.queue))
            return int(await client_of(queue).zcard(getattr(queue.keys, where)))
    except ResponseError as exc:
        if not _decode.wrong_type(exc):
            raise
        return 0


async def ids_in(queue: Queue, where: str, newest_first: bool, offset: int, limit: int) -> list[bytes]:
    """Raw ids ``offset`` to ``offset + limit`` of one collection in listing order ([] for a wrong-typed key)."""
    try:
        async with translate():
            if where == "queue":
                # The head (next to run) is the right end: read from there.
                raw = await client_of(queue).lrange(queue.keys.queue, -(offset + limit), -(offset + 1))
                raw = list(reversed(raw))
            else:
                key = getattr(queue.keys, where)
                raw = await client_of(queue).zrange(key, offset, offset + limit - 1, desc=newest_first)
    except ResponseError as exc:
        if not _decode.wrong_type(exc):
            raise
        return []
    return [i if isinstance(i, bytes) else _decode.text(i).encode() for i in raw]


async def _infos(queue: Queue, page: list[tuple[bytes, JobStatus]]) -> list[JobInfo]:
    """The :class:`JobInfo` of each ``(raw id, status of its collection)``; unreadable ones marked."""
    if not page:
        return []
    ids = [raw for raw, _ in page]
    states, payloads, results, errors = await read_columns(queue, ["state", "jobs", "results", "errors"], ids)
    out = []
    for (raw_id, found_in), raw, payload, result, error in zip(page, states, payloads, results, errors, strict=True):
        text, problem = id_text(raw_id)
        if isinstance(raw, Exception):
            out.append(unreadable_info(queue.name, text, found_in, "the queue's state key cannot be read"))
            continue
        if isinstance(raw, Oversized):
            out.append(
                unreadable_info(queue.name, text, found_in, f"state record too large to list ({raw.size} bytes)")
            )
            continue
        if raw is None:
            continue  # gone since the ids were read
        values = [None if isinstance(v, Exception | Oversized) else v for v in (payload, result, error)]
        info = build_info(queue, text, raw, *values, found_in=found_in, id_problem=problem)
        big = [
            f"{what} of {v.size} bytes"
            for what, v in (("payload", payload), ("result", result), ("error record", error))
            if isinstance(v, Oversized)
        ]
        if big and info.unreadable is None:
            info = dataclasses.replace(info, payload_error=f"{', '.join(big)} not read by the listing (see Job.info())")
        out.append(info)
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
        states, errors = await read_columns(queue, ["state", "errors"], ids)
        for raw_state, raw_error in zip(states, errors, strict=True):
            state, why = check_state(None if isinstance(raw_state, Exception | Oversized) else raw_state)
            if state is None or why is not None:
                continue
            error = None if isinstance(raw_error, Exception | Oversized) else _error_text(raw_error)
            text = error or str(state.get("reason") or state.get("status") or "unknown")
            flat = " ".join(text[:2000].split())
            key = (str(state.get("name") or "?"), _DIGITS.sub("#", flat))
            counts[key] += 1
            sample.setdefault(key, flat if len(flat) <= 80 else flat[:79] + "…")
    return [(key[0], sample[key], n) for key, n in counts.most_common(limit)]


# -- helpers -------------------------------------------------------------------


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
