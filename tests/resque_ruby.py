"""Running real Ruby Resque 3.0 for the interop tests.

The Resque library (MIT) is not vendored in this repository: it sits in
``<repo>/../shared/vendor/resque-3.0.0/lib`` (CI runs from a fresh clone with
``shared/`` beside it), or wherever ``AIORESQUE_RESQUE_LIB`` points. Ruby and
the gems Resque needs come from Debian's packages (``.ci/run`` installs them).

Without Ruby or the library the tests skip with the reason, except under CI
(``CI`` set), where they fail: CI must run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIB_ENV = "AIORESQUE_RESQUE_LIB"
RELATIVE = Path("shared/vendor/resque-3.0.0/lib")


def resque_lib() -> Path | None:
    """Resque's ``lib`` directory: ``$AIORESQUE_RESQUE_LIB``, else ``shared/vendor/...`` beside the repo (or above)."""
    if os.environ.get(LIB_ENV):
        path = Path(os.environ[LIB_ENV])
        return path if (path / "resque.rb").is_file() else None
    for parent in ROOT.parents:
        candidate = parent / RELATIVE
        if (candidate / "resque.rb").is_file():
            return candidate
    return None


def missing() -> str | None:
    """Why real Resque cannot run here, or None when it can."""
    if shutil.which("ruby") is None:
        return "ruby is not installed (apt-get install ruby ruby-redis ruby-redis-namespace ruby-multi-json)"
    if resque_lib() is None:
        return f"Resque 3.0's lib not found at <repo>/../{RELATIVE} (set {LIB_ENV})"
    return None


def require_resque() -> None:
    """Skip the calling test when real Resque cannot run, or fail under CI."""
    reason = missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the real-Resque tests: {reason}")
    pytest.skip(reason)


PRELUDE = """
require "json"
require "resque"
Resque.redis = Redis::Namespace.new(ENV.fetch("RESQUE_NS"), redis: Redis.new(url: ENV.fetch("RESQUE_REDIS_URL")))
"""


def ruby(script: str, redis_url: str, namespace: str, *, timeout: float = 60, env: dict[str, str] | None = None) -> str:
    """Run ``script`` with Resque loaded on ``redis_url``/``namespace``; returns its stdout.

    Raises:
        AssertionError: Ruby exited with an error (its stderr is in the message).
    """
    lib = resque_lib()
    assert lib is not None
    full_env = {**os.environ, "RESQUE_REDIS_URL": redis_url, "RESQUE_NS": namespace, **(env or {})}
    proc = subprocess.run(
        ["ruby", "-I", str(lib), "-e", PRELUDE + script],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )
    assert proc.returncode == 0, f"ruby failed ({proc.returncode}):\n{proc.stderr}\n{proc.stdout}"
    return proc.stdout
