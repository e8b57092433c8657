"""``aioresque dashboard``: serve the web dashboard on its own, with uvicorn."""

from __future__ import annotations

import argparse
from typing import Any

from ._cli import connection_options, default_url, fail, positive_int


def add_parser(sub: Any) -> None:
    """Add the ``dashboard`` subcommand."""
    p = sub.add_parser("dashboard", help="serve the web dashboard (needs the 'dashboard' extra)")
    connection_options(p)
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=positive_int, default=8000, help="port to listen on (default: 8000)")
    p.add_argument("--read-only", action="store_true", help="show everything, change nothing")
    p.add_argument("--title", default="aioresque", help="name shown in the header (default: aioresque)")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from .dashboard import dashboard
    except ImportError as exc:
        fail(f"the dashboard needs its extra: pip install 'aioresque[dashboard]' ({exc})")
    url = args.redis_url or default_url()
    app = dashboard(url, prefix=args.prefix, read_only=args.read_only, title=args.title)
    address = "http://" + args.host + ":" + str(args.port) + "/"
    print(f"aioresque dashboard for {url} (prefix {args.prefix!r}) on {address}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
