"""Test your own code without a Redis server: fake and inline queues.

Two modes, both a :class:`aioresque.Queue` your code can be handed as it is:

* **fake** — :class:`FakeQueue` collects enqueued jobs. Look at
  ``queue.jobs``, assert with ``queue.assert_enqueued(send_email, to=...)``,
  run them with ``await queue.drain()`` or ``await queue.run_one()``, forget
  them with ``queue.clear()``.
* **inline** — :class:`InlineQueue` runs each job as it is enqueued, in the
  caller's event loop, so its effects are visible when ``enqueue`` returns.

Both go through the queue's serializer and payload-size check, so a test
catches an argument that a real queue would refuse, and both run handlers
with a real :func:`aioresque.current_job` context. ::

    from aioresque.testing import FakeQueue
    from app import jobs
    from app.signup import sign_up      # code under test: takes a Queue

    async def test_sign_up_sends_a_welcome_email() -> None:
        queue = FakeQueue(jobs)
        await sign_up(queue, "ada@example.com")
        queue.assert_enqueued(jobs.send_email, to="ada@example.com")
        await queue.drain()              # run it, and whatever it enqueues

pytest fixtures (``fake_queue``, ``inline_queue``) are in
:mod:`aioresque.testing.pytest_plugin`; see ``docs/testing.md``. For
integration tests against a real server (``redis-server`` from PATH, or the
embedded one of the ``dev-server`` extra), see :mod:`aioresque.testing.server`.
"""

from ._fake import FakeQueue, Functions, InlineQueue
from ._records import EnqueuedJob, FakeJob

__all__ = ["EnqueuedJob", "FakeJob", "FakeQueue", "Functions", "InlineQueue"]
