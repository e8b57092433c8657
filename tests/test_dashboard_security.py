"""The dashboard's guards over HTTP: CSRF bound to a secret, origin checks, headers, static auth, secrets."""

from __future__ import annotations

import re
import secrets
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request

import aioresque
from aioresque import ConfigurationError, Queue
from aioresque._connect import redact_url, redact_urls
from aioresque.dashboard._security import SECRET_ENV, Csrf
from tests.cli_helpers import ROOT

SECRET = "s" * 32


def _app(queue: Queue, **options: object) -> Starlette:
    return aioresque.dashboard(queue, secret=SECRET, **options)  # type: ignore[arg-type]


@pytest.fixture
async def client(queue: Queue) -> AsyncIterator[httpx.AsyncClient]:
    await queue.enqueue("add", 1, 2, _job_id="one")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(queue)), base_url="http://dash") as c:
        yield c


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


async def _token(client: httpx.AsyncClient) -> str:
    page = await client.get("/queues")
    assert page.status_code == 200
    return _csrf(page.text)


HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def _assert_secure_headers(response: httpx.Response) -> None:
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, (response.url, name)
    csp = response.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "script-src 'self'" in csp and "style-src 'self'" in csp


async def test_every_response_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    token = await _token(client)
    responses = [
        await client.get("/"),
        await client.get("/jobs/queued"),
        await client.get("/job/default/one"),
        await client.get("/job/default/nope"),  # 404 page
        await client.get("/jobs/dead", params={"older_than": "soon"}),  # 400 page
        await client.get("/no/such/page"),  # Starlette's own 404
        await client.get("/static/dashboard.js"),
        await client.get("/static/dashboard.css"),
        await client.get("/metrics"),
        await client.post("/queues/default/pause", data={"csrf": "forged"}),  # 403
        await client.post("/queues/default/resume", data={"csrf": token, "next": "/queues"}),  # 303
    ]
    assert [r.status_code for r in responses] == [200, 200, 200, 404, 400, 404, 200, 200, 200, 403, 303]
    for response in responses:
        _assert_secure_headers(response)
    for response in responses[:5]:  # the pages: each carries a CSRF token
        assert response.headers["cache-control"] == "no-store"


async def test_templates_need_no_inline_script_or_style(client: httpx.AsyncClient) -> None:
    # The CSP allows only the package's own files: anything inline would be blocked.
    for path in ("/", "/queues", "/workers", "/cron", "/quarantine", "/jobs/queued", "/job/default/one"):
        html = (await client.get(path)).text
        assert "<style" not in html and " style=" not in html, path
        assert all('src="' in tag for tag in re.findall(r"<script[^>]*>", html)), path
        assert not re.search(r"\son[a-z]+=", html), path  # no inline event handlers


async def test_an_error_page_carries_the_headers_and_no_password(queue: Queue) -> None:
    def auth(request: Request) -> bool:
        raise RuntimeError("cannot reach redis://admin:hunter2@db.internal:6379/0")

    app = _app(queue, auth=auth)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://dash") as c:
        response = await c.get("/")
    assert response.status_code == 500
    assert "hunter2" not in response.text and "redis://admin:***@db.internal:6379/0" in response.text
    _assert_secure_headers(response)


async def test_origin_null_is_refused(client: httpx.AsyncClient, queue: Queue) -> None:
    token = await _token(client)
    refused = await client.post("/queues/default/pause", data={"csrf": token}, headers={"origin": "null"})
    assert refused.status_code == 403 and not await queue.is_paused()
    other_port = await client.post(
        "/queues/default/pause", data={"csrf": token}, headers={"origin": "http://dash:8081"}
    )
    assert other_port.status_code == 403 and not await queue.is_paused()
    foreign_referer = await client.post(
        "/queues/default/pause", data={"csrf": token}, headers={"referer": "http://evil.example/page"}
    )
    assert foreign_referer.status_code == 403 and not await queue.is_paused()
    broken = await client.post("/queues/default/pause", data={"csrf": token}, headers={"origin": "http://[::1"})
    assert broken.status_code == 403 and not await queue.is_paused()
    odd_next = await client.post("/queues/default/resume", data={"csrf": token, "next": "//[::1"})
    assert odd_next.status_code == 303
    same = await client.post(
        "/queues/default/pause", data={"csrf": token}, headers={"origin": "http://dash", "referer": "http://dash/"}
    )
    assert same.status_code == 303 and await queue.is_paused()


