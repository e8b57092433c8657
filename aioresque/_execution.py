"""Running one claimed job and turning what happened into an outcome.

Nothing here talks to Redis: :func:`execute` calls the handler and returns an
:class:`Outcome` that the worker records in batches.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import inspect
import logging
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import anyio

from ._context import JobContext, set_current
from ._decode import integer, number, text
from ._errors import Retry
from ._handler import DEFAULT_MAX_ATTEMPTS, JobFunction, Registry, retry_verdict
from ._middleware import PerformMiddleware, perform_chain
from ._progress import ProgressReporter
from ._queue import Queue
from ._resque_import import resque_body
from ._serializer import dumps_json, loads_json
from ._workflow import step_inputs

log = logging.getLogger("aioresque.worker")


class Kind(enum.StrEnum):
    """How a job's attempt ended, as settle.lua understands it."""

    COMPLETE = "complete"
    FAIL = "fail"
    ABORT = "abort"
    DEAD = "dead"
    REQUEUE = "requeue"


class StopReason(enum.Enum):
    """Why the worker cancelled a running job from outside."""

    SHUTDOWN = "shutdown"
    LEASE_LOST = "lease lost"
    CANCELLED = "cancelled"


@dataclass(slots=True)
class ClaimedJob:
    """A job this worker holds the lease on."""

    id: str
    queue: Queue
    state: dict[str, Any]
    payload: bytes
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    stop_reason: StopReason | None = None
    reporter: ProgressReporter | None = None
    """Where the handler's set_progress() reports wait to be written (set when the handler starts)."""

    @property
    def attempt(self) -> int:
        """The attempt number Redis recorded at claim time (settle.lua compares it exactly)."""
        value = self.state.get("attempts", 1)
        return value if isinstance(value, int) and not isinstance(value, bool) else integer(value, 0) or 0

    @property
    def name(self) -> str:
        """The job name."""
        return text(self.state.get("name", ""))


@dataclass(frozen=True, slots=True)
class Outcome:
    """The end of one attempt, ready to be settled."""

    job: ClaimedJob
    kind: Kind
    value: bytes = b""
    retry_delay: float = 0.0
    max_attempts: int = 1


MAX_ERROR_BYTES = 8 * 1024
"""Longest error message stored with a job (UTF-8 bytes); a longer one keeps its start and says how much was cut."""

MAX_TRACEBACK_BYTES = 32 * 1024
"""Longest traceback stored with a job (UTF-8 bytes); a longer one loses its middle, with a marker."""

MAX_RETRY_DELAY = 10 * 365 * 86400.0
"""Longest wait before a retry (seconds, about 10 years): a longer or infinite delay is capped."""

TRACEBACK_MESSAGE_BYTES = 1024
"""How much of the message the traceback's last line keeps: the message is stored once, as the error."""


