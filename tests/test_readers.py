"""Readers survive poison: every listing shows the readable records and marks the rest.

Poison is planted straight into the documented Redis layout (docs/redis-layout.md):
bytes that are not UTF-8 in ids and fields, state records with fields of the
wrong type (``"attempts": "z"``), payloads and records nested 1,000 and more
levels deep, timestamps past year 9999, and keys of the wrong Redis type. Each
reader must return (never raise), list every good record, and mark each bad one
with its id, size and the reason. The CLI commands run in-process (in a thread,
as ``main()`` runs its own event loop) and must exit 0 without a traceback and
print no raw terminal control characters from job data.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import anyio
import pytest

from aioresque import JobFilter, JobStatus, Queue
from aioresque._cli import main
from aioresque._connect import Client
from aioresque._keys import queue_registry, worker_index, worker_record

NOW_MS = 1_780_000_000_000
HOSTILE = "\x1b[2J\x1b]0;pwned\x07\r"
"""Clears the screen, retitles the terminal, returns the cursor: must never be printed raw."""
NESTED = "[" * 1000 + "]" * 1000
"""A JSON value nested 1,000 deep: orjson reads it, printing and asdict() then overflow the stack."""
VERY_NESTED = "[" * 5000 + "]" * 5000
"""Deeper than any JSON parser here accepts."""
NOT_UTF8 = b"\xff\xfe"
DEAD_SET = ("failed", "dead", "cancelled")

GOOD = ("good0", "good1")
UNREADABLE = ("attempts-z", "far-future", "not-json", "very-nested", "wrong-status")


def state(status: str = "failed", **fields: Any) -> str:
    record = {"v": 1, "status": status, "name": "always_fails", "attempts": 1, "failures": 1, "lost": 0}
    record |= {"enqueued_at": NOW_MS - 5000, "finished_at": NOW_MS}
    return json.dumps(record | fields)


async def plant_dead_set(redis: Client, queue: Queue) -> None:
    """Two good failed jobs, one with a hostile error; then poison, all in the dead set."""
    k = queue.keys
    await redis.sadd(queue_registry(queue.prefix), queue.name)
    records: dict[Any, str] = {
        "good0": state(),
        "good1": state(),
        "deep-payload": state(),
        NOT_UTF8: state(),
        "attempts-z": state(attempts="z"),
        "far-future": state(finished_at=1e20),
        "not-json": "{{{",
        "very-nested": VERY_NESTED,
        "wrong-status": state(status="exploded"),
    }
    await redis.hset(k.state, mapping=records)
    await redis.hset(k.jobs, mapping={i: '{"args": [1], "kwargs": {}}' for i in records})
    await redis.hset(k.jobs, "deep-payload", '{"args": ' + NESTED + ', "kwargs": {}}')
    errors = {i: json.dumps({"error": "ValueError: broken", "traceback": "Traceback\n  boom"}) for i in records}
    errors["good1"] = json.dumps({"error": f"ValueError: {HOSTILE}", "traceback": f"Traceback\n{HOSTILE}"})
    await redis.hset(k.errors, mapping=errors)
    await redis.zadd(k.dead, {i: NOW_MS - n for n, i in enumerate(records)})


async def cli(argv: Sequence[str], redis_url: str, prefix: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run ``aioresque ARGV`` in-process; return its exit code and stdout (stderr must be clean)."""
    full = [*argv, "--redis-url", redis_url, "--prefix", prefix]
    try:
        code = await anyio.to_thread.run_sync(main, full)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    for text in (out, err):
        assert "\x1b" not in text and "\r" not in text and "\x07" not in text, text
    return code, out


# -- Job.info and the job listings ----------------------------------------------------


