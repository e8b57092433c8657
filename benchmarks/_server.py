"""A private ``redis-server`` for one benchmark run, and readings of its counters."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from types import TracebackType

import redis
import redis.asyncio


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """``redis-server`` on a free port in a temporary directory, without persistence.

    Use as a context manager; the server and its directory are removed on exit.
    """

    def __init__(self, executable: str = "redis-server") -> None:
        path = shutil.which(executable)
        if path is None:
            raise RuntimeError(f"{executable} not found on PATH")
        self.executable = path
        self.port = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        """The server's URL for database ``db``."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def version(self) -> str:
        """The server's version."""
        info = redis.Redis(port=self.port).info("server")
        return str(info["redis_version"])

    def __enter__(self) -> RedisServer:
        self._dir = tempfile.TemporaryDirectory(prefix="aioresque-bench-")
        self.port = free_port()
        args = [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self._dir.name]
        args += ["--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    self.__exit__(None, None, None)
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)
        client.close()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


@dataclass(frozen=True, slots=True)
class ServerReading:
    """Redis's cumulative counters at one moment, from one ``INFO all``."""

    commands: int
    """``total_commands_processed`` (on Redis 7, commands run by scripts count too)."""
    cpu: float
    """``used_cpu_sys + used_cpu_user`` in seconds."""
    commandstats: dict[str, int]
    """Calls per command (``INFO commandstats``)."""

    def __sub__(self, other: ServerReading) -> ServerReading:
        stats = {k: v - other.commandstats.get(k, 0) for k, v in self.commandstats.items()}
        return ServerReading(self.commands - other.commands, self.cpu - other.cpu, stats)


async def read_server(client: redis.asyncio.Redis) -> ServerReading:
    """Read the counters with one ``INFO all``.

    The INFO call itself shows up in the next reading, not in this one.
    """
    info = await client.info("all")
    stats = {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in info.items() if k.startswith("cmdstat_")}
    cpu = float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
    return ServerReading(int(info["total_commands_processed"]), cpu, stats)
