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
from urllib.parse import parse_qs, unquote, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import _admin
from .._connect import redact_urls
from .._decode import MAX_MS, number
from .._errors import AioresqueError, ConfigurationError, ConnectionLost, JobNotFound, PermissionDenied
from .._metrics import prometheus_metrics
from .._names import NameKind, check_name, is_valid_name
from .._queue import Queue
from .._registry import list_workers
from .._server import eviction_policy, eviction_warning
from .._status import JobInfo, JobStatus
from ._chart import merge, throughput_svg
from ._filters import ago, duration, json_text, segment, when
from ._schedules import schedule_row
from ._security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SECURITY_HEADERS,
    Auth,
    Csrf,
    Guarded,
    SecurityHeaders,
    allowed,
    load_secret,
    safe_next,
    set_session_cookie,
)

PAGE_SIZE = 50
REFRESH_SECONDS = 3
JOBS_PER_WORKER = 25
QUARANTINE_SHOWN = 200
"""Quarantine entries shown per queue, newest first."""
MAX_PAGE = 100_000
"""The last page number a job list answers (a larger one shows that page)."""
"""Quarantine entries shown per queue, newest first."""
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
    csrf: Csrf


def create_app(
    queue: Queue,
    *,
    read_only: bool = False,
    auth: Auth | None = None,
    title: str = "aioresque",
    owns_queue: bool = False,
    secret: str | bytes | None = None,
) -> Starlette:
    """Build the dashboard for the queues under ``queue``'s prefix (see :func:`aioresque.dashboard`)."""
    env = Environment(loader=PackageLoader("aioresque.dashboard", "templates"), autoescape=select_autoescape())
    env.filters.update(ago=ago, duration=duration, when=when, segment=segment, json_text=json_text)
    env.tests["valid_name"] = is_valid_name
    settings = Settings(read_only, auth, title, Csrf(load_secret(secret)))
    views = _Views(queue, env, settings)
    routes = [
        Route("/", views.overview),
        Route("/queues", views.queues),
        Route("/workers", views.workers),
        Route("/cron", views.cron),
        Route("/quarantine", views.quarantine),
        Route("/jobs/{kind}", views.job_list),
        Route("/job/{queue}/{job_id:path}", views.job_detail),
        Route("/events/job/{queue}/{job_id:path}", views.job_events),
        Route("/metrics", views.metrics),
        Route("/queues/{queue}/{action}", views.queue_action, methods=["POST"]),
        Route("/jobs/{kind}/{action}", views.bulk_action, methods=["POST"]),
        Route("/action/job/{queue}/{action}", views.job_action, methods=["POST"]),
        Route("/action/cron/{queue}/{action}", views.cron_action, methods=["POST"]),
        Route("/action/quarantine/drop", views.quarantine_drop, methods=["POST"]),
        Mount("/static", Guarded(StaticFiles(directory=Path(__file__).parent / "static"), auth), name="static"),
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

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(SecurityHeaders)],
        # PermissionDenied is answered inside the app (403); anything else by the outermost handler (500).
        exception_handlers={PermissionDenied: views.server_error, Exception: views.server_error},
    )
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
        session = self.settings.csrf.session(request)
        html = self.env.get_template(template).render(
            base=base,
            csrf=self.settings.csrf.token(session),
            csrf_field=CSRF_FIELD,
            read_only=self.settings.read_only,
            title=self.settings.title,
            refresh=REFRESH_SECONDS,
            path=request.url.path,
            msg=request.query_params.get("msg"),
            now=datetime.now(UTC),
            **context,
        )
        # Pages carry a CSRF token and job data: no cache (a proxy's or the browser's) may keep them.
        response = HTMLResponse(html, status_code=status_code, headers={"cache-control": "no-store"})
        if request.cookies.get(CSRF_COOKIE) != session:
            set_session_cookie(response, request, session, base or "/")
        return response

    async def server_error(self, request: Request, exc: Exception) -> Response:
        # Answered by Starlette's outermost middleware, past SecurityHeaders: add them here.
        if isinstance(exc, ConnectionLost):
            status, heading = 503, "Redis unreachable"
            message = f"cannot reach Redis: {redact_urls(str(exc))}. The page tries again on reload."
        elif isinstance(exc, PermissionDenied):
            # A read-only Redis user behind a dashboard not started with --read-only.
            status, heading = 403, "Not allowed by Redis"
            message = f"Redis refused this for the dashboard's user: {redact_urls(str(exc))}"
        else:
            status, heading = 500, "Internal error"
            message = f"internal error ({type(exc).__name__}): {redact_urls(str(exc))}"
        try:
            response = self._render(request, "error.html", status, page=None, heading=heading, message=message)
        except Exception:  # noqa: BLE001 - the error page must not fail in turn
            response = PlainTextResponse(message, status_code=status)
        response.headers.update(dict(SECURITY_HEADERS))
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
        if not self.settings.csrf.ok(request, (form.get(CSRF_FIELD) or [""])[0]):
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
        # known_queues leaves out registry members that break the name rule.
        return await self.queue.known_queues()

    def _bad_job_path(self, request: Request, queue_name: str, job_id: str) -> Response | None:
        """The 400 answer when a job page's path names an invalid queue or job id, else None."""
        return self._bad_name(request, queue_name, "queue name") or self._bad_name(request, job_id, "job id")

    def _bad_name(self, request: Request, value: str, kind: NameKind) -> Response | None:
        """A 400 page stating the name rule when ``value`` (from a path or form) breaks it."""
        try:
            check_name(value, kind)
        except ConfigurationError as exc:
            return self._render(request, "error.html", 400, page=None, heading="Bad name", message=str(exc))
        return None

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
            "quarantined": sum(o.quarantined for o in overviews),
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

    async def quarantine(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        queue_name = request.query_params.get("queue") or ""
        if queue_name and (bad := self._bad_name(request, queue_name, "queue name")) is not None:
            return bad
        names = [queue_name] if queue_name else await self._names()
        found = [(name, item) for name in names for item in await self._sibling(name).quarantined(QUARANTINE_SHOWN)]
        return self._render(
            request,
            "quarantine.html",
            page="quarantine",
            found=found,
            names=await self._names(),
            filters=request.query_params,
            shown=QUARANTINE_SHOWN,
        )

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
        if queue_name and (bad := self._bad_name(request, queue_name, "queue name")) is not None:
            return bad
        if kind == "dead" and q.get("status") in {"failed", "dead", "cancelled"}:
            statuses = (JobStatus(q["status"]),)
        try:
            job_filter = _filter_from(q)
            page_no = min(max(1, _page(q.get("page"))), MAX_PAGE)
        except ValueError as exc:
            return self._render(request, "error.html", 400, page=None, message=str(exc))
        targets = [queue_name] if queue_name else names
        jobs: list[JobInfo] = []
        total = unreadable_skipped = 0
        exact = True
        offset = (page_no - 1) * PAGE_SIZE
        if len(targets) == 1:
            result = await self._sibling(targets[0]).list_jobs(statuses, job_filter, offset=offset, limit=PAGE_SIZE)
            jobs, total, exact = result.jobs, result.total, result.exact
            unreadable_skipped = result.unreadable_skipped
        else:
            # Across queues: each queue's first offset+PAGE_SIZE, then one page.
            for name in targets:
                result = await self._sibling(name).list_jobs(statuses, job_filter, limit=offset + PAGE_SIZE)
                jobs += result.jobs
                total += result.total
                exact = exact and result.exact
                unreadable_skipped += result.unreadable_skipped
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
            unreadable_skipped=unreadable_skipped,
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
        if (bad := self._bad_job_path(request, name, job_id)) is not None:
            return bad
        try:
            info = await self._sibling(name).job(job_id).info()
        except (JobNotFound, AioresqueError) as exc:
            return self._render(request, "error.html", 404, page=None, message=str(exc))
        return self._render(request, "job.html", page=None, job=info, timeline=_timeline(info))

    async def job_events(self, request: Request) -> Response:
        """A job's events as Server-Sent Events, for the job page's live timeline (read-only)."""
        if (denied := await self._guard(request)) is not None:
            return denied
        name, job_id = request.path_params["queue"], request.path_params["job_id"]
        if (bad := self._bad_job_path(request, name, job_id)) is not None:
            return bad
        job = self._sibling(name).job(job_id)
        if await job.status() is JobStatus.NOT_FOUND:
            return PlainTextResponse("no such job", status_code=404)

        async def stream() -> AsyncIterator[str]:
            try:
                async for event in job.events():
                    data = {k: v for k, v in event.data.items() if k != "result"}
                    data["at"] = event.at.isoformat()
                    yield f"event: {event.kind}\ndata: {json_text(data)}\n\n"
            except (AioresqueError, JobNotFound) as exc:
                yield f"event: gone\ndata: {json_text({'error': str(exc)})}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

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
        if (bad := self._bad_name(request, name, "queue name")) is not None:
            return bad
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
        raw: dict[str, list[bytes]] = {}  # unreadable records as stored, for scope=unreadable
        skipped = unreadable = 0
        scope = (form.get("scope") or [""])[0]
        if scope == "unreadable" and action != "delete":
            return PlainTextResponse("unreadable records can only be deleted", status_code=404)
        if scope in {"all", "unreadable"}:
            fields = {k: v[0] for k, v in form.items() if v}
            try:
                job_filter = _filter_from(fields)
            except ValueError as exc:
                return self._render(request, "error.html", 400, page=None, message=str(exc))
            if fields.get("queue") and (bad := self._bad_name(request, fields["queue"], "queue name")) is not None:
                return bad
            names = [fields["queue"]] if fields.get("queue") else await self._names()
            if kind == "dead" and fields.get("status") in {"failed", "dead", "cancelled"}:
                statuses = (JobStatus(fields["status"]),)
            for name in names:
                selection = await _admin.select_ids(self._sibling(name), statuses, job_filter)
                if scope == "unreadable":
                    raw[name] = selection.unreadable_raw
                    continue
                unreadable += len(selection.unreadable)
                if selection.ids:
                    selected[name] = selection.ids
            if scope == "unreadable":
                found = sum(len(ids) for ids in raw.values())
                deleted = sum([(await _admin.delete_raw(self._sibling(name), ids))[0] for name, ids in raw.items()])
                return self._back(request, form, f"deleted {deleted} of {found} unreadable record(s)")
        else:
            # Each box is "<queue>/<job id>", both quoted as path segments (see jobs.html).
            for value in form.get("job", []):
                quoted_name, _, quoted_id = value.partition("/")
                name, job_id = unquote(quoted_name), unquote(quoted_id)
                if is_valid_name(name) and is_valid_name(job_id):
                    selected.setdefault(name, []).append(job_id)
                else:
                    skipped += 1
        changed = held = 0
        for name, ids in selected.items():
            if action == "retry":
                outcome = await _admin.retry_outcome(self._sibling(name), ids)
                changed += outcome.retried
                unreadable += len(outcome.unreadable)
                held += len(outcome.skipped)
            else:
                changed += (await _admin.delete_jobs(self._sibling(name), ids))[0]
        count = sum(len(ids) for ids in selected.values())
        verb = "retried" if action == "retry" else "deleted"
        notes = [
            f"skipped {skipped} whose queue or id breaks the name rule" if skipped else "",
            f"left {unreadable} whose record cannot be read" if unreadable else "",
            f"left {held} whose uniqueness lock another job holds" if held else "",
        ]
        return self._back(request, form, "; ".join([f"{verb} {changed} of {count} job(s)", *filter(None, notes)]))

    async def job_action(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        name, action = request.path_params["queue"], request.path_params["action"]
        job_id = (form.get("job_id") or [""])[0]
        if (
            bad := self._bad_name(request, name, "queue name") or self._bad_name(request, job_id, "job id")
        ) is not None:
            return bad
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

    async def quarantine_drop(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        # Each box is "<queue>/<raw bytes in hex>" (see quarantine.html).
        chosen: dict[str, list[bytes]] = {}
        for value in form.get("entry", []):
            name, _, raw = value.partition("/")
            try:
                if is_valid_name(name):
                    chosen.setdefault(name, []).append(bytes.fromhex(raw))
            except ValueError:  # not hex: not a box this page wrote
                continue
        dropped = sum([await self._sibling(name).drop_quarantined(raws) for name, raws in chosen.items()])
        return self._back(request, form, f"dropped {dropped} quarantine entr{'y' if dropped == 1 else 'ies'}")

    async def cron_action(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        name, action = request.path_params["queue"], request.path_params["action"]
        schedule = (form.get("schedule") or [""])[0]
        if action not in {"pause", "resume"}:
            return PlainTextResponse(f"unknown action {action!r}", status_code=404)
        bad = self._bad_name(request, name, "queue name") or self._bad_name(request, schedule, "handler name")
        if bad is not None:
            return bad
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


def _page(text: str | None) -> int:
    """The ``page`` query parameter as a number (1 when absent)."""
    try:
        return int(text or 1)
    except ValueError:  # not digits, or more digits than int() takes
        raise ValueError(f"page must be a whole number, not {(text or '')[:40]!r}") from None


def _filter_from(fields: Any) -> _admin.JobFilter:
    """A job filter from query or form fields (``name``, ``error``, ``older_than``, ``newer_than`` in minutes)."""

    def minutes(key: str) -> float | None:
        text = (fields.get(key) or "").strip()
        if not text:
            return None
        value = number(text, 0.0, MAX_MS / 60_000)
        if value is None:
            raise ValueError(f"{key.replace('_', ' ')} must be a number of minutes, not {text[:40]!r}")
        return value * 60

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
