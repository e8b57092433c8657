"""Running real worker processes for the tests."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def worker_command(redis_url: str, prefix: str, *extra: str, module: str = "tests.jobs_for_tests") -> list[str]:
    """The command line of a worker on the test jobs module."""
    return [sys.executable, "-m", "aioresque", "worker", module, "--redis-url", redis_url, "--prefix", prefix, *extra]


@contextmanager
def spawned(command: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    """Run a process in the repo root for the block; its output goes to a temp file.

    The process is killed (if still running) and reaped when the block ends.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def run(command: list[str], timeout: float = 30, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a process to completion in the repo root (with ``env`` added to the environment)."""
    environ = {**os.environ, **(env or {})}
    return subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=timeout, check=False)
