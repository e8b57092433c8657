"""Shared fixtures: a real redis-server for the session, a fresh namespace per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from aioresque import Queue
from tests.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the Redis the suite uses.

    ``REDIS_URL`` points the suite at an existing server; otherwise a private
    ``redis-server`` is started on a free port. Tests only touch keys under
    their own prefix, never the whole database.
    """
    existing = os.environ.get("REDIS_URL")
    if existing:
        yield existing
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"))
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
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client on the test Redis."""
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def queue(redis: Redis, prefix: str) -> Queue:
    """The ``default`` queue under this test's prefix."""
    return Queue(redis, "default", prefix=prefix)


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    """Alias of ``tmp_path`` for brevity."""
    return tmp_path
