"""The worker registry: who is running, where, since when, holding which jobs.

Each worker keeps a JSON registration in an ordinary Redis string with a TTL
(:func:`aioresque._keys.worker_record`) and renews it every few seconds; an
index ZSET (:func:`aioresque._keys.worker_index`) scores every id by the time
its registration expires. A worker that vanishes without unregistering (SIGKILL,
OOM killer, host gone) stops renewing: its registration is **stale** once it
missed a lease length of heartbeats (its jobs' leases have expired by then
and recovery hands them to other workers), it expires on its own after
:data:`TTL_LEASES` lease lengths, and the first worker to beat (or
:func:`prune_workers`) afterwards removes the id from the index. Nothing here
uses CLIENT LIST, KEYS or SCAN.

Times are Redis's clock, so hosts with drifting clocks agree.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import ResponseError

from . import _decode, _scripts
from ._connect import Client, batch
from ._errors import translate
from ._keys import DEFAULT_PREFIX, worker_index, worker_record
from ._serializer import loads_json
from ._status import ms_to_datetime

TTL_LEASES = 3
"""A registration expires this many lease lengths after its last heartbeat."""
MIN_TTL = 10.0
"""Shortest registration TTL (seconds), whatever the lease."""
MAX_BEAT = 5.0
"""Longest pause between two registry heartbeats (seconds)."""


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One registered worker, as :func:`list_workers` reads it.

    Times are aware UTC datetimes on Redis's clock.
    """

    id: str
    """The worker's id, ``host:pid:random``."""
    host: str
    pid: int
    queues: tuple[str, ...]
    """The queues it claims from, in priority order."""
    concurrency: int
    started_at: datetime
    last_heartbeat: datetime
    in_flight: tuple[str, ...]
    """Ids of the jobs it held at its last heartbeat."""
    stale: bool
    """True when it missed a lease length of heartbeats: it is probably gone,
    and its jobs are (or are about to be) recovered by other workers."""
    lease: float = 30.0
    """Its lease length in seconds."""
    paused: bool = False
    """True while it does not claim new jobs (SIGUSR2)."""
    unreadable: str | None = None
    """Set when the registration could not be read: why, with its raw size.

    Only ``id`` (the id it is indexed under, escaped if not UTF-8) is then
    meaningful; the times are the epoch and every other field is empty.
    """


def beat_interval(lease: float) -> float:
    """Seconds between registry heartbeats for a worker with this lease."""
    return min(lease / 3, MAX_BEAT)


def registration_ttl(lease: float) -> float:
    """Seconds a registration lives without a heartbeat."""
    return max(lease * TTL_LEASES, MIN_TTL)


def is_stale(last_heartbeat_ms: float, now_ms: float, lease_ms: float) -> bool:
    """True when a worker has not beaten for longer than its lease."""
    return now_ms - last_heartbeat_ms > lease_ms


def record_for(
    worker_id: str,
    *,
    queues: Sequence[str],
    concurrency: int,
    lease: float,
    in_flight: Sequence[str],
    paused: bool,
) -> dict[str, Any]:
    """The registration a worker writes (times are added by Redis)."""
    host, _, rest = worker_id.partition(":")
    pid = rest.partition(":")[0]
    return {
        "id": worker_id,
        "host": host,
        "pid": int(pid) if pid.isdigit() else 0,
        "queues": list(queues),
        "concurrency": concurrency,
        "lease": int(lease * 1000),
        "in_flight": list(in_flight),
        "paused": paused,
    }


MAX_CONCURRENCY = 1_000_000
"""Largest concurrency a registration is believed to state."""
MAX_LEASE_MS = 366 * 24 * 3600 * 1000
"""Longest lease a registration is believed to state (a year, in ms)."""
_EPOCH = datetime.fromtimestamp(0, tz=UTC)


def parse_record(raw: bytes | str, now_ms: float) -> WorkerInfo | None:
    """Build a :class:`WorkerInfo` from a stored registration; None if unreadable."""
    info = read_record("", raw, now_ms)
    return None if info.unreadable is not None else info


