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

from redis.exceptions import NoPermissionError, ResponseError

from ._connect import is_cluster
from ._decode import text
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

    ``INFO`` is in ACL's ``@dangerous`` category, so a user with the usual
    ``+@all -@dangerous`` rule may not run it: the version is then read from
    ``HELLO`` (category ``@connection``, Redis 6.0+), which one node answers.

    Args:
        redis: a ``redis.asyncio`` client (``Redis`` or ``RedisCluster``).
        minimum: the oldest version accepted.

    Returns:
        The oldest node's :class:`ServerInfo`.

    Raises:
        ConfigurationError: a server is older than ``minimum``.
        ConnectionLost: Redis cannot be reached.
        PermissionDenied: the ACL allows neither ``INFO`` nor ``HELLO``.
    """
    async with translate():
        try:
            reply = await redis.info("server")
        except NoPermissionError:
            reply = await _hello(redis)
    infos = _per_node(reply)
    servers = [server_info(info) for info in infos]
    oldest = min(servers, key=lambda s: s.redis_version)
    require_supported(oldest, minimum)
    return oldest


async def _hello(redis: Any) -> Mapping[str, Any]:
    # HELLO names no key: a Cluster client is told to ask every node it
    # knows (the INFO call that was refused loaded the topology).
    if is_cluster(redis):
        nodes = redis.get_nodes()
        replies = await redis.execute_command("HELLO", target_nodes=nodes)
        if len(nodes) == 1:
            replies = {nodes[0].name: replies}
        return {str(node): _hello_info(one) for node, one in replies.items()}
    return _hello_info(await redis.execute_command("HELLO"))


def _hello_info(reply: Any) -> dict[str, Any]:
    # HELLO answers "server", "redis"|"valkey", "version", "7.0.15", ... (a
    # flat list in RESP2, a map in RESP3), as the INFO fields the rest reads.
    if isinstance(reply, list | tuple):
        reply = dict(zip(reply[::2], reply[1::2], strict=False))
    fields = {text(k): v for k, v in reply.items()} if isinstance(reply, Mapping) else {}
    product = text(fields.get("server", b"redis"))
    version = text(fields.get("version", b""))
    if product == "valkey":  # every Valkey release speaks Redis 7.2.4
        return {"redis_version": "7.2.4", "valkey_version": version}
    return {"redis_version": version} if version else {}


NO_EVICTION = "noeviction"
"""The ``maxmemory-policy`` aioresque needs: a full Redis refuses writes instead of deleting keys."""


async def eviction_policy(redis: Any) -> str | None:
    """The server's ``maxmemory-policy`` (the first node's that is not ``noeviction``, on a Cluster).

    Args:
        redis: a ``redis.asyncio`` client (``Redis`` or ``RedisCluster``).

    Returns:
        The policy, or None when it cannot be read: ``CONFIG`` is in ACL's
        ``@dangerous`` category, and managed services often rename it.

    Raises:
        ConnectionLost: Redis cannot be reached.
    """
    async with translate():
        try:
            reply = await redis.config_get("maxmemory-policy")
        except (NoPermissionError, ResponseError):  # forbidden by an ACL, or renamed/disabled by the host
            return None
    nodes = [reply] if "maxmemory-policy" in reply else [v for v in reply.values() if isinstance(v, Mapping)]
    policies = [text(node["maxmemory-policy"]) for node in nodes if "maxmemory-policy" in node]
    if not policies:
        return None
    return next((p for p in policies if p != NO_EVICTION), policies[0])


def eviction_warning(policy: str | None) -> str | None:
    """What an operator must be told about ``policy`` (from :func:`eviction_policy`), or None if nothing.

    Returns:
        One line: what the policy means for queued jobs, or that it could not
        be checked; None for ``noeviction``.
    """
    if policy == NO_EVICTION:
        return None
    if policy is None:
        return (
            "maxmemory-policy could not be checked (CONFIG GET is forbidden by the ACL or disabled): "
            f"make sure it is {NO_EVICTION}, or Redis may delete queued jobs when memory runs out"
        )
    ttl_only = policy.startswith("volatile")
    which = "keys that have a TTL (finished jobs' records, unique locks)" if ttl_only else "any key"
    return (
        f"maxmemory-policy is {policy}: when memory runs out Redis deletes {which}, "
        f"so queued and running jobs can vanish without a trace; set maxmemory-policy {NO_EVICTION} "
        "(docs/production.md)"
    )


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
