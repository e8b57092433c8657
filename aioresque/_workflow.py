"""Workflows: chains and groups of jobs, advanced atomically in Redis.

* A **chain** runs its steps one after another: ``await
  queue.enqueue_chain([Call.of("fetch", url), Call.of("parse"), Call.of("store")])``.
  Each step after the first receives the previous step's result as its
  **first positional argument**, before the arguments of its ``Call``
  (``parse(<fetch's result>)``). A step that fails for good (its last
  attempt failed), goes dead, is cancelled or is deleted before it finished
  stops the chain: the later steps are recorded as cancelled without
  running, with the reason.
* A **group** runs its members at once and, once every member has finished,
  an optional callback: ``await queue.enqueue_group([...], then=Call.of("report"))``.
  The callback runs only if every member completed, and receives the list of
  the members' results (in member order) as its first positional argument.
  If any member did not complete (failed, dead, cancelled or deleted
  before it finished), the callback is recorded as cancelled.

Durability: the workflow's record and the steps that do not exist yet live
in the queue's ``flows`` hash, under the queue's hash tag, and the scripts
that end a job (``settle.lua``, recovery in ``_take.lua``, ``cancel.lua``,
``delete.lua``) advance the workflow in the same atomic call
(``lua/_flow.lua``). A member
whose worker is SIGKILLed is recovered and run again like any job; only the
settle of an attempt that still holds its lease advances the workflow, so
it advances exactly once. A step's input (the previous result) is copied
into the workflow's data when it is produced, so retention pruning the
earlier job's result does not lose it.

Scope: every job of a workflow runs in one queue (on Redis Cluster the
whole workflow is one slot, so each advance is one script); a ``Call`` with
another ``queue``, a delay or a uniqueness option is refused. Enqueue
middleware does not run for workflow steps. ``Job`` handles of later chain
steps and of a group's callback find no job (status ``not_found``,
``result()`` raises :class:`JobNotFound`) until the job is created; wait on
the workflow's :meth:`Workflow.result` instead.
"""

from __future__ import annotations

import enum
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import ResponseError

from . import _decode, _scripts
from ._errors import ConfigurationError, JobNotFound, ResultTimeout, translate
from ._job import Job
from ._keys import queue_registry
from ._limits import check_key
from ._names import check_name
from ._serializer import loads_json

if TYPE_CHECKING:
    from ._execution import ClaimedJob
    from ._queue import Call, Queue

MAX_STEPS = 1_000_000
"""The most inputs a workflow step is believed to receive (a group's callback gets one per member);
the same bound as ``MAX_STEPS`` in ``lua/_guard.lua``."""


class WorkflowStatus(enum.StrEnum):
    """Where a workflow is."""

    RUNNING = "running"
    """Some step has not finished yet."""
    COMPLETE = "complete"
    """Every step (and the callback) completed."""
    FAILED = "failed"
    """A step failed for good, went dead, was cancelled or was deleted unfinished; see ``WorkflowInfo.stopped_by``."""


@dataclass(frozen=True, slots=True)
class WorkflowInfo:
    """A snapshot of a workflow's record."""

    id: str
    kind: str
    """``"chain"`` or ``"group"``."""
    status: WorkflowStatus
    steps: tuple[str, ...]
    """The job ids of the chain's steps or the group's members, in order."""
    callback: str | None
    """The job id of the group's callback, or None."""
    stopped_by: str | None
    """The job id of the (first) step that did not complete, or None."""
    created_at: float | None
    finished_at: float | None
    """Unix times (from Redis's clock), or None."""
    unreadable: str | None = None
    """Set when the workflow's record could not be read: why, with its raw size.

    Only ``id`` is then meaningful; ``status`` is ``running`` (nothing is
    known to have finished) and every other field is empty.
    """


