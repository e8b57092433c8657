"""The admin commands, run as real processes against a real Redis."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

import anyio
import pytest

from aioresque import Call, JobStatus, Queue, Worker
from aioresque._admin import QueueOverview
from aioresque._cli_admin import Problem, find_problems, parse_json_args
from aioresque._cli_format import ProgressLine, paint, parse_duration, short_duration, table, visible_len
from aioresque._registry import WorkerInfo
from tests import jobs_for_tests
from tests.cli_helpers import run


def cli(redis_url: str, prefix: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "aioresque", *args, "--redis-url", redis_url, "--prefix", prefix]


async def _jobs(queue: Queue) -> None:
    await queue.enqueue_many(Call("add", (i, i), job_id=f"ok{i}") for i in range(3))
    await queue.enqueue_many(Call("always_fails", job_id=f"fail{i}", max_attempts=1) for i in range(3))
    await queue.enqueue("add", 1, _job_id="bad")
    with anyio.fail_after(20):
        await Worker(queue, jobs_for_tests, burst=True).run()
    await queue.enqueue("add", 2, 2, _job_id="waiting", _queue="emails")


# -- pure helpers ------------------------------------------------------------------


def test_parse_duration() -> None:
    assert parse_duration("90") == 90
    assert parse_duration("15m") == 900
    assert parse_duration("2h") == 7200
    assert parse_duration("1.5d") == 129600
    with pytest.raises(argparse.ArgumentTypeError, match="not a duration"):
        parse_duration("soon")


def test_table_aligns_numbers_and_ignores_colour_codes() -> None:
    text = table(["NAME", "N"], [["a", "5"], [paint("long-name", "red", True), "123"]], colour=False)
    lines = text.splitlines()
    assert lines[0] == "NAME         N"  # numbers are right-aligned
    assert lines[1] == "a            5"
    assert visible_len(lines[2]) == len("long-name  123")
    assert short_duration(0) == "0s" and short_duration(75) == "1m" and short_duration(7300) == "2h"


def test_parse_json_args_names_the_bad_argument() -> None:
    assert parse_json_args(["1", '"x"', '{"a": [1]}'], '{"k": true}') == ([1, "x", {"a": [1]}], {"k": True})
    with pytest.raises(argparse.ArgumentTypeError, match="argument 2 is not JSON: 'hello'"):
        parse_json_args(["1", "hello"], None)
    with pytest.raises(argparse.ArgumentTypeError, match="must be a JSON object"):
        parse_json_args([], "[1]")


def test_find_problems_says_what_is_stuck_and_why() -> None:
    now = datetime.now(UTC)
    ok = QueueOverview("ok", False, 0, 0, 0, 0, 0, 0.0, {})
    orphan = QueueOverview("orphan", False, 4, 0, 0, 0, 0, 2.0, {})
    paused = QueueOverview("held", True, 2, 0, 0, 0, 0, 1.0, {})
    slow = QueueOverview("slow", False, 9, 0, 0, 0, 3, 600.0, {})
    live = WorkerInfo("h:1:a", "h", 1, ("ok", "slow"), 10, now, now, (), False)
    gone = WorkerInfo("h:2:b", "h", 2, ("orphan",), 10, now, now, ("j1",), True)
    problems = find_problems([ok, orphan, paused, slow], [live, gone], {"slow": [("send", "Boom", 3)]})
    assert problems == [
        Problem(None, "worker h:2:b stopped heartbeating, holding 1 job(s) that will be recovered"),
        Problem("orphan", "4 job(s) waiting and no live worker serves this queue"),
        Problem("held", "paused with 2 job(s) waiting (aioresque resume held)"),
        Problem("slow", "oldest job has waited 10m: workers are behind or busy"),
        Problem("slow", "3 in the dead set: send: Boom"),
    ]
    assert find_problems([ok], [live], {}) == []


# -- real processes ------------------------------------------------------------------


async def test_info_answers_what_is_stuck(queue: Queue, redis_url: str, prefix: str) -> None:
    await _jobs(queue)
    done = run(cli(redis_url, prefix, "info"))
    assert done.returncode == 1, done.stderr
    assert "default" in done.stdout and "emails" in done.stdout
    assert "[emails] 1 job(s) waiting and no live worker serves this queue" in done.stdout
    assert "[default] 3 in the dead set: always_fails: ValueError: broken handler" in done.stdout
    as_json = json.loads(run(cli(redis_url, prefix, "info", "--json")).stdout)
    assert {q["name"] for q in as_json["queues"]} == {"default", "emails"}
    assert len(as_json["problems"]) == 3
    queues = json.loads(run(cli(redis_url, prefix, "queues", "--json")).stdout)
    assert [(q["name"], q["dead"], q["counters"].get("completed")) for q in queues] == [
        ("default", 4, 3),
        ("emails", 0, None),
    ]


async def test_job_and_dead_listing(queue: Queue, redis_url: str, prefix: str) -> None:
    await _jobs(queue)
    shown = run(cli(redis_url, prefix, "job", "fail1"))
    assert shown.returncode == 0, shown.stderr
    assert "always_fails" in shown.stdout and "ValueError: broken handler" in shown.stdout
    assert "traceback" in shown.stdout
    assert json.loads(run(cli(redis_url, prefix, "job", "ok1", "--json")).stdout)["result"] == 2
    missing = run(cli(redis_url, prefix, "job", "nope"))
    assert missing.returncode == 2 and "no job 'nope'" in missing.stderr
    dead = run(cli(redis_url, prefix, "dead", "--error", "BROKEN"))
    assert dead.stdout.count("always_fails") == 3 and "bad" not in dead.stdout.split()
    failed = json.loads(run(cli(redis_url, prefix, "failed", "--json")).stdout)
    assert sorted(j["id"] for j in failed["default"]) == ["fail0", "fail1", "fail2"]
    assert "no matching jobs" in run(cli(redis_url, prefix, "dead", "--older-than", "1h")).stdout
    bad = run(cli(redis_url, prefix, "dead", "--status", "faild"))
    assert bad.returncode == 2 and "unknown job status 'faild'" in bad.stderr


async def test_bulk_retry_and_delete(queue: Queue, redis_url: str, prefix: str) -> None:
    await _jobs(queue)
    refused = run(cli(redis_url, prefix, "retry", "--name", "always_fails"))
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert await queue.job("fail0").status() is JobStatus.FAILED
    retried = run(cli(redis_url, prefix, "retry", "--name", "always_fails", "--yes"))
    assert "3 of 3 job(s) put back on their queue" in retried.stdout, retried.stderr
    assert await queue.job("fail2").status() is JobStatus.QUEUED
    deleted = run(cli(redis_url, prefix, "delete", "bad", "ok0"))
    assert "2 of 2 job(s) deleted" in deleted.stdout, deleted.stderr
    assert await queue.job("bad").status() is JobStatus.NOT_FOUND


async def test_enqueue_pause_resume_purge_cancel(queue: Queue, redis_url: str, prefix: str) -> None:
    made = run(cli(redis_url, prefix, "enqueue", "add", "2", "3", "--id", "e1", "--json"))
    assert json.loads(made.stdout) == {"id": "e1", "queue": "default", "status": "queued"}, made.stderr
    info = await queue.job("e1").info()
    assert info.args == (2, 3)
    bad = run(cli(redis_url, prefix, "enqueue", "echo", "hello"))
    assert bad.returncode == 2 and "argument 1 is not JSON" in bad.stderr
    assert "default: paused" in run(cli(redis_url, prefix, "pause", "default")).stdout
    assert await queue.is_paused()
    run(cli(redis_url, prefix, "resume", "default"))
    assert not await queue.is_paused()
    cancelled = run(cli(redis_url, prefix, "cancel", "e1"))
    assert "e1: cancelled" in cancelled.stdout, cancelled.stderr
    await queue.enqueue_many(Call("add", (i, i)) for i in range(20))
    no_tty = run(cli(redis_url, prefix, "purge", "default"))
    assert no_tty.returncode == 2 and (await queue.overview()).queued == 20
    purged = run(cli(redis_url, prefix, "purge", "default", "--yes"))
    assert "deleted 20 waiting job(s)" in purged.stdout, purged.stderr
    assert (await queue.overview()).queued == 0


def test_progress_line_only_on_a_terminal() -> None:
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Terminal()
    progress = ProgressLine("retry:", tty)
    progress(500, 1200)
    progress(1000, 1200)
    progress.close()
    assert tty.getvalue() == "\rretry: 500/1200\rretry: 1000/1200\n"
    piped = io.StringIO()
    quiet = ProgressLine("retry:", piped)
    quiet(1, 2)
    quiet.close()
    assert piped.getvalue() == ""


async def test_enqueue_at_a_time_unique_and_with_a_limit_key(queue: Queue, redis_url: str, prefix: str) -> None:
    at = run(cli(redis_url, prefix, "enqueue", "add", "1", "2", "--id", "later", "--at", "2099-01-01T09:00+01:00"))
    assert "later scheduled on default" in at.stdout, at.stderr
    info = await queue.job("later").info()
    assert info.status is JobStatus.SCHEDULED
    assert info.due_at is not None  # _at becomes a delay on Redis's clock: equal within clock skew
    assert abs((info.due_at - datetime(2099, 1, 1, 8, 0, tzinfo=UTC)).total_seconds()) < 1
    naive = run(cli(redis_url, prefix, "enqueue", "add", "1", "2", "--at", "2099-01-01T09:00"))
    assert naive.returncode == 2 and "has no UTC offset" in naive.stderr

    first = json.loads(run(cli(redis_url, prefix, "enqueue", "add", "5", "5", "--unique", "--json")).stdout)
    again = json.loads(run(cli(redis_url, prefix, "enqueue", "add", "5", "5", "--unique", "--json")).stdout)
    assert again["id"] == first["id"]  # the duplicate returned the waiting job
    keyed = json.loads(run(cli(redis_url, prefix, "enqueue", "add", "6", "6", "--unique", "k1", "--json")).stdout)
    other = json.loads(run(cli(redis_url, prefix, "enqueue", "add", "7", "7", "--unique", "k1", "--json")).stdout)
    assert other["id"] == keyed["id"] != first["id"]

    limited = run(cli(redis_url, prefix, "enqueue", "add", "8", "8", "--limit-key", "customer-9", "--id", "lk"))
    assert limited.returncode == 0, limited.stderr
    assert await queue.job("lk").status() is JobStatus.QUEUED