async def test_a_planted_cookie_with_a_matching_token_is_refused(queue: Queue) -> None:
    # What a page on another port of the same host can do: set any cookie and post any token.
    await queue.enqueue("add", 1, 2)
    planted = secrets.token_urlsafe(32)
    foreign = Csrf(b"x" * 32).token(planted)  # signed with a secret other than the dashboard's
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(queue)), base_url="http://dash") as c:
        c.cookies.set("aioresque_csrf", planted)
        for token in (planted, foreign, ""):
            response = await c.post("/queues/default/pause", data={"csrf": token})
            assert response.status_code == 403 and not await queue.is_paused()
        # The planted session id itself is harmless: the page hands out the token for it.
        token = _csrf((await c.get("/queues")).text)
        assert token not in (planted, foreign)
        assert (await c.post("/queues/default/pause", data={"csrf": token})).status_code == 303


async def test_processes_sharing_a_secret_accept_each_others_forms(
    queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    await queue.enqueue("add", 1, 2)
    one = aioresque.dashboard(queue, secret=SECRET)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    two = aioresque.dashboard(queue)  # the same secret, from the environment
    monkeypatch.delenv(SECRET_ENV)
    three = aioresque.dashboard(queue)  # a random secret of its own
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=one), base_url="http://dash") as c:
        token = _csrf((await c.get("/queues")).text)
        session = c.cookies["aioresque_csrf"]
    for app, status in ((three, 403), (two, 303)):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dash") as c:
            c.cookies.set("aioresque_csrf", session)
            response = await c.post("/queues/default/pause", data={"csrf": token})
            assert response.status_code == status
    assert await queue.is_paused()


def test_a_short_secret_is_refused(queue: Queue) -> None:
    with pytest.raises(ConfigurationError, match="at least 16 bytes"):
        aioresque.dashboard(queue, secret="short")


async def test_the_cookie_is_secure_over_https(queue: Queue) -> None:
    for base, secure in (("https://dash", True), ("http://dash", False)):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(queue)), base_url=base) as c:
            cookie = (await c.get("/")).headers["set-cookie"]
        assert ("secure" in cookie.lower().split("; ")) is secure, cookie
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()


async def test_static_files_sit_behind_the_auth_hook(queue: Queue) -> None:
    app = _app(queue, auth=lambda request: request.headers.get("x-user") == "ops")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dash") as c:
        for path in ("/static/dashboard.js", "/static/dashboard.css", "/static/nope.js"):
            refused = await c.get(path)
            assert refused.status_code == 403 and "aioresque" not in refused.text
            _assert_secure_headers(refused)
        allowed = await c.get("/static/dashboard.js", headers={"x-user": "ops"})
        assert allowed.status_code == 200 and "live refresh" in allowed.text


