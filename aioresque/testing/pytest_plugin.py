"""pytest fixtures for aioresque's fake and inline queues.

Enable them in your ``conftest.py``::

    pytest_plugins = ["aioresque.testing.pytest_plugin"]

    @pytest.fixture
    def aioresque_functions():
        import app.jobs
        return app.jobs          # the handlers fake_queue.drain() runs

Then take ``fake_queue`` or ``inline_queue`` in a test. The fixtures are
plain (not async), so they work with pytest-asyncio, anyio's plugin or any
other. They do not run shutdown hooks; use ``async with FakeQueue(...)`` in
a test that needs them.
"""

from __future__ import annotations

import pytest

from ._fake import FakeQueue, Functions, InlineQueue

__all__ = ["aioresque_functions", "fake_queue", "inline_queue"]


@pytest.fixture
def aioresque_functions() -> Functions:
    """The handlers the fixtures' queues run: override it in your ``conftest.py``.

    Default: none (jobs are collected and asserted, not run).
    """
    return ()


@pytest.fixture
def fake_queue(aioresque_functions: Functions) -> FakeQueue:
    """A :class:`FakeQueue` (jobs collected; ``drain()`` runs them) with your handlers."""
    return FakeQueue(aioresque_functions)


@pytest.fixture
def inline_queue(aioresque_functions: Functions) -> InlineQueue:
    """An :class:`InlineQueue` (each job runs as it is enqueued) with your handlers."""
    return InlineQueue(aioresque_functions)
