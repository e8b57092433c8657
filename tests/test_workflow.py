"""Workflows: chains and groups, in-process and with a worker process killed mid-step."""

from __future__ import annotations

import json
import sys

import anyio
import pytest

import aioresque
from aioresque import Call, ConfigurationError, JobStatus, Queue, Worker, Workflow, WorkflowStatus
from aioresque._connect import Client
from tests import jobs_for_limits as J
from tests.cli_helpers import run, spawned, worker_command


async def test_a_chain_passes_each_result_on(queue: Queue) -> None:
    wf = await queue.enqueue_chain([J.double.call(3), Call.of("add", 1), Call.of("double")])
    assert await wf.status() == WorkflowStatus.RUNNING
    async with Worker(queue, J, concurrency=5):
        assert await wf.result(timeout=10) == 14  # double(add(double(3), 1))
    info = await wf.info()
    assert info.status == WorkflowStatus.COMPLETE and info.stopped_by is None
    assert [await j.status() for j in wf.jobs] == [JobStatus.COMPLETE] * 3
    assert await wf.jobs[1].result() == 7
    assert await queue.redis.hkeys(queue.keys.flows) == [wf.id.encode()]  # inputs and step data gone


async def test_a_group_calls_back_with_every_result(queue: Queue) -> None:
    wf = await queue.enqueue_group([J.double.call(i) for i in (1, 2, 3)], then=Call.of("total", offset=10))
    async with Worker(queue, J, concurrency=5):
        assert await wf.result(timeout=10) == 22
    assert await wf.status() == WorkflowStatus.COMPLETE
    assert wf.callback is not None and await wf.callback.status() == JobStatus.COMPLETE


async def test_a_group_without_callback_returns_the_list(queue: Queue) -> None:
    wf = await queue.enqueue_group([J.double.call(i) for i in (1, 2, 3)])
    async with Worker(queue, J, concurrency=5):
        assert await wf.result(timeout=10) == [2, 4, 6]
    assert await wf.status() == WorkflowStatus.COMPLETE


async def test_a_failed_step_stops_the_chain_and_marks_the_rest(queue: Queue) -> None:
    wf = await queue.enqueue_chain([J.double.call(1), Call.of("boom"), Call.of("double"), Call.of("double")])
    async with Worker(queue, J, concurrency=5):
        with pytest.raises(aioresque.JobFailed, match="boom"):
            await wf.result(timeout=10)
    info = await wf.info()
    assert info.status == WorkflowStatus.FAILED and info.stopped_by == wf.jobs[1].id
    assert [await j.status() for j in wf.jobs] == [
        JobStatus.COMPLETE,
        JobStatus.FAILED,
        JobStatus.CANCELLED,
        JobStatus.CANCELLED,
    ]
    with pytest.raises(aioresque.JobCancelled, match="workflow stopped"):
        await wf.jobs[3].result()


async def test_a_failed_member_cancels_the_callback(queue: Queue) -> None:
    wf = await queue.enqueue_group([J.double.call(1), Call.of("boom")], then=Call.of("total"))
    async with Worker(queue, J, concurrency=5):
        with pytest.raises(aioresque.JobFailed):
            await wf.result(timeout=10)
        assert await wf.jobs[0].result(timeout=10) == 2
    assert await wf.status() == WorkflowStatus.FAILED
    assert wf.callback is not None and await wf.callback.status() == JobStatus.CANCELLED


async def test_cancelling_a_step_stops_the_chain(queue: Queue) -> None:
    wf = await queue.enqueue_chain([J.double.call(1), Call.of("double")])
    assert await wf.jobs[0].cancel()
    info = await wf.info()
    assert info.status == WorkflowStatus.FAILED and info.stopped_by == wf.jobs[0].id
    assert await wf.jobs[1].status() == JobStatus.CANCELLED
    assert await queue.redis.hkeys(queue.keys.flows) == [wf.id.encode()]  # step data gone


async def test_load_rebuilds_the_handle(queue: Queue) -> None:
    wf = await queue.enqueue_group([J.double.call(1)], then=Call.of("total"), workflow_id="wf-1")
    again = await Workflow.load(queue, "wf-1")
    assert [j.id for j in again.jobs] == [j.id for j in wf.jobs] and again.kind == "group"
    assert again.callback is not None and wf.callback is not None and again.callback.id == wf.callback.id
    with pytest.raises(aioresque.JobNotFound):
        await Workflow.load(queue, "nope")


