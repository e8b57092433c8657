"""A user-side test of examples/fastapi_app.py in fake mode: no Redis, no worker.

The app's queue dependency is replaced with a FakeQueue; the test checks
what the endpoint enqueued, then runs the jobs with ``drain()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

import aioresque.fastapi
from aioresque.testing import FakeQueue, InlineQueue
from examples import jobs
from examples.fastapi_app import create_app


@pytest.fixture
def queue() -> FakeQueue:
    return FakeQueue(jobs)  # the handlers drain() runs


@pytest.fixture
async def client(queue: FakeQueue) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app()
    app.dependency_overrides[aioresque.fastapi.get_queue] = lambda: queue
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


async def test_signup_enqueues_one_welcome_email(client: httpx.AsyncClient, queue: FakeQueue) -> None:
    for _ in range(2):
        response = await client.post("/signup", params={"email": "ada@example.com"})
        assert response.status_code == 200
    queue.assert_enqueued(jobs.send_email, to="ada@example.com", subject="Welcome")
    assert len(queue.jobs) == 1  # the stable job id made the second signup a no-op

    await queue.drain()  # run the jobs, as a worker would
    status = (await client.get(f"/jobs/{response.json()['job_id']}")).json()
    assert status == {
        "status": "complete",
        "result": "hello ada@example.com: 'Welcome' sent on attempt 1",
        "error": None,
    }


async def test_add_runs_at_once_in_inline_mode() -> None:
    app = create_app()
    inline = InlineQueue(jobs)  # each job runs as it is enqueued, in the request
    app.dependency_overrides[aioresque.fastapi.get_queue] = lambda: inline
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        job_id = (await client.post("/add", params={"a": 20, "b": 22})).json()["job_id"]
        status = (await client.get(f"/jobs/{job_id}")).json()
    assert status == {"status": "complete", "result": 42, "error": None}
