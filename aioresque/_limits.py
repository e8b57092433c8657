"""Concurrency and rate limits on handlers, enforced in Redis when jobs are claimed.

``@job(concurrency=2)`` lets at most two jobs of the handler run at once
across every worker of a queue; ``@job(rate=RateLimit(10, per=1.0))`` (or
``rate=(10, 1.0)``) lets at most ten start in any one-second window. With
``limit_key=`` both apply per key instead (per customer, per API token)::

    @aioresque.job(concurrency=2, limit_key=lambda customer_id, **_: customer_id)
    async def sync_customer(customer_id: str, full: bool = False) -> None: ...

How it works (``lua/_limit.lua``): the claim script admits a job of a
limited handler only while its *limit group* (the handler's name, plus
``|<key>``) has a free slot and room in its rate window; otherwise the job is
*parked* in the queue's ``waiting`` set, off the queue, so jobs of other
handlers behind it are claimed as usual and nothing re-claims it in a loop.
A parked job goes back to the head of the queue when a job of its group
leaves the active set (completes, fails, is retried, handed back, cancelled,
or recovered after its worker died) or, for a rate limit, when the window
has room again (a timer in the ``reopen`` set that the claim path and the
idle worker's wake-up time honour).

Where the numbers come from: each worker passes the limits of the handlers
it serves to the claim script. During a rolling deploy that changes a limit,
each worker admits by its own number against the shared count, so the
effective limit is the larger of the two until every worker runs the new
code; a worker that does not know a limit at all does not count the jobs it
claims.

Where the key comes from: the key function runs where the job is enqueued,
in the producer, because the claim happens inside a Lua script that cannot
call Python. Typed enqueues (``sync_customer.enqueue(queue, ...)``,
``.call()``, ``.options()``) compute it from the handler; producers that
enqueue by name pass it as ``_limit_key=`` (``Call(limit_key=...)``). A job
of a keyed handler enqueued without a key counts under the handler's shared
key. Trade-off: changing a key function changes the keys of jobs enqueued
from then on, not of jobs already waiting.

Limits are per queue (the state lives under the queue's hash tag, so it
works on Redis Cluster): a handler served from two queues has one budget in
each.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _decode
from ._connect import batch
from ._errors import ConfigurationError, translate
from ._serializer import loads_json

if TYPE_CHECKING:
    from ._handler import JobFunction
    from ._queue import Queue

LimitKey = Callable[..., Any]
"""Called with a job's own arguments; returns the key (a ``str`` or ``int``) or None."""

