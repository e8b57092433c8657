"""The dashboard app over HTTP (no browser): pages, CSRF, read-only, auth, mounting, metrics."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request

import aioresque
from aioresque import Queue, Worker
from aioresque._admin import HistoryPoint
from aioresque._metrics import render
from aioresque.dashboard._chart import merge, nice_ceiling, throughput_svg
from aioresque.dashboard._security import safe_next
from tests import jobs_for_tests


async def _jobs(queue: Queue) -> None:
    for i in range(4):
        await queue.enqueue("add", i, i, _job_id=f"ok{i}")
    await queue.enqueue("add", 1, _job_id="broken")  # missing argument: dead at once
    with anyio.fail_after(20):
        await Worker(queue, jobs_for_tests, burst=True).run()
    await queue.enqueue("add", 7, 7, _job_id="later", _delay=600)


@pytest.fixture
async def client(queue: Queue) -> AsyncIterator[httpx.AsyncClient]:
    await _jobs(queue)
    app = aioresque.dashboard(queue)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dash") as c:
        yield c


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


# -- pure parts ------------------------------------------------------------------


def test_safe_next_stays_inside_the_dashboard() -> None:
    assert safe_next("/jobs/queues?x=1", "/jobs") == "/jobs/queues?x=1"
    assert safe_next("https://evil.example/", "/jobs") == "/jobs/"
    assert safe_next("//evil.example/jobs", "/jobs") == "/jobs/"
    assert safe_next("/other/app", "/jobs") == "/jobs/"
    assert safe_next("/queues", "") == "/queues"


def test_chart_scales_and_labels() -> None:
    from datetime import UTC, datetime

    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 11, 51, 240)] == [1, 1, 5, 10, 20, 100, 500]
    t = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    points = [HistoryPoint(t, 3, 1), HistoryPoint(t, 0, 0)]
    assert merge([points, points])[0] == HistoryPoint(t, 6, 2)
    svg = throughput_svg(points)
    assert svg.startswith("<svg") and svg.count('class="ok"') == 1 and svg.count('class="fail"') == 1
    assert "12:00 UTC: 3 completed, 1 failed" in svg


# -- pages -------------------------------------------------------------------------


async def test_pages_show_real_data(client: httpx.AsyncClient) -> None:
    overview = (await client.get("/")).text
    assert 'id="total-processed">4<' in overview
    assert "BadArguments" in overview and "<svg" in overview
    queues = (await client.get("/queues")).text
    assert 'data-queue="default"' in queues
    dead = (await client.get("/jobs/dead")).text
    assert 'data-job="broken"' in dead and "missing 1 required" in dead
    assert 'data-job="later"' in (await client.get("/jobs/scheduled")).text
    assert 'data-job="ok3"' in (await client.get("/jobs/complete")).text
    detail = (await client.get("/job/default/broken")).text
    assert "Traceback" in detail or "BadArguments" in detail
    assert (await client.get("/job/default/nope")).status_code == 404
    assert (await client.get("/jobs/bogus")).status_code == 404
    assert (await client.get("/workers")).status_code == 200
    assert (await client.get("/static/dashboard.js")).status_code == 200


async def test_filters_and_bad_filter_input(client: httpx.AsyncClient) -> None:
    assert 'data-job="broken"' not in (await client.get("/jobs/dead", params={"name": "other"})).text
    assert 'data-job="broken"' in (await client.get("/jobs/dead", params={"error": "MISSING"})).text
    response = await client.get("/jobs/dead", params={"older_than": "soon"})
    assert response.status_code == 400 and "number of minutes" in response.text


async def test_actions_need_the_csrf_token(client: httpx.AsyncClient, queue: Queue) -> None:
    page = await client.get("/queues")
    token = _csrf(page.text)
    refused = await client.post("/queues/default/pause", data={"csrf": "forged", "next": "/queues"})
    assert refused.status_code == 403 and not await queue.is_paused()
    cross = await client.post(
        "/queues/default/pause", data={"csrf": token, "next": "/"}, headers={"origin": "https://evil.example"}
    )
    assert cross.status_code == 403 and not await queue.is_paused()
    ok = await client.post("/queues/default/pause", data={"csrf": token, "next": "/queues"})
    assert ok.status_code == 303 and ok.headers["location"].startswith("/queues?msg=")
    assert await queue.is_paused()
    retried = await client.post("/jobs/dead/retry", data={"csrf": token, "next": "/jobs/dead", "job": "default/broken"})
    assert retried.status_code == 303 and "retried+1+of+1" in retried.headers["location"]
    assert (await queue.job("broken").status()).value == "queued"


async def test_read_only_and_auth(queue: Queue) -> None:
    await _jobs(queue)
    app = aioresque.dashboard(queue, read_only=True, auth=lambda request: request.headers.get("x-user") == "ops")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dash") as c:
        assert (await c.get("/")).status_code == 403
        page = await c.get("/jobs/dead", headers={"x-user": "ops"})
        assert page.status_code == 200 and "Retry selected" not in page.text and "read-only" in page.text
        token = page.cookies.get("aioresque_csrf") or ""
        c.cookies.set("aioresque_csrf", token)
        post = await c.post("/queues/default/pause", data={"csrf": token}, headers={"x-user": "ops"})
        assert post.status_code == 403 and not await queue.is_paused()


async def test_async_auth_hook_and_mounting_in_fastapi(queue: Queue) -> None:
    await _jobs(queue)

    async def auth(request: Request) -> bool:
        return request.cookies.get("session") == "admin"

    host = FastAPI()
    host.mount("/jobs", aioresque.dashboard(queue, auth=auth))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url="http://app") as c:
        assert (await c.get("/jobs/")).status_code == 403
        c.cookies.set("session", "admin")
        page = await c.get("/jobs/queues")
        assert page.status_code == 200
        assert 'href="/jobs/static/dashboard.css"' in page.text and 'action="/jobs/queues/default/pause"' in page.text
        assert (await c.get("/jobs/static/dashboard.css")).status_code == 200
        token = _csrf(page.text)
        response = await c.post("/jobs/queues/default/pause", data={"csrf": token, "next": "/jobs/queues"})
        assert response.status_code == 303 and response.headers["location"].startswith("/jobs/queues?")
        assert await queue.is_paused()


async def test_metrics_endpoint(client: httpx.AsyncClient) -> None:
    text = (await client.get("/metrics")).text
    assert 'aioresque_jobs_completed_total{queue="default"} 4' in text
    assert 'aioresque_queue_jobs{queue="default",state="dead"} 1' in text
    assert 'aioresque_queue_jobs{queue="default",state="scheduled"} 1' in text
    assert "# TYPE aioresque_queue_latency_seconds gauge" in text


def test_metrics_render_escapes_labels() -> None:
    from aioresque._admin import QueueOverview

    text = render([QueueOverview('a"b', True, 1, 0, 0, 0, 0, 2.5, {"completed": 3})], [])
    assert 'aioresque_jobs_completed_total{queue="a\\"b"} 3' in text
    assert 'aioresque_queue_paused{queue="a\\"b"} 1' in text
    assert 'aioresque_workers{state="live"} 0' in text


async def test_example_app_mounts_the_dashboard_behind_its_check(queue: Queue, redis_url: str, prefix: str) -> None:
    from examples.dashboard_app import ADMIN_TOKEN, create_app

    await _jobs(queue)
    app = create_app(redis_url, prefix=prefix)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as c:
        assert (await c.get("/jobs/")).status_code == 403
        page = await c.get("/jobs/jobs/dead", headers={"x-admin-token": ADMIN_TOKEN})
        assert page.status_code == 200 and 'data-job="broken"' in page.text
    await app.state.queue.close()  # what the app's lifespan does on shutdown
