"""RQ jobs; worker: ``rq worker --worker-class rq.SimpleWorker bench``.

RQ imports these functions by their dotted path when it runs a job.
"""

from __future__ import annotations

from ._body import sync_body, sync_sleepy_body


def noop(i: int) -> None:
    """Count one completion."""
    sync_body(i)


def sleepy(i: int) -> None:
    """Sleep 10 ms, then count one completion."""
    sync_sleepy_body(i)
