"""Example FastAPI app: a typed producer, with the queue from aioresque's lifespan.

Run it with ``uvicorn examples.fastapi_app:app`` (``AIORESQUE_INPROCESS_WORKER=1``
to run jobs inside the web process too; by default a separate
``python -m aioresque worker examples.jobs`` runs them).
Its tests: ``tests/test_examples.py`` (a real Redis and an in-process
worker) and ``examples/test_fastapi_app.py`` (fake mode, no Redis).
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI, HTTPException

import aioresque
import aioresque.fastapi
from aioresque.fastapi import QueueDep
from examples import jobs


def create_app(
    redis_url: str | None = None, *, prefix: str = "aioresque", inprocess_worker: bool | None = None
) -> FastAPI:
    """Build the app. Arguments default to the environment, for ``uvicorn``."""
    if inprocess_worker is None:
        inprocess_worker = os.environ.get("AIORESQUE_INPROCESS_WORKER") == "1"
    app = FastAPI(
        lifespan=aioresque.fastapi.lifespan(
            redis_url,  # None: $AIORESQUE_REDIS_URL, else redis://localhost:6379/0
            prefix=prefix,
            # Runs jobs in the background for the app's lifetime; stops gracefully on shutdown.
            worker=(lambda queue: aioresque.Worker(queue, jobs, concurrency=20)) if inprocess_worker else None,
        )
    )

    @app.post("/add")
    async def add(a: int, b: int, queue: QueueDep) -> dict[str, str]:
        job = await jobs.add.enqueue(queue, a, b)  # type-checked against jobs.add(a: int, b: int)
        return {"job_id": job.id}

    @app.post("/signup")
    async def signup(email: str, queue: QueueDep) -> dict[str, str]:
        # A stable job id: signing up twice sends one welcome email.
        welcome = jobs.send_email.options(job_id=f"welcome-{email}")
        job = await welcome.enqueue(queue, to=email, subject="Welcome")
        return {"job_id": job.id}

    @app.get("/jobs/{job_id}")
    async def job_status(job_id: str, queue: QueueDep) -> dict[str, Any]:
        try:
            info = await queue.job(job_id).info()
        except aioresque.JobNotFound:
            raise HTTPException(status_code=404, detail="no such job") from None
        return {"status": info.status.value, "result": info.result, "error": info.error}

    return app


app = create_app()