class Workflow:
    """The handle of a chain or group: its jobs, status and result.

    Returned by :meth:`Queue.enqueue_chain` and :meth:`Queue.enqueue_group`;
    :meth:`load` rebuilds one from its id.
    """

    def __init__(self, queue: Queue, workflow_id: str, kind: str, steps: Sequence[str], callback: str | None) -> None:
        self.queue = queue
        self.id = workflow_id
        self.kind = kind
        self.jobs: tuple[Job[Any], ...] = tuple(Job(queue, i) for i in steps)
        """The steps' (or members') job handles, in order."""
        self.callback: Job[Any] | None = Job(queue, callback) if callback else None
        """The group's callback job handle, or None."""

    def __repr__(self) -> str:
        return f"<Workflow {self.kind} {self.id!r} steps={len(self.jobs)} queue={self.queue.name!r}>"

    @classmethod
    async def load(cls, queue: Queue, workflow_id: str) -> Workflow:
        """The handle of an existing workflow of ``queue``.

        Raises:
            JobNotFound: there is no such workflow.
        """
        info = await _info(queue, workflow_id)
        return cls(queue, workflow_id, info.kind, info.steps, info.callback)

    async def info(self) -> WorkflowInfo:
        """Read the workflow's record.

        Raises:
            JobNotFound: the record is gone.
        """
        return await _info(self.queue, self.id)

    async def status(self) -> WorkflowStatus:
        """The workflow's status (one Redis call)."""
        return (await self.info()).status

    async def cancel(self) -> bool:
        """Cancel every job of the workflow that has not finished; the workflow becomes ``failed``.

        Each running or waiting job is cancelled as :meth:`Job.cancel` does;
        steps not created yet are then recorded as cancelled by the workflow
        itself (a chain stops, a group's callback is cancelled).

        Returns:
            True if some job was cancelled now, False if all had finished.

        Raises:
            ConnectionLost: Redis cannot be reached.
        """
        cancelled = False
        for job in (*self.jobs, *((self.callback,) if self.callback else ())):
            try:
                cancelled = await job.cancel() or cancelled
            except JobNotFound:
                continue  # not created yet: the workflow cancels it when it stops
        return cancelled

    async def result(self, timeout: float | None = None) -> Any:
        """Wait for the workflow to finish and return its result, without polling.

        A chain's result is its last step's; a group's is its callback's, or
        the list of its members' results when it has no callback.

        Raises:
            JobFailed, JobDead, JobCancelled: the error of the step that
                stopped the workflow (for a group, of a member that did not
                complete).
            ResultTimeout: it did not finish within ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if self.kind == "chain":
            value: Any = None
            for step in self.jobs:
                # A step's job exists once the step before it completed (same script).
                value = await step.result(_left(deadline, timeout))
            return value
        values = [await member.result(_left(deadline, timeout)) for member in self.jobs]
        if self.callback is None:
            return values
        return await self.callback.result(_left(deadline, timeout))


def _left(deadline: float | None, timeout: float | None) -> float | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise ResultTimeout(f"the workflow did not finish within {timeout} s")
    return left


async def _info(queue: Queue, workflow_id: str) -> WorkflowInfo:
    async with translate():
        try:
            raw = await queue.redis.hget(queue.keys.flows, workflow_id)
        except ResponseError as exc:  # the flows key holds another type
            if not _decode.wrong_type(exc):
                raise
            raw = None
    if raw is None or workflow_id.endswith(_DATA_SUFFIXES):
        raise JobNotFound(f"no workflow {workflow_id!r} in queue {queue.name!r}")
    return read_info(workflow_id, raw)


def read_info(workflow_id: str, raw: bytes | str) -> WorkflowInfo:
    """Build a :class:`WorkflowInfo` from a stored workflow record; never raises.

    A record that cannot be read (not JSON, nested too deep, a field of the
    wrong type, a time out of range) gives one marked :attr:`~WorkflowInfo.unreadable`.
    """
    try:
        rec = loads_json(raw)
    except Exception as exc:  # noqa: BLE001 - RecursionError, ValueError: all unreadable
        return _unreadable(workflow_id, raw, f"record is not JSON ({type(exc).__name__})")
    if not isinstance(rec, dict):
        return _unreadable(workflow_id, raw, "record is not a JSON object")
    steps = rec.get("steps")
    steps = steps if isinstance(steps, list) else []  # cjson writes an empty list as {}
    status = rec.get("status", "running")
    texts = [rec.get("kind", ""), *steps]
    optional = [rec.get("cb"), rec.get("stopped_by")]
    times = [rec.get("created_at"), rec.get("finished_at")]
    if not isinstance(status, str) or status not in _STATUSES:
        return _unreadable(workflow_id, raw, f"unknown status {_decode.text(status)[:40]!r}")
    if not all(isinstance(t, str) for t in texts) or not all(t is None or isinstance(t, str) for t in optional):
        return _unreadable(workflow_id, raw, "kind, steps, cb or stopped_by hold something other than text")
    if not all(t is None or _decode.number(t, 0.0, float(_decode.MAX_MS)) is not None for t in times):
        return _unreadable(workflow_id, raw, "created_at or finished_at is not a time")
    return WorkflowInfo(
        workflow_id,
        rec.get("kind", ""),
        WorkflowStatus(status),
        tuple(steps),
        rec.get("cb"),
        rec.get("stopped_by"),
        _seconds(rec.get("created_at")),
        _seconds(rec.get("finished_at")),
    )


_STATUSES = frozenset(s.value for s in WorkflowStatus)
_DATA_SUFFIXES = ("|d", "|p")


def _unreadable(workflow_id: str, raw: bytes | str, why: str) -> WorkflowInfo:
    size = len(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    return WorkflowInfo(
        workflow_id, "", WorkflowStatus.RUNNING, (), None, None, None, None, unreadable=f"{why} ({size} bytes)"
    )


def _seconds(ms: Any) -> float | None:
    value = _decode.number(ms, 0.0, float(_decode.MAX_MS))
    return None if value is None else value / 1000


async def enqueue_chain(queue: Queue, calls: Sequence[Call], *, workflow_id: str | None = None) -> Workflow:
    """Enqueue a chain on ``queue``: see :meth:`Queue.enqueue_chain`."""
    if not calls:
        raise ConfigurationError("a chain needs at least one step")
    return await _enqueue(queue, "chain", list(calls), None, workflow_id)


async def enqueue_group(
    queue: Queue, calls: Sequence[Call], then: Call | None = None, *, workflow_id: str | None = None
) -> Workflow:
    """Enqueue a group on ``queue``: see :meth:`Queue.enqueue_group`."""
    if not calls:
        raise ConfigurationError("a group needs at least one member")
    return await _enqueue(queue, "group", list(calls), then, workflow_id)


async def _enqueue(queue: Queue, kind: str, calls: list[Call], then: Call | None, workflow_id: str | None) -> Workflow:
    from ._queue import _max_attempts_arg, _timeout_ms

    workflow_id = uuid.uuid4().hex if workflow_id is None else check_name(workflow_id, "job id")
    everything = [*calls, *([then] if then is not None else [])]
    values: list[Any] = []
    ids: list[str] = []
    for call in everything:
        if call.queue not in (None, queue.name):
            raise ConfigurationError(
                f"job {call.name!r}: every job of a workflow runs in the workflow's queue "
                f"({queue.name!r}), not {call.queue!r}; enqueue the workflow through queue.sibling({call.queue!r})"
            )
        if call.delay is not None or call.at is not None or call.unique not in (None, False):
            raise ConfigurationError(f"job {call.name!r}: workflow steps take no delay, at or unique option")
        job_id = uuid.uuid4().hex if call.job_id is None else check_name(call.job_id, "job id")
        check_name(call.name, "handler name")
        if job_id in ids or job_id == workflow_id:
            raise ConfigurationError(f"job id {job_id!r} is used twice in one workflow")
        ids.append(job_id)
        values += [
            job_id,
            call.name,
            queue.encode_payload(call.name, call.args, call.kwargs, call.meta),
            _max_attempts_arg(call.max_attempts),
            _timeout_ms(call.timeout),
            check_key(call.name, call.limit_key) or "",
        ]
    k = queue.keys
    async with translate():
        await queue.redis.sadd(queue_registry(queue.prefix), queue.name)  # type: ignore[misc,unused-ignore]  # redis-py's stub
        reply = await _scripts.run(
            queue.redis,
            "flow",
            [k.queue, k.jobs, k.state, k.marker, k.stats, k.flows, k.dead],
            [workflow_id, kind, len(calls), "1" if then is not None else "0", *values],
        )
    code = _decode.text(reply[0])
    if code == "exists":
        raise ConfigurationError(f"workflow id {workflow_id!r} is taken in queue {queue.name!r}")
    if code == "conflict":
        raise ConfigurationError(f"job id {_decode.text(reply[1])!r} is taken in queue {queue.name!r}")
    return Workflow(queue, workflow_id, kind, ids[: len(calls)], ids[-1] if then is not None else None)


async def step_inputs(job: ClaimedJob, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The arguments of a workflow step with its inputs put first (worker side).

    A chain step gets the previous step's result; a group's callback gets
    the list of the members' results.

    Raises:
        ValueError: an input is missing (the workflow's data was deleted).
    """
    count = _decode.integer(job.state.get("win") or 0, 0, MAX_STEPS)
    if count is None:
        raise ValueError(f"job {job.id}: its workflow input count is not a count up to {MAX_STEPS}")
    if count == 0:
        return args
    queue = job.queue
    fields = [f"{job.id}|i{k}" for k in range(count)]
    async with translate():
        raw = await queue.redis.hmget(queue.keys.flows, fields)  # type: ignore[misc,unused-ignore]  # redis-py's stub: Awaitable[T] | T
    values = []
    for r in raw:
        if r is None:
            raise ValueError(f"workflow input of job {job.id} is missing")
        values.append(queue.serializer.loads(r if isinstance(r, bytes) else r.encode()))
    if job.state.get("wcb"):
        return (values, *args)
    return (values[0], *args)
