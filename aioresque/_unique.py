"""Unique jobs: at most one job per uniqueness key in a queue (the pure part).

``await queue.enqueue("sync_user", 42, _unique=True)`` takes a lock named by
the job's name and arguments; enqueuing the same job again while the lock is
held returns the job that holds it (same id) and adds nothing. A
:class:`Unique` value says how long the lock is held:

* ``until="finished"`` (the default): while the job waits and while it runs,
  until it completes, fails for good, dies, is cancelled or deleted;
* ``until="queued"``: only while it waits; once a worker starts it, the same
  job may be enqueued again (a "debounce" for jobs that read fresh state);
* ``until="ttl"``: for ``ttl`` seconds from the enqueue, whatever happens to
  the job ("at most once per period").

``ttl`` with the other modes caps the lock's life too, a safety net for a
job stuck in a paused queue.

The lock is a field of the queue's ``unique`` hash (one per queue, under the
queue's hash tag). ``enqueue.lua`` takes it and, before honouring an
existing holder, checks that the holder still qualifies (its state record
says it is still waiting, or not yet finished), so a lock can never outlive
its job by mistake; the scripts that finish, cancel and delete jobs release
it at once. Locks are per queue: the same key on two queues is two locks.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ._errors import ConfigurationError
from ._serializer import Serializer

UniqueUntil = Literal["finished", "queued", "ttl"]
"""How long a uniqueness lock holds (see :class:`Unique`)."""

_MODES: dict[str, str] = {"finished": "f", "queued": "q", "ttl": "t"}


@dataclass(frozen=True, slots=True)
class Unique:
    """How a job is kept unique: ``_unique=Unique(until="queued")`` or ``@job(unique=Unique())``.

    Attributes:
        key: the uniqueness key; None derives one from the job's name and
            arguments (keyword order does not matter).
        until: ``"finished"`` (default), ``"queued"`` or ``"ttl"``; see the
            module docs.
        ttl: seconds the lock lives at most; required for ``until="ttl"``.
    """

    key: str | None = None
    until: UniqueUntil = "finished"
    ttl: float | None = None

    def __post_init__(self) -> None:
        if self.until not in _MODES:
            raise ConfigurationError(f"Unique.until must be 'finished', 'queued' or 'ttl', not {self.until!r}")
        if self.ttl is not None and (not self.ttl > 0 or math.isinf(self.ttl)):
            raise ConfigurationError(f"Unique.ttl must be a positive number of seconds, got {self.ttl}")
        if self.until == "ttl" and self.ttl is None:
            raise ConfigurationError("Unique(until='ttl') needs ttl=seconds")
        if self.key is not None and (not self.key or len(self.key) > 512 or "|" in self.key):
            raise ConfigurationError(f"invalid uniqueness key {self.key!r}: 1-512 characters, no '|'")


def resolve(value: Unique | bool | str | None, default: Unique | None) -> Unique | None:
    """The :class:`Unique` an enqueue asks for: ``_unique=`` if given, else the handler's default.

    ``True`` means a derived key, a string an explicit key (both with the
    default's mode, or ``until="finished"``); ``False`` turns a handler's
    default off.
    """
    if value is None:
        return default
    if value is False:
        return None
    if value is True:
        return default if default is not None and default.key is None else Unique(None, *_mode(default))
    if isinstance(value, str):
        return Unique(value, *_mode(default))
    if isinstance(value, Unique):
        return value
    raise ConfigurationError(f"_unique must be True, a key string or a Unique, not {type(value).__name__}")


def _mode(default: Unique | None) -> tuple[UniqueUntil, float | None]:
    return (default.until, default.ttl) if default is not None else ("finished", None)


def lock_args(
    unique: Unique | None, serializer: Serializer, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> tuple[str, str, int]:
    """The enqueue script's uniqueness arguments: ``(key, mode letter, ttl ms)``; empty when not unique."""
    if unique is None:
        return "", "", 0
    key = unique.key if unique.key is not None else derive_key(serializer, name, args, kwargs)
    ttl_ms = 0 if unique.ttl is None else max(1, round(unique.ttl * 1000))
    return key, _MODES[unique.until], ttl_ms


def derive_key(serializer: Serializer, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    """A key from the job's name and arguments: ``name:<sha1 of the serialized arguments>``."""
    body = serializer.dumps({"args": list(args), "kwargs": dict(sorted(kwargs.items()))})
    return ":".join((name, hashlib.sha1(body).hexdigest()))
