"""One worker process's own metrics: attempts by handler and outcome, and their durations.

Redis knows each queue's totals (see :mod:`aioresque._metrics`); only the
worker knows how long each handler ran. :class:`WorkerMetrics` counts in
memory — a few dictionary updates per job, no lock (one event loop) — and
renders the Prometheus text format, served by ``aioresque worker
--metrics-port`` or by your own endpoint from ``worker.metrics.render()``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Upper bounds (seconds) of the job duration histogram's buckets."""


@dataclass(slots=True)
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: float = 0.0
    count: int = 0


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class WorkerMetrics:
    """Counters and duration histograms of the attempts one worker ran."""

    def __init__(self) -> None:
        self._attempts: dict[tuple[str, str, str], int] = {}
        self._durations: dict[tuple[str, str], _Histogram] = {}

    def observe(self, queue: str, name: str, outcome: str, seconds: float) -> None:
        """Record one attempt of handler ``name`` on ``queue`` that ended in ``outcome``.

        ``outcome`` is ``complete``, ``fail``, ``dead``, ``requeue`` or ``lost``.
        """
        key = (queue, name, outcome)
        self._attempts[key] = self._attempts.get(key, 0) + 1
        hist = self._durations.get((queue, name))
        if hist is None:
            hist = self._durations[(queue, name)] = _Histogram()
        index = bisect.bisect_left(BUCKETS, seconds)
        if index < len(BUCKETS):
            hist.counts[index] += 1
        hist.total += seconds
        hist.count += 1

    def attempts(self, queue: str, name: str, outcome: str) -> int:
        """How many attempts of ``name`` on ``queue`` ended in ``outcome``."""
        return self._attempts.get((queue, name, outcome), 0)

    def render(self, in_flight: int | None = None) -> str:
        """The Prometheus text exposition (format 0.0.4), with the in-flight gauge when given."""
        lines = []
        if in_flight is not None:
            lines += [
                "# HELP aioresque_worker_jobs_in_flight Jobs this worker is running now.",
                "# TYPE aioresque_worker_jobs_in_flight gauge",
                f"aioresque_worker_jobs_in_flight {in_flight}",
            ]
        lines += [
            "# HELP aioresque_worker_attempts_total Attempts this worker ran, by handler and outcome.",
            "# TYPE aioresque_worker_attempts_total counter",
        ]
        for (queue, name, outcome), n in sorted(self._attempts.items()):
            labels = f'queue="{_label(queue)}",job="{_label(name)}",outcome="{_label(outcome)}"'
            lines.append(f"aioresque_worker_attempts_total{{{labels}}} {n}")
        lines += [
            "# HELP aioresque_job_duration_seconds How long attempts ran, by handler.",
            "# TYPE aioresque_job_duration_seconds histogram",
        ]
        for (queue, name), hist in sorted(self._durations.items()):
            labels = f'queue="{_label(queue)}",job="{_label(name)}"'
            cumulative = 0
            for bound, count in zip(BUCKETS, hist.counts, strict=True):
                cumulative += count
                lines.append(f'aioresque_job_duration_seconds_bucket{{{labels},le="{bound}"}} {cumulative}')
            lines.append(f'aioresque_job_duration_seconds_bucket{{{labels},le="+Inf"}} {hist.count}')
            lines.append(f"aioresque_job_duration_seconds_sum{{{labels}}} {hist.total:.6f}")
            lines.append(f"aioresque_job_duration_seconds_count{{{labels}}} {hist.count}")
        return "\n".join(lines) + "\n"
