"""Prometheus exposition of what Redis knows about every queue.

:func:`prometheus_metrics` reads each known queue's counters, sizes, latency and
pause flag (and the worker registry) and writes the Prometheus text format
(version 0.0.4) with our own few lines of code: no client library, no
process-global registry, and the numbers are the same whichever process
serves them (the dashboard's ``/metrics``, or your own endpoint).

Counters are totals since the queue was created, so ``rate()`` works across
restarts of the process that serves them.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._admin import QueueOverview
from ._queue import Queue
from ._registry import WorkerInfo, list_workers

# counter name in the stats hash -> (metric name, help)
COUNTERS = {
    "enqueued": ("aioresque_jobs_enqueued_total", "Jobs enqueued."),
    "completed": ("aioresque_jobs_completed_total", "Attempts that completed."),
    "failed": ("aioresque_jobs_failed_total", "Attempts that failed (handler error or timeout)."),
    "retried": ("aioresque_jobs_retried_total", "Failed attempts scheduled to run again."),
    "dead": ("aioresque_jobs_dead_total", "Jobs moved to the dead set."),
    "lost": ("aioresque_leases_recovered_total", "Jobs recovered after their worker's lease expired."),
    "refused": ("aioresque_outcomes_refused_total", "Outcomes refused because the lease was no longer held."),
    "revived": ("aioresque_jobs_revived_total", "Jobs put back on the queue by hand (retry)."),
}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(overviews: Iterable[QueueOverview], workers: Iterable[WorkerInfo]) -> str:
    """The exposition text for these queue overviews and workers (pure)."""
    overviews = list(overviews)
    workers = list(workers)
    lines: list[str] = []
    for key, (metric, text) in COUNTERS.items():
        lines += [f"# HELP {metric} {text}", f"# TYPE {metric} counter"]
        for o in overviews:
            lines.append(f'{metric}{{queue="{_label(o.name)}"}} {o.counters.get(key, 0)}')
    lines += ["# HELP aioresque_queue_jobs Jobs in each state, per queue.", "# TYPE aioresque_queue_jobs gauge"]
    for o in overviews:
        for state, value in (
            ("queued", o.queued),
            ("scheduled", o.scheduled),
            ("active", o.active),
            ("dead", o.dead),
            ("completed", o.completed_kept),
        ):
            lines.append(f'aioresque_queue_jobs{{queue="{_label(o.name)}",state="{state}"}} {value}')
    lines += [
        "# HELP aioresque_queue_latency_seconds How long the job at the head of the queue has waited.",
        "# TYPE aioresque_queue_latency_seconds gauge",
    ]
    lines += [f'aioresque_queue_latency_seconds{{queue="{_label(o.name)}"}} {o.latency:.3f}' for o in overviews]
    lines += ["# HELP aioresque_queue_paused 1 while the queue is paused.", "# TYPE aioresque_queue_paused gauge"]
    lines += [f'aioresque_queue_paused{{queue="{_label(o.name)}"}} {int(o.paused)}' for o in overviews]
    lines += [
        "# HELP aioresque_queue_quarantined Entries kept aside because they cannot be jobs.",
        "# TYPE aioresque_queue_quarantined gauge",
    ]
    lines += [f'aioresque_queue_quarantined{{queue="{_label(o.name)}"}} {o.quarantined}' for o in overviews]
    readable = [w for w in workers if w.unreadable is None]
    lines += [
        "# HELP aioresque_workers Registered workers (stale: missed their heartbeats; unreadable: bad registration).",
        "# TYPE aioresque_workers gauge",
        f'aioresque_workers{{state="live"}} {sum(1 for w in readable if not w.stale)}',
        f'aioresque_workers{{state="stale"}} {sum(1 for w in readable if w.stale)}',
        f'aioresque_workers{{state="unreadable"}} {len(workers) - len(readable)}',
        "# HELP aioresque_jobs_in_flight Jobs held by registered workers at their last heartbeat.",
        "# TYPE aioresque_jobs_in_flight gauge",
        f"aioresque_jobs_in_flight {sum(len(w.in_flight) for w in workers)}",
    ]
    return "\n".join(lines) + "\n"


async def prometheus_metrics(queue: Queue) -> str:
    """Every queue under ``queue``'s prefix (and the worker registry) in the Prometheus text format.

    Serve it from your own endpoint, or use the dashboard's ``/metrics``.
    """
    overviews = [await queue.sibling(name).overview() for name in await queue.known_queues()]
    workers = await list_workers(queue.redis, prefix=queue.prefix)
    return render(overviews, workers)
