"""The example app's progress page, followed in a real headless Chromium from queued to completed."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import chromium
from tests.cli_helpers import spawned
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
