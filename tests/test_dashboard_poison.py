"""Every dashboard page, /metrics included, answers 200 over poison records and marks them."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote_plus

import anyio
import httpx
import pytest
from redis.asyncio import Redis

import aioresque
from aioresque import Queue, Worker
from aioresque._keys import queue_registry, worker_index, worker_record
from tests import jobs_for_tests

DEEP = "[" * 1000 + "]" * 1000
"""A payload nested 1,000 deep: valid JSON that recursive decoders and encoders choke on."""


def _record(**fields: object) -> str:
    base: dict[str, object] = {"v": 1, "name": "add", "status": "failed", "attempts": 1, "failures": 1, "lost": 0}
    base |= {"enqueued_at": 1764300000000, "finished_at": 1764300001000}
    return json.dumps(base | fields)


async def _poison(client: Redis, queue: Queue) -> None:
    """Write what no aioresque version writes, next to good jobs: every page must survive it."""
    redis: Any = client  # bytes members and mixed mappings, beyond redis-py's stubs
    k = queue.keys
    dead_ids: dict[str | bytes, str] = {
        "p-attempts": _record(attempts="z", failures=[], max_attempts={"a": 1}),
        "p-deep": _record(),
        b"p-\xff\xfe": _record(),
        "p-list": "[1, 2]",
        "p-notjson": "{nope",
        "p-times": _record(enqueued_at=1e300, finished_at="soon", started_at=-5),
        "p-status": _record(status="exploded"),
        "p-nostate": "",
    }
    for job_id, record in dead_ids.items():
        await redis.zadd(k.dead, {job_id: 1764300001000})
        if record:
            await redis.hset(k.state, job_id, record)
        await redis.hset(k.jobs, job_id, DEEP if job_id == "p-deep" else '{"args": [1, 2], "kwargs": {}}')
    await redis.hset(k.errors, "p-attempts", b"\xff not json")
    await redis.hset(k.errors, "p-deep", json.dumps({"error": 5, "kind": [], "traceback": {"x": 1}}))
    await redis.zadd(k.scheduled, {"p-sched": float("inf"), b"\xc3\x28": 1})
    await redis.hset(k.state, "p-sched", _record(status="scheduled", due_at="never"))
    await redis.lpush(k.queue, b"\xff\xfe", "p-queued-missing")
    await redis.zadd(k.active, {"p-active": 1e18})
    await redis.hset(k.state, "p-active", _record(status="active", started_at=1e300, worker=7))
    # Wrong-typed and garbage counters, history and schedules.
    await redis.hset(k.stats, mapping={"completed": "z", "failed": "1e999", "enqueued": b"\xff"})
    await redis.delete(k.history)
    await redis.set(k.history, "a string where a hash belongs")
    await redis.hset(k.cron, "broken", "{nope")
    await redis.hset(k.cron, b"\xff", json.dumps({"spec": 5, "next": "z", "last": 1e300, "fired": "many"}))
    await redis.hset(
        k.cron, "deep", json.dumps({"spec": "cron * * * * * (Nowhere/" + "x" * 500 + ")", "next": 1e30, "paused": 3})
    )
    # A wrong-typed key in a second queue, and names that break the rule in the registry.
    other = queue.sibling("other")
    await other.enqueue("add", 1, 1, _job_id="other-ok")
    await redis.delete(other.keys.dead)
    await redis.set(other.keys.dead, "garbage")
    await redis.sadd(queue_registry(queue.prefix), b"\xff\xfe", "bad/name", "{x}")
    # Garbage worker registrations.
    index = worker_index(queue.prefix)
    await redis.zadd(index, {"ghost": 9e15, b"\xff": 9e15, "typed": 9e15})
    await redis.set(worker_record(queue.prefix, "ghost"), "{nope")
    await redis.set(
        worker_record(queue.prefix, "typed"),
        json.dumps(
            {
                "id": "typed",
                "host": 5,
                "pid": "x",
                "queues": "default",
                "in_flight": "p-active",
                "concurrency": None,
                "started_at": "z",
                "last_heartbeat": 1e300,
            }
        ),
    )


@pytest.fixture
async def client(queue: Queue, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    for i in range(3):
        await queue.enqueue("add", i, i, _job_id=f"ok{i}")
    await queue.enqueue("add", 1, _job_id="broken")  # a good dead job
    with anyio.fail_after(20):
        await Worker(queue, jobs_for_tests, burst=True).run()
    await _poison(redis, queue)
    app = aioresque.dashboard(queue)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://dash") as c:
        yield c


PAGES = [
    "/",
    "/queues",
    "/workers",
    "/cron",
    "/metrics",
    "/jobs/queued",
    "/jobs/scheduled",
    "/jobs/retrying",
    "/jobs/active",
    "/jobs/complete",
    "/jobs/dead",
    "/jobs/dead?queue=default",
    "/jobs/dead?queue=other",
    "/jobs/dead?status=failed",
    "/jobs/dead?name=add&error=missing&older_than=1",
    "/jobs/dead?newer_than=100000000",
    "/jobs/scheduled?queue=default",
    "/job/default/p-attempts",
    "/job/default/p-deep",
    "/job/default/p-list",
    "/job/default/p-notjson",
    "/job/default/p-times",
    "/job/default/p-status",
    "/job/default/p-sched",
    "/job/default/p-active",
    "/job/default/broken",
    "/job/other/other-ok",
    "/quarantine",
    "/jobs/queued?queue=other",
]


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_survives_poison(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200, response.text[-2000:]


async def test_the_dead_set_shows_the_good_jobs_and_marks_the_bad(client: httpx.AsyncClient) -> None:
    page = (await client.get("/jobs/dead", params={"queue": "default"})).text
    assert 'data-job="broken"' in page
    for job_id in ("p-attempts", "p-deep", "p-list", "p-notjson"):
        assert f'data-job="{job_id}"' in page, job_id
    assert "unreadable" in page


async def test_the_job_page_marks_an_unreadable_record(client: httpx.AsyncClient) -> None:
    for job_id in ("p-attempts", "p-list", "p-notjson"):
        page = (await client.get(f"/job/default/{job_id}")).text
        assert "unreadable" in page, job_id


async def test_the_queue_pages_leave_out_names_that_break_the_rule(client: httpx.AsyncClient) -> None:
    page = (await client.get("/queues")).text
    assert 'data-queue="default"' in page and 'data-queue="other"' in page
    assert "bad/name" not in page and "{x}" not in page


async def test_workers_and_schedules_that_cannot_be_read_are_marked(client: httpx.AsyncClient) -> None:
    workers = (await client.get("/workers")).text
    assert 'data-worker="ghost"' in workers and "unreadable" in workers
    overview = (await client.get("/")).text
    assert "<code>ghost</code>" in overview and "unreadable" in overview
    cron = (await client.get("/cron")).text
    broken = cron[cron.index('data-schedule="default/broken"') :].split("</tr>")[0]
    assert "unreadable" in broken and "data-action" not in broken
    garbled = cron[cron.index('data-schedule="default/\\xff"') :].split("</tr>")[0]
    assert "data-action" not in garbled  # a name no form could address


async def test_the_quarantine_is_counted_and_listed(client: httpx.AsyncClient, queue: Queue, redis: Redis) -> None:
    await redis.hset(
        queue.keys.quarantine,
        mapping={b"\xff\xfe": "1764300000000|queue|not valid UTF-8", "a/b": "1764300000001|queue|not a valid job id"},
    )
    overview = (await client.get("/")).text
    assert 'id="total-quarantined">2<' in overview
    queues = (await client.get("/queues")).text
    row = queues[queues.index('data-queue="default"') :].split("</tr>")[0]
    assert 'href="/quarantine?queue=default">2<' in row
    page = await client.get("/quarantine", params={"queue": "default"})
    assert page.status_code == 200 and 'id="quarantine-total">2 entries<' in page.text
    assert "<code" in page.text and "\\xff\\xfe" in page.text and "not a valid job id" in page.text
    assert (await client.get("/quarantine")).status_code == 200
    assert (await client.get("/quarantine", params={"queue": "a/b"})).status_code == 400


async def test_bulk_actions_skip_what_they_cannot_read_and_say_so(client: httpx.AsyncClient, queue: Queue) -> None:
    filtered = (await client.get("/jobs/dead", params={"queue": "default", "name": "add"})).text
    assert 'id="unreadable-skipped"' in filtered and 'data-job="broken"' in filtered
    page = (await client.get("/jobs/dead", params={"queue": "default"})).text
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token is not None
    form = {"csrf": token.group(1), "scope": "all", "queue": "default", "next": "/jobs/dead"}
    response = await client.post("/jobs/dead/retry", data=form)
    assert response.status_code == 303
    message = unquote_plus(response.headers["location"])
    assert "retried" in message and "whose record cannot be read" in message, message
    assert (await queue.job("broken").status()).value == "queued"
    assert (await client.get("/jobs/dead", params={"queue": "default"})).status_code == 200


async def test_quarantine_entries_can_be_dropped_from_the_page(
    client: httpx.AsyncClient, queue: Queue, redis: Redis
) -> None:
    await redis.hset(queue.keys.quarantine, mapping={b"\xff\xfe": "1|queue|not UTF-8", b"keep": "2|queue|not a job"})
    page = (await client.get("/quarantine", params={"queue": "default"})).text
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token is not None and 'value="default/fffe"' in page
    form = {"csrf": token.group(1), "entry": ["default/fffe", "default/zz", "a b/00"], "next": "/quarantine"}
    response = await client.post("/action/quarantine/drop", data=form)
    assert response.status_code == 303 and "dropped 1 quarantine entry" in unquote_plus(response.headers["location"])
    assert [item.raw for item in await queue.quarantined()] == [b"keep"]
    read_only = aioresque.dashboard(queue, read_only=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=read_only), base_url="http://dash") as c:
        assert "Drop selected" not in (await c.get("/quarantine")).text


async def test_delete_unreadable_removes_exactly_the_unreadable_records(
    client: httpx.AsyncClient, queue: Queue, redis: Redis
) -> None:
    page = (await client.get("/jobs/dead", params={"queue": "default"})).text
    assert 'id="delete-unreadable"' in page
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token is not None
    form = {"csrf": token.group(1), "scope": "unreadable", "queue": "default", "next": "/jobs/dead?queue=default"}
    response = await client.post("/jobs/dead/delete", data=form)
    assert response.status_code == 303
    message = unquote_plus(response.headers["location"])
    assert "deleted 6 of 6 unreadable record(s)" in message, message
    assert not await redis.hexists(queue.keys.state, b"p-\xff\xfe")  # an id that is not UTF-8, gone too
    after = (await client.get("/jobs/dead", params={"queue": "default"})).text
    assert "unreadable" not in after and 'data-job="broken"' in after and 'data-job="p-deep"' in after
    retry = await client.post("/jobs/dead/retry", data=form)
    assert retry.status_code == 404
