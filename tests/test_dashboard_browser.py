"""The dashboard in a real headless Chromium, against a real Redis with real jobs.

The dashboard runs as a user would start it (``python -m aioresque dashboard``),
a real worker process holds a running job, and every check reads both the
page and Redis.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, cast

import httpx
import pytest
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

import aioresque
from aioresque import Call, JobStatus, Queue, ScheduleInfo, Worker
from aioresque._names import NAME_PUNCTUATION
from tests import jobs_for_tests
from tests.browser import chromium, foreign_site
from tests.cli_helpers import spawned, worker_command

PUNCTUATED = f"q{NAME_PUNCTUATION}Z"
NEIGHBOUR = f"q{NAME_PUNCTUATION[:-1]}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _in_redis(redis_url: str, prefix: str, action: Callable[[Queue], Any]) -> Any:
    async def main() -> Any:
        async with Queue.from_url(redis_url, prefix=prefix) as queue:
            return await action(queue)

    return asyncio.run(main())


@aioresque.job(cron="15 4 * * *", tz="America/New_York", queue="reports")
async def nightly_report() -> None:
    """A cron schedule a real worker records; never due during the test."""


@aioresque.job(every=timedelta(hours=12), queue="reports")
async def refresh_cache() -> None:
    """An interval schedule in the same queue."""


async def _populate(queue: Queue) -> None:
    # A real worker running scheduled handlers records their schedules in
    # Redis as it starts; they stay listed after it stops.
    reports = queue.sibling("reports")
    async with Worker(reports, [nightly_report, refresh_cache]), asyncio.timeout(10):
        while len(await reports.schedules()) < 2:
            await asyncio.sleep(0.02)
    await queue.enqueue_many(Call("add", (i, i), job_id=f"ok{i}") for i in range(12))
    await queue.enqueue_many(Call("always_fails", job_id=f"fail{i}", max_attempts=1) for i in range(3))
    await queue.enqueue_many(Call("add", (1,), job_id=f"bad{i}") for i in range(2))
    await asyncio.wait_for(Worker(queue, jobs_for_tests, burst=True, concurrency=20).run(), 30)
    await queue.enqueue("add", 9, 9, _job_id="later", _delay=3600)
    await queue.enqueue_many(Call("add", (i, 1), job_id=f"mail{i}", queue="emails") for i in range(2))
    await queue.enqueue("sleep", 60, _job_id="long", _queue="slow")
    # Names made of every punctuation character the name rule allows, and a
    # neighbouring queue with the same job ids: actions must reach exactly one.
    for name in (PUNCTUATED, NEIGHBOUR):
        await queue.enqueue_many(
            Call("add", (i, 1), job_id=f"j{NAME_PUNCTUATION}{i}", queue=name, delay=3600) for i in (1, 2)
        )


@pytest.fixture(scope="module")
def site(redis_url: str) -> Iterator[tuple[str, str, str]]:
    """(dashboard URL, prefix, Redis URL) with jobs in every state and a busy worker."""
    prefix = f"b{uuid.uuid4().hex[:10]}"
    _in_redis(redis_url, prefix, _populate)
    port = _free_port()
    command = [sys.executable, "-m", "aioresque", "dashboard", "--redis-url", redis_url]
    command += ["--prefix", prefix, "--port", str(port)]
    with (
        spawned(worker_command(redis_url, prefix, "--queues", "slow", "--log-level", "WARNING")),
        spawned(command) as proc,
    ):
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
        yield url, prefix, redis_url


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


def _wait(driver: WebDriver, check: Callable[[WebDriver], Any], timeout: float = 10) -> Any:
    return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(check)


def _fresh(driver: WebDriver, action: Callable[[], Any]) -> Any:
    """Run ``action``, finding its element again if live refresh replaced it meanwhile."""
    for _ in range(20):
        try:
            return action()
        except StaleElementReferenceException:
            time.sleep(0.05)
        except WebDriverException as exc:
            # Chromium's other word for a replaced element, when it goes between find and read.
            if "does not belong to the document" not in str(exc):
                raise
            time.sleep(0.05)
    return action()


def _text(driver: WebDriver, css: str) -> str:
    return str(_fresh(driver, lambda: driver.find_element(By.CSS_SELECTOR, css).text))


def _click(driver: WebDriver, by: str, selector: str) -> None:
    _fresh(driver, lambda: driver.find_element(by, selector).click())


def _status(site: tuple[str, str, str], job_id: str, queue: str = "default") -> JobStatus:
    _, prefix, redis_url = site
    return _in_redis(redis_url, prefix, lambda q: q.sibling(queue).job(job_id).status())  # type: ignore[no-any-return]


def test_overview_shows_real_numbers_and_chart(site: tuple[str, str, str], browser: WebDriver) -> None:
    url, _, _ = site
    browser.get(url + "/")
    assert _text(browser, "#total-processed") == "12"
    assert _text(browser, "#total-dead") == "5"
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.ok")
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.fail")
    names = _fresh(
        browser, lambda: {e.text for e in browser.find_elements(By.CSS_SELECTOR, "table.queues td:first-child")}
    )
    assert {"default", "emails", "slow"} <= names
    assert "broken handler" in browser.page_source


def test_live_refresh_updates_without_reload(site: tuple[str, str, str], browser: WebDriver) -> None:
    url, prefix, redis_url = site
    browser.get(url + "/")
    before = int(_text(browser, "#total-queued"))
    browser.execute_script("window.__same_page = true;")
    _in_redis(redis_url, prefix, lambda q: q.enqueue_many(Call("add", (i, 2), queue="live") for i in range(5)))
    _wait(browser, lambda d: int(_text(d, "#total-queued")) == before + 5)
    assert browser.execute_script("return window.__same_page === true;")


def test_retry_selected_dead_job(site: tuple[str, str, str], browser: WebDriver) -> None:
    url, _, _ = site
    browser.get(url + "/jobs/dead?name=always_fails")
    jobs = _fresh(
        browser,
        lambda: [r.get_attribute("data-job") or "" for r in browser.find_elements(By.CSS_SELECTOR, "tr[data-job]")],
    )
    assert sorted(jobs) == ["fail0", "fail1", "fail2"]
    _click(browser, By.CSS_SELECTOR, "input[value='default/fail0']")
    _click(browser, By.ID, "retry-selected")
    _wait(browser, lambda d: "retried 1 of 1" in _text(d, ".flash"))
    assert _status(site, "fail0") is JobStatus.QUEUED
    left = _fresh(
        browser, lambda: {r.get_attribute("data-job") for r in browser.find_elements(By.CSS_SELECTOR, "tr[data-job]")}
    )
    assert left == {"fail1", "fail2"}


def test_delete_all_matching_after_confirming(site: tuple[str, str, str], browser: WebDriver) -> None:
    url, _, _ = site
    browser.get(url + "/jobs/dead?error=missing+1+required")
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr[data-job]")) == 2
    _click(browser, By.ID, "delete-all")
    alert = _wait(browser, lambda d: d.switch_to.alert)
    assert "Delete all 2" in alert.text
    alert.accept()
    _wait(browser, lambda d: "deleted 2 of 2" in _text(d, ".flash"))
    assert _status(site, "bad0") is JobStatus.NOT_FOUND and _status(site, "bad1") is JobStatus.NOT_FOUND
    assert "No jobs here." in browser.page_source


def test_pause_and_resume_a_queue(site: tuple[str, str, str], browser: WebDriver) -> None:
    url, prefix, redis_url = site
    browser.get(url + "/queues")
    _click(browser, By.CSS_SELECTOR, "tr[data-queue='emails'] button[data-action='pause']")
    _wait(browser, lambda d: "emails: paused" in _text(d, ".flash"))
    assert "paused" in _text(browser, "tr[data-queue='emails'] .badge")
    assert _in_redis(redis_url, prefix, lambda q: q.sibling("emails").is_paused())
    _click(browser, By.CSS_SELECTOR, "tr[data-queue='emails'] button[data-action='resume']")
    _wait(browser, lambda d: "emails: resumed" in _text(d, ".flash"))
    assert not _in_redis(redis_url, prefix, lambda q: q.sibling("emails").is_paused())


def _schedule(site: tuple[str, str, str], name: str) -> ScheduleInfo:
    _, prefix, redis_url = site
    found = _in_redis(redis_url, prefix, lambda q: q.sibling("reports").schedules())
    [info] = [s for s in found if s.name == name]
    return info  # type: ignore[no-any-return]


def test_cron_page_shows_the_schedules_and_pauses_one(site: tuple[str, str, str], browser: WebDriver) -> None:
    url, _, _ = site
    browser.get(url + "/")
    _click(browser, By.CSS_SELECTOR, "a[data-nav='cron']")
    _wait(browser, lambda d: d.current_url == url + "/cron")
    row = "tr[data-schedule='reports/nightly_report']"
    # A click does not wait for the new page to load, as get() does: wait for the row.
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"{row} td[data-col='state']"))
    assert _text(browser, f"{row} td[data-col='name']") == "nightly_report"
    assert _text(browser, f"{row} td[data-col='expression']") == "15 4 * * *"
    assert _text(browser, f"{row} td[data-col='zone']") == "America/New_York"
    info = _schedule(site, "nightly_report")
    assert info.next_tick is not None and not info.paused
    next_cell = _text(browser, f"{row} td[data-col='next']")
    assert info.next_tick.strftime("%Y-%m-%d %H:%M:%S UTC") in next_cell and "04:15 E" in next_cell  # EST or EDT
    assert _text(browser, f"{row} td[data-col='last']") == "never"
    assert _text(browser, f"{row} td[data-col='state']") == "active"
    interval = "tr[data-schedule='reports/refresh_cache']"
    assert _text(browser, f"{interval} td[data-col='expression']") == "every 12:00:00"

    _click(browser, By.CSS_SELECTOR, f"{row} button[data-action='pause']")
    _wait(browser, lambda d: "schedule nightly_report (reports): paused" in _text(d, ".flash"))
    assert _text(browser, f"{row} td[data-col='state']") == "paused"
    assert _schedule(site, "nightly_report").paused
    assert not _schedule(site, "refresh_cache").paused
    _click(browser, By.CSS_SELECTOR, f"{row} button[data-action='resume']")
    _wait(browser, lambda d: "schedule nightly_report (reports): resumed" in _text(d, ".flash"))
    assert _text(browser, f"{row} td[data-col='state']") == "active"
    assert not _schedule(site, "nightly_report").paused


def test_job_detail_shows_error_and_traceback(site: tuple[str, str, str], browser: WebDriver) -> None:
    url, _, _ = site
    browser.get(url + "/job/default/fail1")
    assert "failed" in _text(browser, "h1")
    assert "ValueError: broken handler" in _text(browser, "dd.err")
    assert "raise ValueError" in _text(browser, "pre.traceback")
    timeline = _fresh(
        browser, lambda: [e.text.split()[0] for e in browser.find_elements(By.CSS_SELECTOR, "ol.timeline li")]
    )
    assert timeline == [
        "enqueued",
        "started",
        "failed",
    ]
    _click(browser, By.XPATH, "//button[text()='Retry now']")
    _wait(browser, lambda d: "job fail1: retried" in _text(d, ".flash"))
    assert _status(site, "fail1") is JobStatus.QUEUED


def test_workers_page_shows_the_running_job(site: tuple[str, str, str], browser: WebDriver) -> None:
    url, _, _ = site
    browser.get(url + "/workers")
    # The worker registers and claims within a heartbeat; live refresh shows it.
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "section.worker td[data-col='running-for']"), 20)
    assert "long" in _text(browser, "section.worker table")
    assert "sleep" in _text(browser, "section.worker table")


def _attack_page(action: str, token: str) -> str:
    """A page that plants its own CSRF cookie and posts the matching token to ``action``."""
    return f"""<!doctype html><html><body>
