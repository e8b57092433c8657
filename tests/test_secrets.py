"""No password from a URL in any repr, error message, log line or CLI output."""

from __future__ import annotations

import logging
import signal
import subprocess

import anyio
import pytest

from aioresque import ConfigurationError, ConnectionLost, Queue, Worker
from aioresque.testing.server import describe
from tests import jobs_for_tests
from tests.cli_helpers import ROOT, run_cli, worker_command
from tests.redis_server import free_port

SECRET = "s3cret"


def unreachable_url() -> str:
    """A URL with a password, on a port nothing listens on."""
    return f"redis://user:{SECRET}@127.0.0.1:{free_port()}/0"


async def test_reprs_and_errors_hide_the_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = unreachable_url()
    async with Queue.from_url(url, prefix="sec") as queue:
        worker = Worker(url, jobs_for_tests, prefix="sec")
        for shown in (repr(queue), repr(worker), repr(queue.redis), str(queue.redis)):
            assert SECRET not in shown
        with pytest.raises(ConnectionLost) as caught:
            await queue.enqueue("add", 1, 1)
        assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
        # A worker that cannot reach Redis logs the outage; stopping it ends the wait.
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            await anyio.sleep(0.5)
            worker.stop()
    assert "Redis unreachable" in caplog.text
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    "url",
    [
        f"redis+cluster://user:{SECRET}@nohost",
        f"redis+sentinel://user:{SECRET}@h:26379",
        f"mysql://user:{SECRET}@h",
        f"rediss://user:{SECRET}@h:6380/0?ssl_cert_reqs=maybe",
        f"redis://user:{SECRET}@h:6380/0?db=x",
        f"rediss+cluster://user:{SECRET}@h:7000?unknown=1",
    ],
)
def test_url_errors_hide_the_password(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Queue.from_url(url)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("command", [["queues"], ["workers"], ["enqueue", "add"]])
def test_cli_output_hides_the_password(command: list[str]) -> None:
    for url in (unreachable_url(), f"redis+cluster://user:{SECRET}@nohost"):
        done = run_cli(*command, "--redis-url", url)
        assert done.returncode != 0
        assert SECRET not in done.stdout + done.stderr, done.stderr


def test_worker_process_output_hides_the_password() -> None:
    # Redis unreachable at start-up: the worker logs the outage, then one SIGTERM ends it.
    url = unreachable_url()
    with subprocess.Popen(
        worker_command(url, "sec"), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        try:
            output = ""
            assert proc.stdout is not None
            while "Redis unreachable" not in output:
                line = proc.stdout.readline()
                assert line, output
                output += line
            proc.send_signal(signal.SIGTERM)
            output += proc.communicate(timeout=10)[0]
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, output
    assert SECRET not in output


def test_server_discovery_line_hides_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    url = unreachable_url()
    monkeypatch.setenv("AIORESQUE_REDIS_URL", url)
    for line in (describe(url), describe(url, env=None)):
        assert SECRET not in line and "user:***@" in line
