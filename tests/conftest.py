"""Shared fixtures: a real redis-server for the session, a fresh namespace per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from aioresque import ConfigurationError, Queue
from aioresque._connect import Client, close_client, connect
from aioresque.testing.server import describe, discover
from tests.redis_cluster import RedisCluster, SentinelGroup
from tests.redis_server import RedisServer


def pytest_report_header() -> str:
    """Say which Redis the suite runs on (the discovery of aioresque.testing.server)."""
    if backend() != "single":
        return f"redis: a {backend()} of redis-server processes (AIORESQUE_TEST_BACKEND)"
    try:
        return "redis: " + describe(discover(env="REDIS_URL", probe=None), env="REDIS_URL")
    except ConfigurationError as exc:
        return f"redis: {exc}"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the Redis the suite uses.

    ``REDIS_URL`` points the suite at an existing server; otherwise a private
    server is started on a free port (``redis-server`` on PATH, else the
    embedded one; never a server the suite did not start) — or, with
    ``AIORESQUE_TEST_BACKEND=cluster`` / ``sentinel``, a real 3-master
    Cluster or a master, replica and three sentinels (these need the
    system's ``redis-server`` and ``redis-cli``). Tests only touch keys
    under their own prefix, never the whole database.
    """
    existing = os.environ.get("REDIS_URL")
    if existing:
        yield existing
        return
    kind = backend()
    server: RedisServer | RedisCluster | SentinelGroup
    if kind == "cluster":
        server = RedisCluster(tmp_path_factory.mktemp("cluster"))
    elif kind == "sentinel":
        server = SentinelGroup(tmp_path_factory.mktemp("sentinel"))
    elif kind == "single":
        server = RedisServer(tmp_path_factory.mktemp("redis"))
    else:
        raise pytest.UsageError(f"AIORESQUE_TEST_BACKEND must be single, cluster or sentinel, not {kind!r}")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def prefix() -> str:
    """A key namespace of this test's own."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Client]:
    """A client on the test Redis."""
    client = connect(redis_url)
    try:
        yield client
    finally:
        await close_client(client)


@pytest.fixture
async def queue(redis: Client, prefix: str) -> Queue:
    """The ``default`` queue under this test's prefix."""
    return Queue(redis, "default", prefix=prefix)


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    """Alias of ``tmp_path`` for brevity."""
    return tmp_path


def backend() -> str:
    """The kind of Redis the suite runs against: single, cluster or sentinel."""
    return os.environ.get("AIORESQUE_TEST_BACKEND", "single")


single_node_only = pytest.mark.skipif(
    backend() != "single",
    reason="measures or configures one node's server (INFO, SCRIPT FLUSH); covered by the single-node run",
)
"""For the few tests that read one server's INFO or flush its scripts."""
