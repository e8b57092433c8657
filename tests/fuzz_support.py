"""Parts of the hostile-input fuzzer (``tests/test_fuzz.py``): handlers, garbage, the layout, the readers.

* Handlers the fuzzer's workers run, recording what completed.
* :class:`Garbage`: named bad values (invalid UTF-8, NUL, huge, deeply nested
  JSON, JSON of the wrong shape, non-finite and absurd numbers) whose repr is
  short, so a shrunk failing example prints readably.
* The documented Redis layout (``docs/redis-layout.md``) as data: every key of
  a queue and its Redis type, so injections can target any of them.
* The readers: ``job.info()``, ``list_jobs`` for every status, the queue's
  overview and statistics, the CLI listings (``aioresque._cli.main`` run
  in-process with captured output) and the dashboard's pages (httpx's ASGI
  transport). Each returns a list of problems instead of raising, so the
  fuzzer can say which reader failed on which input.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import traceback
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio
import httpx

import aioresque
from aioresque import AioresqueError, JobNotFound, JobStatus, Queue
from aioresque._cli import main as cli_main

completed: set[str] = set()
"""Tags of the fuzz jobs that ran to completion in this process."""


@aioresque.job
async def fuzz_ok(tag: str) -> str:
    """A good job: records its tag and returns it."""
    completed.add(tag)
    return tag


@aioresque.job
async def fuzz_step(*inputs: Any) -> str:
    """A good chain step: called with the previous step's result first, its own tag last."""
    tag = str(inputs[-1])
    completed.add(tag)
    return tag


@aioresque.job(max_attempts=1)
async def fuzz_fail(tag: str) -> None:
    """A job that fails on its only attempt (so the dead set has real entries)."""
    raise ValueError(f"fuzz failure {tag}")


@aioresque.job(concurrency=1)
async def fuzz_limited(tag: str) -> str:
    """A good job under a concurrency limit (so the limits hash and waiting set are used)."""
    completed.add(tag)
    await asyncio.sleep(0)
    return tag


@aioresque.job(every=timedelta(hours=6))
async def fuzz_tick() -> None:
    """A periodic schedule (so the cron hash has a record)."""


HANDLERS: list[aioresque.JobFunction[Any, Any]] = [fuzz_ok, fuzz_step, fuzz_fail, fuzz_limited, fuzz_tick]

QUEUE_KEYS: dict[str, str] = {
    "queue": "list",
    "scheduled": "zset",
    "active": "zset",
    "done": "zset",
    "dead": "zset",
    "jobs": "hash",
    "state": "hash",
    "results": "hash",
    "errors": "hash",
    "marker": "zset",
    "stats": "hash",
    "watched": "set",
    "cancelled": "zset",
    "paused": "string",
    "history": "hash",
    "cron": "hash",
    "unique": "hash",
    "limits": "hash",
    "waiting": "zset",
    "reopen": "zset",
    "flows": "hash",
    "quarantine": "hash",
}
"""Every key of a queue (the attribute of ``QueueKeys``) and its Redis type, as docs/redis-layout.md lists them."""

GLOBAL_KEYS: dict[str, str] = {"queues": "set", "recovery-lock": "string", "workers": "zset"}
"""The keys that belong to no queue (``queue_registry``, ``recovery_lock``, ``worker_index``)."""


@dataclass(frozen=True)
class Garbage:
    """A bad value with a short name for the shrunk example's printout."""

    name: str
    data: bytes

    def __repr__(self) -> str:
        return self.name


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


