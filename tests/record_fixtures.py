"""Saving a queue's Redis contents to JSON and loading them back (format fixtures).

``tests/fixtures/format<N>_records.json`` holds every key of one queue as a
release that writes state record format N left them; tests load it under a
fresh prefix and drain it with the current worker. Keys are stored by their
role (``QueueKeys`` attribute: ``queue``, ``state``, ...), never by name, so a
fixture loads under any prefix. ``tests/fixtures/make_format1_records.py``
writes one.
"""

from __future__ import annotations

import json
from typing import Any

from aioresque._connect import Client
from aioresque._keys import QueueKeys

LISTS = ("queue",)
ZSETS = ("scheduled", "active", "done", "dead")
HASHES = ("jobs", "state", "results", "errors", "stats")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def dump_queue(redis: Client, keys: QueueKeys) -> dict[str, Any]:
    """Read a queue's lists, sorted sets and hashes, by role, as JSON-ready values."""
    out: dict[str, Any] = {}
    for role in LISTS:
        out[role] = [_text(v) for v in await redis.lrange(getattr(keys, role), 0, -1)]
    for role in ZSETS:
        pairs: list[Any] = await redis.zrange(getattr(keys, role), 0, -1, withscores=True)
        out[role] = [[_text(member), int(score)] for member, score in pairs]
    for role in HASHES:
        raw = await redis.hgetall(getattr(keys, role))
        out[role] = {_text(k): _text(v) for k, v in sorted(raw.items())}
    return out


def _latest(contents: dict[str, Any]) -> int:
    """The fixture's latest timestamp (ms): a score or a ``*_at`` field, due times included."""
    stamps: list[int] = [score for role in ZSETS for _, score in contents[role]]
    for raw in contents["state"].values():
        stamps += [v for k, v in json.loads(raw).items() if k.endswith("_at") and isinstance(v, int)]
    return max(stamps)


def _shift_record(raw: str, shift: int) -> str:
    record = json.loads(raw)
    for field, value in record.items():
        if field.endswith("_at") and isinstance(value, int):
            record[field] = value + shift
    return json.dumps(record, separators=(",", ":"))


async def load_queue(redis: Client, keys: QueueKeys, contents: dict[str, Any]) -> None:
    """Write what :func:`dump_queue` read into the keys of ``keys`` (which must be empty).

    Every timestamp (sorted-set scores, ``*_at`` fields of state records) moves
    by the same amount, so that the latest of them lies one second in the past:
    the records keep their order and spacing, retention does not expire them
    however old the fixture is, and delayed and retrying jobs are due. Nothing
    else is rewritten.
    """
    seconds, micros = await redis.time()
    shift = seconds * 1000 + micros // 1000 - 1000 - _latest(contents)
    contents = dict(contents)
    contents["state"] = {job: _shift_record(raw, shift) for job, raw in contents["state"].items()}
    for role in ZSETS:
        contents[role] = [[member, score + shift] for member, score in contents[role]]
    for role in LISTS:
        if contents[role]:
            await redis.rpush(getattr(keys, role), *contents[role])
    for role in ZSETS:
        if contents[role]:
            await redis.zadd(getattr(keys, role), {member: score for member, score in contents[role]})
    for role in HASHES:
        if contents[role]:
            await redis.hset(getattr(keys, role), mapping=contents[role])
