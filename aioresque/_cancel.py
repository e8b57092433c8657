"""Cancelling a job from any process.

``cancel.lua`` makes the decision atomically and records the outcome: a
waiting job is removed from its queue or the scheduled set, a running job
leaves the active set and its id goes into the queue's ``cancelled`` set.
The worker holding a running job checks that set about twice a second while
it runs jobs (:data:`CHECK_INTERVAL`), and its lease heartbeat finds the
lease gone too, so a notice cannot be missed; the job's task is then
cancelled and nothing more is recorded for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _scripts
from ._decode import text
from ._errors import JobNotFound, translate
from ._serializer import dumps_json

if TYPE_CHECKING:
    from ._queue import Queue

CHECK_INTERVAL = 0.5
"""Seconds between a busy worker's checks of its queues' cancelled sets."""


async def cancel_job(queue: Queue, job_id: str) -> bool:
    """Cancel ``job_id`` in ``queue``: see :meth:`Queue.cancel`."""
    k = queue.keys
    error = dumps_json(
        {
            "error": "JobCancelled: cancelled by request",
            "type": "JobCancelled",
            "message": "cancelled by request",
            "kind": "cancelled",
            "traceback": None,
        }
    )
    async with translate():
        outcome, _ = await _scripts.run(
            queue.redis,
            "cancel",
            [
                k.queue,
                k.scheduled,
                k.active,
                k.state,
                k.dead,
                k.stats,
                k.watched,
                k.cancelled,
                k.errors,
                k.notify(job_id),
                k.unique,
                *(k.limits, k.waiting, k.reopen, k.flows, k.jobs, k.marker, k.quarantine),
                *(k.events, k.listening),
            ],
            [job_id, error],
        )
    outcome = text(outcome)
    if outcome == "missing":
        raise JobNotFound(f"no job {job_id!r} in queue {queue.name!r}")
    return bool(outcome == "cancelled")
