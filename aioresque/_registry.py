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
from datetime import datetime
from typing import Any

from . import _scripts
from ._connect import Client, batch
from ._errors import translate
from ._keys import DEFAULT_PREFIX, worker_index, worker_record
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


def parse_record(raw: bytes | str, now_ms: float) -> WorkerInfo | None:
    """Build a :class:`WorkerInfo` from a stored registration; None if unreadable."""
    try:
        rec = json.loads(raw)
        lease_ms = float(rec.get("lease", 30000))
        last = float(rec["last_heartbeat"])
        started = ms_to_datetime(rec.get("started_at", last))
        beat = ms_to_datetime(last)
        assert started is not None and beat is not None
        # cjson writes an empty list as {}: anything not a list is "none".
        queues = rec.get("queues")
        in_flight = rec.get("in_flight")
        return WorkerInfo(
            id=str(rec["id"]),
            host=str(rec.get("host", "")),
            pid=int(rec.get("pid", 0)),
            queues=tuple(str(q) for q in queues) if isinstance(queues, list) else (),
            concurrency=int(rec.get("concurrency", 0)),
            started_at=started,
            last_heartbeat=beat,
            in_flight=tuple(str(j) for j in in_flight) if isinstance(in_flight, list) else (),
            stale=is_stale(last, now_ms, lease_ms),
            lease=lease_ms / 1000,
            paused=bool(rec.get("paused", False)),
        )
    except (ValueError, TypeError, KeyError, AttributeError, AssertionError, OverflowError):
        return None


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
        members: list[Any] = await redis.zrange(worker_index(prefix), 0, -1)
        ids = [_text(i) for i in members]
        now_ms = await _redis_now(redis)
        # One slot ({workers}), so one MGET works on a cluster too.
        records: list[Any] = await redis.mget([worker_record(prefix, i) for i in ids]) if ids else []
    workers = []
    for raw in records:
        if raw is None:
            continue
        info = parse_record(raw, now_ms)
        if info is not None:
            workers.append(info)
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
        removed = int(await redis.zremrangebyscore(index, "-inf", now_ms))
        ids: list[Any] = await redis.zrange(index, 0, -1)
        if not ids:
            return removed
        pipe = batch(redis)
        for worker_id in ids:
            pipe.exists(worker_record(prefix, _text(worker_id)))
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


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
