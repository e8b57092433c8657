"""Client URLs: one node, Cluster and Sentinel forms."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis, RedisCluster

from aioresque import ConfigurationError, Queue
from aioresque._connect import _split, connect, is_cluster


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
