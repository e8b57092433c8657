"""``aioresque quarantine [QUEUE]``: list, and drop, what was kept aside as not a job.

Lists every entry of the queue's quarantine (every known queue's without
QUEUE): when, where it was found, why, and the raw bytes shown escaped.
``--delete ENTRY ...`` drops the entries whose shown text (or raw bytes)
is ENTRY; ``--delete-all`` empties the quarantine after asking (``--yes``
skips the question, and is required without a terminal). It reads and
changes Redis only through ``Queue.quarantined()``, ``Queue.drop_quarantined()``
and ``Queue.clear_quarantine()``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._cli import name_of, positive_int
from ._cli_admin import common, confirm, emit_json, run_command
from ._cli_format import ago, clean, paint, shorten, table, use_colour
from ._quarantine import LIST_LIMIT, QuarantinedItem
from ._queue import Queue


def add_parser(sub: Any) -> None:
    """Add the ``quarantine`` subcommand."""
    p = sub.add_parser("quarantine", help="list (or drop) what was found in a queue that cannot be a job")
    p.add_argument(
        "queue",
        metavar="QUEUE",
        type=name_of("queue name"),
        nargs="?",
        default=None,
        help="one queue (default: every known queue)",
    )
    p.add_argument("--delete", nargs="+", default=None, metavar="ENTRY", help="drop these entries (as listed)")
    p.add_argument("--delete-all", action="store_true", help="drop every entry (asks first)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--limit", type=positive_int, default=LIST_LIMIT, help=f"entries per queue to show (default: {LIST_LIMIT})"
    )
    common(p)
    p.set_defaults(run=lambda a: run_command(a, _run))


def item_json(queue: str, item: QuarantinedItem) -> dict[str, Any]:
    """One entry as a JSON-ready dict: the raw bytes in hex, the time in ISO 8601."""
    return {
        "queue": queue,
        "entry": item.text,
        "raw_hex": item.raw.hex(),
        "at": item.at.isoformat() if item.at else None,
        "where": item.where,
        "reason": item.reason,
    }


async def _run(queue: Queue, args: argparse.Namespace) -> int:
    names = [args.queue] if args.queue else await queue.known_queues()
    queues = [queue.sibling(n) for n in names]
    if args.delete_all:
        return await _delete_all(queues, args)
    found = {q.name: await q.quarantined(args.limit) for q in queues}
    if args.delete:
        return await _delete(queue, found, args)
    if args.json:
        emit_json([item_json(name, item) for name, items in found.items() for item in items])
        return 0
    rows = [
        [clean(name), ago(i.at), shorten(i.where, 20), shorten(i.reason, 60), shorten(i.text, 80)]
        for name, items in found.items()
        for i in items
    ]
    if not rows:
        print("nothing quarantined")
        return 0
    colour = use_colour(sys.stdout)
    print(table(["QUEUE", "AGE", "WHERE", "REASON", "ENTRY"], rows, colour))
    for q in queues:
        if len(found[q.name]) >= args.limit and (total := (await q.overview()).quarantined) > args.limit:
            print(paint(f"{clean(q.name)}: {args.limit} of {total} shown (--limit for more)", "dim", colour))
    print(paint("drop entries with --delete ENTRY... or --delete-all", "dim", colour))
    return 0


async def _delete(queue: Queue, found: dict[str, list[QuarantinedItem]], args: argparse.Namespace) -> int:
    wanted = set(args.delete)
    dropped = 0
    for name, items in found.items():
        raws = [i.raw for i in items if i.text in wanted or i.raw in {w.encode() for w in wanted}]
        dropped += await queue.sibling(name).drop_quarantined(raws)
    if args.json:
        emit_json({"requested": len(wanted), "dropped": dropped})
    else:
        print(f"dropped {dropped} of {len(wanted)} entr{'y' if len(wanted) == 1 else 'ies'}")
    return 0


async def _delete_all(queues: list[Queue], args: argparse.Namespace) -> int:
    counts = {q.name: (await q.overview()).quarantined for q in queues}
    total = sum(counts.values())
    if total == 0:
        print("nothing quarantined")
        return 0
    if not confirm(f"Drop all {total} quarantined entr{'y' if total == 1 else 'ies'}?", args):
        print("nothing dropped")
        return 1
    dropped = sum([await q.clear_quarantine() for q in queues if counts[q.name]])
    if args.json:
        emit_json({"dropped": dropped})
    else:
        print(f"dropped {dropped} entr{'y' if dropped == 1 else 'ies'}")
    return 0
