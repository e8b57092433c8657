"""Operating a queue by hand: pause, retry, delete, purge (and, re-exported, reading it).

What the admin CLI and the dashboard do goes through here (and the
:class:`~aioresque.Queue` methods that delegate to it), never through raw
keys elsewhere. State changes that touch several keys are Lua scripts
(``retry.lua``, ``delete.lua``). The reading side (overviews, listings,
error summaries) lives in :mod:`aioresque._listing`; its names are
re-exported here, where callers have always found them.

Bulk operations work on batches of :data:`BATCH` ids, so retrying or
deleting 100 000 jobs never blocks Redis for long, and report progress
through an optional callback. They act only on records they can read, and
say what they skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import _decode, _scripts
from ._connect import batch
from ._errors import translate
from ._job import check_state
from ._listing import (
    BATCH,
    DEAD_SET,
    LIST_VALUE_LIMIT,
    SCAN_LIMIT,
    JobFilter,
    JobPage,
    Oversized,
    Selection,
    column,
    id_text,
    ids_in,
    job_time_ms,
    list_jobs,
    matching_ids,
    parse_statuses,
    read_columns,
    select_ids,
    size_of,
    top_errors,
)
from ._overview import (
    HISTORY_MINUTES,
    HistoryPoint,
    QueueOverview,
    Sizes,
    client_of,
    history,
    history_points,
    overview,
    read_counters,
    read_sizes,
)
from ._status import JobStatus

if TYPE_CHECKING:
    from ._queue import Queue

__all__ = [
    "BATCH",
    "DEAD_SET",
    "HISTORY_MINUTES",
    "LIST_VALUE_LIMIT",
    "SCAN_LIMIT",
    "HistoryPoint",
    "JobFilter",
    "JobPage",
    "JobStatus",
    "Oversized",
    "Progress",
    "QueueOverview",
    "RetryOutcome",
    "Selection",
    "Sizes",
    "delete_jobs",
    "delete_matching",
    "delete_raw",
    "history",
    "history_points",
    "id_text",
    "is_paused",
    "job_time_ms",
    "list_jobs",
    "matching_ids",
    "overview",
    "parse_statuses",
    "pause",
    "purge",
    "read_columns",
    "read_counters",
    "read_sizes",
    "resume",
    "retry_jobs",
    "retry_matching",
    "retry_outcome",
    "select_ids",
    "top_errors",
]

_log = logging.getLogger("aioresque.admin")

Progress = Callable[[int, int], None]
"""Bulk-operation progress callback: ``(done so far, total expected)``."""


# -- pause ---------------------------------------------------------------------


async def pause(queue: Queue) -> None:
    """Pause ``queue``: workers claim nothing from it until :func:`resume`.

    Jobs already running go on; enqueues still succeed.
    """
    async with translate():
        await client_of(queue).set(queue.keys.paused, "1")


async def resume(queue: Queue) -> None:
    """Resume ``queue`` and wake its idle workers."""
    async with translate():
        # Flag first, then the wake-up: a worker woken early would find the
        # queue still paused and wait again (at most IDLE_WAIT_CAP).
        pipe = batch(client_of(queue))
        pipe.delete(queue.keys.paused)
        pipe.zadd(queue.keys.marker, {"w": 0})
        await pipe.execute()


async def is_paused(queue: Queue) -> bool:
    """Whether ``queue`` is paused."""
    async with translate():
        return bool(await client_of(queue).exists(queue.keys.paused))


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
                reply = await _scripts.run(client_of(queue), "retry", keys, readable)
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
        pipe = batch(client_of(queue))
        pipe.hmget(queue.keys.state, ids)
        (reply,) = await pipe.execute(raise_on_error=False)
        _decode.raise_unless_wrong_type([reply])
    states = column(reply, len(ids))
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


async def delete_raw(queue: Queue, raw_ids: Collection[bytes], progress: Progress | None = None) -> tuple[int, int]:
    """Delete jobs given their ids as stored (bytes): how unreadable records are removed.

    An id that is not valid UTF-8 cannot be named as text; :attr:`Selection.unreadable_raw`
    holds such ids. Running jobs are skipped, as by :func:`delete_jobs`.

    Returns:
        ``(deleted, skipped because running)``.
    """
    deleted = running = done = 0
    ids = list(raw_ids)
    for i in range(0, len(ids), BATCH):
        d, r = await _delete_batch(queue, ids[i : i + BATCH], "any")
        deleted += d
        running += r
        done = min(len(ids), i + BATCH)
        if progress is not None:
            progress(done, len(ids))
    return deleted, running


async def _delete_batch(queue: Queue, ids: list[bytes] | list[str], mode: str) -> tuple[int, int]:
    k = queue.keys
    keys = [k.queue, k.scheduled, k.active, k.done, k.dead, k.jobs, k.state, k.results, k.errors, k.watched, k.stats]
    keys += [k.unique, k.flows, k.marker, *(k.notify(_decode.text(i)) for i in ids)]
    async with translate():
        reply = await _scripts.run(client_of(queue), "delete", keys, [mode, *ids])
    return _decode.integer(reply[0], 0) or 0, _decode.integer(reply[1], 0) or 0


async def purge(queue: Queue, progress: Progress | None = None) -> int:
    """Delete every job waiting in the queue (not scheduled, running or finished ones).

    Works from the head of the queue a batch at a time; jobs enqueued while
    it runs may be purged too.

    Returns:
        How many jobs were deleted.
    """
    deleted = 0
    total = await size_of(queue, "queue")
    seen = 0
    while True:
        ids = await ids_in(queue, "queue", False, 0, BATCH)
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


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), BATCH):
        yield ids[i : i + BATCH]
