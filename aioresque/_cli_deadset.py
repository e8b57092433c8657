"""Dead-set commands: ``failed`` and ``dead`` list, ``retry`` and ``delete`` act.

``retry``/``delete`` take job ids, or with none a filter (``--name``,
``--error``, ``--older-than``, ``--newer-than``) over the jobs of
``--status`` (default: the whole dead set) in one queue or all; bulk runs
ask for confirmation and show progress on a terminal.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from . import _admin
from ._cli import fail, name_of
from ._cli_admin import common, confirm, emit_json, run_command
from ._cli_format import ProgressLine, ago, clean, jsonable, paint, parse_duration, shorten, table, use_colour
from ._queue import Queue
from ._status import JobStatus

DEAD_SET = "failed,dead,cancelled"


def _filters(p: argparse.ArgumentParser, default_status: str) -> None:
    p.add_argument("--queue", type=name_of("queue name"), default=None, help="one queue (default: every known queue)")
    p.add_argument(
        "--status", default=default_status, help=f"comma-separated statuses to select (default: {default_status})"
    )
    p.add_argument("--name", default=None, help="only jobs of this handler name")
    p.add_argument("--error", default=None, help="only jobs whose last error contains this text (any case)")
    p.add_argument("--older-than", type=parse_duration, default=None, metavar="AGE", help="e.g. 30m, 2h, 7d")
    p.add_argument("--newer-than", type=parse_duration, default=None, metavar="AGE", help="e.g. 30m, 2h, 7d")


def add_parser(sub: Any) -> None:
    """Add the dead-set subcommands."""
    for command, status, text in (
        ("failed", "failed", "list jobs whose handler failed on every attempt"),
        ("dead", DEAD_SET, "list the dead set: failed, dead (could not run) and cancelled jobs"),
    ):
        p = sub.add_parser(command, help=text)
        _filters(p, status)
        p.add_argument("--limit", type=int, default=50, help="jobs per queue to show (default: 50)")
        p.add_argument("--offset", type=int, default=0, help="skip this many first (default: 0)")
        common(p)
        p.set_defaults(run=lambda a: run_command(a, _list))

    for command, text in (
        ("retry", "put jobs back on their queue (ids, or every job the filters select)"),
        ("delete", "delete jobs (ids, or every job the filters select); running jobs are skipped"),
    ):
        p = sub.add_parser(command, help=text)
        p.add_argument(
            "job_ids",
            metavar="ID",
            type=name_of("job id"),
            nargs="*",
            help="job ids (default: select with the filters)",
        )
        _filters(p, DEAD_SET)
        p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        if command == "delete":
            p.add_argument(
                "--unreadable",
                action="store_true",
                help="delete the records that cannot be read (of --status, in --queue or every queue) instead",
            )
        common(p)
        p.set_defaults(run=lambda a, c=command: run_command(a, _retry if c == "retry" else _delete))


def _filter(args: argparse.Namespace) -> _admin.JobFilter:
    return _admin.JobFilter(args.name, args.error, args.older_than, args.newer_than)


def _statuses(args: argparse.Namespace) -> tuple[JobStatus, ...]:
    try:
        return _admin.parse_statuses(s.strip() for s in args.status.split(",") if s.strip())
    except Exception as exc:  # noqa: BLE001 - a bad --status is a usage error, said in one line
        fail(str(exc))


async def _queues(queue: Queue, args: argparse.Namespace) -> list[Queue]:
    names = [args.queue] if args.queue else await queue.known_queues()
    return [queue.sibling(n) for n in names]


async def _list(queue: Queue, args: argparse.Namespace) -> int:
    statuses = _statuses(args)
    pages = {}
    for q in await _queues(queue, args):
        pages[q.name] = await q.list_jobs(statuses, _filter(args), offset=args.offset, limit=args.limit)
    if args.json:
        emit_json({name: [dataclasses.asdict(j) for j in page.jobs] for name, page in pages.items()})
        return 0
    colour = use_colour(sys.stdout)
    rows = []
    total = skipped = 0
    for page in pages.values():
        total += page.total
        skipped += page.unreadable_skipped
        for j in page.jobs:
            status = paint(j.status.value, "yellow" if j.status is JobStatus.CANCELLED else "red", colour)
            if j.unreadable is not None:
                unreadable = paint(shorten(f"UNREADABLE: {j.unreadable}", 60), "red bold", colour)
                rows.append([shorten(j.id, 40), clean(j.queue), "?", status, "-", "-", "-", unreadable])
                continue
            rows.append(
                [
                    shorten(j.id, 40),
                    clean(j.queue),
                    shorten(j.name, 40),
                    status,
                    str(j.attempts),
                    ago(j.finished_at or j.due_at or j.enqueued_at),
                    "?" if j.payload_error else shorten(json.dumps(jsonable([*j.args]), default=str), 30),
                    shorten(j.error or j.payload_error or "", 60),
                ]
            )
    if skipped:
        print(
            paint(
                f"{skipped} unreadable record(s) passed over by the filter (list without one to see them)",
                "dim",
                colour,
            )
        )
    if not rows:
        print("no matching jobs")
        return 0
    print(table(["ID", "QUEUE", "NAME", "STATUS", "ATT", "AGE", "ARGS", "ERROR"], rows, colour))
    shown = len(rows)
    if total > shown:
        print(paint(f"{shown} of {total} shown (--limit/--offset for more)", "dim", colour))
    return 0


async def _selected(queue: Queue, args: argparse.Namespace, unreadable: list[str]) -> dict[str, list[str]]:
    """Job ids to act on, by queue: the given ids, or the filters' selection.

    Records the filters had to pass over because they cannot be read are
    appended to ``unreadable`` (as ``queue/id``).
    """
    if args.job_ids:
        if args.queue:
            return {args.queue: list(args.job_ids)}
        by_queue: dict[str, list[str]] = {}
        for job_id in args.job_ids:
            for q in await _queues(queue, args):
                if await q.job(job_id).status() is not JobStatus.NOT_FOUND:
                    by_queue.setdefault(q.name, []).append(job_id)
                    break
            else:
                print(f"{clean(job_id)}: no such job in any known queue", file=sys.stderr)
        return by_queue
    statuses = _statuses(args)
    selected = {}
    for q in await _queues(queue, args):
        selection = await _admin.select_ids(q, statuses, _filter(args))
        if selection.ids:
            selected[q.name] = selection.ids
        unreadable.extend(f"{q.name}/{i}" for i in selection.unreadable)
    return selected


async def _act(queue: Queue, args: argparse.Namespace, verb: str) -> int:
    unreadable: list[str] = []
    selected = await _selected(queue, args, unreadable)
    count = sum(len(ids) for ids in selected.values())
    if unreadable and not args.json:
        hint = " (aioresque delete --unreadable removes them)" if verb == "delete" else ""
        print(f"{len(unreadable)} unreadable record(s) skipped: {_listed(unreadable)}{hint}", file=sys.stderr)
    if count == 0:
        if args.json:
            emit_json({"selected": 0, "changed": 0, "running_skipped": 0, "unreadable_skipped": unreadable})
        else:
            print("no matching jobs")
        return 0
    if not args.job_ids and not confirm(f"{verb.capitalize()} {count} job(s)?", args):
        print("nothing changed")
        return 1
    changed = skipped = 0
    before = len(unreadable)
    refused: dict[str, str] = {}
    progress = ProgressLine(f"{verb}:")
    try:
        for name, ids in selected.items():
            if verb == "retry":
                outcome = await _admin.retry_outcome(queue.sibling(name), ids, progress)
                changed += outcome.retried
                refused.update(outcome.skipped)
                unreadable.extend(f"{name}/{i}" for i in outcome.unreadable)
            else:
                d, r = await _admin.delete_jobs(queue.sibling(name), ids, progress)
                changed += d
                skipped += r
    finally:
        progress.close()
    if args.json:
        report: dict[str, object] = {"selected": count, "changed": changed, "running_skipped": skipped}
        report["unreadable_skipped"] = unreadable
        if verb == "retry":
            report["unique_skipped"] = refused
        emit_json(report)
        return 0
    done = "put back on their queue" if verb == "retry" else "deleted"
    print(f"{changed} of {count} job(s) {done}", end="")
    print(f" ({skipped} running, skipped: cancel them first)" if skipped else "")
    for job_id, holder in refused.items():
        print(f"{clean(job_id)}: not retried, job {clean(holder)} holds its uniqueness lock (a duplicate)")
    if verb == "retry" and len(unreadable) > before:
        print(f"{len(unreadable) - before} job(s) not retried: their records cannot be read (delete them by id)")
    return 0


def _listed(ids: list[str], most: int = 5) -> str:
    shown = ", ".join(shorten(i, 60) for i in ids[:most])
    return shown + (f" and {len(ids) - most} more" if len(ids) > most else "")


async def _retry(queue: Queue, args: argparse.Namespace) -> int:
    return await _act(queue, args, "retry")


async def _delete(queue: Queue, args: argparse.Namespace) -> int:
    if args.unreadable:
        return await _delete_unreadable(queue, args)
    return await _act(queue, args, "delete")


async def _delete_unreadable(queue: Queue, args: argparse.Namespace) -> int:
    """``delete --unreadable``: remove the records no filter can select (ids that are not UTF-8 included)."""
    if args.job_ids or not _filter(args).empty:
        fail("--unreadable takes no ids and no --name/--error/--older-than/--newer-than (only --status, --queue)")
    statuses = _statuses(args)
    found = {}
    for q in await _queues(queue, args):
        selection = await _admin.select_ids(q, statuses)
        if selection.unreadable_raw:
            found[q.name] = selection
    count = sum(len(s.unreadable_raw) for s in found.values())
    if count == 0:
        if args.json:
            emit_json({"selected": 0, "deleted": 0, "running_skipped": 0})
        else:
            print("no unreadable records")
        return 0
    shown = [f"{name}/{i}" for name, s in found.items() for i in s.unreadable]
    if not confirm(f"Delete {count} unreadable record(s) ({_listed(shown)})?", args):
        print("nothing changed")
        return 1
    deleted = running = 0
    progress = ProgressLine("delete:")
    try:
        for name, selection in found.items():
            d, r = await _admin.delete_raw(queue.sibling(name), selection.unreadable_raw, progress)
            deleted += d
            running += r
    finally:
        progress.close()
    if args.json:
        emit_json({"selected": count, "deleted": deleted, "running_skipped": running})
    else:
        print(f"{deleted} of {count} unreadable record(s) deleted", end="")
        print(f" ({running} running, skipped: cancel them first)" if running else "")
    return 0
