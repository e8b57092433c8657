"""Eviction is an error, not a surprise; a full Redis is an aioresque error.

Each test starts its own ``redis-server`` with the memory settings it needs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import anyio
import httpx
import pytest
import redis.asyncio as redis_asyncio

import aioresque
from aioresque import ConfigurationError, Queue, RedisFull, Worker
from aioresque._server import eviction_policy, eviction_warning
from tests import jobs_for_tests
from tests.cli_helpers import run, run_cli, worker_command
from tests.redis_server import RedisServer


@pytest.fixture
def lru_server(tmp_path: Path) -> RedisServer:
    server = RedisServer(tmp_path / "lru", extra=["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"])
    server.start()
    return server


def test_warning_says_what_each_policy_means() -> None:
    assert eviction_warning("noeviction") is None
    assert "any key" in (eviction_warning("allkeys-lru") or "")
    assert "TTL" in (eviction_warning("volatile-lfu") or "")
    assert "could not be checked" in (eviction_warning(None) or "")


async def test_worker_refuses_an_evicting_redis(lru_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    try:
        async with Queue.from_url(lru_server.url, prefix="ev") as queue:
            assert await eviction_policy(queue.redis) == "allkeys-lru"
            job = await queue.enqueue("add", 1, 2)
            with anyio.fail_after(10), pytest.raises(ConfigurationError, match=r"allkeys-lru.*allow-eviction"):
                await Worker(queue, jobs_for_tests, burst=True).run()
            assert (await queue.overview()).queued == 1  # nothing was claimed
            caplog.set_level(logging.WARNING, "aioresque")
            with anyio.fail_after(10):
                await Worker(queue, jobs_for_tests, burst=True, allow_eviction=True).run()
            assert await job.result(timeout=5) == 3
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and "maxmemory-policy is allkeys-lru" in warnings[0], warnings
    finally:
        lru_server.stop()


def test_worker_process_and_info_report_eviction(lru_server: RedisServer) -> None:
    try:
        refused = run(worker_command(lru_server.url, "ev", "--burst"))
        assert refused.returncode == 2
        assert refused.stderr.splitlines()[-1].startswith("aioresque: maxmemory-policy is allkeys-lru")
        assert "Traceback" not in refused.stderr
        allowed = run(worker_command(lru_server.url, "ev", "--burst", "--allow-eviction"))
        assert allowed.returncode == 0, allowed.stderr
        assert "maxmemory-policy is allkeys-lru" in allowed.stderr
        info = run_cli("info", "--redis-url", lru_server.url, "--prefix", "ev")
        assert info.returncode == 1  # something needs attention
        assert "maxmemory-policy is allkeys-lru" in info.stdout
        as_json = run_cli("info", "--redis-url", lru_server.url, "--prefix", "ev", "--json")
        report = json.loads(as_json.stdout)
        assert report["maxmemory_policy"] == "allkeys-lru"
        assert "maxmemory-policy is allkeys-lru" in report["problems"][0]["message"]
    finally:
        lru_server.stop()


async def test_a_full_redis_gives_producers_redis_full(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "full")
    server.start()
    admin = redis_asyncio.Redis.from_url(server.url)
    try:
        used = int((await admin.info("memory"))["used_memory"])
        await admin.config_set("maxmemory", used + 300_000)
        async with Queue.from_url(server.url, prefix="full") as queue:
            accepted = 0
            refused: RedisFull | None = None
            while refused is None and accepted < 2000:
                try:
                    await queue.enqueue("echo", "x" * 2000)
                    accepted += 1
                except RedisFull as exc:
                    refused = exc
            assert refused is not None and "Redis is full" in str(refused) and "maxmemory" in str(refused)
            assert accepted > 0
            # Nothing half-written: every accepted job is queued, the refused one is not.
            assert (await queue.overview()).queued == accepted
            # Room again: the same call goes through.
            await admin.config_set("maxmemory", 0)
            await queue.enqueue("echo", "x")
    finally:
        await admin.aclose()
        server.stop()


async def test_dashboard_overview_warns_about_eviction(lru_server: RedisServer, queue: Queue) -> None:
    try:
        async with Queue.from_url(lru_server.url, prefix="ev") as evicting:
            for target, shown in ((evicting, True), (queue, False)):
                app = aioresque.dashboard(target)
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dash") as client:
                    page = await client.get("/")
                assert page.status_code == 200
                assert ("maxmemory-policy is allkeys-lru" in page.text) is shown
                assert ('id="eviction-warning"' in page.text) is shown
    finally:
        lru_server.stop()
