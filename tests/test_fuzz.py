"""Hostile-input fuzzing on a real Redis: garbage between real operations never stops, breaks or loses anything.

A Hypothesis state machine runs random sequences of real operations on a
real ``redis-server`` (the suite's own, each example under a fresh key
prefix): enqueue (good jobs whose handler records completion, failing jobs,
limited, unique and delayed jobs, chains), burst workers (in-process, bounded
in time), a worker that claims and vanishes, cancel, retry (one id and the
CLI's bulk retry), delete, recover, and every reader (``job.info()``,
``list_jobs`` for every status, overview and statistics, the CLI listings
run in-process, the dashboard's pages including ``/metrics``). Between them
it writes garbage (``tests/fuzz_support.py``) into random keys, members and
fields of the documented layout, a value of the wrong Redis type into a
random key (put back later, as an operator would repair it), and wrong-typed
or absurd values into one field of a real job's state record.

Checked after every step and at the end:

* no worker exits with an exception, and a burst worker ends in bounded time;
* every reader returns: no exception, CLI exit code 0 (``info``: 0 or 1, its
  "needs attention" code), HTTP 200;
* every good job is in exactly one place that matches its status (a job whose
  own record was garbaged: at most one place, or quarantined);
* after a burst, no good job of a healthy queue is left waiting, and at the
  end (garbage of the wrong type repaired, expired leases recovered) a last
  worker has run every good job: its result is its tag.

Profiles: the default suite runs ``FUZZ_CI`` (derandomized: the same 25
examples on every run, so CI is reproducible and a red build is the code's
fault, not the dice's; no example database). ``pytest -m slow
tests/test_fuzz.py -s`` runs ``FUZZ_LONG`` (random, ``AIORESQUE_FUZZ_EXAMPLES``
examples, default 1000, failing examples saved in ``.hypothesis/``) and
prints how many examples ran. ``AIORESQUE_FUZZ_SURVEY=<file>`` records every
distinct problem (with the steps that led to it) in ``<file>`` instead of
stopping at the first, to list findings; ``AIORESQUE_FUZZ_FOCUS=<regex>``
fails only on problems matching it (Hypothesis then shrinks that one), and
``AIORESQUE_FUZZ_SKIP=<regex>`` turns the steps matching it into no-ops (to
look past a known finding).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

import aioresque
from aioresque import Call, JobStatus, Queue, Worker, list_workers, prometheus_metrics
from aioresque._claim import claim_keys
from aioresque._connect import Client, close_client, connect
from aioresque._decode import text
from aioresque._format import READS
from aioresque._keys import queue_registry, recovery_lock, worker_index, worker_record
from aioresque._limits import limit_args
from aioresque._scripts import run as run_script
from tests import fuzz_support as fz

T = TypeVar("T")

QUEUES = ("default", "other")
KINDS = ("ok", "fail", "limited", "unique", "delayed")
VANISHED = "fuzz-vanished-worker"
"""The worker id of the claims nobody settles (a worker that died holding jobs)."""
VANISHED_LEASE_MS = 200
MAX_LOST = 3
SCORES = [0, -1, 1e300, float("inf"), float("-inf"), 253_402_300_800_000, 2.0**63, "now"]

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
FUZZ_CI = settings(
    max_examples=25,
    stateful_step_count=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=_HEALTH,
    print_blob=True,
)
FUZZ_LONG = settings(
    max_examples=int(os.environ.get("AIORESQUE_FUZZ_EXAMPLES", "1000")),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=_HEALTH,
    print_blob=True,
)

garbage = st.one_of(st.sampled_from(fz.NAMED_GARBAGE), st.binary(max_size=24).map(lambda b: fz.Garbage(repr(b), b)))
target = st.one_of(st.integers(0, 1000), garbage)
"""An existing member/field (by index) or a new one (garbage)."""


@dataclass
class Flow:
    """One chain or group the fuzzer enqueued: good steps (and a good callback)."""

    queue: str
    id: str
    tags: tuple[str, ...]
    steps: tuple[str, ...]
    lost: int = 0


@dataclass
class Tracked:
    """One job the fuzzer enqueued, and what it did to it."""

    queue: str
    id: str
    kind: str
    tag: str
    tainted: str | None = None
    """How an injection damaged the job itself (its own record, its score): it need not run then."""
    doubled: bool = False
    """An injection copied its id into a second place."""
    gone: bool = False
    cancelled: int = 0
    lost: int = 0


def _normalize(problem: str) -> str:
    return re.sub(r"[0-9a-f]{12,}|\d+", "N", problem)


class FuzzMachine(RuleBasedStateMachine):
    """Operations, injections and readers on one fresh prefix."""

    redis_url: ClassVar[str] = ""
    examples: ClassVar[int] = 0
    counts: ClassVar[dict[str, int]] = {}
    """Steps run, by rule name (for the figures the README quotes)."""
    survey: ClassVar[dict[str, str]] = {}

    def __init__(self) -> None:
        super().__init__()
        type(self).examples += 1
        self.runner = asyncio.Runner()
        self.prefix = f"fz{uuid.uuid4().hex[:10]}"
        self.redis: Client = connect(self.redis_url)
        self.base = Queue(self.redis, "default", prefix=self.prefix)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=aioresque.dashboard(self.base)), base_url="http://dash"
        )
        self.jobs: list[Tracked] = []
        self.workflows: list[Flow] = []
        self.broken: dict[str, bytes | None] = {}
        """Keys holding a value of the wrong Redis type now -> their DUMP before (None: they did not exist)."""
        self.failed = False
        self.steps: list[str] = []
        self.serial = 0

    # -- plumbing ----------------------------------------------------------------------

    def run(self, step: str, make: Callable[[], Coroutine[Any, Any, T]]) -> T | None:
        skip = os.environ.get("AIORESQUE_FUZZ_SKIP")
        if skip and step and re.search(skip, step):
            return None
        self.steps.append(step)
        if step:
            rule_name = step.split("(")[0]
            self.counts[rule_name] = self.counts.get(rule_name, 0) + 1
        try:
            return self.runner.run(make())
        except BaseException:
            self.failed = True
            raise

    def check(self, kind: str, problems: list[str]) -> None:
        """Fail the example with the problems of one kind (each kind raises from its own line)."""
        focus = os.environ.get("AIORESQUE_FUZZ_FOCUS")
        if focus:
            problems = [p for p in problems if re.search(focus, f"{kind}: {p}")]
        if not problems:
            return
        if os.environ.get("AIORESQUE_FUZZ_SURVEY"):
            for p in problems:
                self.survey.setdefault(f"{kind}: {_normalize(p)}", f"{kind}: {p}\n  steps: " + "; ".join(self.steps))
            return
        text = "\n  ".join(problems)
        if kind == "worker":
            raise AssertionError(f"a worker failed:\n  {text}")
        if kind == "reader":
            raise AssertionError(f"a reader failed:\n  {text}")
        if kind == "action":
            raise AssertionError(f"an action raised:\n  {text}")
        if kind == "places":
            raise AssertionError(f"a job is not in exactly one place matching its status:\n  {text}")
        if kind == "script":
            raise AssertionError(f"a script errored on a value:\n  {text}")
        raise AssertionError(f"a good job did not run:\n  {text}")

    def queue(self, name: str) -> Queue:
        return self.base.sibling(name)

    def broken_queue(self, name: str) -> bool:
        """Whether a key of the queue, or a key every queue uses (the registries), has the wrong type now."""
        tag = self.queue(name).keys.tag + ":"
        shared = {queue_registry(self.prefix), recovery_lock(self.prefix), worker_index(self.prefix)}
        return any(k.startswith(tag) or k in shared for k in self.broken)

    def pick(self, index: int) -> Tracked | None:
        return self.jobs[index % len(self.jobs)] if self.jobs else None

    def tag(self) -> str:
        self.serial += 1
        return f"{self.prefix}-{self.serial}"

    async def action(self, label: str, broken: bool, fn: Callable[[], Awaitable[T]]) -> T | None:
        try:
            with anyio.fail_after(30):
                return await fn()
        except Exception as exc:  # noqa: BLE001 - judged below: only documented refusals pass
            if not fz.allowed_error(exc, broken):
                self.check("action", [f"{label}: {fz.describe(exc)}"])
            return None

    # -- operations ----------------------------------------------------------------------

    @rule(
        what=st.sampled_from(["jobs", "chain", "group"]),
        queue=st.sampled_from(QUEUES),
        kind=st.sampled_from(KINDS),
        n=st.integers(1, 3),
    )
    def produce(self, what: str, queue: str, kind: str, n: int) -> None:
        """Enqueue good jobs (or failing, limited, unique, delayed ones), a chain or a group."""
        if what == "jobs":
            self.enqueue(queue, kind, n)
        elif what == "chain":
            self.enqueue_chain(queue)
        else:
            self.enqueue_group(queue)

    @rule(
        what=st.sampled_from(["cancel", "retry", "delete", "bulk_retry", "dashboard_bulk", "recover"]),
        pick=st.integers(0, 1000),
        queue=st.sampled_from(QUEUES),
        kind=st.sampled_from(["dead", "scheduled", "complete", "queued"]),
        flag=st.booleans(),
    )
    def act(self, what: str, pick: int, queue: str, kind: str, flag: bool) -> None:
        """An operator's action: cancel, retry or delete one job, bulk retry (CLI or dashboard), recover."""
        if what == "cancel":
            self.cancel(pick)
        elif what == "retry":
            self.retry(pick)
        elif what == "delete":
            self.delete(pick)
        elif what == "bulk_retry":
            self.bulk_retry(queue)
        elif what == "dashboard_bulk":
            self.dashboard_bulk(kind, "delete" if flag and pick % 2 else "retry")
        else:
            self.recover(wait=flag, cli=bool(pick % 2))

    def enqueue(self, queue: str, kind: str, n: int) -> None:
        async def go() -> None:
            q = self.queue(queue)
            for _ in range(n):
                tag = self.tag()
                name = {"fail": "fuzz_fail", "limited": "fuzz_limited"}.get(kind, "fuzz_ok")
                options: dict[str, Any] = {"_unique": True} if kind == "unique" else {}
                if kind == "delayed":
                    options["_delay"] = 3600
                job = await self.action(
                    f"enqueue {kind} on {queue}",
                    self.broken_queue(queue),
                    lambda name=name, tag=tag, options=options: q.enqueue(name, tag, _job_id=tag, **options),
                )
                if job is not None:
                    self.jobs.append(Tracked(queue, job.id, kind, tag))
                else:  # a refused enqueue wrote nothing (Redis keeps what a failing script wrote)
                    found = [] if self.broken_queue(queue) else (await fz.places(q, tag))[0]
                    written = q.keys.state not in self.broken and await self.redis.hexists(q.keys.state, tag)
                    if found or written:
                        self.check("places", [f"enqueue {kind} on {queue} raised but left job {tag} in {found}"])

        self.run(f"enqueue({queue!r}, {kind!r}, {n})", go)

    def enqueue_chain(self, queue: str) -> None:
        async def go() -> None:
            q = self.queue(queue)
            tags = (self.tag(), self.tag())
            flow = await self.action(
                f"enqueue_chain on {queue}",
                self.broken_queue(queue),
                lambda: q.enqueue_chain([Call("fuzz_step", (tags[0],)), Call("fuzz_step", (tags[1],))]),
            )
            if flow is not None:
                self.workflows.append(Flow(queue, flow.id, tags, tuple(j.id for j in flow.jobs)))

        self.run(f"enqueue_chain({queue!r})", go)

    def enqueue_group(self, queue: str) -> None:
        """A group of two good jobs and a good callback (which receives their results)."""

        async def go() -> None:
            q = self.queue(queue)
            tags = (self.tag(), self.tag(), self.tag())
            flow = await self.action(
                f"enqueue_group on {queue}",
                self.broken_queue(queue),
                lambda: q.enqueue_group(
                    [Call("fuzz_step", (tags[0],)), Call("fuzz_step", (tags[1],))], then=Call("fuzz_step", (tags[2],))
                ),
            )
            if flow is not None:
                steps = tuple(j.id for j in flow.jobs) + ((flow.callback.id,) if flow.callback else ())
                self.workflows.append(Flow(queue, flow.id, tags, steps))

        self.run(f"enqueue_group({queue!r})", go)

    def dashboard_bulk(self, kind: str, action: str) -> None:
        """The dashboard's "retry/delete all" over a whole list (it reads every record it selects)."""

        async def go() -> None:
            problems: list[str] = []
            listed = {JobStatus(s) for s in {"dead": ("failed", "dead", "cancelled")}.get(kind, (kind,))}
            candidates = [t for t in self.jobs if not t.gone and await self._status(t) in listed]
            html = await fz.page(self.client, f"/jobs/{kind}", problems)
            token = re.search(r'name="csrf" value="([^"]+)"', html)
            if token is None:
                problems.append(f"dashboard /jobs/{kind}: no CSRF token on the page")
            else:
                form = {"csrf": token.group(1), "scope": "all", "next": f"/jobs/{kind}"}
                try:
                    response = await self.client.post(f"/jobs/{kind}/{action}", data=form)
                    if response.status_code not in (303, 302):
                        problems.append(f"dashboard POST /jobs/{kind}/{action}: HTTP {response.status_code}")
                except Exception as exc:  # noqa: BLE001 - the app raised: the action would answer 500
                    problems.append(f"dashboard POST /jobs/{kind}/{action}: {fz.describe(exc)}")
            if not self.broken:
                self.check("action", problems)
            if action == "delete":  # the jobs that were in that list may be gone now
                await self._forget_deleted(candidates)

        self.run(f"dashboard_bulk({kind!r}, {action!r})", go)

    async def _status(self, t: Tracked) -> JobStatus | None:
        try:
            return await self.queue(t.queue).job(t.id).status()
        except Exception:  # noqa: BLE001 - the readers' checks report it; here it only selects candidates
            return None

    async def _forget_deleted(self, candidates: list[Tracked]) -> None:
        for t in candidates:
            if await self._status(t) is JobStatus.NOT_FOUND:
                t.gone = True
        gone = {t.id for t in self.jobs if t.gone}
        kept = []
        for flow in self.workflows:  # a deleted step (or a step not created yet: no way to tell) ends the check
            steps = [Tracked(flow.queue, step, "ok", "") for step in flow.steps]
            if not gone.intersection(flow.steps) and all(
                [await self._status(t) is not JobStatus.NOT_FOUND for t in steps]
            ):
                kept.append(flow)
        self.workflows = kept

    @rule(wildcard=st.booleans())
    def burst(self, wildcard: bool) -> None:
        self.run(f"burst(wildcard={wildcard})", lambda: self._burst(wildcard))

    async def _burst(self, wildcard: bool) -> None:
        if await self._run_worker(["*"] if wildcard else list(QUEUES)):
            await self._progress()

    async def _run_worker(self, queues: list[str]) -> bool:
        """Run a burst worker; it must end in bounded time without an exception or a script error.

        Returns whether it ended normally.
        """
        worker = Worker(self.base, fz.HANDLERS, queues=queues, burst=True, concurrency=4, lease=5)
        label = f"burst worker (queues={','.join(queues)})"
        with fz.errors_logged() as logged:
            try:
                with anyio.fail_after(30):
                    await worker.run()
            except Exception as exc:  # noqa: BLE001 - a worker must never exit with an exception
                self.check("worker", [f"{label}: {fz.describe(exc)}"])
                return False
        # A script that errors on a value leaves its queue alone (or an outcome unrecorded); only a
        # key of the wrong Redis type may do that (the scripts' type guard refuses to write then).
        if not self.broken:
            self.check("script", [f"{label} logged: {message}" for message in logged])
        return True

    async def _progress(self, final: bool = False) -> None:
        """After a burst: no good job of a healthy queue waits; at the end, every good job ran."""
        problems: list[str] = []
        for t in self.jobs:
            if t.tainted or t.doubled or t.gone or self.broken_queue(t.queue):
                continue
            q = self.queue(t.queue)
            info = await fz.job_info(q, t.id, problems, gone_ok=False)
            if info is None:
                continue
            status = info.status
            lost_out = t.lost >= MAX_LOST
            if status is JobStatus.ACTIVE and info.worker == VANISHED and not final:
                continue
            ok = {JobStatus.COMPLETE} if t.kind != "fail" else {JobStatus.FAILED}
            if t.kind == "delayed":
                ok.add(JobStatus.SCHEDULED)
            if t.cancelled:
                ok.add(JobStatus.CANCELLED)
            if lost_out:
                ok.add(JobStatus.DEAD)
            if status not in ok:
                why = f" ({info.error})" if getattr(info, "error", None) else ""
                problems.append(f"{t.kind} job {t.queue}/{t.id} is {status.value}{why} after a burst")
            elif final and status is JobStatus.COMPLETE:
                value = await self.action(f"result of {t.id}", False, lambda q=q, t=t: q.job(t.id).result(timeout=1))
                if value != t.tag or t.tag not in fz.completed:
                    problems.append(f"job {t.queue}/{t.id} complete with result {value!r}, not its tag {t.tag!r}")
        if final:
            for flow in self.workflows:
                if self.broken_queue(flow.queue):
                    continue
                info = await fz.call_reader(
                    f"workflow {flow.id}.info()", lambda f=flow: self._flow_info(f.queue, f.id), problems
                )
                if info is not None and flow.lost < MAX_LOST and not all(tag in fz.completed for tag in flow.tags):
                    problems.append(f"chain {flow.queue}/{flow.id} is {info.status.value}: a step did not run")
        self.check("progress", problems)

    async def _flow_info(self, queue: str, flow_id: str) -> aioresque.WorkflowInfo:
        return await (await self.queue(queue).workflow(flow_id)).info()

    @rule(queue=st.sampled_from(QUEUES), n=st.integers(1, 4))
    def vanish(self, queue: str, n: int) -> None:
        """A worker claims up to ``n`` jobs with a short lease, then is never heard of again."""

        async def go() -> None:
            q = self.queue(queue)
            reply = await self.action(
                f"claim on {queue}",
                self.broken_queue(queue),
                lambda: run_script(
                    self.redis,
                    "claim",
                    claim_keys(q.keys),
                    [VANISHED, n, VANISHED_LEASE_MS, MAX_LOST, READS, *limit_args(fz.HANDLERS)],
                ),
            )
            if reply is None:
                return
            items = reply[3]
            claimed = {text(items[i]) for i in range(0, len(items), 3)}
            for t in self.jobs:
                if t.queue == queue and t.id in claimed:
                    t.lost += 1
            for flow in self.workflows:
                if flow.queue == queue and claimed.intersection(flow.steps):
                    flow.lost += 1

        self.run(f"vanish({queue!r}, {n})", go)

    def cancel(self, pick: int) -> None:
        t = self.pick(pick)
        if t is None:
            return

        async def go() -> None:
            done = await self.action(
                f"cancel {t.id}",
                self.broken_queue(t.queue) or bool(t.tainted) or t.gone,
                lambda: self.queue(t.queue).cancel(t.id),
            )
            if done:
                t.cancelled += 1

        self.run(f"cancel({t.queue}/{t.id})", go)

    def retry(self, pick: int) -> None:
        t = self.pick(pick)
        if t is None:
            return
        self.run(
            f"retry({t.queue}/{t.id})",
            lambda: self.action(
                f"retry {t.id}", self.broken_queue(t.queue), lambda: self.queue(t.queue).retry_jobs([t.id])
            ),
        )

    def bulk_retry(self, queue: str) -> None:
        """``aioresque retry --queue Q --yes``: the whole dead set back on the queue."""

        async def go() -> None:
            problems: list[str] = []
            await fz.cli(self.redis_url, self.prefix, ["retry", "--queue", queue, "--yes"], problems)
            if not self.broken_queue(queue):
                self.check("action", problems)

        self.run(f"bulk_retry({queue!r})", go)

    def delete(self, pick: int) -> None:
        t = self.pick(pick)
        if t is None:
            return

        async def go() -> None:
            deleted = await self.action(
                f"delete {t.id}", self.broken_queue(t.queue), lambda: self.queue(t.queue).delete_jobs([t.id])
            )
            if deleted:
                t.gone = True

        self.run(f"delete({t.queue}/{t.id})", go)

    def recover(self, wait: bool, cli: bool) -> None:
        async def go() -> None:
            if wait:
                await anyio.sleep(VANISHED_LEASE_MS / 1000 + 0.05)
            if cli:
                problems: list[str] = []
                await fz.cli(self.redis_url, self.prefix, ["recover"], problems)
                if not any(self.broken_queue(name) for name in QUEUES):  # exit 1 names the queue it could not recover
                    self.check("action", problems)
                return
            for name in QUEUES:
                await self.action(f"recover {name}", self.broken_queue(name), lambda n=name: self.queue(n).recover())

        self.run(f"recover(wait={wait}, cli={cli})", go)

    # -- readers ---------------------------------------------------------------------

    @rule(
        which=st.sampled_from(["info", "lists", "cli", "dashboard", "job_pages", "metrics"]), pick=st.integers(0, 1000)
    )
    def read(self, which: str, pick: int) -> None:
        self.run(f"read({which!r}, {pick})", lambda: self._read(which, pick))

    async def _read(self, which: str, pick: int) -> None:
        problems: list[str] = []
        if which == "info":
            for t in self.jobs:
                await fz.job_info(self.queue(t.queue), t.id, problems, gone_ok=t.gone or bool(t.tainted) or t.doubled)
        elif which == "lists":
            for name in QUEUES:
                await fz.queue_readers(self.queue(name), problems)
        elif which == "cli":
            argv = fz.CLI_LISTINGS[pick % len(fz.CLI_LISTINGS)]
            await fz.cli(self.redis_url, self.prefix, argv, problems)
            one = self.pick(pick)
            if one is not None:
                out: list[str] = []
                await fz.cli(self.redis_url, self.prefix, ["job", one.id, "--queue", one.queue], out)
                if not (one.gone or one.tainted):  # else "no such job" (exit 2) is a fair answer
                    problems += out
        elif which == "dashboard":
            await fz.page(self.client, fz.DASHBOARD_PAGES[pick % len(fz.DASHBOARD_PAGES)], problems)
        elif which == "job_pages":
            for t in self.jobs:
                gone = t.gone or bool(t.tainted) or t.doubled
                await fz.page(self.client, f"/job/{t.queue}/{t.id}", problems, (200, 404) if gone else (200,))
        else:
            await fz.call_reader("prometheus_metrics()", lambda: prometheus_metrics(self.base), problems)
            await fz.call_reader("list_workers()", lambda: list_workers(self.redis, prefix=self.prefix), problems)
        self.check("reader", problems)

    async def _all_readers(self) -> None:
        for which in ("info", "lists", "job_pages", "metrics"):
            await self._read(which, 0)
        problems: list[str] = []
        for argv in fz.CLI_LISTINGS:
            await fz.cli(self.redis_url, self.prefix, argv, problems)
        for path in fz.DASHBOARD_PAGES:
            await fz.page(self.client, path, problems)
        for flow in self.workflows:
            await fz.cli(self.redis_url, self.prefix, ["workflow", flow.id, "--queue", flow.queue], problems)
        self.check("reader", problems)

    # -- garbage --------------------------------------------------------------------

    @rule(
        queue=st.sampled_from(QUEUES),
        key=st.sampled_from(sorted(k for k in fz.QUEUE_KEYS if k != "paused")),
        where=target,
        value=garbage,
        score=st.sampled_from(SCORES),
        head=st.booleans(),
    )
    def inject(self, queue: str, key: str, where: int | fz.Garbage, value: fz.Garbage, score: Any, head: bool) -> None:
        """Write garbage into one key of the layout: a new entry, or over an existing field or score."""
        self.run(
            f"inject({queue!r}, {key!r}, where={where!r}, value={value!r}, score={score!r}, head={head})",
            lambda: self._inject(queue, key, where, value, score, head),
        )

    async def _inject(
        self, queue: str, key: str, where: int | fz.Garbage, value: fz.Garbage, score: Any, head: bool
    ) -> None:
        name = getattr(self.queue(queue).keys, key)
        kind = fz.QUEUE_KEYS[key]
        if name in self.broken:
            return
        r: Any = self.redis  # redis-py types replies for both clients as unions
        if score == "now":
            score = time.time() * 1000
        if kind == "list":
            await (r.rpush(name, value.data) if head else r.lpush(name, value.data))
        elif kind == "set":
            await r.sadd(name, value.data)
        elif kind == "zset":
            member: bytes = value.data
            if isinstance(where, int):
                existing: list[bytes] = await r.zrange(name, 0, -1)
                if existing:
                    member = existing[where % len(existing)]
                    owner = member.rsplit(b"\0", 1)[-1]  # a waiting entry is "<group>\0<seq>\0<id>"
                    self.taint(queue, owner, f"score of its {key} entry set to {score}")
            await r.zadd(name, {member: score})
        else:
            if isinstance(where, fz.Garbage):
                field = where.data
            else:
                fields: list[bytes] = sorted(await r.hkeys(name))
                field = fields[where % len(fields)] if fields else b"fuzz"
                if key in ("state", "jobs", "results", "errors"):
                    self.taint(queue, field, f"{key} record replaced by {value!r}")
                if key == "flows":
                    self.taint_flow(queue, field)
            await r.hset(name, field, value.data)

    def taint(self, queue: str, member: bytes | str, how: str) -> None:
        member_id = member.decode(errors="replace") if isinstance(member, bytes) else member
        for t in self.jobs:
            if t.queue == queue and t.id == member_id:
                t.tainted = t.tainted or how
        self.taint_flow(queue, member_id.encode())  # a workflow step's own record: the workflow need not finish

    def taint_flow(self, queue: str, field: bytes) -> None:
        text = field.decode(errors="replace").split("|")[0]
        self.workflows = [w for w in self.workflows if not (w.queue == queue and text in (w.id, *w.steps))]

    @rule(pick=st.integers(0, 1000), record=st.sampled_from(["state", "jobs", "results", "errors"]), value=garbage)
    def inject_record(self, pick: int, record: str, value: fz.Garbage) -> None:
        """Replace one record of a real job by garbage."""
        t = self.pick(pick)
        if t is None or t.gone:
            return

        async def go() -> None:
            if getattr(self.queue(t.queue).keys, record) in self.broken:
                return
            await self.redis.hset(getattr(self.queue(t.queue).keys, record), t.id, value.data)
            t.tainted = t.tainted or f"{record} record replaced by {value!r}"

        self.run(f"inject_record({t.queue}/{t.id}, {record!r}, {value!r})", go)

    @rule(
        pick=st.integers(0, 1000),
        field=st.one_of(st.sampled_from(fz.STATE_FIELDS), st.text(max_size=8)),
        literal=st.sampled_from(fz.FIELD_VALUES),
    )
    def inject_field(self, pick: int, field: str, literal: str) -> None:
        """Set one field of a real job's state record to a wrong-typed, non-finite or absurd value."""
        t = self.pick(pick)
        if t is None or t.gone:
            return

        async def go() -> None:
            k = self.queue(t.queue).keys
            if k.state in self.broken:
                return
            r: Any = self.redis  # redis-py types replies for both clients as unions
            raw: bytes | None = await r.hget(k.state, t.id)
            changed = fz.with_field(raw, field, literal) if raw is not None else None
            if changed is not None:
                await self.redis.hset(k.state, t.id, changed)
                t.tainted = t.tainted or f"state field {field!r} = {literal[:30]}"

        self.run(f"inject_field({t.queue}/{t.id}, {field!r}, {literal[:40]!r})", go)

    @rule(pick=st.integers(0, 1000), place=st.sampled_from(["queue", "scheduled", "active", "done", "dead"]))
    def inject_place(self, pick: int, place: str) -> None:
        """Copy a real job's id into a second place (a duplicate, as a buggy tool would leave)."""
        t = self.pick(pick)
        if t is None:
            return

        async def go() -> None:
            name = getattr(self.queue(t.queue).keys, place)
            if name in self.broken:
                return
            if place == "queue":
                await self.redis.lpush(name, t.id)
            else:
                await self.redis.zadd(name, {t.id: time.time() * 1000})
            t.doubled = True

        self.run(f"inject_place({t.queue}/{t.id}, {place!r})", go)

    @rule(what=st.sampled_from(["queue_name", "worker_record", "worker_index"]), value=garbage, valid_id=st.booleans())
    def inject_global(self, what: str, value: fz.Garbage, valid_id: bool) -> None:
        """Garbage in the keys no queue owns: the queue registry and the worker registry."""

        async def go() -> None:
            r = self.redis
            if what == "queue_name":
                if queue_registry(self.prefix) not in self.broken:
                    await r.sadd(queue_registry(self.prefix), value.data)
            elif what == "worker_record":
                worker_id = f"fuzz-w{self.serial}" if valid_id else value.data.decode("latin-1")[:40]
                await r.set(worker_record(self.prefix, worker_id), value.data, px=60_000)
                if worker_index(self.prefix) not in self.broken:
                    await r.zadd(worker_index(self.prefix), {worker_id: time.time() * 1000 + 60_000})
            elif worker_index(self.prefix) not in self.broken:
                await r.zadd(worker_index(self.prefix), {value.data: time.time() * 1000 + 60_000})

        self.run(f"inject_global({what!r}, {value!r}, valid_id={valid_id})", go)

    @rule(
        queue=st.sampled_from((*QUEUES, "<global>")),
        key=st.sampled_from(sorted(fz.QUEUE_KEYS)),
        global_key=st.sampled_from(sorted(fz.GLOBAL_KEYS)),
        as_type=st.sampled_from(["string", "list", "hash", "zset", "set"]),
    )
    def break_key(self, queue: str, key: str, global_key: str, as_type: str) -> None:
        """Replace a whole key by a value of the wrong Redis type (repaired by ``repair``)."""

        async def go() -> None:
            if queue == "<global>":
                name = {
                    "queues": queue_registry(self.prefix),
                    "recovery-lock": recovery_lock(self.prefix),
                    "workers": worker_index(self.prefix),
                }[global_key]
                expected = fz.GLOBAL_KEYS[global_key]
            else:
                name = getattr(self.queue(queue).keys, key)
                expected = fz.QUEUE_KEYS[key]
            if name in self.broken or (as_type == expected and key != "paused"):
                return
            r = self.redis
            self.broken[name] = await r.dump(name)
            await r.delete(name)
            if as_type == "string":
                await r.set(name, b"garbage")
            elif as_type == "list":
                await r.rpush(name, b"garbage")
            elif as_type == "hash":
                await r.hset(name, b"garbage", b"garbage")
            elif as_type == "zset":
                await r.zadd(name, {b"garbage": 1})
            else:
                await r.sadd(name, b"garbage")

        where = global_key if queue == "<global>" else f"{queue}:{key}"
        self.run(f"break_key({where!r}, as {as_type})", go)

    @precondition(lambda self: bool(self.broken))
    @rule()
    def repair(self) -> None:
        self.run("repair()", self._repair)

    async def _repair(self) -> None:
        for name, dump in self.broken.items():
            await self.redis.delete(name)
            if dump is not None:
                await self.redis.restore(name, 0, dump, replace=True)
        self.broken.clear()

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def in_one_place(self) -> None:
        if self.failed:
            return
        self.run("", self._places)
        self.steps.pop()

    async def _places(self) -> None:
        problems: list[str] = []
        for t in self.jobs:
            if t.doubled or self.broken_queue(t.queue):
                continue
            q = self.queue(t.queue)
            found, quarantined = await fz.places(q, t.id)
            info = await fz.job_info(q, t.id, problems, gone_ok=t.gone or bool(t.tainted))
            if quarantined is not None and not fz.quarantine_entry_ok(quarantined):
                problems.append(f"job {t.queue}/{t.id} quarantined without a reason: {quarantined[:100]!r}")
            if t.gone:
                if found or quarantined or info is not None:
                    problems.append(f"deleted job {t.queue}/{t.id} still in {found}, quarantined={quarantined!r}")
            elif t.tainted:
                unplaced = not found and quarantined is None and info is not None and not info.status.finished
                if len(found) > 1 or unplaced:
                    problems.append(f"damaged job {t.queue}/{t.id} ({t.tainted}) is in {found or 'no place'}")
            elif quarantined is not None:
                problems.append(f"good job {t.queue}/{t.id} was quarantined: {quarantined[:100]!r}")
            elif info is not None and (len(found) != 1 or found[0] not in fz.PLACES_OF[info.status]):
                problems.append(f"{info.status.value} job {t.queue}/{t.id} is in {found or 'no place'}")
        self.check("places", problems)

    def teardown(self) -> None:
        try:
            if not self.failed:
                self.run("final()", self._final)
        finally:
            self.runner.run(self._close())
            self.runner.close()

    async def _final(self) -> None:
        """Repair, recover expired leases, run a last worker: every good job has run; every reader still works."""
        await self._repair()
        await anyio.sleep(VANISHED_LEASE_MS / 1000 + 0.05)
        for name in QUEUES:
            await self.action(f"recover {name}", False, lambda n=name: self.queue(n).recover())
        await self._run_worker(list(QUEUES))
        await self._progress(final=True)
        await self._places()
        await self._all_readers()

    async def _close(self) -> None:
        await self.client.aclose()
        async for key in self.redis.scan_iter(match=f"{self.prefix}:*", count=1000):
            await self.redis.unlink(key)
        await close_client(self.redis)