<form id="f" method="post" action="{action}">
<input type="hidden" name="csrf" value="{token}"><input type="hidden" name="next" value="/queues">
</form>
<script>
document.cookie = "aioresque_csrf={token}; path=/";
document.getElementById("f").submit();
</script></body></html>"""


@pytest.mark.parametrize("origin", ["foreign", "null"])
def test_a_page_on_another_port_cannot_pause_a_queue(
    site: tuple[str, str, str], browser: WebDriver, origin: str
) -> None:
    # Cookies do not care about ports: a page on 127.0.0.1:<other> can plant
    # an aioresque_csrf cookie that the browser then sends to the dashboard.
    # Posting through a 307 from its own server makes the browser send
    # ``Origin: null``; posting directly sends the foreign origin.
    url, prefix, redis_url = site
    pause = url + "/queues/emails/pause"
    token = secrets.token_urlsafe(32)
    pages = {"/attack": _attack_page("/bounce" if origin == "null" else pause, token)}
    try:
        with foreign_site(pages, {"/bounce": pause}) as evil:
            browser.get(evil + "/attack")
            _wait(browser, lambda d: d.current_url.startswith(url))
            answer = browser.find_element(By.TAG_NAME, "body").text
        assert not _in_redis(redis_url, prefix, lambda q: q.sibling("emails").is_paused()), answer
        assert "CSRF" in answer or "forbidden" in answer.lower()
    finally:
        _in_redis(redis_url, prefix, lambda q: q.sibling("emails").resume())
        browser.get(url + "/")
        browser.delete_all_cookies()


def test_a_page_on_another_port_cannot_frame_the_dashboard(site: tuple[str, str, str], browser: WebDriver) -> None:
    url, _, _ = site
    page = f"""<!doctype html><html><body>