async def test_bad_workflows_are_refused_and_store_nothing(queue: Queue) -> None:
    with pytest.raises(ConfigurationError, match="at least one"):
        await queue.enqueue_chain([])
    with pytest.raises(ConfigurationError, match="workflow's queue"):
        await queue.enqueue_chain([Call.of("double", 1, _queue="other")])
    with pytest.raises(ConfigurationError, match="no delay"):
        await queue.enqueue_group([Call.of("double", 1, _delay=5)])
    with pytest.raises(ConfigurationError, match="used twice"):
        await queue.enqueue_chain([Call.of("double", 1, _job_id="a"), Call.of("double", _job_id="a")])
    await queue.enqueue("double", 1, _job_id="taken")
    with pytest.raises(ConfigurationError, match="is taken"):
        await queue.enqueue_chain([Call.of("double", 1), Call.of("double", _job_id="taken")])
    await queue.enqueue_chain([Call.of("double", 1)], workflow_id="w")
    with pytest.raises(ConfigurationError, match="is taken"):
        await queue.enqueue_chain([Call.of("double", 1)], workflow_id="w")
    assert (await queue.statistics()).queued == 2  # "taken" and w's first step


async def test_a_killed_worker_mid_step_advances_the_workflow_once(redis_url: str, prefix: str, queue: Queue) -> None:
    chain = await queue.enqueue_chain([J.die_once.call(1), Call.of("double")])
    group = await queue.enqueue_group([J.die_once.call(10), J.double.call(5)], then=Call.of("total"))
    command = worker_command(redis_url, prefix, "--lease", "1", module="tests.jobs_for_limits")
    with spawned(command) as first:
        first.wait(timeout=30)  # the first die_once attempt SIGKILLs it mid-step
        with spawned(command):
            assert await chain.result(timeout=30) == 4
            assert await group.result(timeout=30) == 21
    assert (await chain.jobs[0].info()).attempts == 2
    assert group.callback is not None and (await group.callback.info()).attempts == 1
    # Each later job was created once: 1 + 2 queued at the start, + 1 chain step + 1 callback.
    assert (await queue.statistics()).counters["enqueued"] == 5
    assert await chain.status() == WorkflowStatus.COMPLETE and await group.status() == WorkflowStatus.COMPLETE


async def test_retention_prunes_a_finished_workflows_record(redis: Client, prefix: str) -> None:
    queue = Queue(redis, "default", prefix=prefix, retention=aioresque.Retention(completed_max=1))
    wf = await queue.enqueue_chain([J.double.call(1), Call.of("double")])
    async with Worker(queue, J, burst=True):
        pass
    assert await wf.jobs[1].result() == 4  # the last job is kept, the first pruned with the record
    assert await queue.redis.hlen(queue.keys.flows) == 0
    with pytest.raises(aioresque.JobNotFound):
        await wf.info()


async def test_the_workflow_command(redis_url: str, prefix: str, queue: Queue) -> None:
    wf = await queue.enqueue_chain([J.double.call(1), Call.of("double")], workflow_id="wf-cli")
    base = [sys.executable, "-m", "aioresque", "workflow", "--redis-url", redis_url, "--prefix", prefix]
    result = run([*base, "wf-cli", "--json"])
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "running" and data["kind"] == "chain"
    assert data["jobs"] == [{"id": wf.jobs[0].id, "status": "queued"}, {"id": wf.jobs[1].id, "status": "pending"}]
    assert "chain wf-cli: running" in run([*base, "wf-cli"]).stdout
    missing = run([*base, "nope"])
    assert missing.returncode == 2 and "no workflow 'nope'" in missing.stderr
    assert (await queue.workflow("wf-cli")).id == "wf-cli"


