"""Admin commands: ``info``, ``queues``, ``job``, ``enqueue``, ``cancel``, ``pause``, ``resume``, ``purge``.

Each reads or changes Redis only through the public :class:`Queue` API and
:mod:`aioresque._admin`; output is a table for people (coloured on a
terminal) or JSON with ``--json``. The dead-set commands (``failed``,
``dead``, ``retry``, ``delete``) live in :mod:`aioresque._cli_deadset`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import anyio
from redis.exceptions import ResponseError

from . import _admin, _quarantine
from ._cli import connection_options, default_url, fail, name_of
from ._cli_format import ProgressLine, ago, clean, jsonable, paint, short_duration, shorten, table, use_colour
from ._errors import AioresqueError, JobNotFound
from ._queue import Queue
from ._registry import WorkerInfo, list_workers
from ._server import eviction_policy, eviction_warning
from ._status import JobInfo, JobStatus

EXIT_PROBLEMS = 1
LATENCY_WARNING = 60.0
"""Seconds the oldest waiting job may wait before ``info`` calls the queue stuck."""
SHOWN = 10_000
"""Most characters of a job's arguments, result or error ``aioresque job`` prints (``--json`` prints all)."""


def common(parser: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    """Add ``--redis-url``, ``--prefix`` (and ``--json``) to a command."""
    connection_options(parser)
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def add_parser(sub: Any) -> None:
    """Add the admin subcommands."""
    p = sub.add_parser("info", help="queues, workers and what is stuck and why, at a glance")
    common(p)
    p.set_defaults(run=lambda a: run_command(a, _info))

    p = sub.add_parser("queues", help="every queue with sizes, latency and counters")
    common(p)
    p.set_defaults(run=lambda a: run_command(a, _queues))

    p = sub.add_parser("job", help="everything recorded about one job")
    p.add_argument("job_id", metavar="ID", type=name_of("job id"))
    p.add_argument(
        "--queue", type=name_of("queue name"), default=None, help="the job's queue (default: search every queue)"
    )
    common(p)
    p.set_defaults(run=lambda a: run_command(a, _job))

    p = sub.add_parser("enqueue", help="enqueue a job: NAME followed by JSON arguments")
    p.add_argument("name", metavar="NAME", type=name_of("handler name"))
    p.add_argument("args", metavar="ARG", nargs="*", help="JSON values, e.g. 1 '\"text\"' '{\"a\": 1}'")
    p.add_argument("--kwargs", default=None, help="JSON object of keyword arguments")
    p.add_argument("--queue", type=name_of("queue name"), default="default", help="queue (default: default)")
    p.add_argument("--id", dest="job_id", type=name_of("job id"), default=None, help="job id (default: random)")
    p.add_argument("--delay", type=float, default=None, help="seconds before it may run")
    p.add_argument("--max-attempts", type=int, default=None, help="attempts before it is dead")
    p.add_argument("--timeout", type=float, default=None, help="seconds an attempt may run")
    p.add_argument("--at", type=_aware_time, default=None, help="run no earlier than this ISO time with an offset")
    p.add_argument(
        "--unique",
        nargs="?",
        const=True,
        default=None,
        metavar="KEY",
        help="enqueue only if no equal job waits or runs (KEY: the uniqueness key; default: name + arguments)",
    )
    p.add_argument("--limit-key", default=None, help="the key its handler's concurrency/rate limits count under")
    common(p)
    p.set_defaults(run=lambda a: run_command(a, _enqueue))

    p = sub.add_parser("cancel", help="cancel a job (waiting or running)")
    p.add_argument("job_id", metavar="ID", type=name_of("job id"))
    p.add_argument(
        "--queue", type=name_of("queue name"), default=None, help="the job's queue (default: search every queue)"
    )
    common(p)
    p.set_defaults(run=lambda a: run_command(a, _cancel))

    for verb, text in (("pause", "stop workers claiming from QUEUE"), ("resume", "let workers claim from QUEUE")):
        p = sub.add_parser(verb, help=text)
        p.add_argument("queue", metavar="QUEUE", type=name_of("queue name"))
        common(p, json_flag=False)
        p.set_defaults(run=lambda a, v=verb: run_command(a, _pause if v == "pause" else _resume))

    p = sub.add_parser("purge", help="delete every job waiting in QUEUE (asks first)")
    p.add_argument("queue", metavar="QUEUE", type=name_of("queue name"))
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    common(p, json_flag=False)
    p.set_defaults(run=lambda a: run_command(a, _purge))


def run_command(args: argparse.Namespace, command: Callable[[Queue, argparse.Namespace], Awaitable[int]]) -> int:
    """Open the queue, run an async command, translate errors into one-line messages."""

    async def main() -> int:
        try:
            async with Queue.from_url(args.redis_url or default_url(), prefix=args.prefix) as queue:
                return await command(queue, args)
        except AioresqueError as exc:
            fail(str(exc))
        except ResponseError as exc:  # e.g. a script refusing a key of the wrong type
            fail(f"Redis refused the command: {shorten(exc, 300)}")

    try:
        return anyio.run(main)
    except BrokenPipeError:
        # Output piped into `head` or a pager that quit: not an error. Point
        # stdout at /dev/null so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def emit_json(value: Any) -> None:
    """Print ``value`` as indented JSON."""
    print(json.dumps(jsonable(value), indent=2, default=str))


def confirm(question: str, args: argparse.Namespace) -> bool:
    """Ask a yes/no question on a terminal; without one, ``--yes`` is required."""
    if getattr(args, "yes", False):
        return True
    if not sys.stdin.isatty():
        fail(f"{question} Refusing without a terminal: pass --yes")
    answer = input(f"{question} [y/N] ")
    return answer.strip().lower() in {"y", "yes"}


async def find_queue(queue: Queue, job_id: str, name: str | None) -> Queue:
    """The queue holding ``job_id``: ``name`` if given, else the first known queue that has it.

    Raises:
        JobNotFound: no known queue has the job.
    """
    if name is not None:
        return queue.sibling(name)
    for known in await queue.known_queues():
        candidate = queue.sibling(known)
        if await candidate.job(job_id).status() is not JobStatus.NOT_FOUND:
            return candidate
    raise JobNotFound(f"no job {job_id!r} in any known queue (use --queue)")


# -- info and queues -------------------------------------------------------------


async def _overviews(queue: Queue) -> list[_admin.QueueOverview]:
    return [await queue.sibling(name).overview() for name in await queue.known_queues()]


def _queue_rows(overviews: list[_admin.QueueOverview], colour: bool) -> list[list[str]]:
    rows = []
    for o in overviews:
        latency = short_duration(o.latency)
        if o.latency >= LATENCY_WARNING:
            latency = paint(latency, "red", colour)
        state = paint("paused", "yellow bold", colour) if o.paused else paint("running", "green", colour)
        dead = paint(str(o.dead), "red", colour) if o.dead else "0"
        quarantined = paint(str(o.quarantined), "red", colour) if o.quarantined else "0"
        rows.append(
            [
                clean(o.name),
                state,
                str(o.queued),
                latency,
                str(o.scheduled),
                str(o.active),
                dead,
                str(o.counters.get("completed", 0)),
                str(o.counters.get("failed", 0)),
                quarantined,
            ]
        )
    return rows


_QUEUE_HEADERS = [
    "QUEUE",
    "STATE",
    "QUEUED",
    "LATENCY",
    "SCHEDULED",
    "ACTIVE",
    "DEAD",
    "PROCESSED",
    "FAILED",
    "QUARANTINED",
]


async def _queues(queue: Queue, args: argparse.Namespace) -> int:
    overviews = await _overviews(queue)
    if args.json:
        emit_json([dataclasses.asdict(o) for o in overviews])
        return 0
    if not overviews:
        print("no queues yet (nothing has been enqueued under this prefix)")
        return 0
    print(table(_QUEUE_HEADERS, _queue_rows(overviews, use_colour(sys.stdout)), use_colour(sys.stdout)))
    return 0


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """One thing ``info`` thinks a person should look at."""

    queue: str | None
    message: str


def find_problems(
    overviews: list[_admin.QueueOverview],
    workers: list[WorkerInfo],
    top_errors: dict[str, list[tuple[str, str, int]]],
) -> list[Problem]:
    """What is stuck and why: a pure reading of queue, worker and error summaries."""
    problems: list[Problem] = []
    live = [w for w in workers if not w.stale and w.unreadable is None]
    for w in workers:
        if w.stale:
            held = f", holding {len(w.in_flight)} job(s) that will be recovered" if w.in_flight else ""
            problems.append(Problem(None, f"worker {w.id} stopped heartbeating{held}"))
    for o in overviews:
        waiting = o.queued > 0
        if o.paused:
            problems.append(Problem(o.name, f"paused with {o.queued} job(s) waiting (aioresque resume {o.name})"))
        elif waiting and not any(o.name in w.queues or "*" in w.queues for w in live):
            problems.append(Problem(o.name, f"{o.queued} job(s) waiting and no live worker serves this queue"))
        elif waiting and o.latency >= LATENCY_WARNING:
            problems.append(
                Problem(o.name, f"oldest job has waited {short_duration(o.latency)}: workers are behind or busy")
            )
        for name, error, count in top_errors.get(o.name, []):
            problems.append(Problem(o.name, f"{count} in the dead set: {name}: {error}"))
        if o.quarantined:
            problems.append(
                Problem(o.name, f"{o.quarantined} item(s) quarantined: not jobs (aioresque quarantine {o.name})")
            )
        for key in o.unreadable_keys:
            problems.append(Problem(o.name, f"its {key!r} key holds the wrong Redis type (written by something else)"))
    for w in workers:
        if w.unreadable is not None:
            problems.append(Problem(None, f"worker registration {w.id} cannot be read: {w.unreadable}"))
    return problems


async def _info(queue: Queue, args: argparse.Namespace) -> int:
    overviews = await _overviews(queue)
    workers = await list_workers(queue.redis, prefix=queue.prefix)
    errors = {o.name: await _admin.top_errors(queue.sibling(o.name)) for o in overviews if o.dead}
    problems = find_problems(overviews, workers, errors)
    # An evicting Redis deletes jobs under memory pressure: first in the list.
    policy = await eviction_policy(queue.redis)
    eviction = eviction_warning(policy)
    if eviction is not None and policy is not None:
        problems.insert(0, Problem(None, eviction))
    if args.json:
        emit_json(
            {
                "maxmemory_policy": policy,
                "queues": [dataclasses.asdict(o) for o in overviews],
                "workers": [dataclasses.asdict(w) for w in workers],
                "problems": [dataclasses.asdict(p) for p in problems],
            }
        )
        return EXIT_PROBLEMS if problems else 0
    colour = use_colour(sys.stdout)
    print(paint("Queues", "bold cyan", colour))
    if overviews:
        print(table(_QUEUE_HEADERS, _queue_rows(overviews, colour), colour))
    else:
        print("  none yet")
    print()
    busy = sum(len(w.in_flight) for w in workers)
    stale = sum(1 for w in workers if w.stale)
    print(paint("Workers", "bold cyan", colour), f"{len(workers)} registered, {busy} job(s) in flight", end="")
    print(paint(f", {stale} stale", "red", colour) if stale else "")
    if workers:
        print(table(*worker_table(workers, colour), colour))
    print()
    if problems:
        print(paint("Needs attention", "bold red", colour))
        for p in problems:
            where = f"[{clean(p.queue)}] " if p.queue else ""
            print(f"  {paint('!', 'red', colour)} {where}{shorten(p.message, 400)}")
    else:
        print(paint("Nothing stuck.", "green", colour))
    if eviction is not None and policy is None:
        print(f"Note: {eviction}")
    return EXIT_PROBLEMS if problems else 0


def worker_table(workers: list[WorkerInfo], colour: bool) -> tuple[list[str], list[list[str]]]:
    """Headers and rows describing workers (stale ones marked)."""
    now = datetime.now(UTC)
    rows = []
    for w in workers:
        if w.unreadable is not None:
            unreadable = paint(shorten(f"UNREADABLE {w.id}: {w.unreadable}", 100), "red bold", colour)
            rows.append(["?", "-", "-", unreadable, "-", "-", "-"])
            continue
        if w.stale:
            state = paint("STALE", "red bold", colour)
        elif w.paused:
            state = paint("paused", "yellow", colour)
        else:
            state = paint("busy", "green", colour) if w.in_flight else "idle"
        rows.append(
            [
                shorten(w.host, 60),
                str(w.pid),
                shorten(",".join(w.queues), 60),
                state,
                f"{len(w.in_flight)}/{w.concurrency}",
                ago(w.last_heartbeat, now),
                ago(w.started_at, now),
            ]
        )
    return ["HOST", "PID", "QUEUES", "STATE", "JOBS", "HEARTBEAT", "UP"], rows


# -- one job -----------------------------------------------------------------------


def describe_job(info: JobInfo, colour: bool) -> str:
    """A job's full record as aligned ``field: value`` lines."""
    status_colour = {
        JobStatus.COMPLETE: "green",
        JobStatus.FAILED: "red",
        JobStatus.DEAD: "red",
        JobStatus.CANCELLED: "yellow",
        JobStatus.RETRYING: "yellow",
        JobStatus.ACTIVE: "blue",
    }.get(info.status, "")
    if info.unreadable is not None:
        unreadable = [
            ("id", clean(info.id)),
            ("queue", clean(info.queue)),
            ("status", paint(info.status.value, status_colour, colour)),
            ("unreadable", paint(clean(info.unreadable), "red bold", colour)),
        ]
        width = max(len(k) for k, _ in unreadable)
        return "\n".join(f"{paint(k.rjust(width), 'bold', colour)}  {v}" for k, v in unreadable)
    fields: list[tuple[str, str]] = [
        ("id", clean(info.id)),
        ("queue", clean(info.queue)),
        ("name", clean(info.name)),
        ("status", paint(info.status.value, status_colour, colour)),
        ("args", shorten(json.dumps(jsonable(info.args), default=str), SHOWN)),
        ("kwargs", shorten(json.dumps(jsonable(info.kwargs), default=str), SHOWN)),
        ("attempts", f"{info.attempts} (failures {info.failures}, lost {info.lost}, max {info.max_attempts or '-'})"),
        ("timeout", "-" if info.timeout is None else f"{info.timeout}s"),
    ]
    for label, when in (
        ("enqueued", info.enqueued_at),
        ("due", info.due_at),
        ("started", info.started_at),
        ("finished", info.finished_at),
    ):
        if when is not None:
            fields.append((label, f"{when.isoformat(timespec='milliseconds')} ({ago(when)} ago)"))
    if info.worker:
        fields.append(("worker", clean(info.worker)))
    if info.status is JobStatus.COMPLETE:
        fields.append(("result", shorten(json.dumps(jsonable(info.result), default=str), SHOWN)))
    if info.error:
        fields.append(("error", paint(clean(info.error[:SHOWN], multiline=True), "red", colour)))
    if info.payload_error:
        fields.append(("payload error", clean(info.payload_error)))
    width = max(len(k) for k, _ in fields)
    text = "\n".join(f"{paint(k.rjust(width), 'bold', colour)}  {v}" for k, v in fields)
    if info.traceback:
        tb = info.traceback.rstrip()
        tb = tb if len(tb) <= SHOWN else "…" + tb[-SHOWN:]  # the end says what failed
        text += "\n" + paint("traceback", "bold", colour) + "\n" + clean(tb, multiline=True)
    return text


async def _job(queue: Queue, args: argparse.Namespace) -> int:
    try:
        target = await find_queue(queue, args.job_id, args.queue)
        info = await target.job(args.job_id).info()
    except JobNotFound:
        if await _quarantined_job(queue, args):
            return 0
        raise
    if args.json:
        emit_json(dataclasses.asdict(info))
    else:
        print(describe_job(info, use_colour(sys.stdout)))
    return 0


async def _quarantined_job(queue: Queue, args: argparse.Namespace) -> bool:
    """Say so when a job with no record was kept aside as not a job; False when it was not."""
    for name in [args.queue] if args.queue else await queue.known_queues():
        item = await _quarantine.entry(queue.sibling(name), args.job_id.encode())
        if item is None:
            continue
        if args.json:
            at = item.at.isoformat() if item.at else None
            emit_json(
                {
                    "id": args.job_id,
                    "queue": name,
                    "quarantined": {"at": at, "where": item.where, "reason": item.reason},
                }
            )
        else:
            print(f"{clean(args.job_id)}: quarantined in {clean(name)} ({clean(item.where)}: {clean(item.reason)})")
        return True
    return False


# -- changes -------------------------------------------------------------------------


def parse_json_args(values: list[str], kwargs: str | None) -> tuple[list[Any], dict[str, Any]]:
    """Decode the ``enqueue`` command's JSON arguments, naming the one that is not JSON.

    Raises:
        argparse.ArgumentTypeError: an argument is not JSON, or kwargs not an object.
    """
    args = []
    for i, text in enumerate(values, 1):
        try:
            args.append(json.loads(text))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"argument {i} is not JSON: {text!r} (strings need quotes: '\"{text}\"')"
            ) from None
    kw: dict[str, Any] = {}
    if kwargs is not None:
        try:
            kw = json.loads(kwargs)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--kwargs is not JSON: {kwargs!r}") from None
        if not isinstance(kw, dict):
            raise argparse.ArgumentTypeError("--kwargs must be a JSON object")
    return args, kw