def test_redact_url_hides_passwords() -> None:
    assert redact_url("redis://:hunter2@h:6379/0") == "redis://:***@h:6379/0"
    assert redact_url("rediss://user:p@ss/w@h:1/0") == "rediss://user:***@h:1/0"
    assert redact_url("redis+cluster://u:pw@a:1,b:2") == "redis+cluster://u:***@a:1,b:2"
    assert redact_url("redis://h:1/0?password=pw&db=1") == "redis://h:1/0?password=***&db=1"
    assert redact_url("redis://h:1/0") == "redis://h:1/0"
    assert redact_urls("bad host 'x' in 'redis://:pw@x/0'") == "bad host 'x' in 'redis://:***@x/0'"
    assert redact_urls("invalid queue name 'a@b'") == "invalid queue name 'a@b'"  # not a URL: untouched


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_start_line_shows_no_password(redis_url: str, prefix: str) -> None:
    # The test Redis needs no password: a wrong one is still never printed.
    url = redis_url.replace("redis://", "redis://admin:hunter2@", 1)
    command = [sys.executable, "-m", "aioresque", "dashboard", "--redis-url", url]
    command += ["--prefix", prefix, "--port", str(_free_port())]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # printed before the server starts
        finally:
            proc.kill()
    assert line.startswith("aioresque dashboard for ") and "hunter2" not in line
    assert "admin:***@" in line

    bad = subprocess.run(
        [sys.executable, "-m", "aioresque", "dashboard", "--redis-url", "redis+cluster://u:hunter2@nohostport"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert bad.returncode == 2 and "hunter2" not in bad.stderr + bad.stdout and "u:***@" in bad.stderr


def test_the_secret_file(tmp_path: Path) -> None:
    from aioresque.dashboard._security import read_secret_file

    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    assert read_secret_file(str(path)) == SECRET.encode()
    path.write_text("short\n")
    with pytest.raises(ConfigurationError, match="at least 16 bytes"):
        read_secret_file(str(path))
    missing = subprocess.run(
        [sys.executable, "-m", "aioresque", "dashboard", "--secret-file", str(tmp_path / "nope")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert missing.returncode == 2 and "cannot read the secret file" in missing.stderr


HOSTILE_GETS = [
    "/job/default/%00",
    "/job/default/%FF%FE",
    "/job/%C3%A9/x",
    "/job/" + "q" * 5000 + "/x",
    "/job/default/" + "%2F" * 50,
    "/job/default/..%2F..%2Fetc",
    "/jobs/dead?queue=%00",
    "/jobs/dead?queue=%FF",
    "/jobs/dead?status=%FF&name=%00&error=%FF%FE",
    "/jobs/dead?older_than=1e308&newer_than=nan",
    "/jobs/queued?page=-1",
    "/jobs/%FF",
    "/quarantine?queue=" + "x" * 10_000,
    "/static/..%2F_app.py",
    "/static/%00",
    "/?msg=" + "%1B[2J" * 100,
]


@pytest.mark.parametrize("path", HOSTILE_GETS)
async def test_hostile_paths_and_queries_never_get_a_500(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code < 500, response.text[-500:]
    _assert_secure_headers(response)


async def test_hostile_forms_and_cookies_never_get_a_500(client: httpx.AsyncClient, queue: Queue) -> None:
    token = await _token(client)
    posts: list[tuple[str, bytes | dict[str, str | list[str]]]] = [
        ("/queues/default/pause", b"csrf=\xff\xfe&next=\xff"),
        ("/queues/default/frobnicate", {"csrf": token}),
        ("/jobs/dead/retry", {"csrf": token, "scope": "selected", "job": ["", "/", "%", "%ZZ/%ZZ", "default/%FF"]}),
        ("/jobs/dead/delete", {"csrf": token, "scope": "all", "older_than": "nan"}),
        ("/jobs/nowhere/retry", {"csrf": token}),
        ("/action/job/default/retry", {"csrf": token}),
        ("/action/job/default/cancel", {"csrf": token, "job_id": "nope"}),
        ("/action/cron/default/pause", {"csrf": token}),
        ("/queues/default/pause", {"csrf": token * 1000}),
    ]
    for path, body in posts:
        if isinstance(body, bytes):
            response = await client.post(
                path, content=body, headers={"content-type": "application/x-www-form-urlencoded"}
            )
        else:
            response = await client.post(path, data=body)
        assert response.status_code < 500, (path, response.text[-500:])
    client.cookies.set("aioresque_csrf", "\x7f" * 43)
    assert (await client.get("/")).status_code == 200
    assert not await queue.is_paused()


async def test_an_unreachable_redis_is_a_503_page_without_the_password() -> None:
    app = aioresque.dashboard(f"redis://admin:hunter2@127.0.0.1:{_free_port()}/0", secret=SECRET)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://dash") as c:
        response = await c.get("/queues")
    assert response.status_code == 503 and "Redis unreachable" in response.text
    assert "hunter2" not in response.text
    _assert_secure_headers(response)