NAMED_GARBAGE = [
    Garbage("INVALID_UTF8", b"\xff\xfe"),
    Garbage("NUL", b"\x00"),
    Garbage("NUL_IN_TEXT", b"a\x00b"),
    Garbage("EMPTY", b""),
    Garbage("Z", b"z"),
    Garbage("NAN_TEXT", b"NaN"),
    Garbage("INF_TEXT", b"inf"),
    Garbage("E999", b"1e999"),
    Garbage("NEGATIVE", b"-1"),
    Garbage("YEAR_10000_MS", b"253402300800000"),
    Garbage("HUGE_INT", b"9" * 40),
    Garbage("JSON_LIST", b"[1, 2]"),
    Garbage("JSON_NULL", b"null"),
    Garbage("JSON_STRING", b'"text"'),
    Garbage("JSON_EMPTY_OBJECT", b"{}"),
    Garbage("JSON_TRUNCATED", b'{"v": 1, "status"'),
    Garbage("DEEP_JSON_1000", _deep(1000)),
    Garbage("DEEP_JSON_100000", _deep(100_000)),
    Garbage("HUGE_1MB", b"x" * (1 << 20)),
    Garbage("HUGE_JSON_STRING", b'"' + b"y" * (1 << 20) + b'"'),
    Garbage("ESCAPES", b"\x1b[2J\x1b]0;pwned\x07\r"),
    Garbage("LONE_SURROGATE_JSON", b'"\\udcff"'),
    Garbage(
        "RECORD_WRONG_TYPES",
        b'{"v": 1, "name": 5, "status": "queued", "attempts": "z", "failures": [], "lost": {},'
        b' "max_attempts": NaN, "timeout": 1e999, "enqueued_at": 253402300800000, "started_at": "x"}',
    ),
    Garbage("RECORD_UNKNOWN_STATUS", b'{"v": 1, "name": "fuzz_ok", "status": "bogus", "attempts": 0}'),
    Garbage("RECORD_NEWER_FORMAT", b'{"v": 99, "name": "fuzz_ok", "status": "queued", "attempts": 0}'),
    Garbage("RECORD_NON_ASCII_NAME", '{"v": 1, "name": "\u00e9\u202e", "status": "queued", "attempts": 0}'.encode()),
    Garbage("PAYLOAD_WRONG_SHAPE", b'{"args": "x", "kwargs": []}'),
    Garbage("ERROR_WRONG_SHAPE", b'{"error": 5, "kind": [], "traceback": {"a": 1}}'),
    Garbage("LIMIT_WRONG_SHAPE", b'{"h": "x", "s": [NaN, "z", 1e999], "p": -5, "r": "all"}'),
    Garbage("LIMIT_HUGE_TIMES", b'{"h": [], "s": [253402300800000, 1e300], "p": 1e300, "r": 1e300}'),
    Garbage("FLOW_WRONG_SHAPE", b'{"kind": 5, "status": [], "steps": "abc", "left": "z", "failed": NaN}'),
    Garbage("CRON_WRONG_SHAPE", b'{"spec": 5, "last": "z", "next": 1e999, "paused": "yes", "fired": NaN}'),
    Garbage("UNIQUE_WRONG_SHAPE", b"z|q|"),
    Garbage("UNIQUE_HUGE_EXPIRY", b"1e999|f|nobody"),
    Garbage("HISTORY_WRONG_SHAPE", b"z:NaN:1e999"),
    Garbage("WORKER_WRONG_TYPES", b'{"id": 5, "pid": "z", "queues": "abc", "in_flight": 7, "started_at": 1e999}'),
    Garbage("QUARANTINE_WRONG_SHAPE", b"z|\xff|\x1b[31m"),
]
"""Bad values worth trying everywhere (the fuzzer adds random bytes to these)."""

FIELD_VALUES = [
    '"z"',
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1",
    "1.5",
    "1e300",
    "253402300800000",
    "9007199254740993",
    "null",
    "[]",
    "{}",
    "true",
    '"\\u0000"',
    '"\\udcff"',
    '"' + "w" * 100_000 + '"',
    "[" * 1000 + "]" * 1000,
]
"""JSON texts put into one field of a real state record (wrong type, non-finite, absurd, huge, deep)."""

STATE_FIELDS = [
    "v",
    "name",
    "status",
    "attempts",
    "failures",
    "lost",
    "max_attempts",
    "timeout",
    "enqueued_at",
    "started_at",
    "finished_at",
    "due_at",
    "worker",
    "uk",
    "um",
    "ut",
    "lg",
    "lk",
    "parked",
    "wf",
    "wi",
    "schedule",
]
"""Fields of the state record (docs/redis-layout.md and the scripts) a mutation may hit."""


