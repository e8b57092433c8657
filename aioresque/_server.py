"""Which Redis servers aioresque can use, and the startup check that says so.

The scripts and commands need Redis 6.2 or newer (Valkey: any release, all
report a Redis version of at least 7.2). What needs what:

=================  =======  ==============================================
feature            needs    used by
=================  =======  ==============================================
BLMOVE             6.2      ``Job.result()`` waiting for the outcome
ZMSCORE            6.2      the worker's check for cancelled running jobs
ZADD LT            6.2      rate limits (when a limit group reopens)
BZPOPMIN, float    6.0      the worker's idle wait (sub-second timeouts)
Lua effects        5.0      scripts that read ``TIME`` and then write
=================  =======  ==============================================

So the minimum is the largest of these, :data:`MIN_SERVER`. An older server
would fail with "unknown command" deep in a claim or a ``result()`` call;
:func:`check_server` (run by every worker at startup, and by
``Queue.check_server()``) fails first, with a message naming both versions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._errors import ConfigurationError, translate

MIN_SERVER = (6, 2, 0)
"""The oldest Redis version aioresque works with."""

NEEDS: Mapping[str, tuple[int, int, int]] = {
    "BLMOVE": (6, 2, 0),
    "ZMSCORE": (6, 2, 0),
    "ZADD LT": (6, 2, 0),
    "BZPOPMIN with a fractional timeout": (6, 0, 0),
    "Lua scripts replicated by effects": (5, 0, 0),
}
"""Each server feature aioresque relies on, and the Redis version that brought it."""

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What a Redis server says about itself (``INFO server``).

    Attributes:
        product: ``"redis"`` or ``"valkey"``.
        version: the product's own version, e.g. ``"9.1.2"`` for Valkey 9.1.2.
        redis_version: the Redis version the server is compatible with (what
            aioresque compares with :data:`MIN_SERVER`; Valkey reports 7.2.4).
    """

    product: str
    version: str
    redis_version: tuple[int, int, int]

    def __str__(self) -> str:
        return f"{self.product.capitalize()} {self.version}"


def parse_version(text: str) -> tuple[int, int, int]:
    """Parse ``"7.0.15"`` (or ``"7.2"``, ``"255.255.255"``) into a tuple of three ints.

    Raises:
        ValueError: the text does not start with a version number.
    """
    match = _VERSION.match(text.strip())
    if match is None:
        raise ValueError(f"not a version number: {text!r}")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def server_info(info: Mapping[str, Any]) -> ServerInfo:
    """Read the product and versions from the fields of ``INFO server``.

    Raises:
        ConfigurationError: the reply carries no ``redis_version``.
    """
    raw = info.get("redis_version")
    if raw is None:
        raise ConfigurationError("the server's INFO reply has no redis_version: is this a Redis server?")
    redis_version = parse_version(str(raw))
    valkey = info.get("valkey_version") or (info.get("server_name") == "valkey" and raw)
    if valkey:
        return ServerInfo("valkey", str(valkey), redis_version)
    return ServerInfo("redis", str(raw), redis_version)


def require_supported(server: ServerInfo, minimum: tuple[int, int, int] = MIN_SERVER) -> None:
    """Raise unless ``server`` is at least ``minimum``.

    Raises:
        ConfigurationError: the server is too old; the message names its
            version, the minimum and the commands it lacks.
    """
    if server.redis_version >= minimum:
        return
    missing = [name for name, needed in NEEDS.items() if server.redis_version < needed]
    raise ConfigurationError(
        f"{server} is too old for aioresque: it needs Redis {_dotted(minimum)} or newer "
        f"(missing: {', '.join(missing) or 'see docs/upgrading.md'}); upgrade the server"
    )


async def check_server(redis: Any, minimum: tuple[int, int, int] = MIN_SERVER) -> ServerInfo:
    """Ask the server (every node of a Cluster) its version, and check it.

    Args:
        redis: a ``redis.asyncio`` client (``Redis`` or ``RedisCluster``).
        minimum: the oldest version accepted.

    Returns:
        The oldest node's :class:`ServerInfo`.

    Raises:
        ConfigurationError: a server is older than ``minimum``.
        ConnectionLost: Redis cannot be reached.
    """
    async with translate():
        reply = await redis.info("server")
    infos = _per_node(reply)
    servers = [server_info(info) for info in infos]
    oldest = min(servers, key=lambda s: s.redis_version)
    require_supported(oldest, minimum)
    return oldest


def _per_node(reply: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    # One node answers with its fields; a Cluster client with {node name: fields}.
    if "redis_version" in reply:
        return [reply]
    nodes = [value for value in reply.values() if isinstance(value, Mapping)]
    if not nodes:
        raise ConfigurationError("the server's INFO reply has no redis_version: is this a Redis server?")
    return nodes


def _dotted(version: tuple[int, int, int]) -> str:
    return ".".join(map(str, version[:2] if version[2] == 0 else version))
