"""The dashboard's Starlette application: pages, actions and the metrics endpoint.

Every page is server-rendered HTML (Jinja2 templates shipped in the
package); ``static/dashboard.js`` refreshes the page's live region in place
every few seconds. Actions are HTML form POSTs guarded by a CSRF token and
answered with a redirect back to the page (post/redirect/get).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import _admin
from .._cli_format import short_duration
from .._errors import AioresqueError, JobNotFound
from .._metrics import prometheus_metrics
from .._queue import Queue
from .._registry import list_workers
from .._server import eviction_policy, eviction_warning
from .._status import JobInfo, JobStatus
from ._chart import merge, throughput_svg
from ._schedules import schedule_row
from ._security import CSRF_COOKIE, CSRF_FIELD, Auth, allowed, csrf_ok, csrf_token, safe_next

PAGE_SIZE = 50
REFRESH_SECONDS = 3
JOBS_PER_WORKER = 25
"""Running jobs shown per worker (each is one Redis read per refresh)."""

# The job lists the dashboard has a page for: URL segment -> (title, statuses).
JOB_LISTS: dict[str, tuple[str, tuple[JobStatus, ...]]] = {
    "queued": ("Queued", (JobStatus.QUEUED,)),
    "scheduled": ("Scheduled", (JobStatus.SCHEDULED,)),
    "retrying": ("Retrying", (JobStatus.RETRYING,)),
    "active": ("Running", (JobStatus.ACTIVE,)),
    "complete": ("Completed", (JobStatus.COMPLETE,)),
    "dead": ("Dead set", (JobStatus.FAILED, JobStatus.DEAD, JobStatus.CANCELLED)),
}


@dataclass(frozen=True, slots=True)
class Settings:
    """How one dashboard instance behaves."""

    read_only: bool
    auth: Auth | None
    title: str


def create_app(
    queue: Queue,
    *,
    read_only: bool = False,
    auth: Auth | None = None,
    title: str = "aioresque",
    owns_queue: bool = False,
) -> Starlette:
    """Build the dashboard for the queues under ``queue``'s prefix (see :func:`aioresque.dashboard`)."""
    env = Environment(loader=PackageLoader("aioresque.dashboard", "templates"), autoescape=select_autoescape())
    env.filters["ago"] = _ago
    env.filters["duration"] = _duration
    env.filters["when"] = _when
    settings = Settings(read_only, auth, title)
    views = _Views(queue, env, settings)
    routes = [
        Route("/", views.overview),
        Route("/queues", views.queues),
        Route("/workers", views.workers),
        Route("/cron", views.cron),
        Route("/jobs/{kind}", views.job_list),
        Route("/job/{queue}/{job_id:path}", views.job_detail),
        Route("/metrics", views.metrics),
        Route("/queues/{queue}/{action}", views.queue_action, methods=["POST"]),
        Route("/jobs/{kind}/{action}", views.bulk_action, methods=["POST"]),
        Route("/action/job/{queue}/{action}", views.job_action, methods=["POST"]),
        Route("/action/cron/{queue}/{action}", views.cron_action, methods=["POST"]),
        Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Runs when the dashboard is served on its own; a mounted app's
        # lifespan is not run by its host, so the host closes its queue.
        try:
            yield
        finally:
            if owns_queue:
                await queue.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.queue = queue
    return app


class _Views:
    def __init__(self, queue: Queue, env: Environment, settings: Settings) -> None:
        self.queue = queue
        self.env = env
        self.settings = settings

    # -- plumbing -----------------------------------------------------------------

    async def _guard(self, request: Request) -> Response | None:
        if not await allowed(self.settings.auth, request):
            return PlainTextResponse("forbidden", status_code=403)
        return None

    def _render(self, request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
        base = request.scope.get("root_path", "").rstrip("/")
        token = csrf_token(request)
        html = self.env.get_template(template).render(
            base=base,
            csrf=token,
            csrf_field=CSRF_FIELD,
            read_only=self.settings.read_only,
            title=self.settings.title,
            refresh=REFRESH_SECONDS,
            path=request.url.path,
            msg=request.query_params.get("msg"),
            now=datetime.now(UTC),
            **context,
        )
        response = HTMLResponse(html, status_code=status_code)
        if request.cookies.get(CSRF_COOKIE) != token:
            response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path=base or "/")
        return response

    async def _form(self, request: Request) -> dict[str, list[str]] | Response:
        """The POST's form fields, after the auth, read-only and CSRF checks."""
        denied = await self._guard(request)
        if denied is not None:
            return denied
        if self.settings.read_only:
            return PlainTextResponse("read-only dashboard", status_code=403)
        body = (await request.body()).decode("utf-8", "replace")
        form = parse_qs(body, keep_blank_values=True)
        if not csrf_ok(request, (form.get(CSRF_FIELD) or [""])[0]):
            return PlainTextResponse("CSRF check failed: reload the page and try again", status_code=403)
        return form

    def _back(self, request: Request, form: dict[str, list[str]], message: str) -> Response:
        base = request.scope.get("root_path", "").rstrip("/")
        target = safe_next((form.get("next") or [""])[0], base).split("?")[0]
        query = (form.get("next") or [""])[0].partition("?")[2]
        params = {k: v for k, v in parse_qs(query).items() if k != "msg"}
        params["msg"] = [message]
        return RedirectResponse(f"{target}?{urlencode(params, doseq=True)}", status_code=303)

    def _sibling(self, name: str) -> Queue:
        return self.queue.sibling(name)

    async def _names(self) -> list[str]:
        return await self.queue.known_queues()

    # -- pages ----------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        names = await self._names()
        overviews = [await self._sibling(n).overview() for n in names]
        series = [await self._sibling(n).history() for n in names]
        points = merge(series) if series else await self.queue.history()
        workers = await list_workers(self.queue.redis, prefix=self.queue.prefix)
        errors = {o.name: await _admin.top_errors(self._sibling(o.name)) for o in overviews if o.dead}
        totals = {
            "queued": sum(o.queued for o in overviews),
            "active": sum(o.active for o in overviews),
            "scheduled": sum(o.scheduled for o in overviews),
            "dead": sum(o.dead for o in overviews),
            "completed": sum(o.counters.get("completed", 0) for o in overviews),
            "failed": sum(o.counters.get("failed", 0) for o in overviews),
            "last_hour": sum(p.completed for p in points),
            "failed_hour": sum(p.failed for p in points),
        }
        policy = await eviction_policy(self.queue.redis)  # None when the user may not read it: no banner
        return self._render(
            request,
            "overview.html",
            page="overview",
            eviction=eviction_warning(policy) if policy is not None else None,
            overviews=overviews,
            workers=workers,
            totals=totals,
            chart=throughput_svg(points),
            errors=errors,
        )

    async def queues(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        overviews = [await self._sibling(n).overview() for n in await self._names()]
        return self._render(request, "queues.html", page="queues", overviews=overviews)

    async def workers(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        workers = await list_workers(self.queue.redis, prefix=self.queue.prefix)
        known = await self._names()
        running: dict[str, list[JobInfo]] = {}
        for w in workers:
            names = [n for n in w.queues if n != "*"] + (known if "*" in w.queues else [])
            jobs = []
            for job_id in w.in_flight[:JOBS_PER_WORKER]:
                for name in names:
                    try:
                        jobs.append(await self._sibling(name).job(job_id).info())
                        break
                    except AioresqueError:  # not in this queue (JobNotFound), or a bad name
                        continue
            running[w.id] = jobs
        return self._render(
            request, "workers.html", page="workers", workers=workers, running=running, shown=JOBS_PER_WORKER
        )

    async def cron(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        # The same reads as ``aioresque cron list``: each known queue's schedules.
        now = datetime.now(UTC)
        rows = [
            schedule_row(info, now) for name in await self._names() for info in await self._sibling(name).schedules()
        ]
        return self._render(request, "cron.html", page="cron", rows=rows)

    async def job_list(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        kind = request.path_params["kind"]
        if kind not in JOB_LISTS:
            return self._render(request, "error.html", 404, page=None, message=f"no job list {kind!r}")
        title, statuses = JOB_LISTS[kind]
        q = request.query_params
        names = await self._names()
        queue_name = q.get("queue") or ""
        if kind == "dead" and q.get("status") in {"failed", "dead", "cancelled"}:
            statuses = (JobStatus(q["status"]),)
        try:
            job_filter = _filter_from(q)
            page_no = max(1, int(q.get("page") or 1))
        except ValueError as exc:
            return self._render(request, "error.html", 400, page=None, message=str(exc))
        targets = [queue_name] if queue_name else names
        jobs: list[JobInfo] = []
        total = 0
        exact = True
        offset = (page_no - 1) * PAGE_SIZE
        if len(targets) == 1:
            result = await self._sibling(targets[0]).list_jobs(statuses, job_filter, offset=offset, limit=PAGE_SIZE)
            jobs, total, exact = result.jobs, result.total, result.exact
        else:
            # Across queues: each queue's first offset+PAGE_SIZE, then one page.
            for name in targets:
                result = await self._sibling(name).list_jobs(statuses, job_filter, limit=offset + PAGE_SIZE)
                jobs += result.jobs
                total += result.total
                exact = exact and result.exact
            jobs = jobs[offset : offset + PAGE_SIZE]
        query = {k: v for k, v in q.items() if k not in {"page", "msg"}}
        return self._render(
            request,
            "jobs.html",
            page=kind,
            kind=kind,
            heading=title,
            jobs=jobs,
            total=total,
            exact=exact,
            page_no=page_no,
            pages=max(1, math.ceil(total / PAGE_SIZE)),
            names=names,
            query=query,
            query_string=urlencode(query),
            filters=q,
            can_retry=kind in {"dead", "scheduled", "retrying"},
            can_delete=kind != "active",
        )

    async def job_detail(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        name, job_id = request.path_params["queue"], request.path_params["job_id"]
        try:
            info = await self._sibling(name).job(job_id).info()
        except (JobNotFound, AioresqueError) as exc:
            return self._render(request, "error.html", 404, page=None, message=str(exc))
        return self._render(request, "job.html", page=None, job=info, timeline=_timeline(info))

    async def metrics(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        text = await prometheus_metrics(self.queue)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    # -- actions ----------------------------------------------------------------------

    async def queue_action(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        name, action = request.path_params["queue"], request.path_params["action"]
        queue = self._sibling(name)
        if action == "pause":
            await queue.pause()
            message = f"{name}: paused"
        elif action == "resume":
            await queue.resume()
            message = f"{name}: resumed"
        elif action == "purge":
            message = f"{name}: deleted {await queue.purge()} waiting job(s)"
        else:
            return PlainTextResponse(f"unknown action {action!r}", status_code=404)
        return self._back(request, form, message)

    async def bulk_action(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        kind, action = request.path_params["kind"], request.path_params["action"]
        if kind not in JOB_LISTS or action not in {"retry", "delete"}:
            return PlainTextResponse("unknown action", status_code=404)
        _, statuses = JOB_LISTS[kind]
        selected: dict[str, list[str]] = {}
        if (form.get("scope") or [""])[0] == "all":
            fields = {k: v[0] for k, v in form.items() if v}
            job_filter = _filter_from(fields)
            names = [fields["queue"]] if fields.get("queue") else await self._names()
            if kind == "dead" and fields.get("status") in {"failed", "dead", "cancelled"}:
                statuses = (JobStatus(fields["status"]),)
            for name in names:
                ids = [i async for i, _ in _admin.matching_ids(self._sibling(name), statuses, job_filter)]
                if ids:
                    selected[name] = ids
        else:
            for value in form.get("job", []):
                name, _, job_id = value.partition("/")
                if name and job_id:
                    selected.setdefault(name, []).append(job_id)
        changed = 0
        for name, ids in selected.items():
            if action == "retry":
                changed += await _admin.retry_jobs(self._sibling(name), ids)
            else:
                changed += (await _admin.delete_jobs(self._sibling(name), ids))[0]
        count = sum(len(ids) for ids in selected.values())
        verb = "retried" if action == "retry" else "deleted"
        return self._back(request, form, f"{verb} {changed} of {count} job(s)")

    async def job_action(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        name, action = request.path_params["queue"], request.path_params["action"]
        job_id = (form.get("job_id") or [""])[0]
        queue = self._sibling(name)
        if action == "retry":
            message = (
                "retried" if await queue.retry_jobs([job_id]) else "not retried (not in the dead or scheduled set)"
            )
        elif action == "delete":
            message = "deleted" if await queue.delete_jobs([job_id]) else "not deleted (running? cancel it first)"
        elif action == "cancel":
            try:
                message = "cancelled" if await queue.cancel(job_id) else "already finished"
            except JobNotFound as exc:
                message = str(exc)
        else:
            return PlainTextResponse(f"unknown action {action!r}", status_code=404)
        return self._back(request, form, f"job {job_id}: {message}")

    async def cron_action(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        name, action = request.path_params["queue"], request.path_params["action"]
        schedule = (form.get("schedule") or [""])[0]
        if action not in {"pause", "resume"}:
            return PlainTextResponse(f"unknown action {action!r}", status_code=404)
        try:
            queue = self._sibling(name)
            found = await (queue.pause_schedule(schedule) if action == "pause" else queue.resume_schedule(schedule))
        except AioresqueError as exc:
            return self._back(request, form, f"schedule {schedule}: {exc}")
        if not found:
            return self._back(request, form, f"no schedule named {schedule!r} in queue {name!r}")
        return self._back(
            request, form, f"schedule {schedule} ({name}): {'paused' if action == 'pause' else 'resumed'}"
        )


def _filter_from(fields: Any) -> _admin.JobFilter:
    """A job filter from query or form fields (``name``, ``error``, ``older_than``, ``newer_than`` in minutes)."""

    def minutes(key: str) -> float | None:
        text = (fields.get(key) or "").strip()
        if not text:
            return None
        try:
            return float(text) * 60
        except ValueError:
            raise ValueError(f"{key.replace('_', ' ')} must be a number of minutes, not {text!r}") from None

    return _admin.JobFilter(
        name=(fields.get("name") or "").strip() or None,
        error=(fields.get("error") or "").strip() or None,
        older_than=minutes("older_than"),
        newer_than=minutes("newer_than"),
    )


def _timeline(info: JobInfo) -> list[tuple[str, datetime]]:
    events = [
        ("enqueued", info.enqueued_at),
        ("started", info.started_at),
        ("due", info.due_at),
        (info.status.value if info.status.finished else "finished", info.finished_at),
    ]
    return sorted(((label, when) for label, when in events if when is not None), key=lambda e: e[1])


def _ago(when: datetime | None) -> str:
    if when is None:
        return "-"
    seconds = (datetime.now(UTC) - when).total_seconds()
    if seconds < 0:
        return "in " + _duration(-seconds)
    return _duration(seconds) + " ago"


def _duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    return f"{seconds:.1f}s" if seconds < 10 else short_duration(seconds)


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")
