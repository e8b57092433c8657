"""The operator's view of a queue's quarantine: what could not be a job, kept aside.

The scripts and the worker's claim path move whatever cannot be a job (a
list entry or set member that is not valid UTF-8 or not a valid job id, a
state record that fails their checks) into the queue's ``quarantine`` hash
(:attr:`aioresque._keys.QueueKeys.quarantine`) instead of failing on it,
keeping its raw bytes. This module reads and trims that hash for people:
:meth:`Queue.quarantined` lists it, ``aioresque quarantine`` prints it and
drops entries, and the count is in :class:`~aioresque.QueueOverview`.

Every value read here passes :mod:`aioresque._decode`; an entry whose value
is not ``"<ms>|<where>|<reason>"`` is still listed, with what could be read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from redis.exceptions import ResponseError

from . import _decode
from ._errors import translate
from ._status import ms_to_datetime

if TYPE_CHECKING:
    from ._queue import Queue

LIST_LIMIT = 1000
"""Most entries :meth:`Queue.quarantined` returns by default (HSCAN reads them a batch at a time)."""
SHOWN_BYTES = 200
"""Longest prefix of an entry's raw bytes shown as text (the raw bytes are kept whole)."""


@dataclass(frozen=True, slots=True)
class QuarantinedItem:
    """One entry of a queue's quarantine: something found in Redis that cannot be a job.

    Attributes:
        raw: the bytes found (a list entry, set member or job id), exactly as stored.
        text: ``raw`` for display: invalid UTF-8 shown as ``\\xNN`` escapes,
            cut to 200 bytes with a marker saying how many more there are.
        at: when it was quarantined (Redis's clock), or None if unreadable.
        where: the key it was found in (``queue``, ``state``, ``dead``, ...).
        reason: why it cannot be a job.
    """

    raw: bytes
    text: str
    at: datetime | None
    where: str
    reason: str


def parse_entry(field: bytes | str, value: object) -> QuarantinedItem:
    """Build a :class:`QuarantinedItem` from one field and value of the hash; never raises."""
    raw = field.encode("utf-8", "surrogateescape") if isinstance(field, str) else bytes(field)
    shown = _decode.text(raw[:SHOWN_BYTES])
    if len(raw) > SHOWN_BYTES:
        shown += f"… (+{len(raw) - SHOWN_BYTES} bytes)"
    ms, where, reason = [*_decode.text(value).split("|", 2), "", ""][:3]
    at = ms_to_datetime(_decode.integer(ms, 0, _decode.MAX_MS))
    if at is None and not where and not reason:
        reason = f"unreadable quarantine entry: {_decode.text(value)[:80]!r}"
    return QuarantinedItem(raw, shown, at, where or "?", reason or "?")


async def quarantined(queue: Queue, limit: int = LIST_LIMIT) -> list[QuarantinedItem]:
    """Up to ``limit`` entries of ``queue``'s quarantine, newest first (undated ones last).

    The hash is read with HSCAN, so past ``limit`` entries which ones are
    returned is arbitrary (:attr:`QueueOverview.quarantined` has the count).
    Returns an empty list when the quarantine is empty, or when its key holds
    another Redis type (the queue's overview reports such a key).
    """
    items: list[QuarantinedItem] = []
    if limit < 1:
        return items
    redis: Any = queue.redis
    try:
        async with translate():
            async for field, value in redis.hscan_iter(queue.keys.quarantine, count=min(limit, 500)):
                items.append(parse_entry(field, value))
                if len(items) >= limit:
                    break
    except ResponseError as exc:  # WRONGTYPE: not a hash, so nothing aioresque quarantined
        if not _decode.wrong_type(exc):
            raise
        return []
    items.sort(key=lambda i: (i.at is None, -(i.at.timestamp() if i.at else 0.0), i.raw))
    return items


async def entry(queue: Queue, raw: bytes) -> QuarantinedItem | None:
    """The quarantine entry of ``raw`` in ``queue``, or None (also when the key holds another type)."""
    try:
        async with translate():
            value = await queue.redis.hget(queue.keys.quarantine, raw)  # type: ignore[misc,unused-ignore]  # redis-py's stub
    except ResponseError as exc:
        if not _decode.wrong_type(exc):
            raise
        return None
    return None if value is None else parse_entry(raw, value)


async def count(queue: Queue) -> int:
    """How many entries ``queue``'s quarantine holds (0 if its key holds another type)."""
    try:
        async with translate():
            return int(await queue.redis.hlen(queue.keys.quarantine))  # type: ignore[misc,unused-ignore]  # redis-py's stub
    except ResponseError as exc:
        if not _decode.wrong_type(exc):
            raise
        return 0


async def drop(queue: Queue, raws: Iterable[bytes]) -> int:
    """Remove these entries (by their raw bytes) from ``queue``'s quarantine.

    Only the quarantine entry goes; a job record still stored under the id
    (if any) is left for ``aioresque delete``.

    Returns:
        How many entries were removed.
    """
    fields = list(raws)
    if not fields:
        return 0
    try:
        async with translate():
            return int(await queue.redis.hdel(queue.keys.quarantine, *fields))  # type: ignore[misc,unused-ignore]  # redis-py's stub
    except ResponseError as exc:
        if not _decode.wrong_type(exc):
            raise
        return 0


async def clear(queue: Queue) -> int:
    """Empty ``queue``'s quarantine; returns how many entries it held."""
    total = await count(queue)
    async with translate():
        await queue.redis.delete(queue.keys.quarantine)
    return total
