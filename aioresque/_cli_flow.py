"""``aioresque limits`` and ``aioresque workflow``: looking at flow control.

``limits`` lists a queue's limit groups (running jobs, starts in the rate
window, parked jobs); ``workflow ID`` prints a workflow's status and the
status of each of its jobs. Both take ``--json`` for scripts. They read only
``Queue.limit_groups()``, ``Queue.workflow()`` and ``Job.status()``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

import anyio

from ._cli import connection_options, default_url, fail, name_of
from ._cli_format import clean, paint, shorten, table, use_colour
from ._errors import AioresqueError
from ._limits import LimitGroup
from ._queue import Queue
from ._status import JobStatus


def add_parser(sub: Any) -> None:
    """Add the ``limits`` and ``workflow`` subcommands."""
    p = sub.add_parser("limits", help="show a queue's concurrency and rate limit groups")
    _common(p)
    p.set_defaults(run=_run_limits)

    w = sub.add_parser("workflow", help="show a workflow (chain or group) and its jobs")
    w.add_argument("workflow_id", type=name_of("job id"), help="the workflow's id")
    _common(w)
    w.set_defaults(run=_run_workflow)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue", type=name_of("queue name"), default="default", help="the queue (default: default)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    connection_options(parser)


def _run_limits(args: argparse.Namespace) -> int:
    async def main() -> list[LimitGroup]:
        async with Queue.from_url(args.redis_url or default_url(), args.queue, prefix=args.prefix) as queue:
            return await queue.limit_groups()

    try:
        groups = anyio.run(main)
    except AioresqueError as exc:
        fail(str(exc))
    if args.json:
        print(json.dumps([asdict(g) for g in groups]))
    elif groups:
        colour = use_colour(sys.stdout)
        rows = [
            [shorten(g.group, 80), str(g.running), str(g.recent_starts), str(g.parked)]
            + ([paint(shorten(f"UNREADABLE: {g.unreadable}", 80), "red bold", colour)] if g.unreadable else [""])
            for g in groups
        ]
        print(table(["group", "running", "recent starts", "parked", ""], rows, colour))
    else:
        print(f"queue {clean(args.queue)}: no limit group in use")
    return 0


def _run_workflow(args: argparse.Namespace) -> int:
    async def main() -> dict[str, Any]:
        async with Queue.from_url(args.redis_url or default_url(), args.queue, prefix=args.prefix) as queue:
            flow = await queue.workflow(args.workflow_id)
            info = await flow.info()
            jobs = [*flow.jobs, *([flow.callback] if flow.callback else [])]
            statuses = []
            for job in jobs:
                status = await job.status()
                # A later step (or the callback) has no job until it is created.
                statuses.append("pending" if status is JobStatus.NOT_FOUND else str(status))
            return {
                "id": info.id,
                "kind": info.kind,
                "status": str(info.status),
                "stopped_by": info.stopped_by,
                "jobs": [{"id": j.id, "status": s} for j, s in zip(jobs, statuses, strict=True)],
                "callback": info.callback,
                "unreadable": info.unreadable,
            }

    try:
        data = anyio.run(main)
    except AioresqueError as exc:  # JobNotFound for an unknown workflow
        fail(str(exc))
    if args.json:
        print(json.dumps(data))
        return 0
    if data["unreadable"]:
        print(f"workflow {clean(data['id'])}: its record cannot be read: {clean(data['unreadable'])}")
        return 0
    print(f"{clean(data['kind'])} {clean(data['id'])}: {data['status']}")
    if data["stopped_by"]:
        print(f"stopped by job {clean(data['stopped_by'])}")
    rows = [
        [str(i + 1) if j["id"] != data["callback"] else "then", shorten(j["id"], 80), j["status"]]
        for i, j in enumerate(data["jobs"])
    ]
    print(table(["step", "job", "status"], rows, use_colour(sys.stdout)))
    return 0