def _aware_time(text: str) -> datetime:
    """An ISO 8601 time with a UTC offset (``--at``)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO time: {text!r}") from None
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset (e.g. 2027-01-01T09:00+01:00)")
    return when


async def _enqueue(queue: Queue, args: argparse.Namespace) -> int:
    try:
        values, kwargs = parse_json_args(args.args, args.kwargs)
    except argparse.ArgumentTypeError as exc:
        fail(str(exc))
    job = await queue.sibling(args.queue).enqueue(
        args.name,
        *values,
        _job_id=args.job_id,
        _delay=args.delay,
        _max_attempts=args.max_attempts,
        _timeout=args.timeout,
        _at=args.at,
        _unique=args.unique,
        _limit_key=args.limit_key,
        **kwargs,
    )
    status = await job.status()
    if args.json:
        emit_json({"id": job.id, "queue": job.queue.name, "status": status.value})
    else:
        print(f"{clean(job.id)} {status.value} on {clean(job.queue.name)}")
    return 0


async def _cancel(queue: Queue, args: argparse.Namespace) -> int:
    target = await find_queue(queue, args.job_id, args.queue)
    cancelled = await target.cancel(args.job_id)
    status = await target.job(args.job_id).status()
    if args.json:
        emit_json({"id": args.job_id, "cancelled": cancelled, "status": status.value})
    else:
        print(f"{clean(args.job_id)}: {'cancelled' if cancelled else 'already finished'} ({status.value})")
    return 0


async def _pause(queue: Queue, args: argparse.Namespace) -> int:
    await queue.sibling(args.queue).pause()
    print(f"{args.queue}: paused (workers claim nothing from it until `aioresque resume {args.queue}`)")
    return 0


async def _resume(queue: Queue, args: argparse.Namespace) -> int:
    await queue.sibling(args.queue).resume()
    print(f"{args.queue}: resumed")
    return 0


async def _purge(queue: Queue, args: argparse.Namespace) -> int:
    target = queue.sibling(args.queue)
    waiting = (await target.overview()).queued
    if waiting == 0:
        print(f"{args.queue}: nothing waiting")
        return 0
    if not confirm(f"Delete the {waiting} job(s) waiting in {args.queue!r}?", args):
        print("nothing deleted")
        return 1
    progress = ProgressLine("purging")
    try:
        deleted = await _admin.purge(target, progress)
    finally:
        progress.close()
    print(f"{args.queue}: deleted {deleted} waiting job(s)")
    return 0
