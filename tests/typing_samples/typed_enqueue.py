"""Input for tests/test_typed.py: mypy must accept the right calls and report each ``# expect:`` line.

Not imported by the suite (and excluded from the project's own mypy run):
the wrong calls are on purpose.
"""

from __future__ import annotations

from typing import Any, assert_type

import aioresque


@aioresque.job
async def add(a: int, b: int) -> int:
    return a + b


@aioresque.job(queue="emails")
def send_email(to: str, *, subject: str = "Hello") -> str:
    return f"{to}: {subject}"


async def right_calls(queue: aioresque.Queue) -> None:
    job = await add.enqueue(queue, 1, 2)
    assert_type(job, aioresque.Job[int])
    assert_type(await job.result(timeout=1), int)
    email = await send_email.enqueue(None, "ada@example.com", subject="Hi")
    assert_type(await email.result(), str)
    later = await send_email.options(job_id="welcome-ada", delay=60, max_attempts=5).enqueue(queue, "ada@example.com")
    assert_type(later, aioresque.Job[str])
    await queue.enqueue_many([add.call(1, 2), send_email.options(queue="high").call("bob@example.com")])
    by_name = await queue.enqueue("add", 1, "anything goes by name")
    assert_type(by_name, aioresque.Job[Any])
    assert_type(await add(1, 2), int)  # still callable directly
    assert_type(send_email("x"), str)


# Each wrong call sits in a function of its own, so one error cannot hide another.


async def wrong_argument_type(queue: aioresque.Queue) -> None:
    await add.enqueue(queue, "1", 2)  # expect: call-overload


async def unknown_keyword(queue: aioresque.Queue) -> None:
    await add.enqueue(queue, 1, c=2)  # expect: call-overload


async def missing_argument(queue: aioresque.Queue) -> None:
    await add.enqueue(queue, 1)  # expect: call-overload


async def keyword_only_passed_positionally(queue: aioresque.Queue) -> None:
    await send_email.enqueue(queue, "ada@example.com", "positional subject")  # expect: call-arg


async def wrong_type_with_options(queue: aioresque.Queue) -> None:
    await send_email.options(delay=60).enqueue(queue, to=42)  # expect: arg-type


def wrong_type_in_a_call() -> None:
    add.call(1, "2")  # expect: arg-type


async def queue_name_instead_of_a_queue() -> None:
    await add.enqueue("default", 1, 2)  # expect: call-overload


async def wrong_result_type(queue: aioresque.Queue) -> None:
    result: str = await (await add.enqueue(queue, 1, 2)).result()  # expect: assignment
    print(result)
