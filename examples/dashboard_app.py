"""The dashboard mounted inside a FastAPI app, behind the app's own check.

Run it with ``uvicorn examples.dashboard_app:app`` and open
http://127.0.0.1:8000/jobs/ with the header ``X-Admin-Token: let-me-in``
(or put a login of your own in ``is_admin``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.requests import Request

import aioresque

ADMIN_TOKEN = os.environ.get("ADMIN_TOKEN", "let-me-in")


def is_admin(request: Request) -> bool:
    """The dashboard's auth hook: here a shared token; in your app, your session check."""
    return request.headers.get("x-admin-token") == ADMIN_TOKEN


def create_app(redis_url: str, *, prefix: str = "aioresque") -> FastAPI:
    """A FastAPI app with the dashboard under ``/jobs``."""
    queue = aioresque.Queue.from_url(redis_url, prefix=prefix)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with queue:  # closes the queue's connections on shutdown
            yield

    app = FastAPI(lifespan=lifespan)
    app.state.queue = queue
    app.mount("/jobs", aioresque.dashboard(queue, auth=is_admin))

    @app.get("/")
    async def home() -> dict[str, str]:
        return {"dashboard": "/jobs/"}

    return app


app = create_app(os.environ.get("AIORESQUE_REDIS_URL", "redis://localhost:6379/0"))