async def test_job_info_marks_unreadable_records_and_never_raises(redis: Client, queue: Queue) -> None:
    await plant_dead_set(redis, queue)
    for job_id in UNREADABLE:
        info = await queue.job(job_id).info()
        assert info.unreadable, job_id
        assert "bytes)" in info.unreadable
    assert "'attempts' is not a count: 'z'" in str((await queue.job("attempts-z").info()).unreadable)
    assert "'finished_at' is not a time" in str((await queue.job("far-future").info()).unreadable)
    assert (await queue.job("not-json").info()).status is JobStatus.DEAD  # found in the dead set
    deep = await queue.job("deep-payload").info()
    assert deep.unreadable is None and deep.args == () and "nested deeper than" in str(deep.payload_error)
    good = await queue.job("good1").info()
    assert good.unreadable is None and good.name == "always_fails" and good.args == (1,)


async def test_list_jobs_shows_every_readable_record_and_marks_the_rest(redis: Client, queue: Queue) -> None:
    await plant_dead_set(redis, queue)
    page = await queue.list_jobs(DEAD_SET)
    by_id = {j.id: j for j in page.jobs}
    assert page.total == 9 and len(page.jobs) == 9
    assert all(by_id[i].unreadable is None for i in GOOD)
    assert all(by_id[i].unreadable for i in UNREADABLE)
    assert by_id["\\xff\\xfe"].unreadable == f"job id is not valid UTF-8 ({len(state())} bytes)"
    assert by_id["deep-payload"].unreadable is None and by_id["deep-payload"].payload_error
    # One status of the dead set: the readable failed ones, and the unreadable ones that could be.
    failed = await queue.list_jobs("failed")
    assert {j.id for j in failed.jobs} == {*GOOD, "deep-payload", "\\xff\\xfe", *UNREADABLE}
    # A filter cannot match what it cannot read: those are counted, not listed.
    named = await queue.list_jobs(DEAD_SET, JobFilter(name="always_fails"))
    assert {j.id for j in named.jobs} == {*GOOD, "deep-payload"}
    assert named.unreadable_skipped == 6


async def test_counts_and_summaries_survive_poison(redis: Client, queue: Queue) -> None:
    await plant_dead_set(redis, queue)
    errors = {(name, n) for name, _, n in await _top_errors(queue)}
    assert errors == {("always_fails", 3), ("always_fails", 1)}  # good0, deep-payload, the \xff\xfe id; good1
    await redis.hset(queue.keys.stats, mapping={"completed": "7", "failed": "z", NOT_UTF8: "1", "big": "1e400"})
    await redis.hset(queue.keys.history, mapping={"a": "²:1:1", "b": "x", "c": "1:2"})
    overview = await queue.overview()
    assert overview.dead == 9 and overview.counters == {"completed": 7}
    assert (await queue.statistics()).counters == {"completed": 7}
    assert len(await queue.history()) == 60


async def _top_errors(queue: Queue) -> list[tuple[str, str, int]]:
    from aioresque import _admin

    return await _admin.top_errors(queue)


async def test_wrong_typed_keys_read_as_empty_and_are_named(redis: Client, queue: Queue) -> None:
    await plant_dead_set(redis, queue)
    broken = queue.sibling("broken")
    await broken.enqueue("add", 1, 2, _job_id="fine")
    for key in (broken.keys.scheduled, broken.keys.stats, broken.keys.errors, broken.keys.history):
        await redis.set(key, "a string where a zset or hash belongs")
    overview = await broken.overview()
    assert overview.queued == 1 and set(overview.unreadable_keys) == {"scheduled", "stats"}
    assert [j.id for j in (await broken.list_jobs("queued")).jobs] == ["fine"]
    assert (await broken.list_jobs("scheduled")).jobs == []
    assert await broken.history()
    await redis.set(broken.keys.state, "not a hash")
    listed = (await broken.list_jobs("queued")).jobs
    assert [(j.id, j.status) for j in listed] == [("fine", JobStatus.QUEUED)] and listed[0].unreadable
    assert (await broken.job("fine").info()).unreadable


async def test_bulk_retry_and_delete_skip_unreadable_records_and_say_so(redis: Client, queue: Queue) -> None:
    from aioresque import _admin

    await plant_dead_set(redis, queue)
    selection = await _admin.select_ids(queue, DEAD_SET)
    assert set(selection.ids) == {*GOOD, "deep-payload"}
    assert set(selection.unreadable) == {"\\xff\\xfe", *UNREADABLE}
    outcome = await _admin.retry_outcome(queue, ["good0", "attempts-z", "not-json"])
    assert outcome.retried == 1 and set(outcome.unreadable) == {"attempts-z", "not-json"}
    assert await queue.job("attempts-z").status() is JobStatus.FAILED  # left where it was
    assert await _admin.delete_matching(queue, DEAD_SET) == (2, 0)
    assert (await queue.overview()).dead == 6  # the unreadable ones (and the UTF-8-less id) stay


