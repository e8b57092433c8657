"""The command line: ``python -m aioresque COMMAND ...`` (also the ``aioresque`` script).

This module builds the parser and holds helpers every command shares; each
command lives in its own ``_cli_<command>.py`` module.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from ._keys import DEFAULT_PREFIX
from ._queue import DEFAULT_URL

EXIT_USAGE = 2
log = logging.getLogger("aioresque.cli")


def _commands() -> list[Any]:
    # Each command module defines add_parser(subparsers), which sets the
    # parser's default ``run`` to the function that carries out the command.
    from . import _cli_admin, _cli_cron, _cli_dashboard, _cli_deadset, _cli_devserver, _cli_flow, _cli_ops, _cli_worker

    return [_cli_worker, _cli_ops, _cli_admin, _cli_deadset, _cli_dashboard, _cli_cron, _cli_flow, _cli_devserver]


def default_url() -> str:
    """The Redis URL a command uses when ``--redis-url`` is not given."""
    return os.environ.get("AIORESQUE_REDIS_URL", DEFAULT_URL)


def connection_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--redis-url`` and ``--prefix``, the options every command that talks to Redis takes."""
    parser.add_argument("--redis-url", default=None, help=f"Redis URL (default: $AIORESQUE_REDIS_URL or {DEFAULT_URL})")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help=f"Redis key namespace (default: {DEFAULT_PREFIX})")


def positive_float(text: str) -> float:
    """argparse type: a non-negative number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="aioresque", description="asyncio job queue on Redis")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _commands():
        command.add_parser(sub)
    return parser


def fail(message: str) -> NoReturn:
    """Print a one-line error and exit with code 2."""
    print(f"aioresque: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m aioresque`` and the ``aioresque`` script."""
    args = build_parser().parse_args(argv)
    result: int = args.run(args)
    return result
