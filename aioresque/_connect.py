"""Making a Redis client from a URL: one node, a Cluster, or Sentinel.

URL forms::

    redis://[[user]:password@]host:port[/db]          one node (rediss:// for TLS, unix:// too)
    redis+cluster://host:port[,host:port...]         Redis Cluster, any reachable nodes
    rediss+cluster://...                             the same over TLS
    redis+sentinel://host:port[,host:port...]/service_name[/db]
    rediss+sentinel://...                            the master over TLS

TLS settings go in the query string, as in redis-py's own URLs, for every
TLS form: ``rediss+cluster://h1:7000,h2:7001?ssl_ca_certs=/etc/ca.pem&ssl_certfile=/etc/client.pem&ssl_keyfile=/etc/client.key&ssl_cert_reqs=required``
(see :data:`TLS_OPTIONS`). A cluster or sentinel URL refuses an option it
does not know, naming it.

Error messages and logs show a URL only through :func:`redact_url`.

Credentials in a cluster or sentinel URL (``user:password@`` before the first
host) are used for the data nodes. Every client is redis-py's own
(``Redis``, ``RedisCluster``, ``Sentinel.master_for``): no home-made sharding.

A cluster client from :func:`connect` is a :class:`ClusterClient`: redis-py's
``RedisCluster`` that loads the cluster's topology once, under a lock,
before its first command. redis-py's asyncio ``RedisCluster`` (seen with
8.1) can fail commands sent concurrently on a fresh client with
``AttributeError: 'NoneType' object has no attribute 'writelines'``: the
first commands start connecting to a startup node while the topology load
that one of them triggered recycles that node's connections. A cluster
client made by hand should be initialized (``await client.initialize()``)
before it is shared by concurrent tasks.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from functools import cache
from typing import Any, TypeAlias
from urllib.parse import parse_qs, unquote

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import URL_QUERY_ARGUMENT_PARSERS, Connection
from redis.asyncio.sentinel import Sentinel
from redis.typing import EncodableT

from ._errors import ConfigurationError

Client: TypeAlias = Redis | RedisCluster
"""A Redis client aioresque works with: one node (or Sentinel's master), or a Cluster."""

MAX_CONNECTIONS = 1000
"""Pool size of clients aioresque creates: each ``Job.result()`` that is
waiting holds one connection while it blocks, so the pool is sized well above
redis-py's default of 100."""


class ClusterClient(RedisCluster):
    """redis-py's ``RedisCluster``, initialized once under a lock before its first command.

    Many commands gathered on a fresh client must not race the client's own
    topology load (see the module docstring). After the first load, redis-py
    refreshes the topology itself (after a MOVED or a lost node) as usual.
    """

    _ready: bool = False
    _ready_lock: asyncio.Lock | None = None

    async def execute_command(self, *args: EncodableT, **kwargs: Any) -> Any:
        """Run one command (see ``RedisCluster.execute_command``), loading the topology first if needed."""
        if not self._ready:
            await self._first_use()
        return await super().execute_command(*args, **kwargs)

    async def _first_use(self) -> None:
        # No await between the check and the lock's creation: one lock per client.
        if self._ready_lock is None:
            self._ready_lock = asyncio.Lock()
        async with self._ready_lock:
            if not self._ready:
                await self.initialize()
                self._ready = True

    async def aclose(self) -> None:
        """Close every connection; a later command loads the topology again."""
        self._ready = False
        await super().aclose()


_SECRET_PARAM = re.compile(r"(?i)([?&;](?:[a-z_]*pass(?:word|wd)?|[a-z_]*token|[a-z_]*secret|auth)=)[^&;#]*")


def redact_url(url: str) -> str:
    """``url`` with its password (and any secret query parameter) replaced by ``***``.

    The one helper for showing a Redis URL to a person: log lines, error
    messages, ``repr``, CLI and supervisor output. ``redis://user:s3cret@host/0``
    becomes ``redis://user:***@host/0``; userinfo without a ``:`` (a bare token,
    ``redis://t0ken@host``) is replaced whole; query parameters named like a
    password, token or secret (``?password=...``) keep only their name. Works on
    text that is not a valid URL too (it never raises), so a parse error can
    show what it could not parse.

    Args:
        url: a Redis URL, or any text given where one was expected.

    Returns:
        The same text with every secret replaced by ``***``.
    """
    text = str(url)
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    # The last "@" anywhere ends the userinfo: a password may hold an
    # unescaped "/", "?" or "#", and hiding too much beats showing a secret.
    at = rest.rfind("@")
    if at >= 0:
        user, colon, _ = rest[:at].partition(":")
        rest = ("***" if not colon or "/" in user or "?" in user else f"{user}:***") + rest[at:]
    return scheme + sep + _SECRET_PARAM.sub(r"\1***", rest)


def is_cluster(client: Any) -> bool:
    """True for a Redis Cluster client (blocking waits then go one queue at a time)."""
    return isinstance(client, RedisCluster)


TLS_OPTIONS = frozenset(
    ("ssl_ca_certs", "ssl_ca_path", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs", "ssl_check_hostname", "ssl_ciphers")
)
"""TLS settings that cluster and sentinel URLs take in their query string, as redis-py's URLs do."""

_URL_OPTIONS = TLS_OPTIONS | {
    "socket_timeout",
    "socket_connect_timeout",
    "socket_keepalive",
    "retry_on_timeout",
    "health_check_interval",
    "client_name",
    "max_connections",
}
_CERT_REQS = ("none", "optional", "required")


def _query_options(query: str, url: str, tls: bool) -> dict[str, Any]:
    """The client options in a cluster or sentinel URL's query string (``?ssl_ca_certs=/ca.pem``)."""
    options: dict[str, Any] = {}
    for name, values in parse_qs(query, keep_blank_values=True).items():
        if name not in _URL_OPTIONS:
            known = ", ".join(sorted(_URL_OPTIONS))
            raise ConfigurationError(f"unknown option {name!r} in {redact_url(url)!r} (known: {known})")
        if name in TLS_OPTIONS and not tls:
            raise ConfigurationError(f"{name} needs a TLS URL (rediss+...://), not {redact_url(url)!r}")
        value = values[-1]
        if name == "ssl_cert_reqs":
            _check_cert_reqs(value)
        parser = URL_QUERY_ARGUMENT_PARSERS.get(name)
        try:
            options[name] = parser(value) if parser is not None else value
        except (TypeError, ValueError):
            raise ConfigurationError(f"bad value {value!r} for {name} in {redact_url(url)!r}") from None
    return options


def _split(url: str, scheme: str) -> tuple[dict[str, Any], list[tuple[str, int]], str]:
    rest = url[len(scheme) + 3 :]
    auth: dict[str, Any] = {}
    if "@" in rest:
        userinfo, rest = rest.rsplit("@", 1)
        user, _, password = userinfo.partition(":")
        if user:
            auth["username"] = unquote(user)
        if password:
            auth["password"] = unquote(password)
    rest, _, query = rest.partition("?")
    auth.update(_query_options(query, url, scheme.startswith("rediss")))
    hosts_part, _, path = rest.partition("/")
    hosts: list[tuple[str, int]] = []
    for item in hosts_part.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ConfigurationError(f"bad host:port {redact_url(item)!r} in {redact_url(url)!r}")
        hosts.append((host.strip("[]"), int(port)))
    return auth, hosts, path


def connect(url: str, **options: Any) -> Client:
    """Create a client for ``url`` (see the module docstring for the forms).

    Args:
        url: the Redis URL.
        options: passed on to the redis-py client.

    Raises:
        ConfigurationError: the URL cannot be understood.
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("redis+cluster", "rediss+cluster"):
        auth, hosts, _ = _split(url, scheme)
        nodes = [ClusterNode(host, port) for host, port in hosts]
        cluster: RedisCluster = ClusterClient(
            startup_nodes=nodes,
            ssl=scheme.startswith("rediss"),
            **{"max_connections": MAX_CONNECTIONS, **auth, **options},
        )
        return cluster
    if scheme in ("redis+sentinel", "rediss+sentinel"):
        auth, hosts, path = _split(url, scheme)
        parts = [p for p in path.split("/") if p]
        if not parts:
            raise ConfigurationError(f"a sentinel URL needs the service name: {redact_url(url)!r}")
        service = parts[0]
        db = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        sentinel = Sentinel(hosts, sentinel_kwargs={})  # type: ignore[no-untyped-call]  # untyped in redis-py
        client: Redis = sentinel.master_for(
            service,
            db=db,
            ssl=scheme.startswith("rediss"),
            **{"max_connections": MAX_CONNECTIONS, **auth, **options},
        )
        return client
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigurationError(f"unsupported Redis URL scheme {scheme!r} in {redact_url(url)!r}")
    try:
        single: Redis = Redis.from_url(url, **{"max_connections": MAX_CONNECTIONS, **options})
    except ValueError as exc:  # redis-py's message names the option, never the password
        raise ConfigurationError(f"{exc} ({redact_url(url)!r})") from None
    if scheme == "rediss":  # redis-py checks it only when it first connects
        _check_cert_reqs(single.connection_pool.connection_kwargs.get("ssl_cert_reqs"))
    return single


def _check_cert_reqs(value: object) -> None:
    if isinstance(value, str) and value.lower() not in _CERT_REQS:
        raise ConfigurationError(f"ssl_cert_reqs must be one of {', '.join(_CERT_REQS)}, not {value!r}")


async def close_client(client: Client) -> None:
    """Close a client and, for Sentinel, its connections to the sentinels.

    ``Sentinel.master_for`` clients do not close the sentinel connections they
    use to find the master, so they are closed here too.
    """
    await client.aclose()
    manager = getattr(getattr(client, "connection_pool", None), "sentinel_manager", None)
    if manager is not None:
        for sentinel in manager.sentinels:
            await sentinel.aclose()


def blocking_limit(client: Any) -> float | None:
    """Longest one blocking command (BLMOVE, BZPOPMIN) may block on ``client``, in seconds.

    A blocking command that waits longer than the client's socket timeout
    fails with a timeout error. redis-py 8 gives every client a 5 s socket
    timeout unless told otherwise (earlier majors had none), so aioresque cuts
    its waits into pieces shorter than the timeout in force (a quarter
    second or a fifth shorter, whichever is more), or None (no limit) when
    the client has none.
    """
    pool = getattr(client, "connection_pool", None)
    kwargs: dict[str, Any] | None = getattr(pool, "connection_kwargs", None)
    if kwargs is None:  # a Cluster client keeps the nodes' settings itself
        kwargs = getattr(client, "connection_kwargs", None) or {}
    if "socket_timeout" in kwargs:
        timeout = kwargs["socket_timeout"]
    else:  # not given: the connection class's default (None before redis-py 8)
        timeout = _default_socket_timeout(getattr(pool, "connection_class", Connection))
    if not isinstance(timeout, int | float) or timeout <= 0:
        return None
    # Redis ends a blocking command on its own timer (10 Hz by default), so
    # leave room for that and the round trip: 4 s of a 5 s timeout.
    return max(0.05, float(timeout) - max(0.25, float(timeout) * 0.2))


@cache
def _default_socket_timeout(connection_class: type) -> Any:
    # The class itself may take **kwargs and pass them to a base that names it.
    for cls in connection_class.__mro__:
        parameter = inspect.signature(vars(cls).get("__init__", object.__init__)).parameters.get("socket_timeout")
        if parameter is not None:
            return parameter.default
    return None


def batch(client: Client) -> Any:
    """A non-transactional pipeline: several commands in one round trip.

    Works on both kinds of client (a Cluster pipeline refuses the
    ``transaction`` argument and splits the batch per node itself). Atomic
    multi-key changes are Lua scripts, never MULTI.
    """
    if is_cluster(client):
        return client.pipeline()
    return client.pipeline(transaction=False)


_ANY_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def redact_urls(text: str) -> str:
    """``text`` (an error message, a log line) with every URL in it passed through :func:`redact_url`."""
    return _ANY_URL.sub(lambda m: redact_url(m.group()), text)
