"""Running Ruby Resque's jobs in a Python worker: the importer behind ``resque_queues``.

A worker started with ``resque_queues=["mailers"]`` serves the aioresque queue
``mailers`` and imports into it the jobs Ruby's ``Resque.enqueue`` pushed to
``<ns>:queue:mailers``. Each entry moves in one ``resque_import.lua`` call:
popped from Resque's list, recorded as an aioresque job (Resque's JSON bytes
kept as the payload, untouched) and queued, so a crash between the two can
neither lose nor duplicate it. From then on the job has a lease like any other.

How the worker notices new Resque entries without busy-waiting: Ruby's
enqueue does not touch aioresque's wake-up marker, so the importer calls the
script once a second per Resque queue while idle (the script's idle case is
one ``LLEN`` and no write), and at once whenever a claim found the aioresque
queue dry. An import that moves jobs touches the marker, which wakes the
claim loop's blocking wait at once. An idle worker therefore sends one extra
command a second per Resque queue, and picks a Ruby-enqueued job up within
about :data:`POLL_INTERVAL`.

Fairness with Ruby workers on the same Resque queue: the importer moves
entries only while the aioresque queue holds fewer than
``AHEAD_PER_SLOT * concurrency`` waiting jobs, so the rest stay in Resque's
list for whoever takes them first.

Resque's keys carry no hash tag, so they sit in other cluster slots than the
aioresque queue: one script cannot move an entry between them on a Redis
Cluster, and the worker refuses ``resque_queues`` there.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from redis.exceptions import ResponseError

from . import _scripts
from ._connect import Client, is_cluster
from ._errors import ConfigurationError
from ._keys import QueueKeys, ResqueKeys, queue_registry, resque_imports
from ._names import check_name
from ._resque_registry import run_resque_registry
from ._serializer import loads_json

if TYPE_CHECKING:
    from ._worker import Worker

log = logging.getLogger("aioresque.worker")

POLL_INTERVAL = 1.0
"""Longest time (seconds) between two looks at an idle Resque list."""
AHEAD_PER_SLOT = 2
"""The importer keeps at most this many jobs per worker slot waiting in aioresque."""
DEFAULT_NAMESPACE = "resque"
"""Resque's own default namespace (``Resque.redis.namespace``)."""


def resque_body(payload: bytes) -> tuple[tuple[Any, ...], dict[str, Any], dict[str, str]]:
    """Decode a Resque entry (``{"class": ..., "args": [...]}``) into ``(args, kwargs, meta)``.

    Resque-origin payloads are always JSON, whatever the queue's serializer.

    Raises:
        ValueError: the entry is not a JSON object with an ``args`` array.
    """
    body = loads_json(payload)
    if not isinstance(body, dict):
        raise ValueError("the Resque entry is not a JSON object")
    args = body.get("args")
    if args is None:
        args = []
    if not isinstance(args, list):
        raise ValueError("the Resque entry's args are not an array")
    return tuple(args), {}, {}


def check_resque_config(queues: Sequence[str], namespace: str, client: Client) -> tuple[str, ...]:
    """Validate a worker's ``resque_queues`` and ``resque_namespace``; returns the queue names.

    Raises:
        ConfigurationError: a name breaks the name rule, or ``client`` is a Redis Cluster.
    """
    names = tuple(check_name(q) for q in queues)
    check_name(namespace, "prefix")
    if names and is_cluster(client):
        raise ConfigurationError(
            "resque_queues needs a single Redis node (or Sentinel): Resque's keys have no hash tag, so on a "
            "Redis Cluster they sit in other slots than the aioresque queue and no script can move a job "
            "between them atomically"
        )
    return names


@dataclass(frozen=True, slots=True)
class ImportPass:
    """What one import call did."""

    imported: int
    dead: int
    left: int
    """Entries still in the Resque list."""
    room: int
    """How many more jobs the aioresque queue may take before the import-ahead bound."""


