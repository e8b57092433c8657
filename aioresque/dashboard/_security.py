"""The dashboard's guards: CSRF tokens, safe redirects and the auth hook.

CSRF uses the double-submit pattern: every page sets a random token in a
``SameSite=Strict`` cookie and puts the same token in each form; a POST is
accepted only when the form's token equals the cookie's, which a page on
another site can neither read nor set. When the browser sends an ``Origin``
header it must also name this host.
"""

from __future__ import annotations

import hmac
import inspect
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from starlette.requests import Request

CSRF_COOKIE = "aioresque_csrf"
CSRF_FIELD = "csrf"

Auth = Callable[[Request], "bool | Awaitable[bool]"]
"""The auth hook: given the request, True lets it through (may be async)."""


def csrf_token(request: Request) -> str:
    """The request's CSRF token: the cookie's, or a new one to set."""
    token = request.cookies.get(CSRF_COOKIE, "")
    return token if len(token) == 43 else secrets.token_urlsafe(32)


def csrf_ok(request: Request, form_token: str) -> bool:
    """Whether a POST carries the token of its own cookie and comes from this host."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), form_token.encode()):
        return False
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = request.headers.get("host", "")
        return urlsplit(origin).netloc == host
    return True


def safe_next(target: str, base: str) -> str:
    """``target`` if it is a path inside the dashboard, else the dashboard's root.

    Prevents the redirect after an action from sending the browser to
    another site (``//evil.example`` or ``https://...``).
    """
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return base + "/"
    if not (target == base or target.startswith(base + "/")):
        return base + "/"
    return target


async def allowed(auth: Auth | None, request: Request) -> bool:
    """Run the auth hook (sync or async); no hook allows everything."""
    if auth is None:
        return True
    verdict = auth(request)
    if inspect.isawaitable(verdict):
        verdict = await verdict
    return bool(verdict)