def _run(redis_url: str, profile: settings) -> int:
    FuzzMachine.redis_url = redis_url
    FuzzMachine.examples = 0
    FuzzMachine.counts = {}
    FuzzMachine.survey = {}
    try:
        run_state_machine_as_test(FuzzMachine, settings=profile)
    finally:
        survey = os.environ.get("AIORESQUE_FUZZ_SURVEY")
        if survey:
            with open(survey, "w") as f:
                json.dump(FuzzMachine.survey, f, indent=1)
        counts = FuzzMachine.counts
        garbage = sum(n for name, n in counts.items() if name.startswith(("inject", "break_key")))
        print(
            f"\nfuzz: {FuzzMachine.examples} examples run, {sum(counts.values())} steps, {garbage} injections"
            f" ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})"
        )
    return FuzzMachine.examples


@pytest.mark.timeout(600, method="thread")  # a signal would be caught by Hypothesis as a failure to shrink
def test_garbage_between_operations_stops_breaks_and_loses_nothing(redis_url: str) -> None:
    assert _run(redis_url, FUZZ_CI) >= FUZZ_CI.max_examples


@pytest.mark.slow
@pytest.mark.timeout(0)
def test_garbage_between_operations_long_run(redis_url: str) -> None:
    _run(redis_url, FUZZ_LONG)
