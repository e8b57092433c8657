"""Loading and running the Lua scripts in ``aioresque/lua``.

Each script is read from the package once, with ``-- @include NAME`` lines
replaced by the named fragment (in place, each fragment once per script, so a
fragment may include the fragments it uses), and run with EVALSHA, falling
back to EVAL when the server answers NOSCRIPT (after a restart or SCRIPT FLUSH). The
typed wrappers for each script live with the code that owns the state:
:mod:`aioresque._queue` and :mod:`aioresque._worker` call :func:`run`.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from redis.exceptions import NoScriptError, ResponseError

from ._connect import batch, is_cluster

_INCLUDE = "-- @include "


@dataclass(frozen=True, slots=True)
class Script:
    """One Lua script's source and SHA1 digest."""

    name: str
    source: str
    sha: str


def _read(name: str) -> str:
    return (resources.files("aioresque") / "lua" / name).read_text(encoding="utf-8")


@cache
def load(name: str) -> Script:
    """Return the script ``name`` (e.g. ``"claim"``), includes expanded."""
    lines: list[str] = []
    _expand(f"{name}.lua", lines, set())
    source = "\n".join(lines) + "\n"
    return Script(name, source, hashlib.sha1(source.encode()).hexdigest())


def _expand(file: str, lines: list[str], seen: set[str]) -> None:
    """Append ``file``'s lines to ``lines``, each fragment it includes expanded in place, once per script."""
    for line in _read(file).splitlines():
        if line.startswith(_INCLUDE):
            fragment = line[len(_INCLUDE) :].strip()
            if fragment not in seen:
                seen.add(fragment)
                _expand(fragment, lines, seen)
        else:
            lines.append(line)


async def run(redis: Any, name: str, keys: Sequence[str | bytes], args: Sequence[Any]) -> Any:
    """Run script ``name`` on ``redis`` (a client or a pipeline-free connection).

    Args:
        redis: a ``redis.asyncio`` client.
        name: the script's file name without ``.lua``.
        keys: the KEYS, every key the script touches (str, or bytes already encoded).
        args: the ARGV.

    Returns:
        The script's reply, as redis-py decodes it.
    """
    script = load(name)
    try:
        return await redis.evalsha(script.sha, len(keys), *keys, *args)
    except NoScriptError:
        return await redis.eval(script.source, len(keys), *keys, *args)


async def run_many(redis: Any, calls: Sequence[tuple[str, Sequence[str | bytes], Sequence[Any]]]) -> list[Any]:
    """Run several scripts in one pipelined round trip.

    Calls that hit NOSCRIPT (the server lost its script cache) did not run and
    are run again with EVAL, so the outcome is the same as calling :func:`run`
    for each.

    Returns:
        The replies, in the order of ``calls``. A call that failed on the
        server is returned as its exception instance.
    """
    if len(calls) == 1:
        return [await _run_or_error(redis, *calls[0])]
    if is_cluster(redis):
        # Cluster pipelines refuse EVALSHA: run the calls side by side instead
        # (each goes to its own slot's node in parallel).
        return list(await asyncio.gather(*(_run_or_error(redis, *call) for call in calls)))
    pipe = batch(redis)
    for name, keys, args in calls:
        pipe.evalsha(load(name).sha, len(keys), *keys, *args)
    replies: list[Any] = await pipe.execute(raise_on_error=False)
    for i, reply in enumerate(replies):
        if isinstance(reply, NoScriptError):
            name, keys, args = calls[i]
            replies[i] = await redis.eval(load(name).source, len(keys), *keys, *args)
    return replies


async def _run_or_error(redis: Any, name: str, keys: Sequence[str | bytes], args: Sequence[Any]) -> Any:
    # As in a pipeline with raise_on_error=False: a script error is returned,
    # a connection error is raised.
    try:
        return await run(redis, name, keys, args)
    except ResponseError as exc:
        return exc
