"""Least-privilege Redis: every role works under an ACL user limited to its prefix.

Each test runs on a private ``redis-server`` (users are server-wide state) and
creates users with ``ACL SETUSER``. The rules are the ones docs/production.md
recommends; a test checks the page still shows them word for word.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import redis.asyncio as redis_asyncio

import aioresque
from aioresque import JobStatus, PermissionDenied, Queue, Worker
from tests import jobs_for_tests
from tests.cli_helpers import ROOT, run, run_cli, worker_command
from tests.redis_cluster import RedisCluster
from tests.redis_server import RedisServer

PREFIX = "acl"

COMMON_RULE = "~{prefix}:* resetchannels +@all -@dangerous"
"""The rule most guides recommend: everything but @dangerous, on the prefix's keys."""

_CLUSTER = "+cluster|slots +command"
"""What a Cluster client needs besides: the slot map and the command table (harmless on one node)."""

ROLE_RULES = {
    "producer": f"~{{prefix}}:* resetchannels -@all +@read +@write +evalsha +eval +time {_CLUSTER} -@dangerous",
    "worker": f"~{{prefix}}:* resetchannels -@all +@read +@write +evalsha +eval +time {_CLUSTER} -@dangerous",
    "reader": f"~{{prefix}}:* resetchannels -@all +@read +evalsha +eval +time {_CLUSTER} -@dangerous",
}
"""The narrowest rule of each role (docs/production.md): the reader is a read-only dashboard or CLI."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    redis_server = RedisServer(tmp_path_factory.mktemp("acl"))
    redis_server.start()
    try:
        yield redis_server
    finally:
        redis_server.stop()


@pytest.fixture
async def admin(server: RedisServer) -> AsyncIterator[redis_asyncio.Redis]:
    client = redis_asyncio.Redis.from_url(server.url)
    try:
        yield client
    finally:
        await client.aclose()


async def make_user(admin: redis_asyncio.Redis, server: RedisServer, name: str, rule: str) -> str:
    """Create (or reset) ACL user ``name`` with ``rule``; return its URL."""
    words = ["reset", "on", ">pw-" + name, *rule.format(prefix=PREFIX).split()]
    await admin.execute_command("ACL", "SETUSER", name, *words)  # type: ignore[no-untyped-call]  # untyped in redis-py
    return f"redis://{name}:pw-{name}@127.0.0.1:{server.port}/0"


def test_docs_give_the_tested_rules() -> None:
    text = (ROOT / "docs" / "production.md").read_text()
    for rule in [COMMON_RULE, *ROLE_RULES.values()]:
        assert rule.format(prefix="aioresque") in text


async def test_worker_and_producer_run_under_all_but_dangerous(
    admin: redis_asyncio.Redis, server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = await make_user(admin, server, "common", COMMON_RULE)
    caplog.set_level(logging.INFO, "aioresque")
    async with Queue.from_url(url, prefix=PREFIX) as queue:
        job = await queue.enqueue("add", 2, 3)
        with anyio.fail_after(20):
            await Worker(url, jobs_for_tests, prefix=PREFIX, burst=True).run()
        assert await job.result(timeout=5) == 5
        assert (await queue.check_server()).redis_version >= (6, 2, 0)  # read from HELLO: INFO is @dangerous
    # One line says what could not be checked; nothing else complains.
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "maxmemory-policy could not be checked" in warnings[0], warnings


def test_worker_process_and_cli_under_all_but_dangerous(server: RedisServer) -> None:
    async def setup() -> str:
        client = redis_asyncio.Redis.from_url(server.url)
        try:
            url = await make_user(client, server, "common", COMMON_RULE)
        finally:
            await client.aclose()
        async with Queue.from_url(url, prefix=PREFIX) as queue:
            await queue.enqueue("add", 1, 1, _job_id="cli-job")
        return url

    url = anyio.run(setup)
    worker = run(worker_command(url, PREFIX, "--burst"))
    assert worker.returncode == 0, worker.stderr
    assert "Traceback" not in worker.stderr and "NOPERM" not in worker.stderr
    assert worker.stderr.count("could not be checked") == 1
    for command in (["info"], ["queues"], ["workers"], ["dead"], ["job", "cli-job"]):
        done = run_cli(*command, "--redis-url", url, "--prefix", PREFIX)
        assert done.returncode == 0, (command, done.stderr)
        assert "Traceback" not in done.stderr
        if command == ["info"]:  # a note, not a problem: info still exits 0
            assert "Note: maxmemory-policy could not be checked" in done.stdout


async def test_each_role_works_under_its_narrowest_rule(admin: redis_asyncio.Redis, server: RedisServer) -> None:
    producer_url = await make_user(admin, server, "producer", ROLE_RULES["producer"])
    worker_url = await make_user(admin, server, "worker", ROLE_RULES["worker"])
    reader_url = await make_user(admin, server, "reader", ROLE_RULES["reader"])
    async with Queue.from_url(producer_url, prefix=PREFIX) as producer:
        jobs = [
            await producer.enqueue("add", 1, 2),
            await producer.enqueue("always_fails"),
            await producer.enqueue("add", 1, _job_id="role-broken"),  # missing argument: dead
            await producer.enqueue("add", 2, 2, _unique=True),
        ]
        await producer.enqueue("add", 5, 5, _delay=600)
        worker = Worker(worker_url, jobs_for_tests, prefix=PREFIX, lease=1.0)
        async with worker:  # long enough for heartbeats, registry and recovery passes
            with anyio.fail_after(20):
                while (await jobs[1].info()).status is not JobStatus.FAILED or worker.statistics().completed < 2:
                    await anyio.sleep(0.05)  # the failing job retried once (its second attempt is the last)
            await anyio.sleep(1.5)
        assert await jobs[0].result(timeout=5) == 3
        assert (await jobs[1].info()).status is JobStatus.FAILED

    async with Queue.from_url(reader_url, prefix=PREFIX) as reader:
        app = aioresque.dashboard(reader, read_only=True)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dash") as client:
            for page in ("/", "/queues", "/workers", "/cron", "/jobs/dead", "/jobs/queued", "/jobs/scheduled"):
                response = await client.get(page)
                assert response.status_code == 200, (page, response.text[:500])
            assert (await client.get("/metrics")).status_code == 200
            detail = await client.get("/job/default/role-broken")
            assert detail.status_code == 200 and "role-broken" in detail.text
        # A dashboard not started read-only, on the read-only user: Redis refuses the pause,
        # and the page says so (403), never a 500.
        writable = aioresque.dashboard(reader)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=writable), base_url="http://dash") as client:
            queues_page = await client.get("/queues")
            token = re.search(r'name="csrf" value="([^"]+)"', queues_page.text)
            assert token is not None
            refused = await client.post("/queues/default/pause", data={"csrf": token.group(1), "next": "/queues"})
            assert refused.status_code == 403 and "Not allowed by Redis" in refused.text, refused.text[:300]
        assert (await reader.overview()).dead >= 1
        # Read-only for real: the ACL refuses a pause even to code that tries.
        with pytest.raises(PermissionDenied, match="no permissions"):
            await reader.pause()
        with pytest.raises(PermissionDenied):
            await reader.enqueue("add", 1, 1)
        assert not await reader.is_paused()

    for command in (["info"], ["queues"], ["workers"], ["dead"], ["failed"]):
        done = await anyio.to_thread.run_sync(
            lambda c=command: run_cli(*c, "--redis-url", reader_url, "--prefix", PREFIX)
        )
        # `info` exits 1 when something needs attention (the dead job here).
        assert done.returncode in ((0, 1) if command == ["info"] else (0,)), (command, done.stderr)
        assert not done.stderr, (command, done.stderr)


async def test_a_prefix_outside_the_rule_is_a_clear_error(admin: redis_asyncio.Redis, server: RedisServer) -> None:
    url = await make_user(admin, server, "common", COMMON_RULE)
    async with Queue.from_url(url, prefix="elsewhere") as queue:
        with pytest.raises(PermissionDenied, match=r"docs/production\.md"):
            await queue.enqueue("add", 1, 1)
    done = await anyio.to_thread.run_sync(lambda: run(worker_command(url, "elsewhere", "--burst")))
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith("aioresque: the Redis user may not"), done.stderr


def test_every_rule_works_on_a_cluster(tmp_path: Path) -> None:
    cluster = RedisCluster(tmp_path / "cluster", start_port=46000)
    cluster.start()
    try:
        anyio.run(_on_cluster, cluster)
    finally:
        cluster.stop()


async def _on_cluster(cluster: RedisCluster) -> None:
    hosts = ",".join(f"127.0.0.1:{node.port}" for node in cluster.nodes)
    for node in cluster.nodes:  # ACL users are per node: a Cluster does not share them
        admin = redis_asyncio.Redis.from_url(node.url)
        try:
            for name, rule in [("common", COMMON_RULE), *ROLE_RULES.items()]:
                await make_user(admin, node, name, rule)
        finally:
            await admin.aclose()

    def url(name: str) -> str:
        return f"redis+cluster://{name}:pw-{name}@{hosts}"

    for producer, worker in (("common", "common"), ("producer", "worker")):
        async with Queue.from_url(url(producer), prefix=PREFIX) as queue:
            jobs = [await queue.sibling(q).enqueue("add", 1, 2) for q in ("a", "b", "c")]
            with anyio.fail_after(30):
                await Worker(url(worker), jobs_for_tests, prefix=PREFIX, queues=["a", "b", "c"], burst=True).run()
            assert [await job.result(timeout=5) for job in jobs] == [3, 3, 3]
    async with Queue.from_url(url("reader"), prefix=PREFIX) as reader:
        app = aioresque.dashboard(reader, read_only=True)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dash") as client:
            for page in ("/", "/queues", "/workers", "/jobs/queued"):
                assert (await client.get(page)).status_code == 200, page
        with pytest.raises(PermissionDenied):
            await reader.sibling("a").pause()