<iframe id="frame" src="{url}/queues" width="900" height="600"></iframe>
<script>document.getElementById("frame").addEventListener("load", function () {{ window.framed = true; }});</script>
</body></html>"""
    with foreign_site({"/frame": page}) as evil:
        browser.get(evil + "/frame")
        _wait(browser, lambda d: d.execute_script("return window.framed === true;"))
        browser.switch_to.frame(browser.find_element(By.ID, "frame"))
        try:
            # Chromium replaces a refused frame with its own error page.
            assert browser.find_elements(By.ID, "live") == []
            assert "emails" not in browser.page_source
        finally:
            browser.switch_to.default_content()


def test_names_with_every_allowed_punctuation_character(site: tuple[str, str, str], browser: WebDriver) -> None:
    url, prefix, redis_url = site
    one, two = f"j{NAME_PUNCTUATION}1", f"j{NAME_PUNCTUATION}2"
    row = f'tr[data-queue="{PUNCTUATED}"]'
    browser.get(url + "/queues")
    _click(browser, By.CSS_SELECTOR, f"{row} a[href*='/jobs/scheduled']")
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-job="{one}"]'))
    listed = _fresh(
        browser, lambda: {r.get_attribute("data-job") for r in browser.find_elements(By.CSS_SELECTOR, "tr[data-job]")}
    )
    assert listed == {one, two}  # this queue's, not the neighbour's
    _click(browser, By.CSS_SELECTOR, f'tr[data-job="{one}"] input[type=checkbox]')
    _click(browser, By.ID, "delete-selected")
    _wait(browser, lambda d: "deleted 1 of 1" in _text(d, ".flash"))
    assert _status(site, one, PUNCTUATED) is JobStatus.NOT_FOUND
    assert _status(site, two, PUNCTUATED) is JobStatus.SCHEDULED
    assert _status(site, one, NEIGHBOUR) is JobStatus.SCHEDULED

    _click(browser, By.CSS_SELECTOR, f'tr[data-job="{two}"] a')
    _wait(browser, lambda d: two in _text(d, "h1"))
    _click(browser, By.XPATH, "//button[text()='Retry now']")
    _wait(browser, lambda d: f"job {two}: retried" in _text(d, ".flash"))
    assert _status(site, two, PUNCTUATED) is JobStatus.QUEUED
    assert _status(site, two, NEIGHBOUR) is JobStatus.SCHEDULED

    browser.get(url + "/queues")
    _click(browser, By.CSS_SELECTOR, f"{row} button[data-action='pause']")
    _wait(browser, lambda d: f"{PUNCTUATED}: paused" in _text(d, ".flash"))
    assert _in_redis(redis_url, prefix, lambda q: q.sibling(PUNCTUATED).is_paused())
    assert not _in_redis(redis_url, prefix, lambda q: q.sibling(NEIGHBOUR).is_paused())


def test_no_page_breaks_its_content_security_policy(site: tuple[str, str, str], browser: WebDriver) -> None:
    # The CSP allows only the package's own script and stylesheet: anything
    # inline would be blocked, and Chromium reports each block on the console.
    url, _, _ = site
    console = cast(Callable[[str], list[dict[str, Any]]], browser.get_log)  # selenium leaves it untyped
    console("browser")  # drop what earlier tests logged
    for path in ("/", "/queues", "/workers", "/cron", "/quarantine", "/jobs/dead", "/job/default/fail2"):
        browser.get(url + path)
        _wait(browser, lambda d: d.execute_script("return document.readyState") == "complete")
        assert browser.execute_script("return getComputedStyle(document.body).margin") == "0px"  # the stylesheet ran
    messages = [entry["message"] for entry in console("browser")]
    assert not [m for m in messages if "Content Security Policy" in m], messages