async def test_cancelling_a_workflow(queue: Queue) -> None:
    chain = await queue.enqueue_chain([J.double.call(1), Call.of("double"), Call.of("double")])
    group = await queue.enqueue_group([J.double.call(1), J.double.call(2)], then=Call.of("total"))
    assert await chain.cancel() and await group.cancel()
    assert not await chain.cancel()  # nothing left to cancel
    for wf in (chain, group):
        assert await wf.status() == WorkflowStatus.FAILED
        with pytest.raises(aioresque.JobCancelled):
            await wf.result(timeout=5)
    assert [await j.status() for j in chain.jobs] == [JobStatus.CANCELLED] * 3
    assert group.callback is not None and await group.callback.status() == JobStatus.CANCELLED


async def test_deleting_a_waiting_step_stops_the_chain(queue: Queue) -> None:
    wf = await queue.enqueue_chain([J.double.call(1), Call.of("double"), Call.of("double")])
    assert await queue.delete_jobs([wf.jobs[0].id]) == 1
    info = await wf.info()
    assert info.status == WorkflowStatus.FAILED and info.stopped_by == wf.jobs[0].id
    assert [await j.status() for j in wf.jobs] == [JobStatus.NOT_FOUND, JobStatus.CANCELLED, JobStatus.CANCELLED]
    with pytest.raises(aioresque.JobCancelled, match=f"job {wf.jobs[0].id} ended deleted"):
        await wf.jobs[2].result(timeout=5)
    with pytest.raises(aioresque.JobNotFound):
        await wf.result(timeout=5)
    assert await queue.redis.hkeys(queue.keys.flows) == [wf.id.encode()]  # step data gone
    assert await queue.redis.llen(queue.keys.queue) == 0


async def test_purging_a_later_step_stops_the_chain_after_its_input_arrived(queue: Queue) -> None:
    wf = await queue.enqueue_chain([J.double.call(1), Call.of("double"), Call.of("double")])
    await J.free.enqueue(queue, 1.0)  # runs after the first step: the second then waits behind it
    async with Worker(queue, J, concurrency=1):
        with anyio.fail_after(10):
            while await wf.jobs[1].status() != JobStatus.QUEUED:
                await anyio.sleep(0.01)
        assert await queue.purge() == 1
    assert await wf.jobs[0].status() == JobStatus.COMPLETE
    info = await wf.info()
    assert info.status == WorkflowStatus.FAILED and info.stopped_by == wf.jobs[1].id
    assert await wf.jobs[2].status() == JobStatus.CANCELLED
    assert await queue.redis.hkeys(queue.keys.flows) == [wf.id.encode()]  # the step's input too
    # Deleting a finished step afterwards changes nothing.
    assert await queue.delete_jobs([wf.jobs[0].id]) == 1
    assert (await wf.info()).status == WorkflowStatus.FAILED


@pytest.mark.parametrize("end", ["cancel", "delete"])
async def test_a_member_ended_while_waiting_settles_the_group(queue: Queue, end: str) -> None:
    wf = await queue.enqueue_group([J.double.call(1), J.double.call(2)], then=Call.of("total"))
    if end == "cancel":
        assert await wf.jobs[1].cancel()
    else:
        assert await queue.delete_jobs([wf.jobs[1].id]) == 1
    assert await wf.status() == WorkflowStatus.RUNNING  # the other member can still run
    async with Worker(queue, J, burst=True):
        pass
    assert await wf.jobs[0].status() == JobStatus.COMPLETE
    info = await wf.info()
    assert info.status == WorkflowStatus.FAILED and info.stopped_by == wf.jobs[1].id
    assert wf.callback is not None and await wf.callback.status() == JobStatus.CANCELLED  # never ran
    assert await queue.redis.hkeys(queue.keys.flows) == [wf.id.encode()]


async def test_deleting_a_groups_waiting_callback_settles_the_workflow(queue: Queue) -> None:
    wf = await queue.enqueue_group([J.double.call(1)], then=Call.of("total"))
    assert wf.callback is not None
    await J.free.enqueue(queue, 1.0)  # runs after the member: the callback then waits behind it
    async with Worker(queue, J, concurrency=1):
        with anyio.fail_after(10):
            while await wf.callback.status() != JobStatus.QUEUED:
                await anyio.sleep(0.01)
        assert await queue.delete_jobs([wf.callback.id]) == 1
    info = await wf.info()
    assert info.status == WorkflowStatus.FAILED and info.stopped_by == wf.callback.id
    assert await queue.redis.hkeys(queue.keys.flows) == [wf.id.encode()]  # its inputs too