# -- workers, workflows, limits, schedules, quarantine ----------------------------------


async def test_worker_listing_marks_unreadable_registrations(redis: Client, prefix: str) -> None:
    from aioresque import list_workers, prune_workers

    good = {"id": "h:1:a", "host": "h", "pid": 1, "queues": ["default"], "concurrency": 4, "lease": 30000}
    good |= {"in_flight": {}, "paused": False, "started_at": NOW_MS, "last_heartbeat": NOW_MS}
    records: dict[Any, str] = {
        "h:1:a": json.dumps(good),
        "h:2:pid-z": json.dumps(good | {"id": "h:2:pid-z", "pid": "z"}),
        "h:3:future": json.dumps(good | {"id": "h:3:future", "last_heartbeat": 1e20}),
        "h:4:deep": VERY_NESTED,
        "h:5:nested": json.dumps(good | {"id": "h:5:nested", "queues": []}).replace("[]", NESTED),
        NOT_UTF8: json.dumps(good | {"id": NOT_UTF8.decode("latin-1")}),
    }
    for worker_id, raw in records.items():
        name = worker_id if isinstance(worker_id, str) else "\\xff\\xfe"
        await redis.set(worker_record(prefix, name), raw, px=60_000)
        await redis.zadd(worker_index(prefix), {worker_id: 2**52})
    await prune_workers(redis, prefix=prefix)
    workers = {w.id: w for w in await list_workers(redis, prefix=prefix)}
    assert workers["h:1:a"].unreadable is None and workers["h:1:a"].queues == ("default",)
    assert "'pid' is not a count" in str(workers["h:2:pid-z"].unreadable)
    assert "'last_heartbeat'" in str(workers["h:3:future"].unreadable)
    assert "not JSON" in str(workers["h:4:deep"].unreadable)
    assert workers["h:5:nested"].unreadable
    assert workers["ÿþ"].unreadable is None  # a readable record whose id is not ASCII


async def test_workflow_limits_and_schedules_mark_unreadable_records(redis: Client, queue: Queue) -> None:
    from aioresque import Call

    await queue.enqueue_chain([Call("add", (1, 2)), Call("add", (3,))], workflow_id="wf-good")
    await redis.hset(queue.keys.flows, "wf-status", '{"kind": "chain", "status": "exploded", "steps": ["a"]}')
    await redis.hset(queue.keys.flows, "wf-deep", VERY_NESTED)
    await redis.hset(queue.keys.flows, "wf-time", '{"kind": "chain", "status": "running", "created_at": 1e300}')
    assert (await (await queue.workflow("wf-good")).info()).unreadable is None
    for bad in ("wf-status", "wf-deep", "wf-time"):
        assert (await (await queue.workflow(bad)).info()).unreadable, bad
    await redis.hset(queue.keys.limits, mapping={"deep": VERY_NESTED, NOT_UTF8: '{"h": "x", "s": [1e300], "p": "z"}'})
    groups = {g.group: g for g in await queue.limit_groups()}
    assert groups["deep"].unreadable and groups["\\xff\\xfe"].unreadable is None
    cron: dict[Any, str] = {
        "good": json.dumps({"spec": "every 0:00:30", "fired": 3, "last": NOW_MS, "next": NOW_MS + 30000})
    }
    cron |= {"fired-z": json.dumps({"spec": "x", "fired": "z"}), "far": json.dumps({"spec": "x", "last": 1e30})}
    await redis.hset(queue.keys.cron, mapping=cron | {NOT_UTF8: VERY_NESTED})
    schedules = {s.name: s for s in await queue.schedules()}
    assert schedules["good"].unreadable is None and schedules["good"].fired == 3
    assert schedules["fired-z"].unreadable and schedules["\\xff\\xfe"].unreadable
    assert schedules["far"].unreadable is None and schedules["far"].last_tick is None


