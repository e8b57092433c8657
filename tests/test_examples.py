"""The examples run as documented."""

from __future__ import annotations

import sys
from typing import Any

import anyio
import httpx

from aioresque import Queue, Worker
from examples import jobs, producer
from examples.fastapi_app import create_app
from tests.cli_helpers import run


def test_quickstart_runs_a_worker_process(redis_url: str) -> None:
    # On the suite's server, never on whatever answers on localhost:6379; the
    # quick start without a server is in tests/test_devserver.py.
    result = run([sys.executable, "examples/quickstart.py"], timeout=60, env={"AIORESQUE_REDIS_URL": redis_url})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"using $AIORESQUE_REDIS_URL: {redis_url}\n")
    assert "20 results" in result.stdout
    assert "send_email complete" in result.stderr


async def test_producer_with_an_in_process_worker(redis_url: str, prefix: str, queue: Queue) -> None:
    async with Worker(queue, jobs, concurrency=20):
        results = await producer.main(redis_url, prefix=prefix)
    assert results[0] == 5
    assert results[1] == "hello ada@example.com: 'Welcome' sent on attempt 1"
    assert results[3] == 3
    assert results[4:] == [11 * i for i in range(16)]
    with anyio.fail_after(5):
        while (await queue.statistics()).counters.get("completed", 0) < 23:
            await anyio.sleep(0.02)


async def test_fastapi_app_enqueues_and_runs_jobs_in_process(redis_url: str, prefix: str) -> None:
    app = create_app(redis_url, prefix=prefix, inprocess_worker=True)
    # Run the app's lifespan as a server would, then talk to it over ASGI.
    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(app=_with_state(app, state))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            job_id = (await client.post("/add", params={"a": 20, "b": 22})).json()["job_id"]
            with anyio.fail_after(5):
                while (body := (await client.get(f"/jobs/{job_id}")).json())["status"] != "complete":
                    await anyio.sleep(0.02)
            assert body == {"status": "complete", "result": 42, "error": None}
            assert (await client.get("/jobs/nope")).status_code == 404


def _with_state(app: Any, state: Any) -> Any:
    """Wrap the app so each request carries the lifespan state, as servers do."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope = {**scope, "state": dict(state)}
        await app(scope, receive, send)

    return asgi