def bounded(text: str, limit: int, *, keep_end: bool = False) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, with a marker saying how much was cut.

    The start is kept, and with ``keep_end`` the end too (a traceback's
    innermost frames). Characters that cannot be encoded (lone surrogates)
    are escaped, so the result always encodes.
    """
    data = text.encode("utf-8", "backslashreplace")
    if len(data) <= limit:
        return data.decode()
    room = max(0, limit - 64)  # the marker fits in the 64 bytes left
    marker = f"[... {len(data) - room} of {len(data)} bytes cut ...]"
    if not keep_end:
        return data[:room].decode("utf-8", "ignore") + " " + marker
    head = room // 4
    start = data[:head].decode("utf-8", "ignore")
    end = data[len(data) - (room - head) :].decode("utf-8", "ignore")
    return f"{start}\n{marker}\n{end}"


def error_record(exc: BaseException | None, message: str, *, kind: str, error_type: str | None = None) -> bytes:
    """The JSON error record stored in the queue's ``errors`` hash.

    ``error`` is the one-line ``"Type: text"`` message; ``type`` (``error_type``,
    else the exception's class name) keeps the type apart, as Resque's failure
    records want it (the text after the type is not stored a second time).

    The message is cut to :data:`MAX_ERROR_BYTES` and the traceback to
    :data:`MAX_TRACEBACK_BYTES`; the traceback's last line (the exception
    and its message again) keeps :data:`TRACEBACK_MESSAGE_BYTES` of it.
    """
    tb = None
    if exc is not None:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        last = "".join(traceback.format_exception_only(type(exc), exc))
        if len(last) > TRACEBACK_MESSAGE_BYTES and tb.endswith(last):
            tb = tb[: len(tb) - len(last)] + bounded(last, TRACEBACK_MESSAGE_BYTES) + "\n"
        tb = bounded(tb, MAX_TRACEBACK_BYTES, keep_end=True)
    name = error_type or (type(exc).__name__ if exc is not None else "Error")
    return dumps_json({"error": bounded(message, MAX_ERROR_BYTES), "type": name, "kind": kind, "traceback": tb})


def retry_wait(delay: object) -> float:
    """A retry delay (seconds) made safe to send: finite, from 0 to :data:`MAX_RETRY_DELAY`."""
    seconds = number(delay)
    if seconds is None:  # NaN, infinite or absurd: the longest wait (NaN: none)
        return MAX_RETRY_DELAY if isinstance(delay, int | float) and delay > 0 else 0.0
    return min(max(seconds, 0.0), MAX_RETRY_DELAY)


def _describe(exc: BaseException) -> str:
    """``"Type: message"``, the message cut to :data:`MAX_ERROR_BYTES` (it is logged and stored)."""
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - a foreign exception's __str__ may raise anything
        message = "<unprintable message>"
    message = bounded(message, MAX_ERROR_BYTES)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


@dataclass(frozen=True, slots=True)
class Runner:
    """What :func:`execute` needs from the worker."""

    registry: Registry
    worker_id: str
    resources: dict[str, Any]
    limiter: anyio.CapacityLimiter
    retry_delay: Any  # Callable[[int], float]: seconds before the next attempt
    middleware: tuple[PerformMiddleware, ...] = ()


async def execute(runner: Runner, job: ClaimedJob) -> Outcome | None:
    """Run one claimed job to its outcome.

    Returns None when the worker lost the job's lease while it ran (the job
    belongs to someone else now) or the job was cancelled (``cancel.lua``
    recorded that): there is nothing to record.
    """
    handler = runner.registry.functions.get(job.name)
    # An unknown name gets the default attempts: a newer worker may know it (rolling deploy).
    max_attempts = handler.max_attempts if handler else DEFAULT_MAX_ATTEMPTS
    failures_before = integer(job.state.get("failures", 0), 0) or 0
    effective_max = integer(job.state.get("max_attempts"), 1) or max_attempts

    def fail(exc: BaseException | None, message: str, kind: str, error_type: str | None = None) -> Outcome:
        record = error_record(exc, message, kind=kind, error_type=error_type)
        if not retry_verdict(handler, exc):
            return Outcome(job, Kind.ABORT, record, 0.0, effective_max)
        if isinstance(exc, Retry) and exc.delay is not None:
            delay = exc.delay
        elif handler is not None and handler.backoff is not None:
            delay = handler.backoff.delay(failures_before + 1)
        else:
            delay = runner.retry_delay(failures_before + 1)
        return Outcome(job, Kind.FAIL, record, retry_wait(delay), effective_max)

    def dead(exc: BaseException | None, message: str, kind: str, error_type: str | None = None) -> Outcome:
        record = error_record(exc, message, kind=kind, error_type=error_type)
        return Outcome(job, Kind.DEAD, record, 0.0, effective_max)

    if handler is None:
        known = ", ".join(sorted(runner.registry.functions)) or "none"
        message = f"UnknownJob: no handler named {job.name!r} (this worker has: {known})"
        # Retried like a failure (during a rolling deploy a newer worker may
        # know the name), then dead: the system gave up, the handler never ran
        # (docs/concepts.md, "Decisions"). A job imported from Ruby Resque dies at
        # once, as Resque's own worker fails it: Resque::Failure shows it, and
        # Resque::Failure.requeue brings it back (docs/migrating/from-resque.md).
        if failures_before + 1 >= effective_max or job.state.get("resque"):
            log.warning("job %s: unknown job name %r; no attempt left, dead", job.id, job.name)
            return dead(None, message, "unknown", "UnknownJob")
        log.warning("job %s: unknown job name %r; will retry", job.id, job.name)
        return fail(None, message, "unknown", "UnknownJob")
    if not job.payload:
        return dead(None, "MissingPayload: the job has no payload", "payload", "MissingPayload")
    try:
        # A job imported from Ruby Resque holds Resque's JSON entry, whatever the queue's serializer.
        args, kwargs, meta = (resque_body if job.state.get("resque") else job.queue.decode_body)(job.payload)
    except Exception as exc:  # noqa: BLE001 - any decoding failure means a bad payload
        log.warning("job %s: undecodable payload: %s", job.id, exc)
        return dead(exc, f"BadPayload: {_describe(exc)}", "payload", "BadPayload")
    if job.state.get("win"):  # a workflow step: the previous results come first
        try:
            args = await step_inputs(job, args)
        except ValueError as exc:
            return dead(exc, f"MissingInput: {_describe(exc)}", "payload", "MissingInput")
        except Exception as exc:  # noqa: BLE001 - e.g. Redis unreachable: retried like a failure
            return fail(exc, f"InputUnavailable: {_describe(exc)}", "error", "InputUnavailable")

    timeout_ms = number(job.state.get("timeout"), 0)
    timeout = timeout_ms / 1000 if timeout_ms is not None else handler.timeout
    job.reporter = ProgressReporter(job.queue, job.id, job.attempt)
    ctx = JobContext(
        job.id, job.name, job.queue, job.attempt, runner.worker_id, runner.resources, args, kwargs, meta, job.reporter
    )
    set_current(ctx)
    started = time.perf_counter()
    if log.isEnabledFor(logging.INFO):
        log.info(
            "job %s %s started (attempt %d)",
            job.id,
            job.name,
            job.attempt,
            extra={"job_id": job.id, "job_name": job.name, "queue": job.queue.name, "attempt": job.attempt},
        )
    error: BaseException | None = None
    result: Any = None
    # One cancel scope per job: the timeout is its deadline, and whoever
    # cancels it from outside (shutdown, lost lease, cancel request) sets
    # job.stop_reason first, so a cancellation without a reason is the timeout.
    if timeout is not None:
        job.scope.deadline = anyio.current_time() + timeout
    with job.scope:
        try:
            result = await _perform(runner, handler, ctx)
        except anyio.get_cancelled_exc_class() as exc:
            if _cancel_requested():
                raise
            error = exc  # the handler raised CancelledError itself: a failure, not a shutdown
        except BaseException as exc:  # noqa: BLE001 - SystemExit & co. fail the job, not the worker
            error = exc
    duration = time.perf_counter() - started
    if job.stop_reason is not None:
        if job.stop_reason is StopReason.LEASE_LOST:
            log.warning("job %s %s stopped: its lease was lost", job.id, job.name)
            return None
        if job.stop_reason is StopReason.CANCELLED:
            log.info("job %s %s cancelled", job.id, job.name)
            return None
        log.info("job %s %s interrupted by shutdown; handing it back", job.id, job.name)
        return Outcome(job, Kind.REQUEUE)
    extra = {"job_id": job.id, "job_name": job.name, "queue": job.queue.name, "duration": duration}
    if job.scope.cancelled_caught:
        log.warning("job %s %s timed out after %.3f s", job.id, job.name, duration, extra=extra)
        await _on_failure(handler, ctx, TimeoutError(f"the attempt exceeded its timeout of {timeout} s"))
        return fail(None, f"TimeoutError: the attempt exceeded its timeout of {timeout} s", "timeout", "TimeoutError")
    if error is not None:
        if isinstance(error, TypeError) and not _fits(handler, args, kwargs):
            log.warning("job %s %s: arguments do not fit the handler: %s", job.id, job.name, error, extra=extra)
            return dead(error, f"BadArguments: {_describe(error)}", "arguments", "BadArguments")
        if isinstance(error, Retry):
            log.info("job %s %s asked to be retried: %s", job.id, job.name, error, extra=extra)
            return fail(error, f"Retry: {error}", "retry")
        log.warning("job %s %s failed: %s", job.id, job.name, _describe(error), extra=extra)
        await _on_failure(handler, ctx, error)
        return fail(error, _describe(error), "error")
    try:
        value = job.queue.serializer.dumps(result)
    except Exception as exc:  # noqa: BLE001 - reported as the job's failure
        message = f"SerializationError: the result ({type(result).__name__}) cannot be serialized: {exc}"
        log.warning("job %s %s: %s", job.id, job.name, bounded(message, MAX_ERROR_BYTES), extra=extra)
        return dead(exc, message, "result", "SerializationError")
    limit = job.queue.max_result_bytes
    if len(value) > limit:
        message = (
            f"ResultTooLarge: the result ({type(result).__name__}) is {len(value)} bytes serialized, "
            f"over the limit of {limit} (max_result_bytes); it was not stored"
        )
        log.warning("job %s %s: %s", job.id, job.name, message, extra=extra)
        return dead(None, message, "result", "ResultTooLarge")
    if log.isEnabledFor(logging.INFO):
        log.info("job %s %s complete in %.3f s", job.id, job.name, duration, extra=extra)
    return Outcome(job, Kind.COMPLETE, value, 0.0, effective_max)


async def _perform(runner: Runner, handler: JobFunction[Any, Any], ctx: JobContext) -> Any:
    """The handler's ``before`` hook, the middleware chain around the handler, its ``after`` hook."""
    if handler.before is not None:
        await handler.before(ctx)
    if runner.middleware:
        result = await perform_chain(runner.middleware, ctx, lambda: _call(runner, handler, ctx.args, dict(ctx.kwargs)))
    else:
        result = await _call(runner, handler, ctx.args, dict(ctx.kwargs))
    if handler.after is not None:
        await handler.after(ctx, result)
    return result