def with_field(record: bytes, field: str, literal: str) -> bytes | None:
    """``record`` (a JSON object) with ``field`` set to the JSON text ``literal``; None if it is no object."""
    try:
        value = json.loads(record)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    value[field] = "__FUZZ__"
    return json.dumps(value).replace('"__FUZZ__"', literal).encode()


# -- places -------------------------------------------------------------------------

PLACES_OF: dict[JobStatus, set[str]] = {
    JobStatus.QUEUED: {"queue", "waiting"},
    JobStatus.SCHEDULED: {"scheduled"},
    JobStatus.RETRYING: {"scheduled"},
    JobStatus.ACTIVE: {"active"},
    JobStatus.COMPLETE: {"done"},
    JobStatus.FAILED: {"dead"},
    JobStatus.DEAD: {"dead"},
    JobStatus.CANCELLED: {"dead", "active"},  # a running job cancelled stays active until its worker stops it
    JobStatus.NOT_FOUND: set(),
}
"""Where a job with a given status may be (docs/redis-layout.md)."""


async def places(queue: Queue, job_id: str) -> tuple[list[str], bytes | None]:
    """Every place ``job_id`` is in (a list entry counts once per copy), and its quarantine entry if it has one."""
    k = queue.keys
    r: Any = queue.redis  # redis-py types replies for both clients as unions
    found: list[str] = []
    found += ["queue"] * len(await r.execute_command("LPOS", k.queue, job_id, "COUNT", 0) or [])
    for name in ("scheduled", "active", "done", "dead"):
        if await r.zscore(getattr(k, name), job_id) is not None:
            found.append(name)
    members: list[bytes] = await r.zrange(k.waiting, 0, -1)
    for member in members:
        if member.rsplit(b"\0", 1)[-1] == job_id.encode():
            found.append("waiting")
    quarantined: bytes | None = await r.hget(k.quarantine, job_id)
    return found, quarantined


def quarantine_entry_ok(value: bytes) -> bool:
    """Whether a quarantine value reads ``"<ms>|<where>|<reason>"`` (QueueKeys.quarantine) with a reason."""
    parts = value.split(b"|", 2)
    return len(parts) == 3 and parts[0].isdigit() and bool(parts[1]) and bool(parts[2].strip())


# -- readers --------------------------------------------------------------------------


def describe(exc: BaseException) -> str:
    """The exception's last traceback line and where it was raised (in the package, if it was).

    For an exception group (a worker's task group), the first exception inside it.
    """
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/aioresque/" in f.filename] or frames
    where = f" at {ours[-1].filename.rsplit('/', 2)[-2:]}:{ours[-1].lineno} ({ours[-1].name})" if ours else ""
    return f"{type(exc).__name__}: {str(exc)[:300]}{where}"


async def call_reader(label: str, fn: Callable[[], Awaitable[Any]], problems: list[str]) -> Any:
    """Await ``fn()``; any exception becomes a problem named after the reader."""
    try:
        with anyio.fail_after(30):
            return await fn()
    except Exception as exc:  # noqa: BLE001 - a reader must never raise: whatever it raises is the finding
        problems.append(f"{label}: {describe(exc)}")
        return None


def _run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli_main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
        except Exception:  # noqa: BLE001 - the traceback is the finding
            return -1, out.getvalue(), traceback.format_exc()
    return code, out.getvalue(), err.getvalue()


CLI_OK: dict[str, set[int]] = {"info": {0, 1}}
"""Exit codes a command may give on a healthy read (``info`` exits 1 when it lists problems); others: 0."""


async def cli(url: str, prefix: str, argv: list[str], problems: list[str]) -> str:
    """Run ``aioresque ARGV`` in-process (in a thread: it runs its own event loop); a bad exit is a problem."""
    full = [argv[0], *argv[1:], "--redis-url", url, "--prefix", prefix]
    code, out, err = await anyio.to_thread.run_sync(_run_cli, full)
    if code not in CLI_OK.get(argv[0], {0}):
        last = [line for line in err.strip().splitlines() if line.strip()][-1:] or ["(no output)"]
        problems.append(f"cli {' '.join(argv)}: exit {code}: {last[0][:300]}")
    return out


