"""The web dashboard: an ASGI app (Starlette) to watch and operate queues.

Mount it in a FastAPI or Starlette app::

    app.mount("/jobs", aioresque.dashboard(queue))

or run it on its own: ``python -m aioresque dashboard --redis-url URL``.
Needs the ``dashboard`` extra (``pip install 'aioresque[dashboard]'``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._keys import DEFAULT_PREFIX
from .._queue import Queue

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from ._security import Auth


def dashboard(
    queue_or_url: Queue | str,
    *,
    read_only: bool = False,
    auth: Auth | None = None,
    prefix: str = DEFAULT_PREFIX,
    title: str = "aioresque",
    secret: str | bytes | None = None,
) -> Starlette:
    """Create the dashboard ASGI app for every queue under one prefix.

    Args:
        queue_or_url: a :class:`~aioresque.Queue` (its client and prefix are
            used; any queue of the prefix will do) or a Redis URL.
        read_only: hide every action and refuse every POST with 403.
        auth: called with each ``starlette.requests.Request`` (sync or
            async); a false answer gets 403. Use it to check the host app's
            session or a header; see ``docs/dashboard.md``.
        prefix: the key namespace when ``queue_or_url`` is a URL.
        title: shown in the page header and the browser tab.
        secret: the key CSRF tokens are signed with (at least 16 bytes).
            Default: ``$AIORESQUE_DASHBOARD_SECRET``, else a random key made
            at start. Give every process the same secret when several serve
            one dashboard behind a load balancer; see ``docs/dashboard.md``.

    Returns:
        A Starlette app, to ``app.mount(...)`` or serve with uvicorn.

    Raises:
        ConfigurationError: ``secret`` is shorter than 16 bytes.
        ImportError: the ``dashboard`` extra (starlette, jinja2) is not installed.
    """
    from ._app import create_app

    if isinstance(queue_or_url, str):
        queue = Queue.from_url(queue_or_url, prefix=prefix)
        return create_app(queue, read_only=read_only, auth=auth, title=title, owns_queue=True, secret=secret)
    return create_app(queue_or_url, read_only=read_only, auth=auth, title=title, secret=secret)


__all__ = ["dashboard"]
