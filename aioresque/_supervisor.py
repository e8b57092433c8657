"""``worker --processes N``: one supervisor process running N worker processes.

The supervisor runs no jobs and talks to no Redis. It starts N copies of the
same ``worker`` command, forwards SIGTERM/SIGINT/SIGUSR2/SIGCONT to them,
restarts a child that dies (with a growing delay while children keep dying
young), and exits once every child has exited after a shutdown (or, in burst
mode, once every child finished its burst). Jobs a dead child held are
recovered by leases like any lost worker's.

A child that exits with :data:`REFUSED` (2: it refused to start — a bad
setting, wrong credentials, an ACL, an evicting Redis) is not restarted:
another start would fail the same way, so the supervisor stops the others and
exits 2 too. The Redis URL reaches the children in their environment, not on
their command line, where ``ps`` would show its password to every user of
the host.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

log = logging.getLogger("aioresque.supervisor")

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR2, signal.SIGCONT)
POLL = 0.1
"""Seconds between checks of the children (local process checks, no Redis)."""

REFUSED = 2
"""A child's exit code when it refused to start (the CLI's usage-error code): not restarted."""


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """When to restart a child that died.

    A child that lived at least ``min_uptime`` seconds is restarted at once.
    One that died younger is restarted after ``base * 2**(n-1)`` seconds
    (capped at ``cap``), n counting the young deaths in a row, so a crash loop
    (a bad deploy, an unreachable import) does not spin.
    """

    min_uptime: float = 5.0
    base: float = 0.5
    cap: float = 30.0

    def delay(self, young_deaths: int) -> float:
        """Seconds to wait before the next start after ``young_deaths`` young deaths in a row."""
        if young_deaths <= 0:
            return 0.0
        return float(min(self.cap, self.base * 2 ** (young_deaths - 1)))


@dataclass(slots=True)
class _Slot:
    index: int
    command: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    young_deaths: int = 0
    restart_at: float | None = None
    finished: bool = False
    exit_code: int = 0
    restarts: int = field(default=0)


def child_commands(base: Sequence[str], processes: int, metrics_port: int | None) -> list[list[str]]:
    """The command of each child: ``base``, with its own metrics port if one is set.

    Child ``i`` serves metrics on ``metrics_port + i`` so the children do not
    fight over one port.
    """
    commands = []
    for i in range(processes):
        command = list(base)
        if metrics_port is not None:
            command += ["--metrics-port", str(metrics_port + i)]
        commands.append(command)
    return commands


class Supervisor:
    """Runs and watches the worker processes.

    Args:
        commands: one command line per child.
        burst: children exit 0 when their queues are empty; do not restart those.
        policy: when to restart children that died.
        clock: a monotonic clock (tests may pass their own).
        env: extra environment variables for the children (the Redis URL).
    """

    def __init__(
        self,
        commands: Sequence[Sequence[str]],
        *,
        burst: bool = False,
        policy: RestartPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.slots = [_Slot(i, list(c)) for i, c in enumerate(commands)]
        self.env = None if env is None else {**os.environ, **env}
        self.refused = False
        self.burst = burst
        self.policy = policy or RestartPolicy()
        self.clock = clock
        self.stops = 0

    def __repr__(self) -> str:
        alive = sum(1 for s in self.slots if s.process is not None and s.process.poll() is None)
        return f"<Supervisor {alive}/{len(self.slots)} children alive, stops={self.stops}>"

    def _start(self, slot: _Slot) -> None:
        slot.process = subprocess.Popen(slot.command, env=self.env)
        slot.started_at = self.clock()
        slot.restart_at = None
        log.info("worker process %d started (pid %d)", slot.index, slot.process.pid)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self.stops += 1
        for slot in self.slots:
            if slot.process is not None and slot.process.poll() is None:
                slot.process.send_signal(signum)

    def run(self) -> int:
        """Run until every child is done; returns 0 when all of them exited 0."""
        previous = {s: signal.signal(s, self._on_signal) for s in FORWARDED}
        try:
            for slot in self.slots:
                self._start(slot)
            while not all(slot.finished for slot in self.slots):
                now = self.clock()
                for slot in self.slots:
                    self._check(slot, now)
                time.sleep(POLL)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        codes = [slot.exit_code for slot in self.slots]
        log.info("all worker processes exited (codes %s)", codes)
        if self.refused:
            return REFUSED
        return 0 if all(code == 0 for code in codes) else 1

    def _check(self, slot: _Slot, now: float) -> None:
        if slot.finished:
            return
        if slot.process is None:
            if self.stops:
                slot.finished = True
            elif slot.restart_at is not None and now >= slot.restart_at:
                slot.restarts += 1
                self._start(slot)
            return
        code = slot.process.poll()
        if code is None:
            return
        slot.process = None
        slot.exit_code = code
        if self.stops or (self.burst and code == 0):
            slot.finished = True
            return
        if code == REFUSED and not self.refused:
            # Refused to start (its one-line reason is on stderr): so would every restart.
            log.error("worker process %d refused to start (exit code %d); stopping the others", slot.index, code)
            self.refused = True
            slot.finished = True
            self._on_signal(signal.SIGTERM, None)
            return
        lived = now - slot.started_at
        slot.young_deaths = slot.young_deaths + 1 if lived < self.policy.min_uptime else 0
        delay = self.policy.delay(slot.young_deaths)
        slot.restart_at = now + delay
        log.warning(
            "worker process %d exited with code %d after %.1f s; restarting in %.1f s", slot.index, code, lived, delay
        )
