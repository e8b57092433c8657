"""``aioresque dashboard``: serve the web dashboard on its own, with uvicorn."""

from __future__ import annotations

import argparse
from typing import Any

from ._cli import connection_options, default_url, fail, positive_int
from ._connect import redact_url, redact_urls
from ._errors import AioresqueError


def add_parser(sub: Any) -> None:
    """Add the ``dashboard`` subcommand."""
    p = sub.add_parser("dashboard", help="serve the web dashboard (needs the 'dashboard' extra)")
    connection_options(p)
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=positive_int, default=8000, help="port to listen on (default: 8000)")
    p.add_argument("--read-only", action="store_true", help="show everything, change nothing")
    p.add_argument("--title", default="aioresque", help="name shown in the header (default: aioresque)")
    p.add_argument(
        "--secret-file",
        metavar="PATH",
        help="file holding the key CSRF tokens are signed with; give every process behind one load balancer "
        "the same (default: $AIORESQUE_DASHBOARD_SECRET, else a random key per process)",
    )
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from .dashboard import dashboard
        from .dashboard._security import read_secret_file
    except ImportError as exc:
        fail(f"the dashboard needs its extra: pip install 'aioresque[dashboard]' ({exc})")
    url = args.redis_url or default_url()
    try:
        secret = read_secret_file(args.secret_file) if args.secret_file else None
        app = dashboard(url, prefix=args.prefix, read_only=args.read_only, title=args.title, secret=secret)
    except AioresqueError as exc:
        fail(redact_urls(str(exc)))
    address = "http://" + args.host + ":" + str(args.port) + "/"
    print(f"aioresque dashboard for {redact_url(url)} (prefix {args.prefix!r}) on {address}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
