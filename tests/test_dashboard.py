"""The dashboard app over HTTP (no browser): pages, CSRF, read-only, auth, mounting, metrics."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import anyio
import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request

import aioresque
from aioresque import Queue, ScheduleInfo, Worker
from aioresque._admin import HistoryPoint
from aioresque._metrics import render
from aioresque.dashboard._chart import merge, nice_ceiling, throughput_svg
from aioresque.dashboard._schedules import schedule_row, split_description
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


@aioresque.job(cron="30 7 * * mon-fri", tz="Europe/Berlin", queue="reports")
async def morning_report() -> None:
    """A cron schedule: recorded by the worker below, never due during a test."""


@aioresque.job(every=timedelta(hours=6))
async def refresh_cache() -> None:
    """An interval schedule, in the default queue."""


async def _schedules(queue: Queue) -> list[ScheduleInfo]:
    """Start a real worker with scheduled handlers until it has recorded both schedules in Redis."""
    async with Worker(queue.sibling("reports"), [morning_report, refresh_cache]):
        with anyio.fail_after(10):
            while len(found := await queue.sibling("reports").schedules() + await queue.schedules()) < 2:
                await anyio.sleep(0.02)
    return found


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


def test_schedule_descriptions_split_into_columns() -> None:
    assert split_description("cron */5 * * * * (Europe/Berlin)") == ("cron", "*/5 * * * *", "Europe/Berlin")
    assert split_description("cron 0 0 1 1 * (UTC)") == ("cron", "0 0 1 1 *", "UTC")
    assert split_description("every 6:00:00") == ("every", "6:00:00", None)
    assert split_description("") == ("", "", None)  # a record written by some other version
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    info = ScheduleInfo("r", "q", "cron 0 8 * * * (Europe/Berlin)", False, None, now + timedelta(hours=19), None, 0, 0)
    row = schedule_row(info, now)
    assert (row.kind, row.expression, row.zone) == ("cron", "0 8 * * *", "Europe/Berlin")
    assert row.next_local == "2026-01-02 08:00 CET" and not row.overdue
    assert schedule_row(info, now + timedelta(hours=19, minutes=2)).overdue  # no worker fired it
    unknown_zone = ScheduleInfo("r", "q", "cron * * * * * (Mars/Olympus)", False, None, now, None, 0, 0)
    assert schedule_row(unknown_zone, now).next_local is None


def test_filters_never_raise_and_quote_names_as_one_segment() -> None:
    from urllib.parse import unquote

    from aioresque._names import NAME_PUNCTUATION
    from aioresque.dashboard._filters import ago, duration, json_text, segment, when

    name = f"q{NAME_PUNCTUATION}"
    assert "/" not in segment(name) and "+" not in segment(name) and unquote(segment(name)) == name
    assert segment("a/b") == "a%2Fb"
    deep: list[object] = []
    for _ in range(5000):
        deep = [deep]
    assert json_text(deep) == "(cannot be shown: nested too deep or not JSON)"
    assert json_text({"a": [1, "é"]}, 2) == '{\n  "a": [\n    1,\n    "é"\n  ]\n}'
    for garbage in (None, "z", float("nan"), float("inf"), True, datetime(2026, 1, 1)):  # naive: not a time here
        assert ago(garbage) == "-"
    for garbage in (None, "z", float("nan"), float("inf"), True):
        assert duration(garbage) == "-"
    assert duration(4.25) == "4.2s" and when("z") == "-"
    assert when(datetime(2026, 1, 1, 12, tzinfo=UTC)) == "2026-01-01 12:00:00 UTC"


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


async def test_cron_page_lists_schedules_and_pauses_them(client: httpx.AsyncClient, queue: Queue) -> None:
    found = {info.name: info for info in await _schedules(queue)}
    assert 'data-nav="cron"' in (await client.get("/")).text
    page = await client.get("/cron")
    assert page.status_code == 200 and 'id="schedule-total">2 schedule(s)<' in page.text
    report = _row(page.text, "reports/morning_report")
    assert "<code>30 7 * * mon-fri</code>" in report and '<td data-col="zone">Europe/Berlin</td>' in report
    next_tick = found["morning_report"].next_tick
    assert next_tick is not None and next_tick.strftime("%Y-%m-%d %H:%M:%S UTC") in report
    assert next_tick.astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%d 07:30 %Z") in report
    assert '<td data-col="last" class="when">never</td>' in report and "badge running" in report
    cache = _row(page.text, "default/refresh_cache")
    assert "every <code>6:00:00</code>" in cache and "intervals count real time" in cache

    token = _csrf(page.text)
    forged = await client.post("/action/cron/reports/pause", data={"csrf": "x", "schedule": "morning_report"})
    assert forged.status_code == 403 and not (await queue.sibling("reports").schedules())[0].paused
    paused = await client.post(
        "/action/cron/reports/pause", data={"csrf": token, "schedule": "morning_report", "next": "/cron"}
    )
    assert paused.status_code == 303 and paused.headers["location"].startswith("/cron?msg=")
    assert (await queue.sibling("reports").schedules())[0].paused
    page = await client.get(paused.headers["location"])
    assert "schedule morning_report (reports): paused" in page.text
    report = _row(page.text, "reports/morning_report")
    assert "badge paused" in report and 'data-action="resume"' in report and 'data-action="pause"' not in report
    resumed = await client.post("/action/cron/reports/resume", data={"csrf": token, "schedule": "morning_report"})
    assert resumed.status_code == 303 and not (await queue.sibling("reports").schedules())[0].paused
    missing = await client.post("/action/cron/reports/pause", data={"csrf": token, "schedule": "nope"})
    assert "no+schedule+named" in missing.headers["location"]
    unknown = await client.post("/action/cron/reports/delete", data={"csrf": token, "schedule": "morning_report"})
    assert unknown.status_code == 404


async def test_cron_page_read_only_and_empty(queue: Queue) -> None:
    app = aioresque.dashboard(queue, read_only=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dash") as c:
        assert "No schedules recorded" in (await c.get("/cron")).text
        await _schedules(queue)
        page = await c.get("/cron")
        assert 'data-schedule="reports/morning_report"' in page.text
        assert "data-action" not in page.text and "Actions" not in page.text
        token = page.cookies.get("aioresque_csrf") or ""
        c.cookies.set("aioresque_csrf", token)
        post = await c.post("/action/cron/reports/pause", data={"csrf": token, "schedule": "morning_report"})
        assert post.status_code == 403 and not (await queue.sibling("reports").schedules())[0].paused


def _row(html: str, schedule: str) -> str:
    """The table row of one schedule (``queue/name``) in the cron page."""
    match = re.search(rf'<tr data-schedule="{re.escape(schedule)}">(.*?)</tr>', html, re.S)
    assert match is not None, f"no row for {schedule}"
    return match.group(1)


async def test_filters_and_bad_filter_input(client: httpx.AsyncClient) -> None:
    assert 'data-job="broken"' not in (await client.get("/jobs/dead", params={"name": "other"})).text
    assert 'data-job="broken"' in (await client.get("/jobs/dead", params={"error": "MISSING"})).text
    response = await client.get("/jobs/dead", params={"older_than": "soon"})
    assert response.status_code == 400 and "number of minutes" in response.text
    for value in ("nan", "inf", "-5", "1e400"):
        response = await client.get("/jobs/dead", params={"newer_than": value})
        assert response.status_code == 400 and "number of minutes" in response.text, value
    for page in ("x", "9" * 5000):
        assert (await client.get("/jobs/dead", params={"page": page})).status_code == 400
    assert (await client.get("/jobs/dead", params={"page": str(10**30)})).status_code == 200


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