def read_record(worker_id: str, raw: object, now_ms: float) -> WorkerInfo:
    """Build a :class:`WorkerInfo` from a stored registration; never raises.

    A registration that cannot be read (not JSON, nested too deep, a field of
    the wrong type or out of range) gives a :class:`WorkerInfo` marked
    :attr:`~WorkerInfo.unreadable`, with ``worker_id`` (the id it is indexed
    under) and empty fields.
    """
    try:
        rec = loads_json(raw)  # type: ignore[arg-type]  # anything else raises, and is caught
    except Exception as exc:  # noqa: BLE001 - RecursionError, ValueError, TypeError: all unreadable
        return _unreadable(worker_id, raw, f"registration is not JSON ({type(exc).__name__})")
    if not isinstance(rec, dict):
        return _unreadable(worker_id, raw, "registration is not a JSON object")
    lease_ms = _decode.number(rec.get("lease", 30000), 1.0, MAX_LEASE_MS)
    last = _decode.number(rec.get("last_heartbeat"), 0.0, float(_decode.MAX_MS))
    beat = ms_to_datetime(last)
    started = ms_to_datetime(rec.get("started_at", last))
    pid = _decode.integer(rec.get("pid", 0), 0)
    concurrency = _decode.integer(rec.get("concurrency", 0), 0, MAX_CONCURRENCY)
    # cjson writes an empty list as {}: anything not a list is "none".
    queues = rec.get("queues")
    in_flight = rec.get("in_flight")
    texts = [rec.get("id"), rec.get("host", "")]
    texts += queues if isinstance(queues, list) else []
    texts += in_flight if isinstance(in_flight, list) else []
    for name, value in (("lease", lease_ms), ("last_heartbeat", beat), ("started_at", started)):
        if value is None:
            return _unreadable(worker_id, raw, f"{name!r} is not a time or duration")
    for name, value in (("pid", pid), ("concurrency", concurrency)):
        if value is None:
            return _unreadable(worker_id, raw, f"{name!r} is not a count")
    if not all(isinstance(t, str) for t in texts):
        return _unreadable(worker_id, raw, "id, host, queues or in_flight hold something other than text")
    assert lease_ms is not None and last is not None and beat is not None and started is not None
    return WorkerInfo(
        id=str(rec["id"]),
        host=str(rec.get("host", "")),
        pid=pid or 0,
        queues=tuple(queues) if isinstance(queues, list) else (),
        concurrency=concurrency or 0,
        started_at=started,
        last_heartbeat=beat,
        in_flight=tuple(in_flight) if isinstance(in_flight, list) else (),
        stale=is_stale(last, now_ms, lease_ms),
        lease=lease_ms / 1000,
        paused=rec.get("paused") is True,
    )


def _unreadable(worker_id: str, raw: object, why: str) -> WorkerInfo:
    size = len(raw) if isinstance(raw, bytes | str) else 0
    return WorkerInfo(worker_id, "", 0, (), 0, _EPOCH, _EPOCH, (), False, unreadable=f"{why} ({size} bytes)")


async def register(
    redis: Client, prefix: str, record: dict[str, Any], started_at_ms: int | None, lease: float
) -> tuple[int, int]:
    """Write or renew a worker's registration; prunes expired ids on the way.

    Returns:
        ``(now, started_at)`` in milliseconds on Redis's clock.
    """
    worker_id = str(record["id"])
    ttl_ms = int(registration_ttl(lease) * 1000)
    reply = await _scripts.run(
        redis,
        "register",
        [worker_index(prefix), worker_record(prefix, worker_id)],
        [worker_id, json.dumps(record), "" if started_at_ms is None else started_at_ms, ttl_ms],
    )
    return int(reply[0]), int(reply[1])


async def unregister(redis: Client, prefix: str, worker_id: str) -> None:
    """Remove a worker's registration (graceful shutdown)."""
    # Two commands, no transaction (cluster clients): an index entry left
    # behind by a crash in between is pruned like any expired one.
    pipe = batch(redis)
    pipe.delete(worker_record(prefix, worker_id))
    pipe.zrem(worker_index(prefix), worker_id)
    await pipe.execute()


async def list_workers(redis: Client, *, prefix: str = DEFAULT_PREFIX) -> list[WorkerInfo]:
    """Every registered worker, sorted by id, stale ones included (flagged).

    Registrations that already expired are left out (and pruned by the next
    heartbeat or :func:`prune_workers`).

    Args:
        redis: a ``redis.asyncio`` client.
        prefix: the key namespace the workers use.

    Raises:
        ConnectionLost: Redis cannot be reached.
    """
    async with translate():
        try:
            members: list[Any] = await redis.zrange(worker_index(prefix), 0, -1)
        except ResponseError as exc:  # the index holds another type: no worker can be found
            if not _decode.wrong_type(exc):
                raise
            return []
        ids = [_decode.text(i) for i in members]
        now_ms = await _redis_now(redis)
        # One slot ({workers}), so one MGET works on a cluster too. A key of
        # another type reads as nil in MGET.
        records: list[Any] = await redis.mget([worker_record(prefix, i) for i in ids]) if ids else []
    workers = [read_record(i, raw, now_ms) for i, raw in zip(ids, records, strict=True) if raw is not None]
    return sorted(workers, key=lambda w: w.id)


async def prune_workers(redis: Client, *, prefix: str = DEFAULT_PREFIX) -> int:
    """Remove index entries whose registration expired or is gone.

    Live workers do this on every heartbeat; the CLI calls it too.

    Returns:
        How many ids were removed.

    Raises:
        ConnectionLost: Redis cannot be reached.
    """
    index = worker_index(prefix)
    async with translate():
        now_ms = await _redis_now(redis)
        try:
            removed = int(await redis.zremrangebyscore(index, "-inf", now_ms))
            ids: list[Any] = await redis.zrange(index, 0, -1)
        except ResponseError as exc:  # the index holds another type: nothing to prune
            if not _decode.wrong_type(exc):
                raise
            return 0
        if not ids:
            return removed
        pipe = batch(redis)
        for worker_id in ids:
            pipe.exists(worker_record(prefix, _decode.text(worker_id)))
        present = await pipe.execute()
        gone = [i for i, there in zip(ids, present, strict=True) if not there]
        if gone:
            removed += int(await redis.zrem(index, *gone))
    return removed


async def _redis_now(redis: Client) -> int:
    """Redis's clock in milliseconds (any node's, on a cluster)."""
    reply: Any = await redis.time()
    if isinstance(reply, dict):  # a cluster client answers per node
        reply = next(iter(reply.values()))
    seconds, micros = reply
    return int(seconds) * 1000 + int(micros) // 1000
