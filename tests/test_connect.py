"""Client URLs: one node, Cluster and Sentinel forms."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis, RedisCluster

from aioresque import ConfigurationError, Queue
from aioresque._connect import _split, connect, is_cluster, redact_url


def test_cluster_url_lists_nodes_and_credentials() -> None:
    auth, hosts, path = _split("redis+cluster://user:p%40ss@10.0.0.1:7000,10.0.0.2:7001", "redis+cluster")
    assert auth == {"username": "user", "password": "p@ss"}
    assert hosts == [("10.0.0.1", 7000), ("10.0.0.2", 7001)]
    assert path == ""


def test_sentinel_url_has_service_and_db() -> None:
    auth, hosts, path = _split("redis+sentinel://:secret@h1:26379,h2:26380/mymaster/3", "redis+sentinel")
    assert auth == {"password": "secret"}
    assert hosts == [("h1", 26379), ("h2", 26380)]
    assert path == "mymaster/3"


async def test_connect_picks_the_client_kind() -> None:
    single = connect("redis://localhost:6399/2")
    cluster = connect("redis+cluster://127.0.0.1:7000,127.0.0.1:7001")
    sentinel = connect("redis+sentinel://127.0.0.1:26379/mymaster/1")
    try:
        assert isinstance(single, Redis) and not is_cluster(single)
        assert isinstance(cluster, RedisCluster) and is_cluster(cluster)
        assert isinstance(sentinel, Redis)
        assert sentinel.connection_pool.connection_kwargs["db"] == 1
    finally:
        await single.aclose()
        await sentinel.aclose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://localhost", "unsupported Redis URL scheme"),
        ("redis+cluster://localhost", "bad host:port"),
        ("redis+sentinel://localhost:26379", "service name"),
    ],
)
def test_bad_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Queue.from_url(url)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://user:s3cret@host/0", "redis://user:***@host/0"),
        ("redis://:s3cret@host:6379/0?password=s3cret&db=1", "redis://:***@host:6379/0?password=***&db=1"),
        ("rediss://s3cret@host", "rediss://***@host"),
        ("redis+cluster://u:s3cret@h1:7000,h2:7001", "redis+cluster://u:***@h1:7000,h2:7001"),
        ("redis://u:s3/c?ret@h/0", "redis://u:***@h/0"),
        ("s3cret@host:1", "***@host:1"),
        ("redis://h/0?ssl_keyfile=/k.pem&token=s3cret", "redis://h/0?ssl_keyfile=/k.pem&token=***"),
        ("redis://host:6380/1", "redis://host:6380/1"),
    ],
)
def test_redact_url_hides_every_secret(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        "mysql://user:s3cret@localhost",
        "redis+cluster://user:s3cret@localhost",
        "redis+sentinel://user:s3cret@localhost:26379",
        "redis+cluster://user:s3cret@h:1,nohost",
    ],
)
def test_url_errors_do_not_show_the_password(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Queue.from_url(url)
    assert "s3cret" not in str(caught.value)
    assert "***" in str(caught.value)
