"""Enqueue and perform middleware: order, changing calls, meta carried to the worker."""

from __future__ import annotations

import dataclasses
from typing import Any

import aioresque
from aioresque import Call, EnqueueNext, Job, JobContext, PerformNext, Queue, Worker

trail: list[str] = []


@aioresque.job
async def show_meta() -> dict[str, str]:
    trail.append("handler")
    return dict(aioresque.current_job().meta)


def enqueue_mw(tag: str) -> aioresque.EnqueueMiddleware:
    async def mw(call: Call, call_next: EnqueueNext) -> Job[Any]:
        trail.append(f"{tag} in")
        job = await call_next(dataclasses.replace(call, meta={**(call.meta or {}), tag: "1"}))
        trail.append(f"{tag} out")
        return job

    return mw


def perform_mw(tag: str) -> aioresque.PerformMiddleware:
    async def mw(ctx: JobContext, call_next: PerformNext) -> Any:
        trail.append(f"{tag} in")
        result = await call_next()
        trail.append(f"{tag} out")
        return {**result, tag: "seen"}

    return mw


async def test_chains_run_in_order_and_meta_reaches_the_job(redis: Any, prefix: str) -> None:
    trail.clear()
    queue = Queue(redis, prefix=prefix, middleware=[enqueue_mw("a")])
    queue.add_middleware(enqueue_mw("b"))
    jobs = await queue.enqueue_many([Call("show_meta"), Call("show_meta", queue="other")])
    assert trail == ["a in", "b in", "b out", "a out"] * 2
    assert jobs[1].queue.name == "other"
    trail.clear()
    async with Worker(queue, [show_meta], middleware=[perform_mw("x"), perform_mw("y")], burst=True):
        pass
    assert trail == ["x in", "y in", "handler", "y out", "x out"]
    assert await jobs[0].result() == {"a": "1", "b": "1", "y": "seen", "x": "seen"}


async def test_a_payload_without_meta_is_unchanged_and_old_payloads_decode(queue: Queue) -> None:
    assert queue.encode_payload("f", [1], {}) == b'{"args":[1],"kwargs":{}}'
    assert queue.decode_body(b'{"args":[1],"kwargs":{}}') == ((1,), {}, {})
    assert queue.decode_body(queue.encode_payload("f", [], {}, {"k": "v"})) == ((), {}, {"k": "v"})