async def page(client: httpx.AsyncClient, path: str, problems: list[str], ok: tuple[int, ...] = (200,)) -> str:
    """GET a dashboard page; an exception or an unexpected status is a problem."""
    try:
        response = await client.get(path)
    except Exception as exc:  # noqa: BLE001 - the app raised: the page would answer 500
        problems.append(f"dashboard GET {path}: {describe(exc)}")
        return ""
    if response.status_code not in ok:
        problems.append(f"dashboard GET {path}: HTTP {response.status_code}: {response.text[:200]}")
    return response.text


def _dashboard_pages() -> list[str]:
    from aioresque.dashboard._app import create_app

    app = create_app(Queue.__new__(Queue))  # routes only: the views are not called
    paths = {getattr(route, "path", "") for route in app.routes}
    pages = ["/", "/queues", "/workers", "/cron", "/metrics", "/quarantine"]
    return [p for p in pages if p in paths] + [
        f"/jobs/{kind}" for kind in ("queued", "scheduled", "retrying", "active", "complete", "dead")
    ]


DASHBOARD_PAGES = _dashboard_pages()
"""Every dashboard page that lists something (``/quarantine`` where the dashboard has it)."""


def _cli_listings() -> list[list[str]]:
    from aioresque._cli import build_parser

    commands = build_parser().format_help()
    listings = [["info"], ["info", "--json"], ["queues"], ["queues", "--json"], ["workers"], ["workers", "--json"]]
    listings += [["dead"], ["dead", "--json"], ["failed"], ["cron", "list"], ["limits"], ["limits", "--json"]]
    listings += [["limits", "--queue", "other"]]
    if " quarantine " in commands:
        listings += [["quarantine"], ["quarantine", "--json"]]
    return listings


CLI_LISTINGS = _cli_listings()
"""The CLI listings that read every queue (``quarantine`` where the CLI has it)."""


async def queue_readers(queue: Queue, problems: list[str]) -> None:
    """Every Python reader of one queue (list_jobs for each status, overview, statistics, ...)."""
    label = f"queue {queue.name!r}"
    for status in JobStatus:
        if status is JobStatus.NOT_FOUND:
            continue
        await call_reader(f"{label}.list_jobs({status.value})", lambda s=status: queue.list_jobs(s), problems)
    flt = aioresque.JobFilter(name="fuzz_ok", error="fuzz")
    await call_reader(f"{label}.list_jobs(dead set, filter)", lambda: queue.list_jobs("failed", flt), problems)
    await call_reader(f"{label}.overview()", queue.overview, problems)
    await call_reader(f"{label}.statistics()", queue.statistics, problems)
    await call_reader(f"{label}.history()", queue.history, problems)
    await call_reader(f"{label}.schedules()", queue.schedules, problems)
    await call_reader(f"{label}.limit_groups()", queue.limit_groups, problems)


async def job_info(queue: Queue, job_id: str, problems: list[str], *, gone_ok: bool) -> aioresque.JobInfo | None:
    """``job.info()``: JobNotFound is fine only for a job that may be gone."""
    try:
        with anyio.fail_after(30):
            return await queue.job(job_id).info()
    except JobNotFound:
        if not gone_ok:
            problems.append(f"job.info({queue.name}/{job_id}): JobNotFound for a job that exists")
    except Exception as exc:  # noqa: BLE001 - a reader must never raise
        problems.append(f"job.info({queue.name}/{job_id}): {describe(exc)}")
    return None


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage()[:300])


@contextlib.contextmanager
def errors_logged() -> Iterator[list[str]]:
    """Collect the ERROR lines aioresque logs in the block (a worker's script errors, unrecorded outcomes)."""
    handler = _Collect()
    logger = logging.getLogger("aioresque")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def allowed_error(exc: BaseException, broken: bool) -> bool:
    """Whether an action (enqueue, cancel, retry, delete, recover) may raise ``exc``.

    An action may refuse with an aioresque error; a raw Redis error is
    accepted only while one of the queue's keys holds a value of the wrong
    Redis type (the scripts' type guard refuses to write then).
    """
    from redis.exceptions import ResponseError

    if isinstance(exc, AioresqueError):
        return True
    return broken and isinstance(exc, ResponseError)