async def test_quarantine_lists_raw_bytes_and_drops_entries(redis: Client, queue: Queue) -> None:
    await redis.sadd(queue_registry(queue.prefix), queue.name)
    await redis.hset(
        queue.keys.quarantine,
        mapping={NOT_UTF8: f"{NOW_MS}|queue|not valid UTF-8", "x" * 300: "garbage", "old": f"{NOW_MS - 1}|state|bad"},
    )
    items = await queue.quarantined()
    assert [i.raw for i in items] == [NOT_UTF8, b"old", b"x" * 300]
    assert items[0].text == "\\xff\\xfe" and items[0].where == "queue" and items[0].reason == "not valid UTF-8"
    assert items[0].at is not None and items[0].at.year == 2026
    assert items[2].at is None and items[2].text.endswith("(+100 bytes)") and "garbage" in items[2].reason
    assert (await queue.overview()).quarantined == 3
    assert await queue.drop_quarantined([NOT_UTF8]) == 1
    assert await queue.clear_quarantine() == 2
    assert await queue.quarantined() == []
    await redis.set(queue.keys.quarantine, "not a hash")
    assert await queue.quarantined() == [] and (await queue.overview()).unreadable_keys == ("quarantine",)


# -- the CLI ------------------------------------------------------------------------------


async def test_cli_listings_survive_poison_and_escape_job_data(
    redis: Client, queue: Queue, redis_url: str, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await plant_dead_set(redis, queue)
    k = queue.keys
    await redis.hset(k.state, "evil", state(name=f"evil{HOSTILE}", worker=HOSTILE, reason=HOSTILE))
    await redis.hset(k.jobs, "evil", json.dumps({"args": [HOSTILE], "kwargs": {HOSTILE: HOSTILE}}))
    await redis.zadd(k.dead, {"evil": NOW_MS + 1})
    good = {"id": f"h{HOSTILE}", "host": HOSTILE, "pid": 1, "queues": [HOSTILE], "concurrency": 4, "lease": 30000}
    good |= {"in_flight": [HOSTILE], "paused": False, "started_at": NOW_MS, "last_heartbeat": NOW_MS}
    await redis.set(worker_record(prefix, "evil"), json.dumps(good), px=60_000)
    await redis.zadd(worker_index(prefix), {"evil": 2**52})
    await redis.hset(queue.keys.quarantine, NOT_UTF8, f"{NOW_MS}|queue|not valid UTF-8 {HOSTILE}")
    await redis.set(worker_record(prefix, "w"), "{{{", px=60_000)
    await redis.zadd(worker_index(prefix), {"w": 2**52})
    await redis.hset(queue.keys.flows, "wf", VERY_NESTED)
    await redis.hset(queue.keys.cron, "sched", VERY_NESTED)
    await redis.hset(queue.keys.limits, "grp", VERY_NESTED)
    code, out = await cli(["dead"], redis_url, prefix, capsys)
    assert code == 0 and "good0" in out and "\\x1b[2J" in out
    assert out.count("UNREADABLE") == len(UNREADABLE) + 1 and "'attempts' is not a count" in out
    code, out = await cli(["failed", "--name", "always_fails"], redis_url, prefix, capsys)
    assert code == 0 and "unreadable record(s) passed over" in out
    for argv in (["dead", "--json"], ["failed", "--json"]):
        code, out = await cli(argv, redis_url, prefix, capsys)
        assert code == 0 and len(json.loads(out)["default"]) >= 8
    code, out = await cli(["job", "good1"], redis_url, prefix, capsys)
    assert code == 0 and "\\x1b]0;pwned\\x07\\x0d" in out
    code, out = await cli(["job", "attempts-z"], redis_url, prefix, capsys)
    assert code == 0 and "unreadable" in out
    code, out = await cli(["job", "evil"], redis_url, prefix, capsys)
    assert code == 0 and out.count("\\x1b[2J") == 3 and "\\u001b[2J" in out  # name, worker, error; args as JSON
    code, out = await cli(["job", "deep-payload", "--json"], redis_url, prefix, capsys)
    assert code == 0 and json.loads(out)["payload_error"]
    code, out = await cli(["info"], redis_url, prefix, capsys)
    assert code == 1 and "1 item(s) quarantined" in out and "cannot be read" in out  # problems, no crash
    code, out = await cli(["info", "--json"], redis_url, prefix, capsys)
    assert json.loads(out)["queues"][0]["quarantined"] == 1
    code, out = await cli(["queues"], redis_url, prefix, capsys)
    assert code == 0 and "QUARANTINED" in out
    for argv in (["queues", "--json"], ["workers"], ["workers", "--json"], ["workflow", "wf"], ["cron", "list"]):
        code, out = await cli(argv, redis_url, prefix, capsys)
        assert code == 0, argv
    for argv in (["workflow", "wf", "--json"], ["cron", "list", "--json"], ["limits"], ["limits", "--json"]):
        code, out = await cli(argv, redis_url, prefix, capsys)
        assert code == 0, argv
    code, out = await cli(["quarantine"], redis_url, prefix, capsys)
    assert code == 0 and "\\xff\\xfe" in out and "\\x1b[2J" in out
    code, out = await cli(["quarantine", "default", "--json"], redis_url, prefix, capsys)
    assert code == 0 and json.loads(out)[0]["raw_hex"] == "fffe"


@pytest.mark.parametrize("record", ["attempts-z", "deep-payload"])
async def test_the_two_records_of_the_issue_no_longer_hide_the_dead_set(
    record: str, redis: Client, queue: Queue, redis_url: str, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    k = queue.keys
    await redis.sadd(queue_registry(queue.prefix), queue.name)
    payload = '{"args": ' + (NESTED if record == "deep-payload" else "[1]") + ', "kwargs": {}}'
    bad_state = state(attempts="z") if record == "attempts-z" else state()
    await redis.hset(k.state, mapping={"good0": state(), record: bad_state})
    await redis.hset(k.jobs, mapping={"good0": '{"args": [1], "kwargs": {}}', record: payload})
    await redis.zadd(k.dead, {"good0": NOW_MS, record: NOW_MS - 1})
    for argv in (["dead"], ["dead", "--json"], ["job", record], ["job", record, "--json"]):
        code, out = await cli(argv, redis_url, prefix, capsys)
        assert code == 0 and record in out, argv
        assert "good0" in out or argv[0] == "job"


async def test_cli_bulk_retry_reports_what_it_skipped(
    redis: Client, queue: Queue, redis_url: str, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await plant_dead_set(redis, queue)
    code, out = await cli(["retry", "--yes", "--json"], redis_url, prefix, capsys)
    report = json.loads(out)
    assert code == 0 and report["changed"] == 3 and len(report["unreadable_skipped"]) == 6
    code, out = await cli(["retry", "attempts-z", "--queue", "default"], redis_url, prefix, capsys)
    assert code == 0 and "1 job(s) not retried: their records cannot be read" in out
    code, out = await cli(["quarantine", "default", "--delete-all", "--yes"], redis_url, prefix, capsys)
    assert code == 0 and "nothing quarantined" in out
    code, out = await cli(["delete", "--unreadable", "--name", "x"], redis_url, prefix, capsys)
    assert code == 2  # the filters cannot select what cannot be read
    code, out = await cli(["delete", "--unreadable", "--yes"], redis_url, prefix, capsys)
    assert code == 0 and "6 of 6 unreadable record(s) deleted" in out
    assert await redis.zcard(queue.keys.dead) == 0 and not await redis.hexists(queue.keys.state, NOT_UTF8)


async def test_cli_quarantine_drops_entries_as_listed_and_asks_before_dropping_all(
    redis: Client, queue: Queue, redis_url: str, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await redis.sadd(queue_registry(queue.prefix), queue.name)
    entries: dict[Any, str] = {
        NOT_UTF8: f"{NOW_MS}|queue|not valid UTF-8",
        "a": f"{NOW_MS}|dead|x",
        "b": f"{NOW_MS}|dead|y",
    }
    await redis.hset(queue.keys.quarantine, mapping=entries)
    code, out = await cli(["quarantine", "default", "--delete", "\\xff\\xfe", "nope"], redis_url, prefix, capsys)
    assert code == 0 and "dropped 1 of 2 entries" in out
    assert [i.raw for i in await queue.quarantined()] == [b"a", b"b"]
    code, out = await cli(["job", "a"], redis_url, prefix, capsys)  # no record, but quarantined: say why
    assert code == 0 and out == "a: quarantined in default (dead: x)\n"
    code, out = await cli(["job", "a", "--json"], redis_url, prefix, capsys)
    assert code == 0 and json.loads(out)["quarantined"]["reason"] == "x"
    code, out = await cli(["quarantine", "--delete-all"], redis_url, prefix, capsys)  # no terminal, no --yes
    assert code == 2 and len(await queue.quarantined()) == 2
    code, out = await cli(["quarantine", "--delete-all", "--yes", "--json"], redis_url, prefix, capsys)
    assert code == 0 and json.loads(out) == {"dropped": 2}


async def test_prometheus_metrics_survive_poison(redis: Client, queue: Queue, prefix: str) -> None:
    from aioresque import prometheus_metrics

    await plant_dead_set(redis, queue)
    await redis.hset(queue.keys.quarantine, NOT_UTF8, f"{NOW_MS}|queue|not valid UTF-8")
    await redis.set(queue.keys.scheduled, "not a zset")
    await redis.set(worker_record(prefix, "w"), VERY_NESTED, px=60_000)
    await redis.zadd(worker_index(prefix), {"w": 2**52})
    text = await prometheus_metrics(queue)
    assert 'aioresque_queue_jobs{queue="default",state="dead"} 9' in text
    assert 'aioresque_queue_quarantined{queue="default"} 1' in text
    assert 'aioresque_workers{state="unreadable"} 1' in text and 'aioresque_workers{state="live"} 0' in text


async def test_listings_do_not_load_huge_records(redis: Client, queue: Queue) -> None:
    await plant_dead_set(redis, queue)
    huge = json.dumps({"error": "ValueError: " + "x" * 3_000_000, "traceback": ""})
    await redis.hset(queue.keys.errors, "good0", huge)
    await redis.hset(queue.keys.state, "far-future", "[" + "1," * 1_000_000 + "1]")
    by_id = {j.id: j for j in (await queue.list_jobs(DEAD_SET)).jobs}
    assert by_id["good0"].error is None and f"error record of {len(huge)} bytes not read" in str(
        by_id["good0"].payload_error
    )
    assert "too large to list" in str(by_id["far-future"].unreadable)
    assert {(n, c) for n, _, c in await _top_errors(queue)} == {("always_fails", 2), ("always_fails", 1)}
    assert (await queue.job("good0").info()).error == "ValueError: " + "x" * 3_000_000  # one job: read whole


async def test_readers_hide_only_wrong_types_not_refused_permissions(
    redis: Client, queue: Queue, redis_url: str
) -> None:
    from redis.exceptions import ResponseError

    from aioresque import AioresqueError
    from aioresque._connect import close_client, connect
    from tests.conftest import backend

    if backend() != "single":
        pytest.skip("ACL users are per node")
    await queue.enqueue("add", 1, 2)
    user = f"u{queue.prefix}"
    await redis.execute_command("ACL", "SETUSER", user, "on", ">pw", f"~{queue.prefix}:*", "+@all", "-hlen", "-hstrlen")
    try:
        limited = connect(redis_url.replace("redis://", f"redis://{user}:pw@", 1))
        try:
            as_user = Queue(limited, "default", prefix=queue.prefix)
            with pytest.raises((ResponseError, AioresqueError)):
                await as_user.overview()  # HLEN refused: an error, not "0 quarantined"
            with pytest.raises((ResponseError, AioresqueError)):
                await as_user.list_jobs("queued")  # HSTRLEN refused
        finally:
            await close_client(limited)
    finally:
        await redis.execute_command("ACL", "DELUSER", user)
