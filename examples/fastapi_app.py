"""Example FastAPI app: the lifespan opens the queue and can run a worker in-process.

Run it with ``uvicorn examples.fastapi_app:app`` (``AIORESQUE_INPROCESS_WORKER=1``
to run jobs inside the web process too; by default a separate
``python -m aioresque worker examples.jobs`` runs them).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request

import aioresque
from examples import jobs


def create_app(
    redis_url: str | None = None, *, prefix: str = "aioresque", inprocess_worker: bool | None = None
) -> FastAPI:
    """Build the app. Arguments default to the environment, for ``uvicorn``."""
    url = redis_url or os.environ.get("AIORESQUE_REDIS_URL", "redis://localhost:6379/0")
    if inprocess_worker is None:
        inprocess_worker = os.environ.get("AIORESQUE_INPROCESS_WORKER") == "1"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with AsyncExitStack() as stack:
            queue = await stack.enter_async_context(aioresque.Queue.from_url(url, prefix=prefix))
            if inprocess_worker:
                # Runs in the background for the app's lifetime; stops gracefully on shutdown.
                await stack.enter_async_context(aioresque.Worker(queue, jobs, concurrency=20))
            yield {"queue": queue}

    app = FastAPI(lifespan=lifespan)

    @app.post("/add")
    async def add(a: int, b: int, request: Request) -> dict[str, str]:
        queue: aioresque.Queue = request.state.queue
        job = await queue.enqueue("add", a, b)
        return {"job_id": job.id}

    @app.get("/jobs/{job_id}")
    async def job_status(job_id: str, request: Request) -> dict[str, Any]:
        queue: aioresque.Queue = request.state.queue
        try:
            info = await queue.job(job_id).info()
        except aioresque.JobNotFound:
            raise HTTPException(status_code=404, detail="no such job") from None
        return {"status": info.status.value, "result": info.result, "error": info.error}

    return app


app = create_app()