class ResqueImporter:
    """Moves Resque entries into a worker's aioresque queues (one per Resque queue of the same name)."""

    def __init__(
        self, namespace: str, queues: Sequence[str], prefix: str, concurrency: int, *, register: bool = False
    ) -> None:
        self.keys = ResqueKeys(namespace)
        self.register_worker = register
        """List the worker in Resque's worker registry (:mod:`aioresque._resque_registry`)."""
        self.queues = tuple(queues)
        self.prefix = prefix
        self.ahead = max(1, AHEAD_PER_SLOT * concurrency)
        self._served = frozenset(self.queues)
        self._poke = anyio.Event()
        self._failing: set[str] = set()  # queues whose import fails (garbage in a key), logged once

    def __repr__(self) -> str:
        return f"<ResqueImporter {self.keys.namespace} queues={','.join(self.queues)} ahead={self.ahead}>"

    def outcome_keys(self, queue_name: str) -> tuple[str, ...]:
        """The Resque keys a script recording outcomes on ``queue_name`` reports to (none if not imported)."""
        return self.keys.outcome_keys() if queue_name in self._served else ()

    def dry(self, queue_name: str) -> None:
        """A claim found ``queue_name`` with fewer jobs than it asked for: import now, not at the next poll."""
        if queue_name in self._served:
            self._poke.set()

    def import_call(self, queue_name: str, worker_id: str, room: int) -> tuple[list[str], list[Any]]:
        """``resque_import.lua``'s KEYS and ARGV for one queue, with ``room`` fresh job ids."""
        q = QueueKeys(self.prefix, queue_name)
        keys = [self.keys.queue(queue_name), q.queue, q.jobs, q.state, q.marker, q.stats, q.dead, q.errors]
        keys += [queue_registry(self.prefix), *self.keys.outcome_keys()]
        ids = [uuid.uuid4().hex for _ in range(room)]
        return keys, [queue_name, self.ahead, worker_id, *ids]

    async def import_once(self, redis: Client, queue_name: str, worker_id: str) -> ImportPass:
        """Run one import call on ``queue_name``.

        Raises:
            redis.exceptions.ResponseError: a key holds garbage (nothing was written).
        """
        keys, args = self.import_call(queue_name, worker_id, min(self.ahead, 500))
        imported, dead, left, room = await _scripts.run(redis, "resque_import", keys, args)
        return ImportPass(int(imported), int(dead), int(left), int(room))

    async def register(self, redis: Client) -> None:
        """Record which namespace each queue imports from, for fleet-wide recovery (``recover_queues``)."""
        await redis.hset(resque_imports(self.prefix), mapping=dict.fromkeys(self.queues, self.keys.namespace))  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T

    async def _import(self, worker: Worker, name: str) -> ImportPass | None:
        """One import call through the worker's outage handling; None when a key holds garbage (logged once)."""
        try:
            done: ImportPass = await worker._redis_call(self.import_once, worker._base.redis, name, worker.id)
        except ResponseError as exc:
            if name not in self._failing:
                self._failing.add(name)
                log.error("cannot import Resque queue %s (retrying every second): %s", name, exc)
            return None
        if name in self._failing:
            self._failing.discard(name)
            log.warning("importing Resque queue %s works again", name)
        if done.dead:
            log.warning("Resque queue %s: %d entries could not be jobs; sent to the dead set", name, done.dead)
        return done

    async def pass_all(self, worker: Worker) -> tuple[int, bool]:
        """One import call per Resque queue; returns (jobs moved, whether to go again at once)."""
        moved, again = 0, False
        for name in self.queues:
            done = await self._import(worker, name)
            if done is None:
                continue
            moved += done.imported + done.dead
            again = again or (done.imported + done.dead > 0 and done.left > 0 and done.room > 0)
        return moved, again

    async def run(self, worker: Worker) -> None:
        """Import until the worker stops claiming (see the module docstring for the pacing)."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._loop, worker)
            if self.register_worker:
                tg.start_soon(run_resque_registry, worker, self.keys, self.queues)
            await worker._stopped.wait()
            tg.cancel_scope.cancel()

    async def _loop(self, worker: Worker) -> None:
        try:
            await worker._redis_call(self.register, worker._base.redis)
        except ResponseError as exc:  # garbage in the key: recovery passes will not report to Resque
            log.error("cannot record the Resque imports for fleet-wide recovery: %s", exc)
        if worker.burst:
            # A burst worker imports only when it has run out of work (burst_check):
            # a background import racing the "queues empty" decision could end
            # the burst with just-imported jobs left behind.
            return
        while not worker._stopping:
            _, again = await self.pass_all(worker)
            if again:
                continue
            with anyio.move_on_after(POLL_INTERVAL):
                await self._poke.wait()
            self._poke = anyio.Event()

    async def burst_check(self, worker: Worker) -> bool:
        """For a burst worker out of work: import a batch; True when it moved something.

        Nothing moved while Resque's list still has entries means the
        aioresque queue is full of jobs this worker cannot claim (a paused
        queue, say): the burst ends rather than spin.
        """
        moved = 0
        for name in self.queues:
            done = await self._import(worker, name)
            if done is not None:
                moved += done.imported + done.dead
        return moved > 0