async def _on_failure(handler: JobFunction[Any, Any], ctx: JobContext, exc: BaseException) -> None:
    """Run the handler's ``on_failure`` hook; what it raises is logged, not propagated."""
    if handler.on_failure is None:
        return
    try:
        await handler.on_failure(ctx, exc)
    except Exception:
        log.exception("job %s %s: on_failure hook failed", ctx.job_id, ctx.name)


async def _call(runner: Runner, handler: JobFunction[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if handler.is_async:
        return await handler.fn(*args, **kwargs)
    call = functools.partial(handler.fn, *args, **kwargs)
    # A sync handler cannot be interrupted; on timeout or shutdown it is
    # abandoned (its thread finishes in the background) and the job moves on.
    return await anyio.to_thread.run_sync(call, abandon_on_cancel=True, limiter=runner.limiter)


def _cancel_requested() -> bool:
    """True when the running task was cancelled (timeout, shutdown, lost lease, cancel).

    A handler may also raise ``CancelledError`` on its own (re-raising one it
    caught from something it awaited); then nobody cancelled the task, and the
    error must fail the job rather than silently end the worker's task. Off
    asyncio (trio), every cancellation is taken as real.
    """
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return True
    return task is None or task.cancelling() > 0


def _fits(handler: JobFunction[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    try:
        inspect.signature(handler.fn).bind(*args, **kwargs)
    except TypeError:
        return False
    return True


def parse_state(raw: bytes | str) -> dict[str, Any]:
    """Parse a state record returned by a claim (checked by the script; ``{}`` if it still cannot be read)."""
    try:
        value = loads_json(raw)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}
