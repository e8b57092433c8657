"""The one name rule (aioresque._names), enforced wherever a name enters: API, handlers, worker, CLI, fake."""

from __future__ import annotations

import sys

import anyio
import pytest

import aioresque
from aioresque import Call, ConfigurationError, Queue, Worker
from aioresque._names import MAX_NAME_LENGTH, NAME_PUNCTUATION, NAME_RULE, check_name, is_valid_name
from aioresque.testing import FakeQueue
from tests import jobs_for_tests
from tests.cli_helpers import run

EVERY_ALLOWED = f"Az09{NAME_PUNCTUATION}"
"""A name with every character class and every punctuation character the rule allows."""

REFUSED = [
    "",
    ".",
    "..",
    "a/b",
    "a*",
    "a?",
    "a[1]",
    "{tag}",
    "a\rb",
    "a\x00b",
    "a b",
    "a\nb",
    "é",
    "x" * (MAX_NAME_LENGTH + 1),
    "x" * 1_000_000,
]


@pytest.mark.parametrize("name", ["a", "...", EVERY_ALLOWED, "x" * MAX_NAME_LENGTH, "user@example.com"])
def test_the_rule_allows(name: str) -> None:
    assert is_valid_name(name) and check_name(name) == name


@pytest.mark.parametrize("name", REFUSED, ids=range(len(REFUSED)))
def test_the_rule_refuses_and_says_why(name: str) -> None:
    assert not is_valid_name(name)
    with pytest.raises(ConfigurationError) as caught:
        check_name(name, "job id")
    message = str(caught.value)
    assert message.startswith("invalid job id ") and message.endswith(NAME_RULE)
    assert len(message) < 300  # a 1 MB name is shortened, not echoed


async def test_the_producer_api_enforces_the_rule(queue: Queue) -> None:
    for bad in ("a/b", "a*", "a\x00", "x" * 1000):
        with pytest.raises(ConfigurationError, match="invalid queue name"):
            await queue.enqueue("add", 1, 2, _queue=bad)
        with pytest.raises(ConfigurationError, match="invalid job id"):
            await queue.enqueue("add", 1, 2, _job_id=bad)
        with pytest.raises(ConfigurationError, match="invalid handler name"):
            await queue.enqueue(bad, 1, 2)
        with pytest.raises(ConfigurationError, match="invalid queue name"):
            queue.sibling(bad)
        with pytest.raises(ConfigurationError, match="invalid job id"):
            await queue.enqueue_many([Call("add", (1, 2), job_id="fine"), Call("add", (1, 2), job_id=bad)])
    assert await queue.statistics() == await queue.statistics()  # nothing half-written
    assert (await queue.statistics()).queued == 0
    with pytest.raises(ConfigurationError, match="invalid queue name"):
        Queue(queue.redis, "a/b", prefix=queue.prefix)
    with pytest.raises(ConfigurationError, match="invalid prefix"):
        Queue(queue.redis, "default", prefix="a b")
    with pytest.raises(ConfigurationError, match="invalid job id"):
        await queue.enqueue_chain([Call("add", (1, 2), job_id="a/b")])


async def test_an_empty_job_id_is_refused_not_replaced(queue: Queue) -> None:
    with pytest.raises(ConfigurationError, match="invalid job id ''"):
        await queue.enqueue("add", 1, 2, _job_id="")
    with pytest.raises(ConfigurationError, match="invalid job id ''"):
        await queue.enqueue_many([Call("add", (1, 2), job_id="")])
    assert (await queue.statistics()).queued == 0


async def test_the_fake_queue_enforces_the_same_rule() -> None:
    fake = FakeQueue()
    with pytest.raises(ConfigurationError, match="invalid job id ''"):
        await fake.enqueue("add", 1, 2, _job_id="")
    with pytest.raises(ConfigurationError, match="invalid queue name"):
        await fake.enqueue("add", 1, 2, _queue="a/b")
    with pytest.raises(ConfigurationError, match="invalid handler name"):
        await fake.enqueue("a b")
    job = await fake.enqueue("add", 1, 2, _job_id=EVERY_ALLOWED, _queue=EVERY_ALLOWED)
    assert job.id == EVERY_ALLOWED


