"""Enqueue jobs for Ruby Resque workers from Python.

:class:`Resque` writes exactly what Ruby's ``Resque.enqueue_to(queue, klass,
*args)`` writes: ``SADD <ns>:queues <queue>`` and ``RPUSH <ns>:queue:<queue>``
of the compact JSON ``{"class":"<klass>","args":[...]}`` (non-ASCII left
unescaped, as Ruby's JSON writes it), so a stock ``Resque::Worker`` runs it::

    from aioresque.resque import Resque

    async with Resque.from_url("redis://localhost:6379/0") as resque:
        await resque.enqueue_to("mailers", "SendEmail", 42, "welcome")

What it does not do: Resque's ``before_enqueue``/``after_enqueue`` hooks are
Ruby code in the job class, so they are not run; a hook that would have
vetoed the job does not veto it here. Floats are written as Python writes them
(``1e+100`` where Ruby writes ``1.0e+100``); Resque reads both.

To run Resque's jobs in Python workers instead, see ``Worker(resque_queues=...)``
and ``docs/migrating/from-resque.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

from ._connect import Client, batch, close_client, connect
from ._decode import text
from ._errors import SerializationError, translate
from ._keys import ResqueKeys
from ._names import check_name
from ._resque_import import DEFAULT_NAMESPACE

__all__ = ["Resque", "encode_job"]


def encode_job(klass: str, args: Sequence[Any]) -> bytes:
    """The bytes ``Resque.enqueue`` stores for ``klass`` with ``args``: compact JSON, non-ASCII unescaped.

    Raises:
        SerializationError: an argument is not JSON (only ``None``, ``bool``,
            ``int``, finite ``float``, ``str``, lists/tuples and dicts with
            string keys are).
    """
    if not isinstance(klass, str) or not klass:
        raise SerializationError(f"the Resque class must be a non-empty str, got {klass!r}")
    try:
        body = json.dumps(
            {"class": klass, "args": list(args)}, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        return body.encode()
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError (lone surrogates) is a ValueError
        raise SerializationError(f"Resque job {klass!r}: arguments must be JSON values: {exc}") from exc


class Resque:
    """A producer for Ruby Resque's queues, on one Redis namespace.

    Args:
        redis: a ``redis.asyncio`` client on the Redis Ruby's Resque uses.
        namespace: Resque's namespace (``Resque.redis.namespace``, default ``"resque"``).
    """

    def __init__(self, redis: Client, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.redis = redis
        self.keys = ResqueKeys(check_name(namespace, "prefix"))
        self._owns_client = False

    @classmethod
    def from_url(cls, url: str, namespace: str = DEFAULT_NAMESPACE, **options: Any) -> Resque:
        """Create a producer with its own connection pool to ``url`` (closed by :meth:`close` or ``async with``).

        Args:
            url: a Redis URL (the forms :meth:`aioresque.Queue.from_url` takes).
            namespace: Resque's namespace.
            options: passed on to the redis-py client.

        Raises:
            ConfigurationError: the URL or the namespace is invalid.
        """
        resque = cls(connect(url, **options), namespace)
        resque._owns_client = True
        return resque

    def __repr__(self) -> str:
        return f"<Resque namespace={self.keys.namespace!r}>"

    async def __aenter__(self) -> Resque:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the client if :meth:`from_url` created it."""
        if self._owns_client:
            self._owns_client = False
            await close_client(self.redis)

    async def enqueue_to(self, queue: str, klass: str, *args: Any) -> None:
        """Enqueue one job for Ruby workers, as ``Resque.enqueue_to(queue, klass, *args)`` does.

        ``before_enqueue`` hooks are not run (they are Ruby code).

        Args:
            queue: the Resque queue name.
            klass: the Ruby job class name, e.g. ``"SendEmail"`` or ``"Mailers::Digest"``.
            args: JSON-serializable arguments, passed to ``klass.perform``.

        Raises:
            SerializationError: an argument is not JSON.
            ConfigurationError: the queue name is invalid.
            ConnectionLost: Redis cannot be reached.
        """
        await self.enqueue_many_to(queue, klass, [args])

    async def enqueue_many_to(self, queue: str, klass: str, args_list: Iterable[Sequence[Any]]) -> int:
        """Enqueue one job per argument list, in order, in one round trip.

        Args:
            queue: the Resque queue name.
            klass: the Ruby job class name.
            args_list: one sequence of arguments per job.

        Returns:
            How many jobs were enqueued.

        Raises:
            SerializationError: an argument is not JSON (then nothing is enqueued).
            ConfigurationError: the queue name is invalid.
            ConnectionLost: Redis cannot be reached.
        """
        check_name(queue)
        entries = [encode_job(klass, args) for args in args_list]
        if not entries:
            return 0
        async with translate():
            pipe = batch(self.redis)
            pipe.sadd(self.keys.queues, queue)
            pipe.rpush(self.keys.queue(queue), *entries)
            await pipe.execute()
        return len(entries)

    async def size(self, queue: str) -> int:
        """How many jobs wait in a Resque queue (``Resque.size(queue)``).

        Raises:
            ConnectionLost: Redis cannot be reached.
        """
        async with translate():
            return int(await self.redis.llen(self.keys.queue(check_name(queue))))  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T

    async def queues(self) -> list[str]:
        """Resque's queue names, sorted (``Resque.queues``).

        Raises:
            ConnectionLost: Redis cannot be reached.
        """
        async with translate():
            names = await self.redis.smembers(self.keys.queues)  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
        return sorted(text(n) for n in names)
