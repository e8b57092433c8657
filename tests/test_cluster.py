"""Redis Cluster: queues on different nodes, served by one worker.

These run against a real 3-master cluster whatever backend the rest of the
suite uses (the full suite also runs on a cluster in CI with
``AIORESQUE_TEST_BACKEND=cluster``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
from redis.asyncio import RedisCluster
from redis.crc import key_slot

from aioresque import Call, JobStatus, Queue, Worker
from aioresque._connect import ClusterClient, connect
from aioresque._keys import QueueKeys
from tests import jobs_for_tests
from tests.redis_cluster import RedisCluster as ClusterProcesses


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cluster = ClusterProcesses(tmp_path_factory.mktemp("cluster"), start_port=31000)
    cluster.start()
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
async def cluster_queue(cluster_url: str, prefix: str) -> AsyncIterator[Queue]:
    async with Queue.from_url(cluster_url, prefix=prefix) as queue:
        yield queue


async def queues_on_each_node(queue: Queue) -> list[str]:
    """One queue name per master node, found by the slot of its hash tag."""
    client = queue.redis
    assert isinstance(client, RedisCluster)
    await client.initialize()  # load the slot map
    by_node: dict[str, str] = {}
    for i in range(200):
        name = f"q{i}"
        node = client.get_node_from_key(QueueKeys(queue.prefix, name).queue)
        assert node is not None
        by_node.setdefault(node.name, name)
    assert len(by_node) == 3
    return sorted(by_node.values(), key=lambda n: int(n[1:]))


async def test_worker_serves_queues_on_different_nodes_in_priority_order(cluster_queue: Queue) -> None:
    names = await queues_on_each_node(cluster_queue)
    slots = {key_slot(QueueKeys(cluster_queue.prefix, n).queue.encode()) for n in names}
    assert len(slots) == 3
    jobs_for_tests.calls.clear()
    calls = [Call("record", (f"{name}-{i}",), queue=name) for name in reversed(names) for i in range(3)]
    jobs = await cluster_queue.enqueue_many(calls)
    async with Worker(cluster_queue, jobs_for_tests, queues=names, concurrency=1, burst=True):
        pass
    order = [tag for kind, tag in jobs_for_tests.calls if kind == "record"]
    assert order == [f"{name}-{i}" for name in names for i in range(3)]
    for job in jobs:
        assert await job.status() is JobStatus.COMPLETE


async def test_idle_worker_wakes_on_any_node(cluster_queue: Queue) -> None:
    names = await queues_on_each_node(cluster_queue)
    async with Worker(cluster_queue, jobs_for_tests, queues=names):
        await anyio.sleep(0.3)  # blocked: one BZPOPMIN per queue
        for name in names:
            started = time.monotonic()
            job = await cluster_queue.enqueue("add", 1, 2, _queue=name)
            assert await job.result(timeout=5) == 3
            assert time.monotonic() - started < 0.5


async def test_results_retries_and_delays_on_a_cluster(cluster_queue: Queue) -> None:
    names = await queues_on_each_node(cluster_queue)
    flaky = await cluster_queue.enqueue("flaky", 1, "k", _queue=names[1])
    delayed = await cluster_queue.enqueue("add", 2, 2, _queue=names[2], _delay=0.3)
    from aioresque import Backoff

    async with Worker(cluster_queue, jobs_for_tests, queues=names, backoff=Backoff(base=0.01)):
        assert await flaky.result(timeout=5) == 2
        assert await delayed.result(timeout=5) == 4


async def test_cluster_client_from_any_node(cluster_url: str, prefix: str) -> None:
    first_node = cluster_url.split(",")[0]
    client = connect(first_node)
    try:
        queue = Queue(client, prefix=prefix)
        job = await queue.enqueue("add", 1, 1)
        assert await job.status() is JobStatus.QUEUED
    finally:
        await client.aclose()


async def test_concurrent_first_use_of_a_fresh_cluster_client(cluster_url: str, prefix: str) -> None:
    # Many enqueues gathered on a client that has sent nothing yet. With redis-py's
    # RedisCluster as is (8.1), some fail with "'NoneType' object has no attribute
    # 'writelines'" in nearly every round; connect() returns a ClusterClient that
    # loads the topology once, under a lock, before its first command.
    for round_ in range(3):
        async with Queue.from_url(cluster_url, prefix=f"{prefix}r{round_}") as queue:
            assert isinstance(queue.redis, ClusterClient)
            calls = [queue.enqueue("add", i, i, _queue=f"q{i % 7}") for i in range(200)]
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
            errors = [o for o in outcomes if isinstance(o, BaseException)]
            assert errors == [], f"round {round_}: {len(errors)} failed, first: {errors[0]!r}"
            stats = await asyncio.gather(*(queue.sibling(f"q{i}").statistics() for i in range(7)))
            assert sum(s.counters.get("enqueued", 0) for s in stats) == 200


async def test_a_closed_cluster_client_loads_the_topology_again(cluster_url: str, prefix: str) -> None:
    client = connect(cluster_url)
    assert isinstance(client, ClusterClient)
    queue = Queue(client, prefix=prefix)
    await asyncio.gather(*(queue.enqueue("add", i, i) for i in range(20)))
    await client.aclose()
    assert len(await asyncio.gather(*(queue.enqueue("add", i, i) for i in range(20)))) == 20
    await client.aclose()