def test_handler_names_and_home_queues_follow_the_rule() -> None:
    with pytest.raises(ConfigurationError, match="invalid handler name 'send/mail'"):
        aioresque.job(name="send/mail")(jobs_for_tests.add.fn)
    with pytest.raises(ConfigurationError, match="invalid handler name ''"):
        aioresque.job(name="")(jobs_for_tests.add.fn)
    with pytest.raises(ConfigurationError, match="invalid handler name '<lambda>'"):
        aioresque.job(lambda: None)
    with pytest.raises(ConfigurationError, match="invalid queue name"):
        aioresque.job(queue="a b")(jobs_for_tests.add.fn)
    assert aioresque.job(name=EVERY_ALLOWED)(jobs_for_tests.add.fn).name == EVERY_ALLOWED


def test_a_scheduled_handler_leaves_room_for_its_job_ids() -> None:
    # Its jobs are "cron:<name>:<ms>": the ids must follow the rule as well.
    async def tick() -> None:
        """Runs every minute."""

    assert aioresque.job(name="t" * 179, every=60)(tick).name == "t" * 179
    with pytest.raises(ConfigurationError, match="at most 179 characters"):
        aioresque.job(name="t" * 180, every=60)(tick)


def test_the_worker_enforces_the_rule(redis_url: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid queue name"):
        Worker(redis_url, jobs_for_tests, queues=["ok", "a/b"])
    with pytest.raises(ConfigurationError, match="invalid prefix"):
        Worker(redis_url, jobs_for_tests, prefix="a{b}")


async def test_a_name_with_every_allowed_character_runs_end_to_end(queue: Queue) -> None:
    job = await queue.enqueue("add", 2, 3, _queue=EVERY_ALLOWED, _job_id=EVERY_ALLOWED)
    target = queue.sibling(EVERY_ALLOWED)
    assert EVERY_ALLOWED in await queue.known_queues()
    with anyio.fail_after(20):
        await Worker(queue, jobs_for_tests, queues=[EVERY_ALLOWED], burst=True).run()
    assert await target.job(EVERY_ALLOWED).result(timeout=5) == 5
    assert job.id == EVERY_ALLOWED


@pytest.mark.parametrize(
    ("argv", "kind"),
    [
        (["worker", "tests.jobs_for_tests", "--queues", "ok,a/b"], "queue name"),
        (["worker", "tests.jobs_for_tests", "--prefix", "a b"], "prefix"),
        (["job", "a b"], "job id"),
        (["enqueue", "add", "--queue", "a*"], "queue name"),
        (["enqueue", "add", "--id", ""], "job id"),
        (["enqueue", "a/b"], "handler name"),
        (["pause", "a?"], "queue name"),
        (["retry", "a/b"], "job id"),
        (["recover", "--queues", "a[1]"], "queue name"),
        (["quarantine", "a b"], "queue name"),
        (["cron", "pause", "a/b"], "handler name"),
        (["workflow", "a/b"], "job id"),
    ],
)
def test_the_cli_enforces_the_rule(argv: list[str], kind: str) -> None:
    result = run([sys.executable, "-m", "aioresque", *argv, "--redis-url", "redis://127.0.0.1:1/0"])
    assert result.returncode == 2, result.stderr
    assert f"invalid {kind}" in result.stderr and NAME_RULE in result.stderr


def test_every_allowed_character_passes() -> None:
    name = "Az09" + NAME_PUNCTUATION
    assert check_name(name) == name
    assert check_name("x" * MAX_NAME_LENGTH, "job id") == "x" * MAX_NAME_LENGTH


@pytest.mark.parametrize(
    "name",
    ["", "a/b", "a*", "a?", "a[b]", "a{b}", "a b", "a\rb", "a\x00b", "a\nb", "é", "x" * (MAX_NAME_LENGTH + 1), "a%2f"],
)
def test_anything_else_is_refused_with_the_rule_in_the_message(name: str) -> None:
    assert not is_valid_name(name)
    with pytest.raises(ConfigurationError) as caught:
        check_name(name, "queue name")
    assert NAME_RULE in str(caught.value)
    assert "invalid queue name" in str(caught.value)


def test_non_strings_are_refused() -> None:
    for value in (None, 1, b"default"):
        assert not is_valid_name(value)
        with pytest.raises(ConfigurationError):
            check_name(value, "handler name")


def test_a_huge_name_is_shortened_in_the_message() -> None:
    with pytest.raises(ConfigurationError) as caught:
        check_name("q" * 1_000_000)
    assert len(str(caught.value)) < 400