MAX_KEY_LENGTH = 256
"""Longest limit key accepted (characters)."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``n`` job starts in any ``per``-second window (a sliding window).

    Args:
        n: starts allowed per window (at least 1).
        per: the window's length in seconds (at least 0.001).
    """

    n: int
    per: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.n, int) or isinstance(self.n, bool) or self.n < 1:
            raise ConfigurationError(f"a rate limit needs n >= 1 starts, got {self.n!r}")
        if not isinstance(self.per, int | float) or not math.isfinite(self.per) or self.per < 0.001:
            raise ConfigurationError(f"a rate limit's period must be at least 0.001 s, got {self.per!r}")

    @property
    def period_ms(self) -> int:
        """The window in milliseconds, as the claim script reads it."""
        return max(1, round(self.per * 1000))


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits of one handler (see the module docstring)."""

    concurrency: int | None = None
    """Most jobs of one limit group running at once, or None."""
    rate: RateLimit | None = None
    """Most starts of one limit group per window, or None."""
    key: LimitKey | None = None
    """Computes a job's limit key from its arguments, or None for one group per handler."""

    @classmethod
    def of(
        cls,
        concurrency: int | None = None,
        rate: RateLimit | tuple[int, float] | None = None,
        limit_key: LimitKey | None = None,
    ) -> Limits | None:
        """Check ``@job``'s limit options; None when the handler has no limit.

        Raises:
            ConfigurationError: a non-positive concurrency, a bad rate, or a
                ``limit_key`` without a limit to apply it to.
        """
        if concurrency is not None and (
            not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1
        ):
            raise ConfigurationError(f"concurrency must be at least 1 (or None), got {concurrency!r}")
        if isinstance(rate, tuple):
            if len(rate) != 2:
                raise ConfigurationError(f"rate must be RateLimit(n, per) or (n, per_seconds), got {rate!r}")
            rate = RateLimit(rate[0], rate[1])
        elif rate is not None and not isinstance(rate, RateLimit):
            raise ConfigurationError(f"rate must be RateLimit(n, per) or (n, per_seconds), got {rate!r}")
        if limit_key is not None and not callable(limit_key):
            raise ConfigurationError(f"limit_key must be a function of the job's arguments, got {limit_key!r}")
        if concurrency is None and rate is None:
            if limit_key is not None:
                raise ConfigurationError("limit_key= needs concurrency= or rate=")
            return None
        return cls(concurrency, rate, limit_key)

    def key_for(self, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str | None:
        """The limit key of a job with these arguments (runs ``key``), or None.

        Raises:
            ConfigurationError: the key function failed or returned something
                other than a str, int or None (the job is not enqueued).
        """
        if self.key is None:
            return None
        try:
            value = self.key(*args, **kwargs)
        except Exception as exc:
            raise ConfigurationError(f"job {name!r}: limit_key failed on the job's arguments: {exc!r}") from exc
        return check_key(name, value)


def check_key(name: str, value: object) -> str | None:
    """Validate a limit key (from a key function or ``_limit_key=``): a str, an int, or None.

    Raises:
        ConfigurationError: another type, an empty or too long key, or a NUL character.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigurationError(f"job {name!r}: a limit key must be a str or int, got {type(value).__name__}")
    text = str(value)
    if not text or len(text) > MAX_KEY_LENGTH or "\0" in text:
        raise ConfigurationError(f"job {name!r}: invalid limit key {text!r} (1-{MAX_KEY_LENGTH} chars, no NUL)")
    return text


def limit_args(handlers: Iterable[JobFunction[Any, Any]]) -> list[str | int]:
    """The claim scripts' ARGV tail for these handlers: count, then name, concurrency, rate n, period (ms).

    Handlers without limits are left out, so a worker with none sends one
    ``0`` and the claim path does no limit work at all.
    """
    out: list[str | int] = []
    count = 0
    for handler in handlers:
        lim = handler.limits
        if lim is None:
            continue
        count += 1
        rate = lim.rate
        out += [
            handler.name,
            "" if lim.concurrency is None else lim.concurrency,
            "" if rate is None else rate.n,
            "" if rate is None else rate.period_ms,
        ]
    return [count, *out]


@dataclass(frozen=True, slots=True)
class LimitGroup:
    """The live state of one limit group of a queue (``Queue.limit_groups()``)."""

    group: str
    """The handler's name, plus ``|<key>`` for a keyed limit."""
    running: int
    """Jobs holding a concurrency slot."""
    recent_starts: int
    """Starts within the group's rate window (0 without a rate limit)."""
    parked: int
    """Jobs waiting for room in this group."""
    unreadable: str | None = None
    """Set when the group's record could not be read (why); its counts are then 0."""


async def limit_groups(queue: Queue) -> list[LimitGroup]:
    """Read every limit group of ``queue`` with state or parked jobs, sorted by name.

    Raises:
        ConnectionLost: Redis cannot be reached.
    """
    k = queue.keys
    async with translate():
        seconds, micros = await queue.redis.time()
        now = int(seconds) * 1000 + int(micros) // 1000
        pipe = batch(queue.redis)
        pipe.hgetall(k.limits)
        pipe.zrange(k.waiting, 0, -1)
        replies = await pipe.execute(raise_on_error=False)
        _decode.raise_unless_wrong_type(replies)
    # A key of another Redis type reads as empty (the queue's overview names it).
    records: dict[Any, Any] = replies[0] if isinstance(replies[0], dict) else {}
    parked_ids: list[Any] = replies[1] if isinstance(replies[1], list) else []
    parked: dict[str, int] = {}
    for member in parked_ids:
        name = _decode.text(member).split("\0", 1)[0]
        parked[name] = parked.get(name, 0) + 1
    out: dict[str, LimitGroup] = {}
    for raw_group, raw in records.items():
        group = _decode.text(raw_group)
        try:
            rec = loads_json(raw)
        except Exception as exc:  # noqa: BLE001 - RecursionError, ValueError: shown as unreadable
            out[group] = LimitGroup(group, 0, 0, parked.get(group, 0), f"not JSON ({type(exc).__name__})")
            continue
        if not isinstance(rec, dict):
            out[group] = LimitGroup(group, 0, 0, parked.get(group, 0), "not a JSON object")
            continue
        holders = rec.get("h")
        times = rec.get("s")
        period = _decode.number(rec.get("p"), 0.0)
        recent = 0
        if isinstance(times, list) and period is not None:
            recent = sum(1 for t in times if (ms := _decode.number(t)) is not None and ms > now - period)
        running = len(holders) if isinstance(holders, list) else 0
        out[group] = LimitGroup(group, running, recent, parked.get(group, 0))
    for group, count in parked.items():
        if group not in out:
            out[group] = LimitGroup(group, 0, 0, count)
    return [out[g] for g in sorted(out)]
