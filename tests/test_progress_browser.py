"""The example app's progress page, followed in a real headless Chromium from queued to completed."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator

import anyio
import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from aioresque import JobStatus, Queue
from tests.browser import chromium
from tests.cli_helpers import spawned, worker_command
from tests.redis_server import free_port


@pytest.fixture
def app_url(redis_url: str) -> Iterator[str]:
    """The example FastAPI app with an in-process worker, served by uvicorn on a free port."""
    port = free_port()
    prefix = f"p{uuid.uuid4().hex[:10]}"
    code = (
        "import uvicorn; from examples.fastapi_app import create_app; "
        f"uvicorn.run(create_app({redis_url!r}, prefix={prefix!r}, inprocess_worker=True), "
        f"host='127.0.0.1', port={port}, log_level='warning')"
    )
    with spawned([sys.executable, "-c", code]) as proc:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, "the app exited"
            try:
                httpx.get(url + "/docs")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the app did not start"
                time.sleep(0.1)
        yield url


def test_the_progress_page_follows_a_real_job_to_the_end(app_url: str) -> None:
    with chromium() as browser:
        browser.get(app_url + "/docs")  # the browser is up before the job starts
        job_id = httpx.post(app_url + "/exports", params={"rows": 40}).json()["job_id"]
        browser.get(f"{app_url}/exports/{job_id}")
        seen: set[str] = set()

        def progressed(driver: object) -> bool:
            value = float(browser.find_element(By.ID, "bar").get_attribute("value") or 0)
            if 0 < value < 1:
                seen.add(browser.find_element(By.ID, "message").text)
            return browser.find_element(By.ID, "status").text == "completed"

        WebDriverWait(browser, 30, poll_frequency=0.05).until(progressed)
        assert float(browser.find_element(By.ID, "bar").get_attribute("value") or 0) == 1.0
        assert browser.find_element(By.ID, "message").text == "40 of 40 rows"
    assert seen, "the bar never showed a value between 0 and 1"
    assert all(m.endswith("of 40 rows") for m in seen)


def test_the_events_endpoint_streams_server_sent_events(app_url: str) -> None:
    job_id = httpx.post(app_url + "/exports", params={"rows": 5}).json()["job_id"]
    kinds = []
    with httpx.stream("GET", f"{app_url}/jobs/{job_id}/events", timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event: "):
                kinds.append(line.removeprefix("event: "))
    assert kinds[-1] == "completed" and "progress" in kinds
    assert httpx.get(f"{app_url}/jobs/nope/events").status_code == 404


@pytest.fixture
def dashboard_url(redis_url: str) -> Iterator[tuple[str, str]]:
    """(dashboard URL, prefix): a dashboard process and a worker on examples.jobs."""
    port = free_port()
    prefix = f"d{uuid.uuid4().hex[:10]}"
    dashboard = [sys.executable, "-m", "aioresque", "dashboard", "--redis-url", redis_url]
    dashboard += ["--prefix", prefix, "--port", str(port)]
    worker = worker_command(redis_url, prefix, "--log-level", "WARNING", module="examples.jobs")
    with spawned(worker), spawned(dashboard) as proc:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, "the dashboard exited"
            try:
                if httpx.get(url + "/").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(0.1)
        yield url, prefix


def test_the_dashboard_job_page_shows_progress_and_events_live(dashboard_url: tuple[str, str], redis_url: str) -> None:
    url, prefix = dashboard_url

    async def enqueue() -> str:
        async with Queue.from_url(redis_url, prefix=prefix) as queue:
            job = await queue.enqueue("export_report", 60)
            with anyio.fail_after(20):
                while await job.status() is not JobStatus.ACTIVE:
                    await anyio.sleep(0.05)
            return job.id

    with chromium() as browser:
        browser.get(url + "/")
        job_id = anyio.run(enqueue)
        browser.get(f"{url}/job/default/{job_id}")
        seen: set[float] = set()

        def finished(driver: object) -> bool:
            seen.add(float(browser.find_element(By.ID, "job-progress").get_attribute("value") or 0))
            return bool(browser.execute_script("return document.body.dataset.finished || ''") == "completed")

        WebDriverWait(browser, 30, poll_frequency=0.05).until(finished)
        items = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#timeline li.event")]
        assert float(browser.find_element(By.ID, "job-progress").get_attribute("value") or 0) == 1.0
    assert any(0 < v < 1 for v in seen), seen
    assert items[-1].startswith("completed")
    assert any(i.startswith("progress") and "of 60 rows" in i for i in items)
