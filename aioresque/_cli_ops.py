"""``aioresque workers`` and ``aioresque recover``: operating a fleet.

``workers`` lists the worker registry (pruning expired registrations first);
``--json`` prints one JSON object per worker for scripts and dashboards, and
``--check`` turns it into a liveness probe: exit 0 only if a worker on this
host has a fresh registration. ``recover`` puts jobs whose lease expired
back on their queues now, for when no worker runs to do it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
from typing import Any

import anyio

from ._cli import connection_options, default_url, fail, queue_list
from ._cli_admin import worker_table
from ._cli_format import clean, shorten, table, use_colour
from ._connect import close_client, connect
from ._errors import AioresqueError, PermissionDenied
from ._recovery import RecoveryReport, recover_queues
from ._registry import WorkerInfo, list_workers, prune_workers

EXIT_UNHEALTHY = 1


def add_parser(sub: Any) -> None:
    """Add the ``workers`` and ``recover`` subcommands."""
    w = sub.add_parser("workers", help="list registered workers (stale ones flagged)")
    connection_options(w)
    w.add_argument("--json", action="store_true", help="print one JSON object per line")
    w.add_argument(
        "--check",
        nargs="?",
        const=socket.gethostname(),
        default=None,
        metavar="HOST",
        help="liveness probe: exit 1 unless a worker on HOST (default: this host) has a fresh registration",
    )
    w.set_defaults(run=_run_workers)

    r = sub.add_parser("recover", help="requeue jobs whose worker vanished (expired leases), now")
    connection_options(r)
    r.add_argument(
        "--queues", type=queue_list, default="*", help="comma-separated queues, or '*' for every known queue (default)"
    )
    r.add_argument("--max-lost", type=int, default=3, help="losses before a job goes to the dead set (default: 3)")
    r.set_defaults(run=_run_recover)


def worker_json(info: WorkerInfo) -> dict[str, Any]:
    """A worker's registration as a JSON-ready dict (times in ISO 8601, UTC)."""
    return {
        "id": info.id,
        "host": info.host,
        "pid": info.pid,
        "queues": list(info.queues),
        "concurrency": info.concurrency,
        "lease": info.lease,
        "started_at": info.started_at.isoformat(),
        "last_heartbeat": info.last_heartbeat.isoformat(),
        "in_flight": list(info.in_flight),
        "paused": info.paused,
        "stale": info.stale,
        "unreadable": info.unreadable,
    }


def _run_workers(args: argparse.Namespace) -> int:
    async def main() -> list[WorkerInfo]:
        redis = connect(args.redis_url or default_url())
        try:
            with contextlib.suppress(PermissionDenied):  # a read-only ACL user skips the housekeeping
                await prune_workers(redis, prefix=args.prefix)
            return await list_workers(redis, prefix=args.prefix)
        finally:
            await close_client(redis)

    try:
        workers = anyio.run(main)
    except AioresqueError as exc:
        fail(str(exc))
    if args.check is not None:
        fresh = [w for w in workers if w.host == args.check and not w.stale and w.unreadable is None]
        if not fresh:
            print(f"no live worker registered on {clean(args.check)}", file=sys.stderr)
            return EXIT_UNHEALTHY
        print(f"{len(fresh)} live worker(s) on {clean(args.check)}")
        return 0
    if args.json:
        for info in workers:
            print(json.dumps(worker_json(info)))
    elif workers:
        colour = use_colour(sys.stdout)
        print(table(*worker_table(workers, colour), colour))
    else:
        print("no workers registered")
    return 0


def _run_recover(args: argparse.Namespace) -> int:
    names = [q.strip() for q in args.queues.split(",") if q.strip()]
    queues = None if names in ([], ["*"]) else names

    async def main() -> RecoveryReport:
        redis = connect(args.redis_url or default_url())
        try:
            return await recover_queues(redis, queues, prefix=args.prefix, max_lost=args.max_lost)
        finally:
            await close_client(redis)

    try:
        report = anyio.run(main)
    except AioresqueError as exc:
        fail(str(exc))
    for name, count in sorted(report.recovered.items()):
        print(f"{clean(name)}: {count} job(s) recovered")
    for name, error in sorted(report.errors.items()):
        print(f"{clean(name)}: recovery failed: {shorten(error, 300)}", file=sys.stderr)
    print(f"recovered {report.total} job(s)")
    return 1 if report.errors else 0
