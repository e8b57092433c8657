"""Listing Python workers in Ruby Resque's worker registry (``resque_register=True``).

Resque-web's Workers tab and ``Resque.workers`` read ``<ns>:workers`` (a SET
of ids ``host:pid:queue,queue``), ``<ns>:worker:<id>:started`` and the
heartbeat hash ``<ns>:workers:heartbeat``. A worker with ``resque_register``
adds itself there under the Resque queues it imports, renews its heartbeat
every :data:`HEARTBEAT_EVERY` seconds (Resque's own workers beat every 60 s
and are pruned after 300 s without one) and removes itself when it stops.

What Ruby's ``prune_dead_workers`` does to Python workers:

* A **dead** Python worker (SIGKILL, lost host) stops beating; after
  ``Resque.prune_interval`` (300 s by default) a Ruby worker prunes its
  registration. Nothing is failed: a Python worker never writes
  ``<ns>:worker:<id>`` (the "job being processed" Ruby would fail), and the
  jobs it held come back through aioresque's leases, not through Resque.
* A **live** Python worker is left alone by heartbeat, and by Ruby workers
  serving other queues. A Ruby worker on the same host serving exactly the
  same queues also prunes by process id (its ``ps`` finds only Ruby
  workers), removing the live Python worker's registration; the next
  heartbeat puts it back, so it is missing from resque-web for at most
  :data:`HEARTBEAT_EVERY` seconds. Its jobs are never affected.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio
from redis.exceptions import RedisError

from ._connect import Client, batch
from ._keys import ResqueKeys

if TYPE_CHECKING:
    from ._worker import Worker

log = logging.getLogger("aioresque.worker")

HEARTBEAT_EVERY = 30.0
"""Seconds between two heartbeats in Resque's registry."""


def resque_worker_id(queues: Sequence[str]) -> str:
    """This process's id in Resque's registry: ``host:pid:queue,queue`` (Resque's ``Worker#to_s``)."""
    return ":".join((socket.gethostname(), str(os.getpid()), ",".join(queues)))


async def _server_time(redis: Client) -> float:
    seconds, micros = await redis.time()  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
    return float(seconds) + float(micros) / 1e6


async def beat(redis: Client, keys: ResqueKeys, worker_id: str, *, first: bool = False) -> None:
    """Register (again, if a Ruby worker pruned it) and record a heartbeat on Redis's clock."""
    now = await _server_time(redis)
    pipe = batch(redis)
    pipe.sadd(keys.workers, worker_id)
    pipe.hset(keys.heartbeats, worker_id, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)))
    if first:
        pipe.set(keys.worker_started(worker_id), time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(now)))
    await pipe.execute()


async def unregister(redis: Client, keys: ResqueKeys, worker_id: str) -> None:
    """Remove a worker from Resque's registry, as Resque's ``unregister_worker`` does."""
    pipe = batch(redis)
    pipe.srem(keys.workers, worker_id)
    pipe.delete(keys.worker(worker_id))
    pipe.delete(keys.worker_started(worker_id))
    pipe.hdel(keys.heartbeats, worker_id)
    await pipe.execute()


async def run_resque_registry(worker: Worker, keys: ResqueKeys, queues: Sequence[str]) -> None:
    """Stay listed in Resque's registry while the worker runs; leave it when the worker stops."""
    redis = worker._base.redis
    worker_id = resque_worker_id(queues)
    try:
        await worker._redis_call(lambda: beat(redis, keys, worker_id, first=True))
        while True:
            await anyio.sleep(HEARTBEAT_EVERY)
            await worker._redis_call(lambda: beat(redis, keys, worker_id))
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(2):
            try:
                await unregister(redis, keys, worker_id)
            except (RedisError, OSError) as exc:
                log.warning("could not leave Resque's worker registry (pruned after 5 minutes): %s", exc)
