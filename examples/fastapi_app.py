"""Example FastAPI app: a typed producer, with the queue from aioresque's lifespan.

Run it with ``uvicorn examples.fastapi_app:app`` (``AIORESQUE_INPROCESS_WORKER=1``
to run jobs inside the web process too; by default a separate
``python -m aioresque worker examples.jobs`` runs them).
Its tests: ``tests/test_examples.py`` (a real Redis and an in-process
worker), ``tests/test_progress_browser.py`` (the progress page in a real
browser) and ``examples/test_fastapi_app.py`` (fake mode, no Redis).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, StreamingResponse

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

    # --8<-- [start:progress]
    @app.post("/exports")
    async def start_export(rows: int, queue: QueueDep) -> dict[str, str]:
        job = await jobs.export_report.enqueue(queue, rows)
        return {"job_id": job.id, "progress_page": f"/exports/{job.id}"}

    @app.get("/jobs/{job_id}/events")
    async def job_events(job_id: str, queue: QueueDep) -> StreamingResponse:
        """The job's life as Server-Sent Events: started, progress..., then its end."""
        job = queue.job(job_id)
        if await job.status() is aioresque.JobStatus.NOT_FOUND:
            raise HTTPException(status_code=404, detail="no such job")

        async def stream() -> AsyncIterator[str]:
            try:
                async for event in job.events():  # blocking reads on Redis, no polling
                    data = {"job_id": event.job_id, "at": event.at.isoformat(), **event.data}
                    yield f"event: {event.kind}\ndata: {json.dumps(data, default=str)}\n\n"
            except aioresque.JobNotFound:
                yield 'event: dead\ndata: {"error": "no such job"}\n\n'

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/exports/{job_id}", response_class=HTMLResponse)
    async def export_page(job_id: str) -> str:
        """A tiny page with a progress bar fed by the events endpoint."""
        return PROGRESS_PAGE.replace("JOB_ID", json.dumps(job_id))

    # --8<-- [end:progress]
    return app


PROGRESS_PAGE = """<!doctype html>
<meta charset="utf-8"><title>Export</title>
<p><progress id="bar" max="1" value="0"></progress> <span id="message">waiting for a worker…</span></p>
<p id="status">queued</p>
<script>
const events = new EventSource("/jobs/" + encodeURIComponent(JOB_ID) + "/events");
const show = (id, text) => { document.getElementById(id).textContent = text; };
events.addEventListener("started", () => show("status", "running"));
events.addEventListener("progress", (e) => {
  const d = JSON.parse(e.data);
  document.getElementById("bar").value = d.value;
  if (d.message) show("message", d.message);
});
events.addEventListener("retrying", (e) => show("status", "retrying: " + JSON.parse(e.data).error));
for (const end of ["completed", "failed", "dead", "cancelled"]) {
  events.addEventListener(end, (e) => {
    if (end === "completed") document.getElementById("bar").value = 1;
    show("status", end);
    events.close();
  });
}
</script>
"""

app = create_app()
