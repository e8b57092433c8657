"""The dashboard's guards: CSRF tokens, origin checks, security headers, safe redirects and the auth hook.

CSRF: each browser gets a random session id in the ``aioresque_csrf``
cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` over HTTPS). Every form
carries the token ``HMAC-SHA256(secret, session id)``, where the secret is
the dashboard's own (random per process unless configured). A POST is
accepted only when its token matches its cookie under that secret, so a page
on another port of the same host, which can plant a cookie of its choosing,
still cannot produce a matching token. A POST must also not come from
another origin: an ``Origin`` header must name this host (``Origin: null``,
sent by sandboxed frames and cross-origin redirects, is refused), and
without one a ``Referer`` must.

Headers: every response forbids framing (``X-Frame-Options: DENY`` and CSP
``frame-ancestors 'none'``), allows only the package's own scripts and
styles, turns off MIME sniffing and keeps the Referer on this origin.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._errors import ConfigurationError

CSRF_COOKIE = "aioresque_csrf"
CSRF_FIELD = "csrf"
SECRET_ENV = "AIORESQUE_DASHBOARD_SECRET"
"""The environment variable a dashboard reads its CSRF secret from when none is passed."""
MIN_SECRET_BYTES = 16

Auth = Callable[[Request], "bool | Awaitable[bool]"]
"""The auth hook: given the request, True lets it through (may be async)."""

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-frame-options", "DENY"),
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
)
"""Sent with every response of the dashboard, errors and static files included."""

_SESSION_LENGTH = 43  # secrets.token_urlsafe(32)


def load_secret(secret: str | bytes | None = None) -> bytes:
    """The dashboard's CSRF secret: ``secret``, else ``$AIORESQUE_DASHBOARD_SECRET``, else random.

    Several dashboard processes behind one load balancer need the same
    secret, or a form rendered by one is refused by another.

    Raises:
        ConfigurationError: the secret given is shorter than 16 bytes.
    """
    if secret is None:
        secret = os.environ.get(SECRET_ENV) or None
    if secret is None:
        return secrets.token_bytes(32)
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(raw) < MIN_SECRET_BYTES:
        raise ConfigurationError(f"the dashboard secret must be at least {MIN_SECRET_BYTES} bytes")
    return raw


def read_secret_file(path: str) -> bytes:
    """A secret from a file (surrounding whitespace stripped), for ``--secret-file``.

    Raises:
        ConfigurationError: the file cannot be read or holds too short a secret.
    """
    try:
        raw = Path(path).read_bytes().strip()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the secret file {path!r}: {exc.strerror}") from None
    return load_secret(raw)


class Csrf:
    """Issues and checks CSRF tokens bound to one dashboard's secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def session(self, request: Request) -> str:
        """The request's session id: its cookie's, or a new one to set."""
        session = request.cookies.get(CSRF_COOKIE, "")
        return session if len(session) == _SESSION_LENGTH else secrets.token_urlsafe(32)

    def token(self, session: str) -> str:
        """The form token for a session id."""
        digest = hmac.new(self._secret, session.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def ok(self, request: Request, form_token: str) -> bool:
        """Whether a POST carries its own cookie's token and comes from this host."""
        session = request.cookies.get(CSRF_COOKIE, "")
        if len(session) != _SESSION_LENGTH:
            return False
        if not hmac.compare_digest(self.token(session).encode(), form_token.encode(errors="replace")):
            return False
        return same_origin(request)


def same_origin(request: Request) -> bool:
    """Whether the request's ``Origin`` (or, without one, ``Referer``) names this host.

    ``Origin: null`` is refused. A request with neither header (a script,
    ``curl``) passes: the token alone protects it, as no browser sends a
    cross-site POST without ``Origin``.
    """
    host = request.headers.get("host", "")
    origin = request.headers.get("origin")
    if origin is not None:
        return origin != "null" and _netloc(origin) == host
    referer = request.headers.get("referer")
    if referer is not None:
        return _netloc(referer) == host
    return True


def _netloc(url: str) -> str | None:
    """The ``host:port`` of a URL from a header or form, or None when it cannot be parsed."""
    try:
        return urlsplit(url).netloc
    except ValueError:  # e.g. "http://[::1": an unclosed IPv6 bracket
        return None


def set_session_cookie(response: Response, request: Request, session: str, path: str) -> None:
    """Set the CSRF session cookie on ``response`` (``Secure`` when served over HTTPS)."""
    response.set_cookie(
        CSRF_COOKIE,
        session,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=path,
    )


def safe_next(target: str, base: str) -> str:
    """``target`` if it is a path inside the dashboard, else the dashboard's root.

    Prevents the redirect after an action from sending the browser to
    another site (``//evil.example`` or ``https://...``).
    """
    try:
        parts = urlsplit(target)
    except ValueError:  # not a URL at all
        return base + "/"
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


class SecurityHeaders:
    """ASGI middleware: add :data:`SECURITY_HEADERS` to every response of ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS if k.encode() not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Guarded:
    """ASGI wrapper: run the auth hook before ``app`` (the static files), 403 when it refuses."""

    def __init__(self, app: ASGIApp, auth: Auth | None) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not await allowed(self.auth, Request(scope, receive)):
            await PlainTextResponse("forbidden", status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)
