"""aioresque.fastapi: the lifespan, the queue dependency and overriding it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request

import aioresque
import aioresque.fastapi
from aioresque import ConfigurationError, Queue
from aioresque._connect import Client
from aioresque.fastapi import QUEUE_STATE_KEY, WORKER_STATE_KEY, QueueDep, get_queue, lifespan
from aioresque.testing import FakeQueue
from tests import jobs_for_tests
from tests.conftest import single_node_only


def _app(queue: str | Queue | None = None, **options: object) -> FastAPI:
    app = FastAPI(lifespan=lifespan(queue, **options))  # type: ignore[arg-type]

    @app.post("/enqueue")
    async def enqueue(queue: QueueDep) -> dict[str, str]:
        job = await queue.enqueue("add", 1, 2)
        return {"job_id": job.id, "queue": queue.name}

    return app


@asynccontextmanager
async def _started(app: FastAPI) -> AsyncIterator[Mapping[str, Any]]:
    """Run the app's lifespan as a server would."""
    async with app.router.lifespan_context(app) as state:
        assert state is not None
        yield state


def _with_state(app: FastAPI, state: Mapping[str, Any] | None) -> Any:
    """The app, with the lifespan state in each request as servers put it."""

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if state is not None:
            scope = {**scope, "state": dict(state)}
        await app(scope, receive, send)

    return asgi


async def _post(app: FastAPI, state: Mapping[str, Any] | None = None) -> httpx.Response:
    """POST /enqueue."""
    transport = httpx.ASGITransport(app=_with_state(app, state))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post("/enqueue")


@single_node_only
async def test_lifespan_opens_and_closes_a_queue_from_a_url(redis_url: str, prefix: str, redis: Client) -> None:
    app = _app(redis_url, name="web", prefix=prefix)
    async with _started(app) as state:
        queue = state[QUEUE_STATE_KEY]
        assert isinstance(queue, Queue) and (queue.name, queue.prefix) == ("web", prefix)
        assert state[WORKER_STATE_KEY] is None
        response = await _post(app, state)
        assert response.json()["queue"] == "web"
        assert (await queue.statistics()).queued == 1
        client_id = await queue.redis.client_id()
        assert client_id in {int(c["id"]) for c in await redis.client_list()}
    # The queue's connections were closed with the app (the server drops a closed
    # client a moment after the socket closes: wait for it, two seconds at most).
    with anyio.move_on_after(2):
        while client_id in {int(c["id"]) for c in await redis.client_list()}:
            await anyio.sleep(0.02)
    assert client_id not in {int(c["id"]) for c in await redis.client_list()}


async def test_lifespan_with_a_worker_runs_jobs_in_process(queue: Queue) -> None:
    app = _app(queue, worker=jobs_for_tests)
    async with _started(app) as state:
        worker = state[WORKER_STATE_KEY]
        assert isinstance(worker, aioresque.Worker)
        job = queue.job((await _post(app, state)).json()["job_id"])
        assert await job.result(timeout=10) == 3
    assert await queue.redis.ping()  # a queue passed in is left open
    assert worker.statistics().running == 0


async def test_a_worker_factory_chooses_the_settings(queue: Queue) -> None:
    made: list[aioresque.Worker] = []

    def factory(q: Queue) -> aioresque.Worker:
        made.append(aioresque.Worker(q, jobs_for_tests, queues=["high", "default"], concurrency=3))
        return made[-1]

    app = _app(queue, worker=factory)
    async with _started(app) as state:
        assert made == [state[WORKER_STATE_KEY]]
        assert (made[0].queue_names, made[0].concurrency) == (("high", "default"), 3)
    with pytest.raises(ConfigurationError, match="worker must be"):
        lifespan(queue, worker="examples.jobs")  # type: ignore[arg-type]


async def test_the_dependency_explains_a_missing_lifespan_and_can_be_overridden() -> None:
    app = _app()
    with pytest.raises(ConfigurationError, match="no aioresque queue"):
        await _post(app)
    fake = FakeQueue()
    app.dependency_overrides[get_queue] = lambda: fake
    assert (await _post(app)).status_code == 200
    fake.assert_enqueued("add", 1, 2)


async def test_the_dashboard_is_mounted_while_the_app_runs(queue: Queue) -> None:
    with pytest.raises(ConfigurationError, match="dashboard_auth"):
        lifespan(queue, dashboard_path="/admin/jobs")
    seen: list[str] = []

    def auth(request: Request) -> bool:
        seen.append(request.url.path)
        return request.headers.get("x-admin") == "yes"

    app = _app(queue, dashboard_path="/admin/jobs", dashboard_auth=auth, dashboard_read_only=True)
    async with _started(app) as state:
        transport = httpx.ASGITransport(app=_with_state(app, state))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            page = await client.get("/admin/jobs/", headers={"x-admin": "yes"})
            refused = await client.get("/admin/jobs/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert refused.status_code == 403
    assert seen and all(path.startswith("/admin/jobs") for path in seen)
    assert not any(getattr(r, "path", "").startswith("/admin") for r in app.routes)  # unmounted on shutdown
