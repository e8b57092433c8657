"""Start and stop real Redis server processes for the tests.

Each server runs in its own temporary directory on a free port, so the suite
never touches a Redis it did not start (unless ``REDIS_URL`` says to). The
process itself is :class:`aioresque.testing.server.LocalServer`, which picks
the binary: ``$AIORESQUE_REDIS_SERVER`` (noxfile.py's server matrix), else
``redis-server`` on PATH, else the embedded server of the ``test`` extra.
"""

from __future__ import annotations

from pathlib import Path

from aioresque.testing.server import LocalServer, free_port

__all__ = ["RedisServer", "free_port"]


class RedisServer(LocalServer):
    """One server process in ``directory``, optionally a sentinel.

    Args:
        directory: where it keeps its files (AOF, logs).
        appendonly: persist with AOF (``appendfsync always``), so a restart
            keeps every acknowledged write.
        port: TCP port (default: a free one).
        extra: more command-line options (``--replicaof``, cluster settings).
        sentinel: run as a sentinel, configured by :attr:`sentinel_config`.
    """

    def __init__(
        self,
        directory: Path,
        *,
        appendonly: bool = False,
        port: int | None = None,
        extra: list[str] | None = None,
        sentinel: bool = False,
    ) -> None:
        super().__init__(directory=directory, port=port, appendonly=appendonly, args=extra or [])
        self.sentinel = sentinel
        self.sentinel_config = ""
        """For a sentinel: the ``sentinel ...`` lines of its config file."""

    def command(self) -> list[str]:
        """The server's command line; a sentinel's names its own config file."""
        if not self.sentinel:
            return super().command()
        return [self.binary.path, str(self.directory / "sentinel.conf"), "--sentinel", "--logfile", self.log.name]

    def start(self, timeout: float = 10.0) -> None:
        """Start the server (a sentinel gets a fresh config file) and wait until it answers PING."""
        if self.sentinel:
            # A sentinel rewrites its config file, so it needs one of its own.
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / "sentinel.conf").write_text(
                f"port {self.port}\nbind 127.0.0.1\ndir {self.directory}\n{self.sentinel_config}"
            )
        super().start(timeout)
