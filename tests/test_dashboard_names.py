"""The dashboard addresses every name the name rule allows, and refuses the rest with the rule.

On 0.x main a queue named ``a/b`` made "delete selected" on its job ``x``
delete job ``b/x`` of queue ``a``: the checkbox said ``a/b/x``. Such names are
now refused at enqueue; these tests drive every link and form of the pages
with names made of every allowed punctuation character, and check that each
action reaches exactly the queue and job it names.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import anyio
import httpx
import pytest

import aioresque
from aioresque import Call, JobStatus, Queue, Worker
from aioresque._names import NAME_PUNCTUATION, NAME_RULE
from tests import jobs_for_tests

QUEUE = f"q{NAME_PUNCTUATION}Z"
"""``q-_.:@+=Z``: every punctuation character the rule allows."""
NEIGHBOUR = f"q{NAME_PUNCTUATION[:-1]}"
"""A queue whose name is a prefix of QUEUE's, holding jobs with the same ids."""
JOB = f"j{NAME_PUNCTUATION}1"
OTHER = f"j{NAME_PUNCTUATION}2"


@aioresque.job(every=timedelta(hours=12), queue=QUEUE, name=f"tick{NAME_PUNCTUATION}")
async def tick() -> None:
    """A schedule in the punctuated queue, under a punctuated handler name."""


@pytest.fixture
async def client(queue: Queue) -> AsyncIterator[httpx.AsyncClient]:
    for name in (QUEUE, NEIGHBOUR):
        # "add" with one argument: dead at once, so the jobs can be retried and deleted.
        await queue.enqueue_many(
            [Call("add", (1,), job_id=JOB, queue=name), Call("add", (1,), job_id=OTHER, queue=name)]
        )
    with anyio.fail_after(20):
        await Worker(queue, jobs_for_tests, queues=[QUEUE, NEIGHBOUR], burst=True).run()
    async with Worker(queue.sibling(QUEUE), [tick]):
        with anyio.fail_after(10):
            while not await queue.sibling(QUEUE).schedules():
                await anyio.sleep(0.02)
    app = aioresque.dashboard(queue)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dash") as c:
        yield c


def _attr(page: str, pattern: str) -> str:
    """The first attribute value matching ``pattern`` (a regex with one group), unescaped."""
    match = re.search(pattern, page)
    assert match is not None, pattern
    return html.unescape(match.group(1))


def _csrf(page: str) -> str:
    return _attr(page, r'name="csrf" value="([^"]+)"')


async def _status(queue: Queue, name: str, job_id: str) -> JobStatus:
    return await queue.sibling(name).job(job_id).status()


async def test_the_queue_table_links_and_actions_reach_the_right_queue(client: httpx.AsyncClient, queue: Queue) -> None:
    page = (await client.get("/queues")).text
    assert f'data-queue="{QUEUE}"' in page
    row = _attr(page, rf'(?s)(<tr data-queue="{re.escape(QUEUE)}">.*?</tr>)')
    dead_link = _attr(row, r'href="([^"]*/jobs/dead\?[^"]*)"')
    listing = await client.get(dead_link)
    assert listing.status_code == 200 and f'data-job="{JOB}"' in listing.text
    assert f"<td>{QUEUE}</td>" in listing.text and f"<td>{NEIGHBOUR}</td>" not in listing.text
    pause = _attr(row, r'action="([^"]*/pause)"')
    response = await client.post(pause, data={"csrf": _csrf(page), "next": "/queues"})
    assert response.status_code == 303
    assert await queue.sibling(QUEUE).is_paused() and not await queue.sibling(NEIGHBOUR).is_paused()


async def test_delete_selected_deletes_exactly_the_selected_job(client: httpx.AsyncClient, queue: Queue) -> None:
    page = (await client.get("/jobs/dead", params={"queue": QUEUE})).text
    box = _attr(page, rf'<tr data-job="{re.escape(JOB)}">\s*<td><input type="checkbox" name="job" value="([^"]+)"')
    response = await client.post(
        "/jobs/dead/delete", data={"csrf": _csrf(page), "scope": "selected", "job": box, "next": "/jobs/dead"}
    )
    assert response.status_code == 303 and "deleted+1+of+1" in response.headers["location"]
    assert await _status(queue, QUEUE, JOB) is JobStatus.NOT_FOUND
    assert await _status(queue, QUEUE, OTHER) is JobStatus.DEAD
    assert await _status(queue, NEIGHBOUR, JOB) is JobStatus.DEAD


async def test_the_job_page_and_its_actions(client: httpx.AsyncClient, queue: Queue) -> None:
    listing = (await client.get("/jobs/dead", params={"queue": QUEUE})).text
    link = _attr(listing, r'<a href="(/job/[^"]+)">' + re.escape(OTHER))
    detail = await client.get(link)
    assert detail.status_code == 200 and f"<code>{OTHER}</code>" in detail.text
    retry = _attr(detail.text, r'action="([^"]*/retry)"')
    response = await client.post(retry, data={"csrf": _csrf(detail.text), "job_id": OTHER, "next": link})
    assert response.status_code == 303 and "retried" in response.headers["location"]
    assert await _status(queue, QUEUE, OTHER) is JobStatus.QUEUED
    assert await _status(queue, NEIGHBOUR, OTHER) is JobStatus.DEAD
    back = await client.get(response.headers["location"])
    assert back.status_code == 200 and f"<code>{OTHER}</code>" in back.text


async def test_the_cron_page_pauses_a_punctuated_schedule(client: httpx.AsyncClient, queue: Queue) -> None:
    page = (await client.get("/cron")).text
    pause = _attr(page, r'action="([^"]*/action/cron/[^"]*/pause)"')
    response = await client.post(pause, data={"csrf": _csrf(page), "schedule": tick.name, "next": "/cron"})
    assert response.status_code == 303
    [info] = await queue.sibling(QUEUE).schedules()
    assert info.paused


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("GET", "/job/a*b/x", None),
        ("GET", "/job/default/a%20b", None),
        ("GET", "/job/default/a/b", None),
        ("GET", "/jobs/dead?queue=a%2Fb", None),
        ("POST", "/queues/a%5B1%5D/pause", {}),
        ("POST", "/action/job/default/retry", {"job_id": ""}),
        ("POST", "/action/cron/default/pause", {"schedule": "a b"}),
        ("POST", "/jobs/dead/delete", {"scope": "all", "queue": "a?"}),
    ],
)
async def test_a_name_that_breaks_the_rule_gets_400_with_the_rule(
    client: httpx.AsyncClient, method: str, path: str, data: dict[str, str] | None
) -> None:
    if data is not None:
        data["csrf"] = _csrf((await client.get("/queues")).text)
    response = await client.request(method, path, data=data)
    assert response.status_code == 400
    assert html.escape(NAME_RULE, quote=True) in response.text or NAME_RULE in response.text


async def test_a_box_that_names_no_valid_job_is_skipped(client: httpx.AsyncClient, queue: Queue) -> None:
    page = (await client.get("/jobs/dead")).text
    response = await client.post(
        "/jobs/dead/delete", data={"csrf": _csrf(page), "scope": "selected", "job": ["a/b/x", f"{QUEUE}/a%2Fb"]}
    )
    assert response.status_code == 303 and "skipped+2" in response.headers["location"]
    assert await _status(queue, QUEUE, JOB) is JobStatus.DEAD
